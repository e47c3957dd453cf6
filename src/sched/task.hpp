// Tasks and sleeping: the task_struct subset and the scheduler entry points of kernel/sched.
//
// A Task is what the kernel calls `current`. Sleeping follows the kernel's protocol exactly:
//   set_current_state(TASK_INTERRUPTIBLE);   // publish "about to sleep" (full barrier)
//   if (!condition) schedule_timeout(deadline);
//   __set_current_state(TASK_RUNNING);
// and a waker publishes the condition, then calls try_to_wake_up(), which moves the state word
// back to TASK_RUNNING. Whichever order the two run in, the sleeper either sees the condition
// or finds its state already RUNNING, so no wake-up is ever lost (spec F12).
//
// The state word is also the futex word of the threaded backend. The Scheduler interface is
// the only part that differs between backends (threads on futex; fibers on virtual time).
//
// LOCKING: Task::state_, sigpending_ and sig_restart_ are atomics, written by the task itself,
// by wakers on any thread and by the signal trampoline; no lock is involved. A wake function
// may call try_to_wake_up() with a wait-queue head lock held. The light-file slots, in_call_
// and the deferred-signal queue belong to the task's own thread and its signal handlers; the
// only other reader is a task making an fd table shared, which reads in_light_ (acquire).
// kwait_scope_ and kwait_ are the task's own (kwait_ is freed with the Task); kwait_mode_ is
// stored by the task before it sets kTaskBlocked and read by wakers after they clear it.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <atomic>
#include <cstdint>

#include "base/limits.hpp"

namespace ustack {
class Host;
}

namespace ustack::sched {

// Task states (include/linux/sched.h). TASK_NORMAL is the wake mode for "either sleep".
inline constexpr uint32_t TASK_RUNNING = 0x0000;
inline constexpr uint32_t TASK_INTERRUPTIBLE = 0x0001;
inline constexpr uint32_t TASK_UNINTERRUPTIBLE = 0x0002;
inline constexpr uint32_t TASK_NORMAL = TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE;
// Set in the state word while the task is blocked in the scheduler, so a waker knows that it
// must also unblock it (a futex wake); a waker that finds it clear saves that system call.
inline constexpr uint32_t kTaskBlocked = 0x8000'0000;

// Wake flags (kernel/sched/sched.h).
inline constexpr int WF_SYNC = 0x10;  // a hint only: the waker is about to sleep (F8)

class Task {
 public:
  explicit Task(uint32_t id) : id_(id) {}
  ~Task();  // frees the KernelWait record (kwait_) with the task: a late waker may still ring
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  uint32_t id() const { return id_; }

