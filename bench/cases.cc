// ustack-bench cases: each one a template on the Api, registered as BM_<Case>/ustack and
// BM_<Case>/linux. Every case runs on a ustack host of its own and closes every fd it opened.
// Built with USTACK_BENCH_LIBC_ONLY (ustack-bench-libc), only the /linux ones exist.
#include "cases.hpp"

#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#ifndef USTACK_BENCH_LIBC_ONLY
#include <ustack/sim.hpp>
#endif

#include "bench_api.hpp"

namespace ustack_bench {

// --- the watchdog ---

void Watchdog::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::run() {
  using Clock = std::chrono::steady_clock;
  uint64_t last = beats_.load(std::memory_order_relaxed);
  Clock::time_point last_change = Clock::now(), kicked{};
  std::unique_lock<std::mutex> lk(mu_);
  while (!done_) {
    cv_.wait_for(lk, std::chrono::milliseconds(50));
    if (done_) break;
    const Clock::time_point now = Clock::now();
    const uint64_t b = beats_.load(std::memory_order_relaxed);
    if (b != last) {
      last = b;
      last_change = now;
    } else if (!fired() && now - last_change > kStall) {
      std::fprintf(stderr, "ustack-bench: %s: no progress for %llds, kicking both threads\n", what_,
                   (long long)kStall.count());
      fired_.store(true, std::memory_order_relaxed);
      kicked = now;
      lk.unlock();
      kick_();
      lk.lock();
    } else if (fired() && now - kicked > kHardExit) {
      std::fprintf(stderr, "ustack-bench: %s: still stuck %llds after the kick; exiting\n", what_,
                   (long long)kHardExit.count());
      std::fflush(stderr);
      _exit(3);
    }
  }
}

namespace {

constexpr size_t kChunk = 64 * 1024;

// err = 0: the call returned 0 (end of file) where data was expected.
void fail(benchmark::State& state, const char* what, int err) {
  std::string msg =
      std::string(what) + ": " + (err ? std::strerror(err) : "unexpected end of file");
  state.SkipWithError(msg.c_str());
}

template <class Api>
bool send(int fd) {
  const uint64_t one = 1;
  return Api::write(fd, &one, sizeof one) == sizeof one;
}

// One eventfd read. Blocking fds: one call. Non-blocking fds (kSpin): spin on EAGAIN until a
// value arrives or `abort` is raised. Like ustack's busy poll, which spins kBusyPollUs and then
// sleeps, the spin gives the CPU away (sched_yield) after every kBusyPollUs of fruitless spinning:
// on an oversubscribed machine two pure spinners can otherwise each burn a whole time slice
// (milliseconds) waiting for a partner that is not running. On idle cores it never yields.
constexpr unsigned kBusyPollUs = 50;

template <class Api, bool kSpin>
bool recv(int fd, const std::atomic<bool>& abort) {
  uint64_t v;
  if (Api::read(fd, &v, sizeof v) == sizeof v) return true;
  if (!kSpin || errno != EAGAIN) return false;
  using Clock = std::chrono::steady_clock;
  Clock::time_point until = Clock::now() + std::chrono::microseconds(kBusyPollUs);
  for (unsigned spins = 1;; spins++) {
    if (Api::read(fd, &v, sizeof v) == sizeof v) return true;
    if (errno != EAGAIN || abort.load(std::memory_order_relaxed)) return false;
    if ((spins & 15) == 0 && Clock::now() >= until) {
      sched_yield();
      until = Clock::now() + std::chrono::microseconds(kBusyPollUs);
    }
  }
}

// Raises RLIMIT_NOFILE's soft limit to at least `want` for the case's duration (the process's for
// Linux, the host's for ustack), and the hard limit too when it is lower (needs CAP_SYS_RESOURCE
// for Linux, and `want` <= fs.nr_open); restores both after.
template <class Api>
class NofileAtLeast {
 public:
  explicit NofileAtLeast(rlim_t want) {
    if (Api::getrlimit(RLIMIT_NOFILE, &old_) != 0) return;
    if (old_.rlim_cur >= want) {
      ok_ = true;
      return;
    }
    struct rlimit r = old_;
    r.rlim_cur = want;
    if (r.rlim_max != RLIM_INFINITY && r.rlim_max < want) r.rlim_max = want;
    ok_ = changed_ = Api::setrlimit(RLIMIT_NOFILE, &r) == 0;
  }
  ~NofileAtLeast() {
    if (changed_) Api::setrlimit(RLIMIT_NOFILE, &old_);
  }
  bool ok() const { return ok_; }

