// Helpers shared by the conformance tests: timing, threads that call or wake later, scoped
// limits, signal handlers and masks, the fixture base that owns fds, and epoll event unpacking.
// Everything here goes through the `Api` table under test where the call is one of its calls.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <ostream>
#include <thread>
#include <vector>

#include "conformance/api.hpp"

// CONFORMANCE_TSAN: defined when built with ThreadSanitizer (GCC or Clang).
#if defined(__SANITIZE_THREAD__)
#define CONFORMANCE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CONFORMANCE_TSAN 1
#endif
#endif

// Skips a test that interrupts a sleeping call with a signal: ThreadSanitizer defers
// asynchronous signals to its own safe points, so the signal may land only after the call
// has returned.
#ifdef CONFORMANCE_TSAN
#define SKIP_SIGNAL_TEST_UNDER_TSAN() \
  GTEST_SKIP() << "ThreadSanitizer defers signal delivery; signal tests cannot run under it"
#else
#define SKIP_SIGNAL_TEST_UNDER_TSAN() (void)0
#endif

namespace conformance {

// An AF_UNIX address and its length, as bind/connect take them.
struct UnixAddr {
  struct sockaddr_un sun = {};
  socklen_t len = 0;
  const struct sockaddr* sa() const { return reinterpret_cast<const struct sockaddr*>(&sun); }
};

// A fresh abstract name, unique to this process and call: "\0ustack-<tag>-<pid>-<n>".
inline UnixAddr unique_abstract_name(const char* tag) {
  static std::atomic<int> counter{0};
  UnixAddr a;
  a.sun.sun_family = AF_UNIX;
  char name[64];
  const int n = std::snprintf(name, sizeof name, "ustack-%s-%d-%d", tag,
                              static_cast<int>(getpid()), counter.fetch_add(1));
  std::memcpy(a.sun.sun_path + 1, name, size_t(n));
  a.len = socklen_t(offsetof(struct sockaddr_un, sun_path) + 1 + size_t(n));
  return a;
}

using namespace std::chrono_literals;

// The clock of the calls' deadlines (CLOCK_MONOTONIC).
using Clock = std::chrono::steady_clock;

// Long enough for another thread to be asleep in its call.
inline constexpr auto kSettle = 50ms;
// A wake-up later than this is a lost wake-up.
inline constexpr auto kBound = 2000ms;

// Microseconds since t0.
inline int64_t us_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
}

// Whether the host kernel is at least major.minor (true if its release cannot be read).
inline bool kernel_at_least(int major, int minor) {
  struct utsname u;
  if (uname(&u) != 0) return true;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return true;
  return ma > major || (ma == major && mi >= minor);
}

// poll with a zero timeout on one fd (revents preset to `init`); returns revents and checks
// that the returned count agrees with it.
inline short poll_revents(const Api* sys, int fd, short events, short init = 0) {
  struct pollfd p = {fd, events, init};
  const int n = sys->poll(&p, 1, 0);
  EXPECT_EQ(n, p.revents ? 1 : 0);
  return p.revents;
}

// Fills a non-blocking pipe's write end until EAGAIN.
inline void fill_pipe(const Api* sys, int wfd) {
  static char chunk[4096];
  while (sys->write(wfd, chunk, sizeof chunk) > 0) {
  }
}

// Runs fn on another thread after `delay`; joins at scope exit.
class Later {
 public:
  template <class F>
  Later(std::chrono::milliseconds delay, F fn)
      : th_([delay, fn] {
          std::this_thread::sleep_for(delay);
          fn();
        }) {}
  ~Later() { th_.join(); }
  Later(const Later&) = delete;
  Later& operator=(const Later&) = delete;

 private:
  std::thread th_;
};

// Bounds a wait that has no timeout of its own: unless disarmed within `after`, writes 1 to the
// eventfd `efd`, which the blocked call also waits on (for epoll: an item with data of its own).
// The test asserts that efd stayed silent, so a lost wake-up fails the test instead of hanging.
class Rescue {
 public:
  Rescue(const Api* sys, int efd, std::chrono::milliseconds after)
      : th_([this, sys, efd, after] {
          std::unique_lock lk(mu_);
          if (!cv_.wait_for(lk, after, [this] { return disarmed_; })) {
            lk.unlock();
            sys->eventfd_write(efd, 1);
          }
        }) {}
  ~Rescue() { disarm(); }
  void disarm() {
    {
      std::lock_guard g(mu_);
      disarmed_ = true;
    }
    cv_.notify_all();
    if (th_.joinable()) th_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread th_;  // last: starts once the members it uses exist
};

// One call run on its own thread, so that a test can watch it block and then be woken. Every
// wait on it is bounded: a lost wake-up fails the test instead of hanging it.
class Call {
 public:
  explicit Call(std::function<long()> fn)
      : thread_([this, fn = std::move(fn)] {
          const auto t0 = Clock::now();
          long r = fn();
          err_ = errno;
          elapsed_ = Clock::now() - t0;
          result_ = r;
          done_.store(true, std::memory_order_release);
        }) {}
  ~Call() { thread_.join(); }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  bool done() const { return done_.load(std::memory_order_acquire); }
  bool wait(std::chrono::milliseconds limit = kBound) {
    const auto deadline = Clock::now() + limit;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }
  long result() const { return result_; }
  int err() const { return err_; }
  std::chrono::milliseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(elapsed_);
  }
  pthread_t handle() { return thread_.native_handle(); }

