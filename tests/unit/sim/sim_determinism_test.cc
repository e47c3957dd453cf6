// Determinism of the simulation (DESIGN.md §2): a busy program of more than a thousand tasks
// over several hosts (AF_UNIX stream and datagram services, socketpairs, eventfds, pipes,
// epoll LT and ET, poll, select, nanosleeps and timeouts) gives, for one seed, the same event
// hash, the same results and the same trace, run after run; other seeds interleave it
// differently (other hashes) yet compute the same results. FIFO mode ignores the seed.
// Also: ten thousand tasks in one world.
#include <ustack/host.hpp>
#include <ustack/sim.hpp>
#include <ustack/ustack.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "unit/sim/sim_test_util.hpp"

namespace {

using simtest::kMs;
using simtest::sleep_ns;
using simtest::UnixAddr;
using ustack::sim::Options;
using ustack::sim::RunResult;
using ustack::sim::World;
using Status = RunResult::Status;

uint64_t mix(uint64_t x) {  // the services' answer to a request: any fixed function will do
  x ^= x >> 31;
  x *= 0x9e3779b97f4a7c15ull;
  return x ^ (x >> 29);
}

// The shape of the program on each host.
struct Shape {
  int hosts;
  int stream_clients;  // each connects to the host's epoll server
  int dgram_clients;   // each talks to the host's datagram server
  int pairs;           // socketpair ping-pong couples (two tasks each)
  int producers;       // eventfd producers (plus one consumer)
  int ring;            // tasks passing a token around a ring of pipes
  int rounds;          // requests per client / pair / producer; laps of the ring
  constexpr int tasks() const {
    return hosts * (1 + stream_clients + 1 + dgram_clients + 2 * pairs + producers + 1 + ring);
  }
};

// 1052 tasks. Under ThreadSanitizer far fewer: the fibers are not annotated for it
// (__tsan_switch_to_fiber), so its shadow call stack grows with every sleeping task, which
// makes a thousand tasks very slow and ten thousand abort in its stack depot.
constexpr Shape kFullShape = {4, 120, 40, 30, 20, 20, 6};
constexpr Shape kTsanShape = {2, 20, 10, 8, 5, 6, 2};
constexpr Shape kShape = simtest::kTsan ? kTsanShape : kFullShape;
static_assert(kFullShape.tasks() == 1052);
static_assert(kTsanShape.tasks() == 120);

struct Outcome {
  RunResult result;
  // Per host, in a fixed order (Slots): each stream client's, datagram client's and pinger's
  // checksum, the eventfd total, the ring's token, and the two servers' request counts.
  std::vector<uint64_t> values;
  std::string trace;
};

// Slots of one host's results in Outcome::values.
struct Slots {
  size_t base;
  const Shape& s;
  size_t stream(int i) const { return base + size_t(i); }
  size_t dgram(int i) const { return base + size_t(s.stream_clients + i); }
  size_t pair(int i) const { return base + size_t(s.stream_clients + s.dgram_clients + i); }
  size_t consumer() const { return base + size_t(s.stream_clients + s.dgram_clients + s.pairs); }
  size_t ring() const { return consumer() + 1; }
  size_t stream_served() const { return consumer() + 2; }
  size_t dgram_served() const { return consumer() + 3; }
  static size_t per_host(const Shape& s) {
    return size_t(s.stream_clients + s.dgram_clients + s.pairs + 4);
  }
};

// Per-host objects made by the setup task.
struct HostFds {
  static constexpr int kMax = 64;
  int pair[kMax][2];
  int efd = -1;
  int ring[kMax][2];
};
static_assert(kFullShape.pairs <= HostFds::kMax && kFullShape.ring <= HostFds::kMax);

// "h<host>/<role>[-<i>]" (snprintf: GCC 12's -Wrestrict misfires on string concatenation).
std::string task_name(int hi, const char* role, int i = -1) {
  char b[64];
  if (i < 0) {
    std::snprintf(b, sizeof b, "h%d/%s", hi, role);
  } else {
    std::snprintf(b, sizeof b, "h%d/%s-%d", hi, role, i);
  }
  return b;
}

void spawn_host(World& w, ustack::Host* h, int hi, const Shape& s, HostFds* fds,
                std::vector<uint64_t>* out) {
  const Slots slot{size_t(hi) * Slots::per_host(s), s};
  const UnixAddr srv_addr("stream-srv"), dg_addr("dgram-srv");

  // --- stream server: epoll, listener level-triggered, connections edge-triggered ---
  w.spawn(h, [=] {
    const int l = simtest::listener(srv_addr, 8);
    ASSERT_GE(l, 0) << strerror(errno);
    const int ep = ustack::epoll_create1(0);
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = uint64_t(l);
    ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev), 0);
    int closed = 0;
    uint64_t served = 0;
    for (int iter = 0; closed < s.stream_clients && iter < 1000000; ++iter) {
      struct epoll_event evs[8];
      const int n = ustack::epoll_wait(ep, evs, 8, 50);  // times out now and then
      ASSERT_GE(n, 0) << strerror(errno);
      for (int k = 0; k < n; ++k) {
        const int fd = int(evs[k].data.u64);
        if (fd == l) {  // one per event: LT reports the rest again
          const int c = ustack::accept4(l, nullptr, nullptr, SOCK_NONBLOCK);
          ASSERT_GE(c, 0) << strerror(errno);
          struct epoll_event cev = {};
          cev.events = EPOLLIN | EPOLLET;
          cev.data.u64 = uint64_t(c);
          ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev), 0);
          continue;
        }
        for (;;) {  // ET: drain until EAGAIN
          uint64_t req[16];
          const ssize_t got = ustack::recv(fd, req, sizeof req, 0);
          if (got < 0) {
            ASSERT_EQ(errno, EAGAIN);
            break;
          }
          if (got == 0) {
            ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr), 0);
            ustack::close(fd);
            ++closed;
            break;
          }
          ASSERT_EQ(got % 8, 0);
          for (ssize_t j = 0; j < got / 8; ++j) {
            const uint64_t rep = mix(req[j]);
            ASSERT_EQ(ustack::send(fd, &rep, 8, MSG_NOSIGNAL), 8);
            ++served;
          }
        }
      }
    }
    (*out)[slot.stream_served()] = served;
    ustack::close(ep);
    ustack::close(l);
  }, task_name(hi, "stream-srv"));

  for (int i = 0; i < s.stream_clients; ++i) {
    w.spawn(h, [=] {
      const int fd = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
      // The server may not listen yet: retry after a millisecond (a full backlog blocks).
      int tries = 0;
      while (ustack::connect(fd, srv_addr.sa(), srv_addr.len) != 0) {
        ASSERT_EQ(errno, ECONNREFUSED) << strerror(errno);
        ASSERT_LT(++tries, 1000);
        ASSERT_EQ(sleep_ns(1 * kMs), 0);
      }
      ASSERT_EQ(simtest::set_timeo_us(fd, SO_RCVTIMEO, 60 * 1000000), 0);  // never runs out
      uint64_t sum = uint64_t(i);
      for (int r = 0; r < s.rounds; ++r) {
        const uint64_t req = (uint64_t(hi) << 48) | (uint64_t(i) << 16) | uint64_t(r);
        ASSERT_EQ(ustack::send(fd, &req, 8, 0), 8);
        uint64_t rep = 0;
        ASSERT_EQ(ustack::recv(fd, &rep, 8, MSG_WAITALL), 8) << strerror(errno);
        ASSERT_EQ(rep, mix(req));
        sum = sum * 31 + rep;
        if ((i + r) % 5 == 0) {
          ASSERT_EQ(sleep_ns(int64_t(1 + i % 3) * kMs), 0);
        }
      }
      (*out)[slot.stream(i)] = sum;
      ustack::close(fd);
    }, task_name(hi, "stream-client", i));
  }

  // --- datagram server: epoll level-triggered with a timeout, replies with sendto ---
  w.spawn(h, [=] {
    const int fd = ustack::socket(AF_UNIX, SOCK_DGRAM, 0);
    ASSERT_EQ(ustack::bind(fd, dg_addr.sa(), dg_addr.len), 0);
    const int ep = ustack::epoll_create1(0);
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = 7;
    ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    uint64_t served = 0;
    const uint64_t want = uint64_t(s.dgram_clients) * uint64_t(s.rounds);
    for (int iter = 0; served < want && iter < 1000000; ++iter) {
      struct epoll_event e;
      const int n = ustack::epoll_wait(ep, &e, 1, 20);
      ASSERT_GE(n, 0);
      if (n == 0) continue;
      ASSERT_EQ(e.data.u64, 7u);
      // One datagram per wake-up: LT reports the socket again while more are queued.
      uint64_t req = 0;
      struct sockaddr_un from = {};
      socklen_t flen = sizeof from;
      ASSERT_EQ(ustack::recvfrom(fd, &req, 8, 0, reinterpret_cast<sockaddr*>(&from), &flen), 8);
      const uint64_t rep = mix(req);
      ASSERT_EQ(ustack::sendto(fd, &rep, 8, 0, reinterpret_cast<sockaddr*>(&from), flen), 8)
          << strerror(errno);
      ++served;
    }
    (*out)[slot.dgram_served()] = served;
    ustack::close(ep);
    ustack::close(fd);
  }, task_name(hi, "dgram-srv"));

  for (int i = 0; i < s.dgram_clients; ++i) {
    w.spawn(h, [=] {
      const int fd = ustack::socket(AF_UNIX, SOCK_DGRAM, 0);
      const UnixAddr me("dgram-client-" + std::to_string(i));
      ASSERT_EQ(ustack::bind(fd, me.sa(), me.len), 0);
      uint64_t sum = uint64_t(i);
      for (int r = 0; r < s.rounds; ++r) {
        const uint64_t req = (uint64_t(hi) << 48) | (uint64_t(i) << 16) | uint64_t(r) | 1u << 15;
        int tries = 0;
        while (ustack::sendto(fd, &req, 8, 0, dg_addr.sa(), dg_addr.len) != 8) {
          ASSERT_EQ(errno, ECONNREFUSED) << strerror(errno);  // not bound yet
          ASSERT_LT(++tries, 1000);
          ASSERT_EQ(sleep_ns(2 * kMs), 0);
        }
        // select, then a blocking recv.
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(fd, &rs);
        ASSERT_EQ(ustack::select(fd + 1, &rs, nullptr, nullptr, nullptr), 1);
        uint64_t rep = 0;
        ASSERT_EQ(ustack::recv(fd, &rep, 8, 0), 8);
        ASSERT_EQ(rep, mix(req));
        sum = sum * 31 + rep;
      }
      (*out)[slot.dgram(i)] = sum;
      ustack::close(fd);
    }, task_name(hi, "dgram-client", i));
  }

  // --- socketpair couples: a pinger and an echoer that transforms ---
  for (int i = 0; i < s.pairs; ++i) {
    w.spawn(h, [=] {
      const int fd = fds->pair[i][0];
      uint64_t v = uint64_t(hi * 1000 + i);
      for (int r = 0; r < s.rounds; ++r) {
        ASSERT_EQ(ustack::send(fd, &v, 8, 0), 8);
        ASSERT_EQ(ustack::recv(fd, &v, 8, MSG_WAITALL), 8);
      }
      (*out)[slot.pair(i)] = v;
      ustack::close(fd);
    }, task_name(hi, "pinger", i));
    w.spawn(h, [=] {
      const int fd = fds->pair[i][1];
      for (int r = 0; r < s.rounds; ++r) {
        struct pollfd p = {fd, POLLIN, 0};
        // Times out (and polls again) while the pinger sleeps.
        while (ustack::poll(&p, 1, 3) == 0) {
        }
        uint64_t v = 0;
        ASSERT_EQ(ustack::recv(fd, &v, 8, 0), 8);
        v = mix(v + uint64_t(r));
        if (i % 4 == 0) {
          ASSERT_EQ(sleep_ns(5 * kMs), 0);
        }
        ASSERT_EQ(ustack::send(fd, &v, 8, 0), 8);
      }
      ustack::close(fd);
    }, task_name(hi, "echoer", i));
  }

  // --- eventfd: producers add, one consumer sums through epoll ET ---
  for (int i = 0; i < s.producers; ++i) {
    w.spawn(h, [=] {
      for (int r = 0; r < s.rounds; ++r) {
        ASSERT_EQ(ustack::eventfd_write(fds->efd, uint64_t(i + 1)), 0);
        ASSERT_EQ(sleep_ns(int64_t(i % 3) * kMs), 0);
      }
    }, task_name(hi, "producer", i));
  }
  w.spawn(h, [=] {
    const int ep = ustack::epoll_create1(0);
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = 0xe0e0;
    ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, fds->efd, &ev), 0);
    const uint64_t want =
        uint64_t(s.rounds) * uint64_t(s.producers) * uint64_t(s.producers + 1) / 2;
    uint64_t total = 0;
    for (int iter = 0; total < want && iter < 1000000; ++iter) {
      struct epoll_event e;
      const int n = ustack::epoll_wait(ep, &e, 1, -1);
      ASSERT_EQ(n, 1);
      ASSERT_EQ(e.data.u64, 0xe0e0u);
      uint64_t v = 0;
      ASSERT_EQ(ustack::read(fds->efd, &v, 8), 8);  // ET: the whole count at once
      total += v;
    }
    (*out)[slot.consumer()] = total;
    ustack::close(ep);
  }, task_name(hi, "consumer"));

  // --- a token around a ring of pipes ---
  for (int i = 0; i < s.ring; ++i) {
    w.spawn(h, [=] {
      const int in = fds->ring[i][0];
      const int next = fds->ring[(i + 1) % s.ring][1];
      if (i == 0) {
        const uint64_t t = 1;
        ASSERT_EQ(ustack::write(next, &t, 8), 8);
      }
      for (int lap = 0; lap < s.rounds; ++lap) {
        uint64_t t = 0;
        ASSERT_EQ(ustack::read(in, &t, 8), 8);
        t = t * 3 + uint64_t(i);
        if (i == 0 && lap == s.rounds - 1) {
          (*out)[slot.ring()] = t;
          break;
        }
        ASSERT_EQ(ustack::write(next, &t, 8), 8);
      }
    }, task_name(hi, "ring", i));
  }
}

