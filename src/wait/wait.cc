// Wait-queue operations (kernel/sched/wait.c).
//
// LOCKING: see wait.hpp. Lock order: a wait-queue head lock may be taken with a file's object
// lock held (pipe mutex, eventfd's own head lock is the object lock); nothing is taken under a
// head lock except, by wake functions, the locks of wake-up targets further down the chain.
#include "wait/wait.hpp"

#include "base/trace.hpp"

namespace ustack {

namespace {

// How deep the calling thread is in wake functions (__wake_up_common's calls). A wake-up made
// from inside one (ep_poll_callback waking epoll_wait sleepers, the AF_UNIX peer_wake relay)
// runs under the outer queue's lock, so its futex wakes wait in the wake_q for the outermost
// wake-up, or the end of the call, as the kernel's wake_q does. Only this thread reads or
// writes it.
__thread unsigned tls_wake_depth __attribute__((tls_model("initial-exec"))) = 0;

// The nesting of one walk, undone however the walk ends: a wake function that throws (the
// simulation's trace can run out of memory) must not leave every later wake-up of this thread
// deferring its futex wakes.
struct WakeDepthScope {
  WakeDepthScope() { ++tls_wake_depth; }
  ~WakeDepthScope() { --tls_wake_depth; }
  WakeDepthScope(const WakeDepthScope&) = delete;
  WakeDepthScope& operator=(const WakeDepthScope&) = delete;
};

}  // namespace

void WaitQueueHead::__add(WaitQueueEntry* e) {
  USTACK_ASSERT(!e->linked());
  // Priority entries stay first; everything else goes in front of the rest (F1).
  ListHead* pos = &head_;
  while (pos->nx() != &head_ && (WaitQueueEntry::of(pos->nx())->flags & WQ_FLAG_PRIORITY)) {
    pos = pos->nx();
  }
  list_add(&e->entry, pos);
  wanted_ |= e->key_mask;
}

void WaitQueueHead::__add_tail(WaitQueueEntry* e) {
  USTACK_ASSERT(!e->linked());
  list_add_tail(&e->entry, &head_);
  wanted_ |= e->key_mask;
}

void WaitQueueHead::__remove(WaitQueueEntry* e) {
  USTACK_ASSERT(e->linked());
  list_del_init(&e->entry);
  if (list_empty(&head_)) wanted_ = 0;
}

int WaitQueueHead::__wake_up_walk(unsigned mode, int nr_exclusive, int wake_flags, void* key) {
  if (list_empty(&head_)) {
    wanted_ = 0;  // entries that unlinked themselves (autoremove) leave it stale
    return nr_exclusive;
  }
  WakeDepthScope nested;
  ListHead* l = head_.nx();
  while (l != &head_) {
    // The entry may unlink itself (autoremove): step past it first.
    ListHead* next = l->nx();
    WaitQueueEntry* curr = WaitQueueEntry::of(l);
    unsigned flags = curr->flags;
    int ret = curr->func(curr, mode, wake_flags, key);
    if (ret < 0) break;
    if (ret && (flags & WQ_FLAG_EXCLUSIVE) && !--nr_exclusive) break;
    l = next;
  }
  return nr_exclusive;
}

int default_wake_function(WaitQueueEntry* wq_entry, unsigned mode, int wake_flags, void*) {
  return sched::try_to_wake_up(static_cast<sched::Task*>(wq_entry->private_), mode, wake_flags);
}

int autoremove_wake_function(WaitQueueEntry* wq_entry, unsigned mode, int wake_flags, void* key) {
  int ret = default_wake_function(wq_entry, mode, wake_flags, key);
  // Under the head's lock, as every wake function runs.
  if (ret) list_del_init(&wq_entry->entry);
  return ret;
}

int woken_wake_function(WaitQueueEntry* wq_entry, unsigned mode, int wake_flags, void* key) {
  // Pairs with the barrier in wait_woken(): WOKEN is visible before the task runs.
  __atomic_fetch_or(&wq_entry->flags, WQ_FLAG_WOKEN, __ATOMIC_SEQ_CST);
  return default_wake_function(wq_entry, mode, wake_flags, key);
}

void add_wait_queue(WaitQueueHead* wq, WaitQueueEntry* e) {
  SpinGuard g(wq->lock);
  e->flags &= ~WQ_FLAG_EXCLUSIVE;
  wq->__add(e);
}

void add_wait_queue_exclusive(WaitQueueHead* wq, WaitQueueEntry* e) {
  SpinGuard g(wq->lock);
  e->flags |= WQ_FLAG_EXCLUSIVE;
  wq->__add_tail(e);
}

void add_wait_queue_priority(WaitQueueHead* wq, WaitQueueEntry* e) {
  SpinGuard g(wq->lock);
  e->flags |= WQ_FLAG_EXCLUSIVE | WQ_FLAG_PRIORITY;
  wq->__add(e);
}

void remove_wait_queue(WaitQueueHead* wq, WaitQueueEntry* e) {
  SpinGuard g(wq->lock);
  if (e->linked()) wq->__remove(e);
}

void prepare_to_wait(WaitQueueHead* wq, WaitQueueEntry* e, uint32_t state) {
  SpinGuard g(wq->lock);
  e->flags &= ~WQ_FLAG_EXCLUSIVE;
  if (!e->linked()) wq->__add(e);
  sched::set_current_state(state);
}

void prepare_to_wait_exclusive(WaitQueueHead* wq, WaitQueueEntry* e, uint32_t state) {
  SpinGuard g(wq->lock);
  e->flags |= WQ_FLAG_EXCLUSIVE;
  if (!e->linked()) wq->__add_tail(e);
  sched::set_current_state(state);
}

long prepare_to_wait_event(WaitQueueHead* wq, WaitQueueEntry* e, uint32_t state) {
  SpinGuard g(wq->lock);
  if ((state & sched::TASK_INTERRUPTIBLE) && sched::signal_pending(sched::current())) {
    // Exclusive waiters must not swallow a wake-up they were selected for (F13): leaving
    // the queue here, the caller rechecks its condition before giving up.
    if (e->linked()) wq->__remove(e);
    return -sched::ERESTARTSYS;
  }
  if (!e->linked()) {
    if (e->flags & WQ_FLAG_EXCLUSIVE) {
      wq->__add_tail(e);
    } else {
      wq->__add(e);
    }
  }
  sched::set_current_state(state);
  return 0;
}

void finish_wait(WaitQueueHead* wq, WaitQueueEntry* e) {
  sched::__set_current_state(sched::TASK_RUNNING);
  // list_empty_careful(): an autoremoved entry needs no lock. The hook is read under the lock
  // anyway, as a woken entry's unlink happened under it.
  SpinGuard g(wq->lock);
  if (e->linked()) wq->__remove(e);
}

bool wait_woken(WaitQueueEntry* e, uint32_t mode, int64_t deadline_ns) {
  // The WOKEN flag is written by wakers under the head lock; the task reads and clears it
  // with the same atomicity the kernel gets from smp_store_mb. We use the state word itself:
  // set_current_state first, then look at WOKEN.
  sched::set_current_state(mode);
  bool timed_out = false;
  if (!(__atomic_load_n(&e->flags, __ATOMIC_SEQ_CST) & WQ_FLAG_WOKEN)) {
    timed_out = !sched::schedule_timeout(deadline_ns);
  }
  sched::__set_current_state(sched::TASK_RUNNING);
  __atomic_fetch_and(&e->flags, ~WQ_FLAG_WOKEN, __ATOMIC_SEQ_CST);
  return !timed_out;
}

void __wake_up(WaitQueueHead* wq, unsigned mode, int nr_exclusive, void* key) {
  {
    SpinGuard g(wq->lock);
    wq->__wake_up_common(mode, nr_exclusive, 0, key);
  }
  // The futex wakes, now that the queue's lock is dropped; a wake-up nested in a wake function
  // (ep_poll_callback's) leaves them to the outermost one. A caller that holds some other
  // spinlock around a wake-up flushes under it: correct, only slower for the woken task, so
  // ustack's callers wake after unlocking where the kernel's order allows it.
  if (tls_wake_depth == 0) sched::wake_q_flush();
}

void __wake_up_sync_key(WaitQueueHead* wq, unsigned mode, void* key) {
  {
    SpinGuard g(wq->lock);
    // WF_SYNC only with nr_exclusive == 1 (F8); it is a hint with no user-space effect.
    wq->__wake_up_common(mode, 1, sched::WF_SYNC, key);
  }
  if (tls_wake_depth == 0) sched::wake_q_flush();
}

}  // namespace ustack
