// libustack-preload.so seen from an unmodified program: this file includes no ustack header and
// links no ustack code; it runs under ustack-run (tests/preload/CMakeLists.txt) and asks the
// library, through its one exported query, which fds are ustack's.
//
// What it checks (issue 5, DESIGN.md §5): one fd number space shared with the kernel; calls on
// kernel fds pass through; mixed waiting (a ustack epoll, poll or select holding kernel fds is
// woken by either kind, including a waiter that was already asleep when the first kernel fd
// was added); close-on-exec mirrored to the placeholders; fork's kernel-only child; exec;
// SA_RESTART through the tracked sigaction; syscall() and the fortified entry points; the
// pathname AF_UNIX fallback to a kernel listener.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

extern "C" ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen);
extern "C" ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags);
extern "C" int __poll_chk(struct pollfd* fds, nfds_t n, int timeout, size_t fdslen);

namespace {

using FdKind = int (*)(int);

FdKind fd_kind() {
  static FdKind k = reinterpret_cast<FdKind>(dlsym(RTLD_DEFAULT, "ustack_preload_fd_kind"));
  return k;
}
bool is_ustack(int fd) { return fd_kind()(fd) == 1; }

// Runs `f` on a thread of its own after 50 ms, long enough for the caller to be asleep in the
// wait it starts meanwhile.
template <class F>
std::thread after_a_pause(F f) {
  return std::thread([f] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    f();
  });
}

// A kernel fd with pipe semantics that the library does not make: a FIFO opened read-write.
class KernelFifo {
 public:
  KernelFifo() {
    char tmpl[] = "/tmp/ustack-preload-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/fifo";
    EXPECT_EQ(mkfifo(path_.c_str(), 0600), 0);
    fd = open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  }
  ~KernelFifo() {
    if (fd >= 0) close(fd);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  int fd = -1;

 private:
  std::string dir_, path_;
};

class Preload : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(fd_kind(), nullptr) << "not running under ustack-run";
  }
};

// Puts a thread to sleep in epoll_wait(ep), runs `wake` once it sleeps, and returns the fd of
// the one event the sleeper got (-1: not exactly one within 10 s).
int fd_that_woke_a_sleeper(int ep, const std::function<void()>& wake) {
  std::atomic<int> got{-2};
  std::thread waiter([&] {
    struct epoll_event out[2] = {};
    got = epoll_wait(ep, out, 2, 10000) == 1 ? out[0].data.fd : -1;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let it sleep
  wake();
  waiter.join();
  return got.load();
}

// First in the file: the first kernel fd the process ever watches. A task already asleep in
// epoll_wait on its futex must be moved to the kernel sleep, or the kernel fd never wakes it.
TEST_F(Preload, WaiterAsleepBeforeTheFirstKernelFdIsWokenByIt) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_TRUE(is_ustack(sv[0]));
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_TRUE(is_ustack(ep));
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = sv[1];
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev), 0);

  KernelFifo fifo;
  ASSERT_FALSE(is_ustack(fifo.fd));
  EXPECT_EQ(fd_that_woke_a_sleeper(ep, [&] {
              ev.data.fd = fifo.fd;
              ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fifo.fd, &ev), 0);
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
              ASSERT_EQ(write(fifo.fd, "k", 1), 1);
            }),
            fifo.fd);
  close(ep);
  close(sv[0]);
  close(sv[1]);
}

TEST_F(Preload, OneEpollWakesForAUstackSocketAndForAKernelFifo) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  KernelFifo fifo;
  const int ep = epoll_create1(0);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = sv[1];
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev), 0);
  ev.data.fd = fifo.fd;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fifo.fd, &ev), 0);

  for (int round = 0; round < 20; ++round) {
    const bool kernel_side = round % 2 == 0;
    const int wfd = kernel_side ? fifo.fd : sv[0];
    const int rfd = kernel_side ? fifo.fd : sv[1];
    EXPECT_EQ(fd_that_woke_a_sleeper(ep, [&] { ASSERT_EQ(write(wfd, "x", 1), 1); }), rfd)
        << "round " << round;
    char c;
    ASSERT_EQ(read(rfd, &c, 1), 1);
  }
  // Nothing left: a zero timeout sees nothing, from either kind.
  struct epoll_event out[2];
  EXPECT_EQ(epoll_wait(ep, out, 2, 0), 0);
  close(ep);
  close(sv[0]);
  close(sv[1]);
}

