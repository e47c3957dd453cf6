// Mixed waiting under load, in an unmodified program run under ustack-run: consumer threads
// sleep in ustack epolls and polls that watch ustack socketpairs and kernel FIFOs together,
// producer threads write tokens to random ones of both kinds, a chaos thread adds and removes
// fresh kernel fds (new hidden-epoll registrations) and interrupts the consumers with a
// SA_RESTART signal. Every token written must be read, and no wait may time out while tokens
// are outstanding: a lost wake-up (doorbell, harvest, kick, signal ring) shows up as a timeout.
// Bounded in time; no ustack header or library (tests/preload/CMakeLists.txt).
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kConsumers = 4;       // two on epoll, two on poll
constexpr int kPerConsumer = 6;     // 3 ustack socketpair ends + 3 kernel FIFOs each
constexpr int kProducers = 3;
constexpr int kTokensPerProducer = 20000;
constexpr int kWaitTimeoutMs = 3000;  // far above any honest wake-up latency
constexpr auto kDeadline = std::chrono::seconds(60);

std::atomic<long> g_signals{0};
void on_usr1(int) { g_signals.fetch_add(1, std::memory_order_relaxed); }

struct Channel {
  int rfd = -1;  // what a consumer watches
  int wfd = -1;  // what a producer writes
  bool kernel = false;
};

class PreloadStress : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(dlsym(RTLD_DEFAULT, "ustack_preload_fd_kind"), nullptr)
        << "not running under ustack-run";
    char tmpl[] = "/tmp/ustack-preload-stress-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    for (const std::string& p : fifos_) unlink(p.c_str());
    rmdir(dir_.c_str());
  }
  Channel make(bool kernel) {
    Channel c;
    c.kernel = kernel;
    if (kernel) {
      const std::string p = dir_ + "/f" + std::to_string(fifos_.size());
      EXPECT_EQ(mkfifo(p.c_str(), 0600), 0);
      fifos_.push_back(p);
      c.rfd = open(p.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      c.wfd = c.rfd;
    } else {
      int sv[2];
      EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
      c.rfd = sv[0];
      c.wfd = sv[1];
    }
    return c;
  }
  std::string dir_;
  std::vector<std::string> fifos_;
};

// Reads everything available on fd; returns the bytes read.
long drain(int fd) {
  char buf[4096];
  long total = 0;
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      total += n;
      continue;
    }
    return total;
  }
}

