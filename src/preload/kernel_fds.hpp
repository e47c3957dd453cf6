// The preload library's side of the kernel (DESIGN.md §5): the shared fd number space, the Files
// that stand for kernel fds inside ustack's poll, select and epoll, and the kernel sleep of a
// task that waits on both.
//
// - KernelNumberSpace: each ustack fd holds its number in the kernel's table with a placeholder,
//   an O_PATH descriptor of /dev/null. The kernel refuses I/O on it (EBADF), so a raw system
//   call, a forked child or an exec'd program that meets the number gets a clear error.
// - KernelFds: a kernel fd given to ustack's poll, select or epoll_ctl gets a File of its own
//   (one per fd number, kept until the program closes that number through the library). Its
//   ->poll asks the kernel (poll with a zero timeout); its wait queue is woken from a hidden
//   kernel epoll in which every such fd is registered edge-triggered.
// - KernelWaiters: once a kernel fd is watched, a task that sleeps in ustack's poll, select or
//   epoll_wait sleeps in the kernel, in ppoll on its eventfd doorbell and the hidden epoll;
//   ustack's try_to_wake_up rings the doorbell instead of the futex, and a sleeper woken by the
//   hidden epoll passes the kernel's readiness on to the Files' wait queues (harvest), which
//   wakes whoever waits for them through ustack's own callbacks.
//
// LOCKING: KernelFds::mu_ serialises creating and forgetting a kernel fd's File; slots are read
// without it (atomic pointers, Files type-stable as in FdTable). KernelWaiters::lock_ protects
// the list of tasks inside a KernelWaitScope. The hidden epoll is created once under mu_.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "base/list.hpp"
#include "base/spinlock.hpp"
#include "sched/task.hpp"
#include "vfs/fdtable.hpp"

namespace ustack::preload {

// Hidden kernel fds (the hidden epoll, doorbells) live in the top kHiddenFds numbers below the
// RLIMIT_NOFILE soft limit, away from the low numbers a program expects to get.
inline constexpr unsigned kHiddenFds = 64;
// Kernel readiness events taken from the hidden epoll per epoll_wait call.
inline constexpr int kHarvestBatch = 64;

// Moves a kernel fd of ours (close-on-exec) to the hidden range and marks it as the library's;
// returns the new number, or the old one if the range is full (a documented limit).
int hide_fd(int fd);
void close_hidden_fd(int fd);
// Whether fd is one of the library's own kernel fds: the program's close and dup2 must not
// take it (a "close every fd" loop would otherwise cut the doorbells and lose wake-ups).
bool is_hidden_fd(int fd);
// In a forked child: closes every hidden fd (the child is kernel-only).
void close_hidden_fds_in_child();

class KernelNumberSpace final : public FdNumberSpace {
 public:
  long reserve(unsigned start, bool cloexec) override;
  long claim(unsigned fd, bool cloexec) override;
  void release(unsigned fd) override;
  void set_cloexec(unsigned fd, bool on) override;
  bool have_free(int n) override;
};

class KernelFds final : public ForeignFds {
 public:
  KernelFds();
  File* fget(int fd) override;
  File* fget_rcu(int fd) override;
  void harvest() override;
  // The program closed kernel fd `fd` (or replaced it with dup2): its File goes, and with it
  // every epoll registration of it (eventpoll_release), as when Linux closes the last fd.
  // `expected`: only that File (the one seen before a close), not one made for a number the
  // kernel already gave to another file; null: whatever is there.
  void forget(int fd, File* expected = nullptr);
  File* peek(int fd) const {
    return unsigned(fd) < kNrOpen ? slots_[fd].load(std::memory_order_acquire) : nullptr;
  }
  int hidden_epoll() const { return kep_.load(std::memory_order_acquire); }
  // After fork: the child is a kernel-only process and must not touch any of this.
  void reset_in_child();

  // Registers kernel fd `fd` in the hidden epoll (edge-triggered, every event); -errno on
  // failure, 0 if it is there (now or before).
  int watch(int fd, uint32_t gen);

 private:
  File* lookup_or_create(int fd);
  std::atomic<File*>* slots_;  // kNrOpen, mmap'd and zero-filled on demand
  std::mutex mu_;
  std::atomic<int> kep_{-1};
  uint32_t next_gen_ = 1;  // under mu_
};

class KernelWaiters final : public sched::KernelWait {
 public:
  void enter(sched::Task* t) override;
  void leave(sched::Task* t) override;
  bool wants_kernel_sleep(sched::Task* t) override;
  bool block(sched::Task* t, int64_t deadline_ns) override;
  void ring(sched::Task* t) override;
  void release(sched::Task* t) override;
  // Wakes every task inside a KernelWaitScope, so that one asleep on its futex sleeps again in
  // the kernel: done once, when the first kernel fd becomes watched.
  void kick_all();

 private:
  SpinLock lock_;
  ListHead scoped_;  // Record::node, under lock_
};

extern KernelNumberSpace g_number_space;
extern KernelFds g_kernel_fds;
extern KernelWaiters g_kernel_waiters;

}  // namespace ustack::preload