TEST_F(Preload, PollAndSelectMixBothKinds) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
  KernelFifo fifo;
  struct pollfd p[2] = {{sv[1], POLLIN, 0}, {fifo.fd, POLLIN, 0}};
  EXPECT_EQ(poll(p, 2, 0), 0);
  std::thread writer = after_a_pause([&] { EXPECT_EQ(write(fifo.fd, "f", 1), 1); });
  EXPECT_EQ(poll(p, 2, 10000), 1);
  writer.join();
  EXPECT_EQ(p[0].revents, 0);
  EXPECT_EQ(p[1].revents, POLLIN);

  char c;
  ASSERT_EQ(read(fifo.fd, &c, 1), 1);  // the FIFO is empty again: only the socket can wake us
  const int nfds = std::max(sv[1], fifo.fd) + 1;
  struct timeval tv = {10, 0};
  std::thread sender = after_a_pause([&] { EXPECT_EQ(send(sv[0], "s", 1, 0), 1); });
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(sv[1], &rs);
  FD_SET(fifo.fd, &rs);
  EXPECT_EQ(select(nfds, &rs, nullptr, nullptr, &tv), 1);
  sender.join();
  EXPECT_TRUE(FD_ISSET(sv[1], &rs));
  EXPECT_FALSE(FD_ISSET(fifo.fd, &rs));
  close(sv[0]);
  close(sv[1]);
}

// The kernel reports only the bits asked for: POLLRDNORM alone on a kernel fd, in a ustack
// poll, must still be reported and wake the poller.
TEST_F(Preload, KernelFdWithOnlyRdnormInAMixedPoll) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  KernelFifo fifo;
  struct pollfd p[2] = {{sv[0], POLLIN, 0}, {fifo.fd, POLLRDNORM, 0}};
  std::thread writer = after_a_pause([&] { EXPECT_EQ(write(fifo.fd, "n", 1), 1); });
  EXPECT_EQ(poll(p, 2, 10000), 1);
  writer.join();
  EXPECT_EQ(p[1].revents, POLLRDNORM);
  close(sv[0]);
  close(sv[1]);
}

// A "close every fd" loop (as daemons do) cannot take the library's own kernel fds (the hidden
// epoll, the doorbells): close and dup2 onto them fail with EBADF, and mixed waiting still works.
TEST_F(Preload, CloseEveryFdLoopLeavesTheLibrarysFdsAlone) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  KernelFifo fifo;
  const int ep = epoll_create1(0);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = fifo.fd;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fifo.fd, &ev), 0);
  struct epoll_event out;
  ASSERT_EQ(epoll_wait(ep, &out, 1, 20), 0);  // a kernel sleep: this thread has a doorbell now
  // The library keeps its fds in the top 64 numbers below the soft limit (docs/preload.md);
  // a loop over them stands for a loop over every fd (the rest belong to the test harness).
  struct rlimit rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  const int top = int(std::min<rlim_t>(rl.rlim_cur, 1 << 20));
  int refused = 0;
  for (int fd = top - 64; fd < top; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) continue;  // not open
    EXPECT_EQ(close(fd), -1) << "fd " << fd << " should be the library's";
    EXPECT_EQ(errno, EBADF);
    EXPECT_EQ(dup2(sv[0], fd), -1);
    EXPECT_EQ(errno, EBADF);
    EXPECT_FALSE(is_ustack(fd));
    ++refused;
  }
  EXPECT_GE(refused, 2);  // the hidden epoll and this thread's doorbell
  EXPECT_EQ(fd_that_woke_a_sleeper(ep, [&] { ASSERT_EQ(write(fifo.fd, "w", 1), 1); }), fifo.fd);
  close(ep);
  close(sv[0]);
  close(sv[1]);
}

