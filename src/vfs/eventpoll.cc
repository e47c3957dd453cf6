// epoll (fs/eventpoll.c), structure for structure.
//
// An EventPoll is the private data of an epoll file. EPOLL_CTL_ADD creates an EpItem keyed by
// (File*, fd) in the interest tree and polls the target with ep_ptable_queue_proc as the
// poll_table's queue procedure, which hooks an ep_poll_callback entry on each wait queue the
// target's f_op->poll names. A wake-up on such a queue runs ep_poll_callback: the item goes on
// the ready list (or, while a harvest is copying events out, on the overflow list) and a task
// sleeping in epoll_wait is woken. epoll_wait harvests with ep_send_events, which re-polls every
// ready item, reports current readiness, and puts level-triggered items back at the tail.
//
// LOCKING (as the kernel's, with one simplification: `lock` is a spinlock, not an rwlock):
// 1) epnested_mutex   serialises ADDs that involve nesting (loop and depth checks)
// 2) EventPoll::mtx   the interest tree, item events/data, harvests (ep_send_events, the
//                     scan of __ep_eventpoll_poll) and removals. Nested epolls take their
//                     mutexes outer to inner (the loop check guarantees there is no cycle).
// 3) File::f_lock     the file's f_ep list of items watching it (EpItem::fllink, ::dying)
// 4) wait-queue head  of a watched file; ep_poll_callback runs under it
// 5) EventPoll::lock  the ready list (rdllist, rdllink), the overflow list (ovflist, next);
//                     while a harvest runs (ovflist active, mtx held) the harvester alone
//                     touches rdllist and the items it took, without `lock`
// 6) EventPoll::wq.lock, poll_wait.lock: wq is woken under `lock` by ep_poll_callback (as a
//                     nested wake-up, its futex wakes wait for the outermost) and after it
//                     everywhere else; poll_wait always after it
// EpItem::events is an atomic: ep_poll_callback reads it under `lock` while ep_modify writes
// it under `mtx` (the kernel pairs the same accesses with a barrier).
#include <sys/epoll.h>

#include <boost/intrusive/set.hpp>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <climits>
#include <mutex>
#include <vector>

#include "base/clock.hpp"
#include "base/mutex.hpp"
#include "base/trace.hpp"
#include "vfs/host.hpp"
#include "vfs/uaccess.hpp"
#include "vfs/vfs.hpp"

namespace ustack::vfs {

namespace {

// EP_MAX_EVENTS: INT_MAX / sizeof(struct epoll_event) (packed, 12 bytes on x86-64: C40).
constexpr int kEpMaxEvents = int(INT_MAX / sizeof(struct epoll_event));

// Bits that are epoll's own, never reported (C39).
constexpr uint32_t EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
constexpr uint32_t EPOLLINOUT_BITS = EPOLLIN | EPOLLOUT;
constexpr uint32_t EPOLLEXCLUSIVE_OK_BITS =
    EPOLLINOUT_BITS | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

struct EventPoll;
struct EpItem;

// eppoll_entry: one hook of an item on one wait queue of its target.
struct EppollEntry {
  WaitQueueEntry wait;
  WaitQueueHead* whead = nullptr;
  EpItem* base = nullptr;
  EppollEntry* next = nullptr;
};

EpItem* const kEpUnactivePtr = reinterpret_cast<EpItem*>(~uintptr_t(0));

struct EpItem {
  using TreeHook = boost::intrusive::set_member_hook<>;
  TreeHook rbn;                      // in EventPoll::rbr, under ep->mtx
  ListHead rdllink;                  // on rdllist or a harvest's txlist, under ep->lock
  EpItem* next = kEpUnactivePtr;     // ovflist link, under ep->lock
  File* file;                        // the watched file: a non-owning edge (the file's last
  int fd;                            //   fput removes the item first, C24)
  EventPoll* ep;
  EppollEntry first_pwq;             // the common single hook, without an allocation
  EppollEntry* pwqlist = nullptr;    // every hook, under ep->mtx
  int nwait = 0;                     // hooks made; -1 if making one failed
  ListHead fllink;                   // on file->f_ep, under file->f_lock
  bool dying = false;                // under file->f_lock: the file's release owns removal
  std::atomic<uint32_t> events{0};   // epoll_event.events (see LOCKING)
  uint64_t data = 0;                 // epoll_event.data, under ep->mtx

