// Open files: File (struct file, the open file description), FileOps (file_operations),
// the iov_iter that read/write copy through, and the poll_table that f_op->poll registers on.
//
// A File is shared by dup'd fds and by in-flight references (a sleeping poll, a pending
// write); it is released by the last fput(). Files live in a type-stable pool: their memory is
// only ever reused for another File, so fget() can take a reference without a lock and recheck
// the fd slot afterwards, as the kernel's SLAB_TYPESAFE_BY_RCU files_cachep allows.
//
// LOCKING: f_count, f_flags and the f_owner fields are atomics. f_op, f_mode and private_data
// are set before the File is published in an fd table and never change. f_lock protects f_ep,
// the list of epoll items watching the file (emptiness is read without it). Each object behind
// private_data has its own lock (eventfd: its wait-queue head lock; pipe: its mutex). file_rcu
// (below) has its own block.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "base/compiler.hpp"
#include "base/list.hpp"
#include "base/spinlock.hpp"
#include "wait/wait.hpp"

namespace ustack {

class File;
struct PollTable;

// f_mode bits (include/linux/fs.h).
inline constexpr unsigned FMODE_READ = 0x1;
inline constexpr unsigned FMODE_WRITE = 0x2;

// DEFAULT_POLLMASK: what a file without ->poll reports (A10).
inline constexpr __poll_t DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

// iov_iter over a user iovec array: what read_iter/write_iter copy through. A null base with a
// non-zero length is reported as a fault (EFAULT), the one invalid pointer ustack can see.
class IovIter {
 public:
  IovIter(const struct iovec* iov, size_t nr_segs, size_t count)
      : iov_(iov), nr_segs_(nr_segs), count_(count) {}
  size_t count() const { return count_; }
  // Copies up to n bytes; returns the bytes copied (short only at a fault or the end).
  size_t copy_to(const void* src, size_t n);
  size_t copy_from(void* dst, size_t n);

 private:
  template <bool kToUser>
  size_t copy(void* kbuf, size_t n);
  const struct iovec* iov_;
  size_t nr_segs_;
  size_t count_;
  size_t seg_ = 0;
  size_t off_ = 0;
};

// file_operations. The defaults are what Linux does when the method is missing.
class FileOps {
 public:
  // Which methods a file_operations table has: fixed per table, so the hot paths test a bit
  // instead of making a virtual call.
  enum Caps : unsigned {
    kRead = 1u << 0,       // ->read: one flat buffer
    kWrite = 1u << 1,      // ->write (eventfd writes with one)
    kReadIter = 1u << 2,   // ->read_iter
    kWriteIter = 1u << 3,  // ->write_iter
    kPoll = 1u << 4,       // ->poll; without it DEFAULT_POLLMASK, and EPERM for epoll
    kODirect = 1u << 5,    // F_SETFL may set O_DIRECT (pipes: packet mode)
    kFasync = 1u << 6,     // ->fasync: O_ASYNC is settable (F_SETFL, FIOASYNC)
  };
  explicit constexpr FileOps(unsigned caps) : caps_(caps) {}
  virtual ~FileOps() = default;
  virtual const char* name() const = 0;  // "eventfd", "pipe", ...: for tools and traces

  bool has_read() const { return caps_ & kRead; }
  bool has_write() const { return caps_ & kWrite; }
  bool has_read_iter() const { return caps_ & kReadIter; }
  bool has_write_iter() const { return caps_ & kWriteIter; }
  bool has_poll() const { return caps_ & kPoll; }
  bool allows_o_direct() const { return caps_ & kODirect; }
  bool has_fasync() const { return caps_ & kFasync; }

  virtual ssize_t read(File*, void*, size_t) const { return -EINVAL; }
  virtual ssize_t write(File*, const void*, size_t) const { return -EINVAL; }
  virtual ssize_t read_iter(File*, IovIter&) const { return -EINVAL; }
  virtual ssize_t write_iter(File*, IovIter&) const { return -EINVAL; }
  virtual __poll_t poll(File*, PollTable*) const { return DEFAULT_POLLMASK; }
  // ->unlocked_ioctl: -ENOTTY (ENOIOCTLCMD) when the command is not the file's.
  virtual long ioctl(File*, unsigned long, unsigned long) const { return -ENOTTY; }
  // ->fcntl hook: F_GETPIPE_SZ/F_SETPIPE_SZ, which only pipes answer (others: EBADF).
  virtual long pipe_fcntl(File*, int, unsigned long) const { return -EBADF; }
  // ->release: the last reference to the File is gone.
  virtual void release(File*) const {}
  // ->show_fdinfo: the file's own lines of /proc/PID/fdinfo/FD.
  virtual void show_fdinfo(File*, std::string&) const {}

