// Group E of spec/linux-semantics.md, E.9 (AF_UNIX datagram and seqpacket, E64–E71), with E24–E26
// as they apply to those types and F10's unix-dgram waiters, plus what issue 4 asks of them:
// SCM_RIGHTS, SCM_CREDENTIALS, MSG_CTRUNC, MSG_CMSG_CLOEXEC, message boundaries, sendmmsg and
// recvmmsg, names (unnamed, pathname, abstract, autobind). Each item runs on the host kernel and
// on ustack; every test skips on a table without sockets (REQUIRE_SOCKETS).
//
// Recorded from Linux 6.18 (x86-64, net.unix.max_dgram_qlen 10, wmem_default 212992), beyond or
// more precise than the spec's wording:
// - Readiness masks (poll and LT epoll agree): fresh/bound/connected dgram OUT|WRNORM|WRBAND;
//   fresh seqpacket OUT|WRNORM|WRBAND|HUP; seqpacket listener 0 (IN|RDNORM once a connection is
//   pending); any unix socket after SHUT_RDWR, connected or not, IN|RDNORM|RDHUP|HUP|OUT|WR*.
//   SHUT_WR alone leaves OUT set and adds nothing; SHUT_RD adds IN|RDNORM|RDHUP.
// - Dgram shutdown is not mirrored to the peer (only stream/seqpacket are): after the receiver's
//   SHUT_RD the sender's poll still shows OUT, yet its send fails EPIPE (no SIGPIPE).
// - Dgram recv after SHUT_RD with an empty queue: non-blocking → EAGAIN (the EOF special case is
//   for SEQPACKET only), blocking → 0 (also wakes a thread already blocked, which returns 0).
// - E65: the sender's poll only looks at the receiver's queue when it is connected; an unconnected
//   sendto sender stays OUT while its sends fail EAGAIN.
// - E66: the relay reaches only a sender that has hooked itself onto the receiver's peer_wait,
//   which happens when a poll (or epoll ADD/MOD, or a ready-list re-poll) or a send finds the
//   queue full. A sender whose only edge-triggered poll happened before the queue filled gets no
//   EPOLLOUT edge when a third party's datagram is dequeued.
// - E67: a default-sndbuf socketpair holds exactly 278 one-byte (or zero-byte) datagrams (each
//   charged 768 bytes of truesize; the check runs before each allocation); the sender becomes
//   writable (poll OUT, and a blocked sender wakes) only after 209 are drained (wmem*4 <= sndbuf).
//   Seqpacket socketpairs hold the same 278. A receiver connected back takes 278 per sender, not
//   11. Largest datagram: sndbuf - 32 bytes (212960); one more → EMSGSIZE.
// - E69: the ECONNREFUSED send also discards the sender's own receive queue (unix_dgram_
//   disconnected). connect(AF_UNSPEC) dissolves the association the same way: the own queue is
//   purged, and if it was not empty a peer connected back gets sk_err ECONNRESET (POLLERR; its
//   next recv fails ECONNRESET before returning its queued data; SO_ERROR then reads 0).
// - E71: a seqpacket peer that closes with unread data leaves ECONNRESET pending (POLLERR), and
//   the first recv returns that error *before* the data still queued (datagram recv checks the
//   error first); the data, then 0, follow.
// - A unix dgram socket connected to A only accepts datagrams from A: others get EPERM on sendto
//   and on connect. sendto to a missing pathname → ENOENT, to a missing abstract name or an
//   abstract name of another type → ECONNREFUSED, to a pathname of another type → EPROTOTYPE, to
//   an address of length <= sizeof(sa_family_t) or > sizeof(sockaddr_un) → EINVAL. An unconnected
//   dgram send without an address → ENOTCONN (not UDP's EDESTADDRREQ). MSG_OOB → EOPNOTSUPP.
// - E56 for AF_UNIX dgram: recv(fd, buf, 0, 0) consumes a datagram and returns 0 (EAGAIN when
//   none is queued); read(fd, buf, 0) returns 0 at once and consumes nothing, even on an empty
//   blocking socket. write(fd, buf, 0) sends a zero-length datagram. FIONREAD: dgram → length of
//   the first datagram only; seqpacket → the sum over the queue.
// - MSG_WAITALL has no effect on dgram or seqpacket recv; recvmmsg/sendmmsg with vlen 0 → 0;
//   sendmmsg stops at the first failure and returns the count sent (11 into a full receiver).
// - SCM_RIGHTS: fds land on the lowest free numbers; received fds share the open file description;
//   recvmsg echoes MSG_CMSG_CLOEXEC in msg_flags. No control buffer, or one of only a cmsghdr →
//   MSG_CTRUNC, msg_controllen 0, nothing installed; a buffer with room for k of n fds installs
//   the first k (cmsg_len CMSG_LEN(4k)) and closes the rest, with MSG_CTRUNC. recv()/read() drop
//   the fds. MSG_PEEK installs copies; the real recv installs them again. 253 fds per message
//   (SCM_MAX_FD) pass, 254 → EINVAL; a bad fd → EBADF. An in-flight reference keeps a pipe end
//   open until the message is received or purged by the receiver's close; a socket sent into its
//   own queue is released by the unix garbage collector after both fds are closed.
// - SCM_CREDENTIALS: only a receiver with SO_PASSCRED gets them (ucred, cmsg_len 28), before
//   SCM_RIGHTS; with SO_PASSCRED and no control buffer, msg_flags has MSG_CTRUNC. SO_PASSCRED on
//   the sender autobinds it on its first send (and on a dgram connect). Explicit credentials of
//   yourself pass; a pid that does not exist → ESRCH (as root; EPERM before that check without
//   CAP_SYS_ADMIN); as root another process's pid passes.
// - Names: unnamed (socketpair, never bound) → length sizeof(sa_family_t) = 2; pathname → length
//   offsetof(sun_path) + strlen + 1 even when bound without the NUL; abstract → exactly the
//   length given at bind; autobind (bind with addrlen 2) → "\0" + 5 lowercase hex digits,
//   length 8, and a second autobind returns 0 with the name unchanged; an explicit bind of a bound
//   socket → EINVAL, except that an existing path is checked first (EADDRINUSE). A pathname stays
//   taken (EADDRINUSE) after its socket closes until unlinked. recvfrom from an unbound sender →
//   addrlen 0 and the buffer untouched. getpeername of an unconnected dgram → ENOTCONN.
//
// Not tested here:
// - F6's key filter of a blocked dgram recv (receiver_wake_function ignores wakes without IN or
//   ERR): a woken receiver that finds nothing just sleeps again, so the filter is invisible.
//   The exclusive FIFO order of blocked receivers and of blocked senders (peer_wait) is tested.
// - E66's "the receiver is dead → POLLOUT" when the receiver's queue is full at its death: the
//   queue is purged at close, so "not full" and "dead" cannot be told apart from outside.
// - Signals during these blocking calls (E12's restart rules) belong to the generic socket tests.
// - SO_PASSRIGHTS (6.16+, EPERM for SCM_RIGHTS) and SCM_PIDFD are not asked for by issue 4.
// - The per-user in-flight limit (ETOOMANYREFS above RLIMIT_NOFILE fds in flight) is not enforced
//   for root (CAP_SYS_RESOURCE), which these tests run as.
#include <dirent.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "conformance/helpers.hpp"

namespace {

using namespace std::chrono_literals;
using namespace conformance;

constexpr short kAll =
    POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLRDHUP;
constexpr short kOut = POLLOUT | POLLWRNORM | POLLWRBAND;
constexpr short kIn = POLLIN | POLLRDNORM;
constexpr short kRdhup = POLLIN | POLLRDNORM | POLLRDHUP;

// net.unix.max_dgram_qlen defaults to 10 and the queue counts as full when qlen > 10.
constexpr int kQlenFit = 11;
// net.core.wmem_default, the sndbuf of a new socket.
constexpr int kDefaultSndbuf = 212992;
// One-byte datagrams that fit in a default sndbuf (768 bytes of truesize each).
constexpr int kSndbufDatagrams = 278;
// Datagrams to drain from a full default sndbuf before the sender is writable again.
constexpr int kDrainedBeforeWritable = 209;

std::atomic<unsigned> g_unique{0};

std::string errname(int e) {
  const char* n = strerrorname_np(e);
  return std::string("errno ") + (n != nullptr ? n : std::to_string(e).c_str());
}

// A poll/epoll mask, printed in hex.
struct Mask {
  unsigned v;
  bool operator==(const Mask& o) const { return v == o.v; }
};
std::ostream& operator<<(std::ostream& os, Mask m) {
  return os << "0x" << std::hex << m.v << std::dec;
}
Mask mask(short m) {
  return Mask{static_cast<uint16_t>(m)};
}

// The host's net.unix.max_dgram_qlen (10 if it cannot be read).
int host_max_dgram_qlen() {
  std::ifstream f("/proc/sys/net/unix/max_dgram_qlen");
  int v = 10;
  f >> v;
  return v;
}

// Runs fn with SIGPIPE blocked in this thread; returns whether fn left a SIGPIPE pending (then
// discarded, so that it cannot kill the test process).
template <class F>
bool raises_sigpipe(F fn) {
  MaskScope block(SIG_BLOCK, SIGPIPE);
  EXPECT_FALSE(signal_is_pending(SIGPIPE)) << "SIGPIPE pending before the call";
  fn();
  const bool raised = signal_is_pending(SIGPIPE);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  struct timespec zero = {0, 0};
  while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
  }
  return raised;
}

class UnixFixture : public OwnedFds {
 protected:
  // A socket address and its length.
  struct Name {
    struct sockaddr_un addr = {};
    socklen_t len = 0;
    const struct sockaddr* sa() const { return reinterpret_cast<const struct sockaddr*>(&addr); }
    std::string bytes() const { return std::string(reinterpret_cast<const char*>(&addr), len); }
  };