 private:
  std::atomic<bool> done_{false};
  long result_ = 0;
  int err_ = 0;
  Clock::duration elapsed_{};
  std::thread thread_;  // last: starts once the members it uses exist
};

// Sets the soft RLIMIT_NOFILE through sys (or, with only_raise, makes sure it is at least
// `cur`); restores the saved limit at scope exit, whatever happened in between.
class NofileScope {
 public:
  NofileScope(const Api* sys, rlim_t cur, bool only_raise = false) : sys_(sys) {
    if (sys->getrlimit(RLIMIT_NOFILE, &saved_) != 0) return;
    if (only_raise && saved_.rlim_cur >= cur) {
      ok_ = true;
      return;
    }
    struct rlimit lim = saved_;
    lim.rlim_cur = std::min(cur, saved_.rlim_max);
    ok_ = changed_ = lim.rlim_cur == cur && sys->setrlimit(RLIMIT_NOFILE, &lim) == 0;
  }
  ~NofileScope() {
    if (changed_) sys_->setrlimit(RLIMIT_NOFILE, &saved_);
  }
  NofileScope(const NofileScope&) = delete;
  NofileScope& operator=(const NofileScope&) = delete;
  bool ok() const { return ok_; }

 private:
  const Api* sys_;
  struct rlimit saved_ = {};
  bool ok_ = false;
  bool changed_ = false;
};

// How many times count_signal has run since the last HandlerScope was set up.
inline std::atomic<int> g_signals{0};

// The signal handler HandlerScope installs: counts in g_signals.
inline void count_signal(int) {
  g_signals.fetch_add(1, std::memory_order_relaxed);
}

// Zeroes g_signals and installs count_signal for sig through sys->sigaction; restores the old
// action at scope exit.
class HandlerScope {
 public:
  HandlerScope(const Api* sys, int sig, int flags) : sys_(sys), sig_(sig) {
    struct sigaction act = {};
    act.sa_handler = count_signal;
    sigemptyset(&act.sa_mask);
    act.sa_flags = flags;
    g_signals.store(0);
    ok_ = sys->sigaction(sig, &act, &old_) == 0;
  }
  ~HandlerScope() {
    if (ok_) sys_->sigaction(sig_, &old_, nullptr);
  }
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;
  bool ok() const { return ok_; }

 private:
  const Api* sys_;
  int sig_;
  struct sigaction old_ = {};
  bool ok_ = false;
};

// Sets the calling thread's signal mask; restores the old one at scope exit (which delivers
// whatever became pending meanwhile, so it must end before the HandlerScope does).
class MaskScope {
 public:
  MaskScope(int how, int sig) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(how, &set, &old_);
  }
  ~MaskScope() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  MaskScope(const MaskScope&) = delete;
  MaskScope& operator=(const MaskScope&) = delete;

 private:
  sigset_t old_;
};

// Whether sig is pending for the calling thread or the process.
inline bool signal_is_pending(int sig) {
  sigset_t set;
  sigpending(&set);
  return sigismember(&set, sig) == 1;
}

// The calling thread's mask with sig added (block) or removed (!block).
inline sigset_t mask_with(int sig, bool block) {
  sigset_t set;
  pthread_sigmask(SIG_SETMASK, nullptr, &set);
  if (block) {
    sigaddset(&set, sig);
  } else {
    sigdelset(&set, sig);
  }
  return set;
}

// What call_interrupted's call returned, its errno, and how long it took.
struct CallResult {
  long ret = 0;
  int err = 0;
  int64_t elapsed_us = 0;
};