  bool linked() const { return !list_empty(&rdllink); }  // ep_is_linked
  static EpItem* of_rdllink(ListHead* l) { return USTACK_CONTAINER_OF(l, EpItem, rdllink); }
  static EpItem* of_fllink(ListHead* l) { return USTACK_CONTAINER_OF(l, EpItem, fllink); }
};

// ep_cmp_ffd: the interest set's key is (struct file *, fd) (C21).
struct EpItemKey {
  using type = std::pair<const File*, int>;
  type operator()(const EpItem& e) const { return {e.file, e.fd}; }
};
using EpTree = boost::intrusive::set<
    EpItem, boost::intrusive::member_hook<EpItem, EpItem::TreeHook, &EpItem::rbn>,
    boost::intrusive::key_of_value<EpItemKey>>;

struct EventPoll {
  Mutex mtx;
  WaitQueueHead wq;         // tasks in epoll_wait: exclusive, at the head (LIFO, C51)
  WaitQueueHead poll_wait;  // poll()/select() on this epoll fd, and outer epolls' hooks
  SpinLock lock;
  ListHead rdllist;                 // under lock
  // Written under lock: non-"unactive" while a harvest runs. Atomic for the lock-free
  // ep_events_available.
  std::atomic<EpItem*> ovflist{kEpUnactivePtr};
  EpTree rbr;                       // under mtx
  File* file = nullptr;             // our own file (for nesting: who watches us, C17)
  Host* host = nullptr;             // whose max_user_watches counts our items
  std::atomic<long> refcount{1};    // the file's reference plus one per item
  // Loop check scratch (ep_loop_check), under epnested_mutex.
  uint64_t gen = 0;
  int loop_check_depth = 0;
};

Mutex epnested_mutex;
uint64_t loop_check_gen = 0;          // under epnested_mutex
EventPoll* inserting_into = nullptr;  // under epnested_mutex
// tfile_check_list: the non-epoll files a nesting ADD reaches, whose wake-up paths
// reverse_path_check counts. Each holds a reference. Under epnested_mutex.
std::vector<File*> tfile_check_list;

// path_limits: how many wake-up paths of each length (in epoll edges above the file) one
// file may have; length 0 is unlimited (C18).
constexpr int kPathLimits[kEpMaxNests + 1] = {1000, 500, 100, 50, 10};

class EventPollOps;
extern const EventPollOps g_eventpoll_ops;

bool is_file_epoll(const File* f);
__poll_t __ep_eventpoll_poll(File* file, PollTable* wait, int depth);
bool reverse_path_check();

void ep_free(EventPoll* ep) {
  USTACK_ASSERT(ep->rbr.empty());
  delete ep;
}

bool ep_refcount_dec_and_test(EventPoll* ep) {
  return ep->refcount.fetch_sub(1, std::memory_order_acq_rel) == 1;
}

bool ep_events_available(EventPoll* ep) {
  // Without the lock, as the kernel's list_empty_careful/READ_ONCE: a stale "no" is caught by
  // ep_poll's locked recheck before it sleeps; a stale "yes" costs one empty harvest.
  return !list_empty(&ep->rdllist) ||
         ep->ovflist.load(std::memory_order_acquire) != kEpUnactivePtr;
}

// ep_poll_safewake: readiness of this epoll propagates to its watchers with a key of EPOLLIN
// alone (C19, F15): an outer item watching only RDNORM (or OUT) is not woken by it, although
// polling the epoll reports IN|RDNORM. Recursion is bounded by the nesting limit.
void ep_poll_safewake(EventPoll* ep) { wake_up_poll(&ep->poll_wait, EPOLLIN); }

// ep_item_poll: the target's current events, masked by the item's interest.
__poll_t ep_item_poll(EpItem* epi, PollTable* pt, int depth) {
  const uint32_t events = epi->events.load(std::memory_order_relaxed);
  pt->_key = events;
  __poll_t res = is_file_epoll(epi->file) ? __ep_eventpoll_poll(epi->file, pt, depth)
                                          : vfs_poll(epi->file, pt);
  return res & events;
}

// ep_poll_callback: the wake function hooked on every watched wait queue. Runs with that
// queue's head lock held.
int ep_poll_callback(WaitQueueEntry* wait, unsigned mode, int sync, void* key) {
  (void)mode;
  EppollEntry* pwq = USTACK_CONTAINER_OF(wait, EppollEntry, wait);
  EpItem* epi = pwq->base;
  EventPoll* ep = epi->ep;
  const __poll_t pollflags = key_to_poll(key);
  int ewake = 0;
  bool pwake = false;
  {
    SpinGuard g(ep->lock);
    const uint32_t events = epi->events.load(std::memory_order_relaxed);
    // A fired ONESHOT item is disabled until MOD re-arms it (C27, C33); a key that misses the
    // interest is not ours (C27). Checked under the lock, as the kernel does: a lock-free look
    // could pair a stale mask with ep_modify's poll of a stale state and lose the event.
    if (!(events & ~EP_PRIVATE_BITS)) return 0;
    if (pollflags && !(pollflags & events)) return 0;
    USTACK_TRACE("ep_poll_callback", epi->data, pollflags);
    EpItem* ovf = ep->ovflist.load(std::memory_order_relaxed);
    if (ovf != kEpUnactivePtr) {
      // A harvest is copying events out: park the item on the overflow list (C50).
      if (epi->next == kEpUnactivePtr) {
        epi->next = ovf;
        ep->ovflist.store(epi, std::memory_order_release);
      }
    } else if (!epi->linked()) {
      list_add_tail(&epi->rdllink, &ep->rdllist);
    }
    if (ep->wq.active()) {
      if (events & EPOLLEXCLUSIVE) {
        // An exclusive item consumes the wake-up only if a task waits here and the key meets
        // its IN/OUT interest (a key without IN/OUT counts as a match): C56.
        switch (pollflags & EPOLLINOUT_BITS) {
          case EPOLLIN:
            if (events & EPOLLIN) ewake = 1;
            break;
          case EPOLLOUT:
            if (events & EPOLLOUT) ewake = 1;
            break;
          case 0:
            ewake = 1;
            break;
        }
      }
      if (sync) {
        __wake_up_sync_key(&ep->wq, sched::TASK_NORMAL, nullptr);
      } else {
        wake_up(&ep->wq);
      }
    }
    pwake = ep->poll_wait.active();
    if (!(events & EPOLLEXCLUSIVE)) ewake = 1;
  }
  if (pwake) ep_poll_safewake(ep);
  return ewake;
}

struct EpQueue {
  PollTable pt;
  EpItem* epi;
};

// ep_ptable_queue_proc: the queue procedure of ADD's poll: hook ep_poll_callback on the
// target's wait queue; exclusively at the tail for EPOLLEXCLUSIVE (C55).
void ep_ptable_queue_proc(File*, WaitQueueHead* whead, PollTable* pt) {
  EpQueue* epq = USTACK_CONTAINER_OF(pt, EpQueue, pt);
  EpItem* epi = epq->epi;
  if (epi == nullptr || epi->nwait < 0) return;
  EppollEntry* pwq = epi->nwait == 0 ? &epi->first_pwq : new EppollEntry;
  init_waitqueue_func_entry(&pwq->wait, ep_poll_callback);
  // ep_poll_callback's key filter: the interest (ep_modify widens it).
  pwq->wait.key_mask = epi->events.load(std::memory_order_relaxed);
  pwq->whead = whead;
  pwq->base = epi;
  if (epi->events.load(std::memory_order_relaxed) & EPOLLEXCLUSIVE) {
    add_wait_queue_exclusive(whead, &pwq->wait);
  } else {
    add_wait_queue(whead, &pwq->wait);
  }
  pwq->next = epi->pwqlist;
  epi->pwqlist = pwq;
  epi->nwait++;
}

void ep_unregister_pollwait(EpItem* epi) {
  while (EppollEntry* pwq = epi->pwqlist) {
    epi->pwqlist = pwq->next;
    remove_wait_queue(pwq->whead, &pwq->wait);
    if (pwq != &epi->first_pwq) delete pwq;
  }
}

// __ep_remove. Caller holds ep->mtx. Returns false if the file's release owns the item now
// (it is `dying`) and `force` is not set.
bool __ep_remove(EventPoll* ep, EpItem* epi, bool force) {
  File* file = epi->file;
  ep_unregister_pollwait(epi);
  {
    SpinGuard g(file->f_lock);
    if (epi->dying && !force) return false;
    list_del_init(&epi->fllink);
  }
  ep->rbr.erase(ep->rbr.iterator_to(*epi));
  {
    SpinGuard g(ep->lock);
    if (epi->linked()) list_del_init(&epi->rdllink);  // no stale event after DEL (C35)
  }
  ep->host->epoll_watches.fetch_sub(1, std::memory_order_relaxed);
  delete epi;
  return true;
}

// ep_remove_safe: the epoll itself is alive, so dropping the item's reference never frees it.
void ep_remove_safe(EventPoll* ep, EpItem* epi) {
  if (__ep_remove(ep, epi, false)) USTACK_ASSERT(!ep_refcount_dec_and_test(ep));
}

// ep_start_scan / ep_done_scan: a harvest takes the ready list private and lets callbacks queue
// on ovflist meanwhile; afterwards the order is [leftovers] [ovflist, FIFO] [re-queued LT]
// (C47, C49), and another waiter is woken if anything is ready (the LT cascade, C52).
// Inlined: each is a few instructions around a lock, and a call would double them.
__attribute__((always_inline)) inline void ep_start_scan(EventPoll* ep, ListHead* txlist) {
  SpinGuard g(ep->lock);
  // list_splice_init(&ep->rdllist, txlist)
  if (!list_empty(&ep->rdllist)) {
    ListHead* first = ep->rdllist.nx();
    ListHead* last = ep->rdllist.pv();
    first->prev.store(txlist, std::memory_order_relaxed);
    txlist->next.store(first, std::memory_order_relaxed);
    last->next.store(txlist, std::memory_order_relaxed);
    txlist->prev.store(last, std::memory_order_relaxed);
    INIT_LIST_HEAD(&ep->rdllist);
  }
  ep->ovflist.store(nullptr, std::memory_order_release);
}

__attribute__((always_inline)) inline void ep_done_scan(EventPoll* ep, ListHead* txlist) {
  bool wake;
  {
    SpinGuard g(ep->lock);
    EpItem* nepi = ep->ovflist.load(std::memory_order_relaxed);
    while (EpItem* epi = nepi) {
      nepi = epi->next;
      epi->next = kEpUnactivePtr;
      // The chain is LIFO; adding each at the head restores arrival order.
      if (!epi->linked()) list_add(&epi->rdllink, &ep->rdllist);
    }
    ep->ovflist.store(kEpUnactivePtr, std::memory_order_release);
    // list_splice(txlist, &ep->rdllist): the undelivered items go first.
    if (!list_empty(txlist)) {
      ListHead* first = txlist->nx();
      ListHead* last = txlist->pv();
      ListHead* at = ep->rdllist.nx();
      first->prev.store(&ep->rdllist, std::memory_order_relaxed);
      ep->rdllist.next.store(first, std::memory_order_relaxed);
      last->next.store(at, std::memory_order_relaxed);
      at->prev.store(last, std::memory_order_relaxed);
      INIT_LIST_HEAD(txlist);
    }
    wake = !list_empty(&ep->rdllist) && ep->wq.active();
  }
  // After the lock (the kernel wakes under it), so that the futex wake of the woken task is
  // not made while its first step, ep_send_events, would spin on the lock. A task that queues
  // itself meanwhile is still found by wake_up; one that harvests meanwhile makes this
  // wake-up spurious, which ep_poll tolerates: it looks again and sleeps.
  if (wake) wake_up(&ep->wq);
}

// __ep_eventpoll_poll: an epoll fd is readable iff one of its ready items really is (items
// that are not are dropped from the ready list on the way, C20). Never POLLOUT.
__poll_t __ep_eventpoll_poll(File* file, PollTable* wait, int depth) {
  auto* ep = static_cast<EventPoll*>(file->private_data);
  poll_wait(file, &ep->poll_wait, wait);
  if (depth > kEpMaxNests + 1) return 0;  // cannot happen past the loop check; bounded anyway
  ListHead txlist;
  PollTable pt{nullptr, ~0u};
  __poll_t res = 0;
  std::lock_guard g(ep->mtx);
  ep_start_scan(ep, &txlist);
  for (ListHead *l = txlist.nx(), *n = l->nx(); l != &txlist; l = n, n = l->nx()) {
    EpItem* epi = EpItem::of_rdllink(l);
    if (ep_item_poll(epi, &pt, depth + 1)) {
      res = EPOLLIN | EPOLLRDNORM;
      break;
    }
    // Not ready after all: drop it (an LT item comes back through its next wake-up). No lock,
    // as in ep_send_events.
    list_del_init(&epi->rdllink);
  }
  ep_done_scan(ep, &txlist);
  return res;
}

// ep_send_events: re-poll every ready item and copy out what is ready now (C28, C29).
long ep_send_events(EventPoll* ep, struct epoll_event* events, int maxevents) {
  ListHead txlist;
  PollTable pt{nullptr, ~0u};
  long res = 0;
  std::lock_guard g(ep->mtx);
  ep_start_scan(ep, &txlist);
  for (ListHead *l = txlist.nx(), *n = l->nx(); l != &txlist; l = n, n = l->nx()) {
    if (res >= maxevents) break;
    EpItem* epi = EpItem::of_rdllink(l);
    // No lock for txlist and rdllist during the scan: callbacks go to ovflist meanwhile, and
    // everything else that touches them needs mtx, which we hold (as the kernel does).
    list_del_init(&epi->rdllink);
    const __poll_t revents = ep_item_poll(epi, &pt, 1);
    if (!revents) continue;  // not ready any more: dropped silently
    if (events == nullptr) {
      // epoll_put_uevent faulted: the item stays queued; EFAULT only if nothing was copied.
      list_add(&epi->rdllink, &txlist);
      if (!res) res = -EFAULT;
      break;
    }
    events[res].events = revents;
    events[res].data.u64 = epi->data;
    ++res;
    const uint32_t ev = epi->events.load(std::memory_order_relaxed);
    if (ev & EPOLLONESHOT) {
      epi->events.store(ev & EP_PRIVATE_BITS, std::memory_order_relaxed);  // C33
    } else if (!(ev & EPOLLET)) {
      // Level-triggered: back at the tail, reported again while the condition holds (C30).
      list_add_tail(&epi->rdllink, &ep->rdllist);
    }
  }
  ep_done_scan(ep, &txlist);
  return res;
}

// ep_autoremove_wake_function: an epoll_wait sleeper leaves the queue on any wake-up.
int ep_autoremove_wake_function(WaitQueueEntry* wq_entry, unsigned mode, int sync, void* key) {
  int ret = default_wake_function(wq_entry, mode, sync, key);
  list_del_init(&wq_entry->entry);
  return ret;
}

// ep_poll: harvest, or sleep until something is ready, the deadline, or a signal.
long ep_poll(EventPoll* ep, struct epoll_event* events, int maxevents, int64_t deadline_ns) {
  bool timed_out = deadline_ns == kDeadlineNoWait;
  sched::Task* self = sched::current();
  // Under the preload, kernel fds' readiness reaches the ready list before we look at it.
  foreign_harvest();
  bool eavail = ep_events_available(ep);
  for (;;) {
    if (eavail) {
      long res = ep_send_events(ep, events, maxevents);
      if (res) return res;
    }
    if (timed_out) return 0;
    if (sched::signal_pending(self)) return -EINTR;  // never restarted (C46)

    WaitQueueEntry wait;
    init_wait_entry(&wait, 0);
    wait.func = ep_autoremove_wake_function;
    {
      SpinGuard g(ep->lock);
      sched::__set_current_state(sched::TASK_INTERRUPTIBLE);
      eavail = !list_empty(&ep->rdllist) ||
               ep->ovflist.load(std::memory_order_relaxed) != kEpUnactivePtr;
      if (!eavail) {
        SpinGuard wg(ep->wq.lock);
        __add_wait_queue_exclusive(&ep->wq, &wait);  // LIFO among epoll_wait sleepers
      }
    }
    if (!eavail) {
      sched::StopInterruptible stop;  // a SIGSTOP/SIGCONT ends the wait with EINTR (C46)
      sched::KernelWaitScope kernel_wait;  // under the preload, kernel fds may be watched
      timed_out = !sched::schedule_timeout(
          deadline_ns, ep->host->busy_poll_ns.load(std::memory_order_relaxed), "ep_poll");
      if (stop.interrupted()) {
        sched::__set_current_state(sched::TASK_RUNNING);
        {
          SpinGuard g(ep->lock);
          SpinGuard wg(ep->wq.lock);
          if (wait.linked()) ep->wq.__remove(&wait);
        }
        // A wake-up meant for us may have been consumed (we are exclusive): pass it on.
        if (ep_events_available(ep) && ep->wq.active()) wake_up(&ep->wq);
        return -EINTR;
      }
    }
    sched::__set_current_state(sched::TASK_RUNNING);
    // We were woken, timed out, or interrupted: look again. A timeout that raced with a wake
    // still harvests if the waker already took us off the queue (C53).
    eavail = true;
    {
      SpinGuard g(ep->lock);
      SpinGuard wg(ep->wq.lock);
      if (wait.linked()) {
        if (timed_out) eavail = false;
        ep->wq.__remove(&wait);
      }
    }
  }
}

// ep_insert (caller holds ep->mtx).
long ep_insert(EventPoll* ep, const struct epoll_event* event, File* tfile, int fd,
               bool full_check) {
  Host* h = ep->host;
  if (h->epoll_watches.load(std::memory_order_relaxed) >=
      h->max_user_watches.load(std::memory_order_relaxed))
    return -ENOSPC;  // C13
  h->epoll_watches.fetch_add(1, std::memory_order_relaxed);

  auto* epi = new EpItem;
  epi->file = tfile;
  epi->fd = fd;
  epi->ep = ep;
  epi->events.store(event->events, std::memory_order_relaxed);
  epi->data = event->data.u64;
  ep->refcount.fetch_add(1, std::memory_order_relaxed);
  {
    SpinGuard g(tfile->f_lock);
    list_add_tail(&epi->fllink, &tfile->f_ep);
  }
  if (full_check && !reverse_path_check()) {
    // Too many wake-up paths to some file through nested epolls (C18).
    {
      SpinGuard g(tfile->f_lock);
      list_del_init(&epi->fllink);
    }
    h->epoll_watches.fetch_sub(1, std::memory_order_relaxed);
    USTACK_ASSERT(!ep_refcount_dec_and_test(ep));
    delete epi;
    return -EINVAL;
  }
  ep->rbr.insert(*epi);

  // Register, then look (F12): the poll hooks ep_poll_callback and reports current events.
  EpQueue epq{{ep_ptable_queue_proc, ~0u}, epi};
  const __poll_t revents = ep_item_poll(epi, &epq.pt, 1);

  bool wake = false, pwake = false;
  {
    SpinGuard g(ep->lock);
    // Ready already: queue it now, so that even an edge-triggered item reports once (C26).
    if (revents && !epi->linked()) {
      list_add_tail(&epi->rdllink, &ep->rdllist);
      wake = ep->wq.active();
      pwake = ep->poll_wait.active();
    }
  }
  if (wake) wake_up(&ep->wq);  // after the lock, as in ep_done_scan
  if (pwake) ep_poll_safewake(ep);
  return 0;
}

// ep_modify (caller holds ep->mtx): new events and data, then poll at once (C26, C33, C34).
long ep_modify(EventPoll* ep, EpItem* epi, const struct epoll_event* event) {
  epi->data = event->data.u64;
  // The seq_cst store orders the new interest before the poll below, as the kernel's smp_mb:
  // a wake-up either sees the new events or the poll sees the state it published.
  epi->events.store(event->events, std::memory_order_seq_cst);
  // The wait queues' key summaries must cover the new interest before the poll below: a
  // wake-up after this sees it and reaches ep_poll_callback; one before it changed the state
  // under the same lock, which the poll then sees.
  for (EppollEntry* pwq = epi->pwqlist; pwq != nullptr; pwq = pwq->next) {
    SpinGuard g(pwq->whead->lock);
    pwq->wait.key_mask |= event->events;
    pwq->whead->widen_keys(event->events);
  }
  PollTable pt{nullptr, ~0u};
  if (ep_item_poll(epi, &pt, 1)) {
    bool wake = false, pwake = false;
    {
      SpinGuard g(ep->lock);
      if (!epi->linked()) {
        list_add_tail(&epi->rdllink, &ep->rdllist);
        wake = ep->wq.active();
        pwake = ep->poll_wait.active();
      }
    }
    if (wake) wake_up(&ep->wq);  // after the lock, as in ep_done_scan
    if (pwake) ep_poll_safewake(ep);
  }
  return 0;
}

// ep_loop_check_proc: how deep the epolls below `ep` go, or > kEpMaxNests if they reach
// `inserting_into` (a loop) or are too deep (C16, C17). Takes each visited epoll's mtx.
int ep_loop_check_proc(EventPoll* ep, int depth) {
  if (ep->gen == loop_check_gen) return ep->loop_check_depth;
  int result = 0;
  std::lock_guard g(ep->mtx);
  ep->gen = loop_check_gen;
  for (EpItem& epi : ep->rbr) {
    if (!is_file_epoll(epi.file)) {
      // A file at the bottom: its wake-up paths are counted at insert (list_file). A file
      // whose count already reached zero is being released and takes its items along.
      if (std::find(tfile_check_list.begin(), tfile_check_list.end(), epi.file) ==
              tfile_check_list.end() &&
          epi.file->get_not_zero())
        tfile_check_list.push_back(epi.file);
      continue;
    }
    auto* ep_tovisit = static_cast<EventPoll*>(epi.file->private_data);
    if (ep_tovisit == inserting_into || depth > kEpMaxNests) {
      result = kEpMaxNests + 1;
    } else {
      result = std::max(result, ep_loop_check_proc(ep_tovisit, depth + 1) + 1);
    }
    if (result > kEpMaxNests) break;
  }
  ep->loop_check_depth = result;
  return result;
}

// ep_get_upwards_depth_proc: how many epoll levels sit above `ep` (the items watching its
// file, and theirs). Each file's f_lock is held while its watchers are walked: an item on that
// list keeps its epoll alive, and that epoll's file cannot finish its release meanwhile.
int ep_get_upwards_depth_proc(EventPoll* ep, int depth) {
  if (ep->gen == loop_check_gen) return ep->loop_check_depth;
  int result = 0;
  {
    SpinGuard g(ep->file->f_lock);
    for (ListHead* l = ep->file->f_ep.nx(); l != &ep->file->f_ep; l = l->nx()) {
      EpItem* epi = EpItem::of_fllink(l);
      result = std::max(ep_get_upwards_depth_proc(epi->ep, depth + 1) + 1, result);
    }
  }
  ep->gen = loop_check_gen;
  ep->loop_check_depth = result;
  return result;
}

// ep_loop_check: would adding `to` into `ep` make a loop, or a chain of more than kEpMaxNests
// edges counting both below `to` and above `ep`? (The two-sided check of 2025, C17.)
bool ep_loop_check(EventPoll* ep, EventPoll* to) {
  inserting_into = ep;
  int depth = ep_loop_check_proc(to, 0);
  if (depth > kEpMaxNests) return true;
  int upwards_depth = ep_get_upwards_depth_proc(ep, 0);
  return depth + 1 + upwards_depth > kEpMaxNests;
}

// reverse_path_check_proc: count the wake-up paths from the items on `file`'s f_ep upwards;
// false if some length has more than its limit. f_locks are taken bottom-up, as in
// ep_get_upwards_depth_proc.
bool reverse_path_check_proc(File* file, int depth, int* path_count) {
  if (depth > kEpMaxNests) return false;  // too deep
  SpinGuard g(file->f_lock);
  for (ListHead* l = file->f_ep.nx(); l != &file->f_ep; l = l->nx()) {
    File* up = EpItem::of_fllink(l)->ep->file;
    if (list_empty(&up->f_ep)) {
      // path_count_inc: a path ends at an epoll nobody watches.
      if (depth > 0 && ++path_count[depth] > kPathLimits[depth]) return false;
    } else if (!reverse_path_check_proc(up, depth + 1, path_count)) {
      return false;
    }
  }
  return true;
}

// reverse_path_check: every listed file within the path limits (else ADD fails: EINVAL).
bool reverse_path_check() {
  for (File* f : tfile_check_list) {
    int path_count[kEpMaxNests + 1] = {};
    if (!reverse_path_check_proc(f, 0, path_count)) return false;
  }
  return true;
}

// ep_clear_and_put: the epoll file's release. Items whose files are being released at the same
// moment (`dying`) are finished by eventpoll_release_file.
void ep_clear_and_put(EventPoll* ep) {
  bool dispose;
  {
    std::lock_guard g(ep->mtx);
    if (ep->poll_wait.active()) ep_poll_safewake(ep);
    for (auto it = ep->rbr.begin(); it != ep->rbr.end();) {
      EpItem* epi = &*it;
      ++it;
      if (__ep_remove(ep, epi, false)) USTACK_ASSERT(!ep_refcount_dec_and_test(ep));
    }
    dispose = ep_refcount_dec_and_test(ep);
  }
  if (dispose) ep_free(ep);
}

class EventPollOps final : public FileOps {
 public:
  constexpr EventPollOps() : FileOps(kPoll) {}  // no read/write: EINVAL (C3)
  const char* name() const override { return "[eventpoll]"; }
  __poll_t poll(File* file, PollTable* wait) const override {
    foreign_harvest();  // kernel fds' readiness first (under the preload only)
    return __ep_eventpoll_poll(file, wait, 0);
  }
  void release(File* file) const override {
    ep_clear_and_put(static_cast<EventPoll*>(file->private_data));
  }
  // ep_show_fdinfo: one line per item, as /proc/PID/fdinfo shows them, plus whether the item
  // sits on the ready list (ustack's addition).
  void show_fdinfo(File* file, std::string& out) const override {
    auto* ep = static_cast<EventPoll*>(file->private_data);
    std::lock_guard g(ep->mtx);
    for (EpItem& epi : ep->rbr) {
      bool ready;
      {
        SpinGuard lg(ep->lock);
        ready = epi.linked() || epi.next != kEpUnactivePtr;
      }
      char buf[128];
      std::snprintf(buf, sizeof buf, "tfd: %8d events: %8x data: %16llx  ready:%d\n", epi.fd,
                    epi.events.load(std::memory_order_relaxed), (unsigned long long)epi.data,
                    ready ? 1 : 0);
      out += buf;
    }
  }
};

const EventPollOps g_eventpoll_ops;

bool is_file_epoll(const File* f) { return f->f_op == &g_eventpoll_ops; }

}  // namespace

}  // namespace ustack::vfs

