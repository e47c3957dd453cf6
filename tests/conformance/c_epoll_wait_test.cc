// Group C of spec/linux-semantics.md, C26–C56: epoll readiness collection and delivery, and
// epoll_wait / epoll_pwait / epoll_pwait2 (plus the epoll halves of D9/D12 and F11), each item
// run on the host kernel and on ustack. Objects are eventfds, pipes (closing the write end gives
// EPOLLHUP on the read end, closing the read end gives EPOLLERR on the write end) and epoll fds
// nested in other epolls.
//
// Not observable from user space, or needing what ustack does not have, so not tested here (where
// part of an item is observable, that part is tested):
// - C27: that a wake-up with key 0 always queues the item cannot be told apart from a matching
//   key; the pipe-release wake-up (wake_up_interruptible_all, NULL key) is exercised by C37's
//   tests. That a non-matching key is ignored is tested.
// - C38: EPOLLRDHUP comes from stream sockets (peer SHUT_WR, local SHUT_RD), which ustack does
//   not offer through this table yet. That a pipe hang-up raises HUP and never RDHUP, even when
//   RDHUP is requested, is tested.
// - C39: EPOLLWAKEUP may be cleared at ADD (no CAP_BLOCK_SUSPEND, C12) or kept (root); either way
//   it is never returned, which is what is tested.
// - C42: a partially mapped buffer (k events copied, then a fault) needs an unmapped page; ustack
//   detects NULL and out-of-range pointers only (DESIGN.md §4), so that case runs on Linux only.
// - C45: sigsetsize != 8 → EINVAL (checked before everything else, even EBADF, on 6.18): glibc
//   always passes 8. The mask swap itself is tested.
// - C49: the ovflist part (events that arrive while another thread copies out) needs a race
//   inside one harvest; the order of leftovers, re-queued LT items and items that became ready
//   between calls is tested.
// - C50: likewise the copy-out window. Two items made ready by one wake-up reaching two waiters
//   with maxevents 1 is tested.
// - C53: a timeout racing with a wake-up; a pure timing race with no deterministic outcome.
// - C54: a pending fatal signal kills the process.
//
// Recorded from Linux 6.18 beyond the spec's wording: epoll_wait checks the epfd (EBADF) before
// maxevents and the buffer, and the buffer (EFAULT) before "not an epoll" (C40's order test;
// kernels before 6.15 checked maxevents and the buffer first). epoll_pwait with a zero timeout
// returns 0 without looking at a pending signal its mask unblocks (ppoll returns EINTR, A22).
// epoll_pwait2 rejects a bad timespec before any other check.
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "conformance/helpers.hpp"

namespace {

using namespace std::chrono_literals;
using namespace conformance;

constexpr uint64_t kRescueData = 0x5e5c0e;  // data of the rescue eventfd's item

// EP_MAX_EVENTS on x86-64, where struct epoll_event is packed to 12 bytes (C40).
constexpr int kEpMaxEvents = int(INT_MAX / sizeof(struct epoll_event));
static_assert(sizeof(struct epoll_event) == 12);

// evs as text, for failure messages.
std::string to_string(const std::vector<Ev>& evs) {
  std::string s = "[";
  for (const Ev& e : evs) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s{0x%x, %llu}", s.size() > 1 ? ", " : "", e.events,
                  static_cast<unsigned long long>(e.data));
    s += buf;
  }
  return s + "]";
}

// The data fields of evs, in order.
std::vector<uint64_t> datas(const std::vector<Ev>& evs) {
  std::vector<uint64_t> d;
  for (const Ev& e : evs) d.push_back(e.data);
  return d;
}

// What one epoll_wait returned.
struct Got {
  int ret = 0;
  int err = 0;
  std::vector<Ev> ev;
};

class CEpollWait : public OwnedFds {
 protected:
  CEpollWait() : OwnedFds(EFD_NONBLOCK, O_NONBLOCK) {}
  int ctl(int ep, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event e = {};
    e.events = events;
    e.data.u64 = data;
    return sys->epoll_ctl(ep, op, fd, &e);
  }
  int add(int ep, int fd, uint32_t events, uint64_t data) {
    return ctl(ep, EPOLL_CTL_ADD, fd, events, data);
  }
  int mod(int ep, int fd, uint32_t events, uint64_t data) {
    return ctl(ep, EPOLL_CTL_MOD, fd, events, data);
  }
  int del(int ep, int fd) { return sys->epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr); }

  Got wait(int ep, int maxevents = 16, int timeout = 0) {
    Got g;
    std::vector<struct epoll_event> buf(std::max(maxevents, 1));
    errno = 0;
    g.ret = sys->epoll_wait(ep, buf.data(), maxevents, timeout);
    g.err = errno;
    for (int i = 0; i < g.ret; ++i) g.ev.push_back({buf[i].events, buf[i].data.u64});
    return g;
  }
  // The events of a non-blocking epoll_wait; a failed call adds a failure and gives [].
  std::vector<Ev> ready(int ep, int maxevents = 16) {
    Got g = wait(ep, maxevents, 0);
    EXPECT_GE(g.ret, 0) << "epoll_wait: " << strerror(g.err);
    return g.ev;
  }
  uint64_t drain(int efd) { return read_u64(efd); }
};

// --- C26: ADD and MOD poll the target at once ---

TEST_P(CEpollWait, C26_AddOfReadyEtFdReportsItOnce) {
  const int ep = make_epoll();
  const int efd = make_eventfd(3);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 7), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 7}}));
  EXPECT_EQ(ready(ep), std::vector<Ev>{}) << "ET: reported once, no new wake-up since";
}

TEST_P(CEpollWait, C26_AddOfNotReadyFdReportsNothing) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  const int other = make_eventfd(0);
  ASSERT_GE(other, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  ASSERT_EQ(add(ep, other, EPOLLIN | EPOLLET, 2), 0);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

TEST_P(CEpollWait, C26_ModOfReadyEtFdReportsIt) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 1), 0);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  // OUT is ready (counter 0) but not watched; MOD to OUT finds it ready at once.
  ASSERT_EQ(mod(ep, efd, EPOLLOUT | EPOLLET, 2), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 2}}));
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

TEST_P(CEpollWait, C26_AddOfReadyFdWakesABlockedWaiter) {
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  const int rescue_fd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_GE(rescue_fd, 0);
  ASSERT_EQ(add(ep, rescue_fd, EPOLLIN, kRescueData), 0);
  Got g;
  {
    Rescue rescue(sys, rescue_fd, 2000ms);
    Later adder(kSettle, [&] { EXPECT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 5), 0); });
    g = wait(ep, 4, -1);
  }
  EXPECT_EQ(g.ret, 1) << strerror(g.err);
  EXPECT_EQ(g.ev, (std::vector<Ev>{{EPOLLIN, 5}})) << "rescued after 2 s: ADD woke nobody";
}

// --- C27: the wake-up key is filtered by the item's mask ---

TEST_P(CEpollWait, C27_WakeupKeyNotInTheMaskIsIgnored) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  // ET on OUT only: the ADD reports OUT once.
  ASSERT_EQ(add(ep, efd, EPOLLOUT | EPOLLET, 3), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 3}}));
  // A write wakes with key EPOLLIN: ignored, though OUT is still ready.
  ASSERT_EQ(write_u64(efd, 1), 8);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  // A read wakes with key EPOLLOUT: queued.
  drain(efd);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 3}}));
}

// --- C28: the harvest re-polls ---

TEST_P(CEpollWait, C28_LtItemConsumedBeforeTheWaitIsDropped) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  ASSERT_EQ(write_u64(efd, 1), 8);  // queued
  drain(efd);                       // no longer ready
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  // Nor does it come back later by itself.
  Got g = wait(ep, 4, 30);
  EXPECT_EQ(g.ret, 0);
}

TEST_P(CEpollWait, C28_EtItemConsumedBeforeTheWaitIsDropped) {
  const int ep = make_epoll();
  const int a = make_eventfd(0);
  const int b = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(add(ep, a, EPOLLIN | EPOLLET, 1), 0);
  ASSERT_EQ(add(ep, b, EPOLLIN | EPOLLET, 2), 0);
  ASSERT_EQ(write_u64(a, 1), 8);
  ASSERT_EQ(write_u64(b, 1), 8);
  drain(a);
  // Only b is reported; a's queued entry found nothing and was dropped silently.
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 2}}));
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

TEST_P(CEpollWait, C28_ItemWhoseCurrentStateMissesTheMaskIsNeverReturned) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  // Registered with events 0: only ERR|HUP, which an eventfd never raises.
  ASSERT_EQ(add(ep, efd, 0, 1), 0);
  ASSERT_EQ(write_u64(efd, 1), 8);
  drain(efd);
  ASSERT_EQ(write_u64(efd, 1), 8);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

