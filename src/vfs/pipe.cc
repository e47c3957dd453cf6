// Pipes (fs/pipe.c): a ring of page-sized buffers, as in the kernel, so that capacity, merging
// of small writes, PIPE_BUF atomicity and FIONREAD come out byte-for-byte as Linux's.
//
// A write first merges into the last buffer if the whole non-page-aligned head of the write
// fits there; the rest goes into fresh pages. The pipe is full when max_usage buffers are in
// use, whatever their fill: 100-byte writes fill 16 × 4000 bytes, not 65536.
//
// LOCKING: PipeInodeInfo::mutex (pipe->mutex) protects the ring, readers/writers and the
// counters; it is dropped before sleeping and before waking. rd_wait/wr_wait have their own
// head locks (taken under mutex only by pipe_resize_ring's wake-up). poll() reads head, tail,
// readers and writers without the mutex, as READ_ONCE in pipe_poll does.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <bit>
#include <cerrno>
#include <memory>
#include <mutex>
#include <vector>

#include "base/mutex.hpp"
#include "base/trace.hpp"
#include "vfs/host.hpp"
#include "vfs/vfs.hpp"

namespace ustack::vfs {

namespace {

constexpr unsigned PIPE_BUF_FLAG_CAN_MERGE = 0x10;
constexpr unsigned PIPE_BUF_FLAG_PACKET = 0x08;

struct PipeBuffer {
  std::unique_ptr<char[]> page;  // kPageSize bytes, allocated on first use and kept
  unsigned offset = 0;
  unsigned len = 0;
  unsigned flags = 0;
};

struct PipeInodeInfo {
  Mutex mutex;
  WaitQueueHead rd_wait;
  WaitQueueHead wr_wait;
  std::atomic<unsigned> head{0};       // under mutex; read locklessly by poll
  std::atomic<unsigned> tail{0};       // under mutex; read locklessly by poll
  std::atomic<unsigned> max_usage{kPipeDefBuffers};  // slots writers may fill
  unsigned ring_size = kPipeDefBuffers;               // power of two, >= max_usage
  std::atomic<unsigned> readers{1};
  std::atomic<unsigned> writers{1};
  std::atomic<bool> poll_usage{false};  // someone polled: wake readers on every write
  std::atomic<int> files{2};            // Files referring to this pipe
  std::vector<PipeBuffer> bufs{kPipeDefBuffers};

  bool empty(unsigned h, unsigned t) const { return h == t; }
  bool full(unsigned h, unsigned t, unsigned limit) const { return h - t >= limit; }
  bool is_full() const {
    return full(head.load(std::memory_order_relaxed), tail.load(std::memory_order_relaxed),
                max_usage.load(std::memory_order_relaxed));
  }
  bool is_empty() const {
    return empty(head.load(std::memory_order_relaxed), tail.load(std::memory_order_relaxed));
  }
  PipeBuffer& slot(unsigned i) { return bufs[i & (ring_size - 1)]; }
  // pipe_readable / pipe_writable: the conditions blocked readers and writers wait for.
  bool readable() const { return !is_empty() || writers.load(std::memory_order_relaxed) == 0; }
  bool writable() const { return !is_full() || readers.load(std::memory_order_relaxed) == 0; }
};

PipeInodeInfo* pipe_of(File* f) { return static_cast<PipeInodeInfo*>(f->private_data); }

// send_sig(SIGPIPE, current): to this thread, after every lock is dropped (a handler may call
// back into ustack).
void send_sigpipe() { pthread_kill(pthread_self(), SIGPIPE); }

class PipeOps final : public FileOps {
 public:
  // O_DIRECT is packet mode.
  constexpr PipeOps() : FileOps(kReadIter | kWriteIter | kPoll | kODirect | kFasync) {}
  const char* name() const override { return "pipe"; }

  __poll_t poll(File* filp, PollTable* wait) const override {
    PipeInodeInfo* pipe = pipe_of(filp);
    pipe->poll_usage.store(true, std::memory_order_relaxed);
    if (filp->f_mode & FMODE_READ) poll_wait(filp, &pipe->rd_wait, wait);
    if (filp->f_mode & FMODE_WRITE) poll_wait(filp, &pipe->wr_wait, wait);
    const unsigned head = pipe->head.load(std::memory_order_acquire);
    const unsigned tail = pipe->tail.load(std::memory_order_acquire);
    __poll_t mask = 0;
    if (filp->f_mode & FMODE_READ) {
      if (!pipe->empty(head, tail)) mask |= POLLIN | POLLRDNORM;
      if (pipe->writers.load(std::memory_order_acquire) == 0) mask |= POLLHUP;
    }
    if (filp->f_mode & FMODE_WRITE) {
      if (!pipe->full(head, tail, pipe->max_usage.load(std::memory_order_relaxed)))
        mask |= POLLOUT | POLLWRNORM;
      if (pipe->readers.load(std::memory_order_acquire) == 0) mask |= POLLERR;
    }
    return mask;
  }