  void TearDown() override {
    OwnedFds::TearDown();
    if (dir_.empty()) return;
    if (DIR* d = opendir(dir_.c_str())) {
      while (struct dirent* e = readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
          ::unlink((dir_ + "/" + e->d_name).c_str());
        }
      }
      closedir(d);
    }
    ::rmdir(dir_.c_str());
  }

  // An owned AF_UNIX socket of `type` (flags or'ed in); -1 and a failure if it cannot be made.
  int sock(int type) {
    const int fd = sys->socket(AF_UNIX, type, 0);
    EXPECT_GE(fd, 0) << "socket: " << strerror(errno);
    return own(fd);
  }
  // An owned socketpair; false and a failure if it cannot be made.
  bool pair(int type, int sv[2]) {
    if (sys->socketpair(AF_UNIX, type, 0, sv) != 0) {
      ADD_FAILURE() << "socketpair: " << strerror(errno);
      return false;
    }
    own(sv[0]);
    own(sv[1]);
    return true;
  }
  // A fresh abstract name, unique to this process and call.
  Name abstract_name(const char* tag) {
    Name n;
    n.addr.sun_family = AF_UNIX;
    const std::string s = "ustack-e-unix-dgram-" + std::to_string(getpid()) + "-" +
                          std::to_string(g_unique.fetch_add(1)) + "-" + tag;
    std::memcpy(n.addr.sun_path + 1, s.data(), s.size());
    n.len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + s.size());
    return n;
  }
  // A pathname under this test's own temporary directory (made on first use, removed at the
  // end), with the terminating NUL counted in the length.
  Name path_name(const char* leaf) {
    if (dir_.empty()) {
      char tmpl[] = "/tmp/ustack-e-unix-XXXXXX";
      if (mkdtemp(tmpl) == nullptr) {
        ADD_FAILURE() << "mkdtemp: " << strerror(errno);
      } else {
        dir_ = tmpl;
      }
    }
    const std::string p = dir_ + "/" + leaf;
    Name n;
    n.addr.sun_family = AF_UNIX;
    std::memcpy(n.addr.sun_path, p.data(), p.size());
    n.len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + p.size() + 1);
    return n;
  }
  // An owned socket of `type` bound to n; -1 and a failure if that fails.
  int bound(int type, const Name& n) {
    const int fd = sock(type);
    if (fd < 0) return -1;
    if (sys->bind(fd, n.sa(), n.len) != 0) {
      ADD_FAILURE() << "bind: " << strerror(errno);
      return -1;
    }
    return fd;
  }
  int connect_to(int fd, const Name& n) { return sys->connect(fd, n.sa(), n.len); }

  Mask revents(int fd) { return mask(poll_revents(sys, fd, kAll)); }
  // The events a fresh level-triggered epoll reports for fd (every event requested).
  Mask epoll_revents(int fd) {
    const int ep = sys->epoll_create1(0);
    EXPECT_GE(ep, 0);
    struct epoll_event ev = {};
    ev.events = static_cast<uint16_t>(kAll);
    EXPECT_EQ(sys->epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
    struct epoll_event out[2] = {};
    const int n = sys->epoll_wait(ep, out, 2, 0);
    sys->close(ep);
    EXPECT_LE(n, 1);
    return Mask{n == 1 ? out[0].events : 0u};
  }
  // Checks fd's readiness through poll and through a level-triggered epoll.
  void expect_ready(int fd, short m, const char* what) {
    EXPECT_EQ(revents(fd), mask(m)) << what << " (poll)";
    EXPECT_EQ(epoll_revents(fd), mask(m)) << what << " (epoll)";
  }
  // revents of a poll on fd that waits up to `ms` for `events`.
  Mask wait_revents(int fd, short events, int ms) {
    struct pollfd p = {fd, events, 0};
    sys->poll(&p, 1, ms);
    return mask(p.revents);
  }

  ssize_t send_str(int fd, std::string_view s, int flags = 0) {
    return sys->send(fd, s.data(), s.size(), flags);
  }
  ssize_t sendto_str(int fd, std::string_view s, const Name& to, int flags = 0) {
    return sys->sendto(fd, s.data(), s.size(), flags, to.sa(), to.len);
  }
  // The next datagram (up to 4096 bytes), or "errno NAME" if recv fails.
  std::string recv_str(int fd, int flags = MSG_DONTWAIT) {
    char buf[4096];
    const ssize_t n = sys->recv(fd, buf, sizeof buf, flags);
    if (n < 0) return errname(errno);
    return std::string(buf, static_cast<size_t>(n));
  }
  // The result of a call returning -1/errno, as recv_str spells it ("errno NAME"), or the count.
  static std::string res(long r) { return r < 0 ? errname(errno) : std::to_string(r); }

  void set_timeo(int fd, int opt, std::chrono::milliseconds ms) {
    struct timeval tv = {static_cast<time_t>(ms.count() / 1000),
                         static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
    EXPECT_EQ(sys->setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv), 0);
  }
  int get_int_opt(int fd, int opt) {
    int v = -1;
    socklen_t len = sizeof v;
    EXPECT_EQ(sys->getsockopt(fd, SOL_SOCKET, opt, &v, &len), 0);
    return v;
  }
  // Sends 1-byte datagrams with MSG_DONTWAIT until one fails; returns how many went, and checks
  // that the failure was EAGAIN.
  int fill(int fd) {
    int n = 0;
    while (n < 100000 && send_str(fd, "f", MSG_DONTWAIT) == 1) ++n;
    EXPECT_EQ(errno, EAGAIN) << strerror(errno);
    return n;
  }
  // The lowest fd number not in use, found with dup(any) and closed again.
  int lowest_free_fd(int any) {
    const int d = sys->dup(any);
    if (d >= 0) sys->close(d);
    return d;
  }
  // The n lowest fd numbers not in use (there may be holes), found the same way.
  std::vector<int> free_fds(int any, int n) {
    std::vector<int> out(static_cast<size_t>(n));
    for (int& fd : out) fd = sys->dup(any);
    for (int fd : out) {
      if (fd >= 0) sys->close(fd);
    }
    return out;
  }

  // sendmsg of data with one SOL_SOCKET control message of `type` carrying `len` bytes.
  ssize_t send_cmsg(int fd, std::string_view data, int type, const void* payload, size_t len,
                    int flags = 0) {
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 300)] = {};
    struct iovec iov = {const_cast<char*>(data.data()), data.size()};
    struct msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = CMSG_SPACE(len);
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(len);
    std::memcpy(CMSG_DATA(c), payload, len);
    return sys->sendmsg(fd, &m, flags);
  }
  ssize_t send_fds(int fd, const std::vector<int>& fds, std::string_view data = "x") {
    return send_cmsg(fd, data, SCM_RIGHTS, fds.data(), fds.size() * sizeof(int));
  }
  ssize_t send_creds(int fd, const struct ucred& c, std::string_view data = "c") {
    return send_cmsg(fd, data, SCM_CREDENTIALS, &c, sizeof c);
  }

  // What one recvmsg returned.
  struct Msg {
    ssize_t ret = -1;
    int err = 0;
    int flags = 0;
    std::string data;
    size_t controllen = 0;          // msg_controllen on return
    std::vector<int> types;         // cmsg types, in order
    std::vector<size_t> cmsg_lens;  // their cmsg_len
    std::vector<int> fds;           // SCM_RIGHTS fds, in order; owned by the fixture
    bool has_creds = false;
    struct ucred creds = {};
  };
  // recvmsg with a `datalen`-byte buffer and a `controllen`-byte control buffer (none if 0).
  Msg recv_msg(int fd, size_t controllen, int flags = MSG_DONTWAIT, size_t datalen = 4096) {
    alignas(struct cmsghdr) char control[4096] = {};
    std::vector<char> buf(datalen + 1);
    struct iovec iov = {buf.data(), datalen};
    struct msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = controllen ? control : nullptr;
    m.msg_controllen = controllen;
    Msg r;
    r.ret = sys->recvmsg(fd, &m, flags);
    r.err = errno;
    if (r.ret < 0) return r;
    r.flags = m.msg_flags;
    r.data.assign(buf.data(), std::min(static_cast<size_t>(r.ret), datalen));
    r.controllen = m.msg_controllen;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      r.types.push_back(c->cmsg_type);
      r.cmsg_lens.push_back(c->cmsg_len);
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; ++i) {
          int got;
          std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
          r.fds.push_back(own(got));
        }
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        r.has_creds = true;
        std::memcpy(&r.creds, CMSG_DATA(c), sizeof r.creds);
      }
    }
    return r;
  }

  // A receiver bound to a fresh abstract name (non-blocking) and a sender connected to it that
  // the receiver is not connected back to; false and a failure if they cannot be made.
  bool one_way(int* r, int* s, Name* rn, int sender_flags = SOCK_NONBLOCK) {
    *rn = abstract_name("r");
    *r = bound(SOCK_DGRAM | SOCK_NONBLOCK, *rn);
    *s = sock(SOCK_DGRAM | sender_flags);
    if (*r < 0 || *s < 0) return false;
    if (connect_to(*s, *rn) != 0) {
      ADD_FAILURE() << "connect: " << strerror(errno);
      return false;
    }
    return true;
  }
  // Skips when the host's receive-queue limit is not the default this file's counts assume.
  bool default_qlen() { return !sys->is_linux || host_max_dgram_qlen() == 10; }

  std::string dir_;
};

class EUnixDgram : public UnixFixture {};
class EUnixSeqpacket : public UnixFixture {};
class EUnixScm : public UnixFixture {};
class EUnixName : public UnixFixture {};

#define REQUIRE_DEFAULT_QLEN()                                                             \
  do {                                                                                     \
    if (!default_qlen()) GTEST_SKIP() << "net.unix.max_dgram_qlen is not 10 on this host"; \
  } while (0)

// ---------------------------------------------------------------------------------------------
// E64 and readiness of dgram sockets in each state.

TEST_P(EUnixDgram, E64_FreshDgramIsWritableWithoutHup) {
  REQUIRE_SOCKETS();
  const int fresh = sock(SOCK_DGRAM);
  ASSERT_GE(fresh, 0);
  expect_ready(fresh, kOut, "fresh");
  const int named = bound(SOCK_DGRAM, abstract_name("e64"));
  ASSERT_GE(named, 0);
  expect_ready(named, kOut, "bound to an abstract name");
  const int path = bound(SOCK_DGRAM, path_name("e64"));
  ASSERT_GE(path, 0);
  expect_ready(path, kOut, "bound to a pathname");
  const int autob = sock(SOCK_DGRAM);
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  ASSERT_EQ(sys->bind(autob, reinterpret_cast<struct sockaddr*>(&a), sizeof(sa_family_t)), 0);
  expect_ready(autob, kOut, "autobound");
}

TEST_P(EUnixDgram, E64_ReadinessFollowsTheReceiveQueue) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  expect_ready(sv[0], kOut, "socketpair end");
  ASSERT_EQ(send_str(sv[0], "a"), 1);
  ASSERT_EQ(send_str(sv[0], "b"), 1);
  expect_ready(sv[1], kIn | kOut, "two datagrams queued");
  expect_ready(sv[0], kOut, "sender");
  EXPECT_EQ(recv_str(sv[1]), "a");
  expect_ready(sv[1], kIn | kOut, "one datagram queued");
  EXPECT_EQ(recv_str(sv[1]), "b");
  expect_ready(sv[1], kOut, "drained");

  // A sender connected to a named receiver that has room.
  int r, s;
  Name rn;
  ASSERT_TRUE(one_way(&r, &s, &rn));
  expect_ready(s, kOut, "connected sender");
  ASSERT_EQ(send_str(s, "x"), 1);
  expect_ready(r, kIn | kOut, "named receiver with a datagram");
}

// --- E24–E26 as they apply to dgram ---

TEST_P(EUnixDgram, E26_DgramShutdownIsLocalAndNotMirroredToThePeer) {
  REQUIRE_SOCKETS();
  int rd[2], wr[2], both[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, rd));
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, wr));
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, both));

  // SHUT_RD: the shutter reads EOF-ish readiness; the peer sees nothing but its send fails.
  ASSERT_EQ(sys->shutdown(rd[1], SHUT_RD), 0);
  expect_ready(rd[1], kRdhup | kOut, "after its own SHUT_RD");
  expect_ready(rd[0], kOut, "peer of a SHUT_RD socket");
  EXPECT_EQ(res(send_str(rd[0], "a")), errname(EPIPE));
  EXPECT_EQ(res(send_str(rd[1], "a")), "1");  // the shutter can still send
  EXPECT_EQ(recv_str(rd[0]), "a");

  // SHUT_WR: no readiness change on either side; only the shutter's sends fail.
  ASSERT_EQ(sys->shutdown(wr[0], SHUT_WR), 0);
  expect_ready(wr[0], kOut, "after its own SHUT_WR");
  expect_ready(wr[1], kOut, "peer of a SHUT_WR socket");
  EXPECT_EQ(res(send_str(wr[0], "a")), errname(EPIPE));
  EXPECT_EQ(res(send_str(wr[1], "b")), "1");
  EXPECT_EQ(recv_str(wr[0]), "b");

  ASSERT_EQ(sys->shutdown(both[0], SHUT_RDWR), 0);
  expect_ready(both[0], POLLHUP | kRdhup | kOut, "after SHUT_RDWR");
  expect_ready(both[1], kOut, "peer of a SHUT_RDWR socket");
}

TEST_P(EUnixDgram, E26_DgramShutdownReturnsZeroWhenUnconnected) {
  REQUIRE_SOCKETS();
  const int fd = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(sys->shutdown(fd, SHUT_RD), 0);
  expect_ready(fd, kRdhup | kOut, "unconnected after SHUT_RD");
  EXPECT_EQ(sys->shutdown(fd, SHUT_WR), 0);
  expect_ready(fd, POLLHUP | kRdhup | kOut, "unconnected after SHUT_RD and SHUT_WR");
}

TEST_P(EUnixDgram, E26_ShutRdRecvIsEagainNonblockingButZeroBlocking) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  set_timeo(sv[1], SO_RCVTIMEO, kBound);
  ASSERT_EQ(send_str(sv[0], "queued"), 6);
  ASSERT_EQ(sys->shutdown(sv[1], SHUT_RD), 0);
  EXPECT_EQ(recv_str(sv[1]), "queued");  // what was queued before stays readable
  EXPECT_EQ(recv_str(sv[1], MSG_DONTWAIT), errname(EAGAIN));
  const auto t0 = Clock::now();
  EXPECT_EQ(recv_str(sv[1], 0), "");
  EXPECT_LT(us_since(t0), 500000);
}

