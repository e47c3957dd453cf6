// Wait queues (kernel/sched/wait.c, include/linux/wait.h), one to one.
//
// A WaitQueueHead is a lock and a list of WaitQueueEntry{flags, private, func}. A wake-up walks
// the list from the head and calls each entry's func with the wake key (the poll mask of the
// event, or 0 for "anything"); non-exclusive entries never consume the nr_exclusive budget,
// and the walk stops once nr_exclusive exclusive entries have accepted the wake-up (F2–F4).
//
// LOCKING: WaitQueueHead::lock protects the list, the head's key summary (wanted_) and every
// queued entry's link, flags and key_mask. Wake
// functions run with it held and must not sleep or take it again. Functions named __x or
// x_locked expect the caller to hold it; waitqueue_active()/wq_has_sleeper() read the list's
// head without it, as the kernel's do.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/compiler.hpp"
#include "base/list.hpp"
#include "base/spinlock.hpp"
#include "sched/signal.hpp"
#include "sched/task.hpp"

namespace ustack {

using __poll_t = uint32_t;

// WaitQueueEntry::flags (include/linux/wait.h).
inline constexpr unsigned WQ_FLAG_EXCLUSIVE = 0x01;
inline constexpr unsigned WQ_FLAG_WOKEN = 0x02;
inline constexpr unsigned WQ_FLAG_PRIORITY = 0x10;

struct WaitQueueEntry;
// Returns > 0 if the entry accepted the wake-up, 0 if not, < 0 to stop the walk.
using wait_queue_func_t = int (*)(WaitQueueEntry* wq_entry, unsigned mode, int flags, void* key);

// The wake key is the poll mask cast to a pointer (poll_to_key, F5).
inline void* poll_to_key(__poll_t m) { return reinterpret_cast<void*>(uintptr_t(m)); }
inline __poll_t key_to_poll(void* key) { return __poll_t(reinterpret_cast<uintptr_t>(key)); }

struct WaitQueueEntry {
  unsigned flags = 0;                 // WQ_FLAG_*, under the head's lock
  void* private_ = nullptr;           // usually the sleeping Task
  wait_queue_func_t func = nullptr;
  // The keys this entry's func can act on: a keyed wake-up that misses them returns 0 from it
  // with no effect (pollwake's and ep_poll_callback's key filters). All, unless the queue
  // procedure that adds it knows better; under the head's lock once added.
  __poll_t key_mask = ~0u;
  ListHead entry;                     // the link in WaitQueueHead::head_, under its lock

  bool linked() const { return !list_empty(&entry); }
  static WaitQueueEntry* of(ListHead* l) { return USTACK_CONTAINER_OF(l, WaitQueueEntry, entry); }
};

class WaitQueueHead {
 public:
  WaitQueueHead() = default;
  WaitQueueHead(const WaitQueueHead&) = delete;
  WaitQueueHead& operator=(const WaitQueueHead&) = delete;
  ~WaitQueueHead() { USTACK_ASSERT(list_empty(&head_)); }

  SpinLock lock;

  // --- caller holds lock ---
  // __add_wait_queue: at the head, after any WQ_FLAG_PRIORITY entries (F1).
  void __add(WaitQueueEntry* e);
  // __add_wait_queue_entry_tail.
  void __add_tail(WaitQueueEntry* e);
  void __remove(WaitQueueEntry* e);
  // __wake_up_common (F2). A keyed wake-up that no entry wants is decided here, inline: an
  // eventfd read's POLLOUT wake-up past an epoll that waits for EPOLLIN costs no call.
  int __wake_up_common(unsigned mode, int nr_exclusive, int wake_flags, void* key) {
    if (key != nullptr && !(key_to_poll(key) & wanted_)) return nr_exclusive;
    return __wake_up_walk(mode, nr_exclusive, wake_flags, key);
  }
  // The walk itself.
  int __wake_up_walk(unsigned mode, int nr_exclusive, int wake_flags, void* key);
  // An entry's key_mask grew (epoll_ctl MOD): the head's summary must cover it.
  void widen_keys(__poll_t mask) { wanted_ |= mask; }

  // waitqueue_active(): lock-free "is anyone queued". Only safe as the kernel uses it: the
  // caller has published its condition under this lock, or follows with a full barrier.
  bool active() const { return !list_empty(&head_); }

