// SpinLock: the kernel's spinlock_t for user space (include/linux/spinlock.h).
//
// Held only for short, non-sleeping sections (wait-queue heads, small counters). Under contention
// it spins with a pause and, past a bound, yields the CPU: a user-space lock holder can be
// preempted, which a kernel spinlock holder cannot.
#pragma once

#include <atomic>

#include <sched.h>

namespace ustack {

// How many SpinLocks the calling thread holds. Deferred work that must not run under a spinlock
// (the futex wakes of sched's wake_q) waits until this is back to zero.
extern __thread unsigned tls_spin_depth __attribute__((tls_model("initial-exec")));

class SpinLock {
 public:
  void lock() noexcept {
    ++tls_spin_depth;
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
    if (locked_.exchange(true, std::memory_order_acquire)) return false;
    ++tls_spin_depth;
    return true;
  }
  void unlock() noexcept {
    locked_.store(false, std::memory_order_release);
    --tls_spin_depth;
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