TEST_P(EUnixDgram, E26_ShutRdWakesABlockedRecvWithZero) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  set_timeo(sv[1], SO_RCVTIMEO, kBound);
  char buf[16];
  Call blocked([&] { return long(sys->recv(sv[1], buf, sizeof buf, 0)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(blocked.done());
  ASSERT_EQ(sys->shutdown(sv[1], SHUT_RD), 0);
  ASSERT_TRUE(blocked.wait());
  EXPECT_EQ(blocked.result(), 0);
  EXPECT_LT(blocked.elapsed(), kBound - 500ms);
}

// --- E65: receive-queue flow control ---

TEST_P(EUnixDgram, E65_ElevenDatagramsFitThenEagain) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  int r, s;
  Name rn;
  ASSERT_TRUE(one_way(&r, &s, &rn));
  for (int i = 0; i < kQlenFit; ++i) {
    ASSERT_EQ(send_str(s, std::string(1, char('a' + i))), 1) << i << ": " << strerror(errno);
  }
  EXPECT_EQ(res(send_str(s, "x")), errname(EAGAIN));
  EXPECT_EQ(res(send_str(s, "x", MSG_DONTWAIT)), errname(EAGAIN));
  expect_ready(r, kIn | kOut, "full receiver");
  for (int i = 0; i < kQlenFit; ++i) EXPECT_EQ(recv_str(r), std::string(1, char('a' + i)));
  EXPECT_EQ(recv_str(r), errname(EAGAIN));
  EXPECT_EQ(res(send_str(s, "y")), "1");
}

TEST_P(EUnixDgram, E65_UnconnectedSendtoIsLimitedTheSame) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  const Name rn = abstract_name("r");
  const int r = bound(SOCK_DGRAM | SOCK_NONBLOCK, rn);
  const int u = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  ASSERT_GE(r, 0);
  ASSERT_GE(u, 0);
  int sent = 0;
  while (sent < 1000 && sendto_str(u, "u", rn) == 1) ++sent;
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(sent, kQlenFit);
  // An unconnected sender has no peer to look at: its poll stays writable.
  expect_ready(u, kOut, "unconnected sender to a full receiver");
  // A second unconnected sender is limited by the same queue.
  const int u2 = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  EXPECT_EQ(res(sendto_str(u2, "v", rn)), errname(EAGAIN));
  EXPECT_EQ(recv_str(r), "u");
  EXPECT_EQ(res(sendto_str(u2, "v", rn)), "1");
}

TEST_P(EUnixDgram, E65_NoQlenLimitWhenTheReceiverIsConnectedBack) {
  REQUIRE_SOCKETS();
  const Name rn = abstract_name("r"), sn = abstract_name("s");
  const int r = bound(SOCK_DGRAM | SOCK_NONBLOCK, rn);
  const int s = bound(SOCK_DGRAM | SOCK_NONBLOCK, sn);
  ASSERT_GE(r, 0);
  ASSERT_GE(s, 0);
  ASSERT_EQ(connect_to(s, rn), 0);
  ASSERT_EQ(connect_to(r, sn), 0);
  const int sent = fill(s);
  if (get_int_opt(s, SO_SNDBUF) == kDefaultSndbuf) {
    EXPECT_EQ(sent, kSndbufDatagrams);
  } else {
    EXPECT_GT(sent, kQlenFit);
  }
  // Limited by its own sndbuf now, not by the receiver.
  EXPECT_EQ(revents(s), mask(0));
  int got = 0;
  while (recv_str(r) == "f") ++got;
  EXPECT_EQ(got, sent);
}

TEST_P(EUnixDgram, E65_BlockedSenderWokenWhenTheReceiverDrains) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  int r, s;
  Name rn;
  ASSERT_TRUE(one_way(&r, &s, &rn, 0));
  set_timeo(s, SO_SNDTIMEO, kBound);
  for (int i = 0; i < kQlenFit; ++i) ASSERT_EQ(send_str(s, "f", MSG_DONTWAIT), 1);
  Call blocked([&] { return long(send_str(s, "w")); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(blocked.done());
  EXPECT_EQ(recv_str(r), "f");
  ASSERT_TRUE(blocked.wait());
  EXPECT_EQ(blocked.result(), 1);
  EXPECT_LT(blocked.elapsed(), kBound - 500ms);
  for (int i = 1; i < kQlenFit; ++i) EXPECT_EQ(recv_str(r), "f");
  EXPECT_EQ(recv_str(r), "w");
}

TEST_P(EUnixDgram, E65_SndtimeoBoundsTheWaitForRoom) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  int r, s;
  Name rn;
  ASSERT_TRUE(one_way(&r, &s, &rn, 0));
  set_timeo(s, SO_SNDTIMEO, 100ms);
  for (int i = 0; i < kQlenFit; ++i) ASSERT_EQ(send_str(s, "f", MSG_DONTWAIT), 1);
  const auto t0 = Clock::now();
  EXPECT_EQ(res(send_str(s, "w")), errname(EAGAIN));
  EXPECT_GE(us_since(t0), 90000);
  EXPECT_LT(us_since(t0), 1000000);
}

TEST_P(EUnixDgram, E65_BlockedSenderGetsEconnrefusedWhenTheReceiverCloses) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  int r, s;
  Name rn;
  ASSERT_TRUE(one_way(&r, &s, &rn, 0));
  set_timeo(s, SO_SNDTIMEO, kBound);
  for (int i = 0; i < kQlenFit; ++i) ASSERT_EQ(send_str(s, "f", MSG_DONTWAIT), 1);
  Call blocked([&] { return long(send_str(s, "w")); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(blocked.done());
  ASSERT_EQ(close_now(r), 0);
  ASSERT_TRUE(blocked.wait());
  EXPECT_EQ(blocked.result(), -1);
  EXPECT_EQ(blocked.err(), ECONNREFUSED);
  EXPECT_EQ(res(send_str(s, "x")), errname(ENOTCONN));
}

TEST_P(EUnixDgram, F10_BlockedDgramSendersWakeOneAtATimeInArrivalOrder) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  int r, filler;
  Name rn;
  ASSERT_TRUE(one_way(&r, &filler, &rn));
  const int s1 = sock(SOCK_DGRAM), s2 = sock(SOCK_DGRAM);
  ASSERT_EQ(connect_to(s1, rn), 0);
  ASSERT_EQ(connect_to(s2, rn), 0);
  set_timeo(s1, SO_SNDTIMEO, kBound);
  set_timeo(s2, SO_SNDTIMEO, kBound);
  for (int i = 0; i < kQlenFit; ++i) ASSERT_EQ(send_str(filler, "f"), 1);
  Call first([&] { return long(send_str(s1, "1")); });
  std::this_thread::sleep_for(2 * kSettle);
  Call second([&] { return long(send_str(s2, "2")); });
  std::this_thread::sleep_for(2 * kSettle);
  ASSERT_FALSE(first.done());
  ASSERT_FALSE(second.done());
  // One dequeue wakes one exclusive waiter on peer_wait: the first to arrive.
  EXPECT_EQ(recv_str(r), "f");
  ASSERT_TRUE(first.wait());
  EXPECT_EQ(first.result(), 1);
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(second.done());
  EXPECT_EQ(recv_str(r), "f");
  ASSERT_TRUE(second.wait());
  EXPECT_EQ(second.result(), 1);
  for (int i = 2; i < kQlenFit; ++i) EXPECT_EQ(recv_str(r), "f");
  EXPECT_EQ(recv_str(r), "1");
  EXPECT_EQ(recv_str(r), "2");
}

// --- E66: unix_dgram_poll and the peer_wait relay ---

TEST_P(EUnixDgram, E66_ConnectedSenderLosesPolloutWhileTheReceiverIsFull) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  int r, s;
  Name rn;
  ASSERT_TRUE(one_way(&r, &s, &rn));
  for (int i = 0; i < kQlenFit - 1; ++i) ASSERT_EQ(send_str(s, "f"), 1);
  expect_ready(s, kOut, "receiver holds 10 (not full)");
  ASSERT_EQ(send_str(s, "f"), 1);
  expect_ready(s, 0, "receiver holds 11 (full)");
  EXPECT_EQ(recv_str(r), "f");
  expect_ready(s, kOut, "receiver drained to 10");
}

TEST_P(EUnixDgram, E66_PeerWaitRelayFiresEtEpollout) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  const Name rn = abstract_name("r");
  const int r = bound(SOCK_DGRAM | SOCK_NONBLOCK, rn);
  const int filler = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  const int s = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  ASSERT_GE(r, 0);
  // The receiver is filled by a third socket, so that dequeuing frees none of s's memory and
  // only the peer_wait relay can wake s.
  for (int i = 0; i < kQlenFit; ++i) ASSERT_EQ(sendto_str(filler, "f", rn), 1);
  ASSERT_EQ(connect_to(s, rn), 0);
  const int ep = make_epoll();
  struct epoll_event ev = {};
  ev.events = EPOLLOUT | EPOLLET;
  ev.data.u64 = 7;
  ASSERT_EQ(sys->epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);  // polls s: full, so s is hooked
  struct epoll_event out[2] = {};
  EXPECT_EQ(sys->epoll_wait(ep, out, 2, 0), 0);
  EXPECT_EQ(res(send_str(s, "x")), errname(EAGAIN));
  EXPECT_EQ(sys->epoll_wait(ep, out, 2, 0), 0);
  EXPECT_EQ(recv_str(r), "f");
  ASSERT_EQ(sys->epoll_wait(ep, out, 2, 0), 1);
  EXPECT_EQ((Ev{out[0].events, out[0].data.u64}), (Ev{EPOLLOUT, 7}));
  // Edge-triggered: no second report without a new wake-up.
  EXPECT_EQ(sys->epoll_wait(ep, out, 2, 0), 0);
  EXPECT_EQ(res(send_str(s, "y")), "1");
}

TEST_P(EUnixDgram, E66_NoRelayToASenderThatNeverFoundTheQueueFull) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  const Name rn = abstract_name("r");
  const int r = bound(SOCK_DGRAM | SOCK_NONBLOCK, rn);
  const int filler = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  const int s = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  ASSERT_GE(r, 0);
  ASSERT_EQ(connect_to(s, rn), 0);
  const int ep = make_epoll();
  struct epoll_event ev = {};
  ev.events = EPOLLOUT | EPOLLET;
  ev.data.u64 = 7;
  ASSERT_EQ(sys->epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
  struct epoll_event out[2] = {};
  ASSERT_EQ(sys->epoll_wait(ep, out, 2, 0), 1);  // the initial edge, polled while not full
  for (int i = 0; i < kQlenFit; ++i) ASSERT_EQ(sendto_str(filler, "f", rn), 1);
  EXPECT_EQ(sys->epoll_wait(ep, out, 2, 0), 0);
  // s never polled or sent while the queue was full, so it is not on the receiver's peer_wait:
  // the dequeue relays nothing to it.
  EXPECT_EQ(recv_str(r), "f");
  EXPECT_EQ(sys->epoll_wait(ep, out, 2, 0), 0);
  EXPECT_EQ(res(send_str(s, "x")), "1");
}

TEST_P(EUnixDgram, E66_DeadReceiverReportsPolloutThenEconnrefused) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  int r, s;
  Name rn;
  ASSERT_TRUE(one_way(&r, &s, &rn));
  for (int i = 0; i < kQlenFit; ++i) ASSERT_EQ(send_str(s, "f"), 1);
  const int ep = make_epoll();
  struct epoll_event ev = {};
  ev.events = EPOLLOUT | EPOLLET;
  ev.data.u64 = 3;
  ASSERT_EQ(sys->epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), 0);
  struct epoll_event out[2] = {};
  EXPECT_EQ(sys->epoll_wait(ep, out, 2, 0), 0);
  EXPECT_EQ(revents(s), mask(0));
  ASSERT_EQ(close_now(r), 0);
  ASSERT_EQ(sys->epoll_wait(ep, out, 2, 0), 1);
  EXPECT_EQ((Ev{out[0].events, out[0].data.u64}), (Ev{EPOLLOUT, 3}));
  expect_ready(s, kOut, "sender whose receiver is dead");  // no HUP, no ERR
  EXPECT_EQ(res(send_str(s, "x")), errname(ECONNREFUSED));
  EXPECT_EQ(res(send_str(s, "x")), errname(ENOTCONN));
  expect_ready(s, kOut, "sender after the association dissolved");
}

// --- E67: socketpair(SOCK_DGRAM) is limited by the sender's sndbuf only ---

