// Blocking behaviours under the simulation scheduler, with the expectations of the threaded
// conformance tests (tests/conformance/e_socket_test.cc; spec E10-E12, E33, E38, A/B/C
// timeouts, D7/D13), but on virtual time, so every wake-up and expiry is asserted to the
// nanosecond. Each test runs under several seeds and in FIFO mode: the times and results must
// not depend on the interleaving.
//
// Timeouts: poll/select/epoll and nanosleep are hrtimers (exact, no slack in the simulation);
// SO_RCVTIMEO/SO_SNDTIMEO are rounded up to jiffies at HZ=250, i.e. to multiples of 4 ms
// (sock_set_timeout): 250 ms is 62.5 jiffies, rounded to 63 = 252 ms.
#include <ustack/sim.hpp>
#include <ustack/ustack.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "unit/sim/sim_test_util.hpp"

namespace {

using simtest::kMs;
using simtest::kSec;
using simtest::kUs;
using simtest::now;
using simtest::sleep_ns;
using simtest::UnixAddr;
using ustack::sim::Options;
using ustack::sim::RunResult;
using ustack::sim::World;
using Status = RunResult::Status;

struct Mode {
  uint64_t seed;
  bool fifo;
};

void PrintTo(const Mode& m, std::ostream* os) {
  *os << (m.fifo ? "fifo" : "seed ") << (m.fifo ? "" : std::to_string(m.seed));
}

std::string mode_name(const testing::TestParamInfo<Mode>& i) {
  return i.param.fifo ? "Fifo" : "Seed" + std::to_string(i.param.seed);
}

class SimBlocking : public testing::TestWithParam<Mode> {
 protected:
  SimBlocking() : w_(Options{.seed = GetParam().seed, .fifo = GetParam().fifo}) {
    h_ = w_.add_host("h");
  }

  // Runs fn as a task to its end before the test's own tasks exist (fd creation, listeners).
  void setup(std::function<void()> fn) {
    w_.spawn(h_, std::move(fn), "setup");
    const RunResult r = w_.run();
    ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
    t0_ = r.now_ns;
  }
  int spawn(std::function<void()> fn, const std::string& name) {
    return w_.spawn(h_, std::move(fn), name);
  }

  World w_;
  ustack::Host* h_ = nullptr;
  int64_t t0_ = 0;
};

// --- wake-ups ---

TEST_P(SimBlocking, RecvSleepsUntilSendAndReturnsAtTheSendersTime) {
  int sv[2] = {-1, -1};
  setup([&] { ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); });
  ssize_t got = -2;
  int64_t got_at = -1, sent_at = -1;
  char buf[16] = {};
  spawn([&] {
    got = ustack::recv(sv[1], buf, sizeof buf, 0);
    got_at = now();
  }, "reader");
  spawn([&] {
    ASSERT_EQ(sleep_ns(10 * kMs), 0);
    ASSERT_EQ(ustack::send(sv[0], "hello", 5, 0), 5);
    sent_at = now();
  }, "writer");
  RunResult r = w_.run_until(9 * kMs);
  ASSERT_EQ(r.status, Status::kTimeReached);
  EXPECT_EQ(r.now_ns, 9 * kMs);
  EXPECT_EQ(got, -2) << "recv returned before anything was sent";
  r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(got, 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_EQ(sent_at, 10 * kMs);
  EXPECT_EQ(got_at, 10 * kMs);
  EXPECT_EQ(r.now_ns, 10 * kMs);
}

TEST_P(SimBlocking, TwoReadersOnOneStreamBothWakeAndEachGetsOneByte) {
  int sv[2] = {-1, -1};
  setup([&] { ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); });
  char b[2] = {0, 0};
  int64_t at[2] = {-1, -1};
  for (int i = 0; i < 2; ++i) {
    spawn([&, i] {
      EXPECT_EQ(ustack::recv(sv[1], &b[i], 1, 0), 1);
      at[i] = now();
    }, "reader" + std::to_string(i));
  }
  spawn([&] {
    ASSERT_EQ(sleep_ns(10 * kMs), 0);
    ASSERT_EQ(ustack::send(sv[0], "ab", 2, 0), 2);
  }, "writer");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(at[0], 10 * kMs);
  EXPECT_EQ(at[1], 10 * kMs);
  EXPECT_TRUE((b[0] == 'a' && b[1] == 'b') || (b[0] == 'b' && b[1] == 'a'))
      << int(b[0]) << " " << int(b[1]);
}

TEST_P(SimBlocking, AcceptSleepsUntilConnect) {
  const UnixAddr a("sim-accept");
  int l = -1;
  setup([&] { ASSERT_GE(l = simtest::listener(a, 4), 0); });
  int acc = -2;
  int64_t accepted_at = -1, connected_at = -1;
  char got = 0;
  spawn([&] {
    acc = ustack::accept(l, nullptr, nullptr);
    accepted_at = now();
    ASSERT_GE(acc, 0) << strerror(errno);
    EXPECT_EQ(ustack::recv(acc, &got, 1, 0), 1);
  }, "server");
  spawn([&] {
    ASSERT_EQ(sleep_ns(20 * kMs), 0);
    const int s = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(ustack::connect(s, a.sa(), a.len), 0) << strerror(errno);
    connected_at = now();
    ASSERT_EQ(ustack::send(s, "x", 1, 0), 1);
  }, "client");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_GE(acc, 0);
  EXPECT_EQ(accepted_at, 20 * kMs);
  EXPECT_EQ(connected_at, 20 * kMs);
  EXPECT_EQ(got, 'x');
}

