// poll and select (fs/select.c): poll tables, __pollwait, pollwake, do_poll, do_select.
//
// A poll or select call builds a PollWqueues on its stack. Each f_op->poll it calls hooks a
// PollTableEntry (a non-exclusive `pollwake` entry holding a file reference) on the file's
// wait queue through __pollwait; a wake-up whose key intersects the entry's interest sets
// `triggered` and wakes the polling task, which rescans every fd; the deadline is absolute, so
// spurious wake-ups never extend the wait (A1, A16).
//
// One difference from the kernel, invisible from outside: the first scan registers nothing,
// and only if nothing is ready does a second scan register (the kernel registers on the first
// scan until something is ready). Readiness is level-triggered, so both report the same fds;
// ours skips the queueing work on the common "something is ready" path.
//
// LOCKING: PollWqueues::triggered is written by wakers (under the woken head's lock) and read
// by the polling task; entries are added and removed under each head's lock by
// add_wait_queue/remove_wait_queue. Nothing here holds a lock across f_op->poll.
#include <cerrno>
#include <memory>
#include <vector>

#include "base/clock.hpp"
#include "base/trace.hpp"
#include "vfs/host.hpp"
#include "vfs/vfs.hpp"

namespace ustack::vfs {

namespace {

struct PollTableEntry {
  File* filp;
  __poll_t key;
  WaitQueueEntry wait;
  WaitQueueHead* wait_address;
};

struct PollWqueues {
  PollTable pt;
  sched::Task* polling_task;
  std::atomic<int> triggered{0};
  int error = 0;
  size_t inline_index = 0;
  PollTableEntry inline_entries[kPollInlineEntries];
  std::vector<std::unique_ptr<PollTableEntry[]>> pages;  // never moved once handed out
  size_t page_index = kPollTablePageEntries;
};

// __pollwake: mark the table triggered, then wake the polling task.
int __pollwake(WaitQueueEntry* wait, unsigned mode, int sync, void* key) {
  auto* pwq = static_cast<PollWqueues*>(wait->private_);
  // Pairs with poll_schedule_timeout's state store: either the task sees `triggered`, or
  // try_to_wake_up sees its sleeping state.
  pwq->triggered.store(1, std::memory_order_seq_cst);
  USTACK_TRACE("pollwake", pwq->polling_task->id(), key_to_poll(key));
  WaitQueueEntry dummy;
  init_waitqueue_entry(&dummy, pwq->polling_task);
  return default_wake_function(&dummy, mode, sync, key);
}

// pollwake: only wake-ups whose key meets this entry's interest (A17, F6).
int pollwake(WaitQueueEntry* wait, unsigned mode, int sync, void* key) {
  PollTableEntry* entry = USTACK_CONTAINER_OF(wait, PollTableEntry, wait);
  if (key && !(key_to_poll(key) & entry->key)) return 0;
  return __pollwake(wait, mode, sync, key);
}

PollTableEntry* poll_get_entry(PollWqueues* p) {
  if (p->inline_index < kPollInlineEntries) return &p->inline_entries[p->inline_index++];
  if (p->page_index == kPollTablePageEntries) {
    p->pages.push_back(std::make_unique<PollTableEntry[]>(kPollTablePageEntries));
    p->page_index = 0;
  }
  return &p->pages.back()[p->page_index++];
}

// __pollwait: the poll_queue_proc of poll and select.
void __pollwait(File* filp, WaitQueueHead* wait_address, PollTable* p) {
  PollWqueues* pwq = USTACK_CONTAINER_OF(p, PollWqueues, pt);
  PollTableEntry* entry = poll_get_entry(pwq);
  filp->get();  // the entry keeps the file alive across a concurrent close (A25)
  entry->filp = filp;
  entry->wait_address = wait_address;
  entry->key = p->_key;
  init_waitqueue_func_entry(&entry->wait, pollwake);
  entry->wait.key_mask = p->_key;  // pollwake's filter
  entry->wait.private_ = pwq;
  add_wait_queue(wait_address, &entry->wait);
}

void poll_initwait(PollWqueues* pwq) {
  pwq->pt._qproc = __pollwait;
  pwq->pt._key = ~0u;
  pwq->polling_task = sched::current();
}

void free_poll_entry(PollTableEntry* entry) {
  remove_wait_queue(entry->wait_address, &entry->wait);
  fput(entry->filp);
}

void poll_freewait(PollWqueues* pwq) {
  for (size_t i = 0; i < pwq->inline_index; ++i) free_poll_entry(&pwq->inline_entries[i]);
  for (size_t pg = 0; pg < pwq->pages.size(); ++pg) {
    size_t n = pg + 1 == pwq->pages.size() ? pwq->page_index : kPollTablePageEntries;
    for (size_t i = 0; i < n; ++i) free_poll_entry(&pwq->pages[pg][i]);
  }
}

// Returns false if the deadline passed (the kernel's "0 from schedule_hrtimeout").
bool poll_schedule_timeout(PollWqueues* pwq, uint32_t state, int64_t deadline_ns) {
  bool woken = true;
  sched::KernelWaitScope kernel_wait;  // under the preload, kernel fds may be in the set
  sched::set_current_state(state);
  if (!pwq->triggered.load(std::memory_order_seq_cst)) {
    woken = sched::schedule_timeout(
        deadline_ns, current_host()->busy_poll_ns.load(std::memory_order_relaxed), __func__);
  }
  sched::__set_current_state(sched::TASK_RUNNING);
  pwq->triggered.store(0, std::memory_order_seq_cst);
  return woken;
}

// do_pollfd: one entry. NVAL bypasses the filter; ERR|HUP are always in it (A5–A7).
// `light`: inside a file_rcu::ReadSection, look at the file without taking a reference.
__poll_t do_pollfd(struct pollfd* pollfd, PollTable* pwait, Host* h, bool light = false) {
  __poll_t mask = 0;
  const int fd = pollfd->fd;
  if (fd >= 0) {
    mask = POLLNVAL;
    if (File* f = light ? h->fdt.fget_rcu_or_foreign(fd) : h->fdt.fget_or_foreign(fd)) {
      const __poll_t filter = __poll_t(uint16_t(pollfd->events)) | POLLERR | POLLHUP;
      pwait->_key = filter;
      mask = vfs_poll(f, pwait) & filter;
      if (!light) fput(f);
    }
  }
  pollfd->revents = short(mask);
  return mask;
}

// The registration-free first scan (see the file comment); with a zero timeout it is the only
// one, as in the kernel's "optimise the no-wait case".
long poll_scan_once(struct pollfd* fds, unsigned nfds, Host* h) {
  PollTable check{nullptr, ~0u};
  long count = 0;
  file_rcu::ReadSection rcu;  // registers nothing and never sleeps: no references needed
  for (unsigned i = 0; i < nfds; ++i) {
    if (do_pollfd(&fds[i], &check, h, true)) ++count;
  }
  return count;
}

long do_poll(struct pollfd* fds, unsigned nfds, PollWqueues* wait, int64_t deadline_ns) {
  Host* h = current_host();
  PollTable* pt = &wait->pt;
  sched::Task* self = sched::current();
  long count = 0;
  bool timed_out = false;
  for (;;) {
    for (unsigned i = 0; i < nfds; ++i) {
      if (do_pollfd(&fds[i], pt, h)) {
        ++count;
        pt->_qproc = nullptr;  // found one: poll the rest, but register no more (A15)
      }
    }
    pt->_qproc = nullptr;  // every waiter is registered now
    if (!count) {
      count = wait->error;
      if (sched::signal_pending(self)) count = -sched::ERESTARTNOHAND;
    }
    if (count || timed_out) break;
    if (!poll_schedule_timeout(wait, sched::TASK_INTERRUPTIBLE, deadline_ns)) timed_out = true;
  }
  return count;
}

// fs/select.c's bit sets.
constexpr __poll_t POLLIN_SET = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR | POLLNVAL;
constexpr __poll_t POLLOUT_SET = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR | POLLNVAL;
constexpr __poll_t POLLEX_SET = POLLPRI | POLLNVAL;
constexpr unsigned kBitsPerLong = 64;

struct FdSetBits {
  const unsigned long *in, *out, *ex;
  unsigned long *res_in, *res_out, *res_ex;
};

// max_select_fd: -EBADF for a requested fd below n that is not open; else the highest
// requested fd + 1.
long max_select_fd(unsigned long n, const FdSetBits& fds, FdTable& fdt) {
  long max = 0;
  for (unsigned long w = 0; w * kBitsPerLong < n; ++w) {
    unsigned long set = fds.in[w] | fds.out[w] | fds.ex[w];
    if (n - w * kBitsPerLong < kBitsPerLong) set &= (1UL << (n - w * kBitsPerLong)) - 1;
    while (set) {
      const unsigned long fd = w * kBitsPerLong + unsigned(__builtin_ctzl(set));
      set &= set - 1;
      if (!fdt.fd_is_open(unsigned(fd))) {
        // Under the preload, a kernel fd counts as open (it is watched through ForeignFds).
        File* kf = g_foreign_fds != nullptr ? g_foreign_fds->fget(int(fd)) : nullptr;
        if (kf == nullptr) return -EBADF;
        fput(kf);
      }
      max = long(fd) + 1;
    }
  }
  return max;
}

// select_poll_one: the wait key is POLLEX_SET plus the sets the fd is in (B16).
__poll_t select_poll_one(int fd, PollTable* wait, bool in, bool out, Host* h, bool light) {
  File* f = light ? h->fdt.fget_rcu_or_foreign(fd) : h->fdt.fget_or_foreign(fd);
  if (f == nullptr) return POLLNVAL;  // closed since max_select_fd: ready in every set (B8)
  wait->_key = POLLEX_SET | (in ? POLLIN_SET : 0) | (out ? POLLOUT_SET : 0);
  __poll_t mask = vfs_poll(f, wait);
  if (!light) fput(f);
  return mask;
}

// One scan over every requested fd; returns the number of bits set in the result sets.
long select_scan(unsigned long n, const FdSetBits& fds, PollTable* wait, Host* h,
                 bool light = false) {
  long retval = 0;
  for (unsigned long w = 0; w * kBitsPerLong < n; ++w) {
    const unsigned long in = fds.in[w], out = fds.out[w], ex = fds.ex[w];
    unsigned long all_bits = in | out | ex;
    unsigned long res_in = 0, res_out = 0, res_ex = 0;
    while (all_bits) {
      const unsigned j = unsigned(__builtin_ctzl(all_bits));
      const unsigned long bit = 1UL << j;
      all_bits &= all_bits - 1;
      const unsigned long fd = w * kBitsPerLong + j;
      if (fd >= n) break;
      __poll_t mask = select_poll_one(int(fd), wait, in & bit, out & bit, h, light);
      if ((mask & POLLIN_SET) && (in & bit)) {
        res_in |= bit;
        ++retval;
        wait->_qproc = nullptr;
      }
      if ((mask & POLLOUT_SET) && (out & bit)) {
        res_out |= bit;
        ++retval;
        wait->_qproc = nullptr;
      }
      if ((mask & POLLEX_SET) && (ex & bit)) {
        res_ex |= bit;
        ++retval;
        wait->_qproc = nullptr;
      }
    }
    fds.res_in[w] = res_in;
    fds.res_out[w] = res_out;
    fds.res_ex[w] = res_ex;
  }
  return retval;
}

long do_select(unsigned long n, const FdSetBits& fds, int64_t deadline_ns) {
  Host* h = current_host();
  long retval = max_select_fd(n, fds, h->fdt);
  if (retval < 0) return retval;
  n = static_cast<unsigned long>(retval);

  PollTable check{nullptr, ~0u};
  {
    file_rcu::ReadSection rcu;  // the registration-free scan: no references needed
    retval = select_scan(n, fds, &check, h, true);
  }
  if (retval || deadline_ns == kDeadlineNoWait) return retval;

  PollWqueues table;
  poll_initwait(&table);
  PollTable* wait = &table.pt;
  sched::Task* self = sched::current();
  bool timed_out = false;
  for (;;) {
    retval = select_scan(n, fds, wait, h);
    wait->_qproc = nullptr;
    if (retval || timed_out || sched::signal_pending(self)) break;
    if (table.error) {
      retval = table.error;
      break;
    }
    if (!poll_schedule_timeout(&table, sched::TASK_INTERRUPTIBLE, deadline_ns)) timed_out = true;
  }
  poll_freewait(&table);
  return retval;
}

}  // namespace

long do_sys_poll(struct pollfd* ufds, unsigned int nfds, int64_t deadline_ns) {
  if (nfds > rlimit_nofile()) return -EINVAL;
  if (nfds > 0 && ufds == nullptr) return -EFAULT;
  long count = poll_scan_once(ufds, nfds, current_host());
  if (count) return count;
  if (deadline_ns == kDeadlineNoWait) {
    // do_poll's no-wait pass still ends with the signal check: a signal let in by ppoll's mask
    // makes even a zero-timeout poll EINTR when nothing is ready (A22).
    return sched::signal_pending(sched::current()) ? -sched::ERESTARTNOHAND : 0;
  }
  PollWqueues table;
  poll_initwait(&table);
  long fdcount = do_poll(ufds, nfds, &table, deadline_ns);
  poll_freewait(&table);
  return fdcount;
}

long core_sys_select(int n, fd_set* inp, fd_set* outp, fd_set* exp, int64_t deadline_ns) {
  if (n < 0) return -EINVAL;
  // max_fds can grow meanwhile: read it once (B2).
  const unsigned max_fds = current_host()->fdt.max_fds();
  unsigned long nn = unsigned(n) > max_fds ? max_fds : unsigned(n);
  const size_t words = (nn + kBitsPerLong - 1) / kBitsPerLong;

  // get_fd_set: a NULL set reads as empty. Six bitmaps, as the kernel allocates.
  std::vector<unsigned long> bits(6 * (words ? words : 1), 0);
  unsigned long* in = bits.data();
  unsigned long* out = in + words;
  unsigned long* ex = out + words;
  auto copy_in = [&](fd_set* set, unsigned long* dst) {
    if (set) std::memcpy(dst, set, words * sizeof(unsigned long));
  };
  copy_in(inp, in);
  copy_in(outp, out);
  copy_in(exp, ex);
  FdSetBits fds{in, out, ex, ex + words, ex + 2 * words, ex + 3 * words};

  long ret = do_select(nn, fds, deadline_ns);
  if (ret < 0) return ret;
  if (ret == 0 && sched::signal_pending(sched::current())) return -sched::ERESTARTNOHAND;
  // set_fd_set: whole longs up to nn; bits at and past max_fds are untouched (B3).
  auto copy_out = [&](fd_set* set, const unsigned long* src) {
    if (set) std::memcpy(set, src, words * sizeof(unsigned long));
  };
  copy_out(inp, fds.res_in);
  copy_out(outp, fds.res_out);
  copy_out(exp, fds.res_ex);
  return ret;
}

}  // namespace ustack::vfs