TEST_P(CEpollWait, C28_NestedEpollWithNothingReallyReadyIsDropped) {
  const int outer = make_epoll();
  const int inner = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(outer, 0);
  ASSERT_GE(inner, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(inner, efd, EPOLLIN, 1), 0);
  ASSERT_EQ(add(outer, inner, EPOLLIN, 100), 0);
  ASSERT_EQ(write_u64(efd, 1), 8);
  EXPECT_EQ(ready(outer), (std::vector<Ev>{{EPOLLIN, 100}}));
  // The inner item is still on its ready list but no longer ready: the outer re-poll of the
  // inner epoll re-polls its items and finds nothing.
  drain(efd);
  EXPECT_EQ(ready(outer), std::vector<Ev>{});
  EXPECT_EQ(ready(inner), std::vector<Ev>{});
}

// --- C29: the reported mask is the current state ---

TEST_P(CEpollWait, C29_EtReportsTheFullCurrentStateNotTheTrigger) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLOUT | EPOLLET, 9), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 9}}));
  // The write's wake-up carries EPOLLIN; the item reports IN|OUT.
  ASSERT_EQ(write_u64(efd, 1), 8);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN | EPOLLOUT, 9}}));
  // Only watched bits: IN alone on a ready IN|OUT eventfd.
  ASSERT_EQ(mod(ep, efd, EPOLLIN, 9), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 9}}));
}

TEST_P(CEpollWait, C29_StateChangedBetweenWakeupAndHarvestIsReportedAsItIsNow) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLOUT | EPOLLET, 4), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 4}}));
  // Queued by the write (IN), then the counter is filled so OUT goes away before the harvest.
  ASSERT_EQ(write_u64(efd, 1), 8);
  ASSERT_EQ(write_u64(efd, 0xfffffffffffffffdull), 8);  // counter 2^64-2: IN only
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 4}}));
}

// --- C30: level-triggered ---

TEST_P(CEpollWait, C30_LtReportedOnEveryWaitWhileReady) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 8), 0);
  ASSERT_EQ(write_u64(efd, 1), 8);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 8}})) << i;
  drain(efd);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

TEST_P(CEpollWait, C30_LtPipeReportedUntilDrained) {
  const int ep = make_epoll();
  int p[2];
  ASSERT_GE(ep, 0);
  ASSERT_TRUE(make_pipe(p));
  ASSERT_EQ(add(ep, p[0], EPOLLIN, 1), 0);
  ASSERT_EQ(sys->write(p[1], "abcd", 4), 4);
  char buf[4];
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}})) << i;
    ASSERT_EQ(sys->read(p[0], buf, 1), 1);
  }
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

// --- C31: ET fires on every producer wake-up (D9, D12) ---

TEST_P(CEpollWait, C31_EtFiresOnEveryEventfdWriteWithoutARead) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 2), 0);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(write_u64(efd, 1), 8);
    EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 2}})) << "write " << i;
    EXPECT_EQ(ready(ep), std::vector<Ev>{}) << "write " << i;
  }
  EXPECT_EQ(drain(efd), 3u);
}

TEST_P(CEpollWait, C31_EtFiresOnEveryPipeWriteWithoutARead) {
  const int ep = make_epoll();
  int p[2];
  ASSERT_GE(ep, 0);
  ASSERT_TRUE(make_pipe(p));
  ASSERT_EQ(add(ep, p[0], EPOLLIN | EPOLLET, 1), 0);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(sys->write(p[1], "x", 1), 1);
    EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}})) << "write " << i;
    EXPECT_EQ(ready(ep), std::vector<Ev>{}) << "write " << i;
  }
}

TEST_P(CEpollWait, C31_EtBlockedWaiterWokenByASecondWriteWithoutARead) {
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 6), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 6}}));
  Got g;
  const auto t0 = Clock::now();
  {
    Later writer(kSettle, [&] { write_u64(efd, 1); });
    g = wait(ep, 4, 2000);
  }
  EXPECT_EQ(g.ret, 1);
  EXPECT_EQ(g.ev, (std::vector<Ev>{{EPOLLIN, 6}}));
  EXPECT_LT(us_since(t0), 1'500'000) << "timed out instead of being woken";
}

TEST_P(CEpollWait, C31_EtOnANestedEpollFiresOnEveryInnerWakeup) {
  const int outer = make_epoll();
  const int inner = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(outer, 0);
  ASSERT_GE(inner, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(inner, efd, EPOLLIN, 1), 0);
  ASSERT_EQ(add(outer, inner, EPOLLIN | EPOLLET, 100), 0);
  EXPECT_EQ(ready(outer), std::vector<Ev>{});
  for (int i = 1; i <= 3; ++i) {
    // The inner LT item stays queued; each write still runs its callback, which wakes the
    // inner epoll's own watchers.
    ASSERT_EQ(write_u64(efd, 1), 8);
    EXPECT_EQ(ready(outer), (std::vector<Ev>{{EPOLLIN, 100}})) << "write " << i;
    EXPECT_EQ(ready(outer), std::vector<Ev>{}) << "write " << i;
  }
}

TEST_P(CEpollWait, D9_EventfdWriteOfZeroFiresEt) {
  const int ep = make_epoll();
  const int efd = make_eventfd(2);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 1), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}}));
  ASSERT_EQ(write_u64(efd, 0), 8);  // counter unchanged, but a wake-up
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}}));
  EXPECT_EQ(drain(efd), 2u);
}

TEST_P(CEpollWait, D9_EventfdWriteOfZeroOnEmptyCounterReportsTheCurrentState) {
  const int ep = make_epoll();
  const int in_only = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(in_only, 0);
  const int in_out = sys->dup(in_only);
  ASSERT_GE(own(in_out), 0);
  ASSERT_EQ(add(ep, in_only, EPOLLIN | EPOLLET, 1), 0);
  ASSERT_EQ(add(ep, in_out, EPOLLIN | EPOLLOUT | EPOLLET, 2), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 2}}));
  // Counter 0: the IN-keyed wake-up queues both items; the harvest finds IN clear, so the
  // IN-only item is dropped and the IN|OUT item reports OUT (C28, C29).
  ASSERT_EQ(write_u64(in_only, 0), 8);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 2}}));
}

TEST_P(CEpollWait, D12_FailedEagainReadWakesNothing) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLOUT | EPOLLET, 5), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 5}}));
  uint64_t v;
  ASSERT_EQ(sys->read(efd, &v, 8), -1);
  ASSERT_EQ(errno, EAGAIN);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

TEST_P(CEpollWait, D12_EverySuccessfulReadFiresEtOut) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(write_u64(efd, 3), 8);
  ASSERT_EQ(add(ep, efd, EPOLLOUT | EPOLLET, 5), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 5}}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(drain(efd), 1u);  // OUT was ready all along: each read is a new edge anyway
    EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLOUT, 5}})) << i;
    EXPECT_EQ(ready(ep), std::vector<Ev>{}) << i;
  }
}

// --- C32: ET and a partial read ---

TEST_P(CEpollWait, C32_EtPartialReadWithoutNewWakeupReportsNothing) {
  const int ep = make_epoll();
  int p[2];
  ASSERT_GE(ep, 0);
  ASSERT_TRUE(make_pipe(p));
  ASSERT_EQ(add(ep, p[0], EPOLLIN | EPOLLET, 1), 0);
  ASSERT_EQ(sys->write(p[1], "0123456789", 10), 10);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}}));
  char buf[5];
  ASSERT_EQ(sys->read(p[0], buf, 5), 5);
  // Still readable, but no new edge: the wait times out.
  Got g = wait(ep, 4, 50);
  EXPECT_EQ(g.ret, 0);
  // An LT watcher on the same pipe sees it readable all along.
  const int lt = make_epoll();
  ASSERT_GE(lt, 0);
  ASSERT_EQ(add(lt, p[0], EPOLLIN, 2), 0);
  EXPECT_EQ(ready(lt), (std::vector<Ev>{{EPOLLIN, 2}}));
}

// --- C33: EPOLLONESHOT ---

TEST_P(CEpollWait, C33_OneshotLtIsDeliveredOnceThenDisabled) {
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLONESHOT, 3), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 3}}));
  EXPECT_EQ(ready(ep), std::vector<Ev>{}) << "level-triggered, but disabled after one delivery";
  ASSERT_EQ(write_u64(efd, 1), 8);
  EXPECT_EQ(ready(ep), std::vector<Ev>{}) << "later wake-ups are ignored";
  // Still registered.
  EXPECT_EQ(add(ep, efd, EPOLLIN, 3), -1);
  EXPECT_EQ(errno, EEXIST);
}