 private:
  struct rlimit old_ {};
  bool ok_ = false, changed_ = false;
};

// Starts `fn` in a thread and waits (bounded) until it has entered the case's host.
template <class Fn>
bool start_partner(std::thread& t, std::atomic<bool>& ready, Fn&& fn) {
  t = std::thread(std::forward<Fn>(fn));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ready.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// 1. One thread: eventfd write(1) → poll(that fd, timeout 0) → read.
template <class Api>
void EventfdWritePollRead(benchmark::State& state) {
  typename Api::Env env("bench-eventfd-wpr");
  typename Api::ThreadScope scope(env);
  int fd = Api::eventfd(0, EFD_NONBLOCK);
  if (fd < 0) return fail(state, "eventfd", errno);
  struct pollfd p = {fd, POLLIN, 0};
  for (auto _ : state) {
    if (!send<Api>(fd)) {
      fail(state, "write", errno);
      break;
    }
    p.revents = 0;
    if (Api::poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) {
      state.SkipWithError("poll did not report the eventfd readable");
      break;
    }
    uint64_t v = 0;
    if (Api::read(fd, &v, sizeof v) != sizeof v) {
      fail(state, "read", errno);
      break;
    }
    if (v != 1) {
      state.SkipWithError("read returned a count other than 1");
      break;
    }
  }
  Api::close(fd);
}

// 2. poll over N eventfds, exactly one (the middle one) readable, timeout 0.
template <class Api, int N>
void PollNOneReady(benchmark::State& state) {
  typename Api::Env env("bench-poll");
  typename Api::ThreadScope scope(env);
  NofileAtLeast<Api> nofile(N + 64);
  if (!nofile.ok()) return state.SkipWithError("cannot raise RLIMIT_NOFILE");
  std::vector<int> fds;
  std::vector<struct pollfd> pfds;
  fds.reserve(N);
  for (int i = 0; i < N; i++) {
    int fd = Api::eventfd(0, EFD_NONBLOCK);
    if (fd < 0) {
      fail(state, "eventfd", errno);
      break;
    }
    fds.push_back(fd);
    pfds.push_back({fd, POLLIN, 0});
  }
  if (int(fds.size()) == N && !send<Api>(fds[N / 2])) fail(state, "write", errno);
  if (!state.error_occurred()) {
    for (auto _ : state) {
      int r = Api::poll(pfds.data(), pfds.size(), 0);
      if (r != 1) {
        state.SkipWithError(r < 0 ? "poll failed" : "poll did not report exactly one ready fd");
        break;
      }
      benchmark::DoNotOptimize(pfds.data());
    }
  }
  for (int fd : fds) Api::close(fd);
}

// 3. Two threads through one pipe: the partner writes 64 KiB chunks, the timed thread reads 64 KiB
// per iteration (blocking both ways).
template <class Api>
void PipeThroughput64K(benchmark::State& state) {
  typename Api::Env env("bench-pipe");
  typename Api::ThreadScope scope(env);
  int p[2];
  if (Api::pipe2(p, 0) != 0) return fail(state, "pipe2", errno);
  std::atomic<bool> stop{false}, ready{false};
  Watchdog wd("PipeThroughput64K", [&] {
    // Unblock both sides: make both ends non-blocking, put a byte in, take a chunk out.
    typename Api::ThreadScope s(env);
    Api::fcntl(p[0], F_SETFL, O_NONBLOCK);
    Api::fcntl(p[1], F_SETFL, O_NONBLOCK);
    char c = 0;
    Api::write(p[1], &c, 1);
    static char sink[kChunk];
    Api::read(p[0], sink, sizeof sink);
  });
  std::thread writer;
  const bool started = start_partner(writer, ready, [&] {
    typename Api::ThreadScope s(env);
    ready.store(true, std::memory_order_release);
    std::vector<char> buf(kChunk, 'x');
    while (!stop.load(std::memory_order_relaxed) && !wd.fired()) {
      size_t off = 0;
      while (off < kChunk) {
        ssize_t n = Api::write(p[1], buf.data() + off, kChunk - off);
        if (n <= 0) break;
        off += size_t(n);
      }
      if (off < kChunk) break;
      wd.beat();
    }
    Api::close(p[1]);  // the reader sees EOF
  });
  std::vector<char> buf(kChunk);
  if (!started) {
    state.SkipWithError("writer thread did not start");
  } else {
    for (auto _ : state) {
      size_t got = 0;
      while (got < kChunk) {
        ssize_t n = Api::read(p[0], buf.data(), kChunk - got);
        if (n <= 0) break;
        got += size_t(n);
      }
      if (got < kChunk || wd.fired()) {
        if (wd.fired())
          state.SkipWithError("stalled: no progress for 5 s (lost wake-up?)");
        else
          fail(state, "read", errno);
        break;
      }
    }
  }
  stop.store(true, std::memory_order_relaxed);
  // Drain until EOF: a writer blocked on a full pipe finishes its chunk, sees stop and closes.
  while (Api::read(p[0], buf.data(), kChunk) > 0) {
  }
  writer.join();
  wd.stop();
  Api::close(p[0]);
  if (!state.error_occurred()) state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kChunk));
}

// 4./5. Ping-pong over two eventfds: the timed thread writes e1 and waits on e2, the partner waits
// on e1 and writes e2. One iteration is one round trip.
//   kBusy = false: blocking reads on both sides.
//   kBusy = true:  ustack: blocking reads on a host with busy_poll = 50 µs (the read spins on the
//                  task's state word before sleeping); Linux (no eventfd busy poll): non-blocking
//                  fds and a user-space EAGAIN spin.
template <class Api, bool kBusy>
void EventfdPingPong(benchmark::State& state) {
  constexpr bool kSpin = kBusy && !Api::kIsUstack;
  typename Api::Env env(kBusy ? "bench-pingpong-busy" : "bench-pingpong", kBusy ? kBusyPollUs : 0);
  typename Api::ThreadScope scope(env);
  const int flags = kSpin ? EFD_NONBLOCK : 0;
  const int e1 = Api::eventfd(0, flags);
  const int e2 = Api::eventfd(0, flags);
  if (e1 < 0 || e2 < 0) {
    fail(state, "eventfd", errno);
    if (e1 >= 0) Api::close(e1);
    if (e2 >= 0) Api::close(e2);
    return;
  }
  std::atomic<bool> stop{false}, ready{false};
  Watchdog wd(kBusy ? "EventfdPingPongBusyPoll" : "EventfdPingPong", [&] {
    typename Api::ThreadScope s(env);
    send<Api>(e1);
    send<Api>(e2);
  });
  std::thread partner;
  const bool started = start_partner(partner, ready, [&] {
    typename Api::ThreadScope s(env);
    ready.store(true, std::memory_order_release);
    for (;;) {
      if (!recv<Api, kSpin>(e1, stop) || stop.load(std::memory_order_relaxed)) break;
      if (!send<Api>(e2)) break;
      wd.beat();
    }
  });
  if (!started) {
    state.SkipWithError("partner thread did not start");
  } else {
    for (auto _ : state) {
      if (!send<Api>(e1)) {
        fail(state, "write", errno);
        break;
      }
      if (!recv<Api, kSpin>(e2, wd.fired_flag()) || wd.fired()) {
        if (wd.fired())
          state.SkipWithError("stalled: no progress for 5 s (lost wake-up?)");
        else
          fail(state, "read", errno);
        break;
      }
    }
  }
  stop.store(true, std::memory_order_relaxed);
  send<Api>(e1);  // the partner, asleep on e1 (or spinning), wakes, sees stop and leaves
  partner.join();
  wd.stop();
  Api::close(e1);
  Api::close(e2);
}

// --- epoll ---

template <class Api>
int ep_add(int ep, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev {};
  ev.events = events;
  ev.data.u64 = data;
  return Api::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

// 6. One thread: eventfd write(1) → epoll_wait(timeout 0; one LT EPOLLIN item, on that eventfd)
// → read.
template <class Api>
void EpollEventfdCycle(benchmark::State& state) {
  typename Api::Env env("bench-epoll-cycle");
  typename Api::ThreadScope scope(env);
  const int ep = Api::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return fail(state, "epoll_create1", errno);
  const int fd = Api::eventfd(0, EFD_NONBLOCK);
  if (fd < 0) {
    fail(state, "eventfd", errno);
  } else if (ep_add<Api>(ep, fd, EPOLLIN, 42) != 0) {
    fail(state, "epoll_ctl(ADD)", errno);
  }
  if (!state.error_occurred()) {
    for (auto _ : state) {
      if (!send<Api>(fd)) {
        fail(state, "write", errno);
        break;
      }
      struct epoll_event ev {};
      if (Api::epoll_wait(ep, &ev, 1, 0) != 1 || ev.data.u64 != 42 || !(ev.events & EPOLLIN)) {
        state.SkipWithError("epoll_wait did not report the eventfd readable");
        break;
      }
      uint64_t v = 0;
      if (Api::read(fd, &v, sizeof v) != sizeof v) {
        fail(state, "read", errno);
        break;
      }
      if (v != 1) {
        state.SkipWithError("read returned a count other than 1");
        break;
      }
    }
  }
  if (fd >= 0) Api::close(fd);
  Api::close(ep);
}

// Keeps kernel files alive without fds: each parked fd is sent (SCM_RIGHTS) into a unix socket
// whose other end never receives, then closed. For Linux when RLIMIT_NOFILE's hard limit cannot
// be raised (no CAP_SYS_RESOURCE, as in some containers): an eventfd added to an epoll and then
// parked keeps its epoll item, since Linux removes an item only when its file is released, not
// when an fd is closed; the epoll is then in the same state as with all N fds open. In-flight
// fds are not charged to RLIMIT_NOFILE for a CAP_SYS_ADMIN sender. Destruction (closing the
// sockets) releases the files.
class FdParking {
 public:
  ~FdParking() {
    for (int fd : pending_) ::close(fd);
    for (int s : socks_) ::close(s);
  }
  bool park(int fd) {
    pending_.push_back(fd);
    return pending_.size() < kMaxPerMessage || flush();
  }
  bool flush() {
    if (pending_.empty()) return true;
    char byte = 0;
    struct iovec iov = {&byte, 1};
    alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * kMaxPerMessage)];
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * pending_.size());
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * pending_.size());
    std::memcpy(CMSG_DATA(c), pending_.data(), sizeof(int) * pending_.size());
    for (int tries = 0; tries < 2; tries++) {
      if (socks_.empty() || tries) {  // a new socket pair when the current one's buffer is full
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
          return false;
        socks_.push_back(sv[0]);
        socks_.push_back(sv[1]);
      }
      if (::sendmsg(socks_.back(), &msg, MSG_NOSIGNAL) == 1) {
        for (int fd : pending_) ::close(fd);
        pending_.clear();
        return true;
      }
      if (errno != EAGAIN) return false;
    }
    return false;
  }

 private:
  static constexpr size_t kMaxPerMessage = 253;  // SCM_MAX_FD
  std::vector<int> pending_;
  std::vector<int> socks_;
};

