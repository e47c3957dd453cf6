// The table of Linux-signature calls that every conformance test is written against.
//
// Each test in tests/conformance/ is written once, against `Api`, and runs twice: with
// kLinuxApi (the host kernel through glibc) and with kUstackApi (ustack). Both must pass
// (DESIGN.md §6). Tests are named by their spec ID: `A5_ClosedFdIsPollnval`.
//
// Built with CONFORMANCE_LIBC_ONLY (conformance_libc_test), the same tests are a plain libc
// program that knows nothing of ustack: one table, libc_api(), which is the host kernel when run
// as is and ustack when run under ustack-run (the preload interposes libc's calls).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace conformance {

struct Api {
  const char* name;  // "linux", "ustack", or "ustack_preload" (libc under ustack-run)
  bool is_linux;     // the host kernel answers; false wherever ustack does

  int (*close)(int);
  int (*dup)(int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
  int (*fcntl)(int, int, ...);
  int (*ioctl)(int, unsigned long, ...);
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*write)(int, const void*, size_t);
  ssize_t (*readv)(int, const struct iovec*, int);
  ssize_t (*writev)(int, const struct iovec*, int);
  int (*poll)(struct pollfd*, nfds_t, int);
  int (*ppoll)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*);
  int (*select)(int, fd_set*, fd_set*, fd_set*, struct timeval*);
  int (*pselect)(int, fd_set*, fd_set*, fd_set*, const struct timespec*, const sigset_t*);
  int (*epoll_create)(int);
  int (*epoll_create1)(int);
  int (*epoll_ctl)(int, int, int, struct epoll_event*);
  int (*epoll_wait)(int, struct epoll_event*, int, int);
  int (*epoll_pwait)(int, struct epoll_event*, int, int, const sigset_t*);
  int (*epoll_pwait2)(int, struct epoll_event*, int, const struct timespec*, const sigset_t*);
  int (*eventfd)(unsigned int, int);
  int (*eventfd_read)(int, eventfd_t*);
  int (*eventfd_write)(int, eventfd_t);
  int (*pipe)(int[2]);
  int (*pipe2)(int[2], int);
  int (*getrlimit)(int, struct rlimit*);
  int (*setrlimit)(int, const struct rlimit*);
  int (*sigaction)(int, const struct sigaction*, struct sigaction*);

  // Sockets (net/socket.c). A table may leave them null (a build without a socket layer):
  // tests that need them skip there with REQUIRE_SOCKETS().
  int (*socket)(int, int, int);
  int (*socketpair)(int, int, int, int[2]);
  int (*bind)(int, const struct sockaddr*, socklen_t);
  int (*listen)(int, int);
  int (*accept)(int, struct sockaddr*, socklen_t*);
  int (*accept4)(int, struct sockaddr*, socklen_t*, int);
  int (*connect)(int, const struct sockaddr*, socklen_t);
  ssize_t (*send)(int, const void*, size_t, int);
  ssize_t (*sendto)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
  ssize_t (*sendmsg)(int, const struct msghdr*, int);
  int (*sendmmsg)(int, struct mmsghdr*, unsigned int, int);
  ssize_t (*recv)(int, void*, size_t, int);
  ssize_t (*recvfrom)(int, void*, size_t, int, struct sockaddr*, socklen_t*);
  ssize_t (*recvmsg)(int, struct msghdr*, int);
  int (*recvmmsg)(int, struct mmsghdr*, unsigned int, int, struct timespec*);
  int (*shutdown)(int, int);
  int (*getsockname)(int, struct sockaddr*, socklen_t*);
  int (*getpeername)(int, struct sockaddr*, socklen_t*);
  int (*getsockopt)(int, int, int, void*, socklen_t*);
  int (*setsockopt)(int, int, int, const void*, socklen_t);
};

#ifdef CONFORMANCE_LIBC_ONLY
// glibc's entry points, named and flagged for whoever answers them: "linux" (is_linux) natively,
// "ustack_preload" (!is_linux, so every is_linux branch goes the way it goes for kUstackApi)
// when ustack's preload is in the process. Decided on first call, which gtest makes from main.
const Api* libc_api();
#else
extern const Api kLinuxApi;
extern const Api kUstackApi;
#endif

// Base fixture: `sys` is the table under test. Every test body uses sys->call(...) only, never
// a bare ::call on an fd it got from sys.
class Conformance : public ::testing::TestWithParam<const Api*> {
 protected:
  const Api* sys = GetParam();
};

std::string api_name(const ::testing::TestParamInfo<const Api*>& info);

}  // namespace conformance

// Skips a socket test on a table without sockets, saying so.
#define REQUIRE_SOCKETS()                                                                  \
  do {                                                                                     \
    if (sys->socket == nullptr) GTEST_SKIP() << sys->name << " has no socket layer yet";   \
  } while (0)

// TEST_P(Suite, A5_ClosedFdIsPollnval) { ... } on a Conformance fixture defines a test run on
// both tables (on the one libc table in conformance_libc_test).
// Each Suite must be instantiated once, in its own .cc file, with INSTANTIATE_CONFORMANCE(Suite).
#ifdef CONFORMANCE_LIBC_ONLY
#define INSTANTIATE_CONFORMANCE(Suite)                                                   \
  INSTANTIATE_TEST_SUITE_P(, Suite, ::testing::Values(::conformance::libc_api()),        \
                           ::conformance::api_name)
#else
#define INSTANTIATE_CONFORMANCE(Suite)                                                   \
  INSTANTIATE_TEST_SUITE_P(, Suite,                                                      \
                           ::testing::Values(&::conformance::kLinuxApi,                  \
                                             &::conformance::kUstackApi),                \
                           ::conformance::api_name)
#endif
