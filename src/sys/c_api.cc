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
int ustack_getrlimit(int resource, struct rlimit* rlim) { return ustack::getrlimit(resource, rlim); }
int ustack_setrlimit(int resource, const struct rlimit* rlim) {
  return ustack::setrlimit(resource, rlim);
}
int ustack_sigaction(int signum, const struct sigaction* act, struct sigaction* oldact) {
  return ustack::sigaction(signum, act, oldact);
}

}  // extern "C"