// 7. epoll_wait(timeout 0, maxevents 64) on an epoll watching N eventfds (LT, EPOLLIN), exactly
// one (the middle one) readable: should cost the same for any N. The N eventfds are created and
// added once per run, outside the timed loop. Linux, if RLIMIT_NOFILE cannot be raised to N:
// the eventfds but the ready one are parked (FdParking) once added.
template <class Api, int N>
void EpollWaitOneOfN(benchmark::State& state) {
  typename Api::Env env("bench-epoll-wait");
  typename Api::ThreadScope scope(env);
  NofileAtLeast<Api> nofile(N + 64);
  std::optional<FdParking> parking;
  if (!nofile.ok()) {
    if constexpr (Api::kIsUstack) return state.SkipWithError("cannot raise RLIMIT_NOFILE");
    parking.emplace();
  }
  const int ep = Api::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return fail(state, "epoll_create1", errno);
  std::vector<int> fds;  // the open ones
  fds.reserve(parking ? 1 : N);
  int ready = -1;
  for (int i = 0; i < N; i++) {
    const int fd = Api::eventfd(0, EFD_NONBLOCK);
    if (fd < 0) {
      fail(state, "eventfd", errno);
      break;
    }
    if (ep_add<Api>(ep, fd, EPOLLIN, uint64_t(i)) != 0) {
      fail(state, "epoll_ctl(ADD)", errno);
      Api::close(fd);
      break;
    }
    if (i == N / 2) ready = fd;
    if (parking && i != N / 2) {
      if (!parking->park(fd)) {
        fail(state, "parking the fd (sendmsg SCM_RIGHTS)", errno);
        break;
      }
    } else {
      fds.push_back(fd);
    }
  }
  if (!state.error_occurred() && parking && !parking->flush())
    fail(state, "parking the fd (sendmsg SCM_RIGHTS)", errno);
  if (!state.error_occurred() && !send<Api>(ready)) fail(state, "write", errno);
  if (!state.error_occurred()) {
    struct epoll_event evs[64];
    for (auto _ : state) {
      const int r = Api::epoll_wait(ep, evs, 64, 0);
      if (r != 1 || evs[0].data.u64 != uint64_t(N / 2)) {
        state.SkipWithError(r < 0 ? "epoll_wait failed"
                                  : "epoll_wait did not report exactly the one ready fd");
        break;
      }
      benchmark::DoNotOptimize(evs);
    }
  }
  Api::close(ep);  // first: the eventfds then close without an epoll item to unhook
  for (int fd : fds) Api::close(fd);
  parking.reset();
}