TEST_F(Preload, RegularFilesArePollReadyAndRefusedByEpoll) {
  const int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  struct pollfd p[2] = {{sv[0], POLLIN, 0}, {f, POLLIN, 0}};
  EXPECT_EQ(poll(p, 2, 1000), 1);
  EXPECT_EQ(p[1].revents, POLLIN);
  const int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int ep = epoll_create1(0);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  EXPECT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, tmp, &ev), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, 1000, &ev), -1);  // not open anywhere
  EXPECT_EQ(errno, EBADF);
  close(tmp);
  close(ep);
  close(f);
  close(sv[0]);
  close(sv[1]);
}

TEST_F(Preload, ClosingAWatchedKernelFdRemovesItFromTheEpoll) {
  KernelFifo fifo;
  const int ep = epoll_create1(0);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = fifo.fd;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fifo.fd, &ev), 0);
  ASSERT_EQ(write(fifo.fd, "z", 1), 1);
  struct epoll_event out;
  EXPECT_EQ(epoll_wait(ep, &out, 1, 0), 1);
  close(fifo.fd);
  fifo.fd = -1;
  EXPECT_EQ(epoll_wait(ep, &out, 1, 0), 0);
  // The item is gone (C24): DEL of the number now finds nothing there at all.
  EXPECT_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, 1000, nullptr), -1);
  EXPECT_EQ(errno, EBADF);
  close(ep);
}

// ustack and kernel fds take the lowest free number of one table.
TEST_F(Preload, OneNumberSpaceLowestFree) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const int k = open("/dev/null", O_RDONLY);
  EXPECT_EQ(k, sv[1] + 1);
  ASSERT_EQ(close(sv[0]), 0);
  const int k2 = open("/dev/null", O_RDONLY);  // the kernel reuses the ustack fd's number
  EXPECT_EQ(k2, sv[0]);
  EXPECT_FALSE(is_ustack(k2));
  ASSERT_EQ(close(k), 0);
  const int e = eventfd(0, 0);  // and ustack the kernel's
  EXPECT_EQ(e, k);
  EXPECT_TRUE(is_ustack(e));
  // syscall() reaches ustack too: an eventfd read shorter than 8 bytes is EINVAL (D3).
  char c;
  EXPECT_EQ(syscall(SYS_read, e, &c, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  for (int fd : {sv[1], k2, e}) close(fd);
}

TEST_F(Preload, Dup2AcrossKinds) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const int k = open("/dev/null", O_RDONLY | O_CLOEXEC);
  // ustack over kernel: the kernel file at k goes, k is now the socket.
  ASSERT_EQ(dup2(sv[0], k), k);
  EXPECT_TRUE(is_ustack(k));
  ASSERT_EQ(write(k, "a", 1), 1);
  char c;
  ASSERT_EQ(read(sv[1], &c, 1), 1);
  EXPECT_EQ(fcntl(k, F_GETFD), 0);  // dup2 clears close-on-exec
  // kernel over ustack.
  const int n = open("/dev/null", O_RDONLY);
  ASSERT_EQ(dup3(n, k, O_CLOEXEC), k);
  EXPECT_FALSE(is_ustack(k));
  EXPECT_EQ(fcntl(k, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(read(k, &c, 1), 0);  // /dev/null
  // Bad source: the target is untouched.
  EXPECT_EQ(dup2(9999, sv[1]), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_TRUE(is_ustack(sv[1]));
  EXPECT_EQ(dup3(sv[0], sv[0], 0), -1);
  EXPECT_EQ(errno, EINVAL);
  for (int fd : {sv[0], sv[1], k, n}) close(fd);
}

// The placeholder's close-on-exec flag follows the ustack fd's: /proc shows the kernel's.
int kernel_fdinfo_flags(int fd) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  char line[256];
  int flags = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "flags: %o", &flags) == 1) break;
  }
  std::fclose(f);
  return flags;
}