// E33: a unix listener with backlog 0 holds one pending connection; the next blocking connect
// sleeps on peer_wait until accept drains the queue; a non-blocking one is EAGAIN, never
// EINPROGRESS; data written before accept is delivered.
TEST_P(SimBlocking, E33_BlockingConnectOnAFullBacklogSleepsUntilAccept) {
  const UnixAddr a("sim-backlog");
  int l = -1, c1 = -1;
  setup([&] {
    ASSERT_GE(l = simtest::listener(a, 0), 0);
    c1 = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(ustack::connect(c1, a.sa(), a.len), 0) << strerror(errno);
    ASSERT_EQ(ustack::send(c1, "1", 1, 0), 1);  // before accept
    const int nb = ustack::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    errno = 0;
    EXPECT_EQ(ustack::connect(nb, a.sa(), a.len), -1);
    EXPECT_EQ(errno, EAGAIN);
    ustack::close(nb);
  });
  int cret = -2;
  int64_t connected_at = -1, second_accept_at = -1;
  std::string served;
  spawn([&] {
    const int s = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    cret = ustack::connect(s, a.sa(), a.len);
    connected_at = now();
    ASSERT_EQ(ustack::send(s, "2", 1, 0), 1);
  }, "connector");
  spawn([&] {
    ASSERT_EQ(sleep_ns(100 * kMs), 0);
    for (int i = 0; i < 2; ++i) {
      const int c = ustack::accept(l, nullptr, nullptr);
      ASSERT_GE(c, 0) << strerror(errno);
      if (i == 1) second_accept_at = now();
      char b = 0;
      ASSERT_EQ(ustack::recv(c, &b, 1, 0), 1);
      served += b;
    }
  }, "server");
  RunResult r = w_.run_until(99 * kMs);
  ASSERT_EQ(r.status, Status::kTimeReached);
  EXPECT_EQ(cret, -2) << "connect returned while the backlog was full";
  r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(cret, 0) << strerror(errno);
  EXPECT_EQ(connected_at, 100 * kMs);
  EXPECT_EQ(second_accept_at, 100 * kMs);
  EXPECT_EQ(served, "12");
  EXPECT_EQ(r.now_ns, 100 * kMs);
}

// --- socket timeouts (E10, E11, E38, E33) ---

// E10/E11: SO_RCVTIMEO is rounded up to 4 ms jiffies, reads back rounded, and recv fails
// EAGAIN exactly at the rounded deadline.
TEST_P(SimBlocking, E10_RcvtimeoIsRoundedUpToJiffiesAndExpiresExactlyThen) {
  struct Case {
    int64_t set_us;
    int64_t expect_ns;
  };
  const Case cases[] = {
      {250000, 252 * kMs},      // 62.5 jiffies -> 63
      {1, 4 * kMs},             // one jiffy
      {4000, 4 * kMs},          // exactly one
      {4001, 8 * kMs},          // just over: two
      {100000, 100 * kMs},      // 25 jiffies exactly
      {1000001, 1004 * kMs},    // 250 + 0.00025 jiffies -> 251
  };
  int sv[2] = {-1, -1};
  setup([&] { ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); });
  int64_t total = 0;
  spawn([&] {
    char buf[8];
    for (const Case& c : cases) {
      SCOPED_TRACE("SO_RCVTIMEO " + std::to_string(c.set_us) + " us");
      ASSERT_EQ(simtest::set_timeo_us(sv[1], SO_RCVTIMEO, c.set_us), 0);
      EXPECT_EQ(simtest::get_timeo_us(sv[1], SO_RCVTIMEO), c.expect_ns / kUs);
      const int64_t t0 = now();
      errno = 0;
      EXPECT_EQ(ustack::recv(sv[1], buf, sizeof buf, 0), -1);
      EXPECT_EQ(errno, EAGAIN);
      EXPECT_EQ(now() - t0, c.expect_ns);
      total += c.expect_ns;
    }
    // E11: a partial MSG_WAITALL read returns the count at the same deadline.
    ASSERT_EQ(simtest::set_timeo_us(sv[1], SO_RCVTIMEO, 250000), 0);
    ASSERT_EQ(ustack::send(sv[0], "abc", 3, 0), 3);
    int64_t t0 = now();
    EXPECT_EQ(ustack::recv(sv[1], buf, sizeof buf, MSG_WAITALL), 3);
    EXPECT_EQ(now() - t0, 252 * kMs);
    total += 252 * kMs;
    // E10: a negative tv_sec acts as non-blocking: EAGAIN at once.
    struct timeval neg = {-1, 0};
    ASSERT_EQ(ustack::setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &neg, sizeof neg), 0);
    t0 = now();
    errno = 0;
    EXPECT_EQ(ustack::recv(sv[1], buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(now(), t0);
  }, "reader");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(r.now_ns, total);
  EXPECT_EQ(total, (252 + 4 + 4 + 8 + 100 + 1004 + 252) * kMs);
}