// 8. epoll_ctl ADD then DEL of one eventfd, per iteration.
template <class Api>
void EpollCtlAddDel(benchmark::State& state) {
  typename Api::Env env("bench-epoll-ctl");
  typename Api::ThreadScope scope(env);
  const int ep = Api::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return fail(state, "epoll_create1", errno);
  const int fd = Api::eventfd(0, EFD_NONBLOCK);
  if (fd < 0) fail(state, "eventfd", errno);
  if (!state.error_occurred()) {
    for (auto _ : state) {
      if (ep_add<Api>(ep, fd, EPOLLIN, 1) != 0) {
        fail(state, "epoll_ctl(ADD)", errno);
        break;
      }
      if (Api::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr) != 0) {
        fail(state, "epoll_ctl(DEL)", errno);
        break;
      }
    }
  }
  if (fd >= 0) Api::close(fd);
  Api::close(ep);
}

// Waits in epoll_wait on `ep` until it reports an event.
// Blocking (kSpin = false): epoll_wait(-1). kSpin: epoll_wait(0) in a loop until an event comes
// or `abort` is raised, yielding the CPU after every kBusyPollUs of fruitless spinning (as recv).
template <class Api, bool kSpin>
bool ep_wait(int ep, const std::atomic<bool>& abort) {
  struct epoll_event ev {};
  if constexpr (!kSpin) {
    for (;;) {
      const int r = Api::epoll_wait(ep, &ev, 1, -1);
      if (r == 1) break;
      if (r < 0 && errno != EINTR) return false;
      if (abort.load(std::memory_order_relaxed)) return false;
    }
  } else {
    using Clock = std::chrono::steady_clock;
    Clock::time_point until = Clock::now() + std::chrono::microseconds(kBusyPollUs);
    for (unsigned spins = 1;; spins++) {
      const int r = Api::epoll_wait(ep, &ev, 1, 0);
      if (r == 1) break;
      if (r < 0 || abort.load(std::memory_order_relaxed)) return false;
      if ((spins & 15) == 0 && Clock::now() >= until) {
        sched_yield();
        until = Clock::now() + std::chrono::microseconds(kBusyPollUs);
      }
    }
  }
  return true;
}