 private:
  const unsigned caps_;
};

class File {
 public:
  std::atomic<long> f_count{0};
  const FileOps* f_op = nullptr;
  std::atomic<unsigned> f_flags{0};  // O_ACCMODE | O_NONBLOCK | O_DIRECT | ... (F_GETFL)
  unsigned f_mode = 0;               // FMODE_*
  void* private_data = nullptr;
  // f_owner (F_SETOWN/F_SETSIG): recorded and reported; SIGIO delivery is not modelled.
  std::atomic<int> f_owner_pid{0};
  std::atomic<int> f_owner_signum{0};
  // The epoll items watching this file (EpItem::fllink): f_ep in the kernel. Under f_lock;
  // emptiness is read without it (the last fput skips eventpoll_release_file if empty).
  SpinLock f_lock;
  ListHead f_ep;

  void get() { f_count.fetch_add(1, std::memory_order_relaxed); }
  void put();
  void __fput();  // the last reference is gone: release, then back to the pool
  // atomic_long_inc_not_zero: fails for a File on its way back to the pool.
  bool get_not_zero() {
    long c = f_count.load(std::memory_order_relaxed);
    do {
      if (c == 0) return false;
    } while (!f_count.compare_exchange_weak(c, c + 1, std::memory_order_acquire));
    return true;
  }
  bool nonblock() const { return f_flags.load(std::memory_order_relaxed) & O_NONBLOCK; }
};

// file_rcu: lets the no-wait scans of poll and select look at files without taking a reference
// (the kernel gets the same from RCU and fdget's light path). A File's release (->release, and
// its return to the pool) waits until no such scan that might still see it is running; scans
// never sleep, so that wait is short.
//
// LOCKING: readers bump g_readers[epoch & 1] (seq_cst) before loading fd slots and drop it
// after; file_rcu_synchronize (under g_sync_lock) flips the epoch and waits for the old
// counter to drain. A thread inside a read section that drops a last reference (a signal
// handler that closes an fd mid-scan) defers the release to the end of its section.
namespace file_rcu {
extern std::atomic<long> g_readers[2];
extern std::atomic<unsigned> g_epoch;
extern __thread unsigned tls_depth;
void synchronize();
void flush_deferred();

class ReadSection {
 public:
  ReadSection() : idx_(g_epoch.load(std::memory_order_relaxed) & 1) {
    ++tls_depth;
    g_readers[idx_].fetch_add(1, std::memory_order_seq_cst);
  }
  ~ReadSection() {
    g_readers[idx_].fetch_sub(1, std::memory_order_release);
    if (--tls_depth == 0) flush_deferred();
  }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;

 private:
  unsigned idx_;
};
}  // namespace file_rcu

// eventpoll_release (fs/eventpoll.c): the last reference to a watched file is gone; every
// epoll item watching it goes, silently (C24).
void eventpoll_release_file(File* file);

// alloc_file_pseudo: a new File with one reference. private_data is owned by f_op->release.
File* alloc_file(const FileOps* ops, unsigned flags, unsigned mode, void* private_data);
inline void fput(File* f) { f->put(); }

// vfs_poll.
inline __poll_t vfs_poll(File* f, PollTable* pt) {
  if (!f->f_op->has_poll()) return DEFAULT_POLLMASK;
  return f->f_op->poll(f, pt);
}

// poll_table (include/linux/poll.h): the queue procedure that f_op->poll's poll_wait() calls,
// and the events the caller cares about (used by sockets' busy polling and by epoll).
using poll_queue_proc = void (*)(File* filp, WaitQueueHead* wait_address, PollTable* p);
struct PollTable {
  poll_queue_proc _qproc = nullptr;
  __poll_t _key = ~0u;
};

inline void poll_wait(File* filp, WaitQueueHead* wait_address, PollTable* p) {
  if (p && p->_qproc && wait_address) p->_qproc(filp, wait_address, p);
}
inline bool poll_does_not_wait(const PollTable* p) { return p == nullptr || p->_qproc == nullptr; }

}  // namespace ustack
