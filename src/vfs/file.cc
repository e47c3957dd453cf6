// The File pool, fput, and iov_iter copies (fs/file_table.c, lib/iov_iter.c).
//
// LOCKING: g_pool_lock protects the free list. Pool memory is never returned to the allocator
// (type-stable, see file.hpp).
#include "vfs/file.hpp"

#include <mutex>

#include <sched.h>
#include <vector>

#include "base/spinlock.hpp"

namespace ustack {

namespace {

// Files are carved from slabs of kFilesPerSlab and recycled through a free list.
constexpr size_t kFilesPerSlab = 256;

SpinLock g_pool_lock;
std::vector<File*>* g_free = nullptr;  // under g_pool_lock

File* pool_alloc() {
  SpinGuard g(g_pool_lock);
  if (g_free == nullptr) g_free = new std::vector<File*>();
  if (g_free->empty()) {
    File* slab = new File[kFilesPerSlab];
    for (size_t i = kFilesPerSlab; i-- > 0;) g_free->push_back(&slab[i]);
  }
  File* f = g_free->back();
  g_free->pop_back();
  return f;
}

void pool_free(File* f) {
  SpinGuard g(g_pool_lock);
  g_free->push_back(f);
}

}  // namespace

File* alloc_file(const FileOps* ops, unsigned flags, unsigned mode, void* private_data) {
  File* f = pool_alloc();
  USTACK_ASSERT(f->f_count.load(std::memory_order_relaxed) == 0);
  f->f_op = ops;
  f->f_flags.store(flags, std::memory_order_relaxed);
  f->f_mode = mode;
  f->private_data = private_data;
  f->f_owner_pid.store(0, std::memory_order_relaxed);
  f->f_owner_signum.store(0, std::memory_order_relaxed);
  // Published last: a racing fget() that still holds this File's old address may take a
  // reference only once it is a valid file again, and then finds its fd slot changed.
  f->f_count.store(1, std::memory_order_release);
  return f;
}

namespace file_rcu {

std::atomic<long> g_readers[2];
std::atomic<unsigned> g_epoch{0};
__thread unsigned tls_depth = 0;

namespace {
std::mutex g_sync_lock;
thread_local std::vector<File*>* tls_deferred = nullptr;  // releases owed by this thread
}  // namespace

void synchronize() {
  // The File is unreachable from every fd slot by now (its last reference is gone); a reader
  // that could still see it bumped a counter before loading the slot.
  if (g_readers[0].load(std::memory_order_seq_cst) == 0 &&
      g_readers[1].load(std::memory_order_seq_cst) == 0)
    return;
  std::lock_guard g(g_sync_lock);
  // Two flips, each waiting for the side it retires: a reader that read the epoch before the
  // first flip but bumped its counter after the first wait drained is caught by the second
  // (SRCU's grace period).
  for (int flip = 0; flip < 2; ++flip) {
    const unsigned old = g_epoch.fetch_add(1, std::memory_order_seq_cst) & 1;
    for (unsigned spins = 0; g_readers[old].load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 64) {
        __builtin_ia32_pause();
      } else {
        sched_yield();
      }
    }
  }
}

void flush_deferred() {
  std::vector<File*>* d = tls_deferred;
  if (d == nullptr || d->empty()) return;
  tls_deferred = nullptr;
  for (File* f : *d) f->__fput();
  delete d;
}

}  // namespace file_rcu

void File::put() {
  long old = f_count.fetch_sub(1, std::memory_order_acq_rel);
  USTACK_ASSERT(old > 0);
  if (old != 1) return;
  if (file_rcu::tls_depth != 0) {
    // Inside a read section on this very thread (a signal handler closing an fd mid-scan):
    // waiting for readers would wait for ourselves.
    if (file_rcu::tls_deferred == nullptr) file_rcu::tls_deferred = new std::vector<File*>();
    file_rcu::tls_deferred->push_back(this);
    return;
  }
  __fput();
}

void File::__fput() {
  file_rcu::synchronize();
  if (!list_empty(&f_ep)) eventpoll_release_file(this);
  USTACK_ASSERT(list_empty(&f_ep));
  f_op->release(this);
  f_op = nullptr;
  private_data = nullptr;
  pool_free(this);
}

template <bool kToUser>
size_t IovIter::copy(void* kbuf, size_t n) {
  size_t done = 0;
  char* k = static_cast<char*>(kbuf);
  while (done < n && count_ > 0 && seg_ < nr_segs_) {
    const struct iovec& v = iov_[seg_];
    size_t avail = v.iov_len - off_;
    if (avail == 0) {
      ++seg_;
      off_ = 0;
      continue;
    }
    if (v.iov_base == nullptr) break;  // a fault: stop short
    size_t chunk = std::min(avail, n - done);
    char* u = static_cast<char*>(v.iov_base) + off_;
    if (kToUser) {
      std::memcpy(u, k + done, chunk);
    } else {
      std::memcpy(k + done, u, chunk);
    }
    done += chunk;
    off_ += chunk;
    count_ -= chunk;
  }
  return done;
}

size_t IovIter::copy_to(const void* src, size_t n) {
  return copy<true>(const_cast<void*>(src), n);
}
size_t IovIter::copy_from(void* dst, size_t n) { return copy<false>(dst, n); }

}  // namespace ustack
