// The vfs entry points that src/sys wraps: each returns a result or a negative errno
// (including the kernel's restart codes, which only src/sys turns into EINTR or a restart).
// Arguments are checked in Linux's order.
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

namespace ustack::vfs {

// fs/open.c, fs/file.c
long ksys_close(int fd);
long ksys_dup(int fildes);
long ksys_dup2(int oldfd, int newfd);
long ksys_dup3(int oldfd, int newfd, int flags);
// fs/fcntl.c, fs/ioctl.c
long do_fcntl(int fd, int cmd, unsigned long arg);
long ksys_ioctl(int fd, unsigned long cmd, unsigned long arg);
// fs/read_write.c (ksys_read and ksys_write: read_write.hpp)
ssize_t do_readv(int fd, const struct iovec* vec, unsigned long vlen);
// import_iovec: UIO_MAXIOV (EINVAL), the array's address (EFAULT), negative lengths (EINVAL),
// each length clamped so that the total stays within MAX_RW_COUNT. Fills `out` (room for
// kUioMaxIov entries) and *total. Also used by sendmsg/recvmsg.
long import_iovec(const struct iovec* vec, unsigned long vlen, struct iovec* out, size_t* total);
ssize_t do_writev(int fd, const struct iovec* vec, unsigned long vlen);

// fs/select.c. Deadlines are absolute CLOCK_MONOTONIC ns: kNoDeadline waits forever, and
// kDeadlineNoWait is the zero timeout (one scan, nothing registered).
inline constexpr int64_t kDeadlineNoWait = 0;
long do_sys_poll(struct pollfd* ufds, unsigned int nfds, int64_t deadline_ns);
// *deadline_ns is an in/out deadline as above; nfds already checked non-negative.
long core_sys_select(int n, fd_set* inp, fd_set* outp, fd_set* exp, int64_t deadline_ns);

// fs/eventpoll.c
long do_epoll_create(int flags);
long do_epoll_ctl(int epfd, int op, int fd, struct epoll_event* event);
// Deadline as for poll.
long do_epoll_wait(int epfd, struct epoll_event* events, int maxevents, int64_t deadline_ns);

// fs/eventfd.c, fs/pipe.c
long do_eventfd(unsigned int count, int flags);
long do_pipe2(int* fildes, int flags);

}  // namespace ustack::vfs