TEST_P(CEpollWait, C33_DisabledOneshotIgnoresHupAndErr) {
  const int ep = make_epoll();
  int p[2], q[2];
  ASSERT_GE(ep, 0);
  ASSERT_TRUE(make_pipe(p));
  ASSERT_TRUE(make_pipe(q));
  ASSERT_EQ(add(ep, p[0], EPOLLIN | EPOLLONESHOT, 1), 0);
  ASSERT_EQ(add(ep, q[1], EPOLLOUT | EPOLLONESHOT, 2), 0);
  ASSERT_EQ(sys->write(p[1], "x", 1), 1);
  EXPECT_EQ(sorted(ready(ep)), (std::vector<Ev>{{EPOLLIN, 1}, {EPOLLOUT, 2}}));
  ASSERT_EQ(close_now(p[1]), 0);  // p[0] now HUP
  ASSERT_EQ(close_now(q[0]), 0);  // q[1] now ERR
  EXPECT_EQ(ready(ep), std::vector<Ev>{}) << "a disabled ONESHOT item reported HUP or ERR";
  // Re-armed with a mask that does not include them, ERR/HUP are still added (C37).
  ASSERT_EQ(mod(ep, p[0], 0 | EPOLLONESHOT, 1), 0);
  ASSERT_EQ(mod(ep, q[1], 0 | EPOLLONESHOT, 2), 0);
  EXPECT_EQ(sorted(ready(ep)), (std::vector<Ev>{{EPOLLHUP, 1}, {EPOLLERR, 2}}));
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

TEST_P(CEpollWait, C33_ModRearmsAndReportsAtOnceIfReady) {
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLONESHOT, 1), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}}));
  ASSERT_EQ(mod(ep, efd, EPOLLIN | EPOLLONESHOT, 2), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 2}}));
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  // Re-armed while not ready: the next wake-up is delivered, once.
  drain(efd);
  ASSERT_EQ(mod(ep, efd, EPOLLIN | EPOLLONESHOT, 3), 0);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  ASSERT_EQ(write_u64(efd, 1), 8);
  ASSERT_EQ(write_u64(efd, 1), 8);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 3}}));
  ASSERT_EQ(write_u64(efd, 1), 8);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

TEST_P(CEpollWait, C33_OneshotEtWakesABlockedWaiterOnce) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET | EPOLLONESHOT, 1), 0);
  Got g;
  {
    Later writer(kSettle, [&] { write_u64(efd, 1); });
    g = wait(ep, 4, 2000);
  }
  EXPECT_EQ(g.ev, (std::vector<Ev>{{EPOLLIN, 1}}));
  ASSERT_EQ(write_u64(efd, 1), 8);
  g = wait(ep, 4, 50);
  EXPECT_EQ(g.ret, 0);
}

// --- C34: MOD re-polls ---

TEST_P(CEpollWait, C34_ModWithTheSameMaskRetriggersAReadyEtItem) {
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 1), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}}));
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(mod(ep, efd, EPOLLIN | EPOLLET, 1), 0);
    EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}})) << i;
    EXPECT_EQ(ready(ep), std::vector<Ev>{}) << i;
  }
  // Not ready: MOD queues nothing.
  drain(efd);
  ASSERT_EQ(mod(ep, efd, EPOLLIN | EPOLLET, 1), 0);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

TEST_P(CEpollWait, C34_ModToAMaskNotReadyDropsTheQueuedEvent) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  ASSERT_EQ(write_u64(efd, 0xfffffffffffffffeull), 8);  // IN only, queued
  ASSERT_EQ(mod(ep, efd, EPOLLOUT, 2), 0);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

// --- C35: DEL of a queued item ---

TEST_P(CEpollWait, C35_DelOfAQueuedItemLeavesNoStaleEvent) {
  const int ep = make_epoll();
  const int a = make_eventfd(1);
  const int b = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(add(ep, a, EPOLLIN, 1), 0);
  ASSERT_EQ(add(ep, b, EPOLLIN | EPOLLET, 2), 0);
  ASSERT_EQ(del(ep, a), 0);
  ASSERT_EQ(del(ep, b), 0);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  // Re-added: reported again (ADD polls), once each.
  ASSERT_EQ(add(ep, b, EPOLLIN | EPOLLET, 3), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 3}}));
}

TEST_P(CEpollWait, C35_DelOfAQueuedItemDoesNotWakeAWaiterWithIt) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  ASSERT_EQ(write_u64(efd, 1), 8);
  ASSERT_EQ(del(ep, efd), 0);
  Got g = wait(ep, 4, 50);
  EXPECT_EQ(g.ret, 0);
}

// --- C36: coalescing ---

TEST_P(CEpollWait, C36_SeveralWakeupsBetweenWaitsGiveOneEvent) {
  const int ep = make_epoll();
  const int lt = make_eventfd(0);
  const int et = make_eventfd(0);
  int p[2];
  ASSERT_GE(ep, 0);
  ASSERT_GE(lt, 0);
  ASSERT_GE(et, 0);
  ASSERT_TRUE(make_pipe(p));
  ASSERT_EQ(add(ep, lt, EPOLLIN, 1), 0);
  ASSERT_EQ(add(ep, et, EPOLLIN | EPOLLET, 2), 0);
  ASSERT_EQ(add(ep, p[0], EPOLLIN | EPOLLET, 3), 0);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(write_u64(lt, 1), 8);
    ASSERT_EQ(write_u64(et, 1), 8);
    ASSERT_EQ(sys->write(p[1], "x", 1), 1);
  }
  Got g = wait(ep, 16, 0);
  EXPECT_EQ(g.ret, 3);
  EXPECT_EQ(g.ev, (std::vector<Ev>{{EPOLLIN, 1}, {EPOLLIN, 2}, {EPOLLIN, 3}})) << to_string(g.ev);
  // Then: LT again, the ET items not.
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}}));
}

// --- C37: ERR and HUP are always reported ---

TEST_P(CEpollWait, C37_HupReportedWithoutBeingRequested) {
  const int ep = make_epoll();
  int p[2];
  ASSERT_GE(ep, 0);
  ASSERT_TRUE(make_pipe(p));
  int zero = sys->dup(p[0]);
  ASSERT_GE(own(zero), 0);
  ASSERT_EQ(add(ep, p[0], EPOLLIN, 1), 0);
  ASSERT_EQ(add(ep, zero, 0, 2), 0);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  ASSERT_EQ(close_now(p[1]), 0);
  EXPECT_EQ(sorted(ready(ep)), (std::vector<Ev>{{EPOLLHUP, 1}, {EPOLLHUP, 2}}));
  EXPECT_EQ(sorted(ready(ep)), (std::vector<Ev>{{EPOLLHUP, 1}, {EPOLLHUP, 2}}))
      << "level-triggered";
}

TEST_P(CEpollWait, C37_HupWithDataLeftIsInAndHup) {
  const int ep = make_epoll();
  int p[2];
  ASSERT_GE(ep, 0);
  ASSERT_TRUE(make_pipe(p));
  ASSERT_EQ(add(ep, p[0], EPOLLIN | EPOLLET, 1), 0);
  ASSERT_EQ(sys->write(p[1], "x", 1), 1);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}}));
  ASSERT_EQ(close_now(p[1]), 0);  // a wake-up: a new edge
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN | EPOLLHUP, 1}}));
}

TEST_P(CEpollWait, C37_ErrReportedWithoutBeingRequested) {
  const int ep = make_epoll();
  int p[2];
  ASSERT_GE(ep, 0);
  ASSERT_TRUE(make_pipe(p));
  int zero = sys->dup(p[1]);
  ASSERT_GE(own(zero), 0);
  ASSERT_EQ(add(ep, p[1], EPOLLIN, 1), 0);  // a write end is never readable
  ASSERT_EQ(add(ep, zero, EPOLLET, 2), 0);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
  ASSERT_EQ(close_now(p[0]), 0);
  EXPECT_EQ(sorted(ready(ep)), (std::vector<Ev>{{EPOLLERR, 1}, {EPOLLERR, 2}}));
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLERR, 1}}));  // the ET one once
}

TEST_P(CEpollWait, C37_HupWakesABlockedWaiter) {
  const int ep = make_epoll();
  int p[2];
  ASSERT_GE(ep, 0);
  ASSERT_TRUE(make_pipe(p));
  ASSERT_EQ(add(ep, p[0], 0, 1), 0);
  Got g;
  {
    Later closer(kSettle, [&] { close_now(p[1]); });
    g = wait(ep, 4, 2000);
  }
  EXPECT_EQ(g.ev, (std::vector<Ev>{{EPOLLHUP, 1}}));
}

// --- C38: RDHUP only if requested (the pipe half; sockets are not here yet) ---

TEST_P(CEpollWait, C38_PipeHangupRaisesHupNeverRdhup) {
  const int ep = make_epoll();
  int p[2];
  ASSERT_GE(ep, 0);
  ASSERT_TRUE(make_pipe(p));
  ASSERT_EQ(add(ep, p[0], EPOLLIN | EPOLLRDHUP, 1), 0);
  ASSERT_EQ(close_now(p[1]), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLHUP, 1}}));
}

// --- C39: control bits never returned; data verbatim ---

