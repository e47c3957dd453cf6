// The preload library's side of the kernel: see kernel_fds.hpp.
//
// LOCKING: see kernel_fds.hpp.
#include "preload/kernel_fds.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>

#include "base/clock.hpp"
#include "base/compiler.hpp"
#include "preload/kernel.hpp"
#include "vfs/host.hpp"

#include <ustack/host.hpp>
#include "vfs/file.hpp"
#include "wait/wait.hpp"

namespace ustack::preload {

KernelNumberSpace g_number_space;
KernelFds g_kernel_fds;
KernelWaiters g_kernel_waiters;

namespace {

// The library's own waits and doorbell rings go straight to the kernel: the C library's ppoll,
// read, write and epoll_wait are cancellation points, and a thread cancelled inside one would
// unwind past ustack's wait-queue entries (poll tables, epoll waiters) and leave them linked.
template <class... A>
long raw_syscall(long nr, A... args) {
  return K(syscall)(nr, long(args)...);
}

}  // namespace

namespace {

// The placeholder's kernel object. O_PATH: no I/O, no poll, no epoll (EBADF / POLLNVAL).
constexpr const char* kPlaceholderPath = "/dev/null";

int open_placeholder() {
  // openat is not one of the calls the library defines: this is the C library's.
  return ::openat(AT_FDCWD, kPlaceholderPath, O_PATH | O_CLOEXEC);
}

}  // namespace

namespace {
// Which kernel fds are the library's own (bit per number, kNrOpen bits in .bss: pages are
// touched only where hidden fds live).
std::atomic<uint64_t> g_hidden[kNrOpen / 64];
void mark_hidden(int fd, bool on) {
  if (unsigned(fd) >= kNrOpen) return;
  const uint64_t bit = uint64_t(1) << (unsigned(fd) % 64);
  if (on) {
    g_hidden[unsigned(fd) / 64].fetch_or(bit, std::memory_order_relaxed);
  } else {
    g_hidden[unsigned(fd) / 64].fetch_and(~bit, std::memory_order_relaxed);
  }
}
}  // namespace

bool is_hidden_fd(int fd) {
  return unsigned(fd) < kNrOpen &&
         (g_hidden[unsigned(fd) / 64].load(std::memory_order_relaxed) >> (unsigned(fd) % 64) & 1);
}

void close_hidden_fds_in_child() {
  for (unsigned w = 0; w < kNrOpen / 64; ++w) {
    uint64_t bits = g_hidden[w].exchange(0, std::memory_order_relaxed);
    while (bits) {
      K(close)(int(w * 64 + unsigned(std::countr_zero(bits))));
      bits &= bits - 1;
    }
  }
}

int hide_fd(int fd) {
  struct rlimit rl;
  int hidden = -1;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    const rlim_t top = std::min<rlim_t>(rl.rlim_cur, kNrOpen);  // RLIM_INFINITY: fs.nr_open
    if (top > rlim_t(2) * kHiddenFds)
      hidden = K(fcntl)(fd, F_DUPFD_CLOEXEC, int(top - kHiddenFds));
  }
  if (hidden >= 0) {
    K(close)(fd);
    fd = hidden;
  }
  mark_hidden(fd, true);
  return fd;
}

void close_hidden_fd(int fd) {
  mark_hidden(fd, false);
  K(close)(fd);
}

// --- KernelNumberSpace ---

long KernelNumberSpace::reserve(unsigned start, bool cloexec) {
  int fd = open_placeholder();
  if (fd < 0) return -errno;
  if (unsigned(fd) < start) {
    // The lowest free number is below `start` (F_DUPFD's argument): move up to it.
    const int moved = K(fcntl)(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, int(start));
    const int err = errno;
    K(close)(fd);
    return moved < 0 ? -err : moved;
  }
  if (!cloexec) K(fcntl)(fd, F_SETFD, 0);
  return fd;
}

