// Group B of spec/linux-semantics.md: select() and pselect(), each item run on the host kernel
// and on ustack. Objects are eventfds and pipes (closing a pipe's write end gives POLLHUP on the
// read end, closing its read end gives POLLERR on the write end).
//
// Not observable from user space, or needing what ustack does not have, so not tested here (where
// part of an item is observable, that part is tested):
// - B7: POLLPRI (TCP urgent data) → exceptfds needs sockets; that no eventfd or pipe state ever
//   sets exceptfds is tested.
// - B10: that a {0,0} timeout registers on no wait queue; its single scan is tested.
// - B12: a faulting timeout write-back (ustack cannot probe user memory), and STICKY_TIMEOUTS
//   (a personality flag).
// - B13: the raw pselect6 syscall (the sixth argument's {sigset, size} pack: EFAULT, size != 8
//   → EINVAL; the timeout write-back): glibc builds the pack and passes a copy of the timeout.
//   That glibc leaves the caller's timespec alone is tested.
// - B15: FD_SET beyond FD_SETSIZE on a glibc fd_set is undefined behaviour in user space, and
//   regular files (always readable and writable) do not exist in ustack. Bitmaps longer than
//   an fd_set and O_NONBLOCK are tested.
// - B16: the wake key only spares a rescan that would find nothing (the result is the same).
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
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

// An fd number that is above every fd table, in both worlds: the kernel's max_fds never exceeds
// fs.nr_open (2^20 by default) and ustack's kNrOpen is 2^20. (Any lower number could be inside
// the table: other tests in this process may dup2 to high fds, and the table never shrinks.)
constexpr int kAboveTable = (1 << 20) + 512;
constexpr int kBigNfds = kAboveTable + 512;

int64_t tv_us(const struct timeval& tv) {
  return int64_t(tv.tv_sec) * 1'000'000 + tv.tv_usec;
}

// A select bitmap of any length: the kernel reads nfds bits, in longs (B15).
class Bitmap {
 public:
  explicit Bitmap(size_t bits) : w_((bits + kBits - 1) / kBits, 0) {}
  void set(int fd) { w_[size_t(fd) / kBits] |= 1UL << (size_t(fd) % kBits); }
  bool isset(int fd) const { return w_[size_t(fd) / kBits] >> (size_t(fd) % kBits) & 1; }
  size_t count() const {
    size_t n = 0;
    for (unsigned long w : w_) n += size_t(__builtin_popcountl(w));
    return n;
  }
  fd_set* fds() { return reinterpret_cast<fd_set*>(w_.data()); }

 private:
  static constexpr size_t kBits = 8 * sizeof(unsigned long);
  std::vector<unsigned long> w_;
};

fd_set set_of(std::initializer_list<int> fds) {
  fd_set s;
  FD_ZERO(&s);
  for (int fd : fds) FD_SET(fd, &s);
  return s;
}

