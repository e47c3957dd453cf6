// ustack-ss: the ss / fdinfo view of a ustack host. ustack hosts live inside the process that
// runs them, so the listing comes from ustack::inspect::ss() and ss_unix() in that process;
// this tool shows it on a sample host (--demo), the same text a program prints by calling the
// API itself.
#include <ustack/host.hpp>
#include <ustack/inspect.hpp>
#include <ustack/ustack.hpp>

#include <sys/un.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr const char* kUsage =
    "usage: ustack-ss [-e|--epoll] [-x|--unix] [-p|--processes] --demo\n"
    "  (default)        one line per open fd of the sample host\n"
    "  -e, --epoll      and every epoll's interest list under it (/proc/PID/fdinfo lines)\n"
    "  -x, --unix       every AF_UNIX socket instead, as `ss -x -a` prints them\n"
    "  -p, --processes  with -x: the fds that hold each socket (ss -p's Process column)\n"
    "  --demo           build the sample host and print its listing\n";

// The demo's epoll set: an epoll watching an eventfd (ready), a pipe's read end and a nested
// epoll that watches the pipe's write end.
void make_epolls() {
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
}

// The demo's AF_UNIX sockets: a stream listener on an abstract name with one accepted
// connection (5 bytes unread at the server end) and one still waiting for accept(); a
// SOCK_DGRAM pair with a datagram queued; a SOCK_SEQPACKET pair with a record queued; and a
// stream socket never connected.
void make_sockets() {
  struct sockaddr_un sun = {};
  sun.sun_family = AF_UNIX;
  static constexpr char kName[] = "ss-demo.ctl";  // abstract: sun_path[0] is NUL
  std::memcpy(sun.sun_path + 1, kName, sizeof kName - 1);
  const auto* addr = reinterpret_cast<const struct sockaddr*>(&sun);
  const auto len = socklen_t(offsetof(struct sockaddr_un, sun_path) + 1 + sizeof kName - 1);

  int l = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
  ustack::bind(l, addr, len);
  ustack::listen(l, 16);
  int c = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
  ustack::connect(c, addr, len);
  ustack::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  ustack::send(c, "hello", 5, 0);
  int pending = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
  ustack::connect(pending, addr, len);

  int d[2];
  ustack::socketpair(AF_UNIX, SOCK_DGRAM, 0, d);
  ustack::send(d[0], "ping", 4, 0);
  int q[2];
  ustack::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q);
  ustack::send(q[1], "record-1", 8, 0);
  ustack::socket(AF_UNIX, SOCK_STREAM, 0);
}

}  // namespace

int main(int argc, char** argv) {
  bool epoll = false, unix_socks = false, processes = false, demo = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--epoll") || !std::strcmp(argv[i], "-e")) {
      epoll = true;
    } else if (!std::strcmp(argv[i], "--unix") || !std::strcmp(argv[i], "-x")) {
      unix_socks = true;
    } else if (!std::strcmp(argv[i], "--processes") || !std::strcmp(argv[i], "-p")) {
      processes = true;
    } else if (!std::strcmp(argv[i], "--demo")) {
      demo = true;
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (!demo) {
    std::fprintf(stderr,
                 "ustack-ss: hosts live inside the program that runs them; call "
                 "ustack::inspect::ss(host, epoll) or ss_unix(host, processes) there, or run "
                 "`ustack-ss --epoll --demo` or `ustack-ss -x --demo`\n");
    return 2;
  }
  ustack::Host* host = ustack::host_create("ss-demo");
  {
    ustack::HostScope scope(host);
    make_epolls();
    make_sockets();
    const std::string out =
        unix_socks ? ustack::inspect::ss_unix(host, processes) : ustack::inspect::ss(host, epoll);
    std::fputs(out.c_str(), stdout);
    for (int fd : ustack::inspect::open_fds(host)) ustack::close(fd);
  }
  ustack::host_put(host);
  return 0;
}
