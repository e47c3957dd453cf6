// Reproducers from the second socket-layer review (tests named Review2*): each failed before its
// fix (the OOB hang, the collector and a listener's embryos, recvmsg's msg_namelen) and guards it.
#include <ustack/host.hpp>
#include <ustack/inspect.hpp>
#include <ustack/ustack.hpp>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace ustack {
namespace {

// Sends `fd` with SCM_RIGHTS and one data byte on `sock`.
ssize_t send_fd(int sock, int fd, int flags) {
  char byte = 'x';
  struct iovec iov = {&byte, 1};
  alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return ustack::sendmsg(sock, &m, flags);
}

// Runs `body` in a forked child with a 3 s alarm; returns the child's wait status.
template <class F>
int run_in_child(F&& body) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(3);
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// ---------------------------------------------------------------------------------------------
// Finding: manage_oob() (af_unix.cc) frees the skipped OOB skb with kfree_skb() while the reader
// still holds its own unix_state_lock (stream_read_generic calls manage_oob under sk->lock).
// The skb's destructor drops the SCM_RIGHTS file references synchronously (fput is not
// deferred as the kernel's task_work fput is). If that is the last reference to the peer's
// file, the peer is released right there: unix_release_sock(peer) takes skpair->lock — the
// reader's own state lock, a non-recursive spinlock — and the thread spins forever.
TEST(Review2Oob, SkippedOobSkbCarryingThePeersLastFileDeadlocksTheReader) {
  const int status = run_in_child([] {
    Host* h = host_create("review2-oob");
    HostScope s(h);
    int sv[2];
    if (ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) _exit(2);
    // One OOB byte from a to b, carrying a's own fd.
    if (send_fd(sv[0], sv[0], MSG_OOB) != 1) _exit(3);
    ustack::close(sv[0]);  // a's file is now only in flight, in b's queue
    char buf[4];
    // Not SO_OOBINLINE: the plain read skips and frees the OOB skb (EAGAIN, nothing else queued).
    ustack::recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
    _exit(0);
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM
              ? "recv() deadlocked: the peer was released under the reader's own state lock"
              : "child failed");
}

// Same, through the MSG_OOB read that leaves a consumed (len 0) OOB skb at the head.
TEST(Review2Oob, ConsumedOobSkbCarryingThePeersLastFileDeadlocksTheNextRead) {
  const int status = run_in_child([] {
    Host* h = host_create("review2-oob2");
    HostScope s(h);
    int sv[2];
    if (ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) _exit(2);
    if (send_fd(sv[0], sv[0], MSG_OOB) != 1) _exit(3);
    ustack::close(sv[0]);
    char buf[4];
    if (ustack::recv(sv[1], buf, 1, MSG_OOB) != 1) _exit(4);
    ustack::recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
    _exit(0);
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? "recv() deadlocked" : "child failed");
}

// ---------------------------------------------------------------------------------------------
// Finding: unix_gc()'s scan_children() only walks a candidate's own receive queue. For a
// listener the queue holds embryos, and files in flight in an embryo's queue are missed (the
// kernel's scan_children walks each embryo's queue for a TCP_LISTEN candidate). A listener
// whose only reference is in flight in one of its own embryos is never collected: the
// listener, the embryo, the client sock and the skbs leak.
TEST(Review2Gc, ListenerSentIntoItsOwnEmbryoIsCollected) {
  Host* h = host_create("review2-gc");
  {
    HostScope s(h);
    struct sockaddr_un sun = {};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path + 1, "review2-gc", 10);
    const socklen_t len = socklen_t(offsetof(struct sockaddr_un, sun_path) + 11);
    int l = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(l, 0);
    ASSERT_EQ(ustack::bind(l, reinterpret_cast<struct sockaddr*>(&sun), len), 0);
    ASSERT_EQ(ustack::listen(l, 4), 0);
    int c = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(ustack::connect(c, reinterpret_cast<struct sockaddr*>(&sun), len), 0);
    ASSERT_EQ(send_fd(c, l, 0), 1);  // into the embryo's queue
    ustack::close(l);
    ustack::close(c);
    // Any release runs the collector again.
    int sv[2];
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ustack::close(sv[0]);
    ustack::close(sv[1]);
    EXPECT_EQ(inspect::ss_unix(h, false),
              "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port\n")
        << "the listener is unreachable but was not collected";
  }
  host_put(h);
}

// ---------------------------------------------------------------------------------------------
// Finding: sys_recvmsg_one() rejects a negative msg_namelen even when msg_name is NULL. The
// kernel's __copy_msghdr zeroes msg_namelen when msg_name is NULL before checking it, so the
// call succeeds on Linux.
TEST(Review2Errno, RecvmsgWithNullNameIgnoresMsgNamelen) {
  Host* h = host_create("review2-namelen");
  {
    HostScope s(h);
    int sv[2];
    ASSERT_EQ(ustack::socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    ASSERT_EQ(ustack::send(sv[0], "x", 1, 0), 1);
    char buf[4];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {};
    m.msg_name = nullptr;
    m.msg_namelen = socklen_t(-1);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    EXPECT_EQ(ustack::recvmsg(sv[1], &m, 0), 1) << "errno " << errno;
    ustack::close(sv[0]);
    ustack::close(sv[1]);
  }
  host_put(h);
}

}  // namespace
}  // namespace ustack
