// poll/select items that Linux shows only through its internals, checked on ustack's: a file
// without ->poll (A10, B15: ustack has no regular files), and the wake-key filters (A17, A24,
// B16), seen through the trace points.
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "vfs/host.hpp"

namespace ustack {
namespace {

// A file with no ->poll, like a regular file: DEFAULT_POLLMASK, never blocks.
class NoPollOps final : public FileOps {
 public:
  NoPollOps() : FileOps(0) {}
  const char* name() const override { return "nopoll"; }
};
const NoPollOps g_nopoll;

int install_nopoll() {
  File* f = alloc_file(&g_nopoll, O_RDWR, FMODE_READ | FMODE_WRITE, nullptr);
  int fd = current_host()->fdt.install_lowest(f, 0, rlimit_nofile(), false);
  if (fd < 0) fput(f);
  return fd;
}

TEST(PollInternals, A10_FileWithoutPollIsDefaultPollmaskMasked) {
  int fd = install_nopoll();
  ASSERT_GE(fd, 0);
  struct pollfd p[3] = {{fd, POLLIN | POLLOUT | POLLPRI | POLLRDNORM, 0},
                        {fd, POLLOUT, 0},
                        {fd, 0, 0}};
  EXPECT_EQ(ustack::poll(p, 3, -1), 2);  // ready at once, despite the infinite timeout
  EXPECT_EQ(p[0].revents, POLLIN | POLLOUT | POLLRDNORM);
  EXPECT_EQ(p[1].revents, POLLOUT);
  EXPECT_EQ(p[2].revents, 0);
  EXPECT_EQ(ustack::close(fd), 0);
}

TEST(PollInternals, B15_FileWithoutPollIsReadableAndWritable) {
  int fd = install_nopoll();
  ASSERT_GE(fd, 0);
  fd_set r, w, e;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&e);
  FD_SET(fd, &r);
  FD_SET(fd, &w);
  FD_SET(fd, &e);
  EXPECT_EQ(ustack::select(fd + 1, &r, &w, &e, nullptr), 2);
  EXPECT_TRUE(FD_ISSET(fd, &r));
  EXPECT_TRUE(FD_ISSET(fd, &w));
  EXPECT_FALSE(FD_ISSET(fd, &e));
  EXPECT_EQ(ustack::close(fd), 0);
}

int count_point(const std::vector<trace::Event>& ev, const char* point) {
  int n = 0;
  for (const auto& e : ev) n += std::strcmp(e.point, point) == 0;
  return n;
}

// A17/A24/B16: a poller waiting for POLLOUT on a full eventfd is not woken by the POLLIN wake
// of a write; the POLLOUT wake of a read wakes it.
template <class Wait>
void check_key_filter(Wait wait_for_out) {
  int efd = ustack::eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  const eventfd_t full = 0xfffffffffffffffeULL;
  ASSERT_EQ(ustack::eventfd_write(efd, full), 0);  // no room left: POLLOUT is clear
  std::atomic<bool> sleeping{false};
  std::atomic<int> result{-2};
  trace::drain();
  trace::enable(true);
  std::thread poller([&] {
    sleeping = true;
    result = wait_for_out(efd);
  });
  while (!sleeping) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_EQ(ustack::eventfd_write(efd, 0), 0);  // wakes with key POLLIN: filtered out
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto before = trace::drain();
  EXPECT_EQ(count_point(before, "pollwake"), 0);
  EXPECT_EQ(result.load(), -2);  // still asleep
  eventfd_t v;
  ASSERT_EQ(ustack::eventfd_read(efd, &v), 0);  // wakes with key POLLOUT
  poller.join();
  trace::enable(false);
  auto after = trace::drain();
  EXPECT_EQ(count_point(after, "pollwake"), 1);
  EXPECT_EQ(result.load(), 1);
  ustack::close(efd);
}

TEST(PollInternals, A17_PollwakeIgnoresAKeyOutsideTheInterest) {
  check_key_filter([](int efd) {
    struct pollfd p = {efd, POLLOUT, 0};
    return ustack::poll(&p, 1, 5000);
  });
}

TEST(PollInternals, B16_SelectWriterIsNotWokenByAReadableKey) {
  check_key_filter([](int efd) {
    fd_set w;
    FD_ZERO(&w);
    FD_SET(efd, &w);
    struct timeval tv = {5, 0};
    return ustack::select(efd + 1, nullptr, &w, nullptr, &tv);
  });
}

}  // namespace
}  // namespace ustack
