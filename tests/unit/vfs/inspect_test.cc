// ustack::inspect: /proc/PID/fdinfo-style lines for epoll interest lists (issue 3's ustack-ss),
// and the `ss -x` listing of AF_UNIX sockets (src/net/unix/diag.cc). The expected lines are the
// ones `ss -xa` prints on Linux for the same calls, inode numbers aside.
#include <ustack/host.hpp>
#include <ustack/inspect.hpp>
#include <ustack/ustack.hpp>

#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace {

TEST(Inspect, EpollFdinfoListsEveryItemWithReadiness) {
  ustack::Host* host = ustack::host_create("inspect");
  {
    ustack::HostScope scope(host);
    int ep = ustack::epoll_create1(EPOLL_CLOEXEC);
    int efd = ustack::eventfd(0, EFD_NONBLOCK);
    ASSERT_EQ(ep, 0);
    ASSERT_EQ(efd, 1);
    struct epoll_event ev = {EPOLLIN | EPOLLET, {.u64 = 0xabc}};
    ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
    // ERR|HUP are added to the stored mask (C14); not ready yet.
    EXPECT_EQ(ustack::inspect::fdinfo(host, ep),
              "pos:\t0\nflags:\t02000002\n"
              "tfd:        1 events: 80000019 data:              abc  ready:0\n");
    ASSERT_EQ(ustack::eventfd_write(efd, 5), 0);
    EXPECT_EQ(ustack::inspect::fdinfo(host, ep),
              "pos:\t0\nflags:\t02000002\n"
              "tfd:        1 events: 80000019 data:              abc  ready:1\n");
    EXPECT_EQ(ustack::inspect::fdinfo(host, efd),
              "pos:\t0\nflags:\t04002\n"
              "eventfd-count:                5\neventfd-semaphore: 0\n");
    EXPECT_EQ(ustack::inspect::open_fds(host), (std::vector<int>{0, 1}));
    EXPECT_EQ(ustack::inspect::fdinfo(host, 7), "");
    std::string ss = ustack::inspect::ss(host, true);
    EXPECT_NE(ss.find("0     [eventpoll]   02\n      tfd:        1 events: 80000019"),
              std::string::npos)
        << ss;
    EXPECT_NE(ss.find("1     eventfd       04002\n"), std::string::npos) << ss;
    ustack::close(efd);
    // The last close removed the item silently (C24): the interest list is empty.
    EXPECT_EQ(ustack::inspect::fdinfo(host, ep), "pos:\t0\nflags:\t02000002\n");
    ustack::close(ep);
  }
  ustack::host_put(host);
}

// An abstract AF_UNIX name: `name` bytes after sun_path's leading NUL (NULs allowed).
struct Abstract {
  struct sockaddr_un sun = {};
  socklen_t len;
  explicit Abstract(const std::string& name)
      : len(socklen_t(offsetof(struct sockaddr_un, sun_path) + 1 + name.size())) {
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path + 1, name.data(), name.size());
  }
  const struct sockaddr* addr() const { return reinterpret_cast<const struct sockaddr*>(&sun); }
};

// Columns are as wide as their widest cell, as ss makes them: State widens for LISTEN or
// UNCONN; with neither (or no socket) it is as wide as its title.
constexpr const char* kSsUnixHeader =
    "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port\n";
constexpr const char* kSsUnixHeaderNarrow =
    "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port\n";

TEST(Inspect, SsUnixListenerShowsPendingAndBacklogAndHidesTheEmbryo) {
  ustack::Host* host = ustack::host_create("inspect");
  {
    ustack::HostScope scope(host);
    EXPECT_EQ(ustack::inspect::ss_unix(host, false), kSsUnixHeaderNarrow);
    Abstract name("inspect");
    int l = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(l, 0);
    ASSERT_EQ(ustack::bind(l, name.addr(), name.len), 0);
    ASSERT_EQ(ustack::listen(l, 4), 0);
    int c = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(ustack::connect(c, name.addr(), name.len), 0);
    int s = ustack::accept(l, nullptr, nullptr);
    ASSERT_EQ(s, 2);
    ASSERT_EQ(ustack::send(c, "hello", 5, 0), 5);
    int pending = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(ustack::connect(pending, name.addr(), name.len), 0);
    // Listener: one connection waiting for accept(), backlog 4. The accepted end has the
    // listener's name and 5 unread bytes; the client's sends hold one skb (truesize 768). The
    // pending client's peer is an embryo with no socket yet: "* 0", and no line of its own.
    EXPECT_EQ(ustack::inspect::ss_unix(host, false),
              std::string(kSsUnixHeader) +
                  "u_str LISTEN 1      4           @inspect 1               * 0\n"
                  "u_str ESTAB  0      768                * 2        @inspect 3\n"
                  "u_str ESTAB  5      0           @inspect 3               * 2\n"
                  "u_str ESTAB  0      0                  * 4               * 0\n");
    // Accepting the embryo gives it a socket: now listed, and the client's peer.
    int s2 = ustack::accept(l, nullptr, nullptr);
    ASSERT_EQ(s2, 4);
    EXPECT_EQ(ustack::inspect::ss_unix(host, false),
              std::string(kSsUnixHeader) +
                  "u_str LISTEN 0      4           @inspect 1               * 0\n"
                  "u_str ESTAB  0      768                * 2        @inspect 3\n"
                  "u_str ESTAB  5      0           @inspect 3               * 2\n"
                  "u_str ESTAB  0      0                  * 4        @inspect 5\n"
                  "u_str ESTAB  0      0           @inspect 5               * 4\n");
    for (int fd : {l, c, s, pending, s2}) ustack::close(fd);
    EXPECT_EQ(ustack::inspect::ss_unix(host, false), kSsUnixHeaderNarrow);
  }
  ustack::host_put(host);
}