TEST_P(EUnixDgram, E67_SocketpairDgramHasNoQlenLimit) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const bool default_sndbuf = get_int_opt(sv[0], SO_SNDBUF) == kDefaultSndbuf;
  const int sent = fill(sv[0]);
  EXPECT_GT(sent, kQlenFit);
  if (default_sndbuf) {
    EXPECT_EQ(sent, kSndbufDatagrams);
  }
  EXPECT_EQ(revents(sv[0]), mask(0));  // the sndbuf is full
  expect_ready(sv[1], kIn | kOut, "receiver");
  // Writable again only once at most a quarter of the sndbuf is in use.
  int drained = 0;
  while (drained < sent && (poll_revents(sys, sv[0], POLLOUT) & POLLOUT) == 0) {
    ASSERT_EQ(recv_str(sv[1]), "f");
    ++drained;
  }
  if (default_sndbuf) {
    EXPECT_EQ(drained, kDrainedBeforeWritable);
  }
  // Zero-length datagrams are charged the same.
  int zv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, zv));
  int zeros = 0;
  while (zeros < 100000 && send_str(zv[0], "") == 0) ++zeros;
  EXPECT_EQ(errno, EAGAIN);
  if (default_sndbuf) {
    EXPECT_EQ(zeros, kSndbufDatagrams);
  }
}

TEST_P(EUnixDgram, E67_BlockedSocketpairSenderWaitsForAQuarterOfSndbuf) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  if (get_int_opt(sv[0], SO_SNDBUF) != kDefaultSndbuf) GTEST_SKIP() << "non-default sndbuf";
  set_timeo(sv[0], SO_SNDTIMEO, kBound);
  ASSERT_EQ(fill(sv[0]), kSndbufDatagrams);
  Call blocked([&] { return long(send_str(sv[0], "w")); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(blocked.done());
  for (int i = 0; i < kDrainedBeforeWritable - 1; ++i) ASSERT_EQ(recv_str(sv[1]), "f");
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(blocked.done());  // room for a datagram, but no write-space wake-up yet
  ASSERT_EQ(recv_str(sv[1]), "f");
  ASSERT_TRUE(blocked.wait());
  EXPECT_EQ(blocked.result(), 1);
}

// --- E68: EPIPE without SIGPIPE ---

TEST_P(EUnixDgram, E68_SendToAReceiverThatDidShutRdIsEpipeWithoutSigpipe) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_EQ(sys->shutdown(sv[1], SHUT_RD), 0);
  std::string r1, r2;
  EXPECT_FALSE(raises_sigpipe([&] { r1 = res(send_str(sv[0], "a")); }));
  EXPECT_EQ(r1, errname(EPIPE));
  // The same through an unconnected sendto to a named receiver.
  const Name rn = abstract_name("r");
  const int r = bound(SOCK_DGRAM | SOCK_NONBLOCK, rn);
  const int u = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  ASSERT_EQ(sys->shutdown(r, SHUT_RD), 0);
  EXPECT_FALSE(raises_sigpipe([&] { r2 = res(sendto_str(u, "a", rn)); }));
  EXPECT_EQ(r2, errname(EPIPE));
  // Control: the same check does see a stream socket's SIGPIPE (E62).
  int st[2];
  ASSERT_TRUE(pair(SOCK_STREAM | SOCK_NONBLOCK, st));
  ASSERT_EQ(close_now(st[1]), 0);
  EXPECT_TRUE(raises_sigpipe([&] { send_str(st[0], "a"); }));
}

TEST_P(EUnixDgram, E68_SendAfterOwnShutWrIsEpipeWithoutSigpipe) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_EQ(sys->shutdown(sv[0], SHUT_WR), 0);
  std::string r1, r2;
  EXPECT_FALSE(raises_sigpipe([&] { r1 = res(send_str(sv[0], "a")); }));
  EXPECT_EQ(r1, errname(EPIPE));
  const Name rn = abstract_name("r");
  ASSERT_GE(bound(SOCK_DGRAM, rn), 0);
  EXPECT_FALSE(raises_sigpipe([&] { r2 = res(sendto_str(sv[0], "a", rn)); }));
  EXPECT_EQ(r2, errname(EPIPE));
}

// --- E69: a connected dgram whose peer closed ---

TEST_P(EUnixDgram, E69_PeerClosedSendIsEconnrefusedThenEnotconn) {
  REQUIRE_SOCKETS();
  int r, s;
  Name rn;
  ASSERT_TRUE(one_way(&r, &s, &rn));
  ASSERT_EQ(close_now(r), 0);
  EXPECT_EQ(res(send_str(s, "a")), errname(ECONNREFUSED));
  EXPECT_EQ(res(send_str(s, "a")), errname(ENOTCONN));
  struct sockaddr_un peer;
  socklen_t len = sizeof peer;
  EXPECT_EQ(res(sys->getpeername(s, reinterpret_cast<struct sockaddr*>(&peer), &len)),
            errname(ENOTCONN));
  // The name is free again: a new receiver can take it and s can send to it.
  const int r2 = bound(SOCK_DGRAM | SOCK_NONBLOCK, rn);
  ASSERT_GE(r2, 0);
  EXPECT_EQ(res(sendto_str(s, "b", rn)), "1");
  EXPECT_EQ(recv_str(r2), "b");
}

TEST_P(EUnixDgram, E69_PeerCloseGivesNoEofOrHup) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  ASSERT_EQ(send_str(sv[0], "abc"), 3);
  ASSERT_EQ(close_now(sv[0]), 0);
  expect_ready(sv[1], kIn | kOut, "peer closed, a datagram queued");
  EXPECT_EQ(recv_str(sv[1]), "abc");
  expect_ready(sv[1], kOut, "peer closed, drained");
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
  // A blocking recv keeps waiting (here until SO_RCVTIMEO): no EOF.
  set_timeo(sv[1], SO_RCVTIMEO, 100ms);
  const auto t0 = Clock::now();
  EXPECT_EQ(recv_str(sv[1], 0), errname(EAGAIN));
  EXPECT_GE(us_since(t0), 90000);
}

TEST_P(EUnixDgram, E69_EconnrefusedDiscardsTheSendersOwnQueue) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_EQ(send_str(sv[0], "unread"), 6);
  ASSERT_EQ(close_now(sv[0]), 0);
  expect_ready(sv[1], kIn | kOut, "before the refused send");
  EXPECT_EQ(res(send_str(sv[1], "a")), errname(ECONNREFUSED));
  expect_ready(sv[1], kOut, "after the refused send");
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
  EXPECT_EQ(res(send_str(sv[1], "a")), errname(ENOTCONN));
}

// --- E70: truncation ---

TEST_P(EUnixDgram, E70_SmallBufferTruncatesAndSetsMsgTrunc) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_EQ(send_str(sv[0], "hello world"), 11);
  ASSERT_EQ(send_str(sv[0], "next"), 4);
  Msg m = recv_msg(sv[1], 0, MSG_DONTWAIT, 4);
  EXPECT_EQ(m.ret, 4);
  EXPECT_EQ(m.data, "hell");
  EXPECT_EQ(m.flags, MSG_TRUNC);
  // The rest of the datagram is gone; a buffer that fits sets no flag.
  m = recv_msg(sv[1], 0, MSG_DONTWAIT, 4);
  EXPECT_EQ(m.ret, 4);
  EXPECT_EQ(m.data, "next");
  EXPECT_EQ(m.flags, 0);
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
}

TEST_P(EUnixDgram, E70_MsgTruncFlagReturnsTheFullLength) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_EQ(send_str(sv[0], "hello world"), 11);
  char buf[16] = {};
  // MSG_PEEK|MSG_TRUNC: the length of the next datagram, which stays queued.
  EXPECT_EQ(sys->recv(sv[1], buf, 4, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT), 11);
  EXPECT_EQ(sys->recv(sv[1], buf, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT), 11);
  Msg m = recv_msg(sv[1], 0, MSG_TRUNC | MSG_DONTWAIT, 4);
  EXPECT_EQ(m.ret, 11);
  EXPECT_EQ(m.data, "hell");  // only the buffer's worth is copied
  EXPECT_EQ(m.flags, MSG_TRUNC);
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
}

// --- Message boundaries, zero-length datagrams, zero-length reads ---

TEST_P(EUnixDgram, Unix_DgramKeepsMessageBoundaries) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const std::string big(100, 'b');
  ASSERT_EQ(send_str(sv[0], "a"), 1);
  ASSERT_EQ(send_str(sv[0], big), 100);
  ASSERT_EQ(sys->write(sv[0], "ccccc", 5), 5);
  struct iovec wv[2] = {{const_cast<char*>("de"), 2}, {const_cast<char*>("fg"), 2}};
  ASSERT_EQ(sys->writev(sv[0], wv, 2), 4);  // one datagram
  ASSERT_EQ(send_str(sv[0], "hij"), 3);
  EXPECT_EQ(recv_str(sv[1]), "a");
  EXPECT_EQ(recv_str(sv[1], MSG_DONTWAIT | MSG_WAITALL), big);  // WAITALL changes nothing
  char buf[4096];
  EXPECT_EQ(sys->read(sv[1], buf, sizeof buf), 5);
  EXPECT_EQ(recv_str(sv[1]), "defg");
  char r1[2] = {}, r2[8] = {};
  struct iovec rv[2] = {{r1, 2}, {r2, 8}};
  EXPECT_EQ(sys->readv(sv[1], rv, 2), 3);  // one datagram scattered
  EXPECT_EQ(std::string(r1, 2) + std::string(r2, 1), "hij");
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
}

TEST_P(EUnixDgram, Unix_ZeroLengthDatagramIsReadableAndNotEof) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_EQ(send_str(sv[0], "abc"), 3);
  ASSERT_EQ(send_str(sv[0], ""), 0);
  ASSERT_EQ(sys->write(sv[0], "", 0), 0);  // write(2) of 0 bytes sends one too
  int inq = -1;
  ASSERT_EQ(sys->ioctl(sv[1], FIONREAD, &inq), 0);
  EXPECT_EQ(inq, 3);  // the first datagram's length, not the queue's
  EXPECT_EQ(recv_str(sv[1]), "abc");
  expect_ready(sv[1], kIn | kOut, "a zero-length datagram queued");
  ASSERT_EQ(sys->ioctl(sv[1], FIONREAD, &inq), 0);
  EXPECT_EQ(inq, 0);
  EXPECT_EQ(recv_str(sv[1]), "");
  EXPECT_EQ(recv_str(sv[1]), "");
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
  expect_ready(sv[1], kOut, "drained");
}

TEST_P(EUnixDgram, Unix_RecvOfZeroBytesConsumesADatagramReadOfZeroDoesNot) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  set_timeo(sv[1], SO_RCVTIMEO, 500ms);
  char buf[8];
  // Nothing queued, blocking socket: read of 0 returns at once, recv of 0 fails.
  auto t0 = Clock::now();
  EXPECT_EQ(sys->read(sv[1], buf, 0), 0);
  EXPECT_LT(us_since(t0), 250000);
  EXPECT_EQ(res(sys->recv(sv[1], buf, 0, MSG_DONTWAIT)), errname(EAGAIN));
  ASSERT_EQ(send_str(sv[0], "abc"), 3);
  EXPECT_EQ(sys->read(sv[1], buf, 0), 0);
  expect_ready(sv[1], kIn | kOut, "after read of 0");
  EXPECT_EQ(sys->recv(sv[1], buf, 0, MSG_DONTWAIT), 0);
  expect_ready(sv[1], kOut, "after recv of 0");
  ASSERT_EQ(send_str(sv[0], "defg"), 4);
  EXPECT_EQ(sys->recv(sv[1], buf, 0, MSG_TRUNC | MSG_DONTWAIT), 4);
  expect_ready(sv[1], kOut, "after recv of 0 with MSG_TRUNC");
}

// --- dgram send errors and associations ---

TEST_P(EUnixDgram, Unix_DgramSizeLimitIsSndbufMinus32) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const int sndbuf = get_int_opt(sv[0], SO_SNDBUF);
  ASSERT_GT(sndbuf, 64);
  std::vector<char> big(static_cast<size_t>(sndbuf));
  EXPECT_EQ(sys->send(sv[0], big.data(), big.size() - 31, 0), -1);
  EXPECT_EQ(errno, EMSGSIZE);
  EXPECT_EQ(sys->send(sv[0], big.data(), big.size() - 32, 0), sndbuf - 32);
  EXPECT_EQ(sys->recv(sv[1], big.data(), big.size(), 0), sndbuf - 32);
  EXPECT_EQ(res(send_str(sv[0], "a", MSG_OOB)), errname(EOPNOTSUPP));
}

