// The socket halves of spec/linux-semantics.md's wake-up items, on AF_UNIX: A24 (a POLLOUT-only
// poller is not woken by incoming data), B16 (select's wake key), B7 (what select makes of OOB,
// HUP and ERR), C38 (EPOLLRDHUP), F9 (which socket callback wakes with which key: data_ready,
// write_space, error_report, state_change) and F10/F11 (who waits exclusively, and who a single
// event wakes: accept, datagram recv, several epoll instances). Each test runs on the host kernel
// and on ustack; every test starts with REQUIRE_SOCKETS().
//
// A wake-up filtered by its key and a spurious wake-up followed by a rescan that finds nothing
// look alike from user space, so "not woken" is tested as "the call has not returned after
// kQuiet". Every blocking call has a timeout of its own (kLongMs) or is released by the test, so
// a lost wake-up shows as a failure, never as a hang.
//
// Linux facts these tests record (6.18, x86-64):
// - unix_writable is (sk_wmem_alloc's refcount << 2) <= sndbuf, and that refcount is SIOCOUTQ
//   + 1 (the socket's own reference): the rule is (outq + 1) * 4 <= sndbuf, not outq * 4 <=
//   sndbuf. With SO_SNDBUF 3072 (sndbuf 6144) two 1-byte datagrams in flight (768 bytes of
//   truesize each, outq 1536 = sndbuf / 4) leave the sender not writable. (F9's "wmem*4 <=
//   sndbuf" is off by that one.) A 4 KiB stream write is 4864 bytes of truesize: seven fill
//   sndbuf 32768, and the sender becomes writable with the sixth one the peer reads.
// - write_space wakes on every skb freed while the sender is writable, so an EPOLLOUT|EPOLLET
//   item gets a new edge each time the peer reads a buffer of ours, even though it never stopped
//   being writable; while it is not writable, frees give no edge at all.
// - state_change (a NULL key) re-queues an epoll item whatever its mask: an EPOLLOUT|EPOLLET
//   item on a socket that stays writable gets a new EPOLLOUT edge from the peer's shutdown, from
//   its own shutdown, and from a repeated shutdown that changes nothing (unix_shutdown always
//   calls sk_state_change on both ends). Incoming data (data_ready) gives it none.
// - error_report: connect(AF_UNSPEC) on a datagram socket with unread data from a peer that is
//   connected back sets ECONNRESET on that peer and wakes it with EPOLLERR; a poll or epoll
//   waiter asking for POLLIN only returns exactly POLLERR.
// - select: an unconnected unix stream socket (HUP|OUT, no IN) is in readfds and writefds and not
//   in exceptfds; a datagram socket with only sk_err pending (not writable, nothing queued) is
//   in readfds and writefds, and in neither once SO_ERROR has cleared the error.
// - EPOLLRDHUP: after the peer's SHUT_WR the reader reports IN|RDHUP (IN alone if RDHUP is not
//   requested; RDHUP alone if only RDHUP is) and the writer reports only OUT; after a local
//   SHUT_RD the same IN|RDHUP, while the peer (now SEND_SHUTDOWN) shows only OUT. An ET item
//   reports it once; the peer's later SHUT_RD is a new edge, with HUP.
// - Herds: unix accept and unix datagram recv both wait exclusively at the tail
//   (__skb_wait_for_more_packets), so one connection or datagram wakes exactly the first
//   waiter to arrive and each further one the next; four epoll instances watching one socket
//   all wake, with EPOLLEXCLUSIVE only the first registered does, and each further datagram
//   wakes the next instance that still has a waiter.
#include <linux/sockios.h>
#include <poll.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
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

constexpr short kAllEvents =
    POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLRDHUP;
constexpr int kIn = POLLIN | POLLRDNORM;
constexpr int kOut = POLLOUT | POLLWRNORM | POLLWRBAND;

// The timeout of a call the test expects to be woken much earlier: a lost wake-up ends there.
constexpr int kLongMs = 5000;
// How long a call must stay blocked to count as "not woken".
constexpr auto kQuiet = 200ms;
// How long after a herd's event the returned threads are counted.
constexpr auto kCount = 300ms;
// The gap between two herd threads' starts, so that they reach the wait queue in order.
constexpr auto kArrival = 100ms;

using Addr = UnixAddr;
Addr abstract_name() { return unique_abstract_name("f"); }

// n blocking calls fn(0) ... fn(n-1), each on its own thread, started kArrival apart so that they
// reach a shared wait queue in that order. Each call must end on its own (a timeout of its own,
// or `release`, which the destructor runs before it joins, so that a test that stops early on a
// failed assertion does not hang): join() waits for all of them.
class Herd {
 public:
  struct Out {
    bool done = false;
    long ret = 0;
    int err = 0;
    int rank = -1;  // order of return
  };

