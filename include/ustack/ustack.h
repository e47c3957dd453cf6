/* ustack C ABI: the calls of ustack.hpp as ustack_<name>, with the same arguments, return
 * values and errno. For C programs and for other languages' foreign-function interfaces. */
#ifndef USTACK_USTACK_H
#define USTACK_USTACK_H

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* sendmmsg/recvmmsg take <sys/socket.h>'s struct mmsghdr, declared only under _GNU_SOURCE. */
struct mmsghdr;

int ustack_close(int fd);
int ustack_dup(int oldfd);
int ustack_dup2(int oldfd, int newfd);
int ustack_dup3(int oldfd, int newfd, int flags);
int ustack_fcntl(int fd, int cmd, ...);
int ustack_ioctl(int fd, unsigned long request, ...);
ssize_t ustack_read(int fd, void* buf, size_t count);
ssize_t ustack_write(int fd, const void* buf, size_t count);
ssize_t ustack_readv(int fd, const struct iovec* iov, int iovcnt);
ssize_t ustack_writev(int fd, const struct iovec* iov, int iovcnt);
int ustack_poll(struct pollfd* fds, nfds_t nfds, int timeout_ms);
int ustack_ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* tmo_p,
                 const sigset_t* sigmask);
int ustack_select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                  struct timeval* timeout);
int ustack_pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                   const struct timespec* timeout, const sigset_t* sigmask);
int ustack_epoll_create(int size);
int ustack_epoll_create1(int flags);
int ustack_epoll_ctl(int epfd, int op, int fd, struct epoll_event* event);
int ustack_epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms);
int ustack_epoll_pwait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms,
                       const sigset_t* sigmask);
int ustack_epoll_pwait2(int epfd, struct epoll_event* events, int maxevents,
                        const struct timespec* timeout, const sigset_t* sigmask);
int ustack_eventfd(unsigned int initval, int flags);
int ustack_eventfd_read(int fd, eventfd_t* value);
int ustack_eventfd_write(int fd, eventfd_t value);
int ustack_pipe(int pipefd[2]);
int ustack_pipe2(int pipefd[2], int flags);
int ustack_socket(int domain, int type, int protocol);
int ustack_socketpair(int domain, int type, int protocol, int sv[2]);
int ustack_bind(int sockfd, const struct sockaddr* addr, socklen_t addrlen);
int ustack_listen(int sockfd, int backlog);
int ustack_accept(int sockfd, struct sockaddr* addr, socklen_t* addrlen);
int ustack_accept4(int sockfd, struct sockaddr* addr, socklen_t* addrlen, int flags);
int ustack_connect(int sockfd, const struct sockaddr* addr, socklen_t addrlen);
ssize_t ustack_send(int sockfd, const void* buf, size_t len, int flags);
ssize_t ustack_sendto(int sockfd, const void* buf, size_t len, int flags,
                      const struct sockaddr* dest_addr, socklen_t addrlen);
ssize_t ustack_sendmsg(int sockfd, const struct msghdr* msg, int flags);
int ustack_sendmmsg(int sockfd, struct mmsghdr* msgvec, unsigned int vlen, int flags);
ssize_t ustack_recv(int sockfd, void* buf, size_t len, int flags);
ssize_t ustack_recvfrom(int sockfd, void* buf, size_t len, int flags, struct sockaddr* src_addr,
                        socklen_t* addrlen);
ssize_t ustack_recvmsg(int sockfd, struct msghdr* msg, int flags);
int ustack_recvmmsg(int sockfd, struct mmsghdr* msgvec, unsigned int vlen, int flags,
                    struct timespec* timeout);
int ustack_shutdown(int sockfd, int how);
int ustack_getsockname(int sockfd, struct sockaddr* addr, socklen_t* addrlen);
int ustack_getpeername(int sockfd, struct sockaddr* addr, socklen_t* addrlen);
int ustack_getsockopt(int sockfd, int level, int optname, void* optval, socklen_t* optlen);
int ustack_setsockopt(int sockfd, int level, int optname, const void* optval, socklen_t optlen);
int ustack_getrlimit(int resource, struct rlimit* rlim);
int ustack_setrlimit(int resource, const struct rlimit* rlim);
int ustack_sigaction(int signum, const struct sigaction* act, struct sigaction* oldact);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_USTACK_H */