TEST_P(CEpollWait, C39_ControlBitsAreNeverReturned) {
  const int ep = make_epoll();
  const int ex = make_epoll();
  const int a = make_eventfd(1);
  const int b = make_eventfd(1);
  const int c = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(ex, 0);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_GE(c, 0);
  ASSERT_EQ(add(ep, a, EPOLLIN | EPOLLOUT | EPOLLET | EPOLLONESHOT | EPOLLWAKEUP, 1), 0);
  ASSERT_EQ(add(ep, b, EPOLLIN | EPOLLWAKEUP, 2), 0);
  ASSERT_EQ(add(ex, c, EPOLLIN | EPOLLOUT | EPOLLEXCLUSIVE | EPOLLET | EPOLLWAKEUP, 3), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN | EPOLLOUT, 1}, {EPOLLIN, 2}}));
  EXPECT_EQ(ready(ex), (std::vector<Ev>{{EPOLLIN | EPOLLOUT, 3}}));
}

TEST_P(CEpollWait, C39_DataIsReturnedVerbatimFromTheLastAddOrMod) {
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  const uint64_t d1 = 0xfedcba9876543210ull;
  ASSERT_EQ(add(ep, efd, EPOLLIN, d1), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, d1}}));
  const uint64_t d2 = 0xffffffffffffffffull;
  ASSERT_EQ(mod(ep, efd, EPOLLIN, d2), 0);
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, d2}}));
  // A data pointer, and a data fd that is not the watched fd.
  struct epoll_event e = {};
  e.events = EPOLLIN;
  e.data.ptr = &e;
  ASSERT_EQ(sys->epoll_ctl(ep, EPOLL_CTL_MOD, efd, &e), 0);
  struct epoll_event out[2] = {};
  ASSERT_EQ(sys->epoll_wait(ep, out, 2, 0), 1);
  void* ptr = out[0].data.ptr;
  EXPECT_EQ(ptr, static_cast<void*>(&e));
  e.data.u64 = 0;
  e.data.fd = 12345;
  ASSERT_EQ(sys->epoll_ctl(ep, EPOLL_CTL_MOD, efd, &e), 0);
  ASSERT_EQ(sys->epoll_wait(ep, out, 2, 0), 1);
  const int dfd = out[0].data.fd;
  EXPECT_EQ(dfd, 12345);
}

// --- C40: maxevents ---

TEST_P(CEpollWait, C40_MaxeventsNotPositiveIsEinval) {
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  struct epoll_event out[4];
  for (int m : {0, -1, INT_MIN}) {
    errno = 0;
    EXPECT_EQ(sys->epoll_wait(ep, out, m, 0), -1) << m;
    EXPECT_EQ(errno, EINVAL) << m;
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait(ep, out, m, 0, nullptr), -1) << m;
    EXPECT_EQ(errno, EINVAL) << m;
    const struct timespec zero = {0, 0};
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait2(ep, out, m, &zero, nullptr), -1) << m;
    EXPECT_EQ(errno, EINVAL) << m;
  }
  // Nothing was consumed by the failed calls.
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}}));
}

// A 1-entry buffer in the data segment: far below the top of the user address space, so that
// maxevents * 12 bytes from it is still a valid user range.
struct epoll_event g_one_event[1];

TEST_P(CEpollWait, C40_MaxeventsAboveIntMaxOver12IsEinval) {
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 77), 0);
  EXPECT_EQ(kEpMaxEvents, 178956970);
  for (int m : {kEpMaxEvents + 1, INT_MAX}) {
    errno = 0;
    EXPECT_EQ(sys->epoll_wait(ep, g_one_event, m, 0), -1) << m;
    EXPECT_EQ(errno, EINVAL) << m;
  }
  // The largest legal value: only the ready events are written.
  ASSERT_EQ(sys->epoll_wait(ep, g_one_event, kEpMaxEvents, 0), 1);
  const uint64_t d = g_one_event[0].data.u64;
  EXPECT_EQ(d, 77u);
}

// The argument check order on 6.18 (ep_check_params, added with io_uring's epoll wait in 6.15):
// EBADF (epfd not open) → EINVAL (maxevents) → EFAULT (access_ok) → EINVAL (not an epoll).
// Before that, maxevents and access_ok came first, then EBADF. [VER]
TEST_P(CEpollWait, C40_EpfdThenMaxeventsThenBufferThenEpollCheck) {
  if (sys->is_linux && !kernel_at_least(6, 15)) {
    GTEST_SKIP() << "kernels before 6.15 check maxevents and the buffer before the epfd";
  }
  struct epoll_event out[1];
  auto* kernel_ptr = reinterpret_cast<struct epoll_event*>(0xffff800000000000ull);
  const int efd = make_eventfd(0);
  const int ep = make_epoll();
  ASSERT_GE(efd, 0);
  ASSERT_GE(ep, 0);
  struct Case {
    int epfd;
    struct epoll_event* buf;
    int maxevents;
    int err;
  } cases[] = {
      {-1, out, 0, EBADF},
      {100000, out, kEpMaxEvents + 1, EBADF},
      {100000, kernel_ptr, 1, EBADF},
      {ep, kernel_ptr, 0, EINVAL},
      {efd, out, -1, EINVAL},
      {efd, kernel_ptr, 1, EFAULT},
      {ep, kernel_ptr, 1, EFAULT},
      {efd, out, 1, EINVAL},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message()
                 << "epfd " << c.epfd << " buf " << c.buf << " maxevents " << c.maxevents);
    errno = 0;
    EXPECT_EQ(sys->epoll_wait(c.epfd, c.buf, c.maxevents, 0), -1);
    EXPECT_EQ(errno, c.err);
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait(c.epfd, c.buf, c.maxevents, 0, nullptr), -1);
    EXPECT_EQ(errno, c.err);
    const struct timespec zero = {0, 0};
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait2(c.epfd, c.buf, c.maxevents, &zero, nullptr), -1);
    EXPECT_EQ(errno, c.err);
  }
}

// --- C41: the epoll fd ---

TEST_P(CEpollWait, C41_EpfdNotOpenIsEbadf) {
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  ASSERT_EQ(close_now(ep), 0);
  struct epoll_event out[1];
  const struct timespec zero = {0, 0};
  for (int fd : {ep, -1, 100000}) {
    errno = 0;
    EXPECT_EQ(sys->epoll_wait(fd, out, 1, 0), -1) << fd;
    EXPECT_EQ(errno, EBADF) << fd;
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait(fd, out, 1, 0, nullptr), -1) << fd;
    EXPECT_EQ(errno, EBADF) << fd;
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait2(fd, out, 1, &zero, nullptr), -1) << fd;
    EXPECT_EQ(errno, EBADF) << fd;
  }
}

TEST_P(CEpollWait, C41_EpfdNotAnEpollIsEinval) {
  const int efd = make_eventfd(1);
  int p[2];
  ASSERT_GE(efd, 0);
  ASSERT_TRUE(make_pipe(p));
  struct epoll_event out[1];
  const struct timespec zero = {0, 0};
  for (int fd : {efd, p[0], p[1]}) {
    errno = 0;
    EXPECT_EQ(sys->epoll_wait(fd, out, 1, 0), -1) << fd;
    EXPECT_EQ(errno, EINVAL) << fd;
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait(fd, out, 1, 0, nullptr), -1) << fd;
    EXPECT_EQ(errno, EINVAL) << fd;
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait2(fd, out, 1, &zero, nullptr), -1) << fd;
    EXPECT_EQ(errno, EINVAL) << fd;
  }
}

// --- C42: the events buffer ---

TEST_P(CEpollWait, C42_NullBufferWithNothingReadyReturnsZero) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  errno = 0;
  EXPECT_EQ(sys->epoll_wait(ep, nullptr, 8, 0), 0) << strerror(errno);
  // It even sleeps for its timeout.
  const auto t0 = Clock::now();
  EXPECT_EQ(sys->epoll_wait(ep, nullptr, 8, 50), 0) << strerror(errno);
  EXPECT_GE(us_since(t0), 49'000);
  // An empty epoll too.
  const int empty = make_epoll();
  ASSERT_GE(empty, 0);
  EXPECT_EQ(sys->epoll_wait(empty, nullptr, 1, 0), 0);
  // A bad epfd is still EBADF (NULL passes the range check).
  errno = 0;
  EXPECT_EQ(sys->epoll_wait(100000, nullptr, 1, 0), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_P(CEpollWait, C42_NullBufferWithEventsReadyIsEfaultAndKeepsThemQueued) {
  const int ep = make_epoll();
  const int lt = make_eventfd(1);
  const int et = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(lt, 0);
  ASSERT_GE(et, 0);
  ASSERT_EQ(add(ep, et, EPOLLIN | EPOLLET, 2), 0);
  ASSERT_EQ(add(ep, lt, EPOLLIN, 1), 0);
  errno = 0;
  EXPECT_EQ(sys->epoll_wait(ep, nullptr, 8, 0), -1);
  EXPECT_EQ(errno, EFAULT);
  errno = 0;
  EXPECT_EQ(sys->epoll_pwait(ep, nullptr, 8, 0, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  // The item whose copy failed stays queued, even an ET one, in its place.
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 2}, {EPOLLIN, 1}}));
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 1}}));
}