  Herd(int n, std::function<long(int)> fn, std::function<void()> release = nullptr)
      : out_(n), release_(std::move(release)) {
    for (int i = 0; i < n; ++i) {
      std::atomic<bool> started{false};
      threads_.emplace_back([this, i, &started, fn] {
        started.store(true);
        const long r = fn(i);
        const int e = errno;
        std::lock_guard g(mu_);
        out_[i] = Out{true, r, e, returned_++};
      });
      while (!started.load()) std::this_thread::yield();
      std::this_thread::sleep_for(kArrival);
    }
  }
  ~Herd() {
    if (release_) release_();
    join();
  }
  Herd(const Herd&) = delete;
  Herd& operator=(const Herd&) = delete;

  void join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int returned() {
    std::lock_guard g(mu_);
    return returned_;
  }
  // Waits (bounded by kBound) until at least n calls have returned.
  void await(int n) {
    const auto deadline = Clock::now() + kBound;
    while (returned() < n && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  }
  // "1" for each call that has returned, "0" for each still blocked.
  std::string pattern() {
    std::lock_guard g(mu_);
    std::string s;
    for (const Out& o : out_) s += o.done ? '1' : '0';
    return s;
  }
  Out at(int i) {
    std::lock_guard g(mu_);
    return out_[i];
  }

 private:
  std::mutex mu_;
  std::vector<Out> out_;  // guarded by mu_
  int returned_ = 0;      // guarded by mu_
  std::function<void()> release_;
  std::vector<std::thread> threads_;
};

class FSocketWakeups : public OwnedFds {
 protected:
  int sock(int type) {
    const int fd = sys->socket(AF_UNIX, type, 0);
    EXPECT_GE(fd, 0) << "socket: " << strerror(errno);
    return own(fd);
  }
  bool pair(int type, int sv[2]) {
    if (sys->socketpair(AF_UNIX, type, 0, sv) != 0) {
      ADD_FAILURE() << "socketpair: " << strerror(errno);
      return false;
    }
    own(sv[0]);
    own(sv[1]);
    return true;
  }
  int bind_to(int fd, const Addr& a) { return sys->bind(fd, a.sa(), a.len); }
  // A stream socket bound to a and listening; -1 (and a failure) if not.
  int listener(const Addr& a, int backlog) {
    const int fd = sock(SOCK_STREAM);
    if (fd < 0) return -1;
    EXPECT_EQ(bind_to(fd, a), 0) << strerror(errno);
    EXPECT_EQ(sys->listen(fd, backlog), 0) << strerror(errno);
    return fd;
  }
  // A new stream socket connected to a (owned); -1 if connect failed.
  int client(const Addr& a) {
    const int fd = sock(SOCK_STREAM);
    if (fd < 0) return -1;
    if (sys->connect(fd, a.sa(), a.len) == 0) return fd;
    ADD_FAILURE() << "connect: " << strerror(errno);
    return -1;
  }
  int geti(int fd, int opt) {
    int v = -12345;
    socklen_t len = sizeof v;
    EXPECT_EQ(sys->getsockopt(fd, SOL_SOCKET, opt, &v, &len), 0) << strerror(errno);
    return v;
  }
  int seti(int fd, int opt, int v) { return sys->setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v); }
  void timeo_ms(int fd, int opt, long ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    EXPECT_EQ(sys->setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv), 0) << strerror(errno);
  }
  // SIOCOUTQ: the send memory charged to fd (skb truesize), -1 on failure.
  int outq(int fd) {
    int n = -1;
    EXPECT_EQ(sys->ioctl(fd, SIOCOUTQ, &n), 0) << strerror(errno);
    return n;
  }
  int rev(int fd) { return poll_revents(sys, fd, kAllEvents); }
  bool writable(int fd) { return (poll_revents(sys, fd, POLLOUT) & POLLOUT) != 0; }

  // Sends 4 KiB chunks with MSG_DONTWAIT until EAGAIN; returns the bytes queued.
  size_t fill(int fd) {
    static char chunk[4096];
    size_t total = 0;
    for (int i = 0; i < 100000; ++i) {
      const ssize_t n = sys->send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) {
        EXPECT_EQ(errno, EAGAIN);
        break;
      }
      total += n;
    }
    return total;
  }
  // Receives with MSG_DONTWAIT until nothing is left; returns the bytes read.
  size_t drain(int fd) {
    char buf[4096];
    size_t total = 0;
    for (int i = 0; i < 100000; ++i) {
      const ssize_t n = sys->recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      total += n;
    }
    return total;
  }
  ssize_t send_str(int fd, const std::string& s, int flags = 0) {
    return sys->send(fd, s.data(), s.size(), flags);
  }
  // Whether MSG_OOB works on a unix stream here; false (with a skip to follow) only on a Linux
  // kernel built without CONFIG_AF_UNIX_OOB.
  bool oob_supported() {
    int sv[2];
    if (!pair(SOCK_STREAM, sv)) return true;
    errno = 0;
    const ssize_t r = send_str(sv[0], "o", MSG_OOB);
    const bool unsupported = r < 0 && errno == EOPNOTSUPP && sys->is_linux;
    if (!unsupported) {
      EXPECT_EQ(r, 1) << strerror(errno);
    }
    return !unsupported;
  }

  int ctl(int ep, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event e = {};
    e.events = events;
    e.data.u64 = data;
    return sys->epoll_ctl(ep, op, fd, &e);
  }
  int add(int ep, int fd, uint32_t events, uint64_t data) {
    return ctl(ep, EPOLL_CTL_ADD, fd, events, data);
  }
  // The events an epoll_wait with this timeout returns; a failed call adds a failure, gives [].
  Evs wait_evs(int ep, int timeout_ms = 0) {
    struct epoll_event evs[8] = {};
    const int n = sys->epoll_wait(ep, evs, 8, timeout_ms);
    EXPECT_GE(n, 0) << "epoll_wait: " << strerror(errno);
    return unpack(evs, n);
  }
  // Disconnects a datagram socket (connect with AF_UNSPEC).
  int disconnect(int fd) {
    struct sockaddr unspec = {};
    unspec.sa_family = AF_UNSPEC;
    return sys->connect(fd, &unspec, sizeof unspec);
  }
};

