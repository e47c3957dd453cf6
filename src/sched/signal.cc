// The sigaction trampoline that lets a real signal handler interrupt a sleeping ustack call.
//
// LOCKING: g_actions[sig] is written under g_sigaction_lock by sigaction_hook and read without
// a lock by the trampoline (a signal handler can take no lock); each slot is published with a
// release store of `handler` after its other fields, and read with an acquire load.
#include "sched/signal.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <pthread.h>

#include "base/trace.hpp"
#include "sched/task.hpp"

namespace ustack::sched {

int (*kernel_sigaction)(int, const struct sigaction*, struct sigaction*) = ::sigaction;

namespace {

struct UserAction {
  std::atomic<void*> handler{nullptr};  // sa_handler or sa_sigaction, as the user gave it
  std::atomic<int> flags{0};            // the user's sa_flags
  sigset_t mask;                        // the user's sa_mask, written before `handler`
};

UserAction g_actions[_NSIG];
std::mutex g_sigaction_lock;


void call_handler(void* h, int flags, int sig, siginfo_t* info, void* uctx) {
  if (flags & SA_SIGINFO) {
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(h)(sig, info, uctx);
  } else if (h != nullptr) {
    reinterpret_cast<void (*)(int)>(h)(sig);
  }
}

void trampoline(int sig, siginfo_t* info, void* uctx) {
  int saved_errno = errno;
  UserAction& a = g_actions[sig];
  void* h = a.handler.load(std::memory_order_acquire);
  int flags = a.flags.load(std::memory_order_relaxed);
  if (flags & SA_RESETHAND) a.handler.store(nullptr, std::memory_order_relaxed);
  Task* t = current_if_any();
  if (t == nullptr || t->in_call_.load(std::memory_order_relaxed) == 0) {
    // Not inside a ustack call: nothing to interrupt; the handler runs now (with a wake_q
    // part of its own, in case it interrupted a wake-up made outside any call).
    const unsigned wake_q_saved = wake_q_enter_handler();
    errno = saved_errno;
    call_handler(h, flags, sig, info, uctx);
    wake_q_leave_handler(wake_q_saved);
    errno = saved_errno;
    return;
  }
  // Inside a call: queue the handler for the call's end, and interrupt the call as
  // signal_wake_up() does: mark pending, then wake an interruptible sleep. The order pairs
  // with schedule_timeout's "store state, then load sigpending".
  const unsigned tail = t->dq_tail_.load(std::memory_order_relaxed);
  if (tail - t->dq_head_.load(std::memory_order_relaxed) < Task::kMaxDeferredSignals) {
    Task::DeferredSignal& d = t->deferred_[tail % Task::kMaxDeferredSignals];
    d.sig = sig;
    d.flags = flags;
    d.handler = h;
    d.mask = a.mask;
    if (info != nullptr) d.info = *info;
    if (uctx != nullptr) d.uctx = *static_cast<ucontext_t*>(uctx);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t->dq_tail_.store(tail + 1, std::memory_order_relaxed);
  } else {
    // A full queue (a storm of signals inside one call): this one is dropped, as a standard
    // signal already pending would be; the call is interrupted all the same.
  }
  if (!(flags & SA_RESTART)) t->sig_restart_.store(false, std::memory_order_relaxed);
  t->sigpending_.store(true, std::memory_order_seq_cst);
  uint32_t state = t->state_.load(std::memory_order_seq_cst);
  while ((state & TASK_INTERRUPTIBLE) &&
         !t->state_.compare_exchange_weak(state, TASK_RUNNING, std::memory_order_seq_cst)) {
  }
  // No futex wake is needed: this handler runs on the sleeper's own thread, and the kernel
  // either restarts its futex wait (which now fails at once: the word changed) or fails it
  // with EINTR. A sleep in the kernel on the doorbell (KernelWait) has no such word check: a
  // signal that lands after the task marked itself blocked but before its ppoll started must
  // ring, or the ppoll would sleep through it. (An eventfd write is async-signal-safe.)
  if ((state & TASK_INTERRUPTIBLE) && (state & kTaskBlocked) &&
      t->kwait_mode_.load(std::memory_order_seq_cst))
    g_kernel_wait->ring(t);
  errno = saved_errno;
}

// The tasks sleeping where a stop/continue must interrupt them. A signal handler reads the
// array, so registration is lock-free.
constexpr int kMaxStopSleepers = 256;
std::atomic<Task*> g_stop_sleepers[kMaxStopSleepers];
std::once_flag g_sigcont_once;

void sigcont_handler(int, siginfo_t*, void*) {
  int saved_errno = errno;
  for (auto& slot : g_stop_sleepers) {
    Task* t = slot.load(std::memory_order_acquire);
    if (t == nullptr) continue;
    t->stopcont_.store(true, std::memory_order_seq_cst);
    // The wake of signal_wake_up, done here from whichever thread got the SIGCONT.
    uint32_t state = t->state_.load(std::memory_order_seq_cst);
    while ((state & TASK_INTERRUPTIBLE) &&
           !t->state_.compare_exchange_weak(state, TASK_RUNNING, std::memory_order_seq_cst)) {
    }
    if (state & kTaskBlocked) scheduler().unblock(t);
  }
  errno = saved_errno;
}

void install_sigcont_hook() {
  struct sigaction old;
  if (kernel_sigaction(SIGCONT, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) return;
  struct sigaction act = {};
  act.sa_sigaction = sigcont_handler;
  act.sa_flags = SA_SIGINFO | SA_RESTART;  // interrupted futex waits resume by themselves
  sigemptyset(&act.sa_mask);
  kernel_sigaction(SIGCONT, &act, nullptr);
}

}  // namespace

StopInterruptible::StopInterruptible() : slot_(-1) {
  std::call_once(g_sigcont_once, install_sigcont_hook);
  Task* t = current();
  t->stopcont_.store(false, std::memory_order_relaxed);
  for (int i = 0; i < kMaxStopSleepers; ++i) {
    Task* expected = nullptr;
    if (g_stop_sleepers[i].compare_exchange_strong(expected, t, std::memory_order_acq_rel)) {
      slot_ = i;
      return;
    }
  }
}

StopInterruptible::~StopInterruptible() {
  if (slot_ >= 0) g_stop_sleepers[slot_].store(nullptr, std::memory_order_release);
}

bool StopInterruptible::interrupted() {
  return current()->stopcont_.exchange(false, std::memory_order_seq_cst);
}

void run_deferred_signals(Task* t) {
  for (;;) {
    const unsigned head = t->dq_head_.load(std::memory_order_relaxed);
    if (head == t->dq_tail_.load(std::memory_order_relaxed)) return;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    Task::DeferredSignal d = t->deferred_[head % Task::kMaxDeferredSignals];
    t->dq_head_.store(head + 1, std::memory_order_relaxed);
    sigset_t block = d.mask, old;
    if (!(d.flags & SA_NODEFER)) sigaddset(&block, d.sig);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int saved_errno = errno;
    call_handler(d.handler, d.flags, d.sig, &d.info, &d.uctx);
    errno = saved_errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
}

bool signal_restart(long* ret) {
  Task* t = current();
  switch (-*ret) {
    case ERESTARTNOINTR:
      signal_clear_pending(t);
      return true;
    case ERESTARTSYS:
      if (t->sig_restart_.load(std::memory_order_relaxed)) {
        signal_clear_pending(t);
        return true;
      }
      *ret = -EINTR;
      return false;
    case ERESTARTNOHAND:
    case ERESTART_RESTARTBLOCK:
      *ret = -EINTR;
      return false;
    default:
      return false;
  }
}

int sigaction_hook(int signum, const struct sigaction* act, struct sigaction* oldact) {
  if (signum <= 0 || signum >= _NSIG) {
    errno = EINVAL;
    return -1;
  }
  std::lock_guard g(g_sigaction_lock);
  UserAction& a = g_actions[signum];
  void* old_h = a.handler.load(std::memory_order_relaxed);
  int old_flags = a.flags.load(std::memory_order_relaxed);
  struct sigaction kold;
  if (act == nullptr) {
    if (kernel_sigaction(signum, nullptr, &kold) != 0) return -1;
  } else {
    struct sigaction kact = *act;
    void* h = (act->sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(act->sa_sigaction)
                                            : reinterpret_cast<void*>(act->sa_handler);
    bool hooked = h != reinterpret_cast<void*>(SIG_DFL) && h != reinterpret_cast<void*>(SIG_IGN);
    if (hooked) {
      kact.sa_sigaction = trampoline;
      kact.sa_flags |= SA_SIGINFO;
    }
    // The kernel validates (SIGKILL, SIGSTOP, bad numbers) before anything changes.
    if (kernel_sigaction(signum, &kact, &kold) != 0) return -1;
    a.flags.store(act->sa_flags, std::memory_order_relaxed);
    a.mask = act->sa_mask;
    a.handler.store(hooked ? h : nullptr, std::memory_order_release);
  }
  if (oldact != nullptr) {
    *oldact = kold;
    if (kold.sa_sigaction == trampoline) {
      // Report the user's own handler and flags, not the trampoline's.
      oldact->sa_flags = old_flags;
      if (old_flags & SA_SIGINFO) {
        oldact->sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(old_h);
      } else {
        oldact->sa_handler = reinterpret_cast<void (*)(int)>(old_h);
      }
    }
  }
  return 0;
}

}  // namespace ustack::sched
