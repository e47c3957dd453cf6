// read and write (fs/read_write.c), inline: they are the body of every ustack::read and
// ustack::write, and inlined there they cost one call less on the hottest path there is (the
// epoll/eventfd cycle of docs/benchmarks.md).
#pragma once

#include <sys/uio.h>

#include <cerrno>

#include "base/limits.hpp"
#include "vfs/host.hpp"
#include "vfs/uaccess.hpp"

namespace ustack::vfs {

inline bool can_read(const File* f) { return f->f_op->has_read() || f->f_op->has_read_iter(); }
inline bool can_write(const File* f) { return f->f_op->has_write() || f->f_op->has_write_iter(); }

inline ssize_t ksys_read(int fd, void* buf, size_t count) {
  FdRef f(fd);
  if (!f) return -EBADF;
  if (!(f->f_mode & FMODE_READ)) return -EBADF;
  if (!can_read(f.get())) return -EINVAL;
  if (!access_ok(buf, count)) return -EFAULT;
  if (ssize_t(count) < 0) return -EINVAL;  // rw_verify_area
  if (count > kMaxRwCount) count = kMaxRwCount;
  if (f->f_op->has_read()) return f->f_op->read(f.get(), buf, count);
  struct iovec iov = {buf, count};
  IovIter it(&iov, 1, count);
  return f->f_op->read_iter(f.get(), it);
}

inline ssize_t ksys_write(int fd, const void* buf, size_t count) {
  FdRef f(fd);
  if (!f) return -EBADF;
  if (!(f->f_mode & FMODE_WRITE)) return -EBADF;
  if (!can_write(f.get())) return -EINVAL;
  if (!access_ok(buf, count)) return -EFAULT;
  if (ssize_t(count) < 0) return -EINVAL;  // rw_verify_area
  if (count > kMaxRwCount) count = kMaxRwCount;
  if (f->f_op->has_write()) return f->f_op->write(f.get(), buf, count);
  struct iovec iov = {const_cast<void*>(buf), count};
  IovIter it(&iov, 1, count);
  return f->f_op->write_iter(f.get(), it);
}

}  // namespace ustack::vfs
