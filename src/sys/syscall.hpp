// The API edge (DESIGN.md §4): the only place a negative errno becomes -1 and errno, and where
// the kernel's restart codes become EINTR or a transparent restart.
#pragma once

#include <cerrno>

#include "base/compiler.hpp"
#include "sched/signal.hpp"
#include "sched/task.hpp"

namespace ustack::sys {

// What syscall_exit_slow returns to ask for the call to run again.
inline constexpr long kSyscallRestart = -(long(1) << 40);

// The uncommon ending of a call (a negative result, or a signal queued while it ran): the
// kernel's signal return path decides restart or EINTR and runs the deferred handlers, then
// errno is set. Returns the call's final result (-1 with errno set), or kSyscallRestart.
// Out of line and not a template, so that the common ending costs two compares.
long syscall_exit_slow(sched::Task* t, long r);

// Runs `call` as one system call: clears the per-call signal state, restarts the call while a
// handler asked for a restart (SA_RESTART with -ERESTARTSYS), and returns the result with
// errno set for a negative one.
template <class R, class F>
inline R syscall(F&& call) {
  sched::Task* t = sched::current();
  sched::signal_clear_pending(t);
  for (;;) {
    // Only this thread and its signal handlers touch in_call_: a plain load and store, no
    // locked instruction, with signal fences for the handler's view.
    t->in_call_.store(t->in_call_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    long r = long(call());
    sched::wake_q_flush();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t->in_call_.store(t->in_call_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    if (USTACK_LIKELY(r >= 0) &&
        USTACK_LIKELY(t->dq_head_.load(std::memory_order_relaxed) ==
                      t->dq_tail_.load(std::memory_order_relaxed)))
      return R(r);
    r = syscall_exit_slow(t, r);
    if (r != kSyscallRestart) return R(r);
  }
}

}  // namespace ustack::sys