Outcome run_program(const Options& opts, const Shape& s, bool want_trace) {
  EXPECT_LE(s.pairs, HostFds::kMax);
  EXPECT_LE(s.ring, HostFds::kMax);
  World w(opts);
  std::vector<ustack::Host*> hosts;
  std::vector<HostFds> fds(size_t(s.hosts));
  Outcome o;
  o.values.assign(size_t(s.hosts) * Slots::per_host(s), ~0ull);
  for (int hi = 0; hi < s.hosts; ++hi) {
    ustack::Host* h = w.add_host("host" + std::to_string(hi));
    hosts.push_back(h);
    HostFds* f = &fds[size_t(hi)];
    w.spawn(h, [f, &s] {
      for (int i = 0; i < s.pairs; ++i)
        ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, f->pair[i]), 0);
      ASSERT_GE(f->efd = ustack::eventfd(0, 0), 0);
      for (int i = 0; i < s.ring; ++i) ASSERT_EQ(ustack::pipe(f->ring[i]), 0);
    }, "setup");
  }
  RunResult setup = w.run();
  EXPECT_EQ(setup.status, Status::kAllDone) << setup.deadlock;
  for (int hi = 0; hi < s.hosts; ++hi)
    spawn_host(w, hosts[size_t(hi)], hi, s, &fds[size_t(hi)], &o.values);
  o.result = w.run();
  EXPECT_EQ(o.result.status, Status::kAllDone) << o.result.deadlock;
  if (want_trace) o.trace = w.trace_text();
  return o;
}