bool same(const fd_set& a, const fd_set& b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

int count(const fd_set& s) {
  int n = 0;
  for (int fd = 0; fd < FD_SETSIZE; ++fd) n += FD_ISSET(fd, &s) ? 1 : 0;
  return n;
}

class BSelect : public OwnedFds {
 protected:
  // select with a zero timeout on one fd in the sets named; returns r, w, e as a 3-bit mask.
  int ready_sets(int fd, bool r, bool w, bool e, int* ret) {
    fd_set rs = set_of({fd}), ws = set_of({fd}), es = set_of({fd});
    struct timeval tv = {0, 0};
    *ret = sys->select(fd + 1, r ? &rs : nullptr, w ? &ws : nullptr, e ? &es : nullptr, &tv);
    return (r && FD_ISSET(fd, &rs) ? 1 : 0) | (w && FD_ISSET(fd, &ws) ? 2 : 0) |
           (e && FD_ISSET(fd, &es) ? 4 : 0);
  }
};

constexpr int R = 1, W = 2, E = 4;

// --- B1 ---

TEST_P(BSelect, B1_NegativeNfdsIsEinval) {
  const int ready = make_eventfd(1);
  ASSERT_GE(ready, 0);
  for (int n : {-1, INT_MIN}) {
    SCOPED_TRACE(n);
    fd_set rs = set_of({ready}), ws = set_of({ready}), es = set_of({ready});
    const fd_set orig = rs;
    struct timeval tv = {0, 0};
    errno = 0;
    EXPECT_EQ(sys->select(n, &rs, &ws, &es, &tv), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_TRUE(same(rs, orig) && same(ws, orig) && same(es, orig));  // B9: untouched on error
    const struct timespec ts = {0, 0};
    errno = 0;
    EXPECT_EQ(sys->pselect(n, &rs, &ws, &es, &ts, nullptr), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_TRUE(same(rs, orig) && same(ws, orig) && same(es, orig));
  }
}

// --- B2 ---

TEST_P(BSelect, B2_NfdsClampedToFdTableNotRlimit) {
  const int ready = make_eventfd(1);
  ASSERT_GE(ready, 0);
  NofileScope lim(sys, 16);
  ASSERT_TRUE(lim.ok()) << strerror(errno);
  // select(2) says EINVAL for nfds > RLIMIT_NOFILE; the kernel clamps to the table instead.
  struct timeval tv = {0, 0};
  EXPECT_EQ(sys->select(1000, nullptr, nullptr, nullptr, &tv), 0);

  Bitmap rs(kBigNfds);
  rs.set(ready);
  tv = {0, 0};
  EXPECT_EQ(sys->select(kBigNfds, rs.fds(), nullptr, nullptr, &tv), 1);
  EXPECT_TRUE(rs.isset(ready));
  EXPECT_EQ(rs.count(), 1u);

  const struct timespec ts = {0, 0};
  Bitmap ws(kBigNfds);
  ws.set(ready);
  EXPECT_EQ(sys->pselect(kBigNfds, nullptr, ws.fds(), nullptr, &ts, nullptr), 1);
  EXPECT_TRUE(ws.isset(ready));
  EXPECT_EQ(ws.count(), 1u);
  EXPECT_EQ(sys->select(INT_MAX, nullptr, nullptr, nullptr, &tv), 0);
}

// --- B3 ---

TEST_P(BSelect, B3_BitsAboveFdTableIgnoredAndKept) {
  const int ready = make_eventfd(1);
  const int idle = make_eventfd(0);
  ASSERT_GE(ready, 0);
  ASSERT_GE(idle, 0);
  {
    // Only the bit above the table: nothing to report, and the bit survives a timeout.
    Bitmap rs(kBigNfds), es(kBigNfds);
    rs.set(kAboveTable);
    es.set(kAboveTable + 1);
    struct timeval tv = {0, 20'000};
    EXPECT_EQ(sys->select(kBigNfds, rs.fds(), nullptr, es.fds(), &tv), 0);
    EXPECT_TRUE(rs.isset(kAboveTable));
    EXPECT_TRUE(es.isset(kAboveTable + 1));
    EXPECT_EQ(rs.count(), 1u);
    EXPECT_EQ(es.count(), 1u);
  }
  {
    // With fds below the table: those are rewritten, the high bit is not.
    Bitmap rs(kBigNfds), ws(kBigNfds);
    rs.set(ready);
    rs.set(idle);
    rs.set(kAboveTable);
    ws.set(kAboveTable);
    struct timeval tv = {0, 0};
    EXPECT_EQ(sys->select(kBigNfds, rs.fds(), ws.fds(), nullptr, &tv), 1);
    EXPECT_TRUE(rs.isset(ready));
    EXPECT_FALSE(rs.isset(idle));
    EXPECT_TRUE(rs.isset(kAboveTable));
    EXPECT_TRUE(ws.isset(kAboveTable));
    EXPECT_EQ(rs.count(), 2u);
    EXPECT_EQ(ws.count(), 1u);
  }
}

// --- B4 ---

TEST_P(BSelect, B4_ClosedFdBelowTableIsEbadf) {
  const int ready = make_eventfd(1);
  const int gone = make_eventfd(0);
  ASSERT_GE(ready, 0);
  ASSERT_GE(gone, 0);
  ASSERT_EQ(close_now(gone), 0);  // below the table: the table held it
  const int n = std::max(ready, gone) + 1;
  for (int which = 0; which < 3; ++which) {
    SCOPED_TRACE(which);
    fd_set sets[3] = {set_of({ready}), set_of({ready}), set_of({})};
    FD_SET(gone, &sets[which]);
    const fd_set orig[3] = {sets[0], sets[1], sets[2]};
    struct timeval tv = {0, 0};
    errno = 0;
    // EBADF even though `ready` is ready: checked before any scan.
    EXPECT_EQ(sys->select(n, &sets[0], &sets[1], &sets[2], &tv), -1);
    EXPECT_EQ(errno, EBADF);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(same(sets[i], orig[i])) << "set " << i;
    const struct timespec ts = {1, 0};
    errno = 0;
    EXPECT_EQ(sys->pselect(n, &sets[0], &sets[1], &sets[2], &ts, nullptr), -1);
    EXPECT_EQ(errno, EBADF);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(same(sets[i], orig[i])) << "set " << i;
  }
  // A closed fd at or above nfds is not looked at.
  fd_set rs = set_of({ready, gone});
  struct timeval tv = {0, 0};
  if (gone > ready) {
    EXPECT_EQ(sys->select(ready + 1, &rs, nullptr, nullptr, &tv), 1);
    EXPECT_TRUE(FD_ISSET(ready, &rs));
  }
}

// --- B5 ---

TEST_P(BSelect, B5_ReturnCountsBitsAcrossSets) {
  const int rw = make_eventfd(1);  // readable and writable
  const int w = make_eventfd(0);   // writable only
  ASSERT_GE(rw, 0);
  ASSERT_GE(w, 0);
  const int n = std::max(rw, w) + 1;
  fd_set rs = set_of({rw}), ws = set_of({rw});
  struct timeval tv = {0, 0};
  EXPECT_EQ(sys->select(n, &rs, &ws, nullptr, &tv), 2);  // one fd, two bits
  EXPECT_TRUE(FD_ISSET(rw, &rs));
  EXPECT_TRUE(FD_ISSET(rw, &ws));

  rs = set_of({rw, w});
  ws = set_of({rw, w});
  fd_set es = set_of({rw, w});
  tv = {0, 0};
  EXPECT_EQ(sys->select(n, &rs, &ws, &es, &tv), 3);
  EXPECT_EQ(count(rs), 1);
  EXPECT_EQ(count(ws), 2);
  EXPECT_EQ(count(es), 0);
}

// --- B6 ---

TEST_P(BSelect, B6_ReadWriteExceptMapping) {
  int ret;
  const int rw = make_eventfd(1);  // POLLIN|POLLOUT
  const int w = make_eventfd(0);   // POLLOUT
  ASSERT_GE(rw, 0);
  ASSERT_GE(w, 0);
  EXPECT_EQ(ready_sets(rw, true, true, true, &ret), R | W);
  EXPECT_EQ(ret, 2);
  EXPECT_EQ(ready_sets(w, true, true, true, &ret), W);
  EXPECT_EQ(ret, 1);
  EXPECT_EQ(ready_sets(rw, false, false, true, &ret), 0);  // nothing here sets POLLPRI
  EXPECT_EQ(ret, 0);

  int p[2];
  ASSERT_TRUE(make_pipe(p));
  EXPECT_EQ(ready_sets(p[0], true, true, true, &ret), 0);  // empty read end: nothing
  EXPECT_EQ(ret, 0);
  ASSERT_EQ(sys->write(p[1], "x", 1), 1);
  EXPECT_EQ(ready_sets(p[0], true, true, true, &ret), R);  // a read end is never writable
  EXPECT_EQ(ret, 1);
  EXPECT_EQ(ready_sets(p[1], true, true, true, &ret), W);  // a write end is never readable
  EXPECT_EQ(ret, 1);
}

// --- B7 ---

TEST_P(BSelect, B7_HupIsReadableErrIsReadableAndWritable) {
  int ret;
  int hup[2];
  ASSERT_TRUE(make_pipe(hup));
  ASSERT_EQ(close_now(hup[1]), 0);  // read end: POLLHUP only
  EXPECT_EQ(ready_sets(hup[0], true, true, true, &ret), R);
  EXPECT_EQ(ret, 1);

  int err[2];
  ASSERT_TRUE(make_pipe(err));
  ASSERT_EQ(close_now(err[0]), 0);  // write end: POLLOUT|POLLERR
  EXPECT_EQ(ready_sets(err[1], true, true, true, &ret), R | W);
  EXPECT_EQ(ret, 2);

  // A full pipe whose reader is gone: POLLERR alone, which is readable and writable.
  int full[2];
  ASSERT_TRUE(make_pipe(full, O_NONBLOCK));
  static char chunk[4096];
  while (sys->write(full[1], chunk, sizeof chunk) > 0) {
  }
  ASSERT_EQ(ready_sets(full[1], true, true, true, &ret), 0);  // full: not writable
  ASSERT_EQ(close_now(full[0]), 0);
  EXPECT_EQ(ready_sets(full[1], true, true, true, &ret), R | W);
  EXPECT_EQ(ret, 2);
  EXPECT_EQ(ready_sets(full[1], false, true, false, &ret), W);
  EXPECT_EQ(ret, 1);
}

// --- B8 ---

TEST_P(BSelect, B8_FdClosedDuringSelectIsReadyInEverySet) {
  int p[2];
  ASSERT_TRUE(make_pipe(p));  // the empty read end is in no result set
  const int waker = make_eventfd(0);
  ASSERT_GE(waker, 0);
  const int n = std::max(p[0], waker) + 1;
  fd_set rs = set_of({p[0], waker}), ws = set_of({p[0]}), es = set_of({p[0]});
  std::atomic<bool> started{false}, returned{false};
  int ret = -2;
  struct timeval tv = {3, 0};
  std::thread selector([&] {
    started.store(true);
    ret = sys->select(n, &rs, &ws, &es, &tv);
    returned.store(true);
  });
  while (!started.load()) std::this_thread::yield();
  std::this_thread::sleep_for(kSettle);
  EXPECT_EQ(close_now(p[0]), 0);
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(returned.load()) << "close() woke select";
  // Another fd's wake-up makes select rescan: the closed fd is NVAL, in all three sets.
  EXPECT_EQ(sys->eventfd_write(waker, 1), 0);
  selector.join();
  EXPECT_EQ(ret, 4);
  EXPECT_TRUE(FD_ISSET(p[0], &rs));
  EXPECT_TRUE(FD_ISSET(p[0], &ws));
  EXPECT_TRUE(FD_ISSET(p[0], &es));
  EXPECT_TRUE(FD_ISSET(waker, &rs));
  EXPECT_EQ(count(rs) + count(ws) + count(es), 4);
}

// --- B9 ---

TEST_P(BSelect, B9_SetsAreValueResult) {
  const int ready = make_eventfd(1);
  const int idle = make_eventfd(0);
  ASSERT_GE(ready, 0);
  ASSERT_GE(idle, 0);
  ASSERT_LT(std::max(ready, idle), 63);  // both in the first long, below bit 63
  const int n = std::max(ready, idle) + 1;

  // Not-ready requested fds are cleared; NULL sets are empty.
  fd_set rs = set_of({ready, idle});
  struct timeval tv = {0, 0};
  EXPECT_EQ(sys->select(n, &rs, nullptr, nullptr, &tv), 1);
  EXPECT_TRUE(FD_ISSET(ready, &rs));
  EXPECT_FALSE(FD_ISSET(idle, &rs));
  EXPECT_EQ(count(rs), 1);

  fd_set ws = set_of({ready, idle});
  tv = {0, 0};
  EXPECT_EQ(sys->select(n, nullptr, &ws, nullptr, &tv), 2);
  EXPECT_EQ(count(ws), 2);

  // The result is written in whole longs up to nfds: bits >= nfds in the last long written
  // (here 63) are cleared, bits in the longs after it (64, 100) are left alone.
  rs = set_of({ready, 63, 64, 100});
  tv = {0, 0};
  EXPECT_EQ(sys->select(n, &rs, nullptr, nullptr, &tv), 1);
  EXPECT_TRUE(FD_ISSET(ready, &rs));
  EXPECT_FALSE(FD_ISSET(63, &rs));
  EXPECT_TRUE(FD_ISSET(64, &rs));
  EXPECT_TRUE(FD_ISSET(100, &rs));
  EXPECT_EQ(count(rs), 3);

  // No sets at all: a plain sleep.
  tv = {0, 20'000};
  const auto t0 = Clock::now();
  EXPECT_EQ(sys->select(0, nullptr, nullptr, nullptr, &tv), 0);
  EXPECT_GE(us_since(t0), 19'000);
}

// --- B10 ---

TEST_P(BSelect, B10_NullTimeoutWaitsForever) {
  const int efd = make_eventfd();
  const int rescue_fd = make_eventfd();
  ASSERT_GE(efd, 0);
  ASSERT_GE(rescue_fd, 0);
  const int n = std::max(efd, rescue_fd) + 1;
  for (bool use_pselect : {false, true}) {
    SCOPED_TRACE(use_pselect ? "pselect" : "select");
    fd_set rs = set_of({efd, rescue_fd});
    int r;
    {
      Rescue rescue(sys, rescue_fd, 2000ms);
      Later writer(kSettle, [&] { sys->eventfd_write(efd, 1); });
      r = use_pselect ? sys->pselect(n, &rs, nullptr, nullptr, nullptr, nullptr)
                      : sys->select(n, &rs, nullptr, nullptr, nullptr);
    }
    EXPECT_EQ(r, 1);
    EXPECT_TRUE(FD_ISSET(efd, &rs));
    EXPECT_FALSE(FD_ISSET(rescue_fd, &rs)) << "not woken by the write: rescued after 2 s";
    eventfd_t v;
    EXPECT_EQ(sys->eventfd_read(efd, &v), 0);
  }
}

TEST_P(BSelect, B10_ZeroTimeoutIsOneScan) {
  const int idle = make_eventfd(0);
  const int ready = make_eventfd(1);
  ASSERT_GE(idle, 0);
  ASSERT_GE(ready, 0);
  const int n = std::max(idle, ready) + 1;
  fd_set rs = set_of({idle});
  struct timeval tv = {0, 0};
  auto t0 = Clock::now();
  EXPECT_EQ(sys->select(n, &rs, nullptr, nullptr, &tv), 0);
  EXPECT_LT(us_since(t0), 1'000'000);
  EXPECT_EQ(count(rs), 0);  // the sets are still written
  EXPECT_EQ(tv.tv_sec, 0);
  EXPECT_EQ(tv.tv_usec, 0);

  rs = set_of({idle, ready});
  tv = {0, 0};
  EXPECT_EQ(sys->select(n, &rs, nullptr, nullptr, &tv), 1);
  EXPECT_TRUE(FD_ISSET(ready, &rs));
  EXPECT_EQ(count(rs), 1);

  rs = set_of({idle});
  const struct timespec ts = {0, 0};
  EXPECT_EQ(sys->pselect(n, &rs, nullptr, nullptr, &ts, nullptr), 0);
  EXPECT_EQ(count(rs), 0);
}

// --- B11 ---

TEST_P(BSelect, B11_LargeUsecIsNormalisedNotRejected) {
  const int ready = make_eventfd(1);
  ASSERT_GE(ready, 0);
  // 5e6 µs is 5 s: accepted, and the time left written back is normalised (B12).
  fd_set rs = set_of({ready});
  struct timeval tv = {0, 5'000'000};
  const auto t0 = Clock::now();
  EXPECT_EQ(sys->select(ready + 1, &rs, nullptr, nullptr, &tv), 1);
  const int64_t el = us_since(t0);
  EXPECT_TRUE(FD_ISSET(ready, &rs));
  EXPECT_GE(tv.tv_usec, 0);
  EXPECT_LT(tv.tv_usec, 1'000'000);
  EXPECT_LT(tv_us(tv), 5'000'000);
  EXPECT_GE(tv_us(tv), 5'000'000 - el - 1000);
}

TEST_P(BSelect, B11_NegativeTimevalIsEinval) {
  const int ready = make_eventfd(1);
  ASSERT_GE(ready, 0);
  // {2, -1000000} would be a valid 1 s for the raw select syscall (tv_sec += usec / 1e6), but
  // glibc's select rejects any negative tv_usec before the call.
  const struct timeval bad[] = {{-1, 0}, {0, -1}, {1, -1}, {2, -1'000'000}, {LONG_MIN, 0}};
  for (const auto& b : bad) {
    SCOPED_TRACE(testing::Message() << "{" << b.tv_sec << ", " << b.tv_usec << "}");
    fd_set rs = set_of({ready});
    const fd_set orig = rs;
    struct timeval tv = b;
    errno = 0;
    EXPECT_EQ(sys->select(ready + 1, &rs, nullptr, nullptr, &tv), -1);  // even with a ready fd
    EXPECT_EQ(errno, EINVAL);
    EXPECT_TRUE(same(rs, orig));
    EXPECT_EQ(tv.tv_sec, b.tv_sec);  // and the timeout is not written back
    EXPECT_EQ(tv.tv_usec, b.tv_usec);
  }
}

// --- B12 ---

TEST_P(BSelect, B12_TimeNotSleptIsWrittenBack) {
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  // Woken early: the rest of the second is written back.
  fd_set rs = set_of({efd});
  struct timeval tv = {1, 0};
  int r;
  const auto t0 = Clock::now();
  {
    Later writer(kSettle, [&] { sys->eventfd_write(efd, 1); });
    r = sys->select(efd + 1, &rs, nullptr, nullptr, &tv);
  }
  const int64_t el = us_since(t0);
  EXPECT_EQ(r, 1);
  EXPECT_GE(tv.tv_usec, 0);
  EXPECT_LT(tv.tv_usec, 1'000'000);
  EXPECT_LT(tv_us(tv), 1'000'000);
  EXPECT_GE(tv_us(tv), 1'000'000 - el - 1000);
  eventfd_t v;
  ASSERT_EQ(sys->eventfd_read(efd, &v), 0);

  // Timed out: nothing is left.
  rs = set_of({efd});
  tv = {0, 30'000};
  const auto t1 = Clock::now();
  EXPECT_EQ(sys->select(efd + 1, &rs, nullptr, nullptr, &tv), 0);
  EXPECT_GE(us_since(t1), 29'000);
  EXPECT_EQ(tv.tv_sec, 0);
  EXPECT_EQ(tv.tv_usec, 0);
}

// --- B13 ---

TEST_P(BSelect, B13_PselectInvalidTimespecIsEinval) {
  const int ready = make_eventfd(1);
  ASSERT_GE(ready, 0);
  const struct timespec bad[] = {{-1, 0}, {0, -1}, {0, 1'000'000'000}, {1, 5'000'000'000}};
  for (const auto& ts : bad) {
    SCOPED_TRACE(testing::Message() << "{" << ts.tv_sec << ", " << ts.tv_nsec << "}");
    fd_set rs = set_of({ready});
    const fd_set orig = rs;
    errno = 0;
    EXPECT_EQ(sys->pselect(ready + 1, &rs, nullptr, nullptr, &ts, nullptr), -1);
    EXPECT_EQ(errno, EINVAL);  // not normalised like select's timeval
    EXPECT_TRUE(same(rs, orig));
  }
  fd_set rs = set_of({ready});
  const struct timespec max_ns = {0, 999'999'999};
  EXPECT_EQ(sys->pselect(ready + 1, &rs, nullptr, nullptr, &max_ns, nullptr), 1);
}

TEST_P(BSelect, B13_GlibcPselectLeavesTimeoutUnchanged) {
  const int efd = make_eventfd(0);
  ASSERT_GE(efd, 0);
  fd_set rs = set_of({efd});
  struct timespec ts = {0, 30'000'000};
  EXPECT_EQ(sys->pselect(efd + 1, &rs, nullptr, nullptr, &ts, nullptr), 0);
  EXPECT_EQ(ts.tv_sec, 0);
  EXPECT_EQ(ts.tv_nsec, 30'000'000);

  rs = set_of({efd});
  ts = {1, 0};
  int r;
  {
    Later writer(kSettle, [&] { sys->eventfd_write(efd, 1); });
    r = sys->pselect(efd + 1, &rs, nullptr, nullptr, &ts, nullptr);
  }
  EXPECT_EQ(r, 1);
  EXPECT_EQ(ts.tv_sec, 1);
  EXPECT_EQ(ts.tv_nsec, 0);
}

// --- B12/B14: signals ---

// select interrupted by a handled signal: EINTR whatever SA_RESTART says, the sets untouched,
// and (select only) the time not slept written back.
void expect_select_interrupted(const Api* sys, int rfd, int sa_flags, bool use_pselect) {
  HandlerScope h(sys, SIGUSR1, sa_flags);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  const int before = g_signals.load();
  fd_set rs = set_of({rfd});
  fd_set es = set_of({rfd});
  struct timeval tv = {2, 0};
  const struct timespec ts = {2, 0};
  CallResult r = call_interrupted(SIGUSR1, [&]() -> long {
    return use_pselect ? sys->pselect(rfd + 1, &rs, nullptr, &es, &ts, nullptr)
                       : sys->select(rfd + 1, &rs, nullptr, &es, &tv);
  });
  EXPECT_EQ(r.ret, -1);  // not restarted, not 0 after the 2 s timeout
  EXPECT_EQ(r.err, EINTR);
  EXPECT_GE(g_signals.load() - before, 1);
  EXPECT_TRUE(FD_ISSET(rfd, &rs)) << "the sets are not written on EINTR";
  EXPECT_TRUE(FD_ISSET(rfd, &es));
  EXPECT_EQ(count(rs), 1);
  if (!use_pselect) {  // B12: written back on EINTR too
    EXPECT_GE(tv.tv_usec, 0);
    EXPECT_LT(tv.tv_usec, 1'000'000);
    EXPECT_LT(tv_us(tv), 2'000'000);
    EXPECT_GE(tv_us(tv), 2'000'000 - r.elapsed_us - 1000);
  }
}

TEST_P(BSelect, B14_SignalInterruptsSelectEvenWithSaRestart) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  int p[2];
  ASSERT_TRUE(make_pipe(p));
  expect_select_interrupted(sys, p[0], SA_RESTART, false);
}

TEST_P(BSelect, B14_SignalInterruptsSelectWithoutSaRestart) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  int p[2];
  ASSERT_TRUE(make_pipe(p));
  expect_select_interrupted(sys, p[0], 0, false);
}

TEST_P(BSelect, B14_SignalInterruptsPselectEvenWithSaRestart) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  int p[2];
  ASSERT_TRUE(make_pipe(p));
  expect_select_interrupted(sys, p[0], SA_RESTART, true);
}

// pselect's mask: a pending signal it unblocks interrupts it (even with a zero timeout), unless
// the scan finds something ready, in which case the caller's mask is restored first and the
// signal stays pending; a signal it blocks does not interrupt it.
TEST_P(BSelect, B14_PselectMaskUnblocksPendingSignal) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  int p[2];
  ASSERT_TRUE(make_pipe(p));
  HandlerScope h(sys, SIGUSR1, SA_RESTART);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  MaskScope blocked(SIG_BLOCK, SIGUSR1);
  const sigset_t unblock = mask_with(SIGUSR1, false);
  for (const struct timespec ts : {timespec{3, 0}, timespec{0, 0}}) {
    SCOPED_TRACE(testing::Message() << "timeout " << ts.tv_sec << " s");
    ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
    const int start = g_signals.load();
    fd_set rs = set_of({p[0]});
    const auto t0 = Clock::now();
    errno = 0;
    EXPECT_EQ(sys->pselect(p[0] + 1, &rs, nullptr, nullptr, &ts, &unblock), -1);
    EXPECT_EQ(errno, EINTR);
    EXPECT_LT(us_since(t0), 2'000'000);
    EXPECT_EQ(g_signals.load() - start, 1);
    EXPECT_TRUE(FD_ISSET(p[0], &rs));  // untouched
    EXPECT_FALSE(signal_is_pending(SIGUSR1));
  }
}

TEST_P(BSelect, B14_PselectReadyFdWinsOverPendingSignal) {
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
    fd_set rs = set_of({ready});
    const struct timespec ts = {3, 0};
    EXPECT_EQ(sys->pselect(ready + 1, &rs, nullptr, nullptr, &ts, &unblock), 1);
    EXPECT_TRUE(FD_ISSET(ready, &rs));
    EXPECT_EQ(g_signals.load() - before, 0) << "the handler ran inside pselect";
    EXPECT_TRUE(signal_is_pending(SIGUSR1));
  }  // unblocked here: the handler runs now
  EXPECT_EQ(g_signals.load() - before, 1);
}

TEST_P(BSelect, B14_PselectMaskBlocksSignalDuringWait) {
  SKIP_SIGNAL_TEST_UNDER_TSAN();
  const int idle = make_eventfd(0);
  ASSERT_GE(idle, 0);
  HandlerScope h(sys, SIGUSR1, 0);
  ASSERT_TRUE(h.ok()) << strerror(errno);
  const int before = g_signals.load();
  fd_set rs = set_of({idle});
  const struct timespec ts = {0, 300'000'000};
  CallResult r = call_interrupted(SIGUSR1, [&]() -> long {
    const sigset_t block = mask_with(SIGUSR1, true);
    return sys->pselect(idle + 1, &rs, nullptr, nullptr, &ts, &block);
  });
  EXPECT_EQ(r.ret, 0);
  EXPECT_GE(r.elapsed_us, 299'000);
  EXPECT_LT(r.elapsed_us, 2'300'000);
  EXPECT_EQ(count(rs), 0);
  EXPECT_GE(g_signals.load() - before, 1);  // delivered after the call
}

// --- B15 ---

TEST_P(BSelect, B15_BitmapLongerThanFdSetsize) {
  constexpr int kHigh = 1500;  // above FD_SETSIZE (1024)
  const int efd = make_eventfd(1);
  ASSERT_GE(efd, 0);
  NofileScope lim(sys, 2048);
  ASSERT_TRUE(lim.ok()) << strerror(errno);
  errno = 0;
  ASSERT_EQ(sys->fcntl(kHigh, F_GETFD), -1) << "fd " << kHigh << " is already open";
  ASSERT_EQ(errno, EBADF);
  ASSERT_EQ(sys->dup2(efd, kHigh), kHigh) << strerror(errno);
  own(kHigh);
  Bitmap rs(2048), ws(2048);
  rs.set(kHigh);
  ws.set(kHigh);
  ws.set(efd);
  struct timeval tv = {0, 0};
  EXPECT_EQ(sys->select(kHigh + 1, rs.fds(), ws.fds(), nullptr, &tv), 3);
  EXPECT_TRUE(rs.isset(kHigh));
  EXPECT_TRUE(ws.isset(kHigh));
  EXPECT_TRUE(ws.isset(efd));
  EXPECT_EQ(rs.count() + ws.count(), 3u);
  EXPECT_EQ(close_now(kHigh), 0);
}

TEST_P(BSelect, B15_NonblockingDoesNotAffectSelect) {
  const int efd = make_eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  fd_set rs = set_of({efd});
  struct timeval tv = {0, 60'000};
  const auto t0 = Clock::now();
  EXPECT_EQ(sys->select(efd + 1, &rs, nullptr, nullptr, &tv), 0);  // waits, no EAGAIN
  EXPECT_GE(us_since(t0), 59'000);
  EXPECT_EQ(count(rs), 0);

  rs = set_of({efd});
  tv = {3, 0};
  int r;
  {
    Later writer(kSettle, [&] { sys->eventfd_write(efd, 1); });
    r = sys->select(efd + 1, &rs, nullptr, nullptr, &tv);
  }
  EXPECT_EQ(r, 1);
  EXPECT_TRUE(FD_ISSET(efd, &rs));
}

INSTANTIATE_CONFORMANCE(BSelect);

}  // namespace
