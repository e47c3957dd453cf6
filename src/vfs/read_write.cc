// readv, writev (fs/read_write.c); read and write are inline in read_write.hpp.
#include <cerrno>
#include <cstdint>

#include "base/limits.hpp"
#include "vfs/host.hpp"
#include "vfs/read_write.hpp"
#include "vfs/uaccess.hpp"
#include "vfs/vfs.hpp"

namespace ustack::vfs {

namespace {

// do_loop_readv_writev: files with only ->read/->write get one call per segment, walked as
// iov_iter_advance walks them. The first call gets the first segment as it is, even if it is
// empty (eventfd's write then says EINVAL); after a whole segment, advancing also steps over
// the empty segments that follow it.
template <bool kRead>
ssize_t loop_readv_writev(File* f, const struct iovec* iov, unsigned long n, size_t total) {
  ssize_t ret = 0;
  unsigned long seg = 0;
  size_t off = 0;  // iov_offset
  while (total) {
    char* base = static_cast<char*>(iov[seg].iov_base) + off;
    const size_t len = iov[seg].iov_len - off;
    ssize_t nr = kRead ? f->f_op->read(f, base, len) : f->f_op->write(f, base, len);
    if (nr < 0) {
      if (!ret) ret = nr;
      break;
    }
    ret += nr;
    if (size_t(nr) != len) break;
    // iov_iter_advance(nr).
    total -= size_t(nr);
    size_t size = size_t(nr) + off;
    while (seg < n && size >= iov[seg].iov_len) size -= iov[seg++].iov_len;
    off = size;
  }
  return ret;
}

}  // namespace

// import_iovec: UIO_MAXIOV, the array's address, and each length clamped so that the total
// stays within MAX_RW_COUNT. Fills `out` (at most kUioMaxIov entries).
long import_iovec(const struct iovec* vec, unsigned long vlen, struct iovec* out,
                  size_t* total) {
  if (vlen > unsigned(kUioMaxIov)) return -EINVAL;
  if (vlen == 0) {
    *total = 0;
    return 0;
  }
  if (vec == nullptr) return -EFAULT;
  size_t tot = 0;
  for (unsigned long i = 0; i < vlen; ++i) {
    size_t len = vec[i].iov_len;
    if (ssize_t(len) < 0) return -EINVAL;
    if (len > kMaxRwCount - tot) len = kMaxRwCount - tot;
    out[i].iov_base = vec[i].iov_base;
    out[i].iov_len = len;
    tot += len;
  }
  *total = tot;
  return 0;
}

ssize_t do_readv(int fd, const struct iovec* vec, unsigned long vlen) {
  FdRef f(fd);
  if (!f) return -EBADF;
  if (!(f->f_mode & FMODE_READ)) return -EBADF;
  if (!can_read(f.get())) return -EINVAL;
  struct iovec iov[kUioMaxIov];
  size_t total;
  if (long r = import_iovec(vec, vlen, iov, &total); r < 0) return r;
  if (total == 0) return 0;
  if (!f->f_op->has_read_iter()) return loop_readv_writev<true>(f.get(), iov, vlen, total);
  IovIter it(iov, vlen, total);
  return f->f_op->read_iter(f.get(), it);
}

ssize_t do_writev(int fd, const struct iovec* vec, unsigned long vlen) {
  FdRef f(fd);
  if (!f) return -EBADF;
  if (!(f->f_mode & FMODE_WRITE)) return -EBADF;
  if (!can_write(f.get())) return -EINVAL;
  struct iovec iov[kUioMaxIov];
  size_t total;
  if (long r = import_iovec(vec, vlen, iov, &total); r < 0) return r;
  if (total == 0) return 0;
  if (!f->f_op->has_write_iter()) return loop_readv_writev<false>(f.get(), iov, vlen, total);
  IovIter it(iov, vlen, total);
  return f->f_op->write_iter(f.get(), it);
}

}  // namespace ustack::vfs
