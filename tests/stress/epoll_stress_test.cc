// Stress for epoll: producers write eventfds while several threads wait on one epoll fd and
// consume, and chaos threads ADD/MOD/DEL, dup, dup2 and close around them, for a bounded time.
// Every produced count must be consumed through epoll notifications (a lost wake-up leaves a
// count behind and fails the test). Every wait is bounded. Run under TSan and ASan too.
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr auto kRunTime = std::chrono::milliseconds(1200);
#else
constexpr auto kRunTime = std::chrono::milliseconds(1500);
#endif

struct Mode {
  const char* name;
  uint32_t events;
};

class EpollStress : public ::testing::TestWithParam<Mode> {};

TEST_P(EpollStress, EveryProducedCountIsConsumedThroughEpoll) {
  const uint32_t mode = GetParam().events;
  const bool oneshot = mode & EPOLLONESHOT;
  ustack::Host* host = ustack::host_create("epoll-stress");
  constexpr int kTracked = 8;
  constexpr int kProducers = 3;
  constexpr int kWaiters = 3;
  constexpr int kChaosSlots = 8;

  std::vector<int> efd(kTracked), chaos(kChaosSlots);
  int ep;
  int spare[2];
  {
    ustack::HostScope s(host);
    ep = ustack::epoll_create1(0);
    ASSERT_GE(ep, 0);
    for (int i = 0; i < kTracked; ++i) {
      efd[i] = ustack::eventfd(0, EFD_NONBLOCK);
      ASSERT_GE(efd[i], 0);
      struct epoll_event ev = {mode | EPOLLIN, {.u64 = uint64_t(i)}};
      ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, efd[i], &ev), 0);
    }
    ASSERT_EQ(ustack::pipe2(spare, O_NONBLOCK), 0);
    for (int i = 0; i < kChaosSlots; ++i) {
      chaos[i] = ustack::dup(spare[i % 2]);
      struct epoll_event ev = {EPOLLIN | EPOLLOUT, {.u64 = 1000 + uint64_t(i)}};
      ustack::epoll_ctl(ep, EPOLL_CTL_ADD, chaos[i], &ev);
    }
  }

  std::vector<std::atomic<uint64_t>> produced(kTracked), consumed(kTracked);
  std::atomic<bool> producing{true}, stop{false};
  std::atomic<long> errors{0}, events_seen{0};
  const auto deadline = Clock::now() + kRunTime;

  auto producer = [&](int seed) {
    ustack::HostScope s(host);
    std::mt19937 rng{unsigned(seed)};
    while (Clock::now() < deadline) {
      int i = int(rng() % kTracked);
      produced[i].fetch_add(1);  // before the write: consumed never exceeds produced
      if (ustack::eventfd_write(efd[i], 1) != 0) errors++;
      if ((rng() & 15) == 0) std::this_thread::yield();
    }
  };

  auto waiter = [&] {
    ustack::HostScope s(host);
    struct epoll_event evs[4];
    while (!stop) {
      int n = ustack::epoll_wait(ep, evs, 4, 200);
      if (n < 0) {
        errors++;
        break;
      }
      for (int k = 0; k < n; ++k) {
        events_seen++;
        uint64_t id = evs[k].data.u64;
        if (id >= 1000) continue;  // a chaos fd
        eventfd_t v;
        if (ustack::eventfd_read(efd[id], &v) == 0) consumed[id].fetch_add(v);
        if (oneshot) {
          // Re-arm. ENOENT is a chaos thread's DEL/ADD window, whose ADD re-arms instead.
          struct epoll_event ev = {mode | EPOLLIN, {.u64 = id}};
          if (ustack::epoll_ctl(ep, EPOLL_CTL_MOD, efd[id], &ev) != 0 && errno != ENOENT) errors++;
        }
      }
    }
  };

  auto chaos_thread = [&](int seed) {
    ustack::HostScope s(host);
    std::mt19937 rng{unsigned(seed) * 7919u};
    while (!stop) {
      int slot = int(rng() % kChaosSlots);
      struct epoll_event ev = {EPOLLIN | EPOLLOUT, {.u64 = 1000 + uint64_t(slot)}};
      switch (rng() % 7) {
        case 0:
          ustack::epoll_ctl(ep, EPOLL_CTL_ADD, chaos[slot], &ev);
          break;
        case 1:
          ustack::epoll_ctl(ep, EPOLL_CTL_DEL, chaos[slot], nullptr);
          break;
        case 2:
          ev.events = EPOLLIN | EPOLLET;
          ustack::epoll_ctl(ep, EPOLL_CTL_MOD, chaos[slot], &ev);
          break;
        case 3:
          ustack::close(chaos[slot]);  // removes the item silently when it is the last ref
          break;
        case 4:
          ustack::dup2(spare[rng() % 2], chaos[slot]);
          break;
        case 5: {
          // Re-register a tracked fd: ADD polls at once, so nothing produced is lost.
          int i = int(rng() % kTracked);
          struct epoll_event tev = {mode | EPOLLIN, {.u64 = uint64_t(i)}};
          if (ustack::epoll_ctl(ep, EPOLL_CTL_DEL, efd[i], nullptr) == 0 &&
              ustack::epoll_ctl(ep, EPOLL_CTL_ADD, efd[i], &tev) != 0)
            errors++;
          break;
        }
        case 6: {
          char c = 'x';
          ustack::write(spare[1], &c, 1);
          char buf[16];
          ustack::read(spare[0], buf, sizeof buf);
          break;
        }
      }
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) threads.emplace_back(waiter);
  for (int i = 0; i < 2; ++i) threads.emplace_back(chaos_thread, i);
  std::vector<std::thread> producers;
  for (int i = 0; i < kProducers; ++i) producers.emplace_back(producer, i + 1);
  for (auto& t : producers) t.join();
  producing = false;

  // Drain through the waiters: everything produced must come out within a bound.
  auto all_consumed = [&] {
    for (int i = 0; i < kTracked; ++i)
      if (consumed[i].load() != produced[i].load()) return false;
    return true;
  };
  const auto drain_deadline = Clock::now() + std::chrono::seconds(5);
  while (!all_consumed() && Clock::now() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  for (auto& t : threads) t.join();

  for (int i = 0; i < kTracked; ++i) {
    EXPECT_EQ(consumed[i].load(), produced[i].load()) << "eventfd " << i << " lost a wake-up";
  }
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(events_seen.load(), 100);
  {
    ustack::HostScope s(host);
    for (int fd : efd) ustack::close(fd);
    for (int fd : chaos) ustack::close(fd);
    ustack::close(spare[0]);
    ustack::close(spare[1]);
    ustack::close(ep);
  }
  ustack::host_put(host);
}

INSTANTIATE_TEST_SUITE_P(, EpollStress,
                         ::testing::Values(Mode{"LevelTriggered", 0}, Mode{"EdgeTriggered", EPOLLET},
                                           Mode{"OneShot", EPOLLONESHOT}),
                         [](const auto& info) { return std::string(info.param.name); });

// Nested epolls and epoll-in-poll under races: an outer epoll and a poll() both watch an inner
// epoll while producers write and a chaos thread adds and removes inner items.
TEST(EpollStressNested, OuterWaitersSeeEveryInnerEvent) {
  ustack::Host* host = ustack::host_create("epoll-nested");
  int inner, outer, e;
  {
    ustack::HostScope s(host);
    inner = ustack::epoll_create1(0);
    outer = ustack::epoll_create1(0);
    e = ustack::eventfd(0, EFD_NONBLOCK);
    struct epoll_event ev = {EPOLLIN, {.u64 = 1}};
    ASSERT_EQ(ustack::epoll_ctl(inner, EPOLL_CTL_ADD, e, &ev), 0);
    ev.data.u64 = 2;
    ASSERT_EQ(ustack::epoll_ctl(outer, EPOLL_CTL_ADD, inner, &ev), 0);
  }
  std::atomic<uint64_t> produced{0}, consumed{0};
  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  const auto deadline = Clock::now() + kRunTime;
  std::thread producer([&] {
    ustack::HostScope s(host);
    while (Clock::now() < deadline) {
      produced++;
      if (ustack::eventfd_write(e, 1) != 0) errors++;
      std::this_thread::yield();
    }
  });
  auto consumer = [&](bool use_poll) {
    ustack::HostScope s(host);
    while (!stop) {
      int n;
      if (use_poll) {
        struct pollfd p = {inner, POLLIN, 0};
        n = ustack::poll(&p, 1, 200);
      } else {
        struct epoll_event ev;
        n = ustack::epoll_wait(outer, &ev, 1, 200);
        if (n == 1 && ev.data.u64 != 2) errors++;
      }
      if (n < 0) errors++;
      eventfd_t v;
      if (n > 0 && ustack::eventfd_read(e, &v) == 0) consumed += v;
    }
  };
  std::thread c1(consumer, false), c2(consumer, true);
  producer.join();
  const auto drain_deadline = Clock::now() + std::chrono::seconds(5);
  while (consumed.load() != produced.load() && Clock::now() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  c1.join();
  c2.join();
  EXPECT_EQ(consumed.load(), produced.load());
  EXPECT_EQ(errors.load(), 0);
  {
    ustack::HostScope s(host);
    ustack::close(e);
    ustack::close(inner);
    ustack::close(outer);
  }
  ustack::host_put(host);
}

}  // namespace