TEST_P(CEpollWait, C42_BufferOutsideTheUserAddressRangeIsEfault) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  // access_ok fails before anything is looked at: nothing is ready. (The order against the
  // other argument checks is C40's test.)
  for (uintptr_t addr : {uintptr_t(0xffff800000000000ull), uintptr_t(0xfffffffffffff000ull)}) {
    auto* bad = reinterpret_cast<struct epoll_event*>(addr);
    errno = 0;
    EXPECT_EQ(sys->epoll_wait(ep, bad, 1, 0), -1) << std::hex << addr;
    EXPECT_EQ(errno, EFAULT) << std::hex << addr;
    errno = 0;
    EXPECT_EQ(sys->epoll_wait(ep, bad, 1, 50), -1) << "it does not wait first";
    EXPECT_EQ(errno, EFAULT) << std::hex << addr;
  }
  // A user range that runs past the top of the user address space.
  auto* top = reinterpret_cast<struct epoll_event*>(0x7ffffffff000ull - sizeof(struct epoll_event));
  errno = 0;
  EXPECT_EQ(sys->epoll_wait(ep, top, 1000, 0), -1);
  EXPECT_EQ(errno, EFAULT);
}

TEST_P(CEpollWait, C42_FaultAfterKEventsReturnsKAndKeepsTheRestQueued) {
  if (!sys->is_linux) {
    GTEST_SKIP() << "ustack cannot probe user memory: it detects NULL and out-of-range buffers "
                    "only (DESIGN.md §4), not an unmapped page";
  }
  const long page = sysconf(_SC_PAGESIZE);
  void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  ASSERT_EQ(mprotect(static_cast<char*>(mem) + page, page, PROT_NONE), 0);
  // Two entries fit before the unmapped page, the third does not.
  auto* buf = reinterpret_cast<struct epoll_event*>(static_cast<char*>(mem) + page -
                                                    2 * sizeof(struct epoll_event));
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  int efds[4];
  for (int i = 0; i < 4; ++i) {
    efds[i] = make_eventfd(1);
    ASSERT_GE(efds[i], 0);
    ASSERT_EQ(add(ep, efds[i], EPOLLIN | EPOLLET, uint64_t(i)), 0);
  }
  EXPECT_EQ(sys->epoll_wait(ep, buf, 4, 0), 2);
  const uint64_t d0 = buf[0].data.u64, d1 = buf[1].data.u64;
  EXPECT_EQ(d0, 0u);
  EXPECT_EQ(d1, 1u);
  // The failed one (2) and the one never reached (3) are still queued, in order.
  EXPECT_EQ(ready(ep), (std::vector<Ev>{{EPOLLIN, 2}, {EPOLLIN, 3}}));
  // Nothing delivered: the first copy fails → EFAULT.
  for (int i = 0; i < 4; ++i) ASSERT_EQ(mod(ep, efds[i], EPOLLIN | EPOLLET, uint64_t(i)), 0);
  errno = 0;
  EXPECT_EQ(sys->epoll_wait(ep, buf + 2, 4, 0), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(datas(ready(ep)), (std::vector<uint64_t>{0, 1, 2, 3}));
  munmap(mem, 2 * page);
}

// --- C43: epoll_wait's timeout ---

TEST_P(CEpollWait, C43_TimeoutIsRelativeMilliseconds) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  const auto t0 = Clock::now();
  Got g = wait(ep, 4, 100);
  const int64_t el = us_since(t0);
  EXPECT_EQ(g.ret, 0);
  EXPECT_GE(el, 99'000);
  EXPECT_LT(el, 1'100'000);
}

TEST_P(CEpollWait, C43_ZeroTimeoutDoesNotBlockButHarvests) {
  const int ep = make_epoll();
  const int idle = make_eventfd(0);
  const int busy = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(idle, 0);
  ASSERT_GE(busy, 0);
  ASSERT_EQ(add(ep, idle, EPOLLIN, 1), 0);
  auto t0 = Clock::now();
  EXPECT_EQ(wait(ep, 4, 0).ret, 0);
  EXPECT_LT(us_since(t0), 500'000);
  ASSERT_EQ(add(ep, busy, EPOLLIN, 2), 0);
  t0 = Clock::now();
  EXPECT_EQ(wait(ep, 4, 0).ev, (std::vector<Ev>{{EPOLLIN, 2}}));
  EXPECT_LT(us_since(t0), 500'000);
}

TEST_P(CEpollWait, C43_AnyNegativeTimeoutWaitsForever) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  const int rescue_fd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_GE(rescue_fd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  ASSERT_EQ(add(ep, rescue_fd, EPOLLIN, kRescueData), 0);
  for (int timeout : {-1, -5, -1000, INT_MIN}) {
    SCOPED_TRACE(timeout);
    Got g;
    const auto t0 = Clock::now();
    {
      Rescue rescue(sys, rescue_fd, 2000ms);
      Later writer(kSettle, [&] { write_u64(efd, 1); });
      g = wait(ep, 4, timeout);
    }
    EXPECT_GE(us_since(t0), 40'000) << "returned before the write";
    EXPECT_EQ(g.ret, 1) << strerror(g.err);
    EXPECT_EQ(g.ev, (std::vector<Ev>{{EPOLLIN, 1}})) << "rescued after 2 s: not woken";
    drain(efd);
  }
}

TEST_P(CEpollWait, C43_WakeupThatFindsNothingSleepsOnToTheSameDeadline) {
  // The deadline is absolute: a wake-up whose harvest finds nothing (a write of 0 on an empty
  // eventfd wakes IN watchers, D9) sends the waiter back to sleep until the original deadline.
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  Got g;
  const auto t0 = Clock::now();
  {
    Later writer(100ms, [&] { write_u64(efd, 0); });
    g = wait(ep, 4, 200);
  }
  const int64_t el = us_since(t0);
  EXPECT_EQ(g.ret, 0);
  EXPECT_GE(el, 199'000);
  EXPECT_LT(el, 290'000) << "the timeout restarted after the spurious wake-up";
}

// --- C44: epoll_pwait2's timespec ---

TEST_P(CEpollWait, C44_Pwait2NullTimeoutWaitsForever) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  const int rescue_fd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_GE(rescue_fd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  ASSERT_EQ(add(ep, rescue_fd, EPOLLIN, kRescueData), 0);
  struct epoll_event out[4];
  int r;
  const auto t0 = Clock::now();
  {
    Rescue rescue(sys, rescue_fd, 2000ms);
    Later writer(kSettle, [&] { write_u64(efd, 1); });
    r = sys->epoll_pwait2(ep, out, 4, nullptr, nullptr);
  }
  EXPECT_GE(us_since(t0), 40'000);
  ASSERT_EQ(r, 1);
  const uint64_t d = out[0].data.u64;
  EXPECT_EQ(d, 1u) << "rescued after 2 s: not woken";
}

TEST_P(CEpollWait, C44_Pwait2InvalidTimespecIsEinval) {
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  const struct timespec bad[] = {{-1, 0},  {0, -1},       {0, 1'000'000'000},
                                 {-1, -1}, {5, LONG_MAX}, {LONG_MIN, 0}};
  struct epoll_event out[4];
  for (const auto& ts : bad) {
    SCOPED_TRACE(testing::Message() << "{" << ts.tv_sec << ", " << ts.tv_nsec << "}");
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait2(ep, out, 4, &ts, nullptr), -1);  // even with an event ready
    EXPECT_EQ(errno, EINVAL);
    // Checked before the epfd and maxevents.
    errno = 0;
    EXPECT_EQ(sys->epoll_pwait2(100000, out, 4, &ts, nullptr), -1);
    EXPECT_EQ(errno, EINVAL);
  }
  // Nothing was consumed; the largest valid nanoseconds, and a huge tv_sec, are fine.
  const struct timespec max_ns = {0, 999'999'999}, huge = {LONG_MAX, 999'999'999};
  EXPECT_EQ(sys->epoll_pwait2(ep, out, 4, &max_ns, nullptr), 1);
  EXPECT_EQ(sys->epoll_pwait2(ep, out, 4, &huge, nullptr), 1);
}

TEST_P(CEpollWait, C44_Pwait2ZeroTimespecDoesNotBlockAndOthersWait) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  struct epoll_event out[4];
  const struct timespec zero = {0, 0};
  auto t0 = Clock::now();
  EXPECT_EQ(sys->epoll_pwait2(ep, out, 4, &zero, nullptr), 0);
  EXPECT_LT(us_since(t0), 500'000);
  // Sub-millisecond precision: 80.5 ms.
  const struct timespec ts = {0, 80'500'000};
  t0 = Clock::now();
  EXPECT_EQ(sys->epoll_pwait2(ep, out, 4, &ts, nullptr), 0);
  const int64_t el = us_since(t0);
  EXPECT_GE(el, 80'500);
  EXPECT_LT(el, 1'080'000);
  // Ready: returned at once.
  ASSERT_EQ(write_u64(efd, 1), 8);
  const struct timespec sec = {1, 0};
  t0 = Clock::now();
  EXPECT_EQ(sys->epoll_pwait2(ep, out, 4, &sec, nullptr), 1);
  EXPECT_LT(us_since(t0), 500'000);
}

TEST_P(CEpollWait, C44_PwaitWithNullMaskIsEpollWait) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  struct epoll_event out[4];
  const auto t0 = Clock::now();
  EXPECT_EQ(sys->epoll_pwait(ep, out, 4, 60, nullptr), 0);
  EXPECT_GE(us_since(t0), 59'000);
  int r;
  {
    Later writer(kSettle, [&] { write_u64(efd, 1); });
    r = sys->epoll_pwait(ep, out, 4, 2000, nullptr);
  }
  EXPECT_EQ(r, 1);
}

// --- C45, C46: signals ---

enum class Which { kWait, kPwait, kPwait2 };

const char* name_of(Which w) {
  return w == Which::kWait ? "epoll_wait" : w == Which::kPwait ? "epoll_pwait" : "epoll_pwait2";
}

int call_epoll(const Api* sys, Which w, int ep, struct epoll_event* out, int max, int timeout_ms,
               const sigset_t* mask) {
  switch (w) {
    case Which::kWait:
      return sys->epoll_wait(ep, out, max, timeout_ms);
    case Which::kPwait:
      return sys->epoll_pwait(ep, out, max, timeout_ms, mask);
    case Which::kPwait2: {
      const struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000L};
      return sys->epoll_pwait2(ep, out, max, &ts, mask);
    }
  }
  return -1;
}

TEST_P(CEpollWait, C46_HandledSignalIsEintrEvenWithSaRestart) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  for (int flags : {SA_RESTART, 0}) {
    HandlerScope h(sys, SIGUSR1, flags);
    ASSERT_TRUE(h.ok()) << strerror(errno);
    for (Which w : {Which::kWait, Which::kPwait, Which::kPwait2}) {
      SCOPED_TRACE(testing::Message() << name_of(w) << (flags ? " SA_RESTART" : " no SA_RESTART"));
      const int before = g_signals.load();
      struct epoll_event out[4];
      CallResult r = call_interrupted(
          SIGUSR1, [&]() -> long { return call_epoll(sys, w, ep, out, 4, 3000, nullptr); });
      EXPECT_EQ(r.ret, -1);  // not restarted, not 0 after the 3 s timeout
      EXPECT_EQ(r.err, EINTR);
      EXPECT_LT(r.elapsed_us, 2'000'000);
      EXPECT_GE(g_signals.load() - before, 1);
    }
  }
}

TEST_P(CEpollWait, C46_SignalHandledBeforeTheCallDoesNotInterruptIt) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  // Only a signal that arrives during the wait interrupts it: one handled before the call
  // leaves nothing pending behind.
  const int ep = make_epoll();
  const int idle = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(idle, 0);
  ASSERT_EQ(add(ep, idle, EPOLLIN, 1), 0);
  HandlerScope h(sys, SIGUSR1, 0);
  ASSERT_TRUE(h.ok());
  const int before = g_signals.load();
  ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
  EXPECT_EQ(g_signals.load() - before, 1);
  const auto t0 = Clock::now();
  Got g = wait(ep, 4, 100);
  EXPECT_EQ(g.ret, 0) << strerror(g.err);
  EXPECT_GE(us_since(t0), 99'000);
  ASSERT_EQ(write_u64(idle, 1), 8);
  EXPECT_EQ(wait(ep, 4, 1000).ret, 1);
}

TEST_P(CEpollWait, C46_StopAndContinueWithoutAHandlerIsEintr) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  std::atomic<bool> done{false};
  Got g;
  int64_t elapsed = 0;
  std::thread waiter([&] {
    const auto t0 = Clock::now();
    g = wait(ep, 4, 3000);
    elapsed = us_since(t0);
    done.store(true);
  });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(done.load());
  const pid_t child = fork_stop_and_continue();
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  // poll would restart here; epoll_wait returns EINTR.
  waiter.join();
  EXPECT_EQ(g.ret, -1);
  EXPECT_EQ(g.err, EINTR);
  EXPECT_LT(elapsed, 2'000'000) << "epoll_wait slept on after SIGSTOP/SIGCONT";
}

// A signal blocked by the caller but unblocked by the call's mask is delivered during a wait,
// which returns EINTR; the handler runs, and the caller's mask is back afterwards.
TEST_P(CEpollWait, C45_MaskUnblocksAPendingSignal) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int ep = make_epoll();
  const int idle = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(idle, 0);
  ASSERT_EQ(add(ep, idle, EPOLLIN, 1), 0);
  HandlerScope h(sys, SIGUSR1, SA_RESTART);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  MaskScope blocked(SIG_BLOCK, SIGUSR1);
  const sigset_t unblock = mask_with(SIGUSR1, false);
  for (Which w : {Which::kPwait, Which::kPwait2}) {
    SCOPED_TRACE(name_of(w));
    ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
    ASSERT_TRUE(signal_is_pending(SIGUSR1));
    const int start = g_signals.load();
    struct epoll_event out[4];
    const auto t0 = Clock::now();
    errno = 0;
    EXPECT_EQ(call_epoll(sys, w, ep, out, 4, 3000, &unblock), -1);
    EXPECT_EQ(errno, EINTR);
    EXPECT_LT(us_since(t0), 2'000'000);
    EXPECT_EQ(g_signals.load() - start, 1);
    EXPECT_FALSE(signal_is_pending(SIGUSR1));
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, nullptr, &now);
    EXPECT_EQ(sigismember(&now, SIGUSR1), 1) << "the caller's mask is restored";
  }
}

// Unlike ppoll (A22), a zero timeout returns before looking at signals: 0, the mask is restored
// at once and the signal stays pending.
TEST_P(CEpollWait, C45_ZeroTimeoutIgnoresAPendingSignalTheMaskUnblocks) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int ep = make_epoll();
  const int idle = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(idle, 0);
  ASSERT_EQ(add(ep, idle, EPOLLIN, 1), 0);
  HandlerScope h(sys, SIGUSR1, 0);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  const int before = g_signals.load();
  {
    MaskScope blocked(SIG_BLOCK, SIGUSR1);
    const sigset_t unblock = mask_with(SIGUSR1, false);
    ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
    for (Which w : {Which::kPwait, Which::kPwait2}) {
      SCOPED_TRACE(name_of(w));
      struct epoll_event out[4];
      errno = 0;
      EXPECT_EQ(call_epoll(sys, w, ep, out, 4, 0, &unblock), 0) << strerror(errno);
      EXPECT_EQ(g_signals.load() - before, 0) << "the handler ran inside the call";
      EXPECT_TRUE(signal_is_pending(SIGUSR1));
    }
  }  // unblocked here: the handler runs now
  EXPECT_EQ(g_signals.load() - before, 1);
}

// A pending signal and a ready event: the events are returned, the caller's mask is restored
// before the handler could run, and the signal stays pending.
TEST_P(CEpollWait, C45_ReadyEventWinsOverAPendingSignal) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int ep = make_epoll();
  const int efd = make_eventfd(1);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  HandlerScope h(sys, SIGUSR1, 0);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  const int before = g_signals.load();
  {
    MaskScope blocked(SIG_BLOCK, SIGUSR1);
    ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
    const sigset_t unblock = mask_with(SIGUSR1, false);
    for (Which w : {Which::kPwait, Which::kPwait2}) {
      SCOPED_TRACE(name_of(w));
      struct epoll_event out[4];
      EXPECT_EQ(call_epoll(sys, w, ep, out, 4, 3000, &unblock), 1);
      EXPECT_EQ(g_signals.load() - before, 0) << "the handler ran inside the call";
      EXPECT_TRUE(signal_is_pending(SIGUSR1));
    }
  }
  EXPECT_EQ(g_signals.load() - before, 1);
}

// A signal that the call's mask blocks does not interrupt it; it is delivered once the caller's
// mask is back.
TEST_P(CEpollWait, C45_MaskBlocksASignalDuringTheWait) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int ep = make_epoll();
  const int idle = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(idle, 0);
  ASSERT_EQ(add(ep, idle, EPOLLIN, 1), 0);
  HandlerScope h(sys, SIGUSR1, 0);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  for (Which w : {Which::kPwait, Which::kPwait2}) {
    SCOPED_TRACE(name_of(w));
    const int before = g_signals.load();
    struct epoll_event out[4];
    CallResult r = call_interrupted(SIGUSR1, [&]() -> long {
      const sigset_t block = mask_with(SIGUSR1, true);
      return call_epoll(sys, w, ep, out, 4, 200, &block);
    });
    EXPECT_EQ(r.ret, 0);
    EXPECT_GE(r.elapsed_us, 199'000);
    EXPECT_LT(r.elapsed_us, 2'200'000);
    EXPECT_GE(g_signals.load() - before, 1);  // delivered after the call
  }
}

// --- C47, C48, C49: order ---

TEST_P(CEpollWait, C47_AtMostMaxeventsAndLeftoversComeFirst) {
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  int efd[4];
  for (int i = 0; i < 4; ++i) {
    efd[i] = make_eventfd(0);
    ASSERT_GE(efd[i], 0);
    ASSERT_EQ(add(ep, efd[i], EPOLLIN, uint64_t(i)), 0);
  }
  for (int i = 0; i < 4; ++i) ASSERT_EQ(write_u64(efd[i], 1), 8);
  EXPECT_EQ(datas(ready(ep, 2)), (std::vector<uint64_t>{0, 1}));
  // 2 and 3 were not delivered: they come before the re-queued LT items 0 and 1.
  EXPECT_EQ(datas(ready(ep, 4)), (std::vector<uint64_t>{2, 3, 0, 1}));
  EXPECT_EQ(datas(ready(ep, 3)), (std::vector<uint64_t>{2, 3, 0}));
  EXPECT_EQ(datas(ready(ep, 16)), (std::vector<uint64_t>{1, 2, 3, 0}));
}

TEST_P(CEpollWait, C47_EtLeftoversAreDeliveredNextTimeThenGone) {
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  int efd[5];
  for (int i = 0; i < 5; ++i) {
    efd[i] = make_eventfd(0);
    ASSERT_GE(efd[i], 0);
    ASSERT_EQ(add(ep, efd[i], EPOLLIN | EPOLLET, uint64_t(i)), 0);
  }
  for (int i = 0; i < 5; ++i) ASSERT_EQ(write_u64(efd[i], 1), 8);
  EXPECT_EQ(datas(ready(ep, 2)), (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(datas(ready(ep, 2)), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(datas(ready(ep, 2)), (std::vector<uint64_t>{4}));
  EXPECT_EQ(datas(ready(ep, 2)), (std::vector<uint64_t>{}));
}

TEST_P(CEpollWait, C48_LtRoundRobinInReadinessOrder) {
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  int efd[4];
  for (int i = 0; i < 4; ++i) {
    efd[i] = make_eventfd(0);
    ASSERT_GE(efd[i], 0);
    ASSERT_EQ(add(ep, efd[i], EPOLLIN, uint64_t(i)), 0);
  }
  // Ready in the order 2, 0, 3, 1: registration order does not matter.
  for (int i : {2, 0, 3, 1}) ASSERT_EQ(write_u64(efd[i], 1), 8);
  std::vector<uint64_t> seq;
  for (int k = 0; k < 10; ++k) {
    std::vector<Ev> got = ready(ep, 1);
    ASSERT_EQ(got.size(), 1u) << k;
    seq.push_back(got[0].data);
  }
  EXPECT_EQ(seq, (std::vector<uint64_t>{2, 0, 3, 1, 2, 0, 3, 1, 2, 0}));
}

TEST_P(CEpollWait, C48_ReadinessOrderNotRegistrationOrder) {
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  int efd[4];
  for (int i = 0; i < 4; ++i) {
    efd[i] = make_eventfd(0);
    ASSERT_GE(efd[i], 0);
    ASSERT_EQ(add(ep, efd[i], EPOLLIN | EPOLLET, uint64_t(i)), 0);
  }
  for (int i : {3, 1, 2, 0}) ASSERT_EQ(write_u64(efd[i], 1), 8);
  EXPECT_EQ(datas(ready(ep)), (std::vector<uint64_t>{3, 1, 2, 0}));
  // A second wake-up of an item already queued does not move it.
  for (int i : {1, 3, 0}) ASSERT_EQ(write_u64(efd[i], 1), 8);
  ASSERT_EQ(write_u64(efd[1], 1), 8);
  EXPECT_EQ(datas(ready(ep)), (std::vector<uint64_t>{1, 3, 0}));
}

TEST_P(CEpollWait, C48_ReadyAtAddQueuesInAddOrder) {
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  int efd[3];
  for (int i = 0; i < 3; ++i) {
    efd[i] = make_eventfd(1);
    ASSERT_GE(efd[i], 0);
  }
  for (int i : {1, 2, 0}) ASSERT_EQ(add(ep, efd[i], EPOLLIN, uint64_t(i)), 0);
  EXPECT_EQ(datas(ready(ep)), (std::vector<uint64_t>{1, 2, 0}));
}

TEST_P(CEpollWait, C49_NewlyReadyItemsQueueBehindRequeuedLtItems) {
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  int efd[4];
  for (int i = 0; i < 4; ++i) {
    efd[i] = make_eventfd(0);
    ASSERT_GE(efd[i], 0);
    ASSERT_EQ(add(ep, efd[i], EPOLLIN, uint64_t(i)), 0);
  }
  ASSERT_EQ(write_u64(efd[0], 1), 8);
  ASSERT_EQ(write_u64(efd[1], 1), 8);
  ASSERT_EQ(write_u64(efd[2], 1), 8);
  // Delivered: 0. Leftovers 1, 2 first, then the re-queued 0.
  EXPECT_EQ(datas(ready(ep, 1)), (std::vector<uint64_t>{0}));
  // 3 becomes ready between the calls: behind everything already queued.
  ASSERT_EQ(write_u64(efd[3], 1), 8);
  EXPECT_EQ(datas(ready(ep, 16)), (std::vector<uint64_t>{1, 2, 0, 3}));
}

TEST_P(CEpollWait, C49_DroppedItemsLeaveTheOthersInOrder) {
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  int efd[4];
  for (int i = 0; i < 4; ++i) {
    efd[i] = make_eventfd(0);
    ASSERT_GE(efd[i], 0);
    ASSERT_EQ(add(ep, efd[i], EPOLLIN, uint64_t(i)), 0);
    ASSERT_EQ(write_u64(efd[i], 1), 8);
  }
  drain(efd[1]);
  EXPECT_EQ(datas(ready(ep, 2)), (std::vector<uint64_t>{0, 2}));
  EXPECT_EQ(datas(ready(ep, 16)), (std::vector<uint64_t>{3, 0, 2}));
}

// --- C50–C52, C55–C56, F11: threads and wake-ups ---

// One thread per entry of `epfds`, each calling epoll_wait(epfds[i], maxevents 1) once with
// timeout_ms. They are started in `start_order`, each one settled asleep before the next starts
// (so the order of arrival on a shared epfd is fixed). Then `trigger` runs. A thread counts as
// woken when it returned an event within kWokenWithin of the trigger (the timeouts are chosen
// so that none expires that early).
struct WakeOutcome {
  int ret = -2;
  int err = 0;
  uint64_t data = 0;
  int64_t after_trigger_us = 0;  // negative: returned before the trigger
  int rank = -1;                 // order of return among all threads
};

constexpr int64_t kWokenWithinUs = 250'000;

// `trigger` gets the number of threads that have returned so far.
std::vector<WakeOutcome> run_waiters(const Api* sys, const std::vector<int>& epfds,
                                     const std::vector<int>& start_order, int timeout_ms,
                                     const std::function<void(const std::atomic<int>&)>& trigger) {
  const size_t n = epfds.size();
  std::vector<WakeOutcome> out(n);
  std::vector<std::thread> threads(n);
  std::atomic<int> rank{0};
  std::atomic<bool> triggered{false};
  Clock::time_point t_trigger{};
  std::mutex mu;
  for (int i : start_order) {
    std::atomic<bool> started{false};
    threads[i] = std::thread([&, i] {
      struct epoll_event ev = {};
      started.store(true);
      const int r = sys->epoll_wait(epfds[i], &ev, 1, timeout_ms);
      const int err = errno;
      const auto t = Clock::now();
      std::lock_guard g(mu);
      out[i].ret = r;
      out[i].err = err;
      out[i].data = ev.data.u64;
      out[i].rank = rank.fetch_add(1);
      out[i].after_trigger_us =
          triggered.load()
              ? std::chrono::duration_cast<std::chrono::microseconds>(t - t_trigger).count()
              : -1;
    });
    while (!started.load()) std::this_thread::yield();
    std::this_thread::sleep_for(kSettle);
  }
  {
    std::lock_guard g(mu);
    t_trigger = Clock::now();
    triggered.store(true);
  }
  trigger(rank);
  for (auto& t : threads) t.join();
  return out;
}

std::vector<WakeOutcome> run_waiters(const Api* sys, const std::vector<int>& epfds,
                                     const std::vector<int>& start_order, int timeout_ms,
                                     const std::function<void()>& trigger) {
  return run_waiters(sys, epfds, start_order, timeout_ms,
                     [&](const std::atomic<int>&) { trigger(); });
}

// Waits (bounded) until at least n threads have returned.
void await_returned(const std::atomic<int>& returned, int n) {
  const auto deadline = Clock::now() + 1000ms;
  while (returned.load() < n && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
}

// "1" for each thread woken by the trigger, "0" for each that was not.
std::string woken_pattern(const std::vector<WakeOutcome>& out) {
  std::string s;
  for (const auto& o : out)
    s += (o.ret == 1 && o.after_trigger_us >= 0 && o.after_trigger_us < kWokenWithinUs) ? '1' : '0';
  return s;
}

std::string describe(const std::vector<WakeOutcome>& out) {
  std::string s;
  for (size_t i = 0; i < out.size(); ++i) {
    s += "thread " + std::to_string(i) + ": ret " + std::to_string(out[i].ret) + " after " +
         std::to_string(out[i].after_trigger_us / 1000) + " ms, rank " +
         std::to_string(out[i].rank) + "\n";
  }
  return s;
}

// A timeout that outlasts the start-up of n threads by 400 ms.
int waiter_timeout_ms(size_t n) {
  return int(n * kSettle.count() + 400);
}

TEST_P(CEpollWait, C51_EtWakesOneThreadTheLastToArrive) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 1), 0);
  auto out =
      run_waiters(sys, {ep, ep, ep}, {0, 1, 2}, waiter_timeout_ms(3), [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "001") << describe(out);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(out[i].ret, 0) << describe(out);
}

TEST_P(CEpollWait, C51_SuccessiveEtWritesWakeWaitersLastInFirstOut) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 1), 0);
  constexpr int kThreads = 4;
  std::vector<WakeOutcome> out =
      run_waiters(sys, std::vector<int>(kThreads, ep), {0, 1, 2, 3},
                  waiter_timeout_ms(kThreads) + 1600, [&](const std::atomic<int>& returned) {
                    // One write per waiter, each once the previous write's waiter has returned
                    // (a write while the item is still queued would wake a second waiter that
                    // then finds nothing and sleeps again, at the head).
                    for (int k = 0; k < kThreads; ++k) {
                      write_u64(efd, 1);
                      await_returned(returned, k + 1);
                    }
                  });
  // Returned in the order 3, 2, 1, 0.
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(out[i].ret, 1) << describe(out);
    EXPECT_EQ(out[i].rank, kThreads - 1 - i) << describe(out);
  }
}