// Waits in epoll_wait on `ep` (whose one item is the eventfd `fd`) and then reads `fd`.
template <class Api, bool kSpin>
bool ep_recv(int ep, int fd, const std::atomic<bool>& abort) {
  if (!ep_wait<Api, kSpin>(ep, abort)) return false;
  uint64_t v;
  return Api::read(fd, &v, sizeof v) == sizeof v;
}

// 9./10. Ping-pong through epoll: the timed thread writes e1 and waits in epoll_wait on ep2
// (watching e2), the partner waits in epoll_wait on ep1 (watching e1) and writes e2; each reads
// its eventfd after the wait. One iteration is one round trip. Items are LT EPOLLIN.
//   kBusy = false: epoll_wait(-1) on both sides.
//   kBusy = true:  ustack: epoll_wait(-1) on a host with busy_poll = 50 µs (both threads in it);
//                  Linux (no epoll busy poll without NAPI): epoll_wait(0) in a user-space spin.
template <class Api, bool kBusy>
void EpollPingPong(benchmark::State& state) {
  constexpr bool kSpin = kBusy && !Api::kIsUstack;
  typename Api::Env env(kBusy ? "bench-epoll-pingpong-busy" : "bench-epoll-pingpong",
                        kBusy ? kBusyPollUs : 0);
  typename Api::ThreadScope scope(env);
  const int e1 = Api::eventfd(0, EFD_NONBLOCK);
  const int e2 = Api::eventfd(0, EFD_NONBLOCK);
  const int ep1 = Api::epoll_create1(EPOLL_CLOEXEC);
  const int ep2 = Api::epoll_create1(EPOLL_CLOEXEC);
  auto close_all = [&] {
    for (int fd : {ep1, ep2, e1, e2})
      if (fd >= 0) Api::close(fd);
  };
  if (e1 < 0 || e2 < 0 || ep1 < 0 || ep2 < 0) {
    fail(state, e1 < 0 || e2 < 0 ? "eventfd" : "epoll_create1", errno);
    return close_all();
  }
  if (ep_add<Api>(ep1, e1, EPOLLIN, 1) != 0 || ep_add<Api>(ep2, e2, EPOLLIN, 2) != 0) {
    fail(state, "epoll_ctl(ADD)", errno);
    return close_all();
  }
  std::atomic<bool> stop{false}, ready{false};
  Watchdog wd(kBusy ? "EpollPingPongBusyPoll" : "EpollPingPong", [&] {
    typename Api::ThreadScope s(env);
    send<Api>(e1);
    send<Api>(e2);
  });
  std::thread partner;
  const bool started = start_partner(partner, ready, [&] {
    typename Api::ThreadScope s(env);
    ready.store(true, std::memory_order_release);
    for (;;) {
      if (!ep_recv<Api, kSpin>(ep1, e1, stop) || stop.load(std::memory_order_relaxed)) break;
      if (!send<Api>(e2)) break;
      wd.beat();
    }
  });
  if (!started) {
    state.SkipWithError("partner thread did not start");
  } else {
    for (auto _ : state) {
      if (!send<Api>(e1)) {
        fail(state, "write", errno);
        break;
      }
      if (!ep_recv<Api, kSpin>(ep2, e2, wd.fired_flag()) || wd.fired()) {
        if (wd.fired())
          state.SkipWithError("stalled: no progress for 5 s (lost wake-up?)");
        else
          fail(state, "epoll_wait/read", errno);
        break;
      }
    }
  }
  stop.store(true, std::memory_order_relaxed);
  send<Api>(e1);  // the partner, asleep in epoll_wait on ep1 (or spinning), wakes, sees stop
  if (partner.joinable()) partner.join();
  wd.stop();
  close_all();
}

// --- AF_UNIX sockets ---

constexpr size_t kMsg = 64;

// socketpair failed: the case cannot run on this side. A family, protocol or socket type the side
// does not have is reported as not supported (main.cc: "n/a", not an error); any other errno is
// an error.
void fail_socketpair(benchmark::State& state, int err) {
  if (err == EAFNOSUPPORT || err == EPROTONOSUPPORT || err == ESOCKTNOSUPPORT) {
    const std::string msg = std::string(kNotSupported) + "socketpair: " + std::strerror(err);
    return state.SkipWithError(msg.c_str());
  }
  fail(state, "socketpair", err);
}

// Sends all `n` bytes (a stream socket may take fewer per call). MSG_NOSIGNAL: a peer gone is an
// error here, not a SIGPIPE. Non-blocking sockets: EAGAIN is a failure (the ping-pongs never have
// more than one message in flight each way).
template <class Api>
bool sock_send(int fd, const char* buf, size_t n) {
  for (size_t off = 0; off < n;) {
    const ssize_t r = Api::send(fd, buf + off, n - off, MSG_NOSIGNAL);
    if (r <= 0) return false;
    off += size_t(r);
  }
  return true;
}

