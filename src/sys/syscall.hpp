// The API edge (DESIGN.md §4): the only place a negative errno becomes -1 and errno, and where
// the kernel's restart codes become EINTR or a transparent restart.
#pragma once

#include <cerrno>

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
    long r = long(call());
    sched::wake_q_flush();
    if (USTACK_LIKELY(r >= 0)) return R(r);
    if (r <= -sched::ERESTARTSYS && sched::signal_restart(&r)) continue;
    errno = int(-r);
    return R(-1);
  }
}

}  // namespace ustack::sys