// The herd tests (F10/F11): several threads on one wait queue.
class FSocketHerd : public FSocketWakeups {};

// ===== A24, B16: a wake-up whose key the sleeper did not ask for =====

TEST_P(FSocketWakeups, A24_PollForPolloutOnlyIsNotWokenByIncomingData) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  ASSERT_GT(fill(sv[0]), 0u);
  ASSERT_EQ(rev(sv[0]), 0) << "full: neither readable nor writable";
  struct pollfd p = {sv[0], POLLOUT, 0};
  Call poller([&] { return long(sys->poll(&p, 1, kLongMs)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(poller.done());
  // data_ready (IN|PRI|RDNORM|RDBAND) does not match POLLOUT|ERR|HUP.
  ASSERT_EQ(send_str(sv[1], "data"), 4);
  EXPECT_EQ(rev(sv[0]), kIn) << "readable now, still not writable";
  std::this_thread::sleep_for(kQuiet);
  EXPECT_FALSE(poller.done()) << "returned " << poller.result();
  // The peer reads what sv[0] sent: write_space (OUT) wakes the poller.
  EXPECT_GT(drain(sv[1]), 0u);
  ASSERT_TRUE(poller.wait());
  EXPECT_EQ(poller.result(), 1);
  EXPECT_EQ(p.revents, POLLOUT);
}

TEST_P(FSocketWakeups, B16_SelectOnWritefdsOnlyStaysAsleepThroughIncomingData) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  ASSERT_GT(fill(sv[0]), 0u);
  fd_set wr;
  FD_ZERO(&wr);
  FD_SET(sv[0], &wr);
  struct timeval tv = {kLongMs / 1000, 0};
  Call sel([&] { return long(sys->select(sv[0] + 1, nullptr, &wr, nullptr, &tv)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(sel.done());
  ASSERT_EQ(send_str(sv[1], "data"), 4);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_FALSE(sel.done()) << "returned " << sel.result();
  EXPECT_GT(drain(sv[1]), 0u);
  ASSERT_TRUE(sel.wait());
  EXPECT_EQ(sel.result(), 1);
  EXPECT_TRUE(FD_ISSET(sv[0], &wr));
}

TEST_P(FSocketWakeups, B16_SelectOnReadfdsOnlyStaysAsleepThroughWriteSpace) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  ASSERT_EQ(send_str(sv[0], "abc"), 3);
  ASSERT_GT(outq(sv[0]), 0);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(sv[0], &rd);
  struct timeval tv = {kLongMs / 1000, 0};
  Call sel([&] { return long(sys->select(sv[0] + 1, &rd, nullptr, nullptr, &tv)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(sel.done());
  // The peer reads sv[0]'s bytes: a write_space wake-up (OUT only) on sv[0].
  EXPECT_EQ(drain(sv[1]), 3u);
  EXPECT_EQ(outq(sv[0]), 0);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_FALSE(sel.done()) << "returned " << sel.result();
  ASSERT_EQ(send_str(sv[1], "x"), 1);
  ASSERT_TRUE(sel.wait());
  EXPECT_EQ(sel.result(), 1);
  EXPECT_TRUE(FD_ISSET(sv[0], &rd));
}

// ===== B7: select's view of OOB, HUP and ERR =====

TEST_P(FSocketWakeups, B7_OobByteWakesASelectOnExceptfdsOnly) {
  REQUIRE_SOCKETS();
  if (!oob_supported()) GTEST_SKIP() << "kernel built without CONFIG_AF_UNIX_OOB";
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  fd_set ex;
  FD_ZERO(&ex);
  FD_SET(sv[1], &ex);
  struct timeval tv = {kLongMs / 1000, 0};
  Call sel([&] { return long(sys->select(sv[1] + 1, nullptr, nullptr, &ex, &tv)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(sel.done());
  // Ordinary data is not exceptional.
  ASSERT_EQ(send_str(sv[0], "ab"), 2);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_FALSE(sel.done()) << "returned " << sel.result();
  ASSERT_EQ(send_str(sv[0], "c", MSG_OOB), 1) << strerror(errno);
  ASSERT_TRUE(sel.wait());
  EXPECT_EQ(sel.result(), 1);
  EXPECT_TRUE(FD_ISSET(sv[1], &ex));
  // All three sets at once: readable (data), writable, exceptional (POLLPRI).
  EXPECT_EQ(rev(sv[1]), kIn | POLLPRI | kOut);
  fd_set rd, wr, ex2;
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_ZERO(&ex2);
  FD_SET(sv[1], &rd);
  FD_SET(sv[1], &wr);
  FD_SET(sv[1], &ex2);
  struct timeval zero = {0, 0};
  EXPECT_EQ(sys->select(sv[1] + 1, &rd, &wr, &ex2, &zero), 3);
  EXPECT_TRUE(FD_ISSET(sv[1], &rd));
  EXPECT_TRUE(FD_ISSET(sv[1], &wr));
  EXPECT_TRUE(FD_ISSET(sv[1], &ex2));
}

TEST_P(FSocketWakeups, B7_HupWithoutInIsReadableNotExceptional) {
  REQUIRE_SOCKETS();
  // An unconnected stream socket is HUP (TCP_CLOSE) and writable, with nothing to read.
  const int fd = sock(SOCK_STREAM);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(rev(fd), kOut | POLLHUP);
  fd_set rd, wr, ex;
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_ZERO(&ex);
  FD_SET(fd, &rd);
  FD_SET(fd, &wr);
  FD_SET(fd, &ex);
  struct timeval zero = {0, 0};
  EXPECT_EQ(sys->select(fd + 1, &rd, &wr, &ex, &zero), 2);
  EXPECT_TRUE(FD_ISSET(fd, &rd)) << "HUP is in POLLIN_SET";
  EXPECT_TRUE(FD_ISSET(fd, &wr));
  EXPECT_FALSE(FD_ISSET(fd, &ex));
  // Reading only: HUP alone makes it ready.
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  EXPECT_EQ(sys->select(fd + 1, &rd, nullptr, nullptr, &zero), 1);
  EXPECT_TRUE(FD_ISSET(fd, &rd));
}

TEST_P(FSocketWakeups, B7_ErrWithoutInOrOutIsReadableAndWritable) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  const int a = sv[0], b = sv[1];
  const Addr name = abstract_name();
  const int c = sock(SOCK_DGRAM);
  ASSERT_GE(c, 0);
  ASSERT_EQ(bind_to(c, name), 0) << strerror(errno);
  ASSERT_EQ(seti(b, SO_SNDBUF, 1), 0) << strerror(errno);  // the minimum
  ASSERT_EQ(send_str(b, "x"), 1);                          // left unread at a
  // Park datagrams at c until b is not writable, then one more, so that c's alone keep it so.
  for (int i = 0; i < 8 && writable(b); ++i) {
    ASSERT_EQ(sys->sendto(b, "y", 1, MSG_DONTWAIT, name.sa(), name.len), 1) << strerror(errno);
  }
  ASSERT_EQ(rev(b), 0) << "b must be neither readable nor writable";
  ASSERT_EQ(sys->sendto(b, "y", 1, MSG_DONTWAIT, name.sa(), name.len), 1) << strerror(errno);
  // a dissolves its association: its queue (b's "x") is purged and b, still connected back to a,
  // gets ECONNRESET.
  ASSERT_EQ(disconnect(a), 0) << strerror(errno);
  EXPECT_EQ(rev(b), POLLERR);
  fd_set rd, wr, ex;
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_ZERO(&ex);
  FD_SET(b, &rd);
  FD_SET(b, &wr);
  FD_SET(b, &ex);
  struct timeval zero = {0, 0};
  EXPECT_EQ(sys->select(b + 1, &rd, &wr, &ex, &zero), 2);
  EXPECT_TRUE(FD_ISSET(b, &rd)) << "ERR is in POLLIN_SET";
  EXPECT_TRUE(FD_ISSET(b, &wr)) << "ERR is in POLLOUT_SET";
  EXPECT_FALSE(FD_ISSET(b, &ex));
  // Without the error it is neither.
  EXPECT_EQ(geti(b, SO_ERROR), ECONNRESET);
  EXPECT_EQ(rev(b), 0);
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_SET(b, &rd);
  FD_SET(b, &wr);
  EXPECT_EQ(sys->select(b + 1, &rd, &wr, nullptr, &zero), 0);
}

// ===== C38: EPOLLRDHUP =====

TEST_P(FSocketWakeups, C38_RdhupIsReportedOnlyWhenRequested) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  const int plain = make_epoll();
  const int rdhup = make_epoll();
  ASSERT_GE(plain, 0);
  ASSERT_GE(rdhup, 0);
  ASSERT_EQ(add(plain, sv[1], EPOLLIN, 1), 0);
  ASSERT_EQ(add(rdhup, sv[1], EPOLLIN | EPOLLRDHUP, 2), 0);
  EXPECT_EQ(wait_evs(plain), Evs{});
  EXPECT_EQ(wait_evs(rdhup), Evs{});
  ASSERT_EQ(sys->shutdown(sv[0], SHUT_WR), 0);
  EXPECT_EQ(wait_evs(plain), (Evs{{EPOLLIN, 1}}));
  EXPECT_EQ(wait_evs(rdhup), (Evs{{EPOLLIN | EPOLLRDHUP, 2}}));
  EXPECT_EQ(poll_revents(sys, sv[1], POLLIN), POLLIN);
  EXPECT_EQ(poll_revents(sys, sv[1], POLLIN | POLLRDHUP), POLLIN | POLLRDHUP);
  EXPECT_EQ(poll_revents(sys, sv[1], POLLRDHUP), POLLRDHUP);
  EXPECT_EQ(rev(sv[1]), kIn | POLLRDHUP | kOut) << "no HUP: only one direction is shut";
  // The side that shut down writing sees neither RDHUP nor HUP.
  EXPECT_EQ(rev(sv[0]), kOut);
}

TEST_P(FSocketWakeups, C38_PeerShutWrWakesRdhupWaitersWithEpollin) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  const int with_in = make_epoll();
  const int only = make_epoll();
  ASSERT_GE(with_in, 0);
  ASSERT_GE(only, 0);
  ASSERT_EQ(add(with_in, sv[1], EPOLLIN | EPOLLRDHUP, 1), 0);
  ASSERT_EQ(add(only, sv[1], EPOLLRDHUP, 2), 0);
  struct epoll_event e1 = {}, e2 = {};
  Call w1([&] { return long(sys->epoll_wait(with_in, &e1, 1, kLongMs)); });
  Call w2([&] { return long(sys->epoll_wait(only, &e2, 1, kLongMs)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(w1.done());
  ASSERT_FALSE(w2.done());
  ASSERT_EQ(sys->shutdown(sv[0], SHUT_WR), 0);
  ASSERT_TRUE(w1.wait());
  ASSERT_TRUE(w2.wait());
  EXPECT_EQ(w1.result(), 1);
  EXPECT_EQ(w2.result(), 1);
  EXPECT_EQ(unpack(&e1, 1), (Evs{{EPOLLIN | EPOLLRDHUP, 1}}));
  EXPECT_EQ(unpack(&e2, 1), (Evs{{EPOLLRDHUP, 2}}));
}

TEST_P(FSocketWakeups, C38_LocalShutRdWakesAnRdhupWaiterWithEpollin) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  ASSERT_EQ(add(ep, sv[1], EPOLLIN | EPOLLRDHUP, 1), 0);
  struct epoll_event ev = {};
  Call w([&] { return long(sys->epoll_wait(ep, &ev, 1, kLongMs)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(w.done());
  ASSERT_EQ(sys->shutdown(sv[1], SHUT_RD), 0);
  ASSERT_TRUE(w.wait());
  EXPECT_EQ(w.result(), 1);
  EXPECT_EQ(unpack(&ev, 1), (Evs{{EPOLLIN | EPOLLRDHUP, 1}}));
  EXPECT_EQ(rev(sv[1]), kIn | POLLRDHUP | kOut);
  // The peer is now shut for sending only: no RDHUP, no HUP there.
  EXPECT_EQ(rev(sv[0]), kOut);
}

TEST_P(FSocketWakeups, C38_EdgeTriggeredRdhupFiresOnce) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  ASSERT_EQ(add(ep, sv[1], EPOLLIN | EPOLLRDHUP | EPOLLET, 3), 0);
  EXPECT_EQ(wait_evs(ep), Evs{});
  ASSERT_EQ(sys->shutdown(sv[0], SHUT_WR), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLIN | EPOLLRDHUP, 3}}));
  EXPECT_EQ(wait_evs(ep, 100), Evs{}) << "one edge per state change";
  EXPECT_EQ(poll_revents(sys, sv[1], POLLIN | POLLRDHUP), POLLIN | POLLRDHUP) << "still the state";
  // The peer's SHUT_RD is a new state change: a new edge, now with HUP.
  ASSERT_EQ(sys->shutdown(sv[0], SHUT_RD), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLIN | EPOLLRDHUP | EPOLLHUP, 3}}));
  EXPECT_EQ(wait_evs(ep), Evs{});
}

// ===== F9: socket wake sources and their keys =====

TEST_P(FSocketWakeups, F9_DataReadyWakesInWaiters) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  ASSERT_EQ(add(ep, sv[1], EPOLLIN, 1), 0);
  struct epoll_event ev = {};
  struct pollfd p = {sv[1], POLLIN, 0};
  Call ew([&] { return long(sys->epoll_wait(ep, &ev, 1, kLongMs)); });
  Call pw([&] { return long(sys->poll(&p, 1, kLongMs)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(ew.done());
  ASSERT_FALSE(pw.done());
  ASSERT_EQ(send_str(sv[0], "x"), 1);
  ASSERT_TRUE(ew.wait());
  ASSERT_TRUE(pw.wait());
  EXPECT_EQ(ew.result(), 1);
  EXPECT_EQ(unpack(&ev, 1), (Evs{{EPOLLIN, 1}}));
  EXPECT_EQ(pw.result(), 1);
  EXPECT_EQ(p.revents, POLLIN);
}

TEST_P(FSocketWakeups, F9_DataReadyDoesNotQueueAnEpolloutOnlyItem) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  ASSERT_EQ(add(ep, sv[1], EPOLLOUT | EPOLLET, 1), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT, 1}})) << "the ADD edge";
  EXPECT_EQ(wait_evs(ep), Evs{});
  ASSERT_EQ(send_str(sv[0], "x"), 1);
  EXPECT_EQ(wait_evs(ep, 100), Evs{});
  // Reading does not wake the reader's own queue either (the freed buffer is the sender's).
  char c;
  ASSERT_EQ(sys->recv(sv[1], &c, 1, MSG_DONTWAIT), 1);
  EXPECT_EQ(wait_evs(ep), Evs{});
}

TEST_P(FSocketWakeups, F9_WriteSpaceIsAnEdgeForEachBufferFreedWhileWritable) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  ASSERT_EQ(add(ep, sv[1], EPOLLOUT | EPOLLET, 1), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT, 1}})) << "the ADD edge";
  ASSERT_EQ(send_str(sv[1], "a"), 1);
  ASSERT_EQ(send_str(sv[1], "b"), 1);
  EXPECT_EQ(wait_evs(ep), Evs{}) << "sending wakes only the receiver";
  // sv[1] never stopped being writable, yet each buffer of its freed by the peer is an edge.
  char c;
  ASSERT_EQ(sys->recv(sv[0], &c, 1, MSG_DONTWAIT), 1);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT, 1}}));
  EXPECT_EQ(wait_evs(ep), Evs{});
  ASSERT_EQ(sys->recv(sv[0], &c, 1, MSG_DONTWAIT), 1);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT, 1}}));
  EXPECT_EQ(wait_evs(ep), Evs{});
}