TEST(Inspect, SsUnixDgramSeqpacketUnconnectedAndClosedPeer) {
  ustack::Host* host = ustack::host_create("inspect");
  {
    ustack::HostScope scope(host);
    int q[2], d[2], p[2], h[2];
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q), 0);
    ASSERT_EQ(ustack::send(q[0], "12345", 5, 0), 5);
    ASSERT_EQ(ustack::send(q[0], "678", 3, 0), 3);
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_DGRAM, 0, d), 0);
    // Linux's Recv-Q for a datagram socket is the first datagram's length (unix_inq_len): 2.
    ASSERT_EQ(ustack::send(d[0], "ab", 2, 0), 2);
    ASSERT_EQ(ustack::send(d[0], "c", 1, 0), 1);
    int b = ustack::socket(AF_UNIX, SOCK_DGRAM, 0);
    ASSERT_EQ(b, 4);
    Abstract name(std::string("a\0b", 3));  // ss shows each NUL as '@'
    ASSERT_EQ(ustack::bind(b, name.addr(), name.len), 0);
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    ASSERT_EQ(ustack::send(p[1], "xyz", 3, 0), 3);
    ASSERT_EQ(ustack::close(p[1]), 0);  // p[0] stays ESTABLISHED, its peer gone: "* 0"
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, h), 0);
    ASSERT_EQ(h[0], 6);                             // p[1]'s fd again
    ASSERT_EQ(ustack::shutdown(h[0], SHUT_WR), 0);  // shutdown leaves the state alone
    int u = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(u, 8);
    EXPECT_EQ(ustack::inspect::ss_unix(host, false),
              std::string(kSsUnixHeader) +
                  "u_seq ESTAB  0      1536               * 1               * 2\n"
                  "u_seq ESTAB  8      0                  * 2               * 1\n"
                  "u_dgr ESTAB  0      1536               * 3               * 4\n"
                  "u_dgr ESTAB  2      0                  * 4               * 3\n"
                  "u_dgr UNCONN 0      0               @a@b 5               * 0\n"
                  "u_str ESTAB  3      0                  * 6               * 0\n"
                  "u_str ESTAB  0      0                  * 7               * 8\n"
                  "u_str ESTAB  0      0                  * 8               * 7\n"
                  "u_str UNCONN 0      0                  * 9               * 0\n");
    for (int fd : {q[0], q[1], d[0], d[1], b, p[0], h[0], h[1], u}) ustack::close(fd);
  }
  ustack::host_put(host);
}

// Linux's Recv-Q for SOCK_DGRAM is the length of the first queued datagram (diag.c's
// sk_diag_show_rqlen -> unix_inq_len), not the number queued.
TEST(Inspect, SsUnixDgramRecvQIsTheFirstDatagramsLength) {
  ustack::Host* host = ustack::host_create("inspect");
  {
    ustack::HostScope scope(host);
    int d[2];
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_DGRAM, 0, d), 0);
    ASSERT_EQ(ustack::send(d[0], "ping", 4, 0), 4);
    EXPECT_EQ(ustack::inspect::ss_unix(host, false),
              std::string(kSsUnixHeaderNarrow) +
                  "u_dgr ESTAB 0      768                * 1               * 2\n"
                  "u_dgr ESTAB 4      0                  * 2               * 1\n");
    ustack::close(d[0]);
    ustack::close(d[1]);
  }
  ustack::host_put(host);
}

TEST(Inspect, SsUnixProcessesListsEveryFdAndKeepsInFlightSocketsLast) {
  ustack::Host* host = ustack::host_create("inspect");
  {
    ustack::HostScope scope(host);
    int s[2];
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    int x = ustack::socket(AF_UNIX, SOCK_DGRAM, 0);
    ASSERT_EQ(x, 2);
    // x travels in an SCM_RIGHTS message, then its fd is closed: its socket lives on in
    // flight, listed (as Linux lists it) after every socket that has an fd, with no users.
    char byte = '!';
    struct iovec iov = {&byte, 1};
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    struct cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &x, sizeof x);
    ASSERT_EQ(ustack::sendmsg(s[0], &msg, 0), 1);
    ASSERT_EQ(ustack::close(x), 0);
    ASSERT_EQ(ustack::dup(s[1]), 2);
    EXPECT_EQ(ustack::inspect::ss_unix(host, true),
              "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
              "u_str ESTAB  0      768                * 1               * 2    "
              "users:((\"inspect\",fd=0))\n"
              "u_str ESTAB  1      0                  * 2               * 1    "
              "users:((\"inspect\",fd=1),(\"inspect\",fd=2))\n"
              "u_dgr UNCONN 0      0                  * 3               * 0\n");
    for (int fd : {0, 1, 2}) ustack::close(fd);
  }
  ustack::host_put(host);
}

}  // namespace
