// ustack-demo: one traced wake-up of a sleeping poll, printed as the chain of hops the kernel
// would take: eventfd_write → wake_up_locked_poll → pollwake → try_to_wake_up → poll returns.
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace {

const char* describe(const ustack::trace::Event& e, char* buf, size_t n) {
  if (!std::strcmp(e.point, "eventfd_write")) {
    std::snprintf(buf, n, "eventfd_write(+%llu): counter updated, waking the eventfd's wait queue",
                  (unsigned long long)e.arg0);
  } else if (!std::strcmp(e.point, "pollwake")) {
    std::snprintf(buf, n, "pollwake: key %#llx matches the entry's interest, wakes task %llu",
                  (unsigned long long)e.arg1, (unsigned long long)e.arg0);
  } else if (!std::strcmp(e.point, "try_to_wake_up")) {
    std::snprintf(buf, n, "try_to_wake_up(task %llu): state %#llx -> TASK_RUNNING",
                  (unsigned long long)e.arg0, (unsigned long long)e.arg1);
  } else if (!std::strcmp(e.point, "schedule_timeout")) {
    std::snprintf(buf, n, "schedule_timeout: goes to sleep (state %#llx)", (unsigned long long)e.arg1);
  } else if (!std::strcmp(e.point, "schedule_timeout_ret")) {
    std::snprintf(buf, n, "schedule_timeout returns: the task runs again (%s)",
                  e.arg0 ? "woken" : "timed out");
  } else if (!std::strcmp(e.point, "ep_poll_callback")) {
    std::snprintf(buf, n, "ep_poll_callback: item data %#llx queued on the ready list (key %#llx), "
                  "waking the epoll_wait sleeper", (unsigned long long)e.arg0,
                  (unsigned long long)e.arg1);
  } else if (!std::strcmp(e.point, "unix_stream_sendmsg")) {
    std::snprintf(buf, n, "unix_stream_sendmsg: %llu bytes queued on the peer's receive queue",
                  (unsigned long long)e.arg0);
  } else if (!std::strcmp(e.point, "sock_def_readable")) {
    std::snprintf(buf, n, "sock_def_readable: keyed sync wake-up of the peer's wait queue "
                  "(IN|PRI|RDNORM|RDBAND)");
  } else if (!std::strcmp(e.point, "poll_return")) {
    std::snprintf(buf, n, "poll returns %llu, revents %#llx", (unsigned long long)e.arg0,
                  (unsigned long long)e.arg1);
  } else {
    std::snprintf(buf, n, "%s(%#llx, %#llx)", e.point, (unsigned long long)e.arg0,
                  (unsigned long long)e.arg1);
  }
  return buf;
}

}  // namespace

// Runs `sleeper` on task A until it blocks, then `waker` on task B; prints the trace.
template <class Sleeper, class Waker>
int traced(const char* title, Sleeper sleeper, Waker waker) {
  std::printf("%s\n", title);
  std::atomic<bool> started{false};
  int n = -1;
  ustack::trace::drain();
  ustack::trace::enable(true);
  std::thread a([&] {
    started = true;
    n = sleeper();
  });
  while (!started) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let A fall asleep
  std::thread b(waker);
  b.join();
  a.join();
  ustack::trace::enable(false);
  auto events = ustack::trace::drain();
  if (events.empty()) {
    std::printf("no trace events recorded\n");
    return -1;
  }
  const uint64_t t0 = events.front().time_ns;
  char buf[256];
  std::printf("  %10s  %-6s  %s\n", "t (us)", "task", "hop");
  for (const auto& e : events) {
    std::printf("  %10.3f  %-6u  %s\n", double(e.time_ns - t0) / 1000.0, e.tid,
                describe(e, buf, sizeof buf));
  }
  return n;
}

int main() {
  int efd = ustack::eventfd(0, 0);
  short revents = 0;
  int n = traced(
      "ustack: one traced wake-up of a sleeping poll()\n"
      "  task A polls an eventfd for POLLIN and sleeps; task B writes 1 to it.\n",
      [&] {
        struct pollfd p = {efd, POLLIN, 0};
        int r = ustack::poll(&p, 1, 5000);
        revents = p.revents;
        return r;
      },
      [&] { ustack::eventfd_write(efd, 1); });
  std::printf("  %10s  %-6s  poll returned %d with revents %#x (POLLIN)\n\n", "", "", n, revents);
  eventfd_t v;
  ustack::eventfd_read(efd, &v);

  int ep = ustack::epoll_create1(0);
  struct epoll_event ev = {EPOLLIN, {.u64 = 0xd00d}};
  ustack::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  struct epoll_event out = {};
  int m = traced(
      "ustack: one traced wake-up of a sleeping epoll_wait()\n"
      "  task A waits on an epoll watching the eventfd; task B writes 1 to it.\n",
      [&] { return ustack::epoll_wait(ep, &out, 1, 5000); },
      [&] { ustack::eventfd_write(efd, 1); });
  std::printf("  %10s  %-6s  epoll_wait returned %d: events %#x, data %#llx\n", "", "", m,
              out.events, (unsigned long long)out.data.u64);
  ustack::close(ep);
  ustack::close(efd);

  int sv[2];
  ustack::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int sep = ustack::epoll_create1(0);
  ev = {EPOLLIN, {.u64 = 0x50c}};
  ustack::epoll_ctl(sep, EPOLL_CTL_ADD, sv[1], &ev);
  out = {};
  int k = traced(
      "\nustack: one traced wake-up through an AF_UNIX socket\n"
      "  task A waits on an epoll watching one end of a socketpair; task B sends 5 bytes.\n",
      [&] { return ustack::epoll_wait(sep, &out, 1, 5000); },
      [&] { ustack::send(sv[0], "hello", 5, 0); });
  char buf[8] = {};
  const ssize_t got = ustack::recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
  std::printf("  %10s  %-6s  epoll_wait returned %d: events %#x, data %#llx; recv got %zd bytes\n",
              "", "", k, out.events, (unsigned long long)out.data.u64, got);
  ustack::close(sep);
  ustack::close(sv[0]);
  ustack::close(sv[1]);
  return n == 1 && m == 1 && k == 1 && got == 5 ? 0 : 1;
}