// E11: SO_SNDTIMEO on a full socket: EAGAIN at the rounded deadline when nothing fits, the
// partial count when some did; a drain by the peer wakes the sender at the drain's time.
TEST_P(SimBlocking, E11_SndtimeoOnAFullSocket) {
  int full[2] = {-1, -1}, part[2] = {-1, -1}, woken[2] = {-1, -1};
  size_t filled = 0;
  setup([&] {
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, full), 0);
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, part), 0);
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, woken), 0);
    ASSERT_GT(filled = simtest::fill(full[0]), 0u);
    ASSERT_EQ(simtest::fill(woken[0]), filled);
  });
  ssize_t part_n = -2, woken_n = -2;
  int64_t woken_at = -1;
  spawn([&] {
    ASSERT_EQ(simtest::set_timeo_us(full[0], SO_SNDTIMEO, 250000), 0);
    int64_t t0 = now();
    errno = 0;
    EXPECT_EQ(ustack::send(full[0], "x", 1, MSG_NOSIGNAL), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(now() - t0, 252 * kMs);
    // Part of a large send fits: the count, at the deadline.
    ASSERT_EQ(simtest::set_timeo_us(part[0], SO_SNDTIMEO, 250000), 0);
    std::vector<char> big(4 << 20, 'p');
    t0 = now();
    part_n = ustack::send(part[0], big.data(), big.size(), MSG_NOSIGNAL);
    EXPECT_EQ(now() - t0, 252 * kMs);
  }, "sender");
  spawn([&] {
    ASSERT_EQ(simtest::set_timeo_us(woken[0], SO_SNDTIMEO, 1000000), 0);
    char buf[100] = {};
    woken_n = ustack::send(woken[0], buf, sizeof buf, MSG_NOSIGNAL);
    woken_at = now();
  }, "woken-sender");
  spawn([&] {
    ASSERT_EQ(sleep_ns(10 * kMs), 0);
    EXPECT_EQ(simtest::drain(woken[1]), filled);
  }, "drainer");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_GT(part_n, 0);
  EXPECT_LT(part_n, ssize_t(4 << 20));
  EXPECT_EQ(woken_n, 100);
  EXPECT_EQ(woken_at, 10 * kMs);
  EXPECT_EQ(r.now_ns, 2 * 252 * kMs);
  // What the partial send queued is all there.
  ssize_t drained = -1;
  spawn([&] { drained = ssize_t(simtest::drain(part[1])); }, "check");
  ASSERT_EQ(w_.run().status, Status::kAllDone);
  EXPECT_EQ(drained, part_n);
}