TEST_F(Preload, CloseOnExecIsMirroredToThePlaceholder) {
  const int e = eventfd(0, EFD_CLOEXEC);
  ASSERT_TRUE(is_ustack(e));
  EXPECT_TRUE(kernel_fdinfo_flags(e) & O_CLOEXEC);
  ASSERT_EQ(fcntl(e, F_SETFD, 0), 0);
  EXPECT_FALSE(kernel_fdinfo_flags(e) & O_CLOEXEC);
  ASSERT_EQ(ioctl(e, FIOCLEX), 0);
  EXPECT_TRUE(kernel_fdinfo_flags(e) & O_CLOEXEC);
  const int d = fcntl(e, F_DUPFD, 0);
  EXPECT_TRUE(is_ustack(d));
  EXPECT_FALSE(kernel_fdinfo_flags(d) & O_CLOEXEC);
  close(d);
  close(e);
}

// exec: a close-on-exec ustack fd is gone in the new program; another stays as a placeholder.
TEST_F(Preload, ExecDropsUstackFdsAsCloseOnExecSays) {
  const int keep = eventfd(0, 0);
  const int drop = eventfd(0, EFD_CLOEXEC);
  char script[128];
  std::snprintf(script, sizeof script, "[ -e /dev/fd/%d ] && [ ! -e /dev/fd/%d ]", keep, drop);
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", script, static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  close(keep);
  close(drop);
}

// fork: the child is a kernel-only process. Inherited ustack fds refuse I/O with EBADF and
// close cleanly; kernel fds work; new objects are the kernel's.
TEST_F(Preload, ForkChildIsKernelOnly) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  KernelFifo fifo;
  const pid_t pid = fork();
  if (pid == 0) {
    int bad = 0;
    char c;
    if (!(read(sv[0], &c, 1) == -1 && errno == EBADF)) bad |= 1;
    if (!(send(sv[0], "x", 1, 0) == -1 && errno == EBADF)) bad |= 2;
    struct pollfd p = {sv[1], POLLIN, 0};
    if (!(poll(&p, 1, 0) == 1 && p.revents == POLLNVAL)) bad |= 64;
    int avail = 0;
    if (!(ioctl(sv[1], FIONREAD, &avail) == -1 && errno == EBADF)) bad |= 128;
    if (close(sv[0]) != 0) bad |= 4;
    if (write(fifo.fd, "c", 1) != 1) bad |= 8;
    const int e = eventfd(0, 0);
    if (e < 0 || fd_kind()(e) != 0) bad |= 16;
    if (eventfd_write(e, 5) != 0) bad |= 32;
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The parent's objects are untouched by the child.
  char c;
  ASSERT_EQ(write(sv[0], "p", 1), 1);
  ASSERT_EQ(read(sv[1], &c, 1), 1);
  EXPECT_EQ(c, 'p');
  ASSERT_EQ(read(fifo.fd, &c, 1), 1);
  EXPECT_EQ(c, 'c');
  close(sv[0]);
  close(sv[1]);
}

std::atomic<int> g_handled{0};
void on_usr1(int) { g_handled.fetch_add(1); }

