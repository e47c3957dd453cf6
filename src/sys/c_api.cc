// The C ABI (include/ustack/ustack.h): each ustack_<name> forwards to ustack::<name>.
#include <ustack/ustack.h>

#include <cstdarg>

#include <ustack/ustack.hpp>

extern "C" {

int ustack_close(int fd) { return ustack::close(fd); }
int ustack_dup(int oldfd) { return ustack::dup(oldfd); }
int ustack_dup2(int oldfd, int newfd) { return ustack::dup2(oldfd, newfd); }
int ustack_dup3(int oldfd, int newfd, int flags) { return ustack::dup3(oldfd, newfd, flags); }
int ustack_fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return ustack::fcntl(fd, cmd, arg);
}
int ustack_ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return ustack::ioctl(fd, request, arg);
}
ssize_t ustack_read(int fd, void* buf, size_t count) { return ustack::read(fd, buf, count); }
ssize_t ustack_write(int fd, const void* buf, size_t count) {
  return ustack::write(fd, buf, count);
}
ssize_t ustack_readv(int fd, const struct iovec* iov, int iovcnt) {
  return ustack::readv(fd, iov, iovcnt);
}
ssize_t ustack_writev(int fd, const struct iovec* iov, int iovcnt) {
  return ustack::writev(fd, iov, iovcnt);
}
int ustack_poll(struct pollfd* fds, nfds_t nfds, int timeout_ms) {
  return ustack::poll(fds, nfds, timeout_ms);
}
int ustack_ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* tmo_p,
                 const sigset_t* sigmask) {
  return ustack::ppoll(fds, nfds, tmo_p, sigmask);
}
int ustack_select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                  struct timeval* timeout) {
  return ustack::select(nfds, readfds, writefds, exceptfds, timeout);
}
int ustack_pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                   const struct timespec* timeout, const sigset_t* sigmask) {
  return ustack::pselect(nfds, readfds, writefds, exceptfds, timeout, sigmask);
}
int ustack_epoll_create(int size) { return ustack::epoll_create(size); }
int ustack_epoll_create1(int flags) { return ustack::epoll_create1(flags); }
int ustack_epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  return ustack::epoll_ctl(epfd, op, fd, event);
}
int ustack_epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms) {
  return ustack::epoll_wait(epfd, events, maxevents, timeout_ms);
}
int ustack_epoll_pwait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms,
                       const sigset_t* sigmask) {
  return ustack::epoll_pwait(epfd, events, maxevents, timeout_ms, sigmask);
}
int ustack_epoll_pwait2(int epfd, struct epoll_event* events, int maxevents,
                        const struct timespec* timeout, const sigset_t* sigmask) {
  return ustack::epoll_pwait2(epfd, events, maxevents, timeout, sigmask);
}
int ustack_eventfd(unsigned int initval, int flags) { return ustack::eventfd(initval, flags); }
int ustack_eventfd_read(int fd, eventfd_t* value) { return ustack::eventfd_read(fd, value); }
int ustack_eventfd_write(int fd, eventfd_t value) { return ustack::eventfd_write(fd, value); }
int ustack_pipe(int pipefd[2]) { return ustack::pipe(pipefd); }
int ustack_pipe2(int pipefd[2], int flags) { return ustack::pipe2(pipefd, flags); }
int ustack_socket(int domain, int type, int protocol) {
  return ustack::socket(domain, type, protocol);
}
int ustack_socketpair(int domain, int type, int protocol, int sv[2]) {
  return ustack::socketpair(domain, type, protocol, sv);
}
int ustack_bind(int sockfd, const struct sockaddr* addr, socklen_t addrlen) {
  return ustack::bind(sockfd, addr, addrlen);
}
int ustack_listen(int sockfd, int backlog) { return ustack::listen(sockfd, backlog); }
int ustack_accept(int sockfd, struct sockaddr* addr, socklen_t* addrlen) {
  return ustack::accept(sockfd, addr, addrlen);
}
int ustack_accept4(int sockfd, struct sockaddr* addr, socklen_t* addrlen, int flags) {
  return ustack::accept4(sockfd, addr, addrlen, flags);
}
int ustack_connect(int sockfd, const struct sockaddr* addr, socklen_t addrlen) {
  return ustack::connect(sockfd, addr, addrlen);
}
ssize_t ustack_send(int sockfd, const void* buf, size_t len, int flags) {
  return ustack::send(sockfd, buf, len, flags);
}
ssize_t ustack_sendto(int sockfd, const void* buf, size_t len, int flags,
                      const struct sockaddr* dest_addr, socklen_t addrlen) {
  return ustack::sendto(sockfd, buf, len, flags, dest_addr, addrlen);
}
ssize_t ustack_sendmsg(int sockfd, const struct msghdr* msg, int flags) {
  return ustack::sendmsg(sockfd, msg, flags);
}
int ustack_sendmmsg(int sockfd, struct mmsghdr* msgvec, unsigned int vlen, int flags) {
  return ustack::sendmmsg(sockfd, msgvec, vlen, flags);
}
ssize_t ustack_recv(int sockfd, void* buf, size_t len, int flags) {
  return ustack::recv(sockfd, buf, len, flags);
}
ssize_t ustack_recvfrom(int sockfd, void* buf, size_t len, int flags, struct sockaddr* src_addr,
                        socklen_t* addrlen) {
  return ustack::recvfrom(sockfd, buf, len, flags, src_addr, addrlen);
}
ssize_t ustack_recvmsg(int sockfd, struct msghdr* msg, int flags) {
  return ustack::recvmsg(sockfd, msg, flags);
}
int ustack_recvmmsg(int sockfd, struct mmsghdr* msgvec, unsigned int vlen, int flags,
                    struct timespec* timeout) {
  return ustack::recvmmsg(sockfd, msgvec, vlen, flags, timeout);
}
int ustack_shutdown(int sockfd, int how) { return ustack::shutdown(sockfd, how); }
int ustack_getsockname(int sockfd, struct sockaddr* addr, socklen_t* addrlen) {
  return ustack::getsockname(sockfd, addr, addrlen);
}
int ustack_getpeername(int sockfd, struct sockaddr* addr, socklen_t* addrlen) {
  return ustack::getpeername(sockfd, addr, addrlen);
}
int ustack_getsockopt(int sockfd, int level, int optname, void* optval, socklen_t* optlen) {
  return ustack::getsockopt(sockfd, level, optname, optval, optlen);
}
int ustack_setsockopt(int sockfd, int level, int optname, const void* optval, socklen_t optlen) {
  return ustack::setsockopt(sockfd, level, optname, optval, optlen);
}
int ustack_getrlimit(int resource, struct rlimit* rlim) { return ustack::getrlimit(resource, rlim); }
int ustack_setrlimit(int resource, const struct rlimit* rlim) {
  return ustack::setrlimit(resource, rlim);
}
int ustack_sigaction(int signum, const struct sigaction* act, struct sigaction* oldact) {
  return ustack::sigaction(signum, act, oldact);
}

}  // extern "C"
