// Placeholder while the socket layer is written: every call fails as for an unknown family.
#include <cerrno>

#include "net/core/net.hpp"

namespace ustack::net {
long __sys_socket(int, int, int) { return -EAFNOSUPPORT; }
long __sys_socketpair(int, int, int, int*) { return -EAFNOSUPPORT; }
long __sys_bind(int, const struct sockaddr*, int) { return -ENOTSOCK; }
long __sys_listen(int, int) { return -ENOTSOCK; }
long __sys_accept4(int, struct sockaddr*, socklen_t*, int) { return -ENOTSOCK; }
long __sys_connect(int, const struct sockaddr*, int) { return -ENOTSOCK; }
long __sys_sendto(int, const void*, size_t, unsigned, const struct sockaddr*, int) { return -ENOTSOCK; }
long __sys_recvfrom(int, void*, size_t, unsigned, struct sockaddr*, socklen_t*) { return -ENOTSOCK; }
long __sys_sendmsg(int, const struct msghdr*, unsigned) { return -ENOTSOCK; }
long __sys_sendmmsg(int, struct mmsghdr*, unsigned, unsigned) { return -ENOTSOCK; }
long __sys_recvmsg(int, struct msghdr*, unsigned) { return -ENOTSOCK; }
long __sys_recvmmsg(int, struct mmsghdr*, unsigned, unsigned, struct timespec*) { return -ENOTSOCK; }
long __sys_shutdown(int, int) { return -ENOTSOCK; }
long __sys_getsockname(int, struct sockaddr*, socklen_t*) { return -ENOTSOCK; }
long __sys_getpeername(int, struct sockaddr*, socklen_t*) { return -ENOTSOCK; }
long __sys_getsockopt(int, int, int, void*, socklen_t*) { return -ENOTSOCK; }
long __sys_setsockopt(int, int, int, const void*, int) { return -ENOTSOCK; }
}  // namespace ustack::net
