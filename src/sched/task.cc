// The task state protocol (kernel/sched/core.c: try_to_wake_up, __schedule's signal check)
// and the threaded backend, which blocks tasks with FUTEX_WAIT_BITSET on the state word.
//
// LOCKING: none; see task.hpp. The state word is only changed by atomic read-modify-writes,
// except the task's own stores to it while it runs.
#include "sched/task.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/clock.hpp"
#include "base/compiler.hpp"
#include "base/trace.hpp"

namespace ustack::sched {

namespace {

std::atomic<uint32_t> g_next_task_id{1};

// One Task per OS thread; the thread's reference is dropped when it exits.
struct TaskOwner {
  Task* task = nullptr;
  ~TaskOwner();
};
thread_local TaskOwner tls_task_owner;

// The wake_q: tasks whose state this thread moved to RUNNING but which still need a kernel
// wake-up. Bounded; past the bound a wake-up is done at once (correct, just slower).
constexpr unsigned kWakeQMax = 32;
__attribute__((tls_model("initial-exec"))) thread_local Task* tls_wake_q[kWakeQMax];

TaskOwner::~TaskOwner() {
  wake_q_flush();
  if (task) {
    tls_task = nullptr;
    task->put();
  }
}

}  // namespace

__thread Task* tls_task __attribute__((tls_model("initial-exec"))) = nullptr;

__attribute__((noinline)) Task* create_current() {
  tls_task_owner.task = new Task(g_next_task_id.fetch_add(1, std::memory_order_relaxed));
  tls_task = tls_task_owner.task;
  trace::tls_task_id = tls_task->id();
  return tls_task;
}

namespace {

long futex(std::atomic<uint32_t>* uaddr, int op, uint32_t val, const struct timespec* ts,
           uint32_t val3) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(uaddr), op, val, ts, nullptr, val3);
}

// Threads block in the kernel on their own state word.
class ThreadScheduler final : public Scheduler {
 public:
  bool block(Task* t, uint32_t blocked_state, int64_t deadline_ns) override {
    if (__builtin_expect(t->kwait_mode_.load(std::memory_order_relaxed), 0))
      return g_kernel_wait->block(t, deadline_ns);
    struct timespec ts;
    const struct timespec* tsp = nullptr;
    if (deadline_ns != kNoDeadline) {
      ts = ns_to_timespec(deadline_ns);
      tsp = &ts;
    }
    // Absolute CLOCK_MONOTONIC deadline: no drift across spurious wake-ups and restarts.
    long r = futex(&t->state_, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, blocked_state, tsp,
                   FUTEX_BITSET_MATCH_ANY);
    return !(r < 0 && errno == ETIMEDOUT);
  }
  void unblock(Task* t) override {
    USTACK_ASSERT(t->sim_ == nullptr);  // a thread must not wake a simulated task
    if (__builtin_expect(t->kwait_mode_.load(std::memory_order_seq_cst), 0)) {
      g_kernel_wait->ring(t);
      return;
    }
    futex(&t->state_, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, 0);
  }
  int64_t now_ns() override { return monotonic_ns(); }
};

ThreadScheduler g_thread_scheduler;

}  // namespace

__thread unsigned tls_wake_q_len __attribute__((tls_model("initial-exec"))) = 0;
// A signal handler that calls into ustack uses the queue above `base` only (see
// wake_q_enter_handler), so it never touches entries the code it interrupted is adding or
// flushing.
__thread unsigned tls_wake_q_base __attribute__((tls_model("initial-exec"))) = 0;

void wake_q_flush_slow() {
  Scheduler& s = scheduler();
  // From the top down, each entry dropped only once it is fully handled: a handler that
  // interrupts us starts its own queue above whatever is left.
  while (tls_wake_q_len > tls_wake_q_base) {
    Task* t = tls_wake_q[tls_wake_q_len - 1];
    s.unblock(t);
    t->put();
    --tls_wake_q_len;
  }
}

unsigned wake_q_enter_handler() {
  unsigned saved = tls_wake_q_base;
  tls_wake_q_base = tls_wake_q_len;
  return saved;
}

void wake_q_leave_handler(unsigned saved) {
  wake_q_flush();
  tls_wake_q_base = saved;
}

Task* current_if_any() { return tls_task; }

