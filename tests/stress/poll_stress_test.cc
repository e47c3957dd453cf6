// Stress: many threads race poll/select sleeps against writes, reads, close, dup and dup2 on
// shared fds, for a bounded time. Every sleep is bounded, so a lost wake-up fails the test
// (a timeout where an event was already published) instead of hanging it. Run under TSan and
// ASan by `make test`.
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr auto kRunTime = std::chrono::milliseconds(1500);
#else
constexpr auto kRunTime = std::chrono::milliseconds(2000);
#endif
constexpr int kWaitBoundMs = 3000;  // far above any legitimate wake-up latency

// Ping-pong pairs through eventfds, the pongers sleeping in poll or select over their eventfd
// plus chaos fds that other threads close, dup and dup2 all the time.
TEST(PollStress, PingPongWithCloseDupChaos) {
  ustack::Host* host = ustack::host_create("stress");
  constexpr int kPairs = 3;   // 6 threads
  constexpr int kChaos = 3;   // 3 more threads
  constexpr int kChaosSlots = 16;

  std::vector<int> a(kPairs), b(kPairs);
  std::vector<int> chaos(kChaosSlots);
  int src_pipe[2];
  {
    ustack::HostScope s(host);
    for (int i = 0; i < kPairs; ++i) {
      a[i] = ustack::eventfd(0, EFD_NONBLOCK);
      b[i] = ustack::eventfd(0, EFD_NONBLOCK);
      ASSERT_GE(a[i], 0);
      ASSERT_GE(b[i], 0);
    }
    ASSERT_EQ(ustack::pipe2(src_pipe, O_NONBLOCK), 0);
    for (int i = 0; i < kChaosSlots; ++i) chaos[i] = ustack::dup(src_pipe[i % 2]);
  }

  std::atomic<bool> stop{false};            // every pair is done: chaos threads end
  std::atomic<int> pairs_left{kPairs};
  std::vector<std::atomic<bool>> done(kPairs);  // pinger i has no ping outstanding any more
  std::atomic<long> round_trips{0}, lost{0}, errors{0};
  const auto deadline = Clock::now() + kRunTime;

  auto pinger = [&](int i) {
    ustack::HostScope s(host);
    eventfd_t v;
    while (Clock::now() < deadline) {
      if (ustack::eventfd_write(a[i], 1) != 0) errors++;
      struct pollfd p = {b[i], POLLIN, 0};
      int n = ustack::poll(&p, 1, kWaitBoundMs);
      if (n != 1) {
        lost++;  // the ponger answers every ping: a timeout here is a lost wake-up
        break;
      }
      if (ustack::eventfd_read(b[i], &v) != 0) errors++;
      round_trips++;
    }
    done[i] = true;
    ustack::eventfd_write(a[i], 1);  // let the ponger see `done` now, not at its bound
    if (--pairs_left == 0) stop = true;
  };

  auto ponger = [&](int i, bool use_select) {
    ustack::HostScope s(host);
    std::mt19937 rng{unsigned(i)};
    eventfd_t v;
    while (!done[i]) {
      // The eventfd plus a few chaos fds, which may be closed or replaced while we sleep.
      std::vector<struct pollfd> fds;
      fds.push_back({a[i], POLLIN, 0});
      for (int k = 0; k < 3; ++k) fds.push_back({chaos[rng() % kChaosSlots], POLLOUT, 0});
      const auto t0 = Clock::now();
      int n;
      if (use_select) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(a[i], &rd);
        struct timeval tv = {kWaitBoundMs / 1000, 0};
        n = ustack::select(a[i] + 1, &rd, nullptr, nullptr, &tv);
        if (n == 1 && !FD_ISSET(a[i], &rd)) errors++;
      } else {
        n = ustack::poll(fds.data(), fds.size(), kWaitBoundMs);
      }
      if (n < 0) {
        errors++;
        break;
      }
      if (ustack::eventfd_read(a[i], &v) == 0) {
        if (ustack::eventfd_write(b[i], 1) != 0) errors++;
      } else if (n == 0 && !done[i] &&
                 Clock::now() - t0 >= std::chrono::milliseconds(kWaitBoundMs)) {
        lost++;  // the pinger pings until `done`: a full bound with nothing is a lost wake-up
      }
    }
  };

  auto chaos_thread = [&](int seed) {
    ustack::HostScope s(host);
    std::mt19937 rng{unsigned(seed) * 7919u};
    char buf[512] = {};
    while (!stop) {
      int slot = int(rng() % kChaosSlots);
      switch (rng() % 5) {
        case 0:
          ustack::close(chaos[slot]);
          break;
        case 1: {
          int fd = ustack::dup(src_pipe[rng() % 2]);
          if (fd >= 0) ustack::close(fd);
          break;
        }
        case 2:
          ustack::dup2(src_pipe[rng() % 2], chaos[slot]);
          break;
        case 3:
          ustack::write(src_pipe[1], buf, rng() % sizeof buf);
          break;
        case 4:
          ustack::read(src_pipe[0], buf, sizeof buf);
          break;
      }
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kPairs; ++i) {
    threads.emplace_back(pinger, i);
    threads.emplace_back(ponger, i, i % 2 == 1);
  }
  for (int i = 0; i < kChaos; ++i) threads.emplace_back(chaos_thread, i);
  for (auto& t : threads) t.join();

  EXPECT_EQ(lost.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(round_trips.load(), 100);
  ustack::host_put(host);
}

// A25 under races: pollers sleep on a pipe whose fd another thread closes and dup2s over,
// while a writer keeps writing through a second fd of the same pipe. The poll entry holds the
// file, so every write still wakes the poller.
TEST(PollStress, CloseWhilePollingKeepsTheFileAlive) {
  ustack::Host* host = ustack::host_create("stress-close");
  int p[2];
  int wdup, rdup;
  {
    ustack::HostScope s(host);
    ASSERT_EQ(ustack::pipe2(p, O_NONBLOCK), 0);
    wdup = ustack::dup(p[1]);
    rdup = ustack::dup(p[0]);  // the writer drains through this one: p[0] keeps changing
    ASSERT_GE(wdup, 0);
    ASSERT_GE(rdup, 0);
  }
  std::atomic<bool> stop{false};
  std::atomic<long> polls{0}, errors{0};
  const auto deadline = Clock::now() + kRunTime;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      ustack::HostScope s(host);
      while (!stop) {
        struct pollfd pfd = {p[0], POLLIN, 0};
        int n = ustack::poll(&pfd, 1, 200);  // p[0] may be the idle spare meanwhile
        if (n < 0) errors++;
        polls++;
      }
    });
  }
  threads.emplace_back([&] {
    ustack::HostScope s(host);
    char c = 'x';
    while (Clock::now() < deadline) {
      ustack::write(wdup, &c, 1);
      char buf[64];
      ustack::read(rdup, buf, sizeof buf);
    }
    stop = true;
    ustack::write(wdup, &c, 1);
  });
  threads.emplace_back([&] {
    ustack::HostScope s(host);
    std::mt19937 rng(42);
    int spare;
    int q[2];
    ASSERT_EQ(ustack::pipe2(q, O_NONBLOCK), 0);
    spare = q[0];
    while (!stop) {
      // Swap what p[0] refers to: the pipe's read end, or a spare pipe's.
      int keep = ustack::dup(p[0]);
      if (keep >= 0) {
        ustack::dup2(spare, p[0]);
        std::this_thread::yield();
        ustack::dup2(keep, p[0]);
        ustack::close(keep);
      }
    }
    ustack::close(q[0]);
    ustack::close(q[1]);
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(polls.load(), 0);
  ustack::host_put(host);
}

}  // namespace

