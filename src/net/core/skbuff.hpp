// Socket buffers (include/linux/skbuff.h), reduced to what the socket layer above devices
// needs: a data block with its true size, an owner charged for it (sk_wmem_alloc), a
// destructor, the AF_UNIX control block, and the locked queue (sk_buff_head) they sit on.
//
// truesize is computed as Linux computes it on x86-64, because it is observable: it is what
// SO_SNDBUF limits, what SIOCOUTQ reports for AF_UNIX, and it decides exactly how many
// datagrams fit (E67: 278 one-byte datagrams in a default sndbuf).
//
// LOCKING: SkBuffHead::lock protects the list; qlen is written under it and read without it
// (skb_queue_len_lockless). An SkBuff on no queue belongs to whoever holds the pointer.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "base/compiler.hpp"
#include "base/limits.hpp"
#include "base/list.hpp"
#include "base/spinlock.hpp"

namespace ustack::net {

class Sock;
struct ScmFpList;

// SKB_DATA_ALIGN (SMP_CACHE_BYTES), sizeof(struct skb_shared_info) and sizeof(struct sk_buff)
// once aligned, and the small-head cache size of 6.x kernels: the pieces of truesize.
inline constexpr size_t kSmpCacheBytes = 64;
inline constexpr size_t kSkbSharedInfo = 320;
inline constexpr size_t kSkbStructSize = 256;
inline constexpr size_t kSkbSmallHead = 512;
inline constexpr size_t skb_data_align(size_t x) {
  return (x + kSmpCacheBytes - 1) & ~(kSmpCacheBytes - 1);
}
// SKB_WITH_OVERHEAD(PAGE_SIZE << order): the linear room of a head of that many pages.
inline constexpr size_t skb_max_head(unsigned order) { return (kPageSize << order) - kSkbSharedInfo; }
// The truesize of an skb with a linear head of `size` bytes plus `data_len` bytes in page
// frags: kmalloc_reserve's rounding (the small-head cache, then kmalloc's power-of-two
// buckets), plus the struct, plus the pages.
inline constexpr uint32_t skb_truesize(size_t size, size_t data_len) {
  size_t obj = skb_data_align(size) + kSkbSharedInfo;
  obj = obj <= kSkbSmallHead ? kSkbSmallHead : std::bit_ceil(obj);
  return uint32_t(obj + kSkbStructSize + data_len);
}

// UNIXCB(skb): who sent it and which files travel with it.
struct UnixSkbParms {
  pid_t pid = 0;  // 0: no credentials attached
  uid_t uid = 0;
  gid_t gid = 0;
  ScmFpList* fp = nullptr;  // SCM_RIGHTS files (owned)
  std::atomic<uint32_t> consumed{0};  // stream: bytes already read from the front
};

struct SkBuff {
  ListHead list;                       // on a SkBuffHead, under its lock
  Sock* sk = nullptr;                  // the owner charged with truesize (skb_set_owner_w)
  void (*destructor)(SkBuff*) = nullptr;
  uint32_t len = 0;                    // bytes of data
  uint32_t truesize = 0;
  UnixSkbParms unix_cb;                // UNIXCB(skb)
  int16_t cache_class = -1;            // alloc_skb's size class (-1: plain malloc)

  char* data() { return reinterpret_cast<char*>(this + 1); }
  static SkBuff* of(ListHead* l) { return USTACK_CONTAINER_OF(l, SkBuff, list); }
};

// alloc_skb: room for len bytes of data, with the given truesize; no owner yet.
SkBuff* alloc_skb(size_t len, uint32_t truesize);
// kfree_skb/consume_skb: runs the destructor (uncharges the owner, releases passed files).
void kfree_skb(SkBuff* skb);
inline void consume_skb(SkBuff* skb) {
  if (skb) kfree_skb(skb);
}

class SkBuffHead {
 public:
  SkBuffHead() = default;
  SkBuffHead(const SkBuffHead&) = delete;
  SkBuffHead& operator=(const SkBuffHead&) = delete;

  SpinLock lock;

  uint32_t len_lockless() const { return qlen_.load(std::memory_order_relaxed); }
  bool empty_lockless() const { return list_empty(&head_); }

  // --- caller holds lock ---
  void __queue_tail(SkBuff* skb) {
    list_add_tail(&skb->list, &head_);
    qlen_.store(qlen_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void __unlink(SkBuff* skb) {
    list_del_init(&skb->list);
    qlen_.store(qlen_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  SkBuff* peek() const { return list_empty(&head_) ? nullptr : SkBuff::of(head_.nx()); }
  SkBuff* peek_tail() const { return list_empty(&head_) ? nullptr : SkBuff::of(head_.pv()); }
  SkBuff* peek_next(SkBuff* skb) const {
    ListHead* n = skb->list.nx();
    return n == &head_ ? nullptr : SkBuff::of(n);
  }
  SkBuff* __dequeue() {
    SkBuff* skb = peek();
    if (skb) __unlink(skb);
    return skb;
  }
  template <class F>
  void for_each(F&& f) const {
    for (ListHead* l = head_.nx(); l != &head_; l = l->nx()) f(SkBuff::of(l));
  }

  // --- locked ---
  void queue_tail(SkBuff* skb) {
    SpinGuard g(lock);
    __queue_tail(skb);
  }
  SkBuff* dequeue() {
    SpinGuard g(lock);
    return __dequeue();
  }
  void unlink(SkBuff* skb) {
    SpinGuard g(lock);
    __unlink(skb);
  }
  // skb_queue_purge: frees every skb (outside the lock: destructors may take others).
  void purge() {
    while (SkBuff* skb = dequeue()) kfree_skb(skb);
  }

 private:
  ListHead head_;
  std::atomic<uint32_t> qlen_{0};
};

}  // namespace ustack::net