TEST_P(FSocketWakeups, F9_WriteSpaceEdgeComesOnlyOnceAQuarterOfSndbufIsLeft) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  ASSERT_EQ(seti(sv[0], SO_SNDBUF, 16384), 0) << strerror(errno);
  const int sndbuf = geti(sv[0], SO_SNDBUF);
  ASSERT_EQ(sndbuf, 32768);
  // Two instances: one a thread sleeps on, one the test polls with a zero timeout.
  const int blocked = make_epoll();
  const int polled = make_epoll();
  ASSERT_GE(blocked, 0);
  ASSERT_GE(polled, 0);
  ASSERT_EQ(add(blocked, sv[0], EPOLLOUT | EPOLLET, 1), 0);
  ASSERT_EQ(add(polled, sv[0], EPOLLOUT | EPOLLET, 2), 0);
  EXPECT_EQ(wait_evs(blocked), (Evs{{EPOLLOUT, 1}})) << "the ADD edge";
  EXPECT_EQ(wait_evs(polled), (Evs{{EPOLLOUT, 2}})) << "the ADD edge";
  ASSERT_GT(fill(sv[0]), 0u);
  ASSERT_FALSE(writable(sv[0]));
  EXPECT_EQ(wait_evs(polled), Evs{});
  struct epoll_event ev = {};
  Call waiter([&] { return long(sys->epoll_wait(blocked, &ev, 1, kLongMs)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(waiter.done());
  // Read one 4 KiB buffer at a time: the frees before the threshold give no edge.
  int quiet_frees = 0;
  bool became_writable = false;
  for (int step = 0; step < 64 && !became_writable; ++step) {
    const int before = outq(sv[0]);
    char buf[4096];
    ASSERT_EQ(sys->recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), 4096) << "step " << step;
    const int after = outq(sv[0]);
    became_writable = writable(sv[0]);
    // unix_writable: the charge plus the socket's own reference, times 4, within sndbuf.
    EXPECT_EQ(became_writable, (after + 1) * 4 <= sndbuf) << "step " << step << " outq " << after;
    const Evs got = wait_evs(polled);
    if (!became_writable) {
      EXPECT_EQ(got, Evs{}) << "an edge while not writable, step " << step << " outq " << after;
      std::this_thread::sleep_for(5ms);
      EXPECT_FALSE(waiter.done()) << "woken while not writable, step " << step;
      if (after < before) ++quiet_frees;
    } else {
      EXPECT_EQ(got, (Evs{{EPOLLOUT, 2}})) << "step " << step << " outq " << after;
    }
  }
  ASSERT_TRUE(became_writable);
  EXPECT_GE(quiet_frees, 2) << "buffers freed before the threshold";
  ASSERT_TRUE(waiter.wait());
  EXPECT_EQ(waiter.result(), 1);
  EXPECT_EQ(unpack(&ev, 1), (Evs{{EPOLLOUT, 1}}));
}

TEST_P(FSocketWakeups, F9_UnixWritableCountsTheSocketsOwnReference) {
  REQUIRE_SOCKETS();
  // sndbuf 6144: a quarter is 1536, two 1-byte datagrams' truesize (768 each).
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  ASSERT_EQ(seti(sv[0], SO_SNDBUF, 3072), 0) << strerror(errno);
  ASSERT_EQ(geti(sv[0], SO_SNDBUF), 6144);
  ASSERT_EQ(send_str(sv[0], "1"), 1);
  EXPECT_EQ(outq(sv[0]), 768);
  EXPECT_TRUE(writable(sv[0])) << "(768 + 1) * 4 <= 6144";
  ASSERT_EQ(send_str(sv[0], "2"), 1);
  EXPECT_EQ(outq(sv[0]), 1536);
  EXPECT_FALSE(writable(sv[0])) << "(1536 + 1) * 4 > 6144, though 1536 * 4 == 6144";
  char c;
  ASSERT_EQ(sys->recv(sv[1], &c, 1, MSG_DONTWAIT), 1);
  EXPECT_EQ(outq(sv[0]), 768);
  EXPECT_TRUE(writable(sv[0]));
}

TEST_P(FSocketWakeups, F9_ErrorReportWakesInWaitersWithErr) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  const int a = sv[0], b = sv[1];
  ASSERT_EQ(send_str(b, "x"), 1);  // left unread at a
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  ASSERT_EQ(add(ep, b, EPOLLIN, 1), 0);
  struct epoll_event ev = {};
  struct pollfd p = {b, POLLIN, 0};
  Call ew([&] { return long(sys->epoll_wait(ep, &ev, 1, kLongMs)); });
  Call pw([&] { return long(sys->poll(&p, 1, kLongMs)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(ew.done());
  ASSERT_FALSE(pw.done());
  // Purging a's queue frees b's buffer (write_space, OUT: filtered), then reports ECONNRESET on
  // b (error_report, ERR: always in the waiters' masks).
  ASSERT_EQ(disconnect(a), 0) << strerror(errno);
  ASSERT_TRUE(ew.wait());
  ASSERT_TRUE(pw.wait());
  EXPECT_EQ(ew.result(), 1);
  EXPECT_EQ(unpack(&ev, 1), (Evs{{EPOLLERR, 1}}));
  EXPECT_EQ(pw.result(), 1);
  EXPECT_EQ(p.revents, POLLERR);
  EXPECT_EQ(geti(b, SO_ERROR), ECONNRESET);
}

TEST_P(FSocketWakeups, F9_StateChangeWakesAnEpolloutOnlyWaiter) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  ASSERT_EQ(add(ep, sv[1], EPOLLOUT | EPOLLET, 1), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT, 1}})) << "the ADD edge";
  struct epoll_event ev = {};
  Call w([&] { return long(sys->epoll_wait(ep, &ev, 1, kLongMs)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(w.done());
  ASSERT_EQ(send_str(sv[0], "x"), 1);  // data_ready: filtered
  std::this_thread::sleep_for(kQuiet);
  EXPECT_FALSE(w.done()) << "returned " << w.result();
  // state_change has no key: the item is queued, and its re-poll finds OUT.
  ASSERT_EQ(sys->shutdown(sv[0], SHUT_WR), 0);
  ASSERT_TRUE(w.wait());
  EXPECT_EQ(w.result(), 1);
  EXPECT_EQ(unpack(&ev, 1), (Evs{{EPOLLOUT, 1}}));
}

TEST_P(FSocketWakeups, F9_EveryShutdownCallIsAStateChangeOnBothEnds) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  const int ep = make_epoll();
  ASSERT_GE(ep, 0);
  ASSERT_EQ(add(ep, sv[1], EPOLLOUT | EPOLLET, 1), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT, 1}})) << "the ADD edge";
  // Its own SHUT_WR changes nothing it reports (still just writable), yet it is an edge.
  ASSERT_EQ(sys->shutdown(sv[1], SHUT_WR), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT, 1}})) << "its own shutdown";
  EXPECT_EQ(wait_evs(ep), Evs{});
  // The peer's SHUT_WR completes the shutdown here: HUP.
  ASSERT_EQ(sys->shutdown(sv[0], SHUT_WR), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT | EPOLLHUP, 1}})) << "the peer's shutdown";
  EXPECT_EQ(wait_evs(ep), Evs{});
  // Repeating it changes nothing at all, and is an edge again.
  ASSERT_EQ(sys->shutdown(sv[0], SHUT_WR), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT | EPOLLHUP, 1}})) << "the same shutdown again";
  EXPECT_EQ(wait_evs(ep), Evs{});
  ASSERT_EQ(sys->shutdown(sv[1], SHUT_RDWR), 0);
  EXPECT_EQ(wait_evs(ep), (Evs{{EPOLLOUT | EPOLLHUP, 1}})) << "its own shutdown again";
  EXPECT_EQ(wait_evs(ep), Evs{});
}

