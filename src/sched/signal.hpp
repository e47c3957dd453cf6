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

// The kernel's sigaction, as ustack itself installs its trampolines: glibc's, except under the
// preload library, whose own `sigaction` is the user's entry point (it points this at the next
// definition, libc's, before anything else runs).
extern int (*kernel_sigaction)(int, const struct sigaction*, struct sigaction*);

int sigaction_hook(int signum, const struct sigaction* act, struct sigaction* oldact);

// Runs the handlers of the signals that arrived during the ustack call that just ended, each
// with its sa_mask (and the signal itself, unless SA_NODEFER) blocked, as the kernel does.
void run_deferred_signals(class Task* t);

// SIGSTOP/SIGCONT with no handler: Linux interrupts every interruptible sleep of the process;
// calls that return a restart code resume transparently (poll, eventfd, pipes: A20, D13), while
// epoll_wait, which returns -EINTR itself, fails with EINTR (C46). SIGSTOP cannot be caught, so
// ustack watches for the SIGCONT that follows: a task that sleeps where a stop must interrupt
// it registers here (StopInterruptible), and an internal SIGCONT handler (installed on first
// use if SIGCONT has its default action) wakes every registered task with `stopcont_` set.
class StopInterruptible {
 public:
  StopInterruptible();   // registers the current task (best effort: kMaxStopSleepers)
  ~StopInterruptible();
  // Whether a stop/continue interrupted the sleep (and forget it).
  bool interrupted();
  StopInterruptible(const StopInterruptible&) = delete;
  StopInterruptible& operator=(const StopInterruptible&) = delete;

 private:
  int slot_;
};

}  // namespace ustack::sched
