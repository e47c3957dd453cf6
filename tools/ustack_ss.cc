// ustack-ss: the ss / fdinfo view of a ustack host. ustack hosts live inside the process that
// runs them, so the listing comes from ustack::inspect::ss() in that process; this tool shows
// it on a sample host (--demo), the same text a program prints by calling the API itself.
#include <ustack/host.hpp>
#include <ustack/inspect.hpp>
#include <ustack/ustack.hpp>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  bool epoll = false, demo = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--epoll") || !std::strcmp(argv[i], "-e")) {
      epoll = true;
    } else if (!std::strcmp(argv[i], "--demo")) {
      demo = true;
    } else {
      std::fprintf(stderr, "usage: ustack-ss [--epoll] --demo\n");
      return 2;
    }
  }
  if (!demo) {
    std::fprintf(stderr,
                 "ustack-ss: hosts live inside the program that runs them; call "
                 "ustack::inspect::ss(host, epoll) there, or run `ustack-ss --epoll --demo`\n");
    return 2;
  }
  ustack::Host* host = ustack::host_create("ss-demo");
  {
    ustack::HostScope scope(host);
    int ep = ustack::epoll_create1(EPOLL_CLOEXEC);
    int inner = ustack::epoll_create1(0);
    int efd = ustack::eventfd(0, EFD_NONBLOCK);
    int p[2];
    ustack::pipe2(p, O_NONBLOCK);
    struct epoll_event ev = {EPOLLIN | EPOLLET, {.u64 = 0x1001}};
    ustack::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    ev = {EPOLLIN | EPOLLRDHUP, {.u64 = 0x1002}};
    ustack::epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    ev = {EPOLLOUT | EPOLLONESHOT, {.u64 = 0x1003}};
    ustack::epoll_ctl(inner, EPOLL_CTL_ADD, p[1], &ev);
    ev = {EPOLLIN, {.u64 = 0x1004}};
    ustack::epoll_ctl(ep, EPOLL_CTL_ADD, inner, &ev);
    ustack::eventfd_write(efd, 1);  // the eventfd item is now on the ready list
    std::fputs(ustack::inspect::ss(host, epoll).c_str(), stdout);
    for (int fd : {ep, inner, efd, p[0], p[1]}) ustack::close(fd);
  }
  ustack::host_put(host);
  return 0;
}