  ssize_t read_iter(File* filp, IovIter& to) const override {
    PipeInodeInfo* pipe = pipe_of(filp);
    size_t total_len = to.count();
    if (total_len == 0) return 0;  // a null read succeeds
    ssize_t ret = 0;
    bool wake_writer = false;
    // Only a reader that slept passes the wake-up on to the next one (exclusive waits); a
    // reader that found data wakes nobody, so an ET watcher sees no event from a read (C32).
    bool wake_next_reader = false;
    std::unique_lock lk(pipe->mutex);
    for (;;) {
      unsigned head = pipe->head.load(std::memory_order_relaxed);
      unsigned tail = pipe->tail.load(std::memory_order_relaxed);
      if (!pipe->empty(head, tail)) {
        PipeBuffer& buf = pipe->slot(tail);
        size_t chars = buf.len;
        if (chars > total_len) chars = total_len;
        size_t written = to.copy_to(buf.page.get() + buf.offset, chars);
        if (written < chars) {
          if (!ret) ret = -EFAULT;
          break;
        }
        ret += ssize_t(chars);
        buf.offset += unsigned(chars);
        buf.len -= unsigned(chars);
        if (buf.flags & PIPE_BUF_FLAG_PACKET) {  // one packet per read; the rest is dropped
          total_len = chars;
          buf.len = 0;
        }
        if (!buf.len) {
          wake_writer |= pipe->full(head, tail, pipe->max_usage.load(std::memory_order_relaxed));
          buf.offset = 0;
          buf.flags = 0;
          pipe->tail.store(++tail, std::memory_order_release);
        }
        total_len -= chars;
        if (!total_len) break;
        if (!pipe->empty(head, tail)) continue;
      }
      if (pipe->writers.load(std::memory_order_relaxed) == 0) break;
      if (ret) break;
      if (filp->nonblock()) {
        ret = -EAGAIN;
        break;
      }
      lk.unlock();
      if (wake_writer) wake_up_interruptible_sync_poll(&pipe->wr_wait, POLLOUT | POLLWRNORM);
      if (wait_event_interruptible_exclusive(
              &pipe->rd_wait, [pipe] { return pipe->readable(); }, "pipe_read") < 0)
        return -sched::ERESTARTSYS;
      lk.lock();
      wake_writer = false;
      wake_next_reader = true;
    }
    if (pipe->is_empty()) wake_next_reader = false;
    lk.unlock();
    if (wake_writer) wake_up_interruptible_sync_poll(&pipe->wr_wait, POLLOUT | POLLWRNORM);
    if (wake_next_reader) wake_up_interruptible_sync_poll(&pipe->rd_wait, POLLIN | POLLRDNORM);
    return ret;
  }