long KernelNumberSpace::claim(unsigned fd, bool cloexec) {
  int tmpl = open_placeholder();
  const bool temporary = tmpl >= 0;
  if (!temporary) {
    // The kernel's table is full, but dup2 needs no free number: any placeholder will do,
    // and a ustack dup2 has at least its source's.
    if (errno != EMFILE) return -errno;
    FdTable& t = default_host()->fdt;
    for (unsigned i = 0; i < t.max_fds() && tmpl < 0; ++i) {
      if (t.fd_is_open(i)) tmpl = int(i);
    }
    if (tmpl < 0) return -EMFILE;
  }
  const int r = tmpl == int(fd) ? K(fcntl)(tmpl, F_SETFD, cloexec ? FD_CLOEXEC : 0)
                                : K(dup3)(tmpl, int(fd), cloexec ? O_CLOEXEC : 0);
  const int err = errno;
  if (temporary) K(close)(tmpl);
  return r < 0 ? -err : 0;
}

void KernelNumberSpace::release(unsigned fd) { K(close)(int(fd)); }

void KernelNumberSpace::set_cloexec(unsigned fd, bool on) {
  K(fcntl)(int(fd), F_SETFD, on ? FD_CLOEXEC : 0);
}

bool KernelNumberSpace::have_free(int n) {
  int taken[2];
  USTACK_ASSERT(n >= 0 && n <= 2);  // socketpair (2) and accept (1)
  int got = 0;
  for (; got < n; ++got) {
    taken[got] = open_placeholder();
    if (taken[got] < 0) break;
  }
  for (int i = 0; i < got; ++i) K(close)(taken[i]);
  return got == n;
}

// --- KernelFds ---

namespace {

// A kernel fd seen from ustack.
struct KernelFd {
  int fd;
  uint32_t gen;  // which File of this number a hidden-epoll event is for
  WaitQueueHead wq;
};

// Every event a watcher might want: the File's wait queue is woken with what happened and each
// waiter filters by its own key, as with any ustack file.
// The kernel reports only what is asked for, so ask for every bit a caller may filter on
// (POLLRDNORM alone is a valid interest).
constexpr short kAllPollEvents = POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND |
                                 POLLWRNORM | POLLWRBAND | POLLMSG | POLLRDHUP;
constexpr uint32_t kWatchEvents = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND |
                                  EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP | EPOLLET;

__poll_t kernel_poll_now(int fd) {
  struct pollfd p = {fd, kAllPollEvents, 0};
  if (raw_syscall(SYS_poll, &p, 1, 0) < 0) return POLLERR;
  return __poll_t(uint16_t(p.revents));
}

// What both kinds of kernel fd File share: the name and the release of their KernelFd.
class KernelFdOpsBase : public FileOps {
 public:
  using FileOps::FileOps;
  const char* name() const override { return "kernel"; }
  void release(File* file) const override { delete static_cast<KernelFd*>(file->private_data); }
};

// A kernel fd that the kernel's epoll accepts (sockets, pipes, eventfds, ttys...).
class KernelFdOps final : public KernelFdOpsBase {
 public:
  constexpr KernelFdOps() : KernelFdOpsBase(kPoll) {}
  __poll_t poll(File* file, PollTable* pt) const override {
    auto* k = static_cast<KernelFd*>(file->private_data);
    if (!poll_does_not_wait(pt)) {
      // A waiter registers: make sure the hidden epoll watches this file. It normally does
      // (EEXIST); it does not if the program closed the number behind the library's back
      // (fclose) and it now names another file.
      g_kernel_fds.watch(k->fd, k->gen);
    }
    poll_wait(file, &k->wq, pt);
    return kernel_poll_now(k->fd);
  }
};

// A kernel fd the kernel's epoll refuses (regular files, directories): always ready for poll
// and select, EPERM for epoll_ctl, exactly as in Linux.
class KernelFdNoPollOps final : public KernelFdOpsBase {
 public:
  constexpr KernelFdNoPollOps() : KernelFdOpsBase(0) {}
};

const KernelFdOps kKernelFdOps;
const KernelFdNoPollOps kKernelFdNoPollOps;

}  // namespace