// E38: accept with SO_RCVTIMEO fails EAGAIN at the rounded deadline; E33: a blocking connect
// on a full backlog with SO_SNDTIMEO fails EAGAIN (TCP's would be EINPROGRESS) at its deadline.
TEST_P(SimBlocking, E38_E33_AcceptAndConnectTimeouts) {
  const UnixAddr a("sim-acc-timeo"), b("sim-conn-timeo");
  int la = -1, lb = -1;
  setup([&] {
    ASSERT_GE(la = simtest::listener(a, 4), 0);
    ASSERT_GE(lb = simtest::listener(b, 0), 0);
    const int c = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(ustack::connect(c, b.sa(), b.len), 0);  // b's queue is now full
  });
  spawn([&] {
    ASSERT_EQ(simtest::set_timeo_us(la, SO_RCVTIMEO, 250000), 0);
    const int64_t t0 = now();
    errno = 0;
    EXPECT_EQ(ustack::accept(la, nullptr, nullptr), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(now() - t0, 252 * kMs);
  }, "acceptor");
  spawn([&] {
    const int s = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(simtest::set_timeo_us(s, SO_SNDTIMEO, 10000), 0);  // 2.5 jiffies -> 12 ms
    const int64_t t0 = now();
    errno = 0;
    EXPECT_EQ(ustack::connect(s, b.sa(), b.len), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(now() - t0, 12 * kMs);
  }, "connector");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(r.now_ns, 252 * kMs);
}

// --- poll, select, epoll: hrtimer deadlines, exact ---

TEST_P(SimBlocking, PollSelectEpollTimeoutsExpireAtTheirDeadline) {
  int efd = -1, ep = -1;
  setup([&] {
    ASSERT_GE(efd = ustack::eventfd(0, 0), 0);
    ASSERT_GE(ep = ustack::epoll_create1(0), 0);
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = 1;
    ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
  });
  int64_t total = -1;
  spawn([&] {
    int64_t t0 = now();
    struct pollfd p = {efd, POLLIN, 0};
    EXPECT_EQ(ustack::poll(&p, 1, 250), 0);  // A1
    EXPECT_EQ(now() - t0, 250 * kMs);
    EXPECT_EQ(p.revents, 0);

    t0 = now();
    EXPECT_EQ(ustack::poll(nullptr, 0, 3), 0);  // A12: a sleep
    EXPECT_EQ(now() - t0, 3 * kMs);

    t0 = now();
    EXPECT_EQ(ustack::poll(&p, 1, 0), 0);  // A2: no wait at all
    EXPECT_EQ(now(), t0);

    t0 = now();
    struct timespec ts = {0, 123456789};
    EXPECT_EQ(ustack::ppoll(&p, 1, &ts, nullptr), 0);
    EXPECT_EQ(now() - t0, 123456789);
    EXPECT_EQ(ts.tv_sec, 0);  // the wrapper leaves the caller's timespec alone (A23)
    EXPECT_EQ(ts.tv_nsec, 123456789);

    t0 = now();
    fd_set r;
    FD_ZERO(&r);
    FD_SET(efd, &r);
    struct timeval tv = {0, 250000};
    EXPECT_EQ(ustack::select(efd + 1, &r, nullptr, nullptr, &tv), 0);
    EXPECT_EQ(now() - t0, 250 * kMs);
    EXPECT_EQ(tv.tv_sec, 0);  // B12: the time not slept
    EXPECT_EQ(tv.tv_usec, 0);
    EXPECT_FALSE(FD_ISSET(efd, &r));

    t0 = now();
    FD_SET(efd, &r);
    tv = {1, 1500000};  // B11: normalised to 2.5 s
    EXPECT_EQ(ustack::select(efd + 1, &r, nullptr, nullptr, &tv), 0);
    EXPECT_EQ(now() - t0, 2500 * kMs);

    t0 = now();
    FD_SET(efd, &r);
    ts = {0, 999};
    EXPECT_EQ(ustack::pselect(efd + 1, &r, nullptr, nullptr, &ts, nullptr), 0);
    EXPECT_EQ(now() - t0, 999);

    struct epoll_event out[4];
    t0 = now();
    EXPECT_EQ(ustack::epoll_wait(ep, out, 4, 250), 0);  // C43
    EXPECT_EQ(now() - t0, 250 * kMs);

    t0 = now();
    ts = {2, 1};
    EXPECT_EQ(ustack::epoll_pwait2(ep, out, 4, &ts, nullptr), 0);  // C44
    EXPECT_EQ(now() - t0, 2 * kSec + 1);

    t0 = now();
    EXPECT_EQ(ustack::epoll_wait(ep, out, 4, 0), 0);
    EXPECT_EQ(now(), t0);
    total = now();
  }, "waiter");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  const int64_t expect = 250 * kMs + 3 * kMs + 123456789 + 250 * kMs + 2500 * kMs + 999 +
                         250 * kMs + 2 * kSec + 1;
  EXPECT_EQ(total, expect);
  EXPECT_EQ(r.now_ns, expect);
}

// The same calls woken before their deadline return at the waker's time; select writes back
// the time it did not sleep (B12).
TEST_P(SimBlocking, PollSelectEpollWokenEarlyReturnAtTheWakersTime) {
  int e1 = -1, e2 = -1, e3 = -1, ep = -1;
  setup([&] {
    ASSERT_GE(e1 = ustack::eventfd(0, 0), 0);
    ASSERT_GE(e2 = ustack::eventfd(0, 0), 0);
    ASSERT_GE(e3 = ustack::eventfd(0, 0), 0);
    ASSERT_GE(ep = ustack::epoll_create1(0), 0);
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = 0xabcdef;
    ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, e2, &ev), 0);
  });
  int pr = -2, er = -2, sr = -2;
  int64_t pat = -1, eat = -1, sat = -1;
  struct epoll_event out = {};
  struct timeval tv = {1, 0};
  spawn([&] {
    struct pollfd p = {e1, POLLIN, 0};
    pr = ustack::poll(&p, 1, 1000);
    pat = now();
    EXPECT_EQ(p.revents, POLLIN);
  }, "poller");
  spawn([&] {
    er = ustack::epoll_wait(ep, &out, 1, 1000);
    eat = now();
  }, "epoller");
  spawn([&] {
    fd_set r;
    FD_ZERO(&r);
    FD_SET(e3, &r);
    sr = ustack::select(e3 + 1, &r, nullptr, nullptr, &tv);
    sat = now();
    EXPECT_TRUE(FD_ISSET(e3, &r));
  }, "selecter");
  spawn([&] {
    ASSERT_EQ(sleep_ns(30 * kMs), 0);
    ASSERT_EQ(ustack::eventfd_write(e1, 1), 0);
    ASSERT_EQ(sleep_ns(10 * kMs), 0);
    ASSERT_EQ(ustack::eventfd_write(e2, 1), 0);
    ASSERT_EQ(sleep_ns(10 * kMs), 0);
    ASSERT_EQ(ustack::eventfd_write(e3, 1), 0);
  }, "waker");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(pr, 1);
  EXPECT_EQ(pat, 30 * kMs);
  EXPECT_EQ(er, 1);
  EXPECT_EQ(eat, 40 * kMs);
  EXPECT_EQ(out.events, uint32_t(EPOLLIN));
  EXPECT_EQ(out.data.u64, 0xabcdefu);
  EXPECT_EQ(sr, 1);
  EXPECT_EQ(sat, 50 * kMs);
  EXPECT_EQ(tv.tv_sec, 0);
  EXPECT_EQ(tv.tv_usec, 950000);
  EXPECT_EQ(r.now_ns, 50 * kMs);
}

