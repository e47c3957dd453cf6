// The fd table of a host (fs/file.c: struct files_struct / fdtable): fd → File.
//
// fget() is lock-free: slots are atomic pointers in one reservation of kNrOpen entries (the
// pages are touched only as fds are used), so the table never moves and a reader needs no RCU.
// max_fds() models the kernel's table size, which select() clamps nfds to (B2): it starts at
// NR_OPEN_DEFAULT and grows as expand_fdtable() would.
//
// LOCKING: file_lock protects open_fds_, close_on_exec_, next_fd_ and every store to a slot.
// Slots are read without it (fget); max_fds_ is written under it and read without it.
// sole_user_ is set once by CAS; shared_ and shared_ready_ go false→true once (make_shared),
// ordered against the sole user's in_light_ by membarrier() (see fdget). ns_ is set once before
// the table's first use; its calls are made without file_lock_ (reserve before taking it,
// release after dropping it: fdtable.cc). g_foreign_fds is set once; g_foreign_active goes
// false→true once.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "base/spinlock.hpp"
#include "sched/task.hpp"
#include "vfs/file.hpp"

namespace ustack {

// The preload library (src/preload, DESIGN.md §5) makes every ustack fd number also a number of
// the kernel's table, and lets ustack's poll, select and epoll watch kernel fds. These are its
// two hooks; outside the preload neither is set and the table is ustack's alone.
//
// FdNumberSpace: where a table's fd numbers come from when another table (the kernel's) must
// hold the same number at the same time. The invariant: a number open in ustack's table is
// held in the other one, so taking the other table's lowest free number gives Linux's lowest
// free fd of the two tables together.
class FdNumberSpace {
 public:
  virtual ~FdNumberSpace() = default;
  // The lowest number >= start that is free in the other table, now held there; or -errno.
  virtual long reserve(unsigned start, bool cloexec) = 0;
  // Takes `fd` in the other table, atomically replacing whatever it held there (dup2).
  virtual long claim(unsigned fd, bool cloexec) = 0;
  virtual void release(unsigned fd) = 0;
  virtual void set_cloexec(unsigned fd, bool on) = 0;
  // Whether n numbers are free below the RLIMIT_NOFILE limit (socketpair and accept's EMFILE).
  virtual bool have_free(int n) = 0;
};

// ForeignFds: Files that stand for kernel fds, so that a ustack poll, select or epoll_ctl given
// a kernel fd watches it (their ->poll asks the kernel; their wait queues are woken from the
// kernel's readiness, see sched::KernelWait).
class ForeignFds {
 public:
  virtual ~ForeignFds() = default;
  virtual File* fget(int fd) = 0;      // a new reference, or nullptr if fd is not a kernel fd
  virtual File* fget_rcu(int fd) = 0;  // the same, unreferenced, inside a file_rcu::ReadSection
  virtual void harvest() = 0;          // passes pending kernel readiness on to the wait queues
};
extern ForeignFds* g_foreign_fds;
// Set once a kernel fd is watched: from then on epoll_wait first collects kernel readiness.
extern std::atomic<bool> g_foreign_active;
inline void foreign_harvest() {
  if (USTACK_UNLIKELY(g_foreign_active.load(std::memory_order_acquire))) g_foreign_fds->harvest();
}

// Whether fdget's light path is on: it needs membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), and
// ThreadSanitizer cannot see that system call's ordering, so TSan builds keep it off.
extern bool g_fdget_light_enabled;

class FdTable {
 public:
  FdTable();
  ~FdTable();
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;

  // fget: a new reference to the File at fd, or nullptr if fd is not open.
  File* fget(int fd) {
    if (USTACK_UNLIKELY(unsigned(fd) >= kNrOpen)) return nullptr;
    for (;;) {
      File* f = fd_[fd].load(std::memory_order_acquire);
      if (f == nullptr) return nullptr;
      if (!f->get_not_zero()) continue;  // being freed: the slot has changed
      if (USTACK_LIKELY(fd_[fd].load(std::memory_order_acquire) == f)) return f;
      fput(f);  // the slot was reused under us (type-stable File): try again
    }
  }

  // fdget/fdput: the File at fd for the length of one call. While only one task has ever used
  // this table (the kernel's files->count == 1), no reference is taken: nobody else can close
  // the fd meanwhile. The first other task to use the table makes it shared for good, after
  // waiting (with membarrier) until the sole user holds no light file; a sole user that sleeps
  // or takes a signal turns its light files into references first (sched::light_upgrade).
  // `*slot` is the task's light slot, or -1 for a real reference.
  File* fdget(int fd, int* slot) {
    *slot = -1;
    sched::Task* t = sched::current();
    if (USTACK_LIKELY(g_fdget_light_enabled && !shared_.load(std::memory_order_relaxed) &&
                      t->light_n_ < sched::Task::kMaxLightFiles &&
                      (sole_user_.load(std::memory_order_relaxed) == t || become_sole_user(t)))) {
      const unsigned n = t->light_n_;
      if (t->light_live_ == n) {
        // First live slot: announce it, then look again (the sharer stores shared_, then
        // membarrier(), then reads in_light_: one of us sees the other).
        t->in_light_.store(true, std::memory_order_relaxed);
        std::atomic_signal_fence(std::memory_order_seq_cst);
        if (USTACK_UNLIKELY(shared_.load(std::memory_order_relaxed))) {
          t->in_light_.store(false, std::memory_order_release);
          return fget(fd);
        }
      }
      File* f = (unsigned(fd) < kNrOpen) ? fd_[fd].load(std::memory_order_acquire) : nullptr;
      if (f == nullptr) {
        if (t->light_live_ == n) t->in_light_.store(false, std::memory_order_release);
        return nullptr;
      }
      t->light_files_[n] = f;
      t->light_n_ = n + 1;
      *slot = int(n);
      return f;
    }
    return fget(fd);
  }
  static void fdput(File* f, int slot) {
    if (slot < 0) {
      fput(f);
      return;
    }
    sched::Task* t = sched::current();
    USTACK_ASSERT(unsigned(slot) + 1 == t->light_n_);  // scoped: last in, first out
    t->light_n_ = unsigned(slot);
    if (unsigned(slot) < t->light_live_) {
      // Upgraded to a reference before a sleep.
      t->light_live_ = unsigned(slot);
      fput(f);
    } else if (t->light_live_ == unsigned(slot)) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
      t->in_light_.store(false, std::memory_order_release);
    }
  }

