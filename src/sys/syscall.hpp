// The API edge (DESIGN.md §4): the only place a negative errno becomes -1 and errno, and where
// the kernel's restart codes become EINTR or a transparent restart.
#pragma once

#include <cerrno>

#include "base/compiler.hpp"
#include "sched/signal.hpp"
#include "sched/task.hpp"

namespace ustack::sys {

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
    // The kernel's signal return path: decide restart or EINTR, run the handlers, then act.
    bool restart = r <= -sched::ERESTARTSYS && sched::signal_restart(&r);
    if (USTACK_UNLIKELY(t->dq_head_.load(std::memory_order_relaxed) !=
                        t->dq_tail_.load(std::memory_order_relaxed)) &&
        t->in_call_.load(std::memory_order_relaxed) == 0)
      sched::run_deferred_signals(t);
    if (restart) continue;
    if (USTACK_LIKELY(r >= 0)) return R(r);
    errno = int(-r);
    return R(-1);
  }
}

}  // namespace ustack::sys
