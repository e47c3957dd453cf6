// The fd table and the generic file calls (fs/file.c, fs/fcntl.c, fs/ioctl.c, fs/read_write.c),
// run on the host kernel and on ustack. The spec has no IDs for these; the tests are named
// Fd_<Behaviour>. fd numbers differ between the two tables, so every check is relative (the fd
// just closed is the one handed out next), never an absolute number.
#include <sys/ioctl.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "conformance/helpers.hpp"

#ifndef F_DUPFD_QUERY
#define F_DUPFD_QUERY 1027  // F_LINUX_SPECIFIC_BASE + 3
#endif

namespace {

using namespace conformance;

class Fd : public OwnedFds {
 protected:
  // Files the test owns; whatever is still open at the end is closed.
  int efd(unsigned initval = 0, int flags = EFD_NONBLOCK) {
    return own(sys->eventfd(initval, flags));
  }
  bool pipe(int p[2], int flags = 0) { return own_pipe(p, flags); }
  // An fd number that is surely not open: one just closed.
  int closed_fd() {
    int fd = sys->eventfd(0, 0);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(sys->close(fd), 0);
    return fd;
  }
  // Lowers the RLIMIT_NOFILE soft limit for this test; TearDown always puts it back.
  bool lower_nofile(rlim_t cur) {
    if (!saved_nofile_) {
      if (sys->getrlimit(RLIMIT_NOFILE, &old_nofile_) != 0) return false;
      saved_nofile_ = true;
    }
    struct rlimit r = old_nofile_;
    r.rlim_cur = cur;
    return sys->setrlimit(RLIMIT_NOFILE, &r) == 0;
  }
  void TearDown() override {
    if (saved_nofile_) {
      EXPECT_EQ(sys->setrlimit(RLIMIT_NOFILE, &old_nofile_), 0);
    }
    OwnedFds::TearDown();
  }
  rlim_t nofile() {
    struct rlimit r = {};
    EXPECT_EQ(sys->getrlimit(RLIMIT_NOFILE, &r), 0);
    return r.rlim_cur;
  }