// Waits in epoll_wait on `ep` (whose one item is the non-blocking socket `fd`), then receives from
// `fd`, until `n` bytes have come (a stream may deliver a message in pieces). Blocking or kSpin
// as ep_wait. End of stream: false with errno 0.
template <class Api, bool kSpin>
bool ep_recv_n(int ep, int fd, char* buf, size_t n, const std::atomic<bool>& abort) {
  for (size_t got = 0; got < n;) {
    if (!ep_wait<Api, kSpin>(ep, abort)) return false;
    const ssize_t r = Api::recv(fd, buf + got, n - got, 0);
    if (r > 0) {
      got += size_t(r);
    } else if (r == 0) {
      errno = 0;
      return false;
    } else if (errno != EAGAIN) {
      return false;
    }
  }
  return true;
}

// 11. One thread, one AF_UNIX SOCK_STREAM socketpair (non-blocking): send 64 bytes on one end,
// recv 64 bytes on the other. The first byte carries the iteration's tag, checked on receipt.
template <class Api>
void SocketpairWriteRead64(benchmark::State& state) {
  typename Api::Env env("bench-socketpair-wr");
  typename Api::ThreadScope scope(env);
  int sv[2];
  if (Api::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
    return fail_socketpair(state, errno);
  char out[kMsg], in[kMsg];
  std::memset(out, 'x', sizeof out);
  unsigned char tag = 0;
  for (auto _ : state) {
    out[0] = char(++tag);
    const ssize_t w = Api::send(sv[0], out, kMsg, MSG_NOSIGNAL);
    if (w != ssize_t(kMsg)) {
      if (w < 0)
        fail(state, "send", errno);
      else
        state.SkipWithError("send took fewer than 64 bytes");
      break;
    }
    const ssize_t r = Api::recv(sv[1], in, kMsg, 0);
    if (r != ssize_t(kMsg)) {
      if (r < 0)
        fail(state, "recv", errno);
      else
        state.SkipWithError("recv returned fewer than 64 bytes");
      break;
    }
    if (in[0] != char(tag)) {
      state.SkipWithError("recv returned other bytes than were sent");
      break;
    }
  }
  Api::close(sv[0]);
  Api::close(sv[1]);
}

// 12./13. Ping-pong over one AF_UNIX SOCK_STREAM socketpair (non-blocking ends), each thread with
// an epoll of its own watching its end (LT EPOLLIN). The timed thread sends 64 bytes on sv[0] and
// waits in epoll_wait, then receives the 64-byte answer; the partner waits in epoll_wait on sv[1],
// receives the 64 bytes and sends them back. One iteration is one round trip.
//   kBusy = false: epoll_wait(-1) on both sides.
//   kBusy = true:  SO_BUSY_POLL = 50 µs on both ends, on both sides (EPERM, as Linux answers
//                  without CAP_NET_ADMIN, is ignored; it has no effect on Linux's AF_UNIX anyway).
//                  ustack: epoll_wait(-1) on a host with busy_poll = 50 µs (both threads in it);
//                  Linux: epoll_wait(0) in a user-space spin, as EpollPingPongBusyPoll.
template <class Api, bool kBusy>
void UnixPingPong(benchmark::State& state) {
  constexpr bool kSpin = kBusy && !Api::kIsUstack;
  typename Api::Env env(kBusy ? "bench-unix-pingpong-busy" : "bench-unix-pingpong",
                        kBusy ? kBusyPollUs : 0);
  typename Api::ThreadScope scope(env);
  int sv[2];
  if (Api::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
    return fail_socketpair(state, errno);
  const int ep0 = Api::epoll_create1(EPOLL_CLOEXEC);
  const int ep1 = Api::epoll_create1(EPOLL_CLOEXEC);
  auto close_all = [&] {
    for (int fd : {ep0, ep1, sv[0], sv[1]})
      if (fd >= 0) Api::close(fd);
  };
  if (ep0 < 0 || ep1 < 0) {
    fail(state, "epoll_create1", errno);
    return close_all();
  }
  if (ep_add<Api>(ep0, sv[0], EPOLLIN, 0) != 0 || ep_add<Api>(ep1, sv[1], EPOLLIN, 1) != 0) {
    fail(state, "epoll_ctl(ADD)", errno);
    return close_all();
  }
  if constexpr (kBusy) {
    const int busy_poll_us = int(kBusyPollUs);
    for (int fd : sv) {
      if (Api::setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &busy_poll_us, sizeof busy_poll_us) != 0 &&
          errno != EPERM) {
        fail(state, "setsockopt(SO_BUSY_POLL)", errno);
        return close_all();
      }
    }
  }
  std::atomic<bool> stop{false}, ready{false};
  Watchdog wd(kBusy ? "UnixPingPongBusyPoll" : "UnixPingPong", [&] {
    typename Api::ThreadScope s(env);
    char kick[kMsg] = {};
    Api::send(sv[0], kick, kMsg, MSG_NOSIGNAL | MSG_DONTWAIT);
    Api::send(sv[1], kick, kMsg, MSG_NOSIGNAL | MSG_DONTWAIT);
  });
  std::thread partner;
  const bool started = start_partner(partner, ready, [&] {
    typename Api::ThreadScope s(env);
    ready.store(true, std::memory_order_release);
    char buf[kMsg];
    for (;;) {
      if (!ep_recv_n<Api, kSpin>(ep1, sv[1], buf, kMsg, stop) ||
          stop.load(std::memory_order_relaxed))
        break;
      if (!sock_send<Api>(sv[1], buf, kMsg)) break;
      wd.beat();
    }
  });
  char out[kMsg], in[kMsg];
  std::memset(out, 'x', sizeof out);
  if (!started) {
    state.SkipWithError("partner thread did not start");
  } else {
    for (auto _ : state) {
      if (!sock_send<Api>(sv[0], out, kMsg)) {
        fail(state, "send", errno);
        break;
      }
      if (!ep_recv_n<Api, kSpin>(ep0, sv[0], in, kMsg, wd.fired_flag()) || wd.fired()) {
        if (wd.fired())
          state.SkipWithError("stalled: no progress for 5 s (lost wake-up?)");
        else
          fail(state, "epoll_wait/recv", errno);
        break;
      }
    }
  }
  stop.store(true, std::memory_order_relaxed);
  // The partner, asleep in epoll_wait on ep1 (or spinning), wakes, sees stop and leaves.
  Api::send(sv[0], out, kMsg, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (partner.joinable()) partner.join();
  wd.stop();
  close_all();
}

// 14. Two threads through one AF_UNIX SOCK_STREAM socketpair, as PipeThroughput64K: the partner
// sends 64 KiB chunks on sv[1], the timed thread receives 64 KiB per iteration on sv[0] (blocking
// both ways, default buffer sizes).
template <class Api>
void UnixStreamThroughput64K(benchmark::State& state) {
  typename Api::Env env("bench-unix-stream");
  typename Api::ThreadScope scope(env);
  int sv[2];
  if (Api::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return fail_socketpair(state, errno);
  std::atomic<bool> stop{false}, ready{false};
  Watchdog wd("UnixStreamThroughput64K", [&] {
    // Unblock both sides: make both ends non-blocking, put a byte in, take a chunk out.
    typename Api::ThreadScope s(env);
    Api::fcntl(sv[0], F_SETFL, O_NONBLOCK);
    Api::fcntl(sv[1], F_SETFL, O_NONBLOCK);
    char c = 0;
    Api::send(sv[1], &c, 1, MSG_NOSIGNAL);
    static char sink[kChunk];
    Api::recv(sv[0], sink, sizeof sink, 0);
  });
  std::thread writer;
  const bool started = start_partner(writer, ready, [&] {
    typename Api::ThreadScope s(env);
    ready.store(true, std::memory_order_release);
    std::vector<char> buf(kChunk, 'x');
    while (!stop.load(std::memory_order_relaxed) && !wd.fired()) {
      if (!sock_send<Api>(sv[1], buf.data(), kChunk)) break;
      wd.beat();
    }
    Api::close(sv[1]);  // the reader sees end of stream
  });
  std::vector<char> buf(kChunk);
  if (!started) {
    state.SkipWithError("writer thread did not start");
  } else {
    for (auto _ : state) {
      size_t got = 0;
      ssize_t n = 0;
      while (got < kChunk) {
        n = Api::recv(sv[0], buf.data() + got, kChunk - got, 0);
        if (n <= 0) break;
        got += size_t(n);
      }
      if (got < kChunk || wd.fired()) {
        if (wd.fired())
          state.SkipWithError("stalled: no progress for 5 s (lost wake-up?)");
        else
          fail(state, "recv", n == 0 ? 0 : errno);
        break;
      }
    }
  }
  stop.store(true, std::memory_order_relaxed);
  // Drain until end of stream: a writer blocked on a full buffer finishes its chunk, sees stop
  // and closes.
  while (Api::recv(sv[0], buf.data(), kChunk, 0) > 0) {
  }
  writer.join();
  wd.stop();
  Api::close(sv[0]);
  if (!state.error_occurred())
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kChunk));
}

#ifndef USTACK_BENCH_LIBC_ONLY
// --- the simulation ---

// 15./16. Task switches per second of a sim::World (include/ustack/sim.hpp): fibers on one OS
// thread, virtual time. ustack only: Linux has no twin (main.cc shows "-"). One iteration is one
// world run; only run() is timed (spawning and tearing down the fibers is not), and the rate is
// the scheduler's own count of switches over that time.
//   kPingPong = false: kSimTasks tasks, each calling sim::yield() kSimRounds times.
//   kPingPong = true:  kSimTasks / 2 pairs, each pair kSimRounds round trips over two blocking
//                      eventfds (each switch a real block and wake-up through a wait queue).
constexpr int kSimTasks = 100;
constexpr int kSimRounds = 1000;

template <bool kPingPong>
void SimTaskSwitches(benchmark::State& state) {
  uint64_t switches = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<ustack::sim::World> w(std::in_place, ustack::sim::Options{.seed = 1});
    ustack::Host* h = w->add_host("bench-sim");
    int bad = 0;
    for (int i = 0; i < (kPingPong ? kSimTasks / 2 : kSimTasks); i++) {
      if constexpr (!kPingPong) {
        w->spawn(h, [] {
          for (int r = 0; r < kSimRounds; r++) ustack::sim::yield();
        });
      } else {
        // The pair's eventfds: made by whichever of the two runs first, closed by the last.
        struct Pair {
          int e1 = -1, e2 = -1, live = 2;
        };
        auto p = std::make_shared<Pair>();
        auto side = [p, &bad](bool first) {
          if (p->e1 < 0) {
            p->e1 = ustack::eventfd(0, 0);
            p->e2 = ustack::eventfd(0, 0);
            if (p->e1 < 0 || p->e2 < 0) bad++;
          }
          eventfd_t v;
          for (int r = 0; r < kSimRounds && !bad; r++) {
            if (first && ustack::eventfd_write(p->e1, 1) != 0) bad++;
            if (ustack::eventfd_read(first ? p->e2 : p->e1, &v) != 0) bad++;
            if (!first && ustack::eventfd_write(p->e2, 1) != 0) bad++;
          }
          if (--p->live == 0) {
            ustack::close(p->e1);
            ustack::close(p->e2);
          }
        };
        w->spawn(h, [side] { side(true); });
        w->spawn(h, [side] { side(false); });
      }
    }
    state.ResumeTiming();
    const ustack::sim::RunResult r = w->run();
    state.PauseTiming();
    switches += r.switches;
    w.reset();
    state.ResumeTiming();
    if (r.status != ustack::sim::RunResult::Status::kAllDone || bad) {
      state.SkipWithError(bad ? "eventfd call failed" : "the world did not run to the end");
      break;
    }
  }
  state.SetItemsProcessed(int64_t(switches));
}
#endif  // USTACK_BENCH_LIBC_ONLY

