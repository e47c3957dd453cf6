// fdget's light path (src/vfs/fdtable.hpp): a sole user of a table takes no file references,
// so a sole user that sleeps must turn its light uses into references first. Here the sole
// user sleeps in a blocking read; another task then makes the table shared (which waits for
// the sole user's light uses to end: without the upgrade it would wait forever and the test
// would hang), closes the fd under the sleeper and wakes it through a dup.
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace {

TEST(FdgetLight, SleepingSoleUserKeepsItsFileWhenAnotherTaskClosesTheFd) {
  ustack::Host* host = ustack::host_create("light-unit");
  {
    ustack::HostScope s(host);
    int efd = ustack::eventfd(0, 0);  // blocking
    ASSERT_GE(efd, 0);
    std::thread other([&] {
      ustack::HostScope hs(host);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      int d = ustack::dup(efd);  // the table becomes shared here
      ASSERT_GE(d, 0);
      EXPECT_EQ(ustack::close(efd), 0);  // the sleeper's file must survive this
      EXPECT_EQ(ustack::eventfd_write(d, 7), 0);
      EXPECT_EQ(ustack::close(d), 0);
    });
    eventfd_t v = 0;
    EXPECT_EQ(ustack::eventfd_read(efd, &v), 0);  // sleeps, holding efd's file lightly
    EXPECT_EQ(v, 7u);
    other.join();
    EXPECT_EQ(ustack::close(efd), -1);  // closed by the other task
    EXPECT_EQ(errno, EBADF);
  }
  ustack::host_put(host);
}

}  // namespace