// --- eventfd and pipes ---

TEST_P(SimBlocking, D7_D8_EventfdBlockingReadAndWriteAreWokenByTheOtherSide) {
  int rfd = -1, wfd = -1;
  setup([&] {
    ASSERT_GE(rfd = ustack::eventfd(0, 0), 0);
    ASSERT_GE(wfd = ustack::eventfd(0, 0), 0);
    ASSERT_EQ(ustack::eventfd_write(wfd, 0xfffffffffffffffeull), 0);  // full: a write blocks
  });
  eventfd_t got = 0, drained = 0, after = 0;
  int64_t got_at = -1, wrote_at = -1;
  spawn([&] {
    ASSERT_EQ(ustack::eventfd_read(rfd, &got), 0);
    got_at = now();
  }, "reader");
  spawn([&] {
    ASSERT_EQ(ustack::eventfd_write(wfd, 1), 0);
    wrote_at = now();
  }, "blocked-writer");
  spawn([&] {
    ASSERT_EQ(sleep_ns(7 * kMs), 0);
    ASSERT_EQ(ustack::eventfd_write(rfd, 5), 0);
    ASSERT_EQ(sleep_ns(2 * kMs), 0);
    ASSERT_EQ(ustack::eventfd_read(wfd, &drained), 0);
  }, "other-side");
  RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(got, 5u);
  EXPECT_EQ(got_at, 7 * kMs);
  EXPECT_EQ(drained, 0xfffffffffffffffeull);
  EXPECT_EQ(wrote_at, 9 * kMs);
  spawn([&] { ASSERT_EQ(ustack::eventfd_read(wfd, &after), 0); }, "check");
  r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(after, 1u);
}

TEST_P(SimBlocking, PipeBlockingWriteIsWokenByReadAndReadByWrite) {
  int full[2] = {-1, -1}, empty[2] = {-1, -1};
  size_t filled = 0;
  setup([&] {
    ASSERT_EQ(ustack::pipe2(full, O_NONBLOCK), 0);
    static const char page[4096] = {};
    for (int i = 0; i < 100; ++i) {
      const ssize_t n = ustack::write(full[1], page, sizeof page);
      if (n < 0) break;
      filled += size_t(n);
    }
    ASSERT_EQ(ustack::fcntl(full[0], F_SETFL, 0), 0);
    ASSERT_EQ(ustack::fcntl(full[1], F_SETFL, 0), 0);
    ASSERT_EQ(ustack::pipe(empty), 0);
  });
  EXPECT_EQ(filled, 65536u);  // 16 pages
  ssize_t wrote = -2, read_n = -2;
  int64_t wrote_at = -1, read_at = -1;
  char rb[8] = {};
  spawn([&] {
    static const char page[4096] = {};
    wrote = ustack::write(full[1], page, sizeof page);
    wrote_at = now();
  }, "writer");
  spawn([&] {
    read_n = ustack::read(empty[0], rb, sizeof rb);
    read_at = now();
  }, "reader");
  spawn([&] {
    ASSERT_EQ(sleep_ns(20 * kMs), 0);
    char page[4096];
    EXPECT_EQ(ustack::read(full[0], page, sizeof page), 4096);
    ASSERT_EQ(sleep_ns(5 * kMs), 0);
    EXPECT_EQ(ustack::write(empty[1], "pipe", 4), 4);
  }, "other-side");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(wrote, 4096);
  EXPECT_EQ(wrote_at, 20 * kMs);
  EXPECT_EQ(read_n, 4);
  EXPECT_EQ(std::string(rb, 4), "pipe");
  EXPECT_EQ(read_at, 25 * kMs);
}

// --- interrupt(): EINTR and restarts (E12, A19, B14, C46, D13) ---

// A blocking call the test interrupts at 5 ms; `wake` (run at 10 ms) completes it.
enum class Rule { kSocket, kNever, kAlways };
struct Blocker {
  const char* name;
  std::function<void()> setup;        // in the setup task
  std::function<void(bool)> timeout;  // sets SO_RCVTIMEO/SO_SNDTIMEO (or nothing)
  std::function<long()> call;
  std::function<void()> wake;
  Rule rule;   // when an SA_RESTART handler restarts the call
  long woken;  // the call's result when it completes; -2: any fd >= 0
};