TEST_P(EUnixDgram, Unix_UnconnectedDgramSendIsEnotconn) {
  REQUIRE_SOCKETS();
  const int fd = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(res(send_str(fd, "a")), errname(ENOTCONN));
  EXPECT_EQ(res(sys->write(fd, "a", 1)), errname(ENOTCONN));
  EXPECT_EQ(recv_str(fd), errname(EAGAIN));  // recv needs no peer
}

TEST_P(EUnixDgram, Unix_ConnectedReceiverAcceptsOnlyItsPeer) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const Name bn = abstract_name("b");
  ASSERT_EQ(sys->bind(sv[1], bn.sa(), bn.len), 0);
  const int other = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  EXPECT_EQ(res(sendto_str(other, "x", bn)), errname(EPERM));
  EXPECT_EQ(res(connect_to(other, bn)), errname(EPERM));
  EXPECT_EQ(res(sendto_str(sv[0], "y", bn)), "1");  // its peer may address it by name too
  EXPECT_EQ(recv_str(sv[1]), "y");
}

TEST_P(EUnixDgram, Unix_ConnectAfUnspecDissolvesAndPurgesTheQueue) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_EQ(send_str(sv[0], "unread"), 6);
  struct sockaddr unspec = {};
  unspec.sa_family = AF_UNSPEC;
  ASSERT_EQ(sys->connect(sv[1], &unspec, sizeof(sa_family_t)), 0);
  struct sockaddr_un peer;
  socklen_t len = sizeof peer;
  EXPECT_EQ(res(sys->getpeername(sv[1], reinterpret_cast<struct sockaddr*>(&peer), &len)),
            errname(ENOTCONN));
  EXPECT_EQ(res(send_str(sv[1], "a")), errname(ENOTCONN));
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));  // purged
  // The peer, still connected back, is told with ECONNRESET (the queue was not empty).
  expect_ready(sv[0], POLLERR | kOut, "peer of a socket that dissolved with unread data");
  EXPECT_EQ(recv_str(sv[0]), errname(ECONNRESET));
  EXPECT_EQ(get_int_opt(sv[0], SO_ERROR), 0);
  expect_ready(sv[0], kOut, "after the error was read");
  // sv[1] is unconnected now and takes datagrams from anyone, sv[0] included.
  EXPECT_EQ(res(send_str(sv[0], "b")), "1");
  EXPECT_EQ(recv_str(sv[1]), "b");
}

TEST_P(EUnixDgram, Unix_SendtoErrorsForMissingOrWrongNames) {
  REQUIRE_SOCKETS();
  const int u = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  ASSERT_GE(u, 0);
  EXPECT_EQ(res(sendto_str(u, "a", path_name("missing"))), errname(ENOENT));
  EXPECT_EQ(res(sendto_str(u, "a", abstract_name("missing"))), errname(ECONNREFUSED));
  const Name sp = path_name("stream");
  ASSERT_GE(bound(SOCK_STREAM, sp), 0);
  EXPECT_EQ(res(sendto_str(u, "a", sp)), errname(EPROTOTYPE));
  const Name sa = abstract_name("stream");
  ASSERT_GE(bound(SOCK_STREAM, sa), 0);
  EXPECT_EQ(res(sendto_str(u, "a", sa)), errname(ECONNREFUSED));
  Name shortn = abstract_name("x");
  shortn.len = sizeof(sa_family_t);
  EXPECT_EQ(res(sendto_str(u, "a", shortn)), errname(EINVAL));
  Name longn = abstract_name("x");
  longn.len = sizeof(struct sockaddr_un) + 1;
  EXPECT_EQ(res(sendto_str(u, "a", longn)), errname(EINVAL));
  Name inet = abstract_name("x");
  inet.addr.sun_family = AF_INET;
  EXPECT_EQ(res(sendto_str(u, "a", inet)), errname(EINVAL));
}

// --- blocking recv ---

TEST_P(EUnixDgram, Unix_BlockingRecvWokenBySendFromAnotherThread) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  set_timeo(sv[1], SO_RCVTIMEO, kBound);
  char buf[16] = {};
  Call blocked([&] { return long(sys->recv(sv[1], buf, sizeof buf, 0)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(blocked.done());
  ASSERT_EQ(send_str(sv[0], "ping"), 4);
  ASSERT_TRUE(blocked.wait());
  EXPECT_EQ(blocked.result(), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
  EXPECT_LT(blocked.elapsed(), kBound - 500ms);
}

TEST_P(EUnixDgram, F10_BlockedDgramReceiversWakeOneAtATimeInArrivalOrder) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  set_timeo(sv[1], SO_RCVTIMEO, kBound);
  char b1[8] = {}, b2[8] = {};
  Call first([&] { return long(sys->recv(sv[1], b1, sizeof b1, 0)); });
  std::this_thread::sleep_for(2 * kSettle);
  Call second([&] { return long(sys->recv(sv[1], b2, sizeof b2, 0)); });
  std::this_thread::sleep_for(2 * kSettle);
  ASSERT_FALSE(first.done());
  ASSERT_FALSE(second.done());
  ASSERT_EQ(send_str(sv[0], "1"), 1);
  ASSERT_TRUE(first.wait());
  EXPECT_EQ(first.result(), 1);
  EXPECT_EQ(b1[0], '1');
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(second.done());
  ASSERT_EQ(send_str(sv[0], "2"), 1);
  ASSERT_TRUE(second.wait());
  EXPECT_EQ(second.result(), 1);
  EXPECT_EQ(b2[0], '2');
}

// --- sendmmsg / recvmmsg ---

TEST_P(EUnixDgram, Unix_SendmmsgAndRecvmmsgCountMessages) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const char* payload[5] = {"a", "bb", "ccc", "dddd", "eeeee"};
  struct iovec siov[5];
  struct mmsghdr smsg[5] = {};
  for (int i = 0; i < 5; ++i) {
    siov[i] = {const_cast<char*>(payload[i]), static_cast<size_t>(i + 1)};
    smsg[i].msg_hdr.msg_iov = &siov[i];
    smsg[i].msg_hdr.msg_iovlen = 1;
  }
  EXPECT_EQ(sys->sendmmsg(sv[0], smsg, 0, 0), 0);
  ASSERT_EQ(sys->sendmmsg(sv[0], smsg, 5, 0), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(smsg[i].msg_len, unsigned(i + 1)) << i;
  char bufs[8][16];
  struct iovec riov[8];
  struct mmsghdr rmsg[8] = {};
  for (int i = 0; i < 8; ++i) {
    riov[i] = {bufs[i], sizeof bufs[i]};
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  EXPECT_EQ(sys->recvmmsg(sv[1], rmsg, 0, MSG_DONTWAIT, nullptr), 0);
  ASSERT_EQ(sys->recvmmsg(sv[1], rmsg, 8, MSG_DONTWAIT, nullptr), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(rmsg[i].msg_len, unsigned(i + 1)) << i;
    EXPECT_EQ(std::string(bufs[i], rmsg[i].msg_len), payload[i]);
    EXPECT_EQ(rmsg[i].msg_hdr.msg_flags, 0) << i;
  }
  EXPECT_EQ(res(sys->recvmmsg(sv[1], rmsg, 8, MSG_DONTWAIT, nullptr)), errname(EAGAIN));
}

TEST_P(EUnixDgram, Unix_SendmmsgStopsAtAFullReceiver) {
  REQUIRE_SOCKETS();
  REQUIRE_DEFAULT_QLEN();
  int r, s;
  Name rn;
  ASSERT_TRUE(one_way(&r, &s, &rn));
  struct iovec iov = {const_cast<char*>("m"), 1};
  struct mmsghdr msgs[15] = {};
  for (auto& m : msgs) {
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }
  EXPECT_EQ(sys->sendmmsg(s, msgs, 15, 0), kQlenFit);
  EXPECT_EQ(res(sys->sendmmsg(s, msgs, 15, 0)), errname(EAGAIN));
}

TEST_P(EUnixDgram, Unix_RecvmmsgTruncatesPerMessageAndWaitforoneStopsWaiting) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM, sv));
  set_timeo(sv[1], SO_RCVTIMEO, kBound);
  ASSERT_EQ(send_str(sv[0], "hello"), 5);
  ASSERT_EQ(send_str(sv[0], "hi"), 2);
  char bufs[4][3];
  struct iovec riov[4];
  struct mmsghdr rmsg[4] = {};
  for (int i = 0; i < 4; ++i) {
    riov[i] = {bufs[i], sizeof bufs[i]};
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  const auto t0 = Clock::now();
  ASSERT_EQ(sys->recvmmsg(sv[1], rmsg, 4, MSG_WAITFORONE, nullptr), 2);
  EXPECT_LT(us_since(t0), 1000000);  // did not wait for the third
  EXPECT_EQ(rmsg[0].msg_len, 3u);
  EXPECT_EQ(rmsg[0].msg_hdr.msg_flags, MSG_TRUNC);
  EXPECT_EQ(std::string(bufs[0], 3), "hel");
  EXPECT_EQ(rmsg[1].msg_len, 2u);
  EXPECT_EQ(rmsg[1].msg_hdr.msg_flags, 0);
  EXPECT_EQ(std::string(bufs[1], 2), "hi");
}

// ---------------------------------------------------------------------------------------------
// SEQPACKET: E71, E68 and E26 as they apply to it, boundaries.

TEST_P(EUnixSeqpacket, E71_UnconnectedSeqpacketIsHupAndEnotconn) {
  REQUIRE_SOCKETS();
  const int fd = sock(SOCK_SEQPACKET);
  ASSERT_GE(fd, 0);
  set_timeo(fd, SO_RCVTIMEO, kBound);
  expect_ready(fd, kOut | POLLHUP, "fresh seqpacket");
  std::string r;
  EXPECT_FALSE(raises_sigpipe([&] { r = res(send_str(fd, "a", MSG_DONTWAIT)); }));
  EXPECT_EQ(r, errname(ENOTCONN));
  EXPECT_EQ(recv_str(fd), errname(ENOTCONN));
  EXPECT_EQ(recv_str(fd, 0), errname(ENOTCONN));  // a blocking recv does not wait
  EXPECT_EQ(sys->shutdown(fd, SHUT_RDWR), 0);
  expect_ready(fd, POLLHUP | kRdhup | kOut, "unconnected seqpacket after SHUT_RDWR");
  EXPECT_EQ(res(send_str(fd, "a", MSG_DONTWAIT)), errname(ENOTCONN));
  EXPECT_EQ(recv_str(fd), errname(ENOTCONN));
}

TEST_P(EUnixSeqpacket, E71_ConnectedSeqpacketReadiness) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, sv));
  expect_ready(sv[0], kOut, "connected seqpacket");
  ASSERT_EQ(send_str(sv[0], "a"), 1);
  expect_ready(sv[1], kIn | kOut, "a record queued");
  EXPECT_EQ(recv_str(sv[1]), "a");
  expect_ready(sv[1], kOut, "drained");
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
}

TEST_P(EUnixSeqpacket, E71_PeerCloseIsInOutHupRdhupAndRecvZero) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_SEQPACKET, sv));
  set_timeo(sv[0], SO_RCVTIMEO, kBound);
  ASSERT_EQ(send_str(sv[1], "zz"), 2);
  ASSERT_EQ(close_now(sv[1]), 0);
  expect_ready(sv[0], kRdhup | POLLHUP | kOut, "peer closed");
  EXPECT_EQ(recv_str(sv[0]), "zz");  // queued data first
  EXPECT_EQ(recv_str(sv[0]), "");
  EXPECT_EQ(recv_str(sv[0]), "");
  const auto t0 = Clock::now();
  EXPECT_EQ(recv_str(sv[0], 0), "");  // a blocking recv does not wait
  EXPECT_LT(us_since(t0), 500000);
  expect_ready(sv[0], kRdhup | POLLHUP | kOut, "peer closed, drained");
}