// The results every interleaving must give, computed without the simulation.
std::vector<uint64_t> expected_values(const Shape& s) {
  std::vector<uint64_t> v(size_t(s.hosts) * Slots::per_host(s));
  for (int hi = 0; hi < s.hosts; ++hi) {
    const Slots slot{size_t(hi) * Slots::per_host(s), s};
    for (int i = 0; i < s.stream_clients; ++i) {
      uint64_t sum = uint64_t(i);
      for (int r = 0; r < s.rounds; ++r)
        sum = sum * 31 + mix((uint64_t(hi) << 48) | (uint64_t(i) << 16) | uint64_t(r));
      v[slot.stream(i)] = sum;
    }
    for (int i = 0; i < s.dgram_clients; ++i) {
      uint64_t sum = uint64_t(i);
      for (int r = 0; r < s.rounds; ++r)
        sum = sum * 31 + mix((uint64_t(hi) << 48) | (uint64_t(i) << 16) | uint64_t(r) | 1u << 15);
      v[slot.dgram(i)] = sum;
    }
    for (int i = 0; i < s.pairs; ++i) {
      uint64_t x = uint64_t(hi * 1000 + i);
      for (int r = 0; r < s.rounds; ++r) x = mix(x + uint64_t(r));
      v[slot.pair(i)] = x;
    }
    v[slot.consumer()] = uint64_t(s.rounds) * uint64_t(s.producers) * uint64_t(s.producers + 1) / 2;
    uint64_t t = 1;
    for (int lap = 0; lap < s.rounds; ++lap) {
      for (int i = 1; i < s.ring; ++i) t = t * 3 + uint64_t(i);
      t = t * 3;  // ring-0 adds 0
    }
    v[slot.ring()] = t;
    v[slot.stream_served()] = uint64_t(s.stream_clients) * uint64_t(s.rounds);
    v[slot.dgram_served()] = uint64_t(s.dgram_clients) * uint64_t(s.rounds);
  }
  return v;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

TEST(SimDeterminism, OneSeedGivesOneRunAndOtherSeedsTheSameResultsOtherwise) {
  const Shape& s = kShape;
  const std::vector<uint64_t> want = expected_values(s);
  const auto t0 = std::chrono::steady_clock::now();
  const Outcome a = run_program({.seed = 42}, s, true);
  const Outcome b = run_program({.seed = 42}, s, true);
  std::printf("[ timing   ] %d tasks, %llu switches, %.3f virtual s: %.1f ms per run\n", s.tasks(),
              (unsigned long long)a.result.switches, double(a.result.now_ns) / 1e9,
              ms_since(t0) / 2);
  ASSERT_EQ(a.result.status, Status::kAllDone) << a.result.deadlock;
  EXPECT_EQ(a.values, want);
  EXPECT_EQ(b.values, want);
  EXPECT_EQ(a.result.hash, b.result.hash);
  EXPECT_EQ(a.result.switches, b.result.switches);
  EXPECT_EQ(a.result.now_ns, b.result.now_ns);
  EXPECT_TRUE(a.trace == b.trace) << "traces differ for one seed";
  EXPECT_GT(a.result.now_ns, 0) << "the program sleeps and times out: virtual time passes";
  // The trace shows both the epoll callbacks and the timeouts the program relies on.
  EXPECT_NE(a.trace.find(" ep_poll_callback 0xe0e0\n"), std::string::npos);
  EXPECT_NE(a.trace.find(" timeout "), std::string::npos);

  std::set<uint64_t> hashes = {a.result.hash};
  for (uint64_t seed : {1, 2, 3, 4}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Outcome o = run_program({.seed = seed}, s, false);
    EXPECT_EQ(o.values, want);
    hashes.insert(o.result.hash);
  }
  EXPECT_EQ(hashes.size(), 5u) << "five seeds, five interleavings";
}

TEST(SimDeterminism, FifoModeIsDeterministicAndIgnoresTheSeed) {
  const Shape& s = kShape;
  const std::vector<uint64_t> want = expected_values(s);
  const Outcome a = run_program({.seed = 5, .fifo = true}, s, true);
  const Outcome b = run_program({.seed = 5, .fifo = true}, s, true);
  const Outcome c = run_program({.seed = 99, .fifo = true}, s, false);
  const Outcome r = run_program({.seed = 5}, s, false);
  ASSERT_EQ(a.result.status, Status::kAllDone) << a.result.deadlock;
  EXPECT_EQ(a.values, want);
  EXPECT_EQ(b.values, want);
  EXPECT_EQ(c.values, want);
  EXPECT_EQ(r.values, want);
  EXPECT_EQ(a.result.hash, b.result.hash);
  EXPECT_TRUE(a.trace == b.trace) << "traces differ in FIFO mode";
  EXPECT_EQ(a.result.hash, c.result.hash) << "FIFO mode draws no random numbers";
  EXPECT_EQ(a.result.switches, c.result.switches);
  EXPECT_NE(a.result.hash, r.result.hash) << "the seeded order is not the FIFO order";
}

// A smaller program whose seeds are easy to compare: a trace is a function of the seed alone,
// whatever ran in the process before (heap addresses, fd numbers of other worlds, ...).
TEST(SimDeterminism, ARunDoesNotDependOnWhatRanBeforeIt) {
  const Shape small = {2, 10, 5, 4, 3, 4, 2};
  const Outcome first = run_program({.seed = 8}, small, true);
  // Leave garbage behind: another world, a default-host socket and heap churn.
  (void)run_program({.seed = 9}, small, false);
  std::vector<std::vector<char>> churn;
  for (int i = 0; i < 100; ++i) churn.emplace_back(size_t(1000 + 37 * i));
  const int stray = ustack::eventfd(0, 0);
  const Outcome second = run_program({.seed = 8}, small, true);
  ustack::close(stray);
  EXPECT_EQ(first.values, expected_values(small));
  EXPECT_EQ(first.result.hash, second.result.hash);
  EXPECT_TRUE(first.trace == second.trace);
}

// Ten thousand tasks in one world: 5000 couples, each exchanging three values over a
// socketpair, a pair of eventfds or a pair of pipes. (500 under ThreadSanitizer: kShape.)
TEST(SimDeterminism, TenThousandTasksInOneWorld) {
  constexpr int kHosts = 4;
  constexpr int kCouplesPerHost = simtest::kTsan ? 63 : 1250;
  static_assert(simtest::kTsan || kHosts * kCouplesPerHost * 2 == 10000);
  constexpr int kRounds = 3;
  struct Couple {
    int kind;    // 0 socketpair, 1 eventfds, 2 pipes
    int a[2];    // a->b: socketpair end / eventfd / pipe
    int b[2];    // b->a
  };
  std::vector<std::vector<Couple>> couples(kHosts, std::vector<Couple>(kCouplesPerHost));
  std::vector<uint64_t> got(size_t(kHosts * kCouplesPerHost), 0);
  World w({.seed = 2024});
  std::vector<ustack::Host*> hosts;
  for (int hi = 0; hi < kHosts; ++hi) {
    ustack::Host* h = w.add_host("host" + std::to_string(hi));
    hosts.push_back(h);
    auto* cs = &couples[size_t(hi)];
    w.spawn(h, [cs] {
      const struct rlimit rl = {8192, 8192};
      ASSERT_EQ(ustack::setrlimit(RLIMIT_NOFILE, &rl), 0);
      for (size_t i = 0; i < cs->size(); ++i) {
        Couple& c = (*cs)[i];
        c.kind = int(i % 3);
        switch (c.kind) {
          case 0:
            ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, c.a), 0);
            c.b[0] = c.a[1];
            c.b[1] = c.a[0];
            break;
          case 1:
            ASSERT_GE(c.a[0] = c.a[1] = ustack::eventfd(0, 0), 0);
            ASSERT_GE(c.b[0] = c.b[1] = ustack::eventfd(0, 0), 0);
            break;
          case 2:
            ASSERT_EQ(ustack::pipe(c.a), 0);
            ASSERT_EQ(ustack::pipe(c.b), 0);
            std::swap(c.a[0], c.a[1]);  // a[0]: A writes; a[1]: B reads
            std::swap(c.b[0], c.b[1]);  // b[0]: B writes; b[1]: A reads
            break;
        }
      }
    }, "setup");
  }
  const auto t0 = std::chrono::steady_clock::now();
  RunResult r = w.run();
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock;
  // send: the value goes from `to_fd`; recv: from `from_fd`. Socketpairs and pipes carry 8
  // bytes; an eventfd carries the value itself (never 0: values start at 1).
  auto put = [](int kind, int fd, uint64_t v) {
    if (kind == 0) return ustack::send(fd, &v, 8, 0) == 8;
    if (kind == 1) return ustack::eventfd_write(fd, v) == 0;
    return ustack::write(fd, &v, 8) == 8;
  };
  auto get = [](int kind, int fd, uint64_t* v) {
    if (kind == 0) return ustack::recv(fd, v, 8, MSG_WAITALL) == 8;
    if (kind == 1) return ustack::eventfd_read(fd, v) == 0;
    return ustack::read(fd, v, 8) == 8;
  };
  for (int hi = 0; hi < kHosts; ++hi) {
    for (int i = 0; i < kCouplesPerHost; ++i) {
      const Couple* c = &couples[size_t(hi)][size_t(i)];
      uint64_t* slot = &got[size_t(hi * kCouplesPerHost + i)];
      w.spawn(hosts[size_t(hi)], [c, slot, put, get, i] {
        uint64_t v = uint64_t(i + 1);
        for (int k = 0; k < kRounds; ++k) {
          ASSERT_TRUE(put(c->kind, c->a[0], v));
          ASSERT_TRUE(get(c->kind, c->b[1], &v));
        }
        *slot = v;
      });
      w.spawn(hosts[size_t(hi)], [c, get, put] {
        for (int k = 0; k < kRounds; ++k) {
          uint64_t v = 0;
          ASSERT_TRUE(get(c->kind, c->a[1], &v));
          ASSERT_TRUE(put(c->kind, c->b[0], v * 2 + 1));
        }
      });
    }
  }
  r = w.run();
  const double wall_ms = ms_since(t0);
  std::printf("[ timing   ] %d tasks: %.1f ms wall, %llu switches\n",
              2 * kHosts * kCouplesPerHost, wall_ms, (unsigned long long)r.switches);
  ASSERT_EQ(r.status, Status::kAllDone) << r.deadlock.substr(0, 2000);
  EXPECT_EQ(r.now_ns, 0) << "nobody sleeps on a timer";
  for (int hi = 0; hi < kHosts; ++hi) {
    for (int i = 0; i < kCouplesPerHost; ++i) {
      uint64_t v = uint64_t(i + 1);
      for (int k = 0; k < kRounds; ++k) v = v * 2 + 1;
      ASSERT_EQ(got[size_t(hi * kCouplesPerHost + i)], v) << "host " << hi << " couple " << i;
    }
  }
}

}  // namespace