  ssize_t write_iter(File* filp, IovIter& from) const override {
    PipeInodeInfo* pipe = pipe_of(filp);
    const size_t total_len = from.count();
    if (total_len == 0) return 0;  // a null write succeeds
    ssize_t ret = 0;
    bool sigpipe = false;
    bool wake_next_writer = false;
    std::unique_lock lk(pipe->mutex);
    bool was_empty = pipe->is_empty();
    if (pipe->readers.load(std::memory_order_relaxed) == 0) {
      lk.unlock();
      send_sigpipe();
      return -EPIPE;
    }
    // Merge the non-page-aligned head of the write into the last buffer if it all fits there.
    const size_t chars = total_len & (kPageSize - 1);
    if (chars && !was_empty) {
      PipeBuffer& buf = pipe->slot(pipe->head.load(std::memory_order_relaxed) - 1);
      const size_t offset = buf.offset + buf.len;
      if ((buf.flags & PIPE_BUF_FLAG_CAN_MERGE) && offset + chars <= kPageSize) {
        size_t copied = from.copy_from(buf.page.get() + offset, chars);
        if (copied < chars) {
          lk.unlock();
          return -EFAULT;
        }
        buf.len += unsigned(copied);
        ret = ssize_t(copied);
        if (!from.count()) goto out;
      }
    }
    for (;;) {
      if (pipe->readers.load(std::memory_order_relaxed) == 0) {
        sigpipe = true;
        if (!ret) ret = -EPIPE;
        break;
      }
      unsigned head = pipe->head.load(std::memory_order_relaxed);
      if (!pipe->full(head, pipe->tail.load(std::memory_order_relaxed),
                      pipe->max_usage.load(std::memory_order_relaxed))) {
        PipeBuffer& buf = pipe->slot(head);
        if (!buf.page) buf.page = std::make_unique<char[]>(kPageSize);
        size_t want = std::min(kPageSize, from.count());
        size_t copied = from.copy_from(buf.page.get(), want);
        if (copied < want && copied == 0) {
          if (!ret) ret = -EFAULT;
          break;
        }
        buf.offset = 0;
        buf.len = unsigned(copied);
        buf.flags = (filp->f_flags.load(std::memory_order_relaxed) & O_DIRECT)
                        ? PIPE_BUF_FLAG_PACKET
                        : PIPE_BUF_FLAG_CAN_MERGE;
        pipe->head.store(head + 1, std::memory_order_release);
        ret += ssize_t(copied);
        if (copied < want) {
          if (!ret) ret = -EFAULT;
          break;
        }
        if (!from.count()) break;
      }
      if (!pipe->is_full()) continue;
      // Full: wait for room, unless non-blocking (a write <= PIPE_BUF never got here half
      // done: it merged whole or went whole into one fresh page).
      if (filp->nonblock()) {
        if (!ret) ret = -EAGAIN;
        break;
      }
      if (sched::signal_pending(sched::current())) {
        if (!ret) ret = -sched::ERESTARTSYS;
        break;
      }
      lk.unlock();
      if (was_empty) wake_up_interruptible_sync_poll(&pipe->rd_wait, POLLIN | POLLRDNORM);
      wait_event_interruptible_exclusive(
          &pipe->wr_wait, [pipe] { return pipe->writable(); }, "pipe_write");
      lk.lock();
      was_empty = pipe->is_empty();
      wake_next_writer = true;
    }
  out:
    if (pipe->is_full()) wake_next_writer = false;
    const bool poll_usage = pipe->poll_usage.load(std::memory_order_relaxed);
    lk.unlock();
    // "Epoll nonsensically wants a wakeup whether the pipe was already empty or not."
    if (was_empty || poll_usage) wake_up_interruptible_sync_poll(&pipe->rd_wait, POLLIN | POLLRDNORM);
    if (wake_next_writer) wake_up_interruptible_sync_poll(&pipe->wr_wait, POLLOUT | POLLWRNORM);
    if (sigpipe) send_sigpipe();
    return ret;
  }

  long ioctl(File* filp, unsigned long cmd, unsigned long arg) const override {
    if (cmd != FIONREAD) return -ENOTTY;
    PipeInodeInfo* pipe = pipe_of(filp);
    int count = 0;
    {
      std::lock_guard g(pipe->mutex);
      for (unsigned t = pipe->tail.load(std::memory_order_relaxed),
                    h = pipe->head.load(std::memory_order_relaxed);
           t != h; ++t) {
        count += int(pipe->slot(t).len);
      }
    }
    int* argp = reinterpret_cast<int*>(arg);
    if (argp == nullptr) return -EFAULT;
    *argp = count;
    return 0;
  }

  void show_fdinfo(File* filp, std::string& out) const override {
    PipeInodeInfo* pipe = pipe_of(filp);
    unsigned bytes = 0;
    {
      std::lock_guard g(pipe->mutex);
      for (unsigned t = pipe->tail.load(std::memory_order_relaxed),
                    h = pipe->head.load(std::memory_order_relaxed);
           t != h; ++t) {
        bytes += pipe->slot(t).len;
      }
    }
    out += "pipe-bytes: " + std::to_string(bytes) + "\npipe-size: " +
           std::to_string(pipe->max_usage.load(std::memory_order_relaxed) * kPageSize) +
           "\npipe-readers: " + std::to_string(pipe->readers.load()) +
           "\npipe-writers: " + std::to_string(pipe->writers.load()) + "\n";
  }