namespace ustack {

// eventpoll_release_file: the last reference to a watched file is gone. Every item watching it
// is removed, from whichever epoll, silently (C24).
void eventpoll_release_file(File* file) {
  using namespace vfs;
  for (;;) {
    EpItem* epi;
    {
      SpinGuard g(file->f_lock);
      if (list_empty(&file->f_ep)) return;
      epi = EpItem::of_fllink(file->f_ep.nx());
      epi->dying = true;  // from now on only we remove it (ep_clear_and_put skips it)
    }
    EventPoll* ep = epi->ep;  // alive: the item holds a reference on it
    bool dispose;
    {
      std::lock_guard g(ep->mtx);
      __ep_remove(ep, epi, true);
      dispose = ep_refcount_dec_and_test(ep);
    }
    if (dispose) ep_free(ep);
  }
}

}  // namespace ustack

namespace ustack::vfs {

long do_epoll_create(int flags) {
  if (flags & ~EPOLL_CLOEXEC) return -EINVAL;  // C2
  auto* ep = new EventPoll;
  ep->host = current_host();
  File* f = alloc_file(&g_eventpoll_ops, O_RDWR, FMODE_READ | FMODE_WRITE, ep);
  ep->file = f;
  long fd = ep->host->fdt.install_lowest(f, 0, rlimit_nofile(), flags & EPOLL_CLOEXEC);
  if (fd < 0) fput(f);  // releases ep too
  return fd;
}

long do_epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  // 1. The event is copied in first for every op but DEL, bad fds or not (C5, C6).
  struct epoll_event epds = {};
  const bool has_event = op != EPOLL_CTL_DEL;
  if (has_event) {
    if (event == nullptr) return -EFAULT;
    epds = *event;
  }
  // 2, 3. Both fds.
  FdRef f(epfd);
  if (!f) return -EBADF;
  FdRef tf(fd, FdRef::kOrForeign);
  if (!tf) return -EBADF;
  // 4. The target must be pollable (C10).
  if (!tf->f_op->has_poll()) return -EPERM;
  // EPOLLWAKEUP without CAP_BLOCK_SUSPEND is silently dropped (C12); ustack has no suspend.
  if (has_event) epds.events &= ~uint32_t(EPOLLWAKEUP);
  // 5. Not itself, and epfd must be an epoll.
  if (f.get() == tf.get() || !is_file_epoll(f.get())) return -EINVAL;
  // 6. EPOLLEXCLUSIVE: ADD only, with a restricted set of companions, never on an epoll (C11).
  if (has_event && (epds.events & EPOLLEXCLUSIVE)) {
    if (op == EPOLL_CTL_MOD) return -EINVAL;
    if (op == EPOLL_CTL_ADD &&
        (is_file_epoll(tf.get()) || (epds.events & ~EPOLLEXCLUSIVE_OK_BITS)))
      return -EINVAL;
  }
  auto* ep = static_cast<EventPoll*>(f->private_data);

