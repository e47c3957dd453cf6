// Spec group F: wait queues (kernel/sched/wait.c), as unit tests of src/wait.
//
// F9–F11 (socket wake sources and herd outcomes) belong to the socket layer and epoll; F14
// (POLLFREE) and F15 (nested epoll) to epoll: see docs/conformance.md.
#include "wait/wait.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace ustack {
namespace {

// An entry whose wake function records its id and returns a chosen value.
struct Probe {
  Probe(int id_, int ret_, std::vector<int>* log_) : id(id_), ret(ret_), log(log_) {
    init_waitqueue_func_entry(&wq, probe_func);
  }
  static int probe_func(WaitQueueEntry* e, unsigned, int, void* key);

  WaitQueueEntry wq;
  int id;
  int ret;
  std::vector<int>* log;
  std::vector<void*>* keys = nullptr;
};

int Probe::probe_func(WaitQueueEntry* e, unsigned, int, void* key) {
  Probe* p = USTACK_CONTAINER_OF(e, Probe, wq);
  p->log->push_back(p->id);
  if (p->keys) p->keys->push_back(key);
  return p->ret;
}

std::vector<int> walk_order(WaitQueueHead& wq) {
  std::vector<int> ids;
  SpinGuard g(wq.lock);
  wq.for_each_locked([&](WaitQueueEntry& e) { ids.push_back(USTACK_CONTAINER_OF(&e, Probe, wq)->id); });
  return ids;
}

void remove_all(WaitQueueHead& wq, std::initializer_list<Probe*> ps) {
  for (Probe* p : ps) remove_wait_queue(&wq, &p->wq);
}

TEST(WaitQueue, F1_NonExclusiveAtHeadExclusiveAtTail) {
  WaitQueueHead wq;
  std::vector<int> log;
  Probe a(1, 1, &log), b(2, 1, &log), c(3, 1, &log),
        d(4, 1, &log);
  add_wait_queue_exclusive(&wq, &a.wq);  // tail
  add_wait_queue(&wq, &b.wq);            // head
  add_wait_queue_exclusive(&wq, &c.wq);  // tail
  add_wait_queue(&wq, &d.wq);            // head
  EXPECT_EQ(walk_order(wq), (std::vector<int>{4, 2, 1, 3}));
  EXPECT_EQ(a.wq.flags & WQ_FLAG_EXCLUSIVE, WQ_FLAG_EXCLUSIVE);
  EXPECT_EQ(b.wq.flags & WQ_FLAG_EXCLUSIVE, 0u);
  remove_all(wq, {&a, &b, &c, &d});
}

TEST(WaitQueue, F1_EpollStyleExclusiveAtHeadIsLifo) {
  WaitQueueHead wq;
  std::vector<int> log;
  Probe a(1, 1, &log), b(2, 1, &log), c(3, 1, &log);
  {
    SpinGuard g(wq.lock);
    __add_wait_queue_exclusive(&wq, &a.wq);
    __add_wait_queue_exclusive(&wq, &b.wq);
    __add_wait_queue_exclusive(&wq, &c.wq);
  }
  EXPECT_EQ(walk_order(wq), (std::vector<int>{3, 2, 1}));
  // One wake-up: the most recent waiter only.
  wake_up(&wq);
  EXPECT_EQ(log, (std::vector<int>{3}));
  remove_all(wq, {&a, &b, &c});
}

TEST(WaitQueue, F1_PriorityEntriesStayFirst) {
  WaitQueueHead wq;
  std::vector<int> log;
  Probe p(1, 1, &log), a(2, 1, &log), b(3, 1, &log);
  add_wait_queue(&wq, &a.wq);
  add_wait_queue_priority(&wq, &p.wq);
  add_wait_queue(&wq, &b.wq);
  EXPECT_EQ(walk_order(wq), (std::vector<int>{1, 3, 2}));
  remove_all(wq, {&p, &a, &b});
}

TEST(WaitQueue, F2_F3_NonExclusiveAllPlusOneExclusive) {
  WaitQueueHead wq;
  std::vector<int> log;
  Probe n1(1, 1, &log), n2(2, 1, &log), x1(3, 1, &log),
        x2(4, 1, &log);
  add_wait_queue_exclusive(&wq, &x1.wq);
  add_wait_queue_exclusive(&wq, &x2.wq);
  add_wait_queue(&wq, &n1.wq);
  add_wait_queue(&wq, &n2.wq);
  wake_up(&wq);  // nr_exclusive = 1
  EXPECT_EQ(log, (std::vector<int>{2, 1, 3}));
  log.clear();
  wake_up_all(&wq);  // nr_exclusive = 0: everyone
  EXPECT_EQ(log, (std::vector<int>{2, 1, 3, 4}));
  remove_all(wq, {&n1, &n2, &x1, &x2});
}

TEST(WaitQueue, F2_NegativeReturnAbortsTheWalk) {
  WaitQueueHead wq;
  std::vector<int> log;
  Probe a(1, -1, &log), b(2, 1, &log);
  add_wait_queue(&wq, &b.wq);
  add_wait_queue(&wq, &a.wq);  // head: walked first
  wake_up_all(&wq);
  EXPECT_EQ(log, (std::vector<int>{1}));
  remove_all(wq, {&a, &b});
}

TEST(WaitQueue, F2_BudgetOfTwoWakesTwoExclusive) {
  WaitQueueHead wq;
  std::vector<int> log;
  Probe x1(1, 1, &log), x2(2, 1, &log), x3(3, 1, &log);
  add_wait_queue_exclusive(&wq, &x1.wq);
  add_wait_queue_exclusive(&wq, &x2.wq);
  add_wait_queue_exclusive(&wq, &x3.wq);
  __wake_up(&wq, sched::TASK_NORMAL, 2, nullptr);
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  remove_all(wq, {&x1, &x2, &x3});
}

TEST(WaitQueue, F4_ExclusiveThatDeclinesDoesNotConsumeBudget) {
  WaitQueueHead wq;
  std::vector<int> log;
  Probe x1(1, 0, &log), x2(2, 0, &log), x3(3, 1, &log),
        x4(4, 1, &log);
  add_wait_queue_exclusive(&wq, &x1.wq);
  add_wait_queue_exclusive(&wq, &x2.wq);
  add_wait_queue_exclusive(&wq, &x3.wq);
  add_wait_queue_exclusive(&wq, &x4.wq);
  wake_up(&wq);
  EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
  remove_all(wq, {&x1, &x2, &x3, &x4});
}

TEST(WaitQueue, F5_KeyIsThePollMaskAndNullMeansAnything) {
  WaitQueueHead wq;
  std::vector<int> log;
  std::vector<void*> keys;
  Probe a(1, 1, &log);
  a.keys = &keys;
  add_wait_queue(&wq, &a.wq);
  wake_up_poll(&wq, POLLIN | POLLRDNORM);
  wake_up(&wq);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(key_to_poll(keys[0]), __poll_t(POLLIN | POLLRDNORM));
  EXPECT_EQ(keys[1], nullptr);
  remove_all(wq, {&a});
}

TEST(WaitQueue, F7_AutoremoveUnlinksOnlyOnSuccess) {
  WaitQueueHead wq;
  WaitQueueEntry e;
  init_wait_entry(&e, 0);
  add_wait_queue(&wq, &e);
  // The task is running: try_to_wake_up changes nothing and returns 0, so the entry stays.
  wake_up(&wq);
  EXPECT_TRUE(e.linked());
  // A task in TASK_INTERRUPTIBLE (not blocked yet) is woken: the entry goes.
  sched::set_current_state(sched::TASK_INTERRUPTIBLE);
  wake_up(&wq);
  EXPECT_FALSE(e.linked());
  EXPECT_EQ(sched::current()->state_.load(), sched::TASK_RUNNING);
}

TEST(WaitQueue, F7_WokenFlagMakesWaitWokenReturnAtOnce) {
  WaitQueueHead wq;
  WaitQueueEntry e;
  init_waitqueue_entry(&e, sched::current());
  e.func = woken_wake_function;
  add_wait_queue(&wq, &e);
  wake_up(&wq);  // lands before wait_woken: must not be lost
  EXPECT_TRUE(e.flags & WQ_FLAG_WOKEN);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_woken(&e, sched::TASK_INTERRUPTIBLE, sched::now_ns() + 5'000'000'000));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_FALSE(e.flags & WQ_FLAG_WOKEN);
  remove_wait_queue(&wq, &e);
}

TEST(WaitQueue, F8_SyncWakeHasTheSameSemantics) {
  WaitQueueHead wq;
  std::vector<int> log;
  Probe n(1, 1, &log), x1(2, 1, &log), x2(3, 1, &log);
  add_wait_queue_exclusive(&wq, &x1.wq);
  add_wait_queue_exclusive(&wq, &x2.wq);
  add_wait_queue(&wq, &n.wq);
  wake_up_interruptible_sync_poll(&wq, POLLIN);
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  remove_all(wq, {&n, &x1, &x2});
}

TEST(WaitQueue, F12_NoLostWakeUpUnderRaces) {
  // Ping-pong: each side publishes its counter, wakes the other only if it sleeps
  // (wq_has_sleeper), then sleeps with the kernel's protocol until the other side answers.
  // Every wait is bounded: a lost wake-up shows up as a timeout, not a hang.
  WaitQueueHead ping_wq, pong_wq;
  std::atomic<int> ping{0}, pong{0};
  constexpr int kRounds = 5000;
  constexpr int64_t kBoundNs = 5'000'000'000;
  std::atomic<int> timeouts{0};
  std::thread ponger([&] {
    for (int i = 1; i <= kRounds; ++i) {
      if (wait_event_interruptible_deadline(&ping_wq, [&] { return ping.load() >= i; }, false,
                                            sched::now_ns() + kBoundNs) != 1)
        timeouts.fetch_add(1);
      pong.store(i);
      if (wq_has_sleeper(&pong_wq)) wake_up(&pong_wq);
    }
  });
  for (int i = 1; i <= kRounds; ++i) {
    ping.store(i);
    if (wq_has_sleeper(&ping_wq)) wake_up(&ping_wq);
    if (wait_event_interruptible_deadline(&pong_wq, [&] { return pong.load() >= i; }, false,
                                          sched::now_ns() + kBoundNs) != 1)
      timeouts.fetch_add(1);
  }
  ponger.join();
  EXPECT_EQ(timeouts.load(), 0);
  EXPECT_EQ(pong.load(), kRounds);
}

TEST(WaitQueue, F12_TimeoutIsAnAbsoluteDeadline) {
  WaitQueueHead wq;
  const int64_t start = sched::now_ns();
  long r = wait_event_interruptible_deadline(&wq, [] { return false; }, false,
                                             start + 30'000'000);
  EXPECT_EQ(r, 0);
  EXPECT_GE(sched::now_ns() - start, 30'000'000);
}

TEST(WaitQueue, F13_ExclusiveWaiterWithSignalLeavesTheQueue) {
  WaitQueueHead wq;
  WaitQueueEntry e;
  init_wait_entry(&e, WQ_FLAG_EXCLUSIVE);
  EXPECT_EQ(prepare_to_wait_event(&wq, &e, sched::TASK_INTERRUPTIBLE), 0);
  EXPECT_TRUE(e.linked());
  sched::current()->sigpending_.store(true);
  EXPECT_EQ(prepare_to_wait_event(&wq, &e, sched::TASK_INTERRUPTIBLE), -sched::ERESTARTSYS);
  EXPECT_FALSE(e.linked());  // a later wake-up goes to the next exclusive waiter
  sched::signal_clear_pending(sched::current());
  finish_wait(&wq, &e);
}

TEST(WaitQueue, F13_ExclusiveWakeGoesToTheNextWaiterAfterOneLeaves) {
  // Two exclusive sleepers; one gives up (timeout) just as a wake-up comes. The other must
  // still be woken by the following wake-up: nothing is swallowed by the departed entry.
  WaitQueueHead wq;
  std::atomic<int> cond{0};
  std::atomic<int> woke{0};
  std::thread quitter([&] {
    wait_event_interruptible_deadline(&wq, [&] { return cond.load() > 0; }, true,
                                      sched::now_ns() + 20'000'000);
  });
  std::thread stayer([&] {
    if (wait_event_interruptible_deadline(&wq, [&] { return cond.load() > 0; }, true,
                                          sched::now_ns() + 5'000'000'000) == 1)
      woke.fetch_add(1);
  });
  quitter.join();  // gone by timeout
  cond.store(1);
  wake_up(&wq);
  stayer.join();
  EXPECT_EQ(woke.load(), 1);
}

// The keyed-wake summary (WaitQueueHead::wanted_, not in the kernel): a keyed wake-up that no
// entry's key_mask meets calls nobody; one that meets any entry's mask walks the whole queue
// as before; an unkeyed one always walks; removing the narrow entries does not let a default
// (all-keys) entry be skipped, and widening a mask (epoll_ctl MOD) is seen at once.
TEST(WaitQueue, KeyedWakeupsSkipAQueueThatWantsNoneOfTheKey) {
  WaitQueueHead wq;
  std::vector<int> log;
  Probe in(1, 0, &log), pri(2, 0, &log);
  in.wq.key_mask = POLLIN | POLLERR | POLLHUP;
  pri.wq.key_mask = POLLPRI;
  add_wait_queue(&wq, &in.wq);
  add_wait_queue(&wq, &pri.wq);
  wake_up_poll(&wq, POLLOUT);
  EXPECT_TRUE(log.empty());
  wake_up_poll(&wq, POLLIN);
  EXPECT_EQ(log, (std::vector<int>{2, 1}));  // a match walks every entry, each filters itself
  log.clear();
  wake_up(&wq);  // no key: everyone
  EXPECT_EQ(log, (std::vector<int>{2, 1}));
  log.clear();
  {
    SpinGuard g(wq.lock);
    pri.wq.key_mask |= POLLOUT;
    wq.widen_keys(POLLOUT);
  }
  wake_up_poll(&wq, POLLOUT);
  EXPECT_EQ(log, (std::vector<int>{2, 1}));
  log.clear();
  remove_all(wq, {&in, &pri});
  Probe any(3, 0, &log);  // default key_mask: every key
  add_wait_queue(&wq, &any.wq);
  wake_up_poll(&wq, POLLOUT);
  EXPECT_EQ(log, (std::vector<int>{3}));
  remove_all(wq, {&any});
}

// The wake_q (sched/task.hpp): a futex wake owed by a wake-up made inside a wake function (as
// ep_poll_callback wakes epoll_wait sleepers) waits until the outermost wake-up has dropped its
// queue's lock, and that one issues it. Fails if nested wake-ups flush under the outer lock
// (owed_inside 0) or if nobody flushes afterwards.
struct Nest {
  WaitQueueEntry wq;
  WaitQueueHead* inner = nullptr;
  long owed_inside = -1;
  static long owed() { return long(sched::tls_wake_q_len) - long(sched::tls_wake_q_base); }
  static int func(WaitQueueEntry* e, unsigned, int, void*) {
    Nest* n = USTACK_CONTAINER_OF(e, Nest, wq);
    wake_up(n->inner);
    n->owed_inside = owed();
    return 1;
  }
};

// One sleeper on `inner`, blocked in the scheduler; `outer_wake` wakes `outer`, whose one entry
// wakes `inner` from inside its wake function.
template <class OuterWake>
void nested_wake_case(OuterWake outer_wake) {
  WaitQueueHead outer, inner;
  std::atomic<sched::Task*> sleeper{nullptr};
  std::atomic<int> woken{-1};
  std::thread b([&] {
    WaitQueueEntry e;
    init_wait_entry(&e, 0);
    prepare_to_wait(&inner, &e, sched::TASK_UNINTERRUPTIBLE);
    sleeper = sched::current();
    woken = sched::schedule_timeout(kNoDeadline) ? 1 : 0;
    finish_wait(&inner, &e);
  });
  // Until it is blocked in the scheduler, past its spin: only then does waking it owe a futex
  // wake. Bounded, so that a failure cannot hang the suite.
  const int64_t give_up = sched::now_ns() + 10'000'000'000;
  while ((sleeper.load() == nullptr || !(sleeper.load()->state_.load() & sched::kTaskBlocked)) &&
         sched::now_ns() < give_up)
    std::this_thread::yield();
  ASSERT_NE(sleeper.load(), nullptr);
  EXPECT_TRUE(sleeper.load()->state_.load() & sched::kTaskBlocked);
  Nest n;
  init_waitqueue_func_entry(&n.wq, Nest::func);
  n.inner = &inner;
  add_wait_queue(&outer, &n.wq);
  outer_wake(&outer);
  EXPECT_EQ(n.owed_inside, 1);  // the sleeper's futex wake, owed while outer's lock was held
  EXPECT_EQ(Nest::owed(), 0);   // issued by the outermost wake-up
  sched::wake_q_flush();        // (so that a failure above cannot leave the sleeper asleep)
  b.join();
  EXPECT_EQ(woken.load(), 1);
  remove_wait_queue(&outer, &n.wq);
}

TEST(WaitQueue, NestedWakeUpsLeaveTheirFutexWakesToTheOutermost) {
  nested_wake_case([](WaitQueueHead* wq) { wake_up(wq); });
  // The synchronous kind (sock_def_readable's, ep_poll_callback's with WF_SYNC).
  nested_wake_case([](WaitQueueHead* wq) { wake_up_interruptible_sync_poll(wq, POLLIN); });
}

}  // namespace
}  // namespace ustack
