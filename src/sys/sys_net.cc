// The public socket calls of include/ustack/ustack.hpp: net/socket.c's entry points under
// sys::syscall, which turns negative errnos into errno and restarts what SA_RESTART restarts.
#include <ustack/ustack.hpp>

#include "net/core/net.hpp"
#include "net/unix/af_unix.hpp"
#include "sys/syscall.hpp"

namespace ustack {

using sys::syscall;

namespace {

// The families built in register before the first socket is made, as the kernel's initcalls
// do: src/net/core knows none of them, so AF_INET/AF_INET6 will add a line here, nothing there.
void net_family_init() {
  static const bool done = [] {
    net::af_unix_init();
    return true;
  }();
  (void)done;
}

}  // namespace

int socket(int domain, int type, int protocol) {
  net_family_init();
  return syscall<int>([&] { return net::__sys_socket(domain, type, protocol); });
}
int socketpair(int domain, int type, int protocol, int sv[2]) {
  net_family_init();
  return syscall<int>([&] { return net::__sys_socketpair(domain, type, protocol, sv); });
}
int bind(int sockfd, const struct sockaddr* addr, socklen_t addrlen) {
  return syscall<int>([&] { return net::__sys_bind(sockfd, addr, int(addrlen)); });
}
int listen(int sockfd, int backlog) {
  return syscall<int>([&] { return net::__sys_listen(sockfd, backlog); });
}
int accept(int sockfd, struct sockaddr* addr, socklen_t* addrlen) {
  return syscall<int>([&] { return net::__sys_accept4(sockfd, addr, addrlen, 0); });
}
int accept4(int sockfd, struct sockaddr* addr, socklen_t* addrlen, int flags) {
  return syscall<int>([&] { return net::__sys_accept4(sockfd, addr, addrlen, flags); });
}
int connect(int sockfd, const struct sockaddr* addr, socklen_t addrlen) {
  return syscall<int>([&] { return net::__sys_connect(sockfd, addr, int(addrlen)); });
}
ssize_t send(int sockfd, const void* buf, size_t len, int flags) {
  return syscall<ssize_t>(
      [&] { return net::__sys_sendto(sockfd, buf, len, unsigned(flags), nullptr, 0); });
}
ssize_t sendto(int sockfd, const void* buf, size_t len, int flags, const struct sockaddr* dest_addr,
               socklen_t addrlen) {
  return syscall<ssize_t>([&] {
    return net::__sys_sendto(sockfd, buf, len, unsigned(flags), dest_addr, int(addrlen));
  });
}
ssize_t sendmsg(int sockfd, const struct msghdr* msg, int flags) {
  return syscall<ssize_t>([&] { return net::__sys_sendmsg(sockfd, msg, unsigned(flags)); });
}
int sendmmsg(int sockfd, struct mmsghdr* msgvec, unsigned int vlen, int flags) {
  return syscall<int>([&] { return net::__sys_sendmmsg(sockfd, msgvec, vlen, unsigned(flags)); });
}
ssize_t recv(int sockfd, void* buf, size_t len, int flags) {
  return syscall<ssize_t>(
      [&] { return net::__sys_recvfrom(sockfd, buf, len, unsigned(flags), nullptr, nullptr); });
}
ssize_t recvfrom(int sockfd, void* buf, size_t len, int flags, struct sockaddr* src_addr,
                 socklen_t* addrlen) {
  return syscall<ssize_t>([&] {
    return net::__sys_recvfrom(sockfd, buf, len, unsigned(flags), src_addr, addrlen);
  });
}
ssize_t recvmsg(int sockfd, struct msghdr* msg, int flags) {
  return syscall<ssize_t>([&] { return net::__sys_recvmsg(sockfd, msg, unsigned(flags)); });
}
int recvmmsg(int sockfd, struct mmsghdr* msgvec, unsigned int vlen, int flags,
             struct timespec* timeout) {
  return syscall<int>(
      [&] { return net::__sys_recvmmsg(sockfd, msgvec, vlen, unsigned(flags), timeout); });
}
int shutdown(int sockfd, int how) {
  return syscall<int>([&] { return net::__sys_shutdown(sockfd, how); });
}
int getsockname(int sockfd, struct sockaddr* addr, socklen_t* addrlen) {
  return syscall<int>([&] { return net::__sys_getsockname(sockfd, addr, addrlen); });
}
int getpeername(int sockfd, struct sockaddr* addr, socklen_t* addrlen) {
  return syscall<int>([&] { return net::__sys_getpeername(sockfd, addr, addrlen); });
}
int getsockopt(int sockfd, int level, int optname, void* optval, socklen_t* optlen) {
  return syscall<int>([&] { return net::__sys_getsockopt(sockfd, level, optname, optval, optlen); });
}
int setsockopt(int sockfd, int level, int optname, const void* optval, socklen_t optlen) {
  return syscall<int>(
      [&] { return net::__sys_setsockopt(sockfd, level, optname, optval, int(optlen)); });
}

}  // namespace ustack