std::vector<Blocker> blockers(int* s) {
  // s: a scratch array of fds shared by the lambdas (s[0..5]).
  static const UnixAddr acc_addr("sim-intr-acc"), conn_addr("sim-intr-conn");
  std::vector<Blocker> v;
  v.push_back({"recv",
               [s] { ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0); },
               [s](bool on) {
                 if (on) { ASSERT_EQ(simtest::set_timeo_us(s[1], SO_RCVTIMEO, 1000000), 0); }
               },
               [s]() -> long { char b[16]; return ustack::recv(s[1], b, sizeof b, 0); },
               [s] { ASSERT_EQ(ustack::send(s[0], "x", 1, 0), 1); },
               Rule::kSocket, 1});
  v.push_back({"send",
               [s] {
                 ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
                 ASSERT_GT(simtest::fill(s[0]), 0u);
               },
               [s](bool on) {
                 if (on) { ASSERT_EQ(simtest::set_timeo_us(s[0], SO_SNDTIMEO, 1000000), 0); }
               },
               [s]() -> long {
                 static const char b[100] = {};
                 return ustack::send(s[0], b, sizeof b, MSG_NOSIGNAL);
               },
               [s] { EXPECT_GT(simtest::drain(s[1]), 0u); },
               Rule::kSocket, 100});
  v.push_back({"accept",
               [s] { ASSERT_GE(s[0] = simtest::listener(acc_addr, 4), 0); },
               [s](bool on) {
                 if (on) { ASSERT_EQ(simtest::set_timeo_us(s[0], SO_RCVTIMEO, 1000000), 0); }
               },
               [s]() -> long { return ustack::accept(s[0], nullptr, nullptr); },
               [] {
                 const int c = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
                 ASSERT_EQ(ustack::connect(c, acc_addr.sa(), acc_addr.len), 0);
               },
               Rule::kSocket, -2});
  v.push_back({"connect",
               [s] {
                 ASSERT_GE(s[0] = simtest::listener(conn_addr, 0), 0);
                 s[1] = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
                 ASSERT_EQ(ustack::connect(s[1], conn_addr.sa(), conn_addr.len), 0);  // full
                 s[2] = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
               },
               [s](bool on) {
                 if (on) { ASSERT_EQ(simtest::set_timeo_us(s[2], SO_SNDTIMEO, 1000000), 0); }
               },
               [s]() -> long { return ustack::connect(s[2], conn_addr.sa(), conn_addr.len); },
               [s] { EXPECT_GE(ustack::accept(s[0], nullptr, nullptr), 0); },
               Rule::kSocket, 0});
  // Not sockets: poll, select and epoll_wait are never restarted after a handler (A19, B14,
  // C46); eventfd and pipe reads are (-ERESTARTSYS, D13).
  v.push_back({"poll",
               [s] { ASSERT_GE(s[0] = ustack::eventfd(0, 0), 0); },
               [](bool) {},
               [s]() -> long {
                 struct pollfd p = {s[0], POLLIN, 0};
                 return ustack::poll(&p, 1, -1);
               },
               [s] { ASSERT_EQ(ustack::eventfd_write(s[0], 1), 0); },
               Rule::kNever, 1});
  v.push_back({"select",
               [s] { ASSERT_GE(s[0] = ustack::eventfd(0, 0), 0); },
               [](bool) {},
               [s]() -> long {
                 fd_set r;
                 FD_ZERO(&r);
                 FD_SET(s[0], &r);
                 return ustack::select(s[0] + 1, &r, nullptr, nullptr, nullptr);
               },
               [s] { ASSERT_EQ(ustack::eventfd_write(s[0], 1), 0); },
               Rule::kNever, 1});
  v.push_back({"epoll_wait",
               [s] {
                 ASSERT_GE(s[0] = ustack::eventfd(0, 0), 0);
                 ASSERT_GE(s[1] = ustack::epoll_create1(0), 0);
                 struct epoll_event ev = {};
                 ev.events = EPOLLIN;
                 ASSERT_EQ(ustack::epoll_ctl(s[1], EPOLL_CTL_ADD, s[0], &ev), 0);
               },
               [](bool) {},
               [s]() -> long {
                 struct epoll_event ev;
                 return ustack::epoll_wait(s[1], &ev, 1, -1);
               },
               [s] { ASSERT_EQ(ustack::eventfd_write(s[0], 1), 0); },
               Rule::kNever, 1});
  v.push_back({"eventfd_read",
               [s] { ASSERT_GE(s[0] = ustack::eventfd(0, 0), 0); },
               [](bool) {},
               [s]() -> long { uint64_t x; return ustack::read(s[0], &x, sizeof x); },
               [s] { ASSERT_EQ(ustack::eventfd_write(s[0], 3), 0); },
               Rule::kAlways, 8});
  v.push_back({"pipe_read",
               [s] { ASSERT_EQ(ustack::pipe(s), 0); },
               [](bool) {},
               [s]() -> long { char b[8]; return ustack::read(s[0], b, sizeof b); },
               [s] { ASSERT_EQ(ustack::write(s[1], "ab", 2), 2); },
               Rule::kAlways, 2});
  return v;
}

