// ustack public C++ API: the Linux calls with Linux's signatures, on ustack's objects.
//
// Every function here behaves like the glibc wrapper of the same name: it returns -1 and sets
// errno to exactly what Linux would set. Flags, constants and structs are the system's own
// (<poll.h>, <sys/select.h>, <sys/eventfd.h>, <sys/socket.h>, <sys/un.h>, <fcntl.h>,
// <signal.h>), so a pollfd or fd_set is
// byte-for-byte the one libc uses. fd numbers belong to the current ustack host (see host.hpp),
// not to the kernel: a ustack fd passed to ::read is meaningless, and vice versa.
#pragma once

#include <fcntl.h>
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

namespace ustack {

// --- open files and the fd table (fs/open.c, fs/file.c, fs/fcntl.c, fs/ioctl.c) ---
int close(int fd);
int dup(int oldfd);
int dup2(int oldfd, int newfd);
int dup3(int oldfd, int newfd, int flags);
int fcntl(int fd, int cmd, ...);
int ioctl(int fd, unsigned long request, ...);

// --- read/write (fs/read_write.c) ---
ssize_t read(int fd, void* buf, size_t count);
ssize_t write(int fd, const void* buf, size_t count);
ssize_t readv(int fd, const struct iovec* iov, int iovcnt);
ssize_t writev(int fd, const struct iovec* iov, int iovcnt);

// --- poll and select (fs/select.c) ---
int poll(struct pollfd* fds, nfds_t nfds, int timeout_ms);
int ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* tmo_p, const sigset_t* sigmask);
int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, struct timeval* timeout);
int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
            const struct timespec* timeout, const sigset_t* sigmask);

// --- epoll (fs/eventpoll.c) ---
int epoll_create(int size);
int epoll_create1(int flags);
int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event);
int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms);
int epoll_pwait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms,
                const sigset_t* sigmask);
int epoll_pwait2(int epfd, struct epoll_event* events, int maxevents,
                 const struct timespec* timeout, const sigset_t* sigmask);

// --- eventfd (fs/eventfd.c) ---
int eventfd(unsigned int initval, int flags);
int eventfd_read(int fd, eventfd_t* value);
int eventfd_write(int fd, eventfd_t value);

// --- pipes (fs/pipe.c) ---
int pipe(int pipefd[2]);
int pipe2(int pipefd[2], int flags);

// --- sockets (net/socket.c; AF_UNIX: net/unix/af_unix.c) ---
int socket(int domain, int type, int protocol);
int socketpair(int domain, int type, int protocol, int sv[2]);
int bind(int sockfd, const struct sockaddr* addr, socklen_t addrlen);
int listen(int sockfd, int backlog);
int accept(int sockfd, struct sockaddr* addr, socklen_t* addrlen);
int accept4(int sockfd, struct sockaddr* addr, socklen_t* addrlen, int flags);
int connect(int sockfd, const struct sockaddr* addr, socklen_t addrlen);
ssize_t send(int sockfd, const void* buf, size_t len, int flags);
ssize_t sendto(int sockfd, const void* buf, size_t len, int flags, const struct sockaddr* dest_addr,
               socklen_t addrlen);
ssize_t sendmsg(int sockfd, const struct msghdr* msg, int flags);
int sendmmsg(int sockfd, struct mmsghdr* msgvec, unsigned int vlen, int flags);
ssize_t recv(int sockfd, void* buf, size_t len, int flags);
ssize_t recvfrom(int sockfd, void* buf, size_t len, int flags, struct sockaddr* src_addr,
                 socklen_t* addrlen);
ssize_t recvmsg(int sockfd, struct msghdr* msg, int flags);
int recvmmsg(int sockfd, struct mmsghdr* msgvec, unsigned int vlen, int flags,
             struct timespec* timeout);
int shutdown(int sockfd, int how);
int getsockname(int sockfd, struct sockaddr* addr, socklen_t* addrlen);
int getpeername(int sockfd, struct sockaddr* addr, socklen_t* addrlen);
int getsockopt(int sockfd, int level, int optname, void* optval, socklen_t* optlen);
int setsockopt(int sockfd, int level, int optname, const void* optval, socklen_t optlen);

// --- time: CLOCK_MONOTONIC (and CLOCK_REALTIME) are the world's virtual clock inside a
// simulation (sim.hpp); elsewhere they are the kernel's ---
int clock_gettime(clockid_t clockid, struct timespec* tp);
int nanosleep(const struct timespec* req, struct timespec* rem);

// --- per-host resource limits: RLIMIT_NOFILE is the host's own; others go to the kernel ---
int getrlimit(int resource, struct rlimit* rlim);
int setrlimit(int resource, const struct rlimit* rlim);

// --- signals ---
// A handler installed through these runs as usual and also tells ustack that a signal was
// delivered, so that a ustack call sleeping in that thread returns EINTR or restarts exactly as
// the Linux call would (SA_RESTART honoured where Linux honours it). Handlers installed with
// ::sigaction still run, but a sleeping ustack call does not notice them (the futex wait is
// restarted by the kernel), just as a kernel call would not notice a handler it never saw.
int sigaction(int signum, const struct sigaction* act, struct sigaction* oldact);
sighandler_t signal(int signum, sighandler_t handler);

}  // namespace ustack