template <class Api>
void add(const char* case_name, void (*fn)(benchmark::State&)) {
  const std::string name = std::string("BM_") + case_name + "/" + Api::kName;
  benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kNanosecond);
}

// Registers one case on every Api of this binary, ustack's first (the order Google Benchmark runs
// them in). `instance` maps an Api value (a tag: only its type matters) to the case's function.
template <class Instance>
void add_twins(const char* case_name, Instance instance) {
#ifndef USTACK_BENCH_LIBC_ONLY
  add<UstackApi>(case_name, instance(UstackApi{}));
#endif
  add<LinuxApi>(case_name, instance(LinuxApi{}));
}

}  // namespace

void register_cases() {
  add_twins("EventfdWritePollRead", [](auto api) { return &EventfdWritePollRead<decltype(api)>; });
  add_twins("Poll10OneReady", [](auto api) { return &PollNOneReady<decltype(api), 10>; });
  add_twins("Poll1000OneReady", [](auto api) { return &PollNOneReady<decltype(api), 1000>; });
  add_twins("PipeThroughput64K", [](auto api) { return &PipeThroughput64K<decltype(api)>; });
  add_twins("EventfdPingPong", [](auto api) { return &EventfdPingPong<decltype(api), false>; });
  add_twins("EventfdPingPongBusyPoll",
            [](auto api) { return &EventfdPingPong<decltype(api), true>; });
  add_twins("EpollEventfdCycle", [](auto api) { return &EpollEventfdCycle<decltype(api)>; });
  add_twins("EpollWait1Of10", [](auto api) { return &EpollWaitOneOfN<decltype(api), 10>; });
  add_twins("EpollWait1Of100000", [](auto api) { return &EpollWaitOneOfN<decltype(api), 100000>; });
  add_twins("EpollCtlAddDel", [](auto api) { return &EpollCtlAddDel<decltype(api)>; });
  add_twins("EpollPingPong", [](auto api) { return &EpollPingPong<decltype(api), false>; });
  add_twins("EpollPingPongBusyPoll", [](auto api) { return &EpollPingPong<decltype(api), true>; });
  add_twins("SocketpairWriteRead64",
            [](auto api) { return &SocketpairWriteRead64<decltype(api)>; });
  add_twins("UnixPingPong", [](auto api) { return &UnixPingPong<decltype(api), false>; });
  add_twins("UnixPingPongBusyPoll", [](auto api) { return &UnixPingPong<decltype(api), true>; });
  add_twins("UnixStreamThroughput64K",
            [](auto api) { return &UnixStreamThroughput64K<decltype(api)>; });
#ifndef USTACK_BENCH_LIBC_ONLY
  // ustack only: no Linux twin.
  add<UstackApi>("SimTaskSwitches", SimTaskSwitches<false>);
  add<UstackApi>("SimTaskSwitchesEventfd", SimTaskSwitches<true>);
#endif
}

}  // namespace ustack_bench
