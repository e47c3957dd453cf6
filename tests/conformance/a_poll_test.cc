// Group A of spec/linux-semantics.md: poll() and ppoll(), each item run on the host kernel and
// on ustack. Objects are eventfds and pipes (closing a pipe's write end gives POLLHUP on the read
// end, closing its read end gives POLLERR on the write end).
//
// Not observable from user space, or needing what ustack does not have, so not tested here (where
// part of an item is observable, that part is tested):
// - A1: the hrtimer slack (0.1% / 0.5% of the timeout, capped at 100 ms, timer_slack_ns) only
//   makes a wait longer; a test can assert a lower bound only. The expiry itself is tested.
// - A2 and A15: that the zero-timeout scan, and the rest of a scan after the first ready fd,
//   register on no wait queue. The results of those scans are tested.
// - A10: DEFAULT_POLLMASK for a file without ->poll needs a regular file or a directory, which
//   ustack does not have.
// - A13: a partially mapped pollfd array. ustack cannot probe user memory: it detects NULL only
//   (DESIGN.md §4), so the PROT_NONE case runs on Linux only; NULL is tested on both.
// - A14: the EFAULT of a faulting revents write-back, for the same reason (Linux only).
// - A17 and A24: the wake-key filter (and a socket's data_ready key not waking a POLLOUT-only
//   poller) only saves a rescan that would find nothing: the result is the same either way.
//   A24 also needs sockets.
// - A20: SIGSTOP/SIGCONT would stop the whole test process; the restart_block re-entry with the
//   original deadline cannot be triggered from inside.
// - A22: a sigsetsize other than 8 (glibc always passes 8), and that SIGKILL/SIGSTOP cannot be
//   blocked (would kill or stop the test). The mask swap itself is tested.
// - A23: the raw ppoll syscall writing the remaining time back; glibc's wrapper passes a copy,
//   and that glibc leaves the caller's timespec alone is tested.
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "conformance/helpers.hpp"