KernelFds::KernelFds() {
  void* p = ::mmap(nullptr, sizeof(std::atomic<File*>) * kNrOpen, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  USTACK_ASSERT(p != MAP_FAILED);
  slots_ = static_cast<std::atomic<File*>*>(p);
}

int KernelFds::watch(int fd, uint32_t gen) {
  struct epoll_event ev = {};
  ev.events = kWatchEvents;
  ev.data.u64 = uint64_t(uint32_t(fd)) | uint64_t(gen) << 32;
  if (K(epoll_ctl)(kep_.load(std::memory_order_acquire), EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
  return errno == EEXIST ? 0 : -errno;
}

File* KernelFds::lookup_or_create(int fd) {
  if (unsigned(fd) >= kNrOpen) return nullptr;
  if (File* f = slots_[fd].load(std::memory_order_acquire)) return f;
  std::lock_guard g(mu_);
  if (File* f = slots_[fd].load(std::memory_order_relaxed)) return f;
  if (K(fcntl)(fd, F_GETFD) < 0) return nullptr;  // not a kernel fd either: EBADF / POLLNVAL
  bool first = false;
  if (kep_.load(std::memory_order_relaxed) < 0) {
    const int kep = K(epoll_create1)(EPOLL_CLOEXEC);
    if (kep < 0) return nullptr;
    kep_.store(hide_fd(kep), std::memory_order_release);
    first = true;
  }
  auto* k = new KernelFd{fd, next_gen_++, {}};
  const int w = watch(fd, k->gen);
  File* f = alloc_file(w == 0 ? static_cast<const FileOps*>(&kKernelFdOps) : &kKernelFdNoPollOps,
                       O_RDWR, FMODE_READ | FMODE_WRITE, k);
  slots_[fd].store(f, std::memory_order_release);
  if (first) {
    // From now on every ustack poll, select and epoll_wait sleep is in the kernel; tasks that
    // already sleep on their futex are woken to sleep again there.
    g_foreign_active.store(true, std::memory_order_seq_cst);
    g_kernel_waiters.kick_all();
  }
  return f;
}

File* KernelFds::fget(int fd) {
  for (;;) {
    File* f = lookup_or_create(fd);
    if (f == nullptr) return nullptr;
    if (!f->get_not_zero()) continue;
    if (slots_[fd].load(std::memory_order_acquire) == f) return f;
    fput(f);
  }
}

File* KernelFds::fget_rcu(int fd) { return lookup_or_create(fd); }

void KernelFds::forget(int fd, File* expected) {
  if (unsigned(fd) >= kNrOpen || slots_[fd].load(std::memory_order_acquire) == nullptr) return;
  File* old;
  {
    std::lock_guard g(mu_);
    old = slots_[fd].load(std::memory_order_relaxed);
    if (old == nullptr || (expected != nullptr && old != expected)) return;
    slots_[fd].store(nullptr, std::memory_order_release);
    K(epoll_ctl)(kep_.load(std::memory_order_relaxed), EPOLL_CTL_DEL, fd, nullptr);
  }
  fput(old);
}

void KernelFds::harvest() {
  const int kep = kep_.load(std::memory_order_acquire);
  if (kep < 0) return;
  struct epoll_event evs[kHarvestBatch];
  for (;;) {
    const int n = int(raw_syscall(SYS_epoll_wait, kep, evs, kHarvestBatch, 0));
    for (int i = 0; i < n; ++i) {
      const int fd = int(uint32_t(evs[i].data.u64));
      const uint32_t gen = uint32_t(evs[i].data.u64 >> 32);
      if (unsigned(fd) >= kNrOpen) continue;
      // The File stays valid for the section (type-stable and not released meanwhile).
      file_rcu::ReadSection rcu;
      File* f = slots_[fd].load(std::memory_order_acquire);
      if (f == nullptr || f->f_op != &kKernelFdOps) continue;
      auto* k = static_cast<KernelFd*>(f->private_data);
      if (k->gen != gen) continue;  // an event for an earlier file of this number
      wake_up_poll(&k->wq, __poll_t(evs[i].events));
    }
    if (n < kHarvestBatch) break;
  }
  sched::wake_q_flush();
}

void KernelFds::reset_in_child() {
  kep_.store(-1, std::memory_order_relaxed);
  close_hidden_fds_in_child();  // the hidden epoll and every thread's doorbell
}

// --- KernelWaiters ---

namespace {

// A task's kernel-wait record: its doorbell, and its link in the list of tasks in a scope.
struct Record {
  explicit Record(sched::Task* t) : task(t) {}
  sched::Task* const task;
  int efd = -1;   // the doorbell eventfd, made at the first kernel sleep
  ListHead node;  // KernelWaiters::scoped_
};

Record* record_of(sched::Task* t) { return static_cast<Record*>(t->kwait_); }

}  // namespace

void KernelWaiters::enter(sched::Task* t) {
  if (t->kwait_ == nullptr) t->kwait_ = new Record(t);
  {
    SpinGuard g(lock_);
    list_add(&record_of(t)->node, &scoped_);
  }
  t->kwait_scope_ = true;
}

void KernelWaiters::leave(sched::Task* t) {
  t->kwait_scope_ = false;
  t->kwait_mode_.store(false, std::memory_order_relaxed);
  SpinGuard g(lock_);
  list_del_init(&record_of(t)->node);
}

bool KernelWaiters::wants_kernel_sleep(sched::Task* t) {
  // Read after the task's state store and its entry in scoped_: either we see the first kernel
  // fd watched, or kick_all sees us asleep (kernel_fds.hpp).
  if (!g_foreign_active.load(std::memory_order_seq_cst)) return false;
  Record* r = record_of(t);
  if (r->efd < 0) {
    const int efd = K(eventfd)(0, EFD_NONBLOCK | EFD_CLOEXEC);
    // Without a doorbell the task sleeps on its futex: ustack's wake-ups still reach it, a
    // kernel fd's readiness only at its next wake-up (docs/preload.md, limits).
    if (efd < 0) return false;
    r->efd = hide_fd(efd);
  }
  return true;
}

bool KernelWaiters::block(sched::Task* t, int64_t deadline_ns) {
  Record* r = record_of(t);
  struct pollfd p[2] = {{r->efd, POLLIN, 0}, {g_kernel_fds.hidden_epoll(), POLLIN, 0}};
  struct timespec ts;
  const struct timespec* tsp = nullptr;
  if (deadline_ns != kNoDeadline) {
    const int64_t left = deadline_ns - monotonic_ns();
    if (left <= 0) return false;
    ts = ns_to_timespec(left);
    tsp = &ts;
  }
  const int n = int(raw_syscall(SYS_ppoll, p, 2, tsp, nullptr, 0));
  if (n > 0) {
    if (p[0].revents & POLLIN) {
      uint64_t v;
      // Empty it: the state word says what happened.
      (void)!raw_syscall(SYS_read, r->efd, &v, sizeof v);
    }
    if (p[1].revents & POLLIN) g_kernel_fds.harvest();
  }
  if (n == 0 && deadline_ns != kNoDeadline && monotonic_ns() >= deadline_ns) return false;
  return true;  // woken, interrupted by a signal (the caller looks), or kernel readiness
}

void KernelWaiters::ring(sched::Task* t) {
  const uint64_t one = 1;
  (void)!raw_syscall(SYS_write, record_of(t)->efd, &one, sizeof one);
}

void KernelWaiters::release(sched::Task* t) {
  Record* r = record_of(t);
  if (r->efd >= 0) close_hidden_fd(r->efd);
  delete r;
  t->kwait_ = nullptr;
}

void KernelWaiters::kick_all() {
  {
    SpinGuard g(lock_);
    for (ListHead* n = scoped_.nx(); n != &scoped_; n = n->nx()) {
      sched::try_to_wake_up(USTACK_CONTAINER_OF(n, Record, node)->task,
                            sched::TASK_INTERRUPTIBLE, 0);
    }
  }
  sched::wake_q_flush();
}

}  // namespace ustack::preload
