// close, dup, dup2, dup3, fcntl and ioctl (fs/open.c, fs/file.c, fs/fcntl.c, fs/ioctl.c).
#include <fcntl.h>
#include <sys/ioctl.h>

#include <signal.h>

#include <cerrno>

// Linux 6.10; older C libraries do not name it yet.
#ifndef F_DUPFD_QUERY
#define F_DUPFD_QUERY 1027  // F_LINUX_SPECIFIC_BASE + 3
#endif

#include "vfs/host.hpp"
#include "vfs/vfs.hpp"

namespace ustack::vfs {

long ksys_close(int fd) { return current_host()->fdt.close(unsigned(fd)); }

long ksys_dup(int fildes) {
  FdRef f(fildes);
  if (!f) return -EBADF;
  Host* h = current_host();
  f->get();
  long fd = h->fdt.install_lowest(f.get(), 0, rlimit_nofile(), false);
  if (fd < 0) fput(f.get());
  return fd;
}

long ksys_dup3(int oldfd, int newfd, int flags) {
  if (flags & ~O_CLOEXEC) return -EINVAL;
  if (oldfd == newfd) return -EINVAL;
  if (unsigned(newfd) >= rlimit_nofile()) return -EBADF;
  FdRef f(oldfd);
  if (!f) return -EBADF;
  f->get();  // the new slot's reference
  return current_host()->fdt.replace(unsigned(newfd), f.get(), flags & O_CLOEXEC);
}

long ksys_dup2(int oldfd, int newfd) {
  if (oldfd == newfd) {
    // dup2 to itself checks oldfd only (no rlimit check on newfd).
    return current_host()->fdt.fd_is_open(unsigned(oldfd)) ? newfd : -EBADF;
  }
  return ksys_dup3(oldfd, newfd, 0);
}

namespace {

// f_dupfd: the lowest free fd >= from.
long f_dupfd(unsigned from, File* f, bool cloexec) {
  uint64_t nofile = rlimit_nofile();
  if (from >= nofile) return -EINVAL;
  f->get();
  long fd = current_host()->fdt.install_lowest(f, from, nofile, cloexec);
  if (fd < 0) fput(f);
  return fd;
}

// setfl: the SETFL_MASK bits are replaced; O_DIRECT only where the file takes it (pipes:
// packet mode); O_ASYNC only through ->fasync, which pipes have and eventfds do not.
long setfl(File* f, unsigned arg) {
  constexpr unsigned kSetflMask = O_APPEND | O_NONBLOCK | O_NDELAY | O_DIRECT | O_NOATIME;
  if ((arg & O_DIRECT) && !f->f_op->allows_o_direct()) return -EINVAL;
  unsigned old = f->f_flags.load(std::memory_order_relaxed);
  unsigned nw;
  do {
    nw = (arg & kSetflMask) | (old & ~kSetflMask);
    if (f->f_op->has_fasync()) nw = (nw & ~unsigned(O_ASYNC)) | (arg & O_ASYNC);
  } while (!f->f_flags.compare_exchange_weak(old, nw, std::memory_order_relaxed));
  return 0;
}

// valid_signal: the kernel's _NSIG is 64 (glibc's _NSIG counts one more).
bool valid_signal(unsigned long sig) { return sig <= 64; }

// f_dupfd_query (6.10): whether fd refers to the same open file description. Only the
// pointer is compared, so the reference can be dropped at once.
long f_dupfd_query(int fd, File* filp) {
  FdRef f(fd);
  if (!f) return -EBADF;
  return f.get() == filp;
}

}  // namespace

long do_fcntl(int fd, int cmd, unsigned long arg) {
  FdRef f(fd);
  if (!f) return -EBADF;
  const unsigned argi = unsigned(arg);
  Host* h = current_host();
  switch (cmd) {
    case F_DUPFD:
      return f_dupfd(argi, f.get(), false);
    case F_DUPFD_CLOEXEC:
      return f_dupfd(argi, f.get(), true);
    case F_GETFD: {
      int r = h->fdt.get_close_on_exec(unsigned(fd));
      return r < 0 ? r : (r ? FD_CLOEXEC : 0);
    }
    case F_SETFD:
      return h->fdt.set_close_on_exec(unsigned(fd), argi & FD_CLOEXEC);
    case F_GETFL:
      return long(f->f_flags.load(std::memory_order_relaxed));
    case F_SETFL:
      return setfl(f.get(), argi);
    case F_SETPIPE_SZ:
    case F_GETPIPE_SZ:
      return f->f_op->pipe_fcntl(f.get(), cmd, argi);
    case F_DUPFD_QUERY:
      return f_dupfd_query(int(argi), f.get());
    case F_GETOWN:
      return f->f_owner_pid.load(std::memory_order_relaxed);
    case F_SETOWN:
      // f_setown: a pid (positive) or a process group (negative); stored as given.
      f->f_owner_pid.store(int(arg), std::memory_order_relaxed);
      return 0;
    case F_GETSIG:
      return f->f_owner_signum.load(std::memory_order_relaxed);
    case F_SETSIG:
      if (!valid_signal(arg)) return -EINVAL;  // 0 means SIGIO
      f->f_owner_signum.store(int(arg), std::memory_order_relaxed);
      return 0;
    case F_GETLEASE:
      return F_UNLCK;  // no leases on these files
    case F_NOTIFY:
      // fcntl_dirnotify: clearing (no DN_* bits) succeeds on any file; asking for events
      // needs a directory.
      return (argi & ~unsigned(DN_MULTISHOT)) == 0 ? 0 : -ENOTDIR;
    default:
      return -EINVAL;
  }
}

long ksys_ioctl(int fd, unsigned long cmd, unsigned long arg) {
  FdRef f(fd);
  if (!f) return -EBADF;
  // do_vfs_ioctl: the generic commands first, then the file's own.
  switch (cmd) {
    case FIOCLEX:
      return current_host()->fdt.set_close_on_exec(unsigned(fd), true);
    case FIONCLEX:
      return current_host()->fdt.set_close_on_exec(unsigned(fd), false);
    case FIONBIO: {
      const int* argp = reinterpret_cast<const int*>(arg);
      if (argp == nullptr) return -EFAULT;
      if (*argp) {
        f->f_flags.fetch_or(O_NONBLOCK, std::memory_order_relaxed);
      } else {
        f->f_flags.fetch_and(~unsigned(O_NONBLOCK), std::memory_order_relaxed);
      }
      return 0;
    }
    case FIOASYNC: {
      const int* argp = reinterpret_cast<const int*>(arg);
      if (argp == nullptr) return -EFAULT;
      bool on = *argp != 0;
      bool was = f->f_flags.load(std::memory_order_relaxed) & O_ASYNC;
      if (on == was) return 0;
      if (!f->f_op->has_fasync()) return -ENOTTY;
      if (on) {
        f->f_flags.fetch_or(O_ASYNC, std::memory_order_relaxed);
      } else {
        f->f_flags.fetch_and(~unsigned(O_ASYNC), std::memory_order_relaxed);
      }
      return 0;
    }
    default:
      return f->f_op->ioctl(f.get(), cmd, arg);
  }
}

}  // namespace ustack::vfs