namespace {

using namespace std::chrono_literals;
using namespace conformance;

constexpr int kRevGarbage = 0x5a5a;

class APoll : public OwnedFds {
 protected:
  // poll with a zero timeout on one entry; returns revents and checks the count agrees.
  short revents_now(int fd, short events) { return poll_revents(sys, fd, events, kRevGarbage); }
};

// --- A1 ---

TEST_P(APoll, A1_TimeoutExpiresAfterRelativeMs) {
  const int efd = make_eventfd();
  ASSERT_GE(efd, 0);
  struct pollfd p = {efd, POLLIN, kRevGarbage};
  const auto t0 = Clock::now();
  EXPECT_EQ(sys->poll(&p, 1, 100), 0);
  const int64_t el = us_since(t0);
  EXPECT_EQ(p.revents, 0);
  EXPECT_GE(el, 99'000);
  EXPECT_LT(el, 2'100'000);
}

// --- A2 ---

TEST_P(APoll, A2_ZeroTimeoutScansOnceAndReturns) {
  const int idle = make_eventfd(0);
  const int ready = make_eventfd(1);
  ASSERT_GE(idle, 0);
  ASSERT_GE(ready, 0);
  struct pollfd none[1] = {{idle, POLLIN, kRevGarbage}};
  EXPECT_EQ(sys->poll(none, 1, 0), 0);
  EXPECT_EQ(none[0].revents, 0);

  struct pollfd some[2] = {{idle, POLLIN, kRevGarbage}, {ready, POLLIN, kRevGarbage}};
  EXPECT_EQ(sys->poll(some, 2, 0), 1);
  EXPECT_EQ(some[0].revents, 0);
  EXPECT_EQ(some[1].revents, POLLIN);
}

// --- A3 ---

TEST_P(APoll, A3_AnyNegativeTimeoutWaitsForever) {
  const int efd = make_eventfd();
  const int rescue_fd = make_eventfd();
  ASSERT_GE(efd, 0);
  ASSERT_GE(rescue_fd, 0);
  for (int timeout : {-7, -1000, INT_MIN}) {
    SCOPED_TRACE(timeout);
    struct pollfd fds[2] = {{efd, POLLIN, 0}, {rescue_fd, POLLIN, 0}};
    int r;
    {
      Rescue rescue(sys, rescue_fd, 2000ms);
      Later writer(kSettle, [&] { sys->eventfd_write(efd, 1); });
      r = sys->poll(fds, 2, timeout);
    }
    EXPECT_EQ(r, 1);
    EXPECT_EQ(fds[0].revents, POLLIN);
    EXPECT_EQ(fds[1].revents, 0) << "not woken by the write: rescued after 2 s";
    eventfd_t v;
    EXPECT_EQ(sys->eventfd_read(efd, &v), 0);
  }
}

// --- A4 ---

TEST_P(APoll, A4_NegativeFdIsIgnored) {
  const int ready = make_eventfd(1);
  ASSERT_GE(ready, 0);
  // events is not looked at (even 0xffff), revents is written as 0, and nothing is counted.
  struct pollfd fds[3] = {{-1, POLLIN | POLLOUT, kRevGarbage},
                          {INT_MIN, short(0xffff), kRevGarbage},
                          {-5, POLLIN, kRevGarbage}};
  EXPECT_EQ(sys->poll(fds, 3, 0), 0);
  for (const auto& p : fds) EXPECT_EQ(p.revents, 0) << "fd " << p.fd;

  struct pollfd mixed[3] = {
      {-1, POLLIN, kRevGarbage}, {ready, POLLIN, kRevGarbage}, {-1 - ready, POLLIN, kRevGarbage}};
  EXPECT_EQ(sys->poll(mixed, 3, 0), 1);
  EXPECT_EQ(mixed[0].revents, 0);
  EXPECT_EQ(mixed[1].revents, POLLIN);
  EXPECT_EQ(mixed[2].revents, 0);

  // Only negative fds: nothing to wait for but the timeout.
  struct pollfd only_neg = {-1, POLLIN, kRevGarbage};
  const auto t0 = Clock::now();
  EXPECT_EQ(sys->poll(&only_neg, 1, 30), 0);
  EXPECT_GE(us_since(t0), 29'000);
  EXPECT_EQ(only_neg.revents, 0);
}

// --- A5 ---

TEST_P(APoll, A5_ClosedFdIsPollnval) {
  const int efd = make_eventfd();
  ASSERT_GE(efd, 0);
  ASSERT_EQ(close_now(efd), 0);
  // A closed number, one far beyond the table, and INT_MAX: NVAL even with events == 0, counted,
  // and returned at once (a 10 s timeout that is never waited for).
  struct pollfd fds[3] = {
      {efd, POLLIN, kRevGarbage}, {100000, 0, kRevGarbage}, {INT_MAX, POLLOUT, kRevGarbage}};
  const auto t0 = Clock::now();
  EXPECT_EQ(sys->poll(fds, 3, 10000), 3);
  EXPECT_LT(us_since(t0), 5'000'000);
  for (const auto& p : fds) EXPECT_EQ(p.revents, POLLNVAL) << "fd " << p.fd;
}

// --- A6 ---

TEST_P(APoll, A6_ErrAndHupAreAlwaysReported) {
  int hup[2];
  ASSERT_TRUE(make_pipe(hup));
  ASSERT_EQ(close_now(hup[1]), 0);  // read end: POLLHUP
  EXPECT_EQ(revents_now(hup[0], 0), POLLHUP);
  EXPECT_EQ(revents_now(hup[0], POLLIN), POLLHUP);  // empty: HUP without IN
  EXPECT_EQ(revents_now(hup[0], POLLOUT), POLLHUP);
  EXPECT_EQ(revents_now(hup[0], POLLRDHUP), POLLHUP);  // pipes never set RDHUP

  int data_hup[2];
  ASSERT_TRUE(make_pipe(data_hup));
  ASSERT_EQ(sys->write(data_hup[1], "x", 1), 1);
  ASSERT_EQ(close_now(data_hup[1]), 0);
  EXPECT_EQ(revents_now(data_hup[0], POLLIN), POLLIN | POLLHUP);
  EXPECT_EQ(revents_now(data_hup[0], 0), POLLHUP);

  int err[2];
  ASSERT_TRUE(make_pipe(err));
  ASSERT_EQ(close_now(err[0]), 0);  // write end: POLLERR
  EXPECT_EQ(revents_now(err[1], 0), POLLERR);
  EXPECT_EQ(revents_now(err[1], POLLOUT), POLLOUT | POLLERR);
  EXPECT_EQ(revents_now(err[1], POLLIN), POLLERR);

  int full_err[2];
  ASSERT_TRUE(make_pipe(full_err, O_NONBLOCK));
  fill_pipe(sys, full_err[1]);
  ASSERT_EQ(revents_now(full_err[1], POLLOUT), 0);  // full
  ASSERT_EQ(close_now(full_err[0]), 0);
  EXPECT_EQ(revents_now(full_err[1], POLLOUT), POLLERR);
}

// --- A7 ---

TEST_P(APoll, A7_OtherBitsAreMaskedToEvents) {
  const int efd = make_eventfd(1);  // readable and writable; eventfd_poll sets IN and OUT only
  ASSERT_GE(efd, 0);
  EXPECT_EQ(revents_now(efd, POLLPRI), 0);
  EXPECT_EQ(revents_now(efd, POLLRDNORM), 0);
  EXPECT_EQ(revents_now(efd, POLLRDHUP | POLLRDBAND | POLLWRBAND | POLLMSG), 0);
  EXPECT_EQ(revents_now(efd, POLLIN), POLLIN);
  EXPECT_EQ(revents_now(efd, POLLOUT | POLLWRNORM), POLLOUT);
  EXPECT_EQ(revents_now(efd, short(0xffff)), POLLIN | POLLOUT);

  int p[2];  // pipe_poll sets IN|RDNORM and OUT|WRNORM
  ASSERT_TRUE(make_pipe(p));
  ASSERT_EQ(sys->write(p[1], "x", 1), 1);
  EXPECT_EQ(revents_now(p[0], POLLRDNORM), POLLRDNORM);
  EXPECT_EQ(revents_now(p[0], POLLIN), POLLIN);
  EXPECT_EQ(revents_now(p[0], POLLIN | POLLRDNORM | POLLPRI), POLLIN | POLLRDNORM);
  EXPECT_EQ(revents_now(p[0], POLLRDHUP | POLLPRI | POLLRDBAND), 0);
  EXPECT_EQ(revents_now(p[1], POLLWRNORM), POLLWRNORM);
  EXPECT_EQ(revents_now(p[1], POLLWRBAND), 0);
  EXPECT_EQ(revents_now(p[1], POLLIN), 0);  // a write end is never readable
}

// --- A8 ---

TEST_P(APoll, A8_ReturnCountsEntriesNotBits) {
  const int rw = make_eventfd(1);    // IN|OUT
  const int w = make_eventfd(0);     // OUT
  const int none = make_eventfd(0);  // nothing for POLLIN
  ASSERT_GE(rw, 0);
  ASSERT_GE(w, 0);
  ASSERT_GE(none, 0);
  struct pollfd one = {rw, POLLIN | POLLOUT, 0};
  EXPECT_EQ(sys->poll(&one, 1, 0), 1);
  EXPECT_EQ(one.revents, POLLIN | POLLOUT);

  struct pollfd fds[3] = {{rw, POLLIN | POLLOUT, 0}, {w, POLLIN | POLLOUT, 0}, {none, POLLIN, 0}};
  EXPECT_EQ(sys->poll(fds, 3, 0), 2);
  EXPECT_EQ(fds[0].revents, POLLIN | POLLOUT);
  EXPECT_EQ(fds[1].revents, POLLOUT);
  EXPECT_EQ(fds[2].revents, 0);
}

// --- A9 ---

TEST_P(APoll, A9_SameFdSeveralTimesCountedPerEntry) {
  const int efd = make_eventfd(0);  // writable, not readable
  ASSERT_GE(efd, 0);
  struct pollfd fds[3] = {{efd, POLLIN, kRevGarbage},
                          {efd, POLLOUT, kRevGarbage},
                          {efd, POLLIN | POLLOUT, kRevGarbage}};
  EXPECT_EQ(sys->poll(fds, 3, 0), 2);
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_EQ(fds[1].revents, POLLOUT);
  EXPECT_EQ(fds[2].revents, POLLOUT);

  ASSERT_EQ(sys->eventfd_write(efd, 1), 0);
  EXPECT_EQ(sys->poll(fds, 3, 0), 3);
  EXPECT_EQ(fds[0].revents, POLLIN);
  EXPECT_EQ(fds[1].revents, POLLOUT);
  EXPECT_EQ(fds[2].revents, POLLIN | POLLOUT);
}

// --- A11 ---

TEST_P(APoll, A11_NfdsAboveRlimitNofileIsEinval) {
  constexpr int kLimit = 16;
  std::vector<struct pollfd> fds(kLimit + 1, {-1, POLLIN, kRevGarbage});
  NofileScope lim(sys, kLimit);
  ASSERT_TRUE(lim.ok()) << strerror(errno);

  EXPECT_EQ(sys->poll(fds.data(), kLimit, 0), 0);  // nfds == RLIMIT_NOFILE is allowed
  for (int i = 0; i < kLimit; ++i) EXPECT_EQ(fds[i].revents, 0) << i;

  for (auto& p : fds) p.revents = kRevGarbage;
  errno = 0;
  EXPECT_EQ(sys->poll(fds.data(), kLimit + 1, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  for (const auto& p : fds) EXPECT_EQ(p.revents, kRevGarbage);  // nothing read or written

  // Checked before the array is read: not EFAULT.
  errno = 0;
  EXPECT_EQ(sys->poll(nullptr, kLimit + 1, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(sys->ppoll(nullptr, kLimit + 1, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
}

// --- A12 ---

TEST_P(APoll, A12_ZeroNfdsNullArraySleepsForTimeout) {
  auto t0 = Clock::now();
  EXPECT_EQ(sys->poll(nullptr, 0, 50), 0);
  int64_t el = us_since(t0);
  EXPECT_GE(el, 49'000);
  EXPECT_LT(el, 2'050'000);

  const struct timespec ts = {0, 50'000'000};
  t0 = Clock::now();
  EXPECT_EQ(sys->ppoll(nullptr, 0, &ts, nullptr), 0);
  el = us_since(t0);
  EXPECT_GE(el, 49'000);
  EXPECT_LT(el, 2'050'000);

  EXPECT_EQ(sys->poll(nullptr, 0, 0), 0);
}

// --- A13 ---

TEST_P(APoll, A13_UnreadableArrayIsEfault) {
  const auto t0 = Clock::now();
  errno = 0;
  EXPECT_EQ(sys->poll(nullptr, 1, 10000), -1);  // before any waiting: not after 10 s
  EXPECT_EQ(errno, EFAULT);
  EXPECT_LT(us_since(t0), 5'000'000);
  const struct timespec ts = {10, 0};
  errno = 0;
  EXPECT_EQ(sys->ppoll(nullptr, 3, &ts, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_LT(us_since(t0), 5'000'000);

  // A partially mapped array: ustack cannot probe user memory and detects NULL only
  // (DESIGN.md §4), so this half runs on the kernel only.
  if (!sys->is_linux) return;
  const int efd = make_eventfd(1);
  ASSERT_GE(efd, 0);
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  void* m = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  ASSERT_EQ(mprotect(static_cast<char*>(m) + page, page, PROT_NONE), 0);
  auto* p = reinterpret_cast<struct pollfd*>(static_cast<char*>(m) + page - sizeof(pollfd));
  *p = {efd, POLLIN, kRevGarbage};
  errno = 0;
  EXPECT_EQ(sys->poll(p, 2, 0), -1);  // the second entry is in the PROT_NONE page
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(p->revents, kRevGarbage);  // nothing written back
  EXPECT_EQ(sys->poll(p, 1, 0), 1);    // the first alone is fine
  EXPECT_EQ(p->revents, POLLIN);
  munmap(m, 2 * page);
}

// --- A14 ---

TEST_P(APoll, A14_ReventsWrittenBackForEveryEntry) {
  const int idle = make_eventfd(0);
  const int ready = make_eventfd(1);
  ASSERT_GE(idle, 0);
  ASSERT_GE(ready, 0);
  struct pollfd fds[3] = {
      {-1, POLLIN, kRevGarbage}, {idle, POLLIN, kRevGarbage}, {ready, POLLIN, kRevGarbage}};
  EXPECT_EQ(sys->poll(fds, 3, 0), 1);
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_EQ(fds[1].revents, 0);
  EXPECT_EQ(fds[2].revents, POLLIN);

  // On the timeout path too.
  struct pollfd timed[2] = {{-1, POLLIN, kRevGarbage}, {idle, POLLIN, kRevGarbage}};
  EXPECT_EQ(sys->poll(timed, 2, 20), 0);
  EXPECT_EQ(timed[0].revents, 0);
  EXPECT_EQ(timed[1].revents, 0);
  // (The EINTR path is checked by the A19 tests.)

  // A write-back fault is EFAULT: the kernel only (ustack cannot probe user memory).
  if (!sys->is_linux) return;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  void* m = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  auto* p = static_cast<struct pollfd*>(m);
  *p = {idle, POLLIN, 0};
  ASSERT_EQ(mprotect(m, page, PROT_READ), 0);
  errno = 0;
  EXPECT_EQ(sys->poll(p, 1, 0), -1);
  EXPECT_EQ(errno, EFAULT);
  munmap(m, page);
}

// --- A15 ---

TEST_P(APoll, A15_EveryEntryScannedAfterTheFirstReady) {
  const int ready = make_eventfd(1);
  const int idle = make_eventfd(0);
  const int gone = make_eventfd(0);
  int p[2];
  ASSERT_GE(ready, 0);
  ASSERT_GE(idle, 0);
  ASSERT_GE(gone, 0);
  ASSERT_TRUE(make_pipe(p));
  ASSERT_EQ(sys->write(p[1], "x", 1), 1);
  ASSERT_EQ(close_now(gone), 0);
  struct pollfd fds[5] = {{ready, POLLIN, kRevGarbage},
                          {idle, POLLIN, kRevGarbage},
                          {p[0], POLLIN, kRevGarbage},
                          {gone, POLLIN, kRevGarbage},
                          {p[1], POLLOUT, kRevGarbage}};
  EXPECT_EQ(sys->poll(fds, 5, 1000), 4);
  EXPECT_EQ(fds[0].revents, POLLIN);
  EXPECT_EQ(fds[1].revents, 0);
  EXPECT_EQ(fds[2].revents, POLLIN);
  EXPECT_EQ(fds[3].revents, POLLNVAL);
  EXPECT_EQ(fds[4].revents, POLLOUT);
}

// --- A16 ---

TEST_P(APoll, A16_LevelTriggeredUntilDrained) {
  const int efd = make_eventfd(1);
  ASSERT_GE(efd, 0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(revents_now(efd, POLLIN), POLLIN) << i;
  eventfd_t v;
  ASSERT_EQ(sys->eventfd_read(efd, &v), 0);
  EXPECT_EQ(revents_now(efd, POLLIN), 0);
}

TEST_P(APoll, A16_SpuriousWakeupSleepsToTheSameDeadline) {
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  struct pollfd p = {efd, POLLIN, kRevGarbage};
  int r;
  const auto t0 = Clock::now();
  {
    // Writing 0 wakes the eventfd's waiters (key POLLIN) without making it readable.
    Later waker(kSettle, [&] {
      for (int i = 0; i < 3; ++i) {
        sys->eventfd_write(efd, 0);
        std::this_thread::sleep_for(30ms);
      }
    });
    r = sys->poll(&p, 1, 300);
  }
  const int64_t el = us_since(t0);
  EXPECT_EQ(r, 0);
  EXPECT_EQ(p.revents, 0);
  EXPECT_GE(el, 299'000);  // the wake-ups did not end the wait, nor restart it longer
  EXPECT_LT(el, 2'300'000);
}

TEST_P(APoll, A16_NonblockingFdDoesNotAffectPoll) {
  const int efd = make_eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  struct pollfd p = {efd, POLLIN, kRevGarbage};
  auto t0 = Clock::now();
  EXPECT_EQ(sys->poll(&p, 1, 60), 0);  // still waits for the timeout
  EXPECT_GE(us_since(t0), 59'000);
  EXPECT_EQ(p.revents, 0);

  int r;
  {
    Later writer(kSettle, [&] { sys->eventfd_write(efd, 1); });
    r = sys->poll(&p, 1, 3000);
  }
  EXPECT_EQ(r, 1);  // and still blocks until the fd is ready
  EXPECT_EQ(p.revents, POLLIN);
}

// --- A18 ---

TEST_P(APoll, A18_EveryPollerIsWoken) {
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  constexpr int kThreads = 3;
  struct Out {
    int ret = -2;
    short revents = 0;
    int64_t elapsed_us = 0;
  } out[kThreads];
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      struct pollfd p = {efd, POLLIN, 0};
      started.fetch_add(1);
      const auto t0 = Clock::now();
      out[i].ret = sys->poll(&p, 1, 3000);
      out[i].elapsed_us = us_since(t0);
      out[i].revents = p.revents;
    });
  }
  while (started.load() < kThreads) std::this_thread::yield();
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(sys->eventfd_write(efd, 1), 0);  // one write, one wake-up: it reaches every poller
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(out[i].ret, 1) << i;
    EXPECT_EQ(out[i].revents, POLLIN) << i;
    // Woken, not found ready by the rescan after its 3 s timeout.
    EXPECT_LT(out[i].elapsed_us, 2'000'000) << i;
  }
}

// --- A19 ---

void expect_poll_interrupted(const Api* sys, int efd, int sa_flags, bool use_ppoll) {
  HandlerScope h(sys, SIGUSR1, sa_flags);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  const int before = g_signals.load();
  struct pollfd fds[2] = {{efd, POLLIN, kRevGarbage}, {-1, POLLIN, kRevGarbage}};
  const struct timespec ts = {3, 0};
  CallResult r = call_interrupted(SIGUSR1, [&]() -> long {
    return use_ppoll ? sys->ppoll(fds, 2, &ts, nullptr) : sys->poll(fds, 2, 3000);
  });
  EXPECT_EQ(r.ret, -1);  // not restarted, not 0 after the 3 s timeout
  EXPECT_EQ(r.err, EINTR);
  EXPECT_GE(g_signals.load() - before, 1);
  // A14: revents is written back on the EINTR path too.
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_EQ(fds[1].revents, 0);
}

TEST_P(APoll, A19_SignalInterruptsPollEvenWithSaRestart) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  expect_poll_interrupted(sys, efd, SA_RESTART, false);
}

TEST_P(APoll, A19_SignalInterruptsPollWithoutSaRestart) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  expect_poll_interrupted(sys, efd, 0, false);
}

TEST_P(APoll, A19_SignalInterruptsPpollEvenWithSaRestart) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  expect_poll_interrupted(sys, efd, SA_RESTART, true);
}

// --- A21 ---

TEST_P(APoll, A21_PpollNullTimeoutWaitsForever) {
  const int efd = make_eventfd();
  const int rescue_fd = make_eventfd();
  ASSERT_GE(efd, 0);
  ASSERT_GE(rescue_fd, 0);
  struct pollfd fds[2] = {{efd, POLLIN, 0}, {rescue_fd, POLLIN, 0}};
  int r;
  {
    Rescue rescue(sys, rescue_fd, 2000ms);
    Later writer(kSettle, [&] { sys->eventfd_write(efd, 1); });
    r = sys->ppoll(fds, 2, nullptr, nullptr);
  }
  EXPECT_EQ(r, 1);
  EXPECT_EQ(fds[0].revents, POLLIN);
  EXPECT_EQ(fds[1].revents, 0) << "not woken by the write: rescued after 2 s";
}

TEST_P(APoll, A21_PpollInvalidTimespecIsEinval) {
  const int ready = make_eventfd(1);
  ASSERT_GE(ready, 0);
  const struct timespec bad[] = {
      {-1, 0}, {0, -1}, {0, 1'000'000'000}, {-1, -1}, {5, 2'000'000'000}, {LONG_MIN, 0}};
  for (const auto& ts : bad) {
    SCOPED_TRACE(testing::Message() << "{" << ts.tv_sec << ", " << ts.tv_nsec << "}");
    struct pollfd p = {ready, POLLIN, kRevGarbage};
    errno = 0;
    EXPECT_EQ(sys->ppoll(&p, 1, &ts, nullptr), -1);  // even with a ready fd: before the scan
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(p.revents, kRevGarbage);
  }
  // The largest valid nanoseconds, and {0, 0}: a single scan.
  struct pollfd p = {ready, POLLIN, kRevGarbage};
  const struct timespec max_ns = {0, 999'999'999};
  EXPECT_EQ(sys->ppoll(&p, 1, &max_ns, nullptr), 1);
  EXPECT_EQ(p.revents, POLLIN);
}

TEST_P(APoll, A21_PpollTimespecTimeout) {
  const int idle = make_eventfd(0);
  ASSERT_GE(idle, 0);
  struct pollfd p = {idle, POLLIN, kRevGarbage};
  const struct timespec zero = {0, 0};
  auto t0 = Clock::now();
  EXPECT_EQ(sys->ppoll(&p, 1, &zero, nullptr), 0);
  EXPECT_LT(us_since(t0), 1'000'000);
  EXPECT_EQ(p.revents, 0);

  const struct timespec ts = {0, 80'000'000};
  t0 = Clock::now();
  EXPECT_EQ(sys->ppoll(&p, 1, &ts, nullptr), 0);
  const int64_t el = us_since(t0);
  EXPECT_GE(el, 79'000);
  EXPECT_LT(el, 2'080'000);
}

// --- A22 ---

// A signal blocked by the caller but unblocked by ppoll's mask is delivered during the call,
// which returns EINTR; the handler runs, and the caller's mask is back afterwards.
TEST_P(APoll, A22_PpollMaskUnblocksPendingSignal) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int idle = make_eventfd(0);
  ASSERT_GE(idle, 0);
  HandlerScope h(sys, SIGUSR1, SA_RESTART);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  MaskScope blocked(SIG_BLOCK, SIGUSR1);
  const int before = g_signals.load();
  ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
  ASSERT_TRUE(signal_is_pending(SIGUSR1));
  const sigset_t unblock = mask_with(SIGUSR1, false);

  for (const struct timespec ts : {timespec{3, 0}, timespec{0, 0}}) {
    SCOPED_TRACE(testing::Message() << "timeout " << ts.tv_sec << " s");
    if (!signal_is_pending(SIGUSR1)) {
      ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
    }
    const int start = g_signals.load();
    struct pollfd p = {idle, POLLIN, kRevGarbage};
    const auto t0 = Clock::now();
    errno = 0;
    // Even a zero timeout: do_poll checks signal_pending() after its one scan.
    EXPECT_EQ(sys->ppoll(&p, 1, &ts, &unblock), -1);
    EXPECT_EQ(errno, EINTR);
    EXPECT_LT(us_since(t0), 2'000'000);
    EXPECT_EQ(g_signals.load() - start, 1);
    EXPECT_EQ(p.revents, 0);
    EXPECT_FALSE(signal_is_pending(SIGUSR1));
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, nullptr, &now);
    EXPECT_EQ(sigismember(&now, SIGUSR1), 1) << "the caller's mask is restored";
  }
  EXPECT_EQ(g_signals.load() - before, 2);
}

// The same pending signal, but an fd is ready: the scan's count is returned, the caller's mask
// is restored before the handler could run, and the signal stays pending
// (restore_saved_sigmask_unless(ret == -ERESTARTNOHAND)).
TEST_P(APoll, A22_PpollReadyFdWinsOverPendingSignal) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int ready = make_eventfd(1);
  ASSERT_GE(ready, 0);
  HandlerScope h(sys, SIGUSR1, 0);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  const int before = g_signals.load();
  {
    MaskScope blocked(SIG_BLOCK, SIGUSR1);
    ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
    const sigset_t unblock = mask_with(SIGUSR1, false);
    struct pollfd p = {ready, POLLIN, kRevGarbage};
    const struct timespec ts = {3, 0};
    EXPECT_EQ(sys->ppoll(&p, 1, &ts, &unblock), 1);
    EXPECT_EQ(p.revents, POLLIN);
    EXPECT_EQ(g_signals.load() - before, 0) << "the handler ran inside ppoll";
    EXPECT_TRUE(signal_is_pending(SIGUSR1));
  }  // unblocked here: the handler runs now
  EXPECT_EQ(g_signals.load() - before, 1);
}

// A signal that ppoll's mask blocks does not interrupt it; it is delivered once the caller's
// mask is back.
TEST_P(APoll, A22_PpollMaskBlocksSignalDuringWait) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int idle = make_eventfd(0);
  ASSERT_GE(idle, 0);
  HandlerScope h(sys, SIGUSR1, 0);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  const int before = g_signals.load();
  struct pollfd p = {idle, POLLIN, kRevGarbage};
  const struct timespec ts = {0, 300'000'000};
  CallResult r = call_interrupted(SIGUSR1, [&]() -> long {
    const sigset_t block = mask_with(SIGUSR1, true);
    return sys->ppoll(&p, 1, &ts, &block);
  });
  EXPECT_EQ(r.ret, 0);
  EXPECT_GE(r.elapsed_us, 299'000);
  EXPECT_LT(r.elapsed_us, 2'300'000);
  EXPECT_EQ(p.revents, 0);
  EXPECT_GE(g_signals.load() - before, 1);  // delivered after the call
}

// --- A23 ---

TEST_P(APoll, A23_GlibcPpollLeavesTimeoutUnchanged) {
  const int idle = make_eventfd(0);
  ASSERT_GE(idle, 0);
  struct pollfd p = {idle, POLLIN, 0};
  struct timespec ts = {0, 30'000'000};
  EXPECT_EQ(sys->ppoll(&p, 1, &ts, nullptr), 0);
  EXPECT_EQ(ts.tv_sec, 0);
  EXPECT_EQ(ts.tv_nsec, 30'000'000);

  ts = {1, 0};
  int r;
  {
    Later writer(kSettle, [&] { sys->eventfd_write(idle, 1); });
    r = sys->ppoll(&p, 1, &ts, nullptr);
  }
  EXPECT_EQ(r, 1);
  EXPECT_EQ(ts.tv_sec, 1);
  EXPECT_EQ(ts.tv_nsec, 0);
}

// --- A25 ---

TEST_P(APoll, A25_ConcurrentCloseDoesNotWakePoll) {
  const int a = make_eventfd(0);
  const int b = make_eventfd(0);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  struct pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  std::atomic<bool> started{false}, returned{false};
  int ret = -2;
  std::thread poller([&] {
    started.store(true);
    ret = sys->poll(fds, 2, 3000);
    returned.store(true);
  });
  while (!started.load()) std::this_thread::yield();
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(close_now(a), 0);
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(returned.load()) << "close() woke poll";
  // Another fd's wake-up makes poll rescan: the closed entry is now NVAL.
  EXPECT_EQ(sys->eventfd_write(b, 1), 0);
  poller.join();
  EXPECT_EQ(ret, 2);
  EXPECT_EQ(fds[0].revents, POLLNVAL);
  EXPECT_EQ(fds[1].revents, POLLIN);
}

// --- A26 ---

TEST_P(APoll, A26_PollBitValues) {
  static_assert(POLLIN == 0x1 && POLLPRI == 0x2 && POLLOUT == 0x4 && POLLERR == 0x8);
  static_assert(POLLHUP == 0x10 && POLLNVAL == 0x20 && POLLRDNORM == 0x40 && POLLRDBAND == 0x80);
  static_assert(POLLWRNORM == 0x100 && POLLWRBAND == 0x200 && POLLMSG == 0x400);
  static_assert(POLLRDHUP == 0x2000);
  static_assert(EPOLLIN == POLLIN && EPOLLPRI == POLLPRI && EPOLLOUT == POLLOUT);
  static_assert(EPOLLERR == POLLERR && EPOLLHUP == POLLHUP);  // glibc has no EPOLLNVAL
  static_assert(EPOLLRDNORM == POLLRDNORM && EPOLLRDBAND == POLLRDBAND);
  static_assert(EPOLLWRNORM == POLLWRNORM && EPOLLWRBAND == POLLWRBAND);
  static_assert(EPOLLMSG == POLLMSG && EPOLLRDHUP == POLLRDHUP);
  EXPECT_EQ(POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLNVAL, 0x3f);
  EXPECT_EQ(POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLMSG | POLLRDHUP, 0x27c0);
  // The bits reach revents unchanged through the short: a closed fd gives exactly 0x20.
  struct pollfd p = {100000, 0, 0};
  EXPECT_EQ(sys->poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, 0x20);
}

INSTANTIATE_CONFORMANCE(APoll);

}  // namespace
