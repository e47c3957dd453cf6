// SpinLock: the kernel's spinlock_t for user space (include/linux/spinlock.h).
//
// Held only for short, non-sleeping sections (wait-queue heads, small counters). Under contention
// it spins with a pause and, past a bound, yields the CPU: a user-space lock holder can be
// preempted, which a kernel spinlock holder cannot.
//
// A SpinLock keeps no per-thread count of the locks held: on the epoll/eventfd cycle such a
// count was a chain of ten dependent load-add-store steps through one thread-local word, about
// a tenth of the cycle's time. The wake_q deferral that used it counts wake-function nesting
// instead (wait.cc).
#pragma once

#include <atomic>

#include <sched.h>

namespace ustack {

class SpinLock {
 public:
  void lock() noexcept {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        if (spins < kSpinsBeforeYield) {
          __builtin_ia32_pause();
        } else {
          sched_yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept {
    locked_.store(false, std::memory_order_release);
  }
  bool is_locked() const noexcept { return locked_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kSpinsBeforeYield = 128;
  std::atomic<bool> locked_{false};
};

// std::lock_guard, with the kernel's name for the scope of a held spinlock.
class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) : l_(l) { l_.lock(); }
  ~SpinGuard() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace ustack
