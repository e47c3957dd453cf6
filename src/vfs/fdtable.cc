// fd allocation, install, replace and close (fs/file.c).
//
// LOCKING: see fdtable.hpp. fput() of a replaced or closed File runs after file_lock_ is
// dropped: ->release may take other locks and must not nest under the table's.
#include "vfs/fdtable.hpp"

#include <linux/membarrier.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bit>
#include <cerrno>

namespace ustack {

namespace {

long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

// sched::light_upgrade's body: every live light file of `t` gets a real reference.
void upgrade_light_files(sched::Task* t) {
  for (unsigned i = t->light_live_; i < t->light_n_; ++i) {
    static_cast<File*>(t->light_files_[i])->get();
  }
  t->light_live_ = t->light_n_;
  t->in_light_.store(false, std::memory_order_release);
}

bool init_fdget_light() {
  sched::g_light_upgrade = upgrade_light_files;
#if defined(__SANITIZE_THREAD__)
  (void)membarrier;
  return false;
#else
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#endif
}

}  // namespace

bool g_fdget_light_enabled = init_fdget_light();
ForeignFds* g_foreign_fds = nullptr;
std::atomic<bool> g_foreign_active{false};

bool FdTable::become_sole_user(sched::Task* t) {
  sched::Task* expected = nullptr;
  t->get();
  if (sole_user_.compare_exchange_strong(expected, t, std::memory_order_acq_rel)) return true;
  t->put();
  if (expected == t) return true;
  make_shared();
  return false;
}

void FdTable::make_shared() {
  if (shared_.exchange(true, std::memory_order_seq_cst)) {
    // Another task is making it shared: wait until it is done.
    while (!shared_ready_.load(std::memory_order_acquire)) sched_yield();
    return;
  }
  // Every thread executes a full barrier: from here on the sole user either sees shared_ or
  // has published in_light_ for a light use begun before.
  if (g_fdget_light_enabled) membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
  sched::Task* su = sole_user_.load(std::memory_order_acquire);
  if (su != nullptr && su != sched::current()) {
    while (su->in_light_.load(std::memory_order_acquire)) sched_yield();
  }
  shared_ready_.store(true, std::memory_order_release);
}

FdTable::FdTable() : max_fds_(kNrOpenDefault) {
  void* p = mmap(nullptr, sizeof(std::atomic<File*>) * kNrOpen, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  USTACK_ASSERT(p != MAP_FAILED);
  fd_ = static_cast<std::atomic<File*>*>(p);  // zero pages are null atomics on this ABI
}

FdTable::~FdTable() {
  close_all();
  munmap(fd_, sizeof(std::atomic<File*>) * kNrOpen);
  if (sched::Task* su = sole_user_.load(std::memory_order_relaxed)) su->put();
}

// expand_fdtable's sizing: whole 1 KiB units of pointers, a power of two of them.
void FdTable::expand_locked(unsigned fd) {
  unsigned cur = max_fds_.load(std::memory_order_relaxed);
  if (fd < cur) return;
  unsigned nr = fd / kFdtableGrain;
  nr = std::bit_ceil(nr + 1) * kFdtableGrain;
  if (nr > kNrOpen) nr = kNrOpen;
  max_fds_.store(nr, std::memory_order_release);
}

void FdTable::set_open_locked(unsigned fd, bool open) {
  if (fd / 64 >= open_fds_.size()) open_fds_.resize(fd / 64 + 1);
  if (open) {
    open_fds_[fd / 64] |= uint64_t(1) << (fd % 64);
  } else {
    open_fds_[fd / 64] &= ~(uint64_t(1) << (fd % 64));
  }
}

void FdTable::set_cloexec_locked(unsigned fd, bool on) {
  if (fd / 64 >= close_on_exec_.size()) {
    if (!on) return;
    close_on_exec_.resize(fd / 64 + 1);
  }
  if (on) {
    close_on_exec_[fd / 64] |= uint64_t(1) << (fd % 64);
  } else {
    close_on_exec_[fd / 64] &= ~(uint64_t(1) << (fd % 64));
  }
}

int FdTable::install_lowest(File* f, unsigned start, uint64_t nofile, bool cloexec) {
  if (ns_ != nullptr) {
    // The other table picks the number: its lowest free one is free here too (fdtable.hpp).
    const long fd = ns_->reserve(start, cloexec);
    if (fd < 0) return int(fd);
    if (uint64_t(fd) >= nofile || fd >= long(kNrOpen)) {
      ns_->release(unsigned(fd));
      return -EMFILE;
    }
    File* stale;
    {
      SpinGuard g(file_lock_);
      // Open here but free there: the program closed the number behind the library's back
      // (fclose of an fdopen'd fd, close_range: calls inside the C library that no preload
      // sees). The kernel's table is the truth; the stale file goes.
      stale = fd_[fd].load(std::memory_order_relaxed);
      expand_locked(unsigned(fd));
      set_open_locked(unsigned(fd), true);
      set_cloexec_locked(unsigned(fd), cloexec);
      fd_[fd].store(f, std::memory_order_release);
    }
    if (stale != nullptr) fput(stale);
    return int(fd);
  }
  SpinGuard g(file_lock_);
  unsigned fd = start < next_fd_ ? next_fd_ : start;
  // find_next_fd: the first clear bit at or after fd.
  for (;;) {
    size_t w = fd / 64;
    if (w >= open_fds_.size()) break;
    uint64_t bits = ~open_fds_[w] & (~uint64_t(0) << (fd % 64));
    if (bits) {
      fd = unsigned(w * 64 + std::countr_zero(bits));
      break;
    }
    fd = unsigned((w + 1) * 64);
  }
  if (fd >= nofile || fd >= kNrOpen) return -EMFILE;
  expand_locked(fd);
  set_open_locked(fd, true);
  set_cloexec_locked(fd, cloexec);
  if (start <= next_fd_) next_fd_ = fd + 1;
  fd_[fd].store(f, std::memory_order_release);
  return int(fd);
}

bool FdTable::have_free_fds(int n, uint64_t nofile) {
  if (ns_ != nullptr) return ns_->have_free(n);
  SpinGuard g(file_lock_);
  const uint64_t limit = std::min<uint64_t>(nofile, kNrOpen);
  uint64_t fd = next_fd_;
  while (n > 0 && fd < limit) {
    const size_t w = size_t(fd / 64);
    if (w >= open_fds_.size()) {
      // Past the bitmap: everything up to the limit is free.
      return limit - fd >= uint64_t(n);
    }
    uint64_t bits = ~open_fds_[w] & (~uint64_t(0) << (fd % 64));
    if (!bits) {
      fd = (w + 1) * 64;
      continue;
    }
    fd = w * 64 + unsigned(std::countr_zero(bits));
    if (fd >= limit) break;
    --n;
    ++fd;
  }
  return n <= 0;
}

int FdTable::replace(unsigned fd, File* f, bool cloexec) {
  USTACK_ASSERT(fd < kNrOpen);
  user_check();
  if (ns_ != nullptr) {
    // Take the number in the other table first (replacing a kernel file there, as dup2 does).
    const long r = ns_->claim(fd, cloexec);
    if (r < 0) {
      fput(f);
      return int(r);
    }
  }
  File* old;
  {
    SpinGuard g(file_lock_);
    expand_locked(fd);
    old = fd_[fd].load(std::memory_order_relaxed);
    set_open_locked(fd, true);
    set_cloexec_locked(fd, cloexec);
    fd_[fd].store(f, std::memory_order_release);
  }
  if (old) fput(old);  // filp_close of the previous file, outside the lock
  return int(fd);
}

int FdTable::close(unsigned fd, bool release_number) {
  user_check();
  File* old;
  {
    SpinGuard g(file_lock_);
    if (fd >= kNrOpen) return -EBADF;
    old = fd_[fd].load(std::memory_order_relaxed);
    if (old == nullptr) return -EBADF;
    fd_[fd].store(nullptr, std::memory_order_release);
    set_open_locked(fd, false);
    set_cloexec_locked(fd, false);
    if (fd < next_fd_) next_fd_ = fd;
  }
  // The number goes back to the other table only once it is free here (fdtable.hpp).
  if (ns_ != nullptr && release_number) ns_->release(fd);
  fput(old);
  return 0;
}

void FdTable::close_all() {
  for (;;) {
    unsigned fd;
    {
      SpinGuard g(file_lock_);
      size_t w = 0;
      while (w < open_fds_.size() && open_fds_[w] == 0) ++w;
      if (w == open_fds_.size()) return;
      fd = unsigned(w * 64 + std::countr_zero(open_fds_[w]));
    }
    close(fd);
  }
}

int FdTable::get_close_on_exec(unsigned fd) {
  SpinGuard g(file_lock_);
  if (fd >= kNrOpen || fd_[fd].load(std::memory_order_relaxed) == nullptr) return -EBADF;
  return test_bit(close_on_exec_, fd) ? 1 : 0;
}

int FdTable::set_close_on_exec(unsigned fd, bool on) {
  {
    SpinGuard g(file_lock_);
    if (fd >= kNrOpen || fd_[fd].load(std::memory_order_relaxed) == nullptr) return -EBADF;
    set_cloexec_locked(fd, on);
  }
  // exec closes the placeholder exactly when it would have closed the ustack fd.
  if (ns_ != nullptr) ns_->set_cloexec(fd, on);
  return 0;
}

}  // namespace ustack