__thread Scheduler* tls_scheduler __attribute__((tls_model("initial-exec"))) = nullptr;
Scheduler& thread_scheduler() { return g_thread_scheduler; }

void (*g_light_upgrade)(Task*) = nullptr;
KernelWait* g_kernel_wait = nullptr;

Task::~Task() {
  if (kwait_ != nullptr && g_kernel_wait != nullptr) g_kernel_wait->release(this);
}

bool schedule_timeout(int64_t deadline_ns, int64_t busy_poll_ns, const char* wchan) {
  Task* t = current();
  t->wchan_ = wchan;
  light_upgrade(t);  // never hold light file uses across a sleep
  Scheduler& s = scheduler();
  uint32_t state = t->state_.load(std::memory_order_seq_cst);
  bool woken = true;
  USTACK_TRACE("schedule_timeout", deadline_ns, state);

  wake_q_flush();  // never spin or sleep on wake-ups we owe others

  // Spin on the state word first, where a waker's store lands: for the host's busy_poll time
  // (net.core.busy_poll), or else briefly (kSpinBeforeSleepNs), as adaptive mutexes do: a
  // partner that answers within that time costs no system call on either side.
  const int64_t spin_ns =
      s.virtual_time() ? 0 : busy_poll_ns > 0 ? busy_poll_ns : kSpinBeforeSleepNs;
  if (spin_ns > 0 && state != TASK_RUNNING) {
    const int64_t until = std::min(s.now_ns() + spin_ns, deadline_ns);
    for (unsigned spins = 0; state != TASK_RUNNING; state = t->state_.load(std::memory_order_acquire)) {
      __builtin_ia32_pause();
      if ((++spins & 63) == 0 && s.now_ns() >= until) break;
      if ((state & TASK_INTERRUPTIBLE) && signal_pending(t)) break;
    }
  }

  while (state != TASK_RUNNING) {
    // __schedule: an interruptible sleeper with a pending signal does not sleep. The signal
    // trampoline stores sigpending before it reads our state, we store our state before we read
    // sigpending: one of the two sees the other.
    if ((state & TASK_INTERRUPTIBLE) && signal_pending(t)) break;
    if (!(state & kTaskBlocked)) {
      // Where this sleep happens is decided before the blocked bit is published: a waker that
      // sees the bit then knows whether to ring the doorbell or wake the futex.
      if (__builtin_expect(t->kwait_scope_, 0))
        t->kwait_mode_.store(g_kernel_wait->wants_kernel_sleep(t), std::memory_order_seq_cst);
      if (!t->state_.compare_exchange_weak(state, state | kTaskBlocked, std::memory_order_seq_cst))
        continue;  // a waker got there first, or a spurious failure: look again
      state |= kTaskBlocked;
    }
    if (!s.block(t, state, deadline_ns)) {
      woken = false;
      break;
    }
    state = t->state_.load(std::memory_order_seq_cst);
  }
  // Whether we were woken, timed out or interrupted, we run again. A wake-up that lands
  // between the timeout and this store is not lost: the caller rechecks its condition.
  uint32_t old = t->state_.exchange(TASK_RUNNING, std::memory_order_seq_cst);
  if (!woken && old == TASK_RUNNING) woken = true;  // the waker beat the timeout
  USTACK_TRACE("schedule_timeout_ret", woken, 0);
  return woken;
}

int try_to_wake_up(Task* p, uint32_t state_mask, int wake_flags) {
  (void)wake_flags;  // WF_SYNC is a placement hint only (F8): no user-space meaning
  uint32_t state = p->state_.load(std::memory_order_seq_cst);
  do {
    if (!(state & state_mask)) return 0;
  } while (!p->state_.compare_exchange_weak(state, TASK_RUNNING, std::memory_order_seq_cst));
  USTACK_TRACE("try_to_wake_up", p->id(), state);
  if (state & kTaskBlocked) {
    if (tls_wake_q_len < kWakeQMax) {
      p->get();
      // Reserve the slot, then fill it: a handler that interrupts in between starts its own
      // queue above the reserved slot (and the slot is filled before anyone flushes it).
      const unsigned slot = tls_wake_q_len;
      tls_wake_q_len = slot + 1;
      __atomic_signal_fence(__ATOMIC_SEQ_CST);
      tls_wake_q[slot] = p;
    } else {
      scheduler().unblock(p);
    }
  }
  return 1;
}

}  // namespace ustack::sched
