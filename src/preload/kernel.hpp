// The C library's own entry points, for the calls the preload library defines itself.
//
// Inside libustack-preload.so the names `read`, `close`, `sigaction`... are ours (preload.cc);
// the kernel is reached through these pointers, resolved once with dlsym(RTLD_NEXT), i.e. in the
// next object of the lookup order: libc. resolve() runs from the library's first constructor,
// and every entry point also resolves lazily, for a call made by another library's constructor
// before ours.
//
// LOCKING: each pointer is written once per resolution with the same value (a benign race
// between threads resolving together); relaxed atomics would add nothing on x86-64.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace ustack::preload::kernel {

// X(name): every libc function the preload defines and must also call through.
#define USTACK_KERNEL_CALLS(X)                                                                   \
  X(close) X(dup) X(dup2) X(dup3) X(fcntl) X(ioctl) X(read) X(write) X(readv) X(writev) X(poll) \
  X(ppoll) X(select) X(pselect) X(epoll_create) X(epoll_create1) X(epoll_ctl) X(epoll_wait)     \
  X(epoll_pwait) X(epoll_pwait2) X(eventfd) X(eventfd_read) X(eventfd_write) X(pipe) X(pipe2)  \
  X(socket) X(socketpair) X(bind) X(listen) X(accept) X(accept4) X(connect) X(send) X(sendto)  \
  X(sendmsg) X(sendmmsg) X(recv) X(recvfrom) X(recvmsg) X(recvmmsg) X(shutdown)                 \
  X(getsockname) X(getpeername) X(getsockopt) X(setsockopt) X(syscall) X(sigaction) X(fork)    \
  X(setrlimit) X(prlimit) X(fstat) X(fstatat)

#define USTACK_KERNEL_DECLARE(name) extern decltype(&::name) name;
USTACK_KERNEL_CALLS(USTACK_KERNEL_DECLARE)
#undef USTACK_KERNEL_DECLARE

// Resolves every pointer (idempotent).
void resolve();

// A pointer, resolved now if it is not yet.
template <class F>
inline F get(F& slot) {
  if (__builtin_expect(slot == nullptr, 0)) resolve();
  return slot;
}

}  // namespace ustack::preload::kernel

// K(read)(fd, buf, n): the C library's read.
#define K(name) (::ustack::preload::kernel::get(::ustack::preload::kernel::name))