TEST_F(PreloadStress, EveryTokenIsSeenAcrossUstackAndKernelFds) {
  struct sigaction sa = {}, old = {};
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);

  std::vector<std::vector<Channel>> sets(kConsumers);
  std::vector<Channel> all;
  for (int c = 0; c < kConsumers; ++c) {
    for (int i = 0; i < kPerConsumer; ++i) {
      sets[c].push_back(make(i % 2 == 0));
      all.push_back(sets[c].back());
    }
  }
  const long expected = long(kProducers) * kTokensPerProducer;
  std::atomic<long> produced{0}, consumed{0};
  std::atomic<bool> producers_done{false}, stop{false};
  std::atomic<int> timeouts{0};
  std::vector<pthread_t> consumer_threads(kConsumers);
  std::atomic<int> started{0};
  const auto t0 = std::chrono::steady_clock::now();
  auto past_deadline = [&] { return std::chrono::steady_clock::now() - t0 > kDeadline; };

  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      consumer_threads[c] = pthread_self();
      started.fetch_add(1);
      const bool use_epoll = c % 2 == 0;
      int ep = -1;
      if (use_epoll) {
        ep = epoll_create1(EPOLL_CLOEXEC);
        for (const Channel& ch : sets[c]) {
          struct epoll_event ev = {};
          ev.events = EPOLLIN;
          ev.data.fd = ch.rfd;
          EXPECT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, ch.rfd, &ev), 0);
        }
      }
      while (!stop.load() && !past_deadline()) {
        int n;
        if (use_epoll) {
          struct epoll_event evs[kPerConsumer];
          n = epoll_wait(ep, evs, kPerConsumer, kWaitTimeoutMs);
          for (int i = 0; i < n; ++i) consumed.fetch_add(drain(evs[i].data.fd));
        } else {
          struct pollfd p[kPerConsumer];
          for (int i = 0; i < kPerConsumer; ++i) p[i] = {sets[c][i].rfd, POLLIN, 0};
          n = poll(p, kPerConsumer, kWaitTimeoutMs);
          for (int i = 0; i < kPerConsumer && n > 0; ++i) {
            if (p[i].revents & POLLIN) consumed.fetch_add(drain(p[i].fd));
          }
        }
        if (n < 0) {
          // epoll_wait is never restarted (C46): EINTR from our signal is expected there.
          EXPECT_EQ(errno, EINTR);
          continue;
        }
        if (n == 0 && !stop.load()) {
          // Nothing within the timeout: fine only if nothing is outstanding for us. Anything
          // still unread in our set means a wake-up was lost.
          long pending = 0;
          for (const Channel& ch : sets[c]) pending += drain(ch.rfd);
          if (pending > 0) timeouts.fetch_add(1);
          consumed.fetch_add(pending);
        }
      }
      if (ep >= 0) close(ep);
    });
  }
  while (started.load() < kConsumers) std::this_thread::yield();

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937 rng(unsigned(p) * 7919u + 1u);
      for (int i = 0; i < kTokensPerProducer && !past_deadline(); ++i) {
        const Channel& ch = all[rng() % all.size()];
        while (write(ch.wfd, "t", 1) != 1) {
          ASSERT_EQ(errno, EAGAIN);  // a full buffer: let the consumers catch up
          std::this_thread::yield();
        }
        produced.fetch_add(1);
        if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
      }
    });
  }

  // Chaos: fresh kernel fds in and out of a throwaway epoll (new proxies and hidden-epoll
  // registrations while others sleep), and SA_RESTART signals to the consumers.
  std::thread chaos([&] {
    std::mt19937 rng(12345);
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    while (!producers_done.load() && !past_deadline()) {
      const std::string path = dir_ + "/chaos";
      mkfifo(path.c_str(), 0600);
      const int k = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      unlink(path.c_str());
      struct epoll_event ev = {};
      ev.events = EPOLLIN;
      EXPECT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, k, &ev), 0);
      EXPECT_EQ(write(k, "c", 1), 1);
      struct epoll_event out;
      EXPECT_EQ(epoll_wait(ep, &out, 1, kWaitTimeoutMs), 1);
      close(k);  // leaves the epoll with it
      pthread_kill(consumer_threads[rng() % kConsumers], SIGUSR1);
      std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 1500));
    }
    close(ep);
  });

  for (std::thread& t : producers) t.join();
  producers_done = true;
  chaos.join();
  // Let the consumers take the rest.
  while (consumed.load() < produced.load() && !past_deadline())
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // A quiet phase: nobody else harvests now, so a consumer asleep in the kernel is woken by
  // its own sleep or not at all. One token on a kernel FIFO of each consumer, one at a time.
  for (int round = 0; round < 5; ++round) {
    for (int c = 0; c < kConsumers; ++c) {
      const long before = consumed.load();
      ASSERT_EQ(write(sets[c][0].kernel ? sets[c][0].wfd : sets[c][1].wfd, "q", 1), 1);
      produced.fetch_add(1);
      while (consumed.load() == before && !past_deadline())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  stop = true;
  // Wake every consumer so it sees `stop`: one more token each, counted as produced.
  for (int c = 0; c < kConsumers; ++c) {
    ASSERT_EQ(write(sets[c][0].wfd, "s", 1), 1);
    produced.fetch_add(1);
  }
  for (std::thread& t : consumers) t.join();
  for (const Channel& ch : all) consumed.fetch_add(drain(ch.rfd));

  EXPECT_FALSE(past_deadline()) << "the run did not finish in time";
  EXPECT_EQ(produced.load(), expected + 6 * kConsumers);
  EXPECT_EQ(consumed.load(), produced.load());
  EXPECT_EQ(timeouts.load(), 0) << "a wait timed out with tokens outstanding: a lost wake-up";
  EXPECT_GT(g_signals.load(), 0);
  for (const Channel& ch : all) {
    close(ch.rfd);
    if (ch.wfd != ch.rfd) close(ch.wfd);
  }
  sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