  template <class F>
  void for_each_locked(F&& f) {
    for (ListHead* l = head_.nx(); l != &head_; l = l->nx()) f(*WaitQueueEntry::of(l));
  }

 private:
  ListHead head_;  // of WaitQueueEntry::entry, under lock
  // The union of the queued entries' key_masks (an over-estimate: it only shrinks, to 0, when
  // the queue is seen empty), under lock. A keyed wake-up that misses it can wake nobody and
  // skips the walk: an eventfd read's POLLOUT wake-up past an epoll that wants only EPOLLIN
  // costs no callback. Not in the kernel, which calls every entry.
  __poll_t wanted_ = 0;
};

// --- entries ---
int default_wake_function(WaitQueueEntry* wq_entry, unsigned mode, int wake_flags, void* key);
// Wakes the task and, if that succeeded, unlinks the entry (F7).
int autoremove_wake_function(WaitQueueEntry* wq_entry, unsigned mode, int wake_flags, void* key);
// Sets WQ_FLAG_WOKEN, then wakes: a wake-up landing before wait_woken() sleeps is not lost.
int woken_wake_function(WaitQueueEntry* wq_entry, unsigned mode, int wake_flags, void* key);

inline void init_waitqueue_entry(WaitQueueEntry* e, sched::Task* p) {
  e->flags = 0;
  e->private_ = p;
  e->func = default_wake_function;
  e->key_mask = ~0u;
}
inline void init_waitqueue_func_entry(WaitQueueEntry* e, wait_queue_func_t func) {
  e->flags = 0;
  e->private_ = nullptr;
  e->func = func;
  e->key_mask = ~0u;
}
// DEFINE_WAIT / init_wait_entry: the current task, autoremove.
inline void init_wait_entry(WaitQueueEntry* e, unsigned flags) {
  e->flags = flags;
  e->private_ = sched::current();
  e->func = autoremove_wake_function;
  e->key_mask = ~0u;
}

// --- locked add/remove (take the head's lock) ---
void add_wait_queue(WaitQueueHead* wq, WaitQueueEntry* e);             // non-exclusive, head
void add_wait_queue_exclusive(WaitQueueHead* wq, WaitQueueEntry* e);   // exclusive, tail
void add_wait_queue_priority(WaitQueueHead* wq, WaitQueueEntry* e);    // exclusive+priority, head
void remove_wait_queue(WaitQueueHead* wq, WaitQueueEntry* e);
// __add_wait_queue_exclusive: exclusive at the head (LIFO; epoll_wait's waiters). Lock held.
inline void __add_wait_queue_exclusive(WaitQueueHead* wq, WaitQueueEntry* e) {
  e->flags |= WQ_FLAG_EXCLUSIVE;
  wq->__add(e);
}

// --- sleeping (set the state under the lock, after queueing: F12) ---
void prepare_to_wait(WaitQueueHead* wq, WaitQueueEntry* e, uint32_t state);
void prepare_to_wait_exclusive(WaitQueueHead* wq, WaitQueueEntry* e, uint32_t state);
// Returns -ERESTARTSYS (and dequeues) if an interruptible sleeper has a signal pending.
long prepare_to_wait_event(WaitQueueHead* wq, WaitQueueEntry* e, uint32_t state);
void finish_wait(WaitQueueHead* wq, WaitQueueEntry* e);
// wait_woken: sleep unless WQ_FLAG_WOKEN is already set, then clear it. false on timeout.
bool wait_woken(WaitQueueEntry* e, uint32_t mode, int64_t deadline_ns);

// --- wake-ups ---
void __wake_up(WaitQueueHead* wq, unsigned mode, int nr_exclusive, void* key);
void __wake_up_sync_key(WaitQueueHead* wq, unsigned mode, void* key);
// Caller holds wq->lock (wake_up_locked_poll).
inline void __wake_up_locked_key(WaitQueueHead* wq, unsigned mode, void* key) {
  wq->__wake_up_common(mode, 1, 0, key);
}

inline void wake_up(WaitQueueHead* wq) { __wake_up(wq, sched::TASK_NORMAL, 1, nullptr); }
inline void wake_up_all(WaitQueueHead* wq) { __wake_up(wq, sched::TASK_NORMAL, 0, nullptr); }
inline void wake_up_interruptible(WaitQueueHead* wq) {
  __wake_up(wq, sched::TASK_INTERRUPTIBLE, 1, nullptr);
}
inline void wake_up_interruptible_all(WaitQueueHead* wq) {
  __wake_up(wq, sched::TASK_INTERRUPTIBLE, 0, nullptr);
}
inline void wake_up_poll(WaitQueueHead* wq, __poll_t m) {
  __wake_up(wq, sched::TASK_NORMAL, 1, poll_to_key(m));
}
inline void wake_up_locked_poll(WaitQueueHead* wq, __poll_t m) {
  __wake_up_locked_key(wq, sched::TASK_NORMAL, poll_to_key(m));
}
inline void wake_up_interruptible_poll(WaitQueueHead* wq, __poll_t m) {
  __wake_up(wq, sched::TASK_INTERRUPTIBLE, 1, poll_to_key(m));
}
inline void wake_up_interruptible_sync_poll(WaitQueueHead* wq, __poll_t m) {
  __wake_up_sync_key(wq, sched::TASK_INTERRUPTIBLE, poll_to_key(m));
}

// wq_has_sleeper: a full barrier, then waitqueue_active (pairs with the sleeper's
// set_current_state after queueing).
inline bool wq_has_sleeper(const WaitQueueHead* wq) {
  smp_mb();
  return wq->active();
}

// --- wait_event_* (include/linux/wait.h): sleep until cond() holds ---
//
// ___wait_event: returns 0 once cond() holds, -ERESTARTSYS on a signal (interruptible), or
// -ETIMEDOUT... spelled as the kernel's "0 left" by the _timeout forms: they return 1 if the
// condition held, 0 on timeout, -ERESTARTSYS on a signal.
// `wchan` names the sleeper for reports and traces: the caller's function by default.
template <class Cond>
long wait_event_interruptible_deadline(WaitQueueHead* wq, Cond&& cond, bool exclusive,
                                       int64_t deadline_ns, int64_t busy_poll_ns = 0,
                                       const char* wchan = __builtin_FUNCTION()) {
  if (cond()) return 1;
  WaitQueueEntry wait;
  init_wait_entry(&wait, exclusive ? WQ_FLAG_EXCLUSIVE : 0);
  long ret = 1;
  for (;;) {
    long intr = prepare_to_wait_event(wq, &wait, sched::TASK_INTERRUPTIBLE);
    if (cond()) break;
    if (intr) {
      ret = intr;
      break;
    }
    if (!sched::schedule_timeout(deadline_ns, busy_poll_ns, wchan)) {
      // Timed out: one last look, as ___wait_event's "__ret = cond ? 1 : 0" does.
      ret = cond() ? 1 : 0;
      break;
    }
  }
  finish_wait(wq, &wait);
  return ret;
}

template <class Cond>
long wait_event_interruptible(WaitQueueHead* wq, Cond&& cond,
                              const char* wchan = __builtin_FUNCTION()) {
  long r = wait_event_interruptible_deadline(wq, cond, false, kNoDeadline, 0, wchan);
  return r > 0 ? 0 : r;
}
template <class Cond>
long wait_event_interruptible_exclusive(WaitQueueHead* wq, Cond&& cond,
                                        const char* wchan = __builtin_FUNCTION()) {
  long r = wait_event_interruptible_deadline(wq, cond, true, kNoDeadline, 0, wchan);
  return r > 0 ? 0 : r;
}

// wait_event_interruptible_locked: the caller holds wq->lock, cond() is checked under it, and
// the lock is dropped only while sleeping. The entry is non-exclusive and queued at the tail
// (do_wait_intr). Returns 0 or -ERESTARTSYS, with the lock held.
template <class Cond>
long wait_event_interruptible_locked(WaitQueueHead* wq, Cond&& cond, int64_t busy_poll_ns = 0,
                                     const char* wchan = __builtin_FUNCTION()) {
  WaitQueueEntry wait;
  init_wait_entry(&wait, 0);
  long ret = 0;
  do {
    if (!wait.linked()) wq->__add_tail(&wait);
    sched::set_current_state(sched::TASK_INTERRUPTIBLE);
    if (sched::signal_pending(sched::current())) {
      ret = -sched::ERESTARTSYS;
      break;
    }
    wq->lock.unlock();
    sched::schedule_timeout(kNoDeadline, busy_poll_ns, wchan);
    wq->lock.lock();
  } while (!cond());
  if (wait.linked()) wq->__remove(&wait);
  sched::__set_current_state(sched::TASK_RUNNING);
  return ret;
}

}  // namespace ustack