// ===== F10, F11: herds =====

TEST_P(FSocketHerd, F11_OneConnectionWakesOneOfFourAcceptersTheFirstToArrive) {
  REQUIRE_SOCKETS();
  const Addr name = abstract_name();
  const int l = listener(name, 8);
  ASSERT_GE(l, 0);
  timeo_ms(l, SO_RCVTIMEO, kLongMs);
  {
    Herd herd(
        4, [&](int) { return long(sys->accept4(l, nullptr, nullptr, SOCK_CLOEXEC)); },
        [&] { sys->shutdown(l, SHUT_RD); });
    ASSERT_GE(client(name), 0);
    std::this_thread::sleep_for(kCount);
    EXPECT_EQ(herd.pattern(), "1000");
    // Each further connection wakes the next, in order of arrival (accept waits at the tail).
    for (int k = 1; k < 4; ++k) {
      ASSERT_GE(client(name), 0);
      herd.await(k + 1);
      std::this_thread::sleep_for(kSettle);
      EXPECT_EQ(herd.pattern(), std::string(k + 1, '1') + std::string(3 - k, '0')) << k;
    }
    sys->shutdown(l, SHUT_RD);  // releases any accepter a lost wake-up left behind
    herd.join();
    for (int i = 0; i < 4; ++i) {
      const Herd::Out o = herd.at(i);
      EXPECT_GE(o.ret, 0) << i << ": " << strerror(o.err);
      EXPECT_EQ(o.rank, i);
      if (o.ret >= 0) own(int(o.ret));
    }
  }
}

