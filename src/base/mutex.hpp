// Mutex: the kernel's struct mutex for user space: a sleeping lock for sections that may wait
// (epoll's mtx held across f_op->poll, a pipe's mutex). The uncontended paths are one atomic
// each and inline; a contended lock sleeps on a futex (state 2: locked with waiters).
//
// It is our own rather than std::mutex so that the fast path needs no call into libc (the epoll
// cycle takes one on every harvest), and so that the simulation scheduler has one place to hook.
//
// LOCKING: state_ is the lock. 0 free, 1 locked, 2 locked and someone may sleep on it.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "base/compiler.hpp"

namespace ustack {

class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    uint32_t c = 0;
    if (USTACK_LIKELY(state_.compare_exchange_strong(c, 1, std::memory_order_acquire))) return;
    lock_slow(c);
  }
  bool try_lock() {
    uint32_t c = 0;
    return state_.compare_exchange_strong(c, 1, std::memory_order_acquire);
  }
  void unlock() {
    if (USTACK_UNLIKELY(state_.exchange(0, std::memory_order_release) == 2)) wake_one();
  }

 private:
  __attribute__((noinline)) void lock_slow(uint32_t c) {
    // Mark contended, then sleep until we take it (Drepper, "Futexes Are Tricky", mutex 3).
    if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, 2, nullptr,
              nullptr, 0);
      c = state_.exchange(2, std::memory_order_acquire);
    }
  }
  __attribute__((noinline)) void wake_one() {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
  }

  std::atomic<uint32_t> state_{0};
};

}  // namespace ustack
