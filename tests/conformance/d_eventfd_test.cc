// Group D of spec/linux-semantics.md: eventfd, each item run on the host kernel and on ustack.
//
// Not reachable from user space, so not tested here:
// - D11 and D16: the counter can reach ULLONG_MAX (POLLERR, select readable+writable, a read of
//   0xffffffffffffffff) only through the kernel's eventfd_signal, which saturates instead of
//   blocking. write(2) never gets past ULLONG_MAX-1 (D8) and writing ULLONG_MAX is EINVAL (D5).
// - D9/D12's ET half (a notification on every write, and none from a failed read) needs epoll;
//   with poll, a wake-up that finds nothing ready just sleeps again, which D9 checks.
// - D15: fork is out of scope for ustack for now, and SCM_RIGHTS needs AF_UNIX; dup shares the
//   counter the same way and is tested. The EPOLLHUP wake-up at release reaches no poll waiter
//   (a sleeping poll holds its own file reference), only epoll items.
#include <pthread.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "conformance/helpers.hpp"

namespace {

using namespace std::chrono_literals;
using namespace conformance;

constexpr uint64_t kMax = ULLONG_MAX;  // 0xffffffffffffffff: never storable

class DEventfd : public OwnedFds {
 protected:
  // An eventfd that the test owns; closed at the end of the test.
  int make(unsigned initval, int flags) { return own(sys->eventfd(initval, flags)); }
  // The counter, without changing it: read it, then write it back. The fd must be non-blocking
  // or the counter non-zero.
  uint64_t peek(int fd) {
    uint64_t v = 0;
    if (sys->read(fd, &v, sizeof v) != 8) return 0;
    EXPECT_EQ(write_u64(fd, v), 8);
    return v;
  }
  short revents(int fd, short events = POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLWRNORM |
                                       POLLRDBAND | POLLWRBAND | POLLRDHUP) {
    return poll_revents(sys, fd, events);
  }
};

// --- D1: initval and flags ---

TEST_P(DEventfd, D1_FlagsOutsideSemaphoreNonblockCloexecAreEinval) {
  for (int bad : {2, 4, O_APPEND, O_DIRECT, O_RDWR, EFD_SEMAPHORE | O_ASYNC, int(0x80000000)}) {
    errno = 0;
    EXPECT_EQ(sys->eventfd(0, bad), -1) << "flags " << std::hex << bad;
    EXPECT_EQ(errno, EINVAL) << "flags " << std::hex << bad;
  }
  ASSERT_GE(make(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC), 0);
  ASSERT_GE(make(0, 0), 0);
}

TEST_P(DEventfd, D1_InitvalIsAnUnsignedIntAndTheInitialCounter) {
  int a = make(5, EFD_NONBLOCK);
  int b = make(UINT_MAX, EFD_NONBLOCK);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  uint64_t v = 0;
  ASSERT_EQ(sys->read(a, &v, 8), 8);
  EXPECT_EQ(v, 5u);
  ASSERT_EQ(sys->read(b, &v, 8), 8);
  EXPECT_EQ(v, uint64_t(UINT_MAX));
  // initval 0: nothing to read.
  int c = make(0, EFD_NONBLOCK);
  ASSERT_GE(c, 0);
  EXPECT_EQ(sys->read(c, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
}

// --- D2: the flags land on the file and the fd ---

TEST_P(DEventfd, D2_EfdNonblockSetsONonblockOnTheFile) {
  int nb = make(0, EFD_NONBLOCK);
  int bl = make(0, 0);
  ASSERT_GE(nb, 0);
  ASSERT_GE(bl, 0);
  EXPECT_EQ(sys->fcntl(nb, F_GETFL), O_RDWR | O_NONBLOCK);
  EXPECT_EQ(sys->fcntl(bl, F_GETFL), O_RDWR);
  // EFD_NONBLOCK is O_NONBLOCK itself: reads on an empty counter do not wait.
  uint64_t v;
  EXPECT_EQ(sys->read(nb, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
  // The semaphore flag is not a file flag.
  int sem = make(0, EFD_SEMAPHORE);
  ASSERT_GE(sem, 0);
  EXPECT_EQ(sys->fcntl(sem, F_GETFL), O_RDWR);
}

TEST_P(DEventfd, D2_EfdCloexecSetsFdCloexec) {
  int ce = make(0, EFD_CLOEXEC);
  int no = make(0, 0);
  ASSERT_GE(ce, 0);
  ASSERT_GE(no, 0);
  EXPECT_EQ(sys->fcntl(ce, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(sys->fcntl(no, F_GETFD), 0);
  // It is an fd flag, not a file flag.
  EXPECT_EQ(sys->fcntl(ce, F_GETFL), O_RDWR);
}

// --- D3: read buffer size ---

TEST_P(DEventfd, D3_ReadBufferSmallerThan8IsEinval) {
  int fd = make(7, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  char buf[16] = {};
  for (size_t n : {size_t(0), size_t(1), size_t(4), size_t(7)}) {
    errno = 0;
    EXPECT_EQ(sys->read(fd, buf, n), -1) << n;
    EXPECT_EQ(errno, EINVAL) << n;
  }
  // The failed reads consumed nothing.
  uint64_t v = 0;
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, 7u);
  // Counter 0 and non-blocking: still EINVAL, not EAGAIN.
  EXPECT_EQ(sys->read(fd, buf, 4), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_P(DEventfd, D3_SmallBufferIsEinvalEvenWhenTheReadWouldBlock) {
  int fd = make(0, 0);  // blocking, counter 0
  ASSERT_GE(fd, 0);
  char buf[4];
  Call call([&] { return long(sys->read(fd, buf, sizeof buf)); });
  bool returned = call.wait();
  if (!returned) write_u64(fd, 1);  // it blocked: release it so the thread can be joined
  ASSERT_TRUE(returned) << "read with a 4-byte buffer blocked instead of failing";
  EXPECT_EQ(call.result(), -1);
  EXPECT_EQ(call.err(), EINVAL);
}

TEST_P(DEventfd, D3_LargeBufferGetsExactly8BytesInHostOrder) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  const uint64_t value = 0x0102030405060708ull;
  ASSERT_EQ(write_u64(fd, value), 8);
  unsigned char buf[16];
  std::memset(buf, 0xaa, sizeof buf);
  ASSERT_EQ(sys->read(fd, buf, sizeof buf), 8);
  uint64_t got;
  std::memcpy(&got, buf, 8);
  EXPECT_EQ(got, value);
  for (size_t i = 8; i < sizeof buf; ++i) EXPECT_EQ(buf[i], 0xaa) << "byte " << i;
  // A huge count is fine too.
  ASSERT_EQ(write_u64(fd, 3), 8);
  std::vector<char> big(1 << 16);
  EXPECT_EQ(sys->read(fd, big.data(), big.size()), 8);
}

TEST_P(DEventfd, D3_NullBufferConsumesTheCountThenFaults) {
  // eventfd_read takes the count under the lock and copies out afterwards: the count is gone
  // even though the copy fails.
  int fd = make(9, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(sys->read(fd, nullptr, 8), -1);
  EXPECT_EQ(errno, EFAULT);
  uint64_t v;
  EXPECT_EQ(sys->read(fd, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
}

// --- D4, D5: write buffer size and value ---

TEST_P(DEventfd, D4_WriteBufferSmallerThan8IsEinval) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  unsigned char buf[16] = {1};
  for (size_t n : {size_t(0), size_t(1), size_t(4), size_t(7)}) {
    errno = 0;
    EXPECT_EQ(sys->write(fd, buf, n), -1) << n;
    EXPECT_EQ(errno, EINVAL) << n;
  }
  EXPECT_EQ(revents(fd), POLLOUT) << "a failed write changed the counter";
  // The size is checked before the buffer is touched.
  EXPECT_EQ(sys->write(fd, nullptr, 4), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(sys->write(fd, nullptr, 8), -1);
  EXPECT_EQ(errno, EFAULT);
}

TEST_P(DEventfd, D4_WriteBufferLargerThan8IsEinvalSince6_9) {
  if (sys->is_linux && !kernel_at_least(6, 9))
    GTEST_SKIP() << "host kernel older than 6.9 accepts writes larger than 8 bytes (D4)";
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  uint64_t buf[2] = {5, 6};
  for (size_t n : {size_t(9), size_t(16)}) {
    errno = 0;
    EXPECT_EQ(sys->write(fd, buf, n), -1) << n;
    EXPECT_EQ(errno, EINVAL) << n;
  }
  EXPECT_EQ(revents(fd), POLLOUT);
}

TEST_P(DEventfd, D5_WritingAllOnesIsEinval) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(write_u64(fd, kMax), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(revents(fd), POLLOUT);
  // EINVAL, not EAGAIN, even when the counter would have no room anyway.
  ASSERT_EQ(write_u64(fd, 10), 8);
  EXPECT_EQ(write_u64(fd, kMax), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(peek(fd), 10u);
  // Through glibc's helper as well.
  EXPECT_EQ(sys->eventfd_write(fd, kMax), -1);
  EXPECT_EQ(errno, EINVAL);
}

// --- D6, D7: reading ---

TEST_P(DEventfd, D6_ReadReturnsTheCounterAndResetsIt) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write_u64(fd, 3), 8);
  ASSERT_EQ(write_u64(fd, 4), 8);
  uint64_t v = 0;
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, 7u);
  EXPECT_EQ(sys->read(fd, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
  ASSERT_EQ(sys->eventfd_write(fd, 11), 0);
  eventfd_t ev = 0;
  ASSERT_EQ(sys->eventfd_read(fd, &ev), 0);
  EXPECT_EQ(ev, 11u);
}

TEST_P(DEventfd, D6_SemaphoreReadReturnsOneAndDecrements) {
  int fd = make(3, EFD_SEMAPHORE | EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  uint64_t v;
  for (int i = 0; i < 3; ++i) {
    v = 0;
    ASSERT_EQ(sys->read(fd, &v, 8), 8) << i;
    EXPECT_EQ(v, 1u) << i;
  }
  EXPECT_EQ(sys->read(fd, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(revents(fd), POLLOUT);
  ASSERT_EQ(write_u64(fd, 2), 8);
  EXPECT_EQ(revents(fd), POLLIN | POLLOUT);
  ASSERT_EQ(sys->read(fd, &v, 16), 8);
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(revents(fd), POLLIN | POLLOUT) << "one left";
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(sys->read(fd, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_P(DEventfd, D7_NonblockingReadOnZeroIsEagain) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  uint64_t v = 12345;
  EXPECT_EQ(sys->read(fd, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(v, 12345u);
  // O_NONBLOCK set later through fcntl counts the same.
  int bl = make(0, 0);
  ASSERT_GE(bl, 0);
  ASSERT_EQ(sys->fcntl(bl, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(sys->read(bl, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_P(DEventfd, D7_BlockingReadWaitsUntilAWrite) {
  int fd = make(0, 0);
  ASSERT_GE(fd, 0);
  uint64_t got = 0;
  Call call([&] { return long(sys->read(fd, &got, 8)); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(call.done()) << "read on a zero counter returned without waiting";
  ASSERT_EQ(write_u64(fd, 42), 8);
  bool woke = call.wait();
  if (!woke) write_u64(fd, 1);
  ASSERT_TRUE(woke) << "blocked read not woken by a write";
  EXPECT_EQ(call.result(), 8);
  EXPECT_EQ(got, 42u);
}

// --- D8: the write limit ---

TEST_P(DEventfd, D8_CounterHoldsAtMostUllongMaxMinusOne) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write_u64(fd, kMax - 1), 8);
  EXPECT_EQ(write_u64(fd, 1), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(write_u64(fd, 0), 8) << "adding 0 always fits";
  uint64_t v = 0;
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, kMax - 1);
}

TEST_P(DEventfd, D8_WriteFitsIffSumIsAtMostUllongMaxMinusOne) {
  int fd = make(5, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  // 5 + (kMax - 6) = kMax - 1: fits exactly. 5 + (kMax - 5) = kMax: does not.
  EXPECT_EQ(write_u64(fd, kMax - 5), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(write_u64(fd, kMax - 6), 8);
  uint64_t v = 0;
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, kMax - 1);
}

TEST_P(DEventfd, D8_BlockingWriteWaitsForARead) {
  int fd = make(0, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write_u64(fd, kMax - 1), 8);
  Call call([&] { return long(write_u64(fd, 1)); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(call.done()) << "write past the limit returned without waiting";
  uint64_t v = 0;
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, kMax - 1);
  bool woke = call.wait();
  if (!woke) sys->read(fd, &v, 8);
  ASSERT_TRUE(woke) << "blocked write not woken by a read";
  EXPECT_EQ(call.result(), 8);
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, 1u);
}

// --- D9: writing zero ---

TEST_P(DEventfd, D9_WriteZeroSucceedsAndLeavesTheCounter) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(write_u64(fd, 0), 8);
  uint64_t v;
  EXPECT_EQ(sys->read(fd, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(revents(fd), POLLOUT);
  ASSERT_EQ(write_u64(fd, 5), 8);
  EXPECT_EQ(write_u64(fd, 0), 8);
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, 5u);
}

TEST_P(DEventfd, D9_WriteZeroWakesPollButItFindsNothingReady) {
  // The EPOLLIN wake-up happens; poll re-checks, finds the counter still 0 and sleeps on until
  // its timeout.
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  struct pollfd p = {fd, POLLIN, 0};
  Call call([&] { return long(sys->poll(&p, 1, 300)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_EQ(write_u64(fd, 0), 8);
  ASSERT_TRUE(call.wait());
  EXPECT_EQ(call.result(), 0);
  EXPECT_EQ(p.revents, 0);
}

// --- D10: readiness ---

TEST_P(DEventfd, D10_PollReadinessAtTheBoundaries) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  // Only IN and OUT: no RDNORM/WRNORM, even when asked for.
  EXPECT_EQ(revents(fd), POLLOUT);
  ASSERT_EQ(write_u64(fd, 1), 8);
  EXPECT_EQ(revents(fd), POLLIN | POLLOUT);
  ASSERT_EQ(write_u64(fd, kMax - 4), 8);  // kMax - 3
  EXPECT_EQ(revents(fd), POLLIN | POLLOUT);
  ASSERT_EQ(write_u64(fd, 1), 8);  // kMax - 2
  EXPECT_EQ(revents(fd), POLLIN | POLLOUT);
  ASSERT_EQ(write_u64(fd, 1), 8);  // kMax - 1: full
  EXPECT_EQ(revents(fd), POLLIN);
  EXPECT_EQ(revents(fd, POLLOUT), 0);
  uint64_t v;
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, kMax - 1);
  EXPECT_EQ(revents(fd), POLLOUT);
  EXPECT_EQ(revents(fd, POLLIN), 0);
}

TEST_P(DEventfd, D10_SelectReadinessAtTheBoundaries) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_LT(fd, FD_SETSIZE);
  auto check = [&](bool want_r, bool want_w) {
    fd_set r, w, e;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_ZERO(&e);
    FD_SET(fd, &r);
    FD_SET(fd, &w);
    FD_SET(fd, &e);
    struct timeval tv = {0, 0};
    EXPECT_EQ(sys->select(fd + 1, &r, &w, &e, &tv), int(want_r) + int(want_w));
    EXPECT_EQ(bool(FD_ISSET(fd, &r)), want_r);
    EXPECT_EQ(bool(FD_ISSET(fd, &w)), want_w);
    EXPECT_FALSE(FD_ISSET(fd, &e));
  };
  check(false, true);
  ASSERT_EQ(write_u64(fd, kMax - 2), 8);
  check(true, true);
  ASSERT_EQ(write_u64(fd, 1), 8);
  check(true, false);
}

// --- D12: wake-ups ---

TEST_P(DEventfd, D12_WriteWakesAPollWaitingForPollin) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  struct pollfd p = {fd, POLLIN, 0};
  Call call([&] { return long(sys->poll(&p, 1, int(kBound.count()))); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(call.done());
  ASSERT_EQ(write_u64(fd, 2), 8);
  ASSERT_TRUE(call.wait());
  EXPECT_EQ(call.result(), 1);
  EXPECT_EQ(p.revents, POLLIN);
}

TEST_P(DEventfd, D12_ReadWakesAPollWaitingForPollout) {
  int fd = make(0, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write_u64(fd, kMax - 1), 8);
  struct pollfd p = {fd, POLLOUT, 0};
  Call call([&] { return long(sys->poll(&p, 1, int(kBound.count()))); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(call.done());
  uint64_t v;
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  ASSERT_TRUE(call.wait());
  EXPECT_EQ(call.result(), 1);
  EXPECT_EQ(p.revents, POLLOUT);
}

TEST_P(DEventfd, D12_SemaphoreReadOfOneWakesPollout) {
  // Each successful read wakes EPOLLOUT, even one that only takes 1 off a full counter.
  int fd = make(0, EFD_SEMAPHORE | EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write_u64(fd, kMax - 1), 8);
  struct pollfd p = {fd, POLLOUT, 0};
  Call call([&] { return long(sys->poll(&p, 1, int(kBound.count()))); });
  std::this_thread::sleep_for(kSettle);
  uint64_t v;
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, 1u);
  ASSERT_TRUE(call.wait());
  EXPECT_EQ(call.result(), 1);
  EXPECT_EQ(p.revents, POLLOUT);
}

// --- D13: signals interrupt blocked reads and writes ---

class DEventfdSignal : public DEventfd {
 protected:
  // fd is blocking and its blocked call (read, or a write past the limit) runs in `call`.
  // `release` makes that call complete.
  void expect_eintr(Call& call, const std::function<void()>& release) {
    // Signal until the call gives up: a signal that lands before the call sleeps is just
    // handled, and the next one interrupts the sleep.
    auto deadline = std::chrono::steady_clock::now() + kBound;
    while (!call.done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(kSettle);
      if (!call.done()) pthread_kill(call.handle(), SIGUSR1);
    }
    bool returned = call.wait(100ms);
    if (!returned) release();
    ASSERT_TRUE(returned) << "blocked call not interrupted by a handler without SA_RESTART";
    EXPECT_EQ(call.result(), -1);
    EXPECT_EQ(call.err(), EINTR);
    EXPECT_GE(g_signals.load(), 1);
  }
  void expect_restart(Call& call, const std::function<void()>& release) {
    std::this_thread::sleep_for(kSettle);
    ASSERT_FALSE(call.done());
    pthread_kill(call.handle(), SIGUSR1);
    auto deadline = std::chrono::steady_clock::now() + kBound;
    while (g_signals.load() == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    EXPECT_EQ(g_signals.load(), 1) << "handler did not run";
    std::this_thread::sleep_for(kSettle);
    EXPECT_FALSE(call.done()) << "call returned after an SA_RESTART handler instead of restarting";
    release();
    ASSERT_TRUE(call.wait()) << "restarted call not woken";
  }
};

TEST_P(DEventfdSignal, D13_SaRestartHandlerRestartsABlockedRead) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  HandlerScope h(sys, SIGUSR1, SA_RESTART);
  ASSERT_TRUE(h.ok());
  int fd = make(0, 0);
  ASSERT_GE(fd, 0);
  uint64_t got = 0;
  {
    Call call([&] { return long(sys->read(fd, &got, 8)); });
    expect_restart(call, [&] { write_u64(fd, 3); });
    EXPECT_EQ(call.result(), 8);
  }
  EXPECT_EQ(got, 3u);
}

TEST_P(DEventfdSignal, D13_HandlerWithoutSaRestartMakesABlockedReadEintr) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  HandlerScope h(sys, SIGUSR1, 0);
  ASSERT_TRUE(h.ok());
  int fd = make(0, 0);
  ASSERT_GE(fd, 0);
  uint64_t got = 0;
  {
    Call call([&] { return long(sys->read(fd, &got, 8)); });
    expect_eintr(call, [&] { write_u64(fd, 1); });
  }
  // Nothing was consumed: a later write is read whole.
  ASSERT_EQ(write_u64(fd, 6), 8);
  ASSERT_EQ(sys->read(fd, &got, 8), 8);
  EXPECT_EQ(got, 6u);
}

TEST_P(DEventfdSignal, D13_SaRestartHandlerRestartsABlockedWrite) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  HandlerScope h(sys, SIGUSR1, SA_RESTART);
  ASSERT_TRUE(h.ok());
  int fd = make(0, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write_u64(fd, kMax - 1), 8);
  uint64_t v = 0;
  {
    Call call([&] { return long(write_u64(fd, 2)); });
    expect_restart(call, [&] { sys->read(fd, &v, 8); });
    EXPECT_EQ(call.result(), 8);
  }
  EXPECT_EQ(v, kMax - 1);
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, 2u);
}

TEST_P(DEventfdSignal, D13_HandlerWithoutSaRestartMakesABlockedWriteEintr) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  HandlerScope h(sys, SIGUSR1, 0);
  ASSERT_TRUE(h.ok());
  int fd = make(0, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write_u64(fd, kMax - 1), 8);
  uint64_t v = 0;
  {
    Call call([&] { return long(write_u64(fd, 2)); });
    expect_eintr(call, [&] { sys->read(fd, &v, 8); });
  }
  // The interrupted write added nothing.
  ASSERT_EQ(sys->read(fd, &v, 8), 8);
  EXPECT_EQ(v, kMax - 1);
}

TEST_P(DEventfdSignal, D13_StopAndContinueLeaveABlockedReadBlocked) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  // SIGSTOP/SIGCONT stop the whole process, so another process must send the SIGCONT: a child
  // that does only async-signal-safe calls.
  int fd = make(0, 0);
  ASSERT_GE(fd, 0);
  uint64_t got = 0;
  Call call([&] { return long(sys->read(fd, &got, 8)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_FALSE(call.done());
  const pid_t child = fork_stop_and_continue();
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(call.done()) << "read returned after SIGSTOP/SIGCONT: " << call.result() << " "
                            << std::strerror(call.err());
  ASSERT_EQ(write_u64(fd, 4), 8);
  if (!call.wait()) write_u64(fd, 1);
  ASSERT_TRUE(call.done());
  EXPECT_EQ(call.result(), 8);
  EXPECT_EQ(got, 4u);
}

// --- D14: readers are non-exclusive waiters ---

TEST_P(DEventfd, D14_EveryBlockedSemaphoreReaderWakes) {
  int fd = make(0, EFD_SEMAPHORE);
  ASSERT_GE(fd, 0);
  uint64_t got[3] = {};
  std::vector<std::unique_ptr<Call>> calls;
  for (auto& g : got)
    calls.push_back(std::make_unique<Call>([&] { return long(sys->read(fd, &g, 8)); }));
  std::this_thread::sleep_for(kSettle);
  for (auto& c : calls) EXPECT_FALSE(c->done());
  ASSERT_EQ(write_u64(fd, 3), 8);
  bool all = true;
  for (auto& c : calls) all &= c->wait();
  if (!all) write_u64(fd, 3);
  ASSERT_TRUE(all) << "one write of 3 did not wake three semaphore readers";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(calls[i]->result(), 8);
    EXPECT_EQ(got[i], 1u);
  }
}

TEST_P(DEventfd, D14_FirstReaderTakesAllAndTheOtherSleepsAgain) {
  int fd = make(0, 0);
  ASSERT_GE(fd, 0);
  uint64_t got[2] = {};
  Call a([&] { return long(sys->read(fd, &got[0], 8)); });
  Call b([&] { return long(sys->read(fd, &got[1], 8)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_EQ(write_u64(fd, 5), 8);
  // Exactly one of them gets the 5.
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (!a.done() && !b.done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(kSettle);  // give a wrongly woken second reader time to return
  const int done = int(a.done()) + int(b.done());
  EXPECT_EQ(done, 1);
  ASSERT_EQ(write_u64(fd, 7), 8);
  bool both = a.wait() && b.wait();
  if (!both) {
    write_u64(fd, 1);
    write_u64(fd, 1);
  }
  ASSERT_TRUE(both);
  EXPECT_EQ(a.result(), 8);
  EXPECT_EQ(b.result(), 8);
  EXPECT_TRUE((got[0] == 5 && got[1] == 7) || (got[0] == 7 && got[1] == 5))
      << got[0] << " " << got[1];
}

// --- D15: one counter behind every fd ---

TEST_P(DEventfd, D15_DupSharesTheCounter) {
  int a = make(0, EFD_NONBLOCK);
  ASSERT_GE(a, 0);
  int b = sys->dup(a);
  ASSERT_GE(b, 0);
  own(b);
  int c = sys->fcntl(a, F_DUPFD_CLOEXEC, 0);
  ASSERT_GE(c, 0);
  own(c);
  ASSERT_EQ(write_u64(a, 2), 8);
  ASSERT_EQ(write_u64(b, 3), 8);
  EXPECT_EQ(revents(c), POLLIN | POLLOUT);
  uint64_t v = 0;
  ASSERT_EQ(sys->read(c, &v, 8), 8);
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(sys->read(a, &v, 8), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_P(DEventfd, D15_CounterOutlivesTheFirstFd) {
  int a = sys->eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(a, 0);
  int b = sys->dup(a);
  ASSERT_GE(b, 0);
  own(b);
  ASSERT_EQ(write_u64(a, 9), 8);
  ASSERT_EQ(sys->close(a), 0);
  uint64_t v = 0;
  ASSERT_EQ(sys->read(b, &v, 8), 8);
  EXPECT_EQ(v, 9u);
  ASSERT_EQ(write_u64(b, 1), 8);
  EXPECT_EQ(revents(b), POLLIN | POLLOUT);
}

TEST_P(DEventfd, D15_BlockedReaderOnADupIsWokenByAWriteThroughTheOther) {
  int a = make(0, 0);
  ASSERT_GE(a, 0);
  int b = sys->dup(a);
  ASSERT_GE(b, 0);
  own(b);
  uint64_t got = 0;
  Call call([&] { return long(sys->read(b, &got, 8)); });
  std::this_thread::sleep_for(kSettle);
  ASSERT_EQ(write_u64(a, 8), 8);
  bool woke = call.wait();
  if (!woke) write_u64(a, 1);
  ASSERT_TRUE(woke);
  EXPECT_EQ(got, 8u);
}

INSTANTIATE_CONFORMANCE(DEventfd);
INSTANTIATE_CONFORMANCE(DEventfdSignal);

}  // namespace