TEST_P(FSocketHerd, F11_OneDatagramWakesOneOfFourReceiversTheFirstToArrive) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  timeo_ms(sv[1], SO_RCVTIMEO, kLongMs);
  char bufs[4][8] = {};
  Herd herd(
      4, [&](int i) { return long(sys->recv(sv[1], bufs[i], sizeof bufs[i], 0)); },
      [&] { sys->shutdown(sv[1], SHUT_RD); });
  ASSERT_EQ(send_str(sv[0], "0"), 1);
  std::this_thread::sleep_for(kCount);
  EXPECT_EQ(herd.pattern(), "1000");
  for (int k = 1; k < 4; ++k) {
    ASSERT_EQ(send_str(sv[0], std::to_string(k)), 1);
    herd.await(k + 1);
    std::this_thread::sleep_for(kSettle);
    EXPECT_EQ(herd.pattern(), std::string(k + 1, '1') + std::string(3 - k, '0')) << k;
  }
  sys->shutdown(sv[1], SHUT_RD);  // releases any receiver a lost wake-up left behind
  herd.join();
  for (int i = 0; i < 4; ++i) {
    const Herd::Out o = herd.at(i);
    EXPECT_EQ(o.ret, 1) << i << ": " << strerror(o.err);
    EXPECT_EQ(o.rank, i);
    EXPECT_EQ(bufs[i][0], '0' + i) << i;
  }
}

