// Pipes (fs/pipe.c), run on the host kernel and on ustack. The spec has no IDs for pipes; the
// tests are named Pipe_<Behaviour>.
//
// Capacity is counted in page-sized buffers (16 by default), not bytes: a write first merges
// into the last buffer only if its whole non-page-aligned head fits there, so small writes
// fill less than 64 KiB, and a write of at most PIPE_BUF bytes is all or nothing.
#include <pthread.h>
#include <sys/ioctl.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "conformance/helpers.hpp"

namespace {

using namespace std::chrono_literals;
using namespace conformance;

constexpr int kPage = 4096;
constexpr int kDefaultSize = 65536;

class Pipe : public OwnedFds {
 protected:
  // A pipe the test owns: p[0] read end, p[1] write end; closed at the end of the test.
  bool make(int p[2], int flags = 0) { return own_pipe(p, flags); }
  int fionread(int fd) {
    int n = -1;
    EXPECT_EQ(sys->ioctl(fd, FIONREAD, &n), 0);
    return n;
  }
  short revents(int fd) {
    return poll_revents(sys, fd, POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLWRNORM | POLLRDHUP);
  }
  // Fills a non-blocking write end with `chunk`-byte writes until EAGAIN; returns the bytes
  // written.
  long fill(int wfd, size_t chunk) {
    std::vector<char> buf(chunk, 'x');
    long total = 0;
    for (int i = 0; i < (1 << 20); ++i) {
      ssize_t n = sys->write(wfd, buf.data(), chunk);
      if (n < 0) {
        EXPECT_EQ(errno, EAGAIN);
        return total;
      }
      total += n;
      if (size_t(n) != chunk) return total;  // partial: full now
    }
    ADD_FAILURE() << "pipe never filled";
    return total;
  }
  // Reads everything a non-blocking read end holds.
  long drain(int rfd) {
    std::vector<char> buf(1 << 17);
    long total = 0;
    for (;;) {
      ssize_t n = sys->read(rfd, buf.data(), buf.size());
      if (n <= 0) return total;
      total += n;
    }
  }
};

// --- capacity ---

TEST_P(Pipe, Pipe_DefaultCapacityIs64KiB) {
  int p[2];
  ASSERT_TRUE(make(p));
  EXPECT_EQ(sys->fcntl(p[0], F_GETPIPE_SZ), kDefaultSize);
  EXPECT_EQ(sys->fcntl(p[1], F_GETPIPE_SZ), kDefaultSize);
}

TEST_P(Pipe, Pipe_OneByteWritesFillExactly65536) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  EXPECT_EQ(fill(p[1], 1), kDefaultSize);
  EXPECT_EQ(fionread(p[0]), kDefaultSize);
  EXPECT_EQ(revents(p[1]), 0) << "a full pipe is not writable";
}