  bool saved_nofile_ = false;
  struct rlimit old_nofile_ = {};
};

// --- close ---

TEST_P(Fd, Fd_CloseOfAClosedFdIsEbadf) {
  int fd = sys->eventfd(0, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(sys->close(fd), 0);
  EXPECT_EQ(sys->close(fd), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->close(-1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->close(INT_MAX), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_P(Fd, Fd_CallsOnAClosedFdAreEbadf) {
  const int fd = closed_fd();
  char buf[8];
  struct iovec iov = {buf, sizeof buf};
  int on = 1;
  EXPECT_EQ(sys->read(fd, buf, sizeof buf), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->write(fd, buf, sizeof buf), -1);
  EXPECT_EQ(errno, EBADF);
  // The fd is looked up before the count or the iovec is checked.
  EXPECT_EQ(sys->readv(fd, &iov, -1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->writev(fd, nullptr, 1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->read(fd, buf, 0), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->dup(fd), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->ioctl(fd, FIONBIO, &on), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->ioctl(fd, FIOCLEX), -1);
  EXPECT_EQ(errno, EBADF);
  for (int cmd : {F_GETFD, F_GETFL, F_DUPFD, 12345}) {
    EXPECT_EQ(sys->fcntl(fd, cmd, 0), -1) << cmd;
    EXPECT_EQ(errno, EBADF) << cmd;
  }
}

// --- allocation ---

TEST_P(Fd, Fd_LowestFreeFdIsAllocated) {
  int a = efd();
  int b = efd();
  int c = efd();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_GE(c, 0);
  EXPECT_NE(a, b);
  ASSERT_EQ(close_now(b), 0);
  ASSERT_EQ(close_now(a), 0);
  // Both a and b are free; the lower one comes first, whichever was closed last.
  const int lo = std::min(a, b), hi = std::max(a, b);
  EXPECT_EQ(efd(), lo);
  int p[2];
  ASSERT_TRUE(pipe(p));
  EXPECT_EQ(p[0], hi);
  EXPECT_GT(p[1], hi);
  // dup takes the lowest free fd too.
  ASSERT_EQ(close_now(c), 0);
  // Every fd below c other than a and b was in use when c was handed out.
  EXPECT_EQ(own(sys->dup(p[0])), c);
}

TEST_P(Fd, Fd_EmfileWhenRlimitNofileIsExhausted) {
  const int first = efd();
  ASSERT_GE(first, 0);
  // Allow only a few fds above the lowest free one.
  const int limit = first + 4;
  ASSERT_TRUE(lower_nofile(rlim_t(limit)));
  EXPECT_EQ(nofile(), rlim_t(limit));

  int last = -1;
  bool emfile = false;
  for (int i = 0; i < 64; ++i) {
    int fd = sys->eventfd(0, 0);
    if (fd < 0) {
      EXPECT_EQ(errno, EMFILE);
      emfile = true;
      break;
    }
    own(fd);
    EXPECT_LT(fd, limit);
    last = fd;
  }
  ASSERT_TRUE(emfile) << "no EMFILE below the lowered limit";
  ASSERT_GE(last, 0);
  // Every way to allocate an fd fails the same way.
  int p[2];
  EXPECT_EQ(sys->dup(first), -1);
  EXPECT_EQ(errno, EMFILE);
  EXPECT_EQ(sys->fcntl(first, F_DUPFD, 0), -1);
  EXPECT_EQ(errno, EMFILE);
  EXPECT_EQ(sys->fcntl(first, F_DUPFD_CLOEXEC, limit - 1), -1);
  EXPECT_EQ(errno, EMFILE);
  EXPECT_EQ(sys->pipe(p), -1);
  EXPECT_EQ(errno, EMFILE);
  // At or past the limit it is a bad argument instead.
  EXPECT_EQ(sys->fcntl(first, F_DUPFD, limit), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sys->dup2(first, limit), -1);
  EXPECT_EQ(errno, EBADF);
  // One free slot: enough for an eventfd, not for a pipe, and the failed pipe leaks nothing.
  ASSERT_EQ(close_now(last), 0);
  EXPECT_EQ(sys->pipe(p), -1);
  EXPECT_EQ(errno, EMFILE);
  EXPECT_EQ(efd(), last);
  // dup2 into an fd below the limit needs no free slot.
  EXPECT_EQ(sys->dup2(first, last), last);
}

// --- dup, dup2, dup3 ---

TEST_P(Fd, Fd_DupSharesTheOpenFileDescription) {
  int a = efd(0, 0);
  ASSERT_GE(a, 0);
  int b = own(sys->dup(a));
  ASSERT_GE(b, 0);
  EXPECT_NE(a, b);
  // Status flags live in the open file description: set through one, seen through the other.
  ASSERT_EQ(sys->fcntl(a, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(sys->fcntl(b, F_GETFL), O_RDWR | O_NONBLOCK);
  uint64_t v;
  EXPECT_EQ(sys->read(b, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
  int off = 0;
  ASSERT_EQ(sys->ioctl(b, FIONBIO, &off), 0);
  EXPECT_EQ(sys->fcntl(a, F_GETFL), O_RDWR);
  // And so does the object behind it.
  ASSERT_EQ(write_u64(a, 5), 8);
  EXPECT_EQ(read_u64(b), 5u);
  // Closing one leaves the other working.
  ASSERT_EQ(close_now(a), 0);
  ASSERT_EQ(write_u64(b, 2), 8);
  EXPECT_EQ(read_u64(b), 2u);
}

TEST_P(Fd, Fd_CloexecIsPerFdAndDupClearsIt) {
  int a = efd(0, EFD_CLOEXEC);
  ASSERT_GE(a, 0);
  int b = own(sys->dup(a));
  ASSERT_GE(b, 0);
  EXPECT_EQ(sys->fcntl(a, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(sys->fcntl(b, F_GETFD), 0);
  int c = own(sys->fcntl(b, F_DUPFD_CLOEXEC, 0));
  ASSERT_GE(c, 0);
  EXPECT_EQ(sys->fcntl(c, F_GETFD), FD_CLOEXEC);
  int d = own(sys->fcntl(a, F_DUPFD, 0));
  ASSERT_GE(d, 0);
  EXPECT_EQ(sys->fcntl(d, F_GETFD), 0);
  // dup2 clears it on the target, dup3 sets it only with O_CLOEXEC.
  ASSERT_EQ(sys->dup2(a, d), d);
  EXPECT_EQ(sys->fcntl(d, F_GETFD), 0);
  ASSERT_EQ(sys->dup3(b, c, 0), c);
  EXPECT_EQ(sys->fcntl(c, F_GETFD), 0);
  ASSERT_EQ(sys->dup3(b, d, O_CLOEXEC), d);
  EXPECT_EQ(sys->fcntl(d, F_GETFD), FD_CLOEXEC);
  // The flag set on one fd does not show on the others.
  EXPECT_EQ(sys->fcntl(b, F_GETFD), 0);
}

TEST_P(Fd, Fd_Dup2OntoAnOpenFdClosesItsFile) {
  int p[2];
  ASSERT_TRUE(pipe(p, O_NONBLOCK));
  int e = efd(7);
  ASSERT_GE(e, 0);
  EXPECT_EQ(sys->dup2(e, p[0]), p[0]);
  // p[0] is now the eventfd, and the pipe lost its only reader.
  EXPECT_EQ(read_u64(p[0]), 7u);
  struct pollfd pf = {p[1], POLLOUT, 0};
  ASSERT_EQ(sys->poll(&pf, 1, 0), 1);
  EXPECT_EQ(pf.revents, POLLOUT | POLLERR);
}

TEST_P(Fd, Fd_Dup2OfAnFdOntoItselfOnlyChecksIt) {
  int a = efd();
  ASSERT_GE(a, 0);
  ASSERT_EQ(sys->fcntl(a, F_SETFD, FD_CLOEXEC), 0);
  EXPECT_EQ(sys->dup2(a, a), a);
  EXPECT_EQ(sys->fcntl(a, F_GETFD), FD_CLOEXEC) << "dup2(a, a) must not touch the fd";
  const int c = closed_fd();
  EXPECT_EQ(sys->dup2(c, c), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->dup2(-1, -1), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_P(Fd, Fd_Dup2TargetOutsideTheLimitIsEbadf) {
  int a = efd();
  ASSERT_GE(a, 0);
  ASSERT_TRUE(lower_nofile(rlim_t(a) + 16));  // keep the table small
  const int lim = int(nofile());
  EXPECT_EQ(sys->dup2(a, lim), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->dup2(a, -1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->dup3(a, lim, O_CLOEXEC), -1);
  EXPECT_EQ(errno, EBADF);
  // Just below the limit is fine (if that fd is free: dup2 would close whatever is there).
  if (sys->fcntl(lim - 1, F_GETFD) == -1 && errno == EBADF) {
    EXPECT_EQ(sys->dup2(a, lim - 1), lim - 1);
    EXPECT_EQ(sys->close(lim - 1), 0);
  }
}

TEST_P(Fd, Fd_Dup3ErrnoOrder) {
  int a = efd();
  int b = efd();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  const int c = closed_fd();
  // 1. flags other than O_CLOEXEC, before anything else.
  EXPECT_EQ(sys->dup3(c, c, O_NONBLOCK), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sys->dup3(c, INT_MAX, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  // 2. the same fd twice, even a closed one.
  EXPECT_EQ(sys->dup3(a, a, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sys->dup3(c, c, O_CLOEXEC), -1);
  EXPECT_EQ(errno, EINVAL);
  // 3. the target against RLIMIT_NOFILE, before the source is looked up.
  EXPECT_EQ(sys->dup3(c, int(nofile()), 0), -1);
  EXPECT_EQ(errno, EBADF);
  // 4. the source.
  EXPECT_EQ(sys->dup3(c, b, 0), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->fcntl(b, F_GETFD), 0) << "the failed dup3 closed its target";
  EXPECT_EQ(sys->dup3(a, b, 0), b);
}

// --- fcntl ---

TEST_P(Fd, Fd_FcntlDupfdTakesTheLowestFreeFdAtOrAboveArg) {
  int a = efd();
  ASSERT_GE(a, 0);
  const int from = a + 10;
  int d1 = own(sys->fcntl(a, F_DUPFD, from));
  ASSERT_GE(d1, from);
  int d2 = own(sys->fcntl(a, F_DUPFD, from));
  EXPECT_GT(d2, d1);
  ASSERT_EQ(close_now(d1), 0);
  EXPECT_EQ(own(sys->fcntl(a, F_DUPFD_CLOEXEC, from)), d1);
  // A low arg still gets the lowest free fd.
  int lowest = closed_fd();
  EXPECT_EQ(own(sys->fcntl(a, F_DUPFD, 0)), lowest);
}

TEST_P(Fd, Fd_FcntlDupfdArgAtOrAboveRlimitIsEinval) {
  int a = efd();
  ASSERT_GE(a, 0);
  ASSERT_TRUE(lower_nofile(rlim_t(a) + 16));  // keep the table small
  const int lim = int(nofile());
  for (int cmd : {F_DUPFD, F_DUPFD_CLOEXEC}) {
    EXPECT_EQ(sys->fcntl(a, cmd, lim), -1) << cmd;
    EXPECT_EQ(errno, EINVAL) << cmd;
    EXPECT_EQ(sys->fcntl(a, cmd, -1), -1) << cmd;  // an unsigned int in the kernel
    EXPECT_EQ(errno, EINVAL) << cmd;
  }
  if (sys->fcntl(lim - 1, F_GETFD) == -1 && errno == EBADF) {
    EXPECT_EQ(own(sys->fcntl(a, F_DUPFD, lim - 1)), lim - 1);
  }
}

TEST_P(Fd, Fd_FcntlGetfdAndSetfd) {
  int a = efd();
  ASSERT_GE(a, 0);
  EXPECT_EQ(sys->fcntl(a, F_GETFD), 0);
  EXPECT_EQ(sys->fcntl(a, F_SETFD, FD_CLOEXEC), 0);
  EXPECT_EQ(sys->fcntl(a, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(sys->fcntl(a, F_SETFD, 0), 0);
  EXPECT_EQ(sys->fcntl(a, F_GETFD), 0);
  // Only FD_CLOEXEC is kept.
  EXPECT_EQ(sys->fcntl(a, F_SETFD, 0xff), 0);
  EXPECT_EQ(sys->fcntl(a, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(sys->fcntl(a, F_SETFD, 0xfe), 0);
  EXPECT_EQ(sys->fcntl(a, F_GETFD), 0);
}

TEST_P(Fd, Fd_FcntlGetflShowsAccessModeAndStatusFlags) {
  int e = efd(0, 0);
  int en = efd(0, EFD_NONBLOCK | EFD_CLOEXEC | EFD_SEMAPHORE);
  ASSERT_GE(e, 0);
  ASSERT_GE(en, 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR);
  EXPECT_EQ(sys->fcntl(en, F_GETFL), O_RDWR | O_NONBLOCK);
  int p[2], q[2];
  ASSERT_TRUE(pipe(p));
  ASSERT_TRUE(pipe(q, O_NONBLOCK | O_CLOEXEC));
  EXPECT_EQ(sys->fcntl(p[0], F_GETFL), O_RDONLY);
  EXPECT_EQ(sys->fcntl(p[1], F_GETFL), O_WRONLY);
  EXPECT_EQ(sys->fcntl(q[0], F_GETFL), O_RDONLY | O_NONBLOCK);
  EXPECT_EQ(sys->fcntl(q[1], F_GETFL), O_WRONLY | O_NONBLOCK);
}

TEST_P(Fd, Fd_FcntlSetflChangesOnlyTheSettableFlags) {
  int e = efd(0, 0);
  ASSERT_GE(e, 0);
  // The access mode and O_CLOEXEC in arg are ignored.
  ASSERT_EQ(sys->fcntl(e, F_SETFL, O_WRONLY | O_NONBLOCK | O_CLOEXEC), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR | O_NONBLOCK);
  ASSERT_EQ(sys->fcntl(e, F_SETFL, O_APPEND | O_NONBLOCK), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR | O_APPEND | O_NONBLOCK);
  ASSERT_EQ(sys->fcntl(e, F_SETFL, 0), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR);
  // O_ASYNC needs ->fasync: an eventfd silently keeps it off, a pipe takes it.
  ASSERT_EQ(sys->fcntl(e, F_SETFL, O_ASYNC), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR);
  int p[2];
  ASSERT_TRUE(pipe(p));
  ASSERT_EQ(sys->fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK), 0);
  EXPECT_EQ(sys->fcntl(p[0], F_GETFL), O_RDONLY | O_ASYNC | O_NONBLOCK);
  ASSERT_EQ(sys->fcntl(p[0], F_SETFL, 0), 0);
  EXPECT_EQ(sys->fcntl(p[0], F_GETFL), O_RDONLY);
  // O_DIRECT only where the file supports it: pipes (packet mode), not eventfds.
  EXPECT_EQ(sys->fcntl(e, F_SETFL, O_DIRECT), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR);
  ASSERT_EQ(sys->fcntl(p[1], F_SETFL, O_DIRECT), 0);
  EXPECT_EQ(sys->fcntl(p[1], F_GETFL), O_WRONLY | O_DIRECT);
}

TEST_P(Fd, Fd_FcntlUnknownCmdIsEinval) {
  int e = efd();
  ASSERT_GE(e, 0);
  for (int cmd : {12345, -1, 0x7fffffff}) {
    EXPECT_EQ(sys->fcntl(e, cmd, 0), -1) << cmd;
    EXPECT_EQ(errno, EINVAL) << cmd;
  }
}

TEST_P(Fd, Fd_FcntlDupfdQueryComparesOpenFiles) {
  if (sys->is_linux && !kernel_at_least(6, 10))
    GTEST_SKIP() << "F_DUPFD_QUERY is new in Linux 6.10";
  int a = efd();
  int b = efd();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  int a2 = own(sys->dup(a));
  ASSERT_GE(a2, 0);
  EXPECT_EQ(sys->fcntl(a, F_DUPFD_QUERY, a2), 1);
  EXPECT_EQ(sys->fcntl(a2, F_DUPFD_QUERY, a), 1);
  EXPECT_EQ(sys->fcntl(a, F_DUPFD_QUERY, a), 1);
  EXPECT_EQ(sys->fcntl(a, F_DUPFD_QUERY, b), 0);
  EXPECT_EQ(sys->fcntl(a, F_DUPFD_QUERY, closed_fd()), -1);
  EXPECT_EQ(errno, EBADF);
}

// --- ioctl ---

TEST_P(Fd, Fd_IoctlFionbioSetsAndClearsONonblock) {
  int e = efd(0, 0);
  ASSERT_GE(e, 0);
  int on = 1;
  ASSERT_EQ(sys->ioctl(e, FIONBIO, &on), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR | O_NONBLOCK);
  uint64_t v;
  EXPECT_EQ(sys->read(e, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
  on = 42;  // any non-zero value
  ASSERT_EQ(sys->ioctl(e, FIONBIO, &on), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR | O_NONBLOCK);
  on = 0;
  ASSERT_EQ(sys->ioctl(e, FIONBIO, &on), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR);
  EXPECT_EQ(sys->ioctl(e, FIONBIO, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(sys->fcntl(e, F_GETFL), O_RDWR);
}

TEST_P(Fd, Fd_IoctlFioclexAndFionclex) {
  int e = efd();
  ASSERT_GE(e, 0);
  EXPECT_EQ(sys->ioctl(e, FIOCLEX), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(sys->ioctl(e, FIONCLEX), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFD), 0);
  // Per fd: a dup keeps its own.
  int d = own(sys->dup(e));
  ASSERT_GE(d, 0);
  EXPECT_EQ(sys->ioctl(d, FIOCLEX), 0);
  EXPECT_EQ(sys->fcntl(e, F_GETFD), 0);
}

TEST_P(Fd, Fd_IoctlFioasyncNeedsFasync) {
  int e = efd();
  ASSERT_GE(e, 0);
  int on = 1;
  EXPECT_EQ(sys->ioctl(e, FIOASYNC, &on), -1);
  EXPECT_EQ(errno, ENOTTY);
  on = 0;  // no change: nothing to ask ->fasync
  EXPECT_EQ(sys->ioctl(e, FIOASYNC, &on), 0);
  EXPECT_EQ(sys->ioctl(e, FIOASYNC, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  int p[2];
  ASSERT_TRUE(pipe(p));
  on = 1;
  EXPECT_EQ(sys->ioctl(p[1], FIOASYNC, &on), 0);
  EXPECT_EQ(sys->fcntl(p[1], F_GETFL), O_WRONLY | O_ASYNC);
  on = 0;
  EXPECT_EQ(sys->ioctl(p[1], FIOASYNC, &on), 0);
  EXPECT_EQ(sys->fcntl(p[1], F_GETFL), O_WRONLY);
}

TEST_P(Fd, Fd_IoctlUnknownToTheFileIsEnotty) {
  int e = efd(3);
  ASSERT_GE(e, 0);
  int n = -1;
  // An eventfd has no ->unlocked_ioctl: FIONREAD too is the file's own business.
  EXPECT_EQ(sys->ioctl(e, FIONREAD, &n), -1);
  EXPECT_EQ(errno, ENOTTY);
  EXPECT_EQ(n, -1);
  EXPECT_EQ(sys->ioctl(e, 0x1234ul, &n), -1);
  EXPECT_EQ(errno, ENOTTY);
  int p[2];
  ASSERT_TRUE(pipe(p));
  EXPECT_EQ(sys->ioctl(p[0], 0x1234ul, &n), -1);
  EXPECT_EQ(errno, ENOTTY);
}

// --- read, write, readv, writev ---

TEST_P(Fd, Fd_CountPastTheAddressSpaceIsEfault) {
  // access_ok comes before rw_verify_area: a count no buffer can have is a fault, not EINVAL.
  int e = efd(1);
  ASSERT_GE(e, 0);
  char buf[16];
  for (size_t n : {SIZE_MAX, size_t(1) << 63, SIZE_MAX - 8}) {
    EXPECT_EQ(sys->read(e, buf, n), -1);
    EXPECT_EQ(errno, EFAULT);
    EXPECT_EQ(sys->write(e, buf, n), -1);
    EXPECT_EQ(errno, EFAULT);
  }
  EXPECT_EQ(read_u64(e), 1u) << "a faulting call consumed the counter";
  int p[2];
  ASSERT_TRUE(pipe(p, O_NONBLOCK));
  EXPECT_EQ(sys->write(p[1], buf, SIZE_MAX), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(sys->read(p[0], buf, SIZE_MAX), -1);
  EXPECT_EQ(errno, EFAULT);
  // A negative segment length is invalid, wherever it is, and nothing is written. (A segment
  // that merely runs past the address space is not checked up front: it is copied until the
  // copy faults, which is undefined behaviour for a library.)
  struct iovec neg[2] = {{buf, 4}, {buf, SIZE_MAX}};
  EXPECT_EQ(sys->writev(p[1], neg, 2), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sys->readv(p[0], neg, 2), -1);
  EXPECT_EQ(errno, EINVAL);
  int n = -1;
  EXPECT_EQ(sys->ioctl(p[0], FIONREAD, &n), 0);
  EXPECT_EQ(n, 0);
}

TEST_P(Fd, Fd_ReadvWritevIovcntOutOfRangeIsEinval) {
  int e = efd(1);
  ASSERT_GE(e, 0);
  std::vector<struct iovec> iov(1025);
  uint64_t v = 1;
  for (auto& i : iov) i = {&v, 0};
  for (int n : {-1, 1025, INT_MIN}) {
    EXPECT_EQ(sys->readv(e, iov.data(), n), -1) << n;
    EXPECT_EQ(errno, EINVAL) << n;
    EXPECT_EQ(sys->writev(e, iov.data(), n), -1) << n;
    EXPECT_EQ(errno, EINVAL) << n;
    EXPECT_EQ(sys->readv(e, nullptr, n), -1) << n;
    EXPECT_EQ(errno, EINVAL) << n;
  }
  // 1024 (UIO_MAXIOV) is allowed.
  int p[2];
  ASSERT_TRUE(pipe(p, O_NONBLOCK));
  std::vector<char> bytes(1024, 'k');
  for (int i = 0; i < 1024; ++i) iov[i] = {&bytes[i], 1};
  EXPECT_EQ(sys->writev(p[1], iov.data(), 1024), 1024);
  EXPECT_EQ(sys->readv(p[0], iov.data(), 1024), 1024);
  // A null array with a non-zero count is a fault.
  EXPECT_EQ(sys->readv(e, nullptr, 1), -1);
  EXPECT_EQ(errno, EFAULT);
}

TEST_P(Fd, Fd_ReadvWritevWithNothingToTransferReturnZero) {
  int e = efd(5, 0);  // blocking: a zero-length call must not wait
  ASSERT_GE(e, 0);
  EXPECT_EQ(sys->readv(e, nullptr, 0), 0);
  EXPECT_EQ(sys->writev(e, nullptr, 0), 0);
  // Zero total bytes returns before the file is asked: no EINVAL from eventfd's size checks,
  // unlike read(fd, buf, 0).
  char c;
  struct iovec empty[2] = {{&c, 0}, {&c, 0}};
  EXPECT_EQ(sys->readv(e, empty, 2), 0);
  EXPECT_EQ(sys->writev(e, empty, 2), 0);
  EXPECT_EQ(sys->read(e, &c, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(read_u64(e), 5u);
  // The mode is checked before the count.
  int p[2];
  ASSERT_TRUE(pipe(p));
  EXPECT_EQ(sys->readv(p[1], nullptr, 0), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_P(Fd, Fd_EventfdWritevWritesEachSegment) {
  // eventfd has ->write only: writev calls it once per segment, 8 bytes each.
  int e = efd();
  ASSERT_GE(e, 0);
  uint64_t a = 3, b = 4;
  struct iovec two[2] = {{&a, 8}, {&b, 8}};
  EXPECT_EQ(sys->writev(e, two, 2), 16);
  EXPECT_EQ(read_u64(e), 7u);
  // One 16-byte segment is one 16-byte write: EINVAL.
  uint64_t pair[2] = {1, 1};
  struct iovec one = {pair, 16};
  EXPECT_EQ(sys->writev(e, &one, 1), -1);
  EXPECT_EQ(errno, EINVAL);
  // A bad second segment stops the loop; the first one counts.
  struct iovec short2[2] = {{&a, 8}, {&b, 4}};
  EXPECT_EQ(sys->writev(e, short2, 2), 8);
  EXPECT_EQ(read_u64(e), 3u);
  // An empty segment is passed on as a 0-byte write when it comes first (EINVAL), and stepped
  // over once the one before it was written whole.
  char c;
  struct iovec lead[2] = {{&c, 0}, {&a, 8}};
  EXPECT_EQ(sys->writev(e, lead, 2), -1);
  EXPECT_EQ(errno, EINVAL);
  struct iovec mid[3] = {{&a, 8}, {&c, 0}, {&b, 8}};
  EXPECT_EQ(sys->writev(e, mid, 3), 16);
  EXPECT_EQ(read_u64(e), 7u);
}

TEST_P(Fd, Fd_EventfdReadvFillsSegmentsInOrder) {
  // eventfd has ->read_iter: the 8 bytes may be split across segments.
  int e = efd();
  ASSERT_GE(e, 0);
  const uint64_t value = 0x1122334455667788ull;
  ASSERT_EQ(write_u64(e, value), 8);
  unsigned char lo[4], hi[4];
  struct iovec iov[2] = {{lo, 4}, {hi, 4}};
  EXPECT_EQ(sys->readv(e, iov, 2), 8);
  unsigned char all[8];
  std::memcpy(all, lo, 4);
  std::memcpy(all + 4, hi, 4);
  uint64_t got;
  std::memcpy(&got, all, 8);
  EXPECT_EQ(got, value);
  // The total counts, not the segments: 2 + 2 is too small.
  ASSERT_EQ(write_u64(e, 1), 8);
  struct iovec small[2] = {{lo, 2}, {hi, 2}};
  EXPECT_EQ(sys->readv(e, small, 2), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(read_u64(e), 1u);
}

TEST_P(Fd, Fd_PipeReadvWritevGatherAndScatter) {
  int p[2];
  ASSERT_TRUE(pipe(p, O_NONBLOCK));
  char a[] = "abc", b[] = "defgh";
  struct iovec out[3] = {{a, 3}, {nullptr, 0}, {b, 5}};
  EXPECT_EQ(sys->writev(p[1], out, 3), 8);
  char x[2], y[10];
  struct iovec in[2] = {{x, 2}, {y, sizeof y}};
  EXPECT_EQ(sys->readv(p[0], in, 2), 8);
  EXPECT_EQ(std::string(x, 2), "ab");
  EXPECT_EQ(std::string(y, 6), "cdefgh");
}

INSTANTIATE_CONFORMANCE(Fd);

}  // namespace

namespace conformance {
namespace {

class FdOwner : public Conformance {};

// F_SETOWN/F_GETOWN, F_SETSIG/F_GETSIG, F_GETLEASE and F_NOTIFY on a non-regular file.
TEST_P(FdOwner, Fd_FcntlOwnerSignalLeaseAndNotify) {
  int efd = sys->eventfd(0, 0);
  ASSERT_GE(efd, 0);
  EXPECT_EQ(sys->fcntl(efd, F_GETOWN), 0);
  EXPECT_EQ(sys->fcntl(efd, F_SETOWN, getpid()), 0);
  EXPECT_EQ(sys->fcntl(efd, F_GETOWN), getpid());
  EXPECT_EQ(sys->fcntl(efd, F_GETSIG), 0);
  EXPECT_EQ(sys->fcntl(efd, F_SETSIG, SIGUSR1), 0);
  EXPECT_EQ(sys->fcntl(efd, F_GETSIG), SIGUSR1);
  errno = 0;
  EXPECT_EQ(sys->fcntl(efd, F_SETSIG, 65), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sys->fcntl(efd, F_SETSIG, 64), 0);
  EXPECT_EQ(sys->fcntl(efd, F_GETLEASE), F_UNLCK);
  EXPECT_EQ(sys->fcntl(efd, F_NOTIFY, 0), 0);
  errno = 0;
  EXPECT_EQ(sys->fcntl(efd, F_NOTIFY, DN_CREATE), -1);
  EXPECT_EQ(errno, ENOTDIR);
  // The owner belongs to the open file description: a dup sees it.
  int d = sys->dup(efd);
  ASSERT_GE(d, 0);
  EXPECT_EQ(sys->fcntl(d, F_GETOWN), getpid());
  EXPECT_EQ(sys->close(d), 0);
  EXPECT_EQ(sys->close(efd), 0);
}

INSTANTIATE_CONFORMANCE(FdOwner);

}  // namespace
}  // namespace conformance