  // The File at fd without a reference, for a caller inside a file_rcu::ReadSection (the
  // kernel's fdget light path): valid until the section ends.
  File* fget_rcu(int fd) const {
    if (USTACK_UNLIKELY(unsigned(fd) >= kNrOpen)) return nullptr;
    return fd_[fd].load(std::memory_order_acquire);
  }

  // fget and fget_rcu that also accept a kernel fd under the preload (ForeignFds): for poll,
  // select and epoll_ctl's target, the calls that may watch kernel fds.
  File* fget_or_foreign(int fd) {
    File* f = fget(fd);
    if (USTACK_UNLIKELY(f == nullptr && g_foreign_fds != nullptr)) f = g_foreign_fds->fget(fd);
    return f;
  }
  File* fget_rcu_or_foreign(int fd) const {
    File* f = fget_rcu(fd);
    if (USTACK_UNLIKELY(f == nullptr && g_foreign_fds != nullptr)) f = g_foreign_fds->fget_rcu(fd);
    return f;
  }

  // get_unused_fd_flags + fd_install in one step: the lowest free fd in [start, nofile),
  // holding `f` (whose reference the table takes). -EMFILE if none.
  int install_lowest(File* f, unsigned start, uint64_t nofile, bool cloexec);
  // Whether n fds below nofile are free now (socketpair and accept check it before they create
  // anything, where the kernel reserves its fds first, so that EMFILE comes first).
  bool have_free_fds(int n, uint64_t nofile);
  // replace_fd for dup2/dup3: installs f at fd (taking the reference), closing what was there.
  // -EBUSY if fd is reserved but not installed (not possible here: kept for the kernel's shape).
  int replace(unsigned fd, File* f, bool cloexec);
  // close_fd: removes fd and drops the table's reference. -EBADF if not open. With a number
  // space, `release_number` false keeps the number held in the other table (the preload's
  // dup2 of a kernel fd over a ustack fd, which replaces the number there atomically).
  int close(unsigned fd, bool release_number = true);
  // Every open fd, closed (a host going away).
  void close_all();

  int get_close_on_exec(unsigned fd);   // 0/1, or -EBADF
  int set_close_on_exec(unsigned fd, bool on);
  // Installs the number space; only before the table holds any fd.
  void set_number_space(FdNumberSpace* ns) { ns_ = ns; }
  FdNumberSpace* number_space() const { return ns_; }

  bool fd_is_open(unsigned fd) const {
    return fd < kNrOpen && fd_[fd].load(std::memory_order_acquire) != nullptr;
  }
  unsigned max_fds() const { return max_fds_.load(std::memory_order_acquire); }

 private:
  // The calling task is about to change the table (close, replace): make sure it is the sole
  // user or the table is shared, so that no light user can lose a file under it.
  void user_check() {
    if (shared_ready_.load(std::memory_order_acquire)) return;
    sched::Task* t = sched::current();
    if (sole_user_.load(std::memory_order_relaxed) != t) become_sole_user(t);
  }
  bool become_sole_user(sched::Task* t);  // false: the table is (now) shared
  void make_shared();
  void expand_locked(unsigned fd);
  void set_open_locked(unsigned fd, bool open);
  void set_cloexec_locked(unsigned fd, bool on);
  bool test_bit(const std::vector<uint64_t>& map, unsigned fd) const {
    return fd / 64 < map.size() && (map[fd / 64] >> (fd % 64) & 1);
  }

  std::atomic<File*>* fd_;               // kNrOpen slots (mmap'd, zero-filled on demand)
  FdNumberSpace* ns_ = nullptr;          // set once, before first use
  SpinLock file_lock_;
  std::vector<uint64_t> open_fds_;       // under file_lock_
  std::vector<uint64_t> close_on_exec_;  // under file_lock_
  unsigned next_fd_ = 0;                 // under file_lock_: lowest possibly-free fd
  std::atomic<unsigned> max_fds_;
  std::atomic<sched::Task*> sole_user_{nullptr};  // holds a Task reference
  std::atomic<bool> shared_{false};
  std::atomic<bool> shared_ready_{false};  // shared, and the sole user's light uses are over
};

}  // namespace ustack