void run_interrupt_case(const Mode& m, size_t which, bool restart, bool with_timeout) {
  int s[6] = {-1, -1, -1, -1, -1, -1};
  const Blocker b = blockers(s)[which];
  SCOPED_TRACE(std::string(b.name) + (restart ? " SA_RESTART" : " no SA_RESTART") +
               (with_timeout ? " with timeout" : ""));
  World w(Options{.seed = m.seed, .fifo = m.fifo});
  ustack::Host* h = w.add_host("h");
  w.spawn(h, [&] {
    b.setup();
    b.timeout(with_timeout);
  }, "setup");
  RunResult r = w.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  long ret = -3;
  int err = 0;
  int64_t at = -1;
  const int caller = w.spawn(h, [&] {
    errno = 0;
    ret = b.call();
    err = errno;
    at = now();
  }, "caller");
  w.spawn(h, [&] {
    ASSERT_EQ(sleep_ns(5 * kMs), 0);
    ustack::sim::current_world()->interrupt(caller, restart);
    ASSERT_EQ(sleep_ns(5 * kMs), 0);
    b.wake();
  }, "signaller");
  r = w.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(r.now_ns, 10 * kMs);
  // E12: a socket call restarts under SA_RESTART only without a timeout; poll, select and
  // epoll_wait never restart (A19, B14, C46); eventfd and pipe reads always do (D13).
  bool expect_restart = false;
  switch (b.rule) {
    case Rule::kSocket: expect_restart = restart && !with_timeout; break;
    case Rule::kNever: expect_restart = false; break;
    case Rule::kAlways: expect_restart = restart; break;
  }
  if (expect_restart) {
    if (b.woken == -2) {
      EXPECT_GE(ret, 0) << strerror(err);
    } else {
      EXPECT_EQ(ret, b.woken) << strerror(err);
    }
    EXPECT_EQ(at, 10 * kMs) << "restarted, it completes when woken";
  } else {
    EXPECT_EQ(ret, -1);
    EXPECT_EQ(err, EINTR) << strerror(err);
    EXPECT_EQ(at, 5 * kMs) << "EINTR when interrupted";
  }
}

TEST_P(SimBlocking, E12_InterruptGivesEintrOrRestartsAsLinuxWould) {
  int scratch[6];
  const size_t n = blockers(scratch).size();
  ASSERT_EQ(n, 9u);
  for (size_t i = 0; i < n; ++i) {
    run_interrupt_case(GetParam(), i, /*restart=*/false, /*with_timeout=*/false);
    run_interrupt_case(GetParam(), i, /*restart=*/true, /*with_timeout=*/false);
    if (blockers(scratch)[i].rule != Rule::kSocket) continue;  // no timeout option
    run_interrupt_case(GetParam(), i, /*restart=*/true, /*with_timeout=*/true);
    run_interrupt_case(GetParam(), i, /*restart=*/false, /*with_timeout=*/true);
  }
}

// interrupt() also works between runs (docs/simulation.md): the sleeping task becomes
// runnable and its call fails EINTR at the time the world stopped.
TEST_P(SimBlocking, InterruptBetweenRunsEndsTheSleepWithEintr) {
  int sv[2] = {-1, -1};
  setup([&] { ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); });
  ssize_t ret = -2;
  int err = 0;
  int64_t at = -1;
  const int reader = spawn([&] {
    char c;
    errno = 0;
    ret = ustack::recv(sv[1], &c, 1, 0);
    err = errno;
    at = now();
  }, "reader");
  spawn([&] { ASSERT_EQ(sleep_ns(8 * kMs), 0); }, "timer");
  RunResult r = w_.run_until(5 * kMs);
  ASSERT_EQ(r.status, Status::kTimeReached);
  EXPECT_EQ(ret, -2);
  w_.interrupt(reader, /*restart=*/false);
  r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(ret, -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_EQ(at, 5 * kMs);
  EXPECT_EQ(r.now_ns, 8 * kMs);
}

// nanosleep is never restarted and reports the exact time left.
TEST_P(SimBlocking, NanosleepInterruptedReportsTheExactTimeLeft) {
  struct timespec rem = {-1, -1};
  int ret = -2, err = 0;
  int64_t at = -1;
  const int sleeper = spawn([&] {
    struct timespec req = {1, 0};
    errno = 0;
    ret = ustack::nanosleep(&req, &rem);
    err = errno;
    at = now();
  }, "sleeper");
  spawn([&] {
    ASSERT_EQ(sleep_ns(300 * kMs + 7), 0);
    ustack::sim::current_world()->interrupt(sleeper, true);
  }, "signaller");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  EXPECT_EQ(ret, -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_EQ(at, 300 * kMs + 7);
  EXPECT_EQ(rem.tv_sec, 0);
  EXPECT_EQ(rem.tv_nsec, 700 * kMs - 7);
}

// --- deadlocks ---

TEST_P(SimBlocking, DeadlockOfTwoTasksReadingFromEachOtherIsReported) {
  int sv[2] = {-1, -1};
  setup([&] { ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); });
  ssize_t ra = -2, rb = -2;
  spawn([&] {
    ASSERT_EQ(sleep_ns(3 * kMs), 0);
    char c;
    ra = ustack::recv(sv[0], &c, 1, 0);  // waits for bob
  }, "alice");
  spawn([&] {
    char c;
    rb = ustack::recv(sv[1], &c, 1, 0);  // waits for alice
  }, "bob");
  spawn([&] { ASSERT_EQ(sleep_ns(1 * kMs), 0); }, "bystander");  // ends: not in the report
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kDeadlock);
  EXPECT_EQ(r.now_ns, 3 * kMs);
  EXPECT_EQ(ra, -2);
  EXPECT_EQ(rb, -2);
  EXPECT_EQ(r.deadlock,
            "deadlock at t=0.003000 s: every task sleeps, no timer is set\n"
            "  task 1 'alice': sleeping in unix_stream_data_wait (TASK_INTERRUPTIBLE), no timeout\n"
            "  task 2 'bob': sleeping in unix_stream_data_wait (TASK_INTERRUPTIBLE), no timeout\n");
}