  long pipe_fcntl(File* filp, int cmd, unsigned long arg) const override {
    PipeInodeInfo* pipe = pipe_of(filp);
    std::lock_guard g(pipe->mutex);
    if (cmd == F_GETPIPE_SZ) return long(pipe->max_usage.load(std::memory_order_relaxed) * kPageSize);
    return pipe_set_size(pipe, unsigned(arg));
  }

  void release(File* filp) const override {
    PipeInodeInfo* pipe = pipe_of(filp);
    bool wake;
    {
      std::lock_guard g(pipe->mutex);
      if (filp->f_mode & FMODE_READ) pipe->readers.fetch_sub(1, std::memory_order_release);
      if (filp->f_mode & FMODE_WRITE) pipe->writers.fetch_sub(1, std::memory_order_release);
      // The last reader or writer, but not the other side: everyone re-checks.
      wake = (pipe->readers.load(std::memory_order_relaxed) == 0) !=
             (pipe->writers.load(std::memory_order_relaxed) == 0);
    }
    if (wake) {
      wake_up_interruptible_all(&pipe->rd_wait);
      wake_up_interruptible_all(&pipe->wr_wait);
    }
    if (pipe->files.fetch_sub(1, std::memory_order_acq_rel) == 1) delete pipe;
  }

 private:
  // round_pipe_size: at least a page, a power of two, and 0 (EINVAL) past 2^31.
  static unsigned round_pipe_size(unsigned size) {
    if (size > (1U << 31)) return 0;
    if (size < kPageSize) return unsigned(kPageSize);
    return std::bit_ceil(size);
  }

  // pipe_set_size + pipe_resize_ring. Caller holds pipe->mutex.
  static long pipe_set_size(PipeInodeInfo* pipe, unsigned arg) {
    const unsigned size = round_pipe_size(arg);
    const unsigned nr_slots = size / unsigned(kPageSize);
    if (!nr_slots) return -EINVAL;
    if (nr_slots > pipe->max_usage.load(std::memory_order_relaxed) && size > kPipeMaxSize &&
        !current_host()->cap_sys_resource)
      return -EPERM;
    const unsigned head = pipe->head.load(std::memory_order_relaxed);
    const unsigned tail = pipe->tail.load(std::memory_order_relaxed);
    const unsigned n = head - tail;
    if (nr_slots < n) return -EBUSY;
    std::vector<PipeBuffer> bufs(nr_slots);
    for (unsigned i = 0; i < n; ++i) bufs[i] = std::move(pipe->slot(tail + i));
    pipe->bufs = std::move(bufs);
    pipe->ring_size = nr_slots;
    pipe->tail.store(0, std::memory_order_release);
    pipe->head.store(n, std::memory_order_release);
    pipe->max_usage.store(nr_slots, std::memory_order_release);
    // This might have made more room for writers.
    wake_up_interruptible(&pipe->wr_wait);
    return long(nr_slots * kPageSize);
  }
};

const PipeOps g_pipe_ops;

}  // namespace

long do_pipe2(int* fildes, int flags) {
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return -EINVAL;
  auto* pipe = new PipeInodeInfo;
  // create_pipe_files: O_DIRECT (packet mode) only on the write end, where pipe_write reads
  // it; F_GETFL on the read end never shows it.
  File* rf = alloc_file(&g_pipe_ops, O_RDONLY | (unsigned(flags) & O_NONBLOCK), FMODE_READ, pipe);
  File* wf = alloc_file(&g_pipe_ops, O_WRONLY | (unsigned(flags) & (O_NONBLOCK | O_DIRECT)),
                        FMODE_WRITE, pipe);
  FdTable& fdt = current_host()->fdt;
  const uint64_t nofile = rlimit_nofile();
  const bool cloexec = flags & O_CLOEXEC;
  long fd0 = fdt.install_lowest(rf, 0, nofile, cloexec);
  if (fd0 < 0) {
    fput(rf);
    fput(wf);
    return fd0;
  }
  long fd1 = fdt.install_lowest(wf, 0, nofile, cloexec);
  if (fd1 < 0 || fildes == nullptr) {
    fdt.close(unsigned(fd0));
    if (fd1 >= 0) {
      fdt.close(unsigned(fd1));
    } else {
      fput(wf);
    }
    return fd1 < 0 ? fd1 : -EFAULT;
  }
  fildes[0] = int(fd0);
  fildes[1] = int(fd1);
  return 0;
}

}  // namespace ustack::vfs