  // 7. An ADD that involves nesting takes epnested_mutex and checks loops and depth.
  // clear_tfile_check_list: drop the listed files' references once every lock is released
  // (a last fput takes epoll mutexes): declared before `nested`, so destroyed after it.
  std::vector<File*> checked;
  struct DropChecked {
    std::vector<File*>& files;
    ~DropChecked() {
      for (File* cf : files) fput(cf);
    }
  } drop_checked{checked};
  std::unique_lock<Mutex> nested;
  const bool full_check =
      op == EPOLL_CTL_ADD && (!list_empty(&f->f_ep) || is_file_epoll(tf.get()));
  if (full_check) {
    nested = std::unique_lock(epnested_mutex);
    ++loop_check_gen;
    USTACK_ASSERT(tfile_check_list.empty());
    bool loop = false;
    if (is_file_epoll(tf.get())) {
      loop = ep_loop_check(ep, static_cast<EventPoll*>(tf->private_data));
    } else {
      tf->get();
      tfile_check_list.push_back(tf.get());
    }
    if (loop) {
      checked.swap(tfile_check_list);
      ++loop_check_gen;
      return -ELOOP;
    }
  }

  // 8. The op itself.
  long error = -EINVAL;  // an unknown op (C9)
  {
    std::lock_guard g(ep->mtx);
    auto it = ep->rbr.find(EpItemKey::type{tf.get(), fd});
    EpItem* epi = it == ep->rbr.end() ? nullptr : &*it;
    switch (op) {
      case EPOLL_CTL_ADD:
        if (epi == nullptr) {
          epds.events |= EPOLLERR | EPOLLHUP;  // always reported (C14, C37)
          error = ep_insert(ep, &epds, tf.get(), fd, full_check);
        } else {
          error = -EEXIST;  // C7
        }
        break;
      case EPOLL_CTL_DEL:
        if (epi != nullptr) {
          ep_remove_safe(ep, epi);
          error = 0;
        } else {
          error = -ENOENT;  // C8
        }
        break;
      case EPOLL_CTL_MOD:
        if (epi != nullptr) {
          // Any MOD of an item added with EPOLLEXCLUSIVE: EINVAL (C11).
          if (!(epi->events.load(std::memory_order_relaxed) & EPOLLEXCLUSIVE)) {
            epds.events |= EPOLLERR | EPOLLHUP;
            error = ep_modify(ep, epi, &epds);
          }
        } else {
          error = -ENOENT;
        }
        break;
    }
  }
  if (nested.owns_lock()) {
    checked.swap(tfile_check_list);
    ++loop_check_gen;
  }
  return error;
}

long do_epoll_wait(int epfd, struct epoll_event* events, int maxevents, int64_t deadline_ns) {
  // The order Linux 6.18 shows (C40–C42): epfd, maxevents, the buffer's range, then the kind.
  FdRef f(epfd);
  if (!f) return -EBADF;
  if (maxevents <= 0 || maxevents > kEpMaxEvents) return -EINVAL;
  if (!access_ok(events, size_t(maxevents) * sizeof(struct epoll_event))) return -EFAULT;
  if (!is_file_epoll(f.get())) return -EINVAL;
  return ep_poll(static_cast<EventPoll*>(f->private_data), events, maxevents, deadline_ns);
}

}  // namespace ustack::vfs