TEST_P(CEpollWait, C52_LtCascadeWakesEveryThread) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  auto out =
      run_waiters(sys, {ep, ep, ep}, {0, 1, 2}, waiter_timeout_ms(3), [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "111") << describe(out);
}

TEST_P(CEpollWait, F11_FourThreadsOnOneEpfdEtWakesTheLastArrival) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 1), 0);
  auto out = run_waiters(sys, {ep, ep, ep, ep}, {0, 1, 2, 3}, waiter_timeout_ms(4),
                         [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "0001") << describe(out);
}

TEST_P(CEpollWait, F11_FourThreadsOnOneEpfdLtWakesAllFour) {
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN, 1), 0);
  auto out = run_waiters(sys, {ep, ep, ep, ep}, {0, 1, 2, 3}, waiter_timeout_ms(4),
                         [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "1111") << describe(out);
}

TEST_P(CEpollWait, C50_TwoItemsReadyFromOneWakeupReachTwoWaiters) {
  // One write wakes two items on one epfd (the same eventfd under two fd numbers, C21); with
  // maxevents 1, each of the two waiters gets a different one.
  const int ep = make_epoll();
  const int efd = make_eventfd(0);
  ASSERT_GE(ep, 0);
  ASSERT_GE(efd, 0);
  const int dup = sys->dup(efd);
  ASSERT_GE(own(dup), 0);
  ASSERT_EQ(add(ep, efd, EPOLLIN | EPOLLET, 1), 0);
  ASSERT_EQ(add(ep, dup, EPOLLIN | EPOLLET, 2), 0);
  auto out = run_waiters(sys, {ep, ep}, {0, 1}, waiter_timeout_ms(2), [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "11") << describe(out);
  EXPECT_NE(out[0].data, out[1].data);
  EXPECT_EQ(ready(ep), std::vector<Ev>{});
}

// One epoll instance per thread, all watching one eventfd.
class CEpollWaitInstances : public CEpollWait {
 protected:
  // Creates n instances; instance i watches efd with events[i] (data i).
  std::vector<int> make_instances(int efd, const std::vector<uint32_t>& events) {
    std::vector<int> eps;
    for (size_t i = 0; i < events.size(); ++i) {
      const int ep = make_epoll();
      EXPECT_GE(ep, 0);
      EXPECT_EQ(add(ep, efd, events[i], i), 0) << i << ": " << strerror(errno);
      eps.push_back(ep);
    }
    return eps;
  }
};

TEST_P(CEpollWaitInstances, F11_FourNonExclusiveInstancesAllWake) {
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  auto eps = make_instances(efd, {EPOLLIN, EPOLLIN, EPOLLIN | EPOLLET, EPOLLIN | EPOLLET});
  auto out = run_waiters(sys, eps, {0, 1, 2, 3}, waiter_timeout_ms(4), [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "1111") << describe(out);
}

TEST_P(CEpollWaitInstances, F11_FourExclusiveInstancesOneWakes) {
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  auto eps = make_instances(efd, std::vector<uint32_t>(4, EPOLLIN | EPOLLEXCLUSIVE));
  auto out = run_waiters(sys, eps, {0, 1, 2, 3}, waiter_timeout_ms(4), [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "1000") << describe(out);
  // The others did not even queue it.
  for (size_t i = 1; i < eps.size(); ++i) EXPECT_EQ(ready(eps[i]), std::vector<Ev>{}) << i;
}

TEST_P(CEpollWaitInstances, C55_ExclusiveWakeGoesToTheEarliestRegisteredNotTheEarliestWaiter) {
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  auto eps = make_instances(efd, std::vector<uint32_t>(3, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET));
  // Threads arrive in the reverse order of registration.
  auto out = run_waiters(sys, eps, {2, 1, 0}, waiter_timeout_ms(3), [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "100") << describe(out);
}

TEST_P(CEpollWaitInstances, C55_AllNonExclusivePlusOneExclusive) {
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  auto eps =
      make_instances(efd, {EPOLLIN, EPOLLIN | EPOLLEXCLUSIVE, EPOLLIN, EPOLLIN | EPOLLEXCLUSIVE});
  auto out = run_waiters(sys, eps, {0, 1, 2, 3}, waiter_timeout_ms(4), [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "1110") << describe(out);
}

TEST_P(CEpollWaitInstances, C55_EachWakeupWakesTheNextExclusiveWhenTheFirstIsBusy) {
  // The first exclusive instance's waiter has left after its event: the next write finds no
  // waiter there (the event is queued on it anyway) and wakes the second instance.
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  auto eps = make_instances(efd, std::vector<uint32_t>(3, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET));
  auto out = run_waiters(sys, eps, {0, 1, 2}, waiter_timeout_ms(3) + 100,
                         [&](const std::atomic<int>& returned) {
                           write_u64(efd, 1);
                           await_returned(returned, 1);
                           write_u64(efd, 1);
                         });
  EXPECT_EQ(woken_pattern(out), "110") << describe(out);
  EXPECT_EQ(out[0].rank, 0) << describe(out);
  EXPECT_EQ(ready(eps[0]), (std::vector<Ev>{{EPOLLIN, 0}})) << "queued on instance 0 too";
  EXPECT_EQ(ready(eps[2]), std::vector<Ev>{});
}

TEST_P(CEpollWaitInstances, C56_ExclusiveInstanceWithoutAWaiterQueuesAndPassesTheWakeupOn) {
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  auto eps = make_instances(efd, std::vector<uint32_t>(3, EPOLLIN | EPOLLEXCLUSIVE));
  // No thread on instance 0.
  auto out =
      run_waiters(sys, {eps[1], eps[2]}, {0, 1}, waiter_timeout_ms(2), [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "10") << describe(out);
  EXPECT_EQ(ready(eps[0]), (std::vector<Ev>{{EPOLLIN, 0}})) << "instance 0 queued the event";
  EXPECT_EQ(ready(eps[2]), std::vector<Ev>{});
}

TEST_P(CEpollWaitInstances, C56_KeyOutsideTheExclusiveMaskDoesNotConsumeTheWakeup) {
  // Instance 0 watches OUT only: an IN wake-up is filtered there (C27) and goes on to instance 1.
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  auto eps = make_instances(efd, {EPOLLOUT | EPOLLEXCLUSIVE | EPOLLET, EPOLLIN | EPOLLEXCLUSIVE});
  EXPECT_EQ(ready(eps[0]), (std::vector<Ev>{{EPOLLOUT, 0}}));  // the ADD edge
  auto out = run_waiters(sys, eps, {0, 1}, waiter_timeout_ms(2), [&] { write_u64(efd, 1); });
  EXPECT_EQ(woken_pattern(out), "01") << describe(out);
  EXPECT_EQ(out[0].ret, 0) << describe(out);
}

INSTANTIATE_CONFORMANCE(CEpollWait);
INSTANTIATE_CONFORMANCE(CEpollWaitInstances);

}  // namespace