// A blocked recv on a ustack socket: EINTR without SA_RESTART, a transparent restart with it.
TEST_F(Preload, SaRestartDecidesWhetherRecvRestarts) {
  for (const bool restart : {false, true}) {
    struct sigaction sa = {}, old = {};
    sa.sa_handler = on_usr1;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    g_handled = 0;
    std::atomic<long> r{-100};
    std::atomic<int> err{0};
    pthread_t self_thread{};
    std::atomic<bool> started{false};
    std::thread t([&] {
      self_thread = pthread_self();
      started = true;
      char c;
      r = recv(sv[1], &c, 1, 0);
      err = errno;
    });
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    pthread_kill(self_thread, SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (restart) {
      EXPECT_EQ(r.load(), -100);  // still blocked: restarted
      ASSERT_EQ(send(sv[0], "r", 1, 0), 1);
    }
    t.join();
    EXPECT_EQ(g_handled.load(), 1);
    if (restart) {
      EXPECT_EQ(r.load(), 1);
    } else {
      EXPECT_EQ(r.load(), -1);
      EXPECT_EQ(err.load(), EINTR);
    }
    sigaction(SIGUSR1, &old, nullptr);
    close(sv[0]);
    close(sv[1]);
  }
}

TEST_F(Preload, SyscallAndFortifiedEntryPointsReachUstack) {
  int sv[2];
  ASSERT_EQ(syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv), 0);
  EXPECT_TRUE(is_ustack(sv[0]));
  EXPECT_EQ(syscall(SYS_write, sv[0], "abc", 3), 3);
  char buf[8];
  EXPECT_EQ(__read_chk(sv[1], buf, 1, sizeof buf), 1);
  EXPECT_EQ(__recv_chk(sv[1], buf, 2, sizeof buf, 0), 2);
  EXPECT_EQ(std::string(buf, 2), "bc");
  struct pollfd p = {sv[1], POLLIN, 0};
  EXPECT_EQ(__poll_chk(&p, 1, 0, sizeof p), 0);
  const int e = int(syscall(SYS_eventfd2, 7, EFD_NONBLOCK));
  EXPECT_TRUE(is_ustack(e));
  uint64_t v = 0;
  EXPECT_EQ(syscall(SYS_read, e, &v, sizeof v), 8);
  EXPECT_EQ(v, 7u);
  EXPECT_EQ(syscall(SYS_read, e, &v, sizeof v), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(syscall(SYS_close, e), 0);
  EXPECT_EQ(syscall(SYS_getpid), getpid());  // others pass through
  close(sv[0]);
  close(sv[1]);
}

TEST_F(Preload, FstatReportsTheObjectType) {
  int sv[2], p[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(pipe(p), 0);
  const int e = eventfd(0, 0);
  struct stat st;
  ASSERT_EQ(fstat(sv[0], &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  ASSERT_EQ(fstat(p[0], &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  struct stat st1;
  ASSERT_EQ(fstat(p[1], &st1), 0);
  EXPECT_EQ(st.st_ino, st1.st_ino);  // both ends of one pipe
  ASSERT_EQ(fstat(e, &st), 0);
  EXPECT_EQ(st.st_mode & S_IFMT, 0u);  // an anonymous inode
  for (int fd : {sv[0], sv[1], p[0], p[1], e}) close(fd);
}

// A pathname connect to a listener only the kernel knows goes to the kernel (the default
// policy): the ustack socket becomes a kernel socket under the same number.
TEST_F(Preload, UnixConnectToAKernelListenerFallsBackToTheKernel) {
  char tmpl[] = "/tmp/ustack-preload-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/kernel.sock";
  int ready[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, ready), 0);
  KernelFifo sync;  // the child tells us it listens (a kernel object both processes share)
  const pid_t pid = fork();
  if (pid == 0) {
    // Kernel-only: this is a kernel socket.
    const int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (bind(l, reinterpret_cast<struct sockaddr*>(&a), sizeof a) != 0 || listen(l, 1) != 0)
      _exit(1);
    if (write(sync.fd, "L", 1) != 1) _exit(2);
    const int c = accept(l, nullptr, nullptr);
    char buf[16];
    const ssize_t n = read(c, buf, sizeof buf);
    if (n <= 0 || write(c, buf, size_t(n)) != n) _exit(3);
    _exit(0);
  }
  struct pollfd pf = {sync.fd, POLLIN, 0};
  ASSERT_EQ(poll(&pf, 1, 10000), 1);
  const int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_TRUE(is_ustack(s));
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  ASSERT_EQ(connect(s, reinterpret_cast<struct sockaddr*>(&a), sizeof a), 0) << strerror(errno);
  EXPECT_FALSE(is_ustack(s));
  EXPECT_EQ(fcntl(s, F_GETFD), FD_CLOEXEC);
  ASSERT_EQ(write(s, "echo", 4), 4);
  char buf[8];
  ASSERT_EQ(read(s, buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf, 4), "echo");
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  close(s);
  close(ready[0]);
  close(ready[1]);
  unlink(path.c_str());
  rmdir(dir.c_str());
}

}  // namespace