TEST_P(EUnixSeqpacket, E71_PeerCloseWithUnreadDataGivesEconnresetBeforeTheData) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, sv));
  ASSERT_EQ(send_str(sv[0], "unread"), 6);
  ASSERT_EQ(send_str(sv[1], "zz"), 2);
  ASSERT_EQ(close_now(sv[1]), 0);
  expect_ready(sv[0], POLLERR | kRdhup | POLLHUP | kOut, "peer closed with unread data");
  EXPECT_EQ(recv_str(sv[0]), errname(ECONNRESET));
  expect_ready(sv[0], kRdhup | POLLHUP | kOut, "after the error was read");
  EXPECT_EQ(recv_str(sv[0]), "zz");
  EXPECT_EQ(recv_str(sv[0]), "");

  // SO_ERROR consumes the same error instead.
  int p2[2];
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, p2));
  ASSERT_EQ(send_str(p2[0], "unread"), 6);
  ASSERT_EQ(send_str(p2[1], "zz"), 2);
  ASSERT_EQ(close_now(p2[1]), 0);
  EXPECT_EQ(get_int_opt(p2[0], SO_ERROR), ECONNRESET);
  EXPECT_EQ(get_int_opt(p2[0], SO_ERROR), 0);
  EXPECT_EQ(recv_str(p2[0]), "zz");
}

TEST_P(EUnixSeqpacket, E71_BlockedRecvWokenByPeerCloseReturnsZero) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_SEQPACKET, sv));
  set_timeo(sv[0], SO_RCVTIMEO, kBound);
  char buf[8];
  Call blocked([&] { return long(sys->recv(sv[0], buf, sizeof buf, 0)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(blocked.done());
  ASSERT_EQ(close_now(sv[1]), 0);
  ASSERT_TRUE(blocked.wait());
  EXPECT_EQ(blocked.result(), 0);
  EXPECT_LT(blocked.elapsed(), kBound - 500ms);
}

TEST_P(EUnixSeqpacket, E68_SeqpacketEpipeNeverRaisesSigpipe) {
  REQUIRE_SOCKETS();
  int closed[2], shutwr[2], shutrd[2];
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, closed));
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, shutwr));
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, shutrd));
  ASSERT_EQ(close_now(closed[1]), 0);
  ASSERT_EQ(sys->shutdown(shutwr[0], SHUT_WR), 0);
  ASSERT_EQ(sys->shutdown(shutrd[1], SHUT_RD), 0);
  std::string r1, r2, r3, r4;
  EXPECT_FALSE(raises_sigpipe([&] { r1 = res(send_str(closed[0], "a")); }));
  EXPECT_EQ(r1, errname(EPIPE)) << "peer closed";
  EXPECT_FALSE(raises_sigpipe([&] { r2 = res(send_str(shutwr[0], "a")); }));
  EXPECT_EQ(r2, errname(EPIPE)) << "after its own SHUT_WR";
  EXPECT_FALSE(raises_sigpipe([&] { r3 = res(send_str(shutrd[0], "a")); }));
  EXPECT_EQ(r3, errname(EPIPE)) << "peer did SHUT_RD";
  EXPECT_FALSE(raises_sigpipe([&] { r4 = res(sys->write(closed[0], "a", 1)); }));
  EXPECT_EQ(r4, errname(EPIPE)) << "write(2) to a closed peer";
}

TEST_P(EUnixSeqpacket, E26_SeqpacketShutdownIsMirroredToThePeer) {
  REQUIRE_SOCKETS();
  int wr[2], rd[2], both[2];
  ASSERT_TRUE(pair(SOCK_SEQPACKET, wr));
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, rd));
  set_timeo(wr[1], SO_RCVTIMEO, kBound);
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, both));

  // SHUT_WR → the peer's RCV_SHUTDOWN: RDHUP, and EOF once drained (non-blocking too).
  ASSERT_EQ(send_str(wr[0], "last"), 4);
  ASSERT_EQ(sys->shutdown(wr[0], SHUT_WR), 0);
  expect_ready(wr[0], kOut, "after its own SHUT_WR");
  expect_ready(wr[1], kRdhup | kOut, "peer of a SHUT_WR socket");
  EXPECT_EQ(recv_str(wr[1]), "last");
  EXPECT_EQ(recv_str(wr[1]), "");
  EXPECT_EQ(recv_str(wr[1], 0), "");             // blocking: returns at once
  EXPECT_EQ(res(send_str(wr[1], "back")), "4");  // the other direction still works
  EXPECT_EQ(recv_str(wr[0]), "back");

  // SHUT_RD → the peer's SEND_SHUTDOWN: its sends fail, its poll still shows OUT.
  ASSERT_EQ(sys->shutdown(rd[0], SHUT_RD), 0);
  expect_ready(rd[0], kRdhup | kOut, "after its own SHUT_RD");
  expect_ready(rd[1], kOut, "peer of a SHUT_RD socket");
  EXPECT_EQ(res(send_str(rd[1], "a")), errname(EPIPE));
  EXPECT_EQ(recv_str(rd[0]), "");  // EOF for the shutter

  ASSERT_EQ(sys->shutdown(both[0], SHUT_RDWR), 0);
  expect_ready(both[0], POLLHUP | kRdhup | kOut, "after SHUT_RDWR");
  expect_ready(both[1], POLLHUP | kRdhup | kOut, "peer of a SHUT_RDWR socket");
}

TEST_P(EUnixSeqpacket, Unix_SeqpacketKeepsRecordBoundariesAndTruncates) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, sv));
  ASSERT_EQ(send_str(sv[0], "hello"), 5);
  ASSERT_EQ(send_str(sv[0], "hi"), 2);
  ASSERT_EQ(send_str(sv[0], ""), 0);
  ASSERT_EQ(send_str(sv[0], "tail"), 4);
  int inq = -1;
  ASSERT_EQ(sys->ioctl(sv[1], FIONREAD, &inq), 0);
  EXPECT_EQ(inq, 11);  // the whole queue, unlike dgram
  Msg m = recv_msg(sv[1], 0, MSG_DONTWAIT, 2);
  EXPECT_EQ(m.ret, 2);
  EXPECT_EQ(m.data, "he");
  EXPECT_EQ(m.flags, MSG_TRUNC);  // and the rest of the record is gone
  EXPECT_EQ(recv_str(sv[1], MSG_DONTWAIT | MSG_WAITALL), "hi");
  EXPECT_EQ(recv_str(sv[1]), "");  // a zero-length record, not EOF
  char buf[8];
  EXPECT_EQ(sys->recv(sv[1], buf, 1, MSG_TRUNC | MSG_DONTWAIT), 4);
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
}

TEST_P(EUnixSeqpacket, Unix_SeqpacketListenerReadiness) {
  REQUIRE_SOCKETS();
  const Name ln = abstract_name("listener");
  const int l = bound(SOCK_SEQPACKET | SOCK_NONBLOCK, ln);
  ASSERT_GE(l, 0);
  ASSERT_EQ(sys->listen(l, 4), 0);
  expect_ready(l, 0, "listener, nothing pending");  // never OUT, never HUP
  const int c = sock(SOCK_SEQPACKET | SOCK_NONBLOCK);
  ASSERT_EQ(connect_to(c, ln), 0);
  expect_ready(l, kIn, "listener, one pending");
  expect_ready(c, kOut, "connected client before accept");
  const int a = own(sys->accept4(l, nullptr, nullptr, SOCK_NONBLOCK));
  ASSERT_GE(a, 0);
  expect_ready(l, 0, "listener after accept");
  expect_ready(a, kOut, "accepted");
  // A destination address on a connected seqpacket socket is ignored.
  EXPECT_EQ(res(sendto_str(c, "x", abstract_name("nowhere"))), "1");
  EXPECT_EQ(recv_str(a), "x");
}

TEST_P(EUnixSeqpacket, E67_SocketpairSeqpacketIsLimitedBySndbufOnly) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, sv));
  const int sent = fill(sv[0]);
  EXPECT_GT(sent, kQlenFit);
  if (get_int_opt(sv[0], SO_SNDBUF) == kDefaultSndbuf) {
    EXPECT_EQ(sent, kSndbufDatagrams);
  }
  EXPECT_EQ(revents(sv[0]), mask(0));
}

// ---------------------------------------------------------------------------------------------
// SCM_RIGHTS and SCM_CREDENTIALS.

TEST_P(EUnixScm, Unix_ScmRightsFdLandsOnTheLowestFreeNumberAndSharesTheFile) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const int efd = make_eventfd(0, EFD_NONBLOCK);
  ASSERT_EQ(send_fds(sv[0], {efd}, "e"), 1);
  const int lowest = lowest_free_fd(sv[0]);
  const Msg m = recv_msg(sv[1], CMSG_SPACE(sizeof(int)));
  ASSERT_EQ(m.ret, 1);
  EXPECT_EQ(m.data, "e");
  EXPECT_EQ(m.flags, 0);
  EXPECT_EQ(m.controllen, CMSG_SPACE(sizeof(int)));
  EXPECT_EQ(m.cmsg_lens, std::vector<size_t>{CMSG_LEN(sizeof(int))});
  ASSERT_EQ(m.fds.size(), 1u);
  const int got = m.fds[0];
  EXPECT_EQ(got, lowest);
  EXPECT_NE(got, efd);
  EXPECT_EQ(sys->fcntl(got, F_GETFD), 0);
  // One counter, seen through both fds.
  ASSERT_EQ(write_u64(efd, 5), 8);
  EXPECT_EQ(read_u64(got), 5u);
  ASSERT_EQ(write_u64(got, 7), 8);
  EXPECT_EQ(read_u64(efd), 7u);
  // One open file description: its status flags are shared too.
  EXPECT_EQ(sys->fcntl(got, F_GETFL), O_RDWR | O_NONBLOCK);
  ASSERT_EQ(sys->fcntl(got, F_SETFL, 0), 0);
  EXPECT_EQ(sys->fcntl(efd, F_GETFL), O_RDWR);
}