TEST_P(FSocketHerd, F11_FourEpollInstancesOnOneSocketAllWake) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  std::vector<int> eps;
  for (int i = 0; i < 4; ++i) {
    eps.push_back(make_epoll());
    ASSERT_GE(eps.back(), 0);
    ASSERT_EQ(add(eps.back(), sv[1], EPOLLIN, i), 0);
  }
  struct epoll_event evs[4] = {};
  Herd herd(4, [&](int i) { return long(sys->epoll_wait(eps[i], &evs[i], 1, kLongMs)); });
  ASSERT_EQ(send_str(sv[0], "x"), 1);
  std::this_thread::sleep_for(kCount);
  EXPECT_EQ(herd.pattern(), "1111");
  herd.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(herd.at(i).ret, 1) << i;
    EXPECT_EQ(unpack(&evs[i], 1), (Evs{{EPOLLIN, uint64_t(i)}}));
  }
}

TEST_P(FSocketHerd, F11_FourExclusiveEpollInstancesOnOneSocketOneWakes) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_STREAM, sv));
  std::vector<int> eps;
  for (int i = 0; i < 4; ++i) {
    eps.push_back(make_epoll());
    ASSERT_GE(eps.back(), 0);
    ASSERT_EQ(add(eps.back(), sv[1], EPOLLIN | EPOLLEXCLUSIVE, i), 0);
  }
  struct epoll_event evs[4] = {};
  Herd herd(4, [&](int i) { return long(sys->epoll_wait(eps[i], &evs[i], 1, kLongMs)); });
  ASSERT_EQ(send_str(sv[0], "x"), 1);
  std::this_thread::sleep_for(kCount);
  EXPECT_EQ(herd.pattern(), "1000") << "the first registered";
  // Each further wake-up passes the instances whose waiter has gone and wakes the next.
  for (int k = 1; k < 4; ++k) {
    ASSERT_EQ(send_str(sv[0], "x"), 1);
    herd.await(k + 1);
    std::this_thread::sleep_for(kSettle);
    EXPECT_EQ(herd.pattern(), std::string(k + 1, '1') + std::string(3 - k, '0')) << k;
  }
  herd.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(herd.at(i).ret, 1) << i;
    EXPECT_EQ(herd.at(i).rank, i);
    EXPECT_EQ(unpack(&evs[i], 1), (Evs{{EPOLLIN, uint64_t(i)}}));
  }
}

INSTANTIATE_CONFORMANCE(FSocketWakeups);
INSTANTIATE_CONFORMANCE(FSocketHerd);

}  // namespace
