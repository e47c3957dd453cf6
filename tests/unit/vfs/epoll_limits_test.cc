// C13 on ustack: fs.epoll.max_user_watches per host (the real sysctl is machine-wide, so the
// conformance tests leave it alone).
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include <gtest/gtest.h>

#include <cerrno>

namespace {

TEST(EpollLimits, C13_MaxUserWatchesGivesEnospcAndCountsRemovals) {
  ustack::Host* host = ustack::host_create("watches");
  ustack::host_set_max_user_watches(host, 3);
  {
    ustack::HostScope scope(host);
    int ep1 = ustack::epoll_create1(0), ep2 = ustack::epoll_create1(0);
    int e[4];
    for (int& fd : e) fd = ustack::eventfd(0, 0);
    struct epoll_event ev = {EPOLLIN, {}};
    ASSERT_EQ(ustack::epoll_ctl(ep1, EPOLL_CTL_ADD, e[0], &ev), 0);
    ASSERT_EQ(ustack::epoll_ctl(ep1, EPOLL_CTL_ADD, e[1], &ev), 0);
    ASSERT_EQ(ustack::epoll_ctl(ep2, EPOLL_CTL_ADD, e[2], &ev), 0);  // counted across epolls
    errno = 0;
    EXPECT_EQ(ustack::epoll_ctl(ep2, EPOLL_CTL_ADD, e[3], &ev), -1);
    EXPECT_EQ(errno, ENOSPC);
    ASSERT_EQ(ustack::epoll_ctl(ep1, EPOLL_CTL_DEL, e[0], nullptr), 0);  // DEL gives one back
    EXPECT_EQ(ustack::epoll_ctl(ep2, EPOLL_CTL_ADD, e[3], &ev), 0);
    errno = 0;
    EXPECT_EQ(ustack::epoll_ctl(ep2, EPOLL_CTL_ADD, e[0], &ev), -1);
    EXPECT_EQ(errno, ENOSPC);
    ASSERT_EQ(ustack::close(e[1]), 0);  // the last close gives one back too
    EXPECT_EQ(ustack::epoll_ctl(ep2, EPOLL_CTL_ADD, e[0], &ev), 0);
    ASSERT_EQ(ustack::close(ep2), 0);  // closing an epoll gives back all of its items
    EXPECT_EQ(ustack::epoll_ctl(ep1, EPOLL_CTL_ADD, e[2], &ev), 0);
    EXPECT_EQ(ustack::epoll_ctl(ep1, EPOLL_CTL_ADD, e[3], &ev), 0);
    for (int fd : {ep1, e[0], e[2], e[3]}) ustack::close(fd);
  }
  ustack::host_put(host);
}

}  // namespace