TEST_P(EUnixScm, Unix_ScmRightsPipeEndStaysOpenInFlightAndAfterReceipt) {
  REQUIRE_SOCKETS();
  int sv[2], p[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_TRUE(make_pipe(p, O_NONBLOCK));
  ASSERT_EQ(send_fds(sv[0], {p[1]}), 1);
  ASSERT_EQ(close_now(p[1]), 0);
  EXPECT_EQ(wait_revents(p[0], POLLIN, 0), mask(0));  // in flight: still a writer
  const Msg m = recv_msg(sv[1], CMSG_SPACE(sizeof(int)));
  ASSERT_EQ(m.fds.size(), 1u);
  ASSERT_EQ(sys->write(m.fds[0], "via", 3), 3);
  char buf[8] = {};
  EXPECT_EQ(sys->read(p[0], buf, sizeof buf), 3);
  EXPECT_EQ(std::string(buf, 3), "via");
  ASSERT_EQ(close_now(m.fds[0]), 0);
  EXPECT_EQ(wait_revents(p[0], POLLIN, 1000), mask(POLLHUP));
  EXPECT_EQ(sys->read(p[0], buf, sizeof buf), 0);
}

TEST_P(EUnixScm, Unix_ScmRightsMsgCmsgCloexecSetsFdCloexec) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const int efd = make_eventfd(0, 0);
  ASSERT_EQ(send_fds(sv[0], {efd, efd}), 1);
  const Msg m = recv_msg(sv[1], CMSG_SPACE(2 * sizeof(int)), MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  ASSERT_EQ(m.ret, 1);
  EXPECT_EQ(m.flags, MSG_CMSG_CLOEXEC);  // echoed back in msg_flags
  ASSERT_EQ(m.fds.size(), 2u);
  EXPECT_NE(m.fds[0], m.fds[1]);
  for (int fd : m.fds) EXPECT_EQ(sys->fcntl(fd, F_GETFD), FD_CLOEXEC) << fd;
}

TEST_P(EUnixScm, Unix_ScmRightsWithoutRoomIsCtruncAndInstallsNothing) {
  REQUIRE_SOCKETS();
  int sv[2], p[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_TRUE(make_pipe(p, O_NONBLOCK));
  const int efd = make_eventfd(0, 0);
  ASSERT_EQ(send_fds(sv[0], {efd}), 1);
  ASSERT_EQ(send_fds(sv[0], {p[1]}), 1);
  ASSERT_EQ(close_now(p[1]), 0);
  const int lowest = lowest_free_fd(sv[0]);
  // No control buffer at all.
  Msg m = recv_msg(sv[1], 0);
  EXPECT_EQ(m.ret, 1);
  EXPECT_EQ(m.flags, MSG_CTRUNC);
  EXPECT_EQ(m.controllen, 0u);
  EXPECT_TRUE(m.fds.empty());
  // Room for a cmsghdr but not for one fd.
  m = recv_msg(sv[1], sizeof(struct cmsghdr));
  EXPECT_EQ(m.ret, 1);
  EXPECT_EQ(m.flags, MSG_CTRUNC);
  EXPECT_EQ(m.controllen, 0u);
  EXPECT_TRUE(m.fds.empty());
  EXPECT_EQ(lowest_free_fd(sv[0]), lowest);  // nothing was installed
  // The dropped pipe end was closed: the read end sees its last writer gone.
  EXPECT_EQ(wait_revents(p[0], POLLIN, 1000), mask(POLLHUP));
}

TEST_P(EUnixScm, Unix_ScmRightsShortControlBufferInstallsWhatFits) {
  REQUIRE_SOCKETS();
  int sv[2], p[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_TRUE(make_pipe(p, O_NONBLOCK));
  const int efd = make_eventfd(0, 0);
  ASSERT_EQ(send_fds(sv[0], {efd, p[1]}), 1);
  ASSERT_EQ(close_now(p[1]), 0);
  const int lowest = lowest_free_fd(sv[0]);
  const Msg m = recv_msg(sv[1], CMSG_LEN(sizeof(int)));
  EXPECT_EQ(m.ret, 1);
  EXPECT_EQ(m.flags, MSG_CTRUNC);
  EXPECT_EQ(m.controllen, CMSG_LEN(sizeof(int)));
  EXPECT_EQ(m.cmsg_lens, std::vector<size_t>{CMSG_LEN(sizeof(int))});
  ASSERT_EQ(m.fds.size(), 1u);
  EXPECT_EQ(m.fds[0], lowest);
  ASSERT_EQ(write_u64(efd, 1), 8);
  EXPECT_EQ(read_u64(m.fds[0]), 1u);                           // the first fd is the one installed
  EXPECT_EQ(wait_revents(p[0], POLLIN, 1000), mask(POLLHUP));  // the second was closed
}

TEST_P(EUnixScm, Unix_ScmRightsPlainRecvDiscardsTheFds) {
  REQUIRE_SOCKETS();
  int sv[2], p[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_TRUE(make_pipe(p, O_NONBLOCK));
  ASSERT_EQ(send_fds(sv[0], {p[1]}, "data"), 4);
  ASSERT_EQ(close_now(p[1]), 0);
  const int lowest = lowest_free_fd(sv[0]);
  EXPECT_EQ(recv_str(sv[1]), "data");
  EXPECT_EQ(lowest_free_fd(sv[0]), lowest);
  EXPECT_EQ(wait_revents(p[0], POLLIN, 1000), mask(POLLHUP));
}

TEST_P(EUnixScm, Unix_ScmRightsNeverReceivedAreReleasedWhenTheReceiverCloses) {
  REQUIRE_SOCKETS();
  int sv[2], p[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_TRUE(make_pipe(p, O_NONBLOCK));
  ASSERT_EQ(send_fds(sv[0], {p[1]}), 1);
  ASSERT_EQ(close_now(p[1]), 0);
  ASSERT_EQ(close_now(sv[0]), 0);  // the message sits in the receiver's queue
  EXPECT_EQ(wait_revents(p[0], POLLIN, 50), mask(0));
  ASSERT_EQ(close_now(sv[1]), 0);
  EXPECT_EQ(wait_revents(p[0], POLLIN, 1000), mask(POLLHUP));

  // The same over a named receiver closed first.
  int q[2];
  ASSERT_TRUE(make_pipe(q, O_NONBLOCK));
  const Name rn = abstract_name("r");
  const int r = bound(SOCK_DGRAM | SOCK_NONBLOCK, rn);
  const int u = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  ASSERT_GE(r, 0);
  const int fd = q[1];
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov = {const_cast<char*>("x"), 1};
  struct msghdr msg = {};
  msg.msg_name = const_cast<struct sockaddr_un*>(&rn.addr);
  msg.msg_namelen = rn.len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ASSERT_EQ(sys->sendmsg(u, &msg, 0), 1);
  ASSERT_EQ(close_now(q[1]), 0);
  EXPECT_EQ(wait_revents(q[0], POLLIN, 50), mask(0));
  ASSERT_EQ(close_now(r), 0);
  EXPECT_EQ(wait_revents(q[0], POLLIN, 1000), mask(POLLHUP));
}

TEST_P(EUnixScm, Unix_ScmRightsSocketInItsOwnQueueIsCollected) {
  REQUIRE_SOCKETS();
  int sv[2], p[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_TRUE(make_pipe(p, O_NONBLOCK));
  // sv[1] travels to sv[1] itself, with a pipe end: a cycle only the garbage collector breaks.
  ASSERT_EQ(send_fds(sv[0], {sv[1], p[1]}), 1);
  ASSERT_EQ(close_now(p[1]), 0);
  ASSERT_EQ(close_now(sv[1]), 0);
  // (Whether the collector already ran at this point depends on its scheduling: not asserted.)
  ASSERT_EQ(close_now(sv[0]), 0);
  EXPECT_EQ(wait_revents(p[0], POLLIN, 1000), mask(POLLHUP));
}

TEST_P(EUnixScm, Unix_ScmRightsPeekInstallsCopies) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const int efd = make_eventfd(0, EFD_NONBLOCK);
  ASSERT_EQ(send_fds(sv[0], {efd}), 1);
  const Msg peeked = recv_msg(sv[1], CMSG_SPACE(sizeof(int)), MSG_DONTWAIT | MSG_PEEK);
  ASSERT_EQ(peeked.fds.size(), 1u);
  const Msg taken = recv_msg(sv[1], CMSG_SPACE(sizeof(int)));
  ASSERT_EQ(taken.fds.size(), 1u);
  EXPECT_NE(peeked.fds[0], taken.fds[0]);
  ASSERT_EQ(write_u64(peeked.fds[0], 3), 8);
  EXPECT_EQ(read_u64(taken.fds[0]), 3u);
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
}

TEST_P(EUnixScm, Unix_ScmRightsLimitsAndBadFds) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const int efd = make_eventfd(0, EFD_NONBLOCK);
  const std::vector<int> unused = free_fds(sv[0], 5);
  EXPECT_EQ(res(send_fds(sv[0], {unused[0]})), errname(EBADF));
  EXPECT_EQ(res(send_fds(sv[0], std::vector<int>(254, efd))), errname(EINVAL));
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));                       // neither was queued
  ASSERT_EQ(res(send_fds(sv[0], std::vector<int>(253, efd))), "1");  // SCM_MAX_FD
  const Msg m = recv_msg(sv[1], CMSG_SPACE(4 * sizeof(int)));
  EXPECT_EQ(m.ret, 1);
  EXPECT_EQ(m.flags, MSG_CTRUNC);
  EXPECT_EQ(m.fds, std::vector<int>(unused.begin(), unused.begin() + 4));
  EXPECT_EQ(lowest_free_fd(sv[0]), unused[4]);  // the other 249 were closed, not installed
}

TEST_P(EUnixScm, Unix_ScmRightsRideOnZeroLengthDatagramsAndSeqpacket) {
  REQUIRE_SOCKETS();
  int sv[2], sq[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  ASSERT_TRUE(pair(SOCK_SEQPACKET | SOCK_NONBLOCK, sq));
  const int efd = make_eventfd(0, EFD_NONBLOCK);
  ASSERT_EQ(send_fds(sv[0], {efd}, ""), 0);
  Msg m = recv_msg(sv[1], CMSG_SPACE(sizeof(int)));
  EXPECT_EQ(m.ret, 0);
  EXPECT_EQ(m.fds.size(), 1u);
  ASSERT_EQ(send_fds(sq[0], {efd}, "sq"), 2);
  m = recv_msg(sq[1], CMSG_SPACE(sizeof(int)));
  EXPECT_EQ(m.ret, 2);
  EXPECT_EQ(m.data, "sq");
  ASSERT_EQ(m.fds.size(), 1u);
  ASSERT_EQ(write_u64(efd, 9), 8);
  EXPECT_EQ(read_u64(m.fds[0]), 9u);
}

TEST_P(EUnixScm, Unix_ScmCredentialsNeedSoPasscredOnTheReceiver) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  EXPECT_EQ(get_int_opt(sv[1], SO_PASSCRED), 0);
  ASSERT_EQ(send_str(sv[0], "a"), 1);
  Msg m = recv_msg(sv[1], 256);
  EXPECT_EQ(m.ret, 1);
  EXPECT_EQ(m.flags, 0);
  EXPECT_EQ(m.controllen, 0u);
  EXPECT_FALSE(m.has_creds);

  const int one = 1;
  ASSERT_EQ(sys->setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
  EXPECT_EQ(get_int_opt(sv[1], SO_PASSCRED), 1);
  ASSERT_EQ(send_str(sv[0], "b"), 1);
  m = recv_msg(sv[1], 256);
  EXPECT_EQ(m.ret, 1);
  EXPECT_EQ(m.flags, 0);
  ASSERT_TRUE(m.has_creds);
  EXPECT_EQ(m.types, std::vector<int>{SCM_CREDENTIALS});
  EXPECT_EQ(m.cmsg_lens, std::vector<size_t>{CMSG_LEN(sizeof(struct ucred))});
  EXPECT_EQ(m.controllen, CMSG_SPACE(sizeof(struct ucred)));
  EXPECT_EQ(m.creds.pid, getpid());
  EXPECT_EQ(m.creds.uid, getuid());
  EXPECT_EQ(m.creds.gid, getgid());
  // With SO_PASSCRED, a recvmsg without a control buffer loses them: MSG_CTRUNC.
  ASSERT_EQ(send_str(sv[0], "c"), 1);
  m = recv_msg(sv[1], 0);
  EXPECT_EQ(m.ret, 1);
  EXPECT_EQ(m.flags, MSG_CTRUNC);
}

TEST_P(EUnixScm, Unix_ScmCredentialsExplicitValues) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const int one = 1;
  ASSERT_EQ(sys->setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
  const struct ucred self = {getpid(), getuid(), getgid()};
  ASSERT_EQ(send_creds(sv[0], self), 1);
  Msg m = recv_msg(sv[1], 256);
  ASSERT_TRUE(m.has_creds);
  EXPECT_EQ(m.creds.pid, self.pid);
  EXPECT_EQ(m.creds.uid, self.uid);
  EXPECT_EQ(m.creds.gid, self.gid);

  // A pid that names no process.
  pid_t none = 4194000;
  while (none > 2 && !(kill(none, 0) == -1 && errno == ESRCH)) --none;
  struct ucred bogus = self;
  bogus.pid = none;
  const bool admin = geteuid() == 0;
  EXPECT_EQ(res(send_creds(sv[0], bogus)), errname(admin ? ESRCH : EPERM));
  // Another process's pid: only with CAP_SYS_ADMIN.
  struct ucred init = self;
  init.pid = 1;
  if (admin) {
    ASSERT_EQ(send_creds(sv[0], init), 1);
    m = recv_msg(sv[1], 256);
    ASSERT_TRUE(m.has_creds);
    EXPECT_EQ(m.creds.pid, 1);
  } else {
    EXPECT_EQ(res(send_creds(sv[0], init)), errname(EPERM));
  }
  EXPECT_EQ(recv_str(sv[1]), errname(EAGAIN));
}

TEST_P(EUnixScm, Unix_SoPasscredOnTheSenderAutobindsIt) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const int one = 1;
  ASSERT_EQ(sys->setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
  struct sockaddr_un name;
  socklen_t len = sizeof name;
  ASSERT_EQ(sys->getsockname(sv[0], reinterpret_cast<struct sockaddr*>(&name), &len), 0);
  EXPECT_EQ(len, sizeof(sa_family_t));  // setting it binds nothing yet
  ASSERT_EQ(send_str(sv[0], "a"), 1);
  len = sizeof name;
  ASSERT_EQ(sys->getsockname(sv[0], reinterpret_cast<struct sockaddr*>(&name), &len), 0);
  EXPECT_EQ(len, offsetof(struct sockaddr_un, sun_path) + 6);
  EXPECT_EQ(name.sun_path[0], '\0');
  // The receiver (without SO_PASSCRED) sees the sender's new name but no credentials.
  struct sockaddr_un from;
  socklen_t flen = sizeof from;
  char buf[4];
  ASSERT_EQ(sys->recvfrom(sv[1], buf, sizeof buf, MSG_DONTWAIT,
                          reinterpret_cast<struct sockaddr*>(&from), &flen),
            1);
  ASSERT_EQ(flen, len);
  EXPECT_EQ(std::memcmp(&from, &name, len), 0);

  // A dgram connect autobinds too.
  const Name rn = abstract_name("r");
  ASSERT_GE(bound(SOCK_DGRAM, rn), 0);
  const int s = sock(SOCK_DGRAM);
  ASSERT_EQ(sys->setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
  ASSERT_EQ(connect_to(s, rn), 0);
  len = sizeof name;
  ASSERT_EQ(sys->getsockname(s, reinterpret_cast<struct sockaddr*>(&name), &len), 0);
  EXPECT_EQ(len, offsetof(struct sockaddr_un, sun_path) + 6);
}

TEST_P(EUnixScm, Unix_CredentialsComeBeforeRights) {
  REQUIRE_SOCKETS();
  int sv[2];
  ASSERT_TRUE(pair(SOCK_DGRAM | SOCK_NONBLOCK, sv));
  const int one = 1;
  ASSERT_EQ(sys->setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
  const int efd = make_eventfd(0, 0);
  ASSERT_EQ(send_fds(sv[0], {efd}), 1);
  Msg m = recv_msg(sv[1], 256);
  EXPECT_EQ(m.flags, 0);
  EXPECT_EQ(m.types, (std::vector<int>{SCM_CREDENTIALS, SCM_RIGHTS}));
  EXPECT_EQ(m.fds.size(), 1u);
  // Room for the credentials only: the fds are dropped.
  ASSERT_EQ(send_fds(sv[0], {efd}), 1);
  const int lowest = lowest_free_fd(sv[0]);
  m = recv_msg(sv[1], CMSG_SPACE(sizeof(struct ucred)));
  EXPECT_EQ(m.flags, MSG_CTRUNC);
  EXPECT_EQ(m.types, std::vector<int>{SCM_CREDENTIALS});
  EXPECT_TRUE(m.fds.empty());
  EXPECT_EQ(lowest_free_fd(sv[0]), lowest);
}

// ---------------------------------------------------------------------------------------------
// Names: getsockname, getpeername, recvfrom, bind.

TEST_P(EUnixName, Unix_UnnamedSocketsHaveTheFamilyOnly) {
  REQUIRE_SOCKETS();
  for (int type : {SOCK_DGRAM, SOCK_SEQPACKET}) {
    int sv[2];
    ASSERT_TRUE(pair(type, sv));
    struct sockaddr_un a;
    std::memset(&a, 0x55, sizeof a);
    socklen_t len = sizeof a;
    ASSERT_EQ(sys->getsockname(sv[0], reinterpret_cast<struct sockaddr*>(&a), &len), 0);
    EXPECT_EQ(len, sizeof(sa_family_t)) << type;
    EXPECT_EQ(a.sun_family, AF_UNIX);
    len = sizeof a;
    ASSERT_EQ(sys->getpeername(sv[0], reinterpret_cast<struct sockaddr*>(&a), &len), 0);
    EXPECT_EQ(len, sizeof(sa_family_t)) << type;
    EXPECT_EQ(a.sun_family, AF_UNIX);
  }
  const int fresh = sock(SOCK_DGRAM);
  struct sockaddr_un a;
  socklen_t len = sizeof a;
  ASSERT_EQ(sys->getsockname(fresh, reinterpret_cast<struct sockaddr*>(&a), &len), 0);
  EXPECT_EQ(len, sizeof(sa_family_t));
  len = sizeof a;
  EXPECT_EQ(res(sys->getpeername(fresh, reinterpret_cast<struct sockaddr*>(&a), &len)),
            errname(ENOTCONN));
}

TEST_P(EUnixName, Unix_PathnameNameLengthCountsTheNul) {
  REQUIRE_SOCKETS();
  Name n = path_name("p");
  const size_t plen = std::strlen(n.addr.sun_path);
  n.len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + plen);  // no NUL
  const int r = bound(SOCK_DGRAM | SOCK_NONBLOCK, n);
  ASSERT_GE(r, 0);
  struct sockaddr_un a = {};
  socklen_t len = sizeof a;
  ASSERT_EQ(sys->getsockname(r, reinterpret_cast<struct sockaddr*>(&a), &len), 0);
  EXPECT_EQ(len, offsetof(struct sockaddr_un, sun_path) + plen + 1);
  EXPECT_STREQ(a.sun_path, n.addr.sun_path);
  const int s = sock(SOCK_DGRAM);
  ASSERT_EQ(connect_to(s, n), 0);
  struct sockaddr_un p = {};
  socklen_t plen2 = sizeof p;
  ASSERT_EQ(sys->getpeername(s, reinterpret_cast<struct sockaddr*>(&p), &plen2), 0);
  EXPECT_EQ(plen2, len);
  EXPECT_STREQ(p.sun_path, n.addr.sun_path);
  // The path outlives the socket: taken until unlinked.
  ASSERT_EQ(close_now(s), 0);
  ASSERT_EQ(close_now(r), 0);
  const int again = sock(SOCK_DGRAM);
  EXPECT_EQ(res(sys->bind(again, n.sa(), n.len)), errname(EADDRINUSE));
  ASSERT_EQ(::unlink(n.addr.sun_path), 0);
  EXPECT_EQ(res(sys->bind(again, n.sa(), n.len)), "0");
}

TEST_P(EUnixName, Unix_AbstractNameLengthIsExact) {
  REQUIRE_SOCKETS();
  const Name n = abstract_name("abs");
  const int r = bound(SOCK_DGRAM | SOCK_NONBLOCK, n);
  ASSERT_GE(r, 0);
  struct sockaddr_un a = {};
  socklen_t len = sizeof a;
  ASSERT_EQ(sys->getsockname(r, reinterpret_cast<struct sockaddr*>(&a), &len), 0);
  ASSERT_EQ(len, n.len);
  EXPECT_EQ(std::memcmp(&a, &n.addr, len), 0);
  // A short buffer gets the start of the name and the full length.
  struct sockaddr_un small;
  std::memset(&small, 0x55, sizeof small);
  len = 4;
  ASSERT_EQ(sys->getsockname(r, reinterpret_cast<struct sockaddr*>(&small), &len), 0);
  EXPECT_EQ(len, n.len);
  EXPECT_EQ(std::memcmp(&small, &n.addr, 4), 0);
  EXPECT_EQ(reinterpret_cast<unsigned char*>(&small)[4], 0x55);
}

TEST_P(EUnixName, Unix_AutobindGivesFiveHexDigitAbstractName) {
  REQUIRE_SOCKETS();
  const int fd = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  ASSERT_EQ(sys->bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(sa_family_t)), 0);
  Name got;
  got.len = sizeof got.addr;
  ASSERT_EQ(sys->getsockname(fd, reinterpret_cast<struct sockaddr*>(&got.addr), &got.len), 0);
  ASSERT_EQ(got.len, offsetof(struct sockaddr_un, sun_path) + 6);
  EXPECT_EQ(got.addr.sun_path[0], '\0');
  for (int i = 1; i <= 5; ++i) {
    const char ch = got.addr.sun_path[i];
    EXPECT_TRUE((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))
        << "char " << i << ": " << int(ch);
  }
  // Autobinding again is a no-op; an explicit bind is refused.
  ASSERT_EQ(sys->bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(sa_family_t)), 0);
  Name again;
  again.len = sizeof again.addr;
  ASSERT_EQ(sys->getsockname(fd, reinterpret_cast<struct sockaddr*>(&again.addr), &again.len), 0);
  EXPECT_EQ(again.bytes(), got.bytes());
  const Name late = abstract_name("late");
  EXPECT_EQ(res(sys->bind(fd, late.sa(), late.len)), errname(EINVAL));
  // The name is reachable.
  const int u = sock(SOCK_DGRAM | SOCK_NONBLOCK);
  EXPECT_EQ(res(sendto_str(u, "hi", got)), "2");
  EXPECT_EQ(recv_str(fd), "hi");
}

TEST_P(EUnixName, Unix_BindErrors) {
  REQUIRE_SOCKETS();
  const Name an = abstract_name("taken");
  ASSERT_GE(bound(SOCK_DGRAM, an), 0);
  const int b = sock(SOCK_DGRAM);
  EXPECT_EQ(res(sys->bind(b, an.sa(), an.len)), errname(EADDRINUSE));
  const Name pn = path_name("taken");
  const int pb = bound(SOCK_DGRAM, pn);
  ASSERT_GE(pb, 0);
  EXPECT_EQ(res(sys->bind(b, pn.sa(), pn.len)), errname(EADDRINUSE));
  // A bound socket: a new name is EINVAL, but an existing path is found first.
  const Name other = path_name("other");
  EXPECT_EQ(res(sys->bind(pb, other.sa(), other.len)), errname(EINVAL));
  EXPECT_EQ(res(sys->bind(pb, pn.sa(), pn.len)), errname(EADDRINUSE));
  // Address validation.
  Name bad = abstract_name("bad");
  EXPECT_EQ(res(sys->bind(b, bad.sa(), 1)), errname(EINVAL));
  EXPECT_EQ(res(sys->bind(b, bad.sa(), sizeof(struct sockaddr_un) + 1)), errname(EINVAL));
  bad.addr.sun_family = AF_INET;
  EXPECT_EQ(res(sys->bind(b, bad.sa(), bad.len)), errname(EINVAL));
}

TEST_P(EUnixName, Unix_RecvfromReportsTheSendersName) {
  REQUIRE_SOCKETS();
  const Name rn = abstract_name("r");
  const int r = bound(SOCK_DGRAM | SOCK_NONBLOCK, rn);
  ASSERT_GE(r, 0);
  const int unbound = sock(SOCK_DGRAM);
  const Name an = abstract_name("s");
  const int abstract = bound(SOCK_DGRAM, an);
  const Name pn = path_name("s");
  const int path = bound(SOCK_DGRAM, pn);
  ASSERT_GE(abstract, 0);
  ASSERT_GE(path, 0);
  struct sockaddr_un from;
  socklen_t flen;
  char buf[8];
  auto recv_from = [&] {
    std::memset(&from, 0x55, sizeof from);
    flen = sizeof from;
    return sys->recvfrom(r, buf, sizeof buf, MSG_DONTWAIT,
                         reinterpret_cast<struct sockaddr*>(&from), &flen);
  };
  ASSERT_EQ(sendto_str(unbound, "u", rn), 1);
  ASSERT_EQ(recv_from(), 1);
  EXPECT_EQ(flen, 0u);
  EXPECT_EQ(reinterpret_cast<unsigned char*>(&from)[0], 0x55);  // untouched
  ASSERT_EQ(sendto_str(abstract, "a", rn), 1);
  ASSERT_EQ(recv_from(), 1);
  ASSERT_EQ(flen, an.len);
  EXPECT_EQ(std::memcmp(&from, &an.addr, flen), 0);
  ASSERT_EQ(sendto_str(path, "p", rn), 1);
  ASSERT_EQ(recv_from(), 1);
  EXPECT_EQ(flen, pn.len);
  EXPECT_STREQ(from.sun_path, pn.addr.sun_path);
  // An autobound sender.
  const int ab = sock(SOCK_DGRAM);
  struct sockaddr_un fam = {};
  fam.sun_family = AF_UNIX;
  ASSERT_EQ(sys->bind(ab, reinterpret_cast<struct sockaddr*>(&fam), sizeof(sa_family_t)), 0);
  ASSERT_EQ(sendto_str(ab, "b", rn), 1);
  ASSERT_EQ(recv_from(), 1);
  EXPECT_EQ(flen, offsetof(struct sockaddr_un, sun_path) + 6);
}

INSTANTIATE_CONFORMANCE(EUnixDgram);
INSTANTIATE_CONFORMANCE(EUnixSeqpacket);
INSTANTIATE_CONFORMANCE(EUnixScm);
INSTANTIATE_CONFORMANCE(EUnixName);

}  // namespace