TEST_P(Pipe, Pipe_HundredByteWritesFill64000) {
  // 40 writes of 100 bytes share a page (4000 bytes); the 41st does not fit whole and takes a
  // new page. 16 pages × 4000 = 64000.
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  EXPECT_EQ(fill(p[1], 100), 64000);
  EXPECT_EQ(fionread(p[0]), 64000);
  // A write that fits the last page's tail still merges.
  char buf[96] = {};
  EXPECT_EQ(sys->write(p[1], buf, sizeof buf), 96);
  EXPECT_EQ(sys->write(p[1], buf, 1), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_P(Pipe, Pipe_SmallWriteIntoAFullPipeIsAllOrNothing) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  // 15 full pages and 3996 bytes in the 16th: every slot is used.
  std::vector<char> big(kDefaultSize - 100, 'a');
  ASSERT_EQ(sys->write(p[1], big.data(), big.size()), ssize_t(big.size()));
  std::vector<char> small(kPage, 'b');
  // 200 bytes do not fit in the last page's 100 free bytes and there is no free slot: EAGAIN,
  // nothing written.
  EXPECT_EQ(sys->write(p[1], small.data(), 200), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(sys->write(p[1], small.data(), kPage), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(fionread(p[0]), kDefaultSize - 100);
  // 100 bytes fit exactly.
  EXPECT_EQ(sys->write(p[1], small.data(), 100), 100);
  EXPECT_EQ(fionread(p[0]), kDefaultSize);
}

TEST_P(Pipe, Pipe_PipeBufWriteTakesAWholeFreeSlot) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  std::vector<char> buf(15 * kPage + 1, 'a');  // 15 full slots plus one byte in the 16th
  ASSERT_EQ(sys->write(p[1], buf.data(), 15 * kPage), 15 * kPage);
  EXPECT_EQ(sys->write(p[1], buf.data(), kPage), kPage);  // the last free slot, whole
  EXPECT_EQ(sys->write(p[1], buf.data(), 1), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_P(Pipe, Pipe_LargeNonblockingWriteIsPartial) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  std::vector<char> buf(2 * kDefaultSize, 'z');
  ASSERT_EQ(sys->write(p[1], buf.data(), 10 * kPage), 10 * kPage);
  // 40000 bytes > PIPE_BUF: the 6 free pages are filled, the rest is left.
  EXPECT_EQ(sys->write(p[1], buf.data(), 40000), 6 * kPage);
  EXPECT_EQ(fionread(p[0]), kDefaultSize);
  EXPECT_EQ(sys->write(p[1], buf.data(), 40000), -1);
  EXPECT_EQ(errno, EAGAIN);
  // Into an empty pipe, a write larger than its capacity stops at the capacity.
  int q[2];
  ASSERT_TRUE(make(q, O_NONBLOCK));
  EXPECT_EQ(sys->write(q[1], buf.data(), kDefaultSize + kPage), kDefaultSize);
}

// --- end of file and broken pipes ---

TEST_P(Pipe, Pipe_ReadReturnsZeroWhenNoWriterIsLeft) {
  int p[2];
  ASSERT_TRUE(make(p));  // blocking: EOF must not wait
  ASSERT_EQ(sys->write(p[1], "ab", 2), 2);
  int w2 = sys->dup(p[1]);
  ASSERT_GE(w2, 0);
  ASSERT_EQ(close_now(p[1]), 0);
  char buf[8];
  ASSERT_EQ(sys->read(p[0], buf, sizeof buf), 2);  // data first
  // One writer (the dup) is left: still no EOF.
  ASSERT_EQ(sys->fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(sys->read(p[0], buf, sizeof buf), -1);
  EXPECT_EQ(errno, EAGAIN);
  ASSERT_EQ(sys->fcntl(p[0], F_SETFL, 0), 0);
  ASSERT_EQ(sys->close(w2), 0);
  EXPECT_EQ(sys->read(p[0], buf, sizeof buf), 0);
  EXPECT_EQ(sys->read(p[0], buf, sizeof buf), 0);
  EXPECT_EQ(revents(p[0]), POLLHUP);
}

TEST_P(Pipe, Pipe_BlockedReaderGetsEofWhenTheLastWriterCloses) {
  int p[2];
  ASSERT_TRUE(make(p));
  char buf[8];
  Call call([&] { return long(sys->read(p[0], buf, sizeof buf)); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(call.done());
  ASSERT_EQ(close_now(p[1]), 0);
  ASSERT_TRUE(call.wait()) << "blocked reader not woken by the last writer's close";
  EXPECT_EQ(call.result(), 0);
}

std::atomic<int> g_sigpipes{0};
void count_sigpipe(int) {
  g_sigpipes.fetch_add(1, std::memory_order_relaxed);
}

TEST_P(Pipe, Pipe_WriteWithNoReaderIsEpipeAndSigpipe) {
  struct sigaction sa = {}, old = {};
  sa.sa_handler = count_sigpipe;
  sigemptyset(&sa.sa_mask);
  g_sigpipes.store(0);
  ASSERT_EQ(sys->sigaction(SIGPIPE, &sa, &old), 0);
  struct Restore {
    const conformance::Api* sys;
    struct sigaction* old;
    ~Restore() { sys->sigaction(SIGPIPE, old, nullptr); }
  } restore{sys, &old};
  // The signal is sent to the writing thread before the call returns; allow a sanitizer's
  // deferred delivery a bounded while.
  auto wait_for = [](int n) {
    auto deadline = std::chrono::steady_clock::now() + kBound;
    while (g_sigpipes.load() < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    return g_sigpipes.load();
  };

  int p[2];
  ASSERT_TRUE(make(p));
  ASSERT_EQ(sys->write(p[1], "x", 1), 1);
  ASSERT_EQ(close_now(p[0]), 0);
  EXPECT_EQ(sys->write(p[1], "abc", 3), -1);
  EXPECT_EQ(errno, EPIPE);
  EXPECT_EQ(wait_for(1), 1);
  struct iovec iov[2] = {{const_cast<char*>("a"), 1}, {const_cast<char*>("b"), 1}};
  EXPECT_EQ(sys->writev(p[1], iov, 2), -1);
  EXPECT_EQ(errno, EPIPE);
  EXPECT_EQ(wait_for(2), 2);
  // A null write on a broken pipe: 0, no signal (pipe_write returns before looking).
  EXPECT_EQ(sys->write(p[1], "", 0), 0);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(g_sigpipes.load(), 2);
  EXPECT_EQ(revents(p[1]), POLLOUT | POLLWRNORM | POLLERR);
}

// --- O_NONBLOCK, FIONREAD, poll ---

TEST_P(Pipe, Pipe_ONonblockThroughPipe2) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  EXPECT_EQ(sys->fcntl(p[0], F_GETFL), O_RDONLY | O_NONBLOCK);
  EXPECT_EQ(sys->fcntl(p[1], F_GETFL), O_WRONLY | O_NONBLOCK);
  char c;
  EXPECT_EQ(sys->read(p[0], &c, 1), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_P(Pipe, Pipe_ONonblockThroughFcntlSetfl) {
  int p[2];
  ASSERT_TRUE(make(p));
  EXPECT_EQ(sys->fcntl(p[0], F_GETFL), O_RDONLY);
  EXPECT_EQ(sys->fcntl(p[1], F_GETFL), O_WRONLY);
  ASSERT_EQ(sys->fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(sys->fcntl(p[0], F_GETFL), O_RDONLY | O_NONBLOCK);
  EXPECT_EQ(sys->fcntl(p[1], F_GETFL), O_WRONLY) << "the ends are separate open files";
  char c;
  EXPECT_EQ(sys->read(p[0], &c, 1), -1);
  EXPECT_EQ(errno, EAGAIN);
  ASSERT_EQ(sys->fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(fill(p[1], kPage), kDefaultSize);
}

TEST_P(Pipe, Pipe_FionreadCountsUnreadBytesOnEitherEnd) {
  int p[2];
  ASSERT_TRUE(make(p));
  EXPECT_EQ(fionread(p[0]), 0);
  ASSERT_EQ(sys->write(p[1], "0123456789", 10), 10);
  std::vector<char> buf(5000, 'q');
  ASSERT_EQ(sys->write(p[1], buf.data(), buf.size()), 5000);
  EXPECT_EQ(fionread(p[0]), 5010);
  char tmp[3];
  ASSERT_EQ(sys->read(p[0], tmp, 3), 3);
  EXPECT_EQ(fionread(p[0]), 5007);
  EXPECT_EQ(fionread(p[1]), 5007);
  EXPECT_EQ(sys->ioctl(p[0], FIONREAD, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
}

TEST_P(Pipe, Pipe_PollReadinessOfBothEnds) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  EXPECT_EQ(revents(p[0]), 0);
  EXPECT_EQ(revents(p[1]), POLLOUT | POLLWRNORM);
  ASSERT_EQ(sys->write(p[1], "x", 1), 1);
  EXPECT_EQ(revents(p[0]), POLLIN | POLLRDNORM);
  ASSERT_EQ(close_now(p[1]), 0);
  EXPECT_EQ(revents(p[0]), POLLIN | POLLRDNORM | POLLHUP);
  int q[2];
  ASSERT_TRUE(make(q, O_NONBLOCK));
  ASSERT_EQ(close_now(q[0]), 0);
  EXPECT_EQ(revents(q[1]), POLLOUT | POLLWRNORM | POLLERR);
}

// --- F_SETPIPE_SZ / F_GETPIPE_SZ ---

TEST_P(Pipe, Pipe_SetPipeSzRoundsUpToAPowerOfTwoPages) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  struct Case {
    int arg, size;
  };
  for (Case c : {Case{5000, 8192}, Case{0, kPage}, Case{1, kPage}, Case{kPage, kPage},
                 Case{kPage + 1, 2 * kPage}, Case{3 * kPage, 4 * kPage},
                 Case{kDefaultSize, kDefaultSize}, Case{1 << 20, 1 << 20}}) {
    EXPECT_EQ(sys->fcntl(p[1], F_SETPIPE_SZ, c.arg), c.size) << c.arg;
    EXPECT_EQ(sys->fcntl(p[0], F_GETPIPE_SZ), c.size) << c.arg;
  }
  // The new size is the new capacity.
  ASSERT_EQ(sys->fcntl(p[0], F_SETPIPE_SZ, 5000), 8192);
  EXPECT_EQ(fill(p[1], 1), 8192);
}

TEST_P(Pipe, Pipe_SetPipeSzBelowOccupancyIsEbusy) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  std::vector<char> out(3 * kPage);
  for (size_t i = 0; i < out.size(); ++i) out[i] = char(i * 7);
  ASSERT_EQ(sys->write(p[1], out.data(), out.size()), ssize_t(out.size()));  // 3 slots
  EXPECT_EQ(sys->fcntl(p[1], F_SETPIPE_SZ, 2 * kPage), -1);
  EXPECT_EQ(errno, EBUSY);
  EXPECT_EQ(sys->fcntl(p[1], F_GETPIPE_SZ), kDefaultSize);
  // Shrinking to the occupancy (rounded up) is fine, and keeps the data in order.
  EXPECT_EQ(sys->fcntl(p[1], F_SETPIPE_SZ, 3 * kPage), 4 * kPage);
  std::vector<char> in(out.size() + 10);
  ASSERT_EQ(sys->read(p[0], in.data(), in.size()), ssize_t(out.size()));
  EXPECT_EQ(0, std::memcmp(in.data(), out.data(), out.size()));
  // Slots, not bytes: one byte in the pipe occupies one slot.
  ASSERT_EQ(sys->write(p[1], "a", 1), 1);
  EXPECT_EQ(sys->fcntl(p[1], F_SETPIPE_SZ, 1), kPage);
}

TEST_P(Pipe, Pipe_SetPipeSzNegativeIsEinval) {
  int p[2];
  ASSERT_TRUE(make(p));
  for (int arg : {-1, -kPage, INT_MIN + 1}) {
    errno = 0;
    EXPECT_EQ(sys->fcntl(p[0], F_SETPIPE_SZ, arg), -1) << arg;
    EXPECT_EQ(errno, EINVAL) << arg;
  }
  EXPECT_EQ(sys->fcntl(p[0], F_GETPIPE_SZ), kDefaultSize);
}

TEST_P(Pipe, Pipe_PipeSzOnANonPipeIsEbadf) {
  int e = sys->eventfd(0, 0);
  ASSERT_GE(e, 0);
  own(e);
  EXPECT_EQ(sys->fcntl(e, F_GETPIPE_SZ), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->fcntl(e, F_SETPIPE_SZ, kPage), -1);
  EXPECT_EQ(errno, EBADF);
}

// --- wrong end, bad arguments ---

TEST_P(Pipe, Pipe_ReadOnTheWriteEndIsEbadf) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  char c = 'x';
  EXPECT_EQ(sys->read(p[1], &c, 1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->write(p[0], &c, 1), -1);
  EXPECT_EQ(errno, EBADF);
  // Even for zero bytes: the mode check comes first.
  EXPECT_EQ(sys->read(p[1], &c, 0), -1);
  EXPECT_EQ(errno, EBADF);
  struct iovec iov = {&c, 1};
  EXPECT_EQ(sys->readv(p[1], &iov, 1), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(sys->writev(p[0], &iov, 1), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_P(Pipe, Pipe_Pipe2BadFlagsIsEinvalAndAllocatesNothing) {
  int probe = sys->eventfd(0, 0);
  ASSERT_GE(probe, 0);
  ASSERT_EQ(sys->close(probe), 0);
  for (int bad : {O_APPEND, O_RDWR, O_WRONLY, O_ASYNC, O_NOATIME}) {
    int p[2] = {-7, -7};
    errno = 0;
    EXPECT_EQ(sys->pipe2(p, bad), -1) << std::hex << bad;
    EXPECT_EQ(errno, EINVAL) << std::hex << bad;
    EXPECT_EQ(p[0], -7);
  }
  int again = sys->eventfd(0, 0);
  EXPECT_EQ(again, probe) << "a failed pipe2 left an fd allocated";
  if (again >= 0) sys->close(again);
}

TEST_P(Pipe, Pipe_Pipe2NullIsEfaultAndAllocatesNothing) {
  int probe = sys->eventfd(0, 0);
  ASSERT_GE(probe, 0);
  ASSERT_EQ(sys->close(probe), 0);
  EXPECT_EQ(sys->pipe2(nullptr, 0), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(sys->pipe2(nullptr, O_NONBLOCK | O_CLOEXEC), -1);
  EXPECT_EQ(errno, EFAULT);
  int again = sys->eventfd(0, 0);
  EXPECT_EQ(again, probe) << "a failed pipe2 left an fd allocated";
  if (again >= 0) sys->close(again);
}

TEST_P(Pipe, Pipe_Pipe2Cloexec) {
  int p[2];
  ASSERT_TRUE(make(p, O_CLOEXEC));
  EXPECT_EQ(sys->fcntl(p[0], F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(sys->fcntl(p[1], F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(sys->fcntl(p[0], F_GETFL), O_RDONLY);
  int q[2];
  ASSERT_TRUE(make(q));
  EXPECT_EQ(sys->fcntl(q[0], F_GETFD), 0);
  EXPECT_EQ(sys->fcntl(q[1], F_GETFD), 0);
}

TEST_P(Pipe, Pipe_NullReadAndWriteReturnZero) {
  int p[2];
  ASSERT_TRUE(make(p));  // blocking: a null read must not wait
  char c;
  EXPECT_EQ(sys->read(p[0], &c, 0), 0);
  EXPECT_EQ(sys->write(p[1], &c, 0), 0);
  EXPECT_EQ(fionread(p[0]), 0);
}

// --- O_DIRECT: packet mode ---

TEST_P(Pipe, Pipe_ODirectEachReadReturnsOneWrite) {
  int p[2];
  ASSERT_TRUE(make(p, O_DIRECT | O_NONBLOCK));
  // O_DIRECT is a property of the write end only.
  EXPECT_EQ(sys->fcntl(p[1], F_GETFL), O_WRONLY | O_NONBLOCK | O_DIRECT);
  EXPECT_EQ(sys->fcntl(p[0], F_GETFL), O_RDONLY | O_NONBLOCK);
  ASSERT_EQ(sys->write(p[1], "abc", 3), 3);
  ASSERT_EQ(sys->write(p[1], "defgh", 5), 5);
  EXPECT_EQ(fionread(p[0]), 8);
  char buf[100] = {};
  ASSERT_EQ(sys->read(p[0], buf, sizeof buf), 3);
  EXPECT_EQ(std::string(buf, 3), "abc");
  ASSERT_EQ(sys->read(p[0], buf, sizeof buf), 5);
  EXPECT_EQ(std::string(buf, 5), "defgh");
  // A short read takes the head of the packet and drops the rest.
  ASSERT_EQ(sys->write(p[1], "0123456789", 10), 10);
  ASSERT_EQ(sys->write(p[1], "xy", 2), 2);
  ASSERT_EQ(sys->read(p[0], buf, 4), 4);
  EXPECT_EQ(std::string(buf, 4), "0123");
  ASSERT_EQ(sys->read(p[0], buf, sizeof buf), 2);
  EXPECT_EQ(std::string(buf, 2), "xy");
  EXPECT_EQ(sys->read(p[0], buf, sizeof buf), -1);
  EXPECT_EQ(errno, EAGAIN);
  // Writes larger than PIPE_BUF are split into PIPE_BUF packets.
  std::vector<char> big(kPage + 904, 'b');
  ASSERT_EQ(sys->write(p[1], big.data(), big.size()), ssize_t(big.size()));
  std::vector<char> in(2 * kPage);
  EXPECT_EQ(sys->read(p[0], in.data(), in.size()), kPage);
  EXPECT_EQ(sys->read(p[0], in.data(), in.size()), 904);
}

TEST_P(Pipe, Pipe_ODirectThroughFcntlSetfl) {
  int p[2];
  ASSERT_TRUE(make(p, O_NONBLOCK));
  ASSERT_EQ(sys->fcntl(p[1], F_SETFL, O_NONBLOCK | O_DIRECT), 0);
  EXPECT_EQ(sys->fcntl(p[1], F_GETFL), O_WRONLY | O_NONBLOCK | O_DIRECT);
  ASSERT_EQ(sys->write(p[1], "ab", 2), 2);
  ASSERT_EQ(sys->write(p[1], "cd", 2), 2);
  char buf[16];
  EXPECT_EQ(sys->read(p[0], buf, sizeof buf), 2);
  // Back to byte-stream mode: new writes merge again.
  ASSERT_EQ(sys->fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
  ASSERT_EQ(sys->write(p[1], "ef", 2), 2);
  EXPECT_EQ(sys->read(p[0], buf, sizeof buf), 2);  // the "cd" packet
  EXPECT_EQ(sys->read(p[0], buf, sizeof buf), 2);  // "ef"
}

// --- blocking ---

TEST_P(Pipe, Pipe_BlockedReaderIsWokenByAWriter) {
  int p[2];
  ASSERT_TRUE(make(p));
  char buf[100] = {};
  Call reader([&] { return long(sys->read(p[0], buf, sizeof buf)); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(reader.done()) << "read on an empty pipe returned without waiting";
  Call writer([&] { return long(sys->write(p[1], "hello", 5)); });
  ASSERT_TRUE(writer.wait());
  EXPECT_EQ(writer.result(), 5);
  bool woke = reader.wait();
  if (!woke) close_now(p[1]);  // EOF releases it
  ASSERT_TRUE(woke) << "blocked reader not woken by a write";
  EXPECT_EQ(reader.result(), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
}

TEST_P(Pipe, Pipe_BlockedWriterIsWokenWhenAReaderDrains) {
  int p[2];
  ASSERT_TRUE(make(p));
  ASSERT_EQ(sys->fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
  ASSERT_EQ(fill(p[1], kPage), kDefaultSize);
  ASSERT_EQ(sys->fcntl(p[1], F_SETFL, 0), 0);
  std::vector<char> out(kPage, 'w');
  Call writer([&] { return long(sys->write(p[1], out.data(), out.size())); });
  std::this_thread::sleep_for(kSettle);
  EXPECT_FALSE(writer.done()) << "write into a full pipe returned without waiting";
  ASSERT_EQ(sys->fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
  // One read takes exactly what was there (the writer may refill as soon as a page is free).
  std::vector<char> in(kDefaultSize);
  EXPECT_EQ(sys->read(p[0], in.data(), in.size()), kDefaultSize);
  bool woke = writer.wait();
  if (!woke) drain(p[0]);
  ASSERT_TRUE(woke) << "blocked writer not woken when the pipe drained";
  EXPECT_EQ(writer.result(), kPage);
  EXPECT_EQ(drain(p[0]), kPage);
}

TEST_P(Pipe, Pipe_BlockingWriteLargerThanCapacityCompletesAsTheReaderReads) {
  int p[2];
  ASSERT_TRUE(make(p));
  const size_t total = 3 * kDefaultSize + 123;
  std::vector<char> out(total);
  for (size_t i = 0; i < total; ++i) out[i] = char(i % 251);
  Call writer([&] { return long(sys->write(p[1], out.data(), out.size())); });
  std::vector<char> in;
  in.reserve(total);
  std::vector<char> buf(10000);
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (in.size() < total && std::chrono::steady_clock::now() < deadline) {
    struct pollfd pf = {p[0], POLLIN, 0};
    if (sys->poll(&pf, 1, 100) != 1) continue;
    ssize_t n = sys->read(p[0], buf.data(), buf.size());
    ASSERT_GT(n, 0);
    in.insert(in.end(), buf.begin(), buf.begin() + n);
  }
  bool done = writer.wait();
  if (!done) {  // release it by reading whatever it still has to write
    sys->fcntl(p[0], F_SETFL, O_NONBLOCK);
    while (!writer.wait(10ms)) drain(p[0]);
  }
  ASSERT_TRUE(done);
  EXPECT_EQ(writer.result(), long(total));
  ASSERT_EQ(in.size(), total);
  EXPECT_TRUE(in == out);
}

INSTANTIATE_CONFORMANCE(Pipe);

}  // namespace