  // The task's memory outlives its thread while a waker still holds it (wake_q).
  void get() { usage_.fetch_add(1, std::memory_order_relaxed); }
  void put() {
    if (usage_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // __state: TASK_* plus kTaskBlocked. Also the futex word.
  std::atomic<uint32_t> state_{TASK_RUNNING};
  // TIF_SIGPENDING: a handler installed through ustack::sigaction ran during the current call.
  std::atomic<bool> sigpending_{false};
  // Whether every handler that ran during the current call had SA_RESTART.
  std::atomic<bool> sig_restart_{true};
  // fdget's light path (src/vfs/fdtable.hpp): files this task uses in the current call without
  // a reference. Slots [light_live_, light_n_) are live (no reference); those below were
  // upgraded to real references before the task slept. in_light_ is true while a live slot
  // exists, and is read by another task that makes the fd table shared.
  static constexpr unsigned kMaxLightFiles = 4;
  std::atomic<bool> in_light_{false};
  unsigned light_n_ = 0;
  unsigned light_live_ = 0;
  void* light_files_[kMaxLightFiles];
  // Signal handlers wait for the ustack call they interrupt to end, as the kernel runs them on
  // the way back to user space: a handler that calls ustack (the self-pipe trick) must never
  // find the interrupted call's locks held or its state half-updated. in_call_ counts the
  // ustack calls in progress on this thread; the trampoline queues a signal that lands inside
  // one, and sys::syscall runs the queue when the call ends. All of it is touched only by this
  // thread and its signal handlers.
  static constexpr unsigned kMaxDeferredSignals = 8;
  struct DeferredSignal {
    int sig;
    int flags;        // the handler's sa_flags
    void* handler;    // sa_handler or sa_sigaction
    sigset_t mask;    // sa_mask
    siginfo_t info;
    ucontext_t uctx;  // a copy: the handler sees the context of its delivery, read-only
  };
  std::atomic<unsigned> in_call_{0};
  std::atomic<unsigned> dq_head_{0};
  std::atomic<unsigned> dq_tail_{0};
  DeferredSignal deferred_[kMaxDeferredSignals];
  // Set by the SIGCONT hook when a stop/continue interrupted this task's sleep (C46).
  std::atomic<bool> stopcont_{false};
  // The host this task's calls act on; nullptr means the default host. Owned by src/vfs.
  Host* host_ = nullptr;
  // wchan: the function this task last went to sleep in (for the simulation's deadlock
  // report and the trace), set by schedule_timeout.
  const char* wchan_ = nullptr;
  // The fiber scheduler's record of this task (src/sched/fiber.cc); null for a thread.
  void* sim_ = nullptr;
  // Kernel waits (KernelWait below; only under the preload library). kwait_scope_: the task is
  // in a wait that may involve kernel fds (poll, select, epoll_wait); own thread only.
  // kwait_mode_: this sleep is in the kernel on the doorbell, not on the futex; stored before
  // kTaskBlocked is set and read by wakers after they see it. kwait_: the KernelWait's own
  // per-task record (the doorbell).
  bool kwait_scope_ = false;
  std::atomic<bool> kwait_mode_{false};
  void* kwait_ = nullptr;

 private:
  const uint32_t id_;
  std::atomic<int> usage_{1};  // the thread's own reference, plus one per pending wake_q entry
};

// The calling thread's task, created at its first use.
// __thread, not thread_local: no C++ TLS wrapper (which UBSan mis-checks across TUs).
extern __thread Task* tls_task __attribute__((tls_model("initial-exec")));
Task* create_current();
inline Task* current() {
  Task* t = tls_task;
  return __builtin_expect(t != nullptr, 1) ? t : create_current();
}
// The calling thread's task, or nullptr if it has none yet; async-signal-safe.
Task* current_if_any();

inline void __set_current_state(uint32_t state) {
  current()->state_.store(state, std::memory_order_relaxed);
}
// smp_store_mb(): the state store is ordered before every later load of the sleep condition.
inline void set_current_state(uint32_t state) {
  current()->state_.store(state, std::memory_order_seq_cst);
}

inline bool signal_pending(const Task* t) {
  return t->sigpending_.load(std::memory_order_seq_cst);
}

// Called before the task blocks or runs a signal handler, while in_light_: turns its light file
// uses into references (set by src/vfs, which knows what a file is).
extern void (*g_light_upgrade)(Task*);
inline void light_upgrade(Task* t) {
  if (t->in_light_.load(std::memory_order_relaxed)) g_light_upgrade(t);
}

// Sleeps in the state set by set_current_state() until woken or until the absolute
// CLOCK_MONOTONIC deadline `deadline_ns` (kNoDeadline: no timeout). Returns at once if the
// state is already TASK_RUNNING, or if it is TASK_INTERRUPTIBLE and a signal is pending (as
// __schedule does). Spins on the state word for up to busy_poll_ns first (net.core.busy_poll).
// Returns false if the deadline passed without a wake-up. The state is TASK_RUNNING on return.
// `wchan` names the sleeper (the caller, by default) for reports and traces.
bool schedule_timeout(int64_t deadline_ns, int64_t busy_poll_ns = 0,
                      const char* wchan = __builtin_FUNCTION());

// Wakes `p` if its state is in `state_mask`: moves it to TASK_RUNNING and unblocks it.
// Returns 1 if the state changed, 0 if the task was not sleeping in such a state.
//
// Wakers usually hold a wait-queue head lock. The state change is immediate, but unblocking a
// task blocked in the kernel (a futex wake, a system call) is deferred to the calling thread's
// wake_q and done by wake_q_flush() once the lock is released, as the kernel's wake_q does:
// otherwise the woken task would run straight into the lock its waker still holds.
int try_to_wake_up(Task* p, uint32_t state_mask, int wake_flags);

// Unblocks every task that try_to_wake_up queued on this thread. Called after dropping wait-queue
// locks, before this thread sleeps, and at the end of every ustack call.
void wake_q_flush_slow();
extern __thread unsigned tls_wake_q_len __attribute__((tls_model("initial-exec")));
extern __thread unsigned tls_wake_q_base __attribute__((tls_model("initial-exec")));
inline void wake_q_flush() {
  if (tls_wake_q_len != tls_wake_q_base) wake_q_flush_slow();
}
// Brackets a signal handler's run (the trampoline): the handler's own ustack calls get a fresh
// queue above the interrupted code's entries.
unsigned wake_q_enter_handler();
void wake_q_leave_handler(unsigned saved);
inline int wake_up_process(Task* p) { return try_to_wake_up(p, TASK_NORMAL, 0); }

// Clears the per-call signal bookkeeping; called at the entry of each ustack call.
inline void signal_clear_pending(Task* t) {
  if (t->sigpending_.load(std::memory_order_relaxed)) {
    t->sigpending_.store(false, std::memory_order_relaxed);
    t->sig_restart_.store(true, std::memory_order_relaxed);
  }
}

// Kernel waits (DESIGN.md §5): under the preload library a task that waits in ustack's poll,
// select or epoll_wait may also be waiting for kernel fds. Such a task sleeps in the kernel, in
// ppoll on its own eventfd (the doorbell) and the preload's hidden kernel epoll, and a waker
// rings the doorbell instead of the futex. Installed by src/preload; null everywhere else.
class KernelWait {
 public:
  virtual ~KernelWait() = default;
  // A task enters and leaves a wait that may involve kernel fds (KernelWaitScope).
  virtual void enter(Task* t) = 0;
  virtual void leave(Task* t) = 0;
  // Whether this sleep of `t` must be in the kernel; called after the task's state is set
  // and before it is marked blocked (so a waker that sees it blocked sees the decision).
  virtual bool wants_kernel_sleep(Task* t) = 0;
  // Sleeps in the kernel until the doorbell rings, a kernel fd is ready (whose readiness it
  // then passes on to ustack's wait queues), a signal, or the deadline. May return spuriously;
  // false only if the deadline has passed.
  virtual bool block(Task* t, int64_t deadline_ns) = 0;
  virtual void ring(Task* t) = 0;
  // The task's memory is going away (its last reference): its record and doorbell too.
  virtual void release(Task* t) = 0;
};
extern KernelWait* g_kernel_wait;

// Brackets a wait that may involve kernel fds; does nothing outside the preload library.
class KernelWaitScope {
 public:
  KernelWaitScope() {
    if (__builtin_expect(g_kernel_wait != nullptr, 0)) {
      t_ = current();
      g_kernel_wait->enter(t_);
    }
  }
  ~KernelWaitScope() {
    if (__builtin_expect(t_ != nullptr, 0)) g_kernel_wait->leave(t_);
  }
  KernelWaitScope(const KernelWaitScope&) = delete;
  KernelWaitScope& operator=(const KernelWaitScope&) = delete;

 private:
  Task* t_ = nullptr;
};

// The backend that blocks and unblocks tasks (DESIGN.md §2). Nothing above src/sched sees it.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Blocks the calling task `t` while t->state_ == blocked_state, until the deadline.
  // May return spuriously; returns false only if the deadline has passed.
  virtual bool block(Task* t, uint32_t blocked_state, int64_t deadline_ns) = 0;
  // Unblocks `t`, whose state word has just left its blocked state.
  virtual void unblock(Task* t) = 0;
  // CLOCK_MONOTONIC of this scheduler, in ns.
  virtual int64_t now_ns() = 0;
  // Virtual time (the simulation): nothing happens while a task spins, so nobody spins.
  virtual bool virtual_time() const { return false; }
};

// The backend of the calling OS thread: the threaded one, unless a simulation runs on it.
extern __thread Scheduler* tls_scheduler __attribute__((tls_model("initial-exec")));
Scheduler& thread_scheduler();
inline Scheduler& scheduler() {
  Scheduler* s = tls_scheduler;
  return __builtin_expect(s == nullptr, 1) ? thread_scheduler() : *s;
}
inline int64_t now_ns() { return scheduler().now_ns(); }

}  // namespace ustack::sched
