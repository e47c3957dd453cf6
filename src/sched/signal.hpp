// Signal delivery to sleeping tasks (kernel/signal.c: signal_wake_up, and the restart rules of
// arch/x86/kernel/signal.c handle_signal).
//
// A handler installed through ustack::sigaction runs behind a trampoline that, after the
// handler, marks the current task's signal pending and wakes it if it sleeps interruptibly.
// The sleeping call then returns one of the kernel's restart codes, and sys_return() at the
// API edge turns it into EINTR or a restart exactly as Linux's signal return path would.
#pragma once

#include <signal.h>

namespace ustack::sched {

// Kernel-internal restart codes (include/linux/errno.h); never seen by callers.
inline constexpr int ERESTARTSYS = 512;            // restart if SA_RESTART, else EINTR
inline constexpr int ERESTARTNOINTR = 513;         // always restart
inline constexpr int ERESTARTNOHAND = 514;         // EINTR once a handler ran (select)
inline constexpr int ERESTART_RESTARTBLOCK = 516;  // EINTR once a handler ran (poll)

// What a call that returned `ret` does after signal handling: true if the call must be run
// again (ERESTARTSYS with SA_RESTART, ERESTARTNOINTR); otherwise *ret becomes -EINTR for the
// restart codes and is left alone for everything else.
bool signal_restart(long* ret);

int sigaction_hook(int signum, const struct sigaction* act, struct sigaction* oldact);

}  // namespace ustack::sched