// A task whose sleep has a timer is no deadlock until the timer fires; the report then lists
// only the task that is stuck for good.
TEST_P(SimBlocking, DeadlockIsDeclaredOnlyOnceNoTimerIsLeft) {
  int sv[2] = {-1, -1};
  setup([&] { ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); });
  int64_t gave_up_at = -1;
  spawn([&] {
    ASSERT_EQ(simtest::set_timeo_us(sv[0], SO_RCVTIMEO, 100000), 0);
    char c;
    errno = 0;
    EXPECT_EQ(ustack::recv(sv[0], &c, 1, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    gave_up_at = now();
  }, "patient");
  spawn([&] {
    char c;
    ustack::recv(sv[1], &c, 1, 0);
  }, "stuck");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kDeadlock);
  EXPECT_EQ(gave_up_at, 100 * kMs);
  EXPECT_EQ(r.now_ns, 100 * kMs);
  EXPECT_EQ(r.deadlock,
            "deadlock at t=0.100000 s: every task sleeps, no timer is set\n"
            "  task 2 'stuck': sleeping in unix_stream_data_wait (TASK_INTERRUPTIBLE), "
            "no timeout\n");
}

// Every kind of sleep names its kernel wait site in the report.
TEST_P(SimBlocking, DeadlockReportNamesEachWaitSite) {
  const UnixAddr a("sim-dl-acc"), b("sim-dl-conn");
  int sv[2] = {-1, -1}, dg[2] = {-1, -1}, p[2] = {-1, -1};
  int efd = -1, ep = -1, la = -1;
  setup([&] {
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_DGRAM, 0, dg), 0);
    ASSERT_EQ(ustack::pipe(p), 0);
    ASSERT_GE(efd = ustack::eventfd(0, 0), 0);
    ASSERT_GE(ep = ustack::epoll_create1(0), 0);
    ASSERT_GE(la = simtest::listener(a, 4), 0);
    const int lb = simtest::listener(b, 0);
    ASSERT_GE(lb, 0);
    const int c = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(ustack::connect(c, b.sa(), b.len), 0);  // b is full
  });
  char c;
  uint64_t x;
  struct pollfd pf = {-1, POLLIN, 0};
  struct epoll_event ev;
  spawn([&] { ustack::recv(sv[0], &c, 1, 0); }, "stream-recv");
  spawn([&] { ustack::recv(dg[0], &c, 1, 0); }, "dgram-recv");
  spawn([&] { ustack::accept(la, nullptr, nullptr); }, "accept");
  spawn([&] {
    const int s = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ustack::connect(s, b.sa(), b.len);
  }, "connect");
  spawn([&] { ustack::read(efd, &x, sizeof x); }, "eventfd-read");
  spawn([&] { ustack::read(p[0], &c, 1); }, "pipe-read");
  spawn([&] {
    pf.fd = efd;
    ustack::poll(&pf, 1, -1);
  }, "poll");
  spawn([&] { ustack::epoll_wait(ep, &ev, 1, -1); }, "epoll");
  const RunResult r = w_.run();
  ASSERT_EQ(r.status, Status::kDeadlock);
  EXPECT_EQ(r.now_ns, 0);
  const char* expect[] = {
      "  task 1 'stream-recv': sleeping in unix_stream_data_wait (TASK_INTERRUPTIBLE), "
      "no timeout\n",
      "  task 2 'dgram-recv': sleeping in __skb_wait_for_more_packets (TASK_INTERRUPTIBLE), "
      "no timeout\n",
      "  task 3 'accept': sleeping in __skb_wait_for_more_packets (TASK_INTERRUPTIBLE), "
      "no timeout\n",
      "  task 4 'connect': sleeping in unix_wait_for_peer (TASK_INTERRUPTIBLE), no timeout\n",
      "  task 5 'eventfd-read': sleeping in eventfd_read (TASK_INTERRUPTIBLE), no timeout\n",
      "  task 6 'pipe-read': sleeping in pipe_read (TASK_INTERRUPTIBLE), no timeout\n",
      "  task 7 'poll': sleeping in poll_schedule_timeout (TASK_INTERRUPTIBLE), no timeout\n",
      "  task 8 'epoll': sleeping in ep_poll (TASK_INTERRUPTIBLE), no timeout\n",
  };
  std::string want = "deadlock at t=0.000000 s: every task sleeps, no timer is set\n";
  for (const char* line : expect) want += line;
  EXPECT_EQ(r.deadlock, want);
}

INSTANTIATE_TEST_SUITE_P(Sim, SimBlocking,
                         testing::Values(Mode{1, false}, Mode{7, false}, Mode{1234, false},
                                         Mode{1, true}),
                         mode_name);

}  // namespace
