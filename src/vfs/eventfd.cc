// eventfd (fs/eventfd.c): a 64-bit counter with a wait queue.
//
// LOCKING: EventfdCtx::wqh.lock protects count_ and the waiters; it is the object lock, as in
// the kernel (wake_up_locked_poll runs under it). poll() reads count_ without it: poll_wait
// took the lock when registering, which orders the read after any earlier update (F12).
#include <sys/eventfd.h>

#include <cerrno>
#include <climits>
#include <cstdio>

#include "base/trace.hpp"
#include "vfs/host.hpp"
#include "vfs/vfs.hpp"

namespace ustack::vfs {

namespace {

struct EventfdCtx {
  WaitQueueHead wqh;
  std::atomic<uint64_t> count{0};  // written under wqh.lock; atomic for poll's lock-free read
  unsigned flags;                  // EFD_SEMAPHORE | shared fcntl flags, fixed at creation
};

constexpr uint64_t kUllongMax = ULLONG_MAX;

class EventfdOps final : public FileOps {
 public:
  // Linux's eventfd has ->read_iter and ->write; ->read (the same logic, flat) is ours, for a
  // read(2) without an iov_iter: vfs_read prefers it, readv still goes through ->read_iter.
  constexpr EventfdOps() : FileOps(kRead | kReadIter | kWrite | kPoll) {}
  const char* name() const override { return "eventfd"; }

  __poll_t poll(File* file, PollTable* wait) const override {
    auto* ctx = static_cast<EventfdCtx*>(file->private_data);
    poll_wait(file, &ctx->wqh, wait);
    const uint64_t count = ctx->count.load(std::memory_order_acquire);
    __poll_t events = 0;
    if (count > 0) events |= POLLIN;
    if (count == kUllongMax) events |= POLLERR;
    if (kUllongMax - 1 > count) events |= POLLOUT;
    return events;
  }

  ssize_t read_iter(File* file, IovIter& to) const override {
    if (to.count() < sizeof(uint64_t)) return -EINVAL;
    uint64_t ucnt = 0;
    if (long ret = do_read(file, &ucnt); ret < 0) return ret;
    // As in Linux, the count is consumed even if the copy then faults.
    if (to.copy_to(&ucnt, sizeof ucnt) != sizeof ucnt) return -EFAULT;
    return sizeof ucnt;
  }

  ssize_t read(File* file, void* buf, size_t count) const override {
    if (count < sizeof(uint64_t)) return -EINVAL;
    uint64_t ucnt = 0;
    if (long ret = do_read(file, &ucnt); ret < 0) return ret;
    if (buf == nullptr) return -EFAULT;  // consumed all the same, as above
    std::memcpy(buf, &ucnt, sizeof ucnt);
    return sizeof ucnt;
  }


  ssize_t write(File* file, const void* buf, size_t count) const override {
    auto* ctx = static_cast<EventfdCtx*>(file->private_data);
    if (count != sizeof(uint64_t)) return -EINVAL;  // exactly 8 since 6.9 (D4)
    if (buf == nullptr) return -EFAULT;
    uint64_t ucnt = 0;
    std::memcpy(&ucnt, buf, sizeof ucnt);
    if (ucnt == kUllongMax) return -EINVAL;
    SpinGuard g(ctx->wqh.lock);
    ssize_t res = -EAGAIN;
    if (kUllongMax - ctx->count.load(std::memory_order_relaxed) > ucnt) {
      res = sizeof ucnt;
    } else if (!file->nonblock()) {
      res = wait_event_interruptible_locked(
          &ctx->wqh,
          [ctx, ucnt] { return kUllongMax - ctx->count.load(std::memory_order_relaxed) > ucnt; },
          busy_poll_ns(), "eventfd_write");
      if (!res) res = sizeof ucnt;
    }
    if (res > 0) {
      ctx->count.store(ctx->count.load(std::memory_order_relaxed) + ucnt,
                       std::memory_order_release);
      USTACK_TRACE("eventfd_write", ucnt, 0);
      if (ctx->wqh.active()) wake_up_locked_poll(&ctx->wqh, POLLIN);
    }
    return res;
  }

  void show_fdinfo(File* file, std::string& out) const override {
    auto* ctx = static_cast<EventfdCtx*>(file->private_data);
    char buf[96];
    std::snprintf(buf, sizeof buf, "eventfd-count: %16llx\neventfd-semaphore: %d\n",
                  (unsigned long long)ctx->count.load(std::memory_order_relaxed),
                  (ctx->flags & EFD_SEMAPHORE) ? 1 : 0);
    out += buf;
  }

  void release(File* file) const override {
    auto* ctx = static_cast<EventfdCtx*>(file->private_data);
    wake_up_poll(&ctx->wqh, POLLHUP);
    delete ctx;
  }

 private:
  // eventfd_read's body: wait for a count (unless non-blocking), take it (all, or 1 in
  // semaphore mode) and wake POLLOUT watchers. 0, -EAGAIN or -ERESTARTSYS.
  static long do_read(File* file, uint64_t* ucnt) {
    auto* ctx = static_cast<EventfdCtx*>(file->private_data);
    SpinGuard g(ctx->wqh.lock);
    if (ctx->count.load(std::memory_order_relaxed) == 0) {
      if (file->nonblock()) return -EAGAIN;
      long ret = wait_event_interruptible_locked(
          &ctx->wqh, [ctx] { return ctx->count.load(std::memory_order_relaxed) != 0; },
          busy_poll_ns(), "eventfd_read");
      if (ret) return ret;
    }
    // eventfd_ctx_do_read.
    const uint64_t c = ctx->count.load(std::memory_order_relaxed);
    *ucnt = (ctx->flags & EFD_SEMAPHORE) ? 1 : c;
    ctx->count.store(c - *ucnt, std::memory_order_release);
    if (ctx->wqh.active()) wake_up_locked_poll(&ctx->wqh, POLLOUT);
    return 0;
  }

  static int64_t busy_poll_ns() {
    return current_host()->busy_poll_ns.load(std::memory_order_relaxed);
  }
};

const EventfdOps g_eventfd_ops;

}  // namespace

long do_eventfd(unsigned int count, int flags) {
  constexpr int kEfdSharedFcntlFlags = O_CLOEXEC | O_NONBLOCK;
  constexpr int kEfdFlagsSet = kEfdSharedFcntlFlags | EFD_SEMAPHORE;
  if (flags & ~kEfdFlagsSet) return -EINVAL;
  auto* ctx = new EventfdCtx;
  ctx->count.store(count, std::memory_order_relaxed);
  ctx->flags = unsigned(flags);
  File* f = alloc_file(&g_eventfd_ops, O_RDWR | (flags & O_NONBLOCK), FMODE_READ | FMODE_WRITE, ctx);
  long fd = current_host()->fdt.install_lowest(f, 0, rlimit_nofile(), flags & O_CLOEXEC);
  if (fd < 0) fput(f);
  return fd;
}

}  // namespace ustack::vfs