// Runs `call` on a new thread and sends that thread `sig` every 50 ms until the call returns (a
// signal that lands before the call has started is only handled; a later one interrupts it).
// `call` must have a timeout of its own.
template <class F>
CallResult call_interrupted(int sig, F call) {
  std::atomic<bool> started{false}, done{false}, release{false};
  CallResult res;
  std::thread th([&] {
    started.store(true);
    const auto t0 = Clock::now();
    res.ret = call();
    res.err = errno;
    res.elapsed_us = us_since(t0);
    done.store(true);
    while (!release.load()) std::this_thread::sleep_for(1ms);  // stay alive while main may kill
  });
  while (!started.load()) std::this_thread::yield();
  while (!done.load()) {
    std::this_thread::sleep_for(kSettle);
    if (!done.load()) pthread_kill(th.native_handle(), sig);
  }
  release.store(true);
  th.join();
  return res;
}

// Forks a child that stops this whole process (SIGSTOP) and continues it 50 ms later (SIGCONT:
// only another process can send it), doing only async-signal-safe calls. Returns the child's
// pid (-1 if fork failed); the caller waits for it.
inline pid_t fork_stop_and_continue() {
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child == 0) {
    kill(parent, SIGSTOP);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, nullptr);
    kill(parent, SIGCONT);
    _exit(0);
  }
  return child;
}

// One returned epoll_event, unpacked (struct epoll_event is packed on x86-64: its fields cannot
// be bound to the references gtest's comparisons take).
struct Ev {
  uint32_t events;
  uint64_t data;
  bool operator==(const Ev& o) const { return events == o.events && data == o.data; }
};
// Prints an Ev in gtest's failure messages.
inline std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << "{events=0x" << std::hex << e.events << std::dec << " data=" << e.data << "}";
}
// Returned events, in the order returned.
using Evs = std::vector<Ev>;

// The first n of evs, unpacked (none if n <= 0).
inline Evs unpack(const struct epoll_event* evs, int n) {
  Evs out;
  for (int i = 0; i < n; ++i) out.push_back(Ev{evs[i].events, evs[i].data.u64});
  return out;
}

// evs ordered by data, for checks that are not about order.
inline Evs sorted(Evs evs) {
  std::sort(evs.begin(), evs.end(), [](const Ev& a, const Ev& b) { return a.data < b.data; });
  return evs;
}

// Base fixture for tests that make fds: each fd passed to own() (or made by the make_*
// helpers) is closed at the end of the test, last made first, unless the test closed it
// earlier with close_now(). The constructor takes the flags make_eventfd(initval) and
// make_pipe(p) use when a test gives none.
class OwnedFds : public Conformance {
 protected:
  explicit OwnedFds(int eventfd_flags = 0, int pipe_flags = 0)
      : eventfd_flags_(eventfd_flags), pipe_flags_(pipe_flags) {}
  void TearDown() override {
    for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) sys->close(*it);
    owned_.clear();
  }
  // Records fd (if it is one) to be closed at the end of the test; returns it.
  int own(int fd) {
    if (fd >= 0) owned_.push_back(fd);
    return fd;
  }
  // Closes fd now instead of at the end of the test.
  int close_now(int fd) {
    owned_.erase(std::remove(owned_.begin(), owned_.end(), fd), owned_.end());
    return sys->close(fd);
  }
  // An owned eventfd; -1 (and a failure) if it cannot be made.
  int make_eventfd(unsigned initval, int flags) {
    const int fd = sys->eventfd(initval, flags);
    EXPECT_GE(fd, 0) << "eventfd: " << strerror(errno);
    return own(fd);
  }
  int make_eventfd(unsigned initval = 0) { return make_eventfd(initval, eventfd_flags_); }
  // An owned pipe: p[0] is the read end, p[1] the write end; false if pipe2 failed.
  bool own_pipe(int p[2], int flags) {
    if (sys->pipe2(p, flags) != 0) return false;
    own(p[0]);
    own(p[1]);
    return true;
  }
  // own_pipe, with a failure if the pipe cannot be made.
  bool make_pipe(int p[2], int flags) {
    if (own_pipe(p, flags)) return true;
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return false;
  }
  bool make_pipe(int p[2]) { return make_pipe(p, pipe_flags_); }
  // An owned epoll fd; -1 (and a failure) if it cannot be made.
  int make_epoll() {
    const int fd = sys->epoll_create1(0);
    EXPECT_GE(fd, 0) << "epoll_create1: " << strerror(errno);
    return own(fd);
  }
  // Writes the 8-byte value v to fd (an eventfd's counter increment).
  ssize_t write_u64(int fd, uint64_t v) { return sys->write(fd, &v, sizeof v); }
  // Reads 8 bytes from fd (an eventfd's counter), checking that it got them.
  uint64_t read_u64(int fd) {
    uint64_t v = 0;
    EXPECT_EQ(sys->read(fd, &v, sizeof v), 8);
    return v;
  }

  std::vector<int> owned_;

 private:
  int eventfd_flags_;
  int pipe_flags_;
};

}  // namespace conformance