namespace {

// fdget's light path: the sole user of a fresh host reads, writes and polls without taking
// file references, while other threads arrive and close and dup2 over the very fds it uses.
// The first arrival makes the table shared and must wait for the light uses to end; ASan
// catches a file freed under a light user. Repeated over many fresh hosts.
TEST(FdgetLightStress, TableBecomesSharedWhileTheSoleUserIsBusy) {
  constexpr int kRounds = 60;
  std::atomic<long> errors{0};
  for (int round = 0; round < kRounds; ++round) {
    ustack::Host* host = ustack::host_create("light");
    ustack::HostScope s(host);
    int e[4];
    for (int& fd : e) fd = ustack::eventfd(0, EFD_NONBLOCK);
    int ep = ustack::epoll_create1(0);
    for (int fd : e) {
      struct epoll_event ev = {EPOLLIN, {.u64 = uint64_t(fd)}};
      ustack::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    std::atomic<bool> go{false}, stop{false};
    std::vector<std::thread> intruders;
    for (int k = 0; k < 3; ++k) {
      intruders.emplace_back([&, k] {
        ustack::HostScope hs(host);
        while (!go) std::this_thread::yield();
        for (int i = 0; i < 50 && !stop; ++i) {
          int victim = e[(i + k) % 4];
          if (i % 2) {
            ustack::close(victim);  // may free the file the sole user is using right now
          } else {
            int fresh = ustack::eventfd(1, EFD_NONBLOCK);
            if (fresh >= 0) {
              ustack::dup2(fresh, victim);
              ustack::close(fresh);
            }
          }
        }
      });
    }
    eventfd_t v;
    struct epoll_event evs[4];
    for (int i = 0; i < 400; ++i) {
      if (i == 50) go = true;
      for (int fd : e) {
        ustack::eventfd_write(fd, 1);  // EBADF once closed: fine
        ustack::eventfd_read(fd, &v);
      }
      if (ustack::epoll_wait(ep, evs, 4, 0) < 0) errors++;
    }
    stop = true;
    for (auto& t : intruders) t.join();
    for (int fd : e) ustack::close(fd);
    ustack::close(ep);
    ustack::host_put(host);
  }
  EXPECT_EQ(errors.load(), 0);
}

}  // namespace
