// The socket calls of net/socket.c as entry points for src/sys: each returns a result or a
// negative errno (including -ERESTARTSYS, which only src/sys turns into EINTR or a restart).
// Arguments are checked in Linux's order.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>

namespace ustack::net {

long __sys_socket(int family, int type, int protocol);
long __sys_socketpair(int family, int type, int protocol, int* usockvec);
long __sys_bind(int fd, const struct sockaddr* umyaddr, int addrlen);
long __sys_listen(int fd, int backlog);
long __sys_accept4(int fd, struct sockaddr* upeer_sockaddr, socklen_t* upeer_addrlen, int flags);
long __sys_connect(int fd, const struct sockaddr* uservaddr, int addrlen);
long __sys_sendto(int fd, const void* buff, size_t len, unsigned flags,
                  const struct sockaddr* addr, int addr_len);
long __sys_recvfrom(int fd, void* ubuf, size_t size, unsigned flags, struct sockaddr* addr,
                    socklen_t* addr_len);
long __sys_sendmsg(int fd, const struct msghdr* msg, unsigned flags);
long __sys_sendmmsg(int fd, struct mmsghdr* mmsg, unsigned vlen, unsigned flags);
long __sys_recvmsg(int fd, struct msghdr* msg, unsigned flags);
// timeout: null for none; otherwise checked (EINVAL) and updated as Linux does.
long __sys_recvmmsg(int fd, struct mmsghdr* mmsg, unsigned vlen, unsigned flags,
                    struct timespec* timeout);
long __sys_shutdown(int fd, int how);
long __sys_getsockname(int fd, struct sockaddr* usockaddr, socklen_t* usockaddr_len);
long __sys_getpeername(int fd, struct sockaddr* usockaddr, socklen_t* usockaddr_len);
long __sys_getsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen);
long __sys_setsockopt(int fd, int level, int optname, const void* optval, int optlen);

}  // namespace ustack::net
