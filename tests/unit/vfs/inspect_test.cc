// ustack::inspect: /proc/PID/fdinfo-style lines for epoll interest lists (issue 3's ustack-ss).
#include <ustack/host.hpp>
#include <ustack/inspect.hpp>
#include <ustack/ustack.hpp>

#include <gtest/gtest.h>

namespace {

TEST(Inspect, EpollFdinfoListsEveryItemWithReadiness) {
  ustack::Host* host = ustack::host_create("inspect");
  {
    ustack::HostScope scope(host);
    int ep = ustack::epoll_create1(EPOLL_CLOEXEC);
    int efd = ustack::eventfd(0, EFD_NONBLOCK);
    ASSERT_EQ(ep, 0);
    ASSERT_EQ(efd, 1);
    struct epoll_event ev = {EPOLLIN | EPOLLET, {.u64 = 0xabc}};
    ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
    // ERR|HUP are added to the stored mask (C14); not ready yet.
    EXPECT_EQ(ustack::inspect::fdinfo(host, ep),
              "pos:\t0\nflags:\t02000002\n"
              "tfd:        1 events: 80000019 data:              abc  ready:0\n");
    ASSERT_EQ(ustack::eventfd_write(efd, 5), 0);
    EXPECT_EQ(ustack::inspect::fdinfo(host, ep),
              "pos:\t0\nflags:\t02000002\n"
              "tfd:        1 events: 80000019 data:              abc  ready:1\n");
    EXPECT_EQ(ustack::inspect::fdinfo(host, efd),
              "pos:\t0\nflags:\t04002\n"
              "eventfd-count:                5\neventfd-semaphore: 0\n");
    EXPECT_EQ(ustack::inspect::open_fds(host), (std::vector<int>{0, 1}));
    EXPECT_EQ(ustack::inspect::fdinfo(host, 7), "");
    std::string ss = ustack::inspect::ss(host, true);
    EXPECT_NE(ss.find("0     [eventpoll]   02\n      tfd:        1 events: 80000019"),
              std::string::npos)
        << ss;
    EXPECT_NE(ss.find("1     eventfd       04002\n"), std::string::npos) << ss;
    ustack::close(efd);
    // The last close removed the item silently (C24): the interest list is empty.
    EXPECT_EQ(ustack::inspect::fdinfo(host, ep), "pos:\t0\nflags:\t02000002\n");
    ustack::close(ep);
  }
  ustack::host_put(host);
}

}  // namespace
