// struct sock's generic half (net/core/sock.c, net/core/datagram.c): initialisation and
// freeing, the default callbacks, send-buffer accounting and its wait, the datagram receive
// loop, and the SOL_SOCKET options with Linux's validation and read-back values.
//
// LOCKING: see sock.hpp. Option writes take sk_lock (lock_sock) where the kernel does; the
// callbacks run with no socket lock required and take only wq.lock (via the wake-up). Two leaf
// locks of this file: each skb cache class's SpinLock (its free blocks), and g_cred_lock (the
// first read of the process's credentials; later reads are lock-free).
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "base/clock.hpp"
#include "base/trace.hpp"
#include "net/core/sock.hpp"
#include "sched/signal.hpp"
#include "sched/task.hpp"
#include "vfs/host.hpp"

namespace ustack::net {

// --- skbs ---

namespace {

// Large skbs (a stream's 36 KiB chunks, big datagrams) come from a small cache of freed blocks
// per power-of-two size class instead of malloc: freeing them in another thread than the one
// that allocated them made glibc return the pages to the kernel and fault them in again, at
// the cost of half the stream throughput. Small skbs go to malloc, whose thread caches serve
// them well.
constexpr size_t kSkbCacheMinShift = 13;  // 8 KiB
constexpr size_t kSkbCacheMaxShift = 19;  // 512 KiB
constexpr size_t kSkbCacheDepth = 16;     // blocks kept per class

struct SkbCacheClass {
  SpinLock lock;
  unsigned n = 0;
  void* blocks[kSkbCacheDepth];
};
SkbCacheClass g_skb_cache[kSkbCacheMaxShift - kSkbCacheMinShift + 1];

int skb_cache_class(size_t bytes) {
  if (bytes <= (size_t(1) << (kSkbCacheMinShift - 1))) return -1;
  const size_t shift = std::max<size_t>(kSkbCacheMinShift, std::bit_width(bytes - 1));
  if (shift > kSkbCacheMaxShift) return -1;
  return int(shift - kSkbCacheMinShift);
}

}  // namespace

SkBuff* alloc_skb(size_t len, uint32_t truesize) {
  const size_t bytes = sizeof(SkBuff) + len;
  const int cls = skb_cache_class(bytes);
  void* mem = nullptr;
  if (cls >= 0) {
    SkbCacheClass& c = g_skb_cache[cls];
    {
      SpinGuard g(c.lock);
      if (c.n) mem = c.blocks[--c.n];
    }
    if (!mem) mem = std::malloc(size_t(1) << (size_t(cls) + kSkbCacheMinShift));
  } else {
    mem = std::malloc(bytes);
  }
  USTACK_ASSERT(mem != nullptr);
  SkBuff* skb = new (mem) SkBuff;
  skb->len = uint32_t(len);
  skb->truesize = truesize;
  skb->cache_class = int16_t(cls);
  return skb;
}

void kfree_skb(SkBuff* skb) {
  USTACK_ASSERT(list_empty(&skb->list));
  if (skb->destructor) skb->destructor(skb);
  const int cls = skb->cache_class;
  skb->~SkBuff();
  if (cls >= 0) {
    SkbCacheClass& c = g_skb_cache[cls];
    SpinGuard g(c.lock);
    if (c.n < kSkbCacheDepth) {
      c.blocks[c.n++] = skb;
      return;
    }
  }
  std::free(skb);
}

void skb_set_owner_w(SkBuff* skb, Sock* sk) {
  skb->sk = sk;
  skb->destructor = sock_wfree;
  sk->sk_wmem_alloc.fetch_add(int(skb->truesize), std::memory_order_relaxed);
}

// sock_wfree: uncharge, tell the writer (keeping one count so that sk cannot be freed under
// sk_write_space), then drop that count.
void sock_wfree(SkBuff* skb) {
  Sock* sk = skb->sk;
  const int len = int(skb->truesize);
  const int old = sk->sk_wmem_alloc.fetch_sub(len - 1, std::memory_order_acq_rel);
  USTACK_ASSERT(old - (len - 1) > 0);
  sk->sk_write_space();
  if (sk->sk_wmem_alloc.fetch_sub(1, std::memory_order_acq_rel) == 1) delete sk;
}

// --- Net ---

Net* host_net(Host* h) {
  void* n = h->net_ns.load(std::memory_order_acquire);
  if (USTACK_LIKELY(n != nullptr)) return static_cast<Net*>(n);
  auto* fresh = new Net;
  void* expected = nullptr;
  if (!h->net_ns.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
    delete fresh;
    return static_cast<Net*>(expected);
  }
  h->net_ns_free = [](void* p) {
    if (p) static_cast<Net*>(p)->put();
  };
  return fresh;
}

void Net::put() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (unix_table_free) unix_table_free(unix_table);
  delete this;
}
Net* current_net() { return host_net(current_host()); }

// --- credentials ---

namespace {
Cred g_cred;
std::atomic<bool> g_cred_valid{false};
Mutex g_cred_lock;
}  // namespace

const Cred& current_cred() {
  if (USTACK_LIKELY(g_cred_valid.load(std::memory_order_acquire))) return g_cred;
  std::lock_guard g(g_cred_lock);
  if (!g_cred_valid.load(std::memory_order_relaxed)) {
    static const bool registered = [] {
      // The child of a fork has a new pid: read everything again there.
      pthread_atfork(nullptr, nullptr, [] { g_cred_valid.store(false, std::memory_order_relaxed); });
      return true;
    }();
    (void)registered;
    g_cred = {getpid(), geteuid(), getegid()};
    g_cred_valid.store(true, std::memory_order_release);
  }
  return g_cred;
}

// --- struct sock ---

Sock::~Sock() {
  USTACK_ASSERT(sk_receive_queue.empty_lockless());
  if (net) net->put();
}

// sk_free: the last reference is gone; the memory goes once no skb is charged to us.
void Sock::sk_free() {
  if (sk_wmem_alloc.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void sock_init_data(Socket* sock, Sock* sk, Net* net) {
  net->get();
  sk->net = net;
  sk->sk_sndbuf.store(kSysctlWmemDefault, std::memory_order_relaxed);
  sk->sk_rcvbuf.store(kSysctlRmemDefault, std::memory_order_relaxed);
  sk->sk_state.store(TCP_CLOSE, std::memory_order_relaxed);
  if (sock) {
    sk->sk_type = sock->type;
    sock->sk = sk;
    sk->sk_socket = sock;
  }
}

void sock_orphan(Sock* sk) {
  sk->set_flag(SOCK_DEAD);
  sk->sk_socket = nullptr;
}

void init_peercred(Sock* sk) {
  SpinGuard g(sk->peer_lock);
  sk->peer_cred_set = true;
  const Cred& c = current_cred();
  sk->peer_pid = c.pid;
  sk->peer_uid = c.uid;
  sk->peer_gid = c.gid;
}

void copy_peercred(Sock* sk, Sock* other) {
  pid_t pid;
  uid_t uid;
  gid_t gid;
  bool set;
  {
    SpinGuard g(other->peer_lock);
    set = other->peer_cred_set;
    pid = other->peer_pid;
    uid = other->peer_uid;
    gid = other->peer_gid;
  }
  SpinGuard g(sk->peer_lock);
  sk->peer_cred_set = set;
  sk->peer_pid = pid;
  sk->peer_uid = uid;
  sk->peer_gid = gid;
}

// sock_def_readable: a keyed, synchronous wake-up of readers (the seeds' hop from a send to
// ep_poll_callback / pollwake / a blocked recv).
void Sock::sk_data_ready() {
  USTACK_TRACE("sock_def_readable", uintptr_t(this), 0);
  if (wq_has_sleeper(&wq))
    wake_up_interruptible_sync_poll(&wq, POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND);
}

// sock_def_write_space: writable once at most half of sndbuf is charged (the raw count, the
// socket's own reference included, as the kernel's refcount_read).
void Sock::sk_write_space() {
  if ((sk_wmem_alloc.load(std::memory_order_relaxed) << 1) <= sk_sndbuf.load(std::memory_order_relaxed)) {
    if (wq_has_sleeper(&wq)) wake_up_interruptible_sync_poll(&wq, POLLOUT | POLLWRNORM | POLLWRBAND);
  }
}

// sock_def_wakeup.
void Sock::sk_state_change() {
  if (wq_has_sleeper(&wq)) wake_up_interruptible_all(&wq);
}

// sock_def_error_report.
void Sock::sk_error_report() {
  if (wq_has_sleeper(&wq)) wake_up_interruptible_poll(&wq, POLLERR);
}

// --- timeouts ---

int64_t sock_timeo_deadline(long jiffies) {
  if (jiffies == kMaxScheduleTimeout) return kNoDeadline;
  if (jiffies == 0) return kTimeoNone;
  return deadline_after(sched::now_ns(), jiffies / kHz, (jiffies % kHz) * kNsecPerJiffy);
}

int sock_intr_errno(int64_t timeo) {
  return timeo == kNoDeadline ? -sched::ERESTARTSYS : -EINTR;
}

int64_t sock_schedule_timeout(Sock* sk, int64_t timeo, const char* wchan) {
  if (timeo == kTimeoNone) return kTimeoNone;
  const int64_t busy = int64_t(sk->sk_ll_usec.load(std::memory_order_relaxed)) * 1000;
  return sched::schedule_timeout(timeo, busy, wchan) ? timeo : kTimeoNone;
}

void send_sigpipe() { pthread_kill(pthread_self(), SIGPIPE); }

// --- send buffer ---

namespace {

// sock_wait_for_wmem: sleeps until sndbuf has room, shutdown, an error, a signal or timeout.
int64_t sock_wait_for_wmem(Sock* sk, int64_t timeo) {
  WaitQueueEntry wait;
  init_wait_entry(&wait, 0);
  for (;;) {
    if (timeo == kTimeoNone) break;
    if (sched::signal_pending(sched::current())) break;
    prepare_to_wait(&sk->wq, &wait, sched::TASK_INTERRUPTIBLE);
    if (sk->sk_wmem_alloc.load(std::memory_order_relaxed) < sk->sk_sndbuf.load(std::memory_order_relaxed))
      break;
    if (sk->sk_shutdown.load(std::memory_order_relaxed) & SEND_SHUTDOWN) break;
    if (sk->sk_err.load(std::memory_order_relaxed)) break;
    timeo = sock_schedule_timeout(sk, timeo);
  }
  finish_wait(&sk->wq, &wait);
  return timeo;
}

}  // namespace

SkBuff* sock_alloc_send_pskb(Sock* sk, size_t header_len, size_t data_len, bool noblock, int* err) {
  int64_t timeo = sock_sndtimeo(sk, noblock);
  for (;;) {
    int e = sock_error(sk);
    if (e != 0) {
      *err = e;
      return nullptr;
    }
    if (sk->sk_shutdown.load(std::memory_order_relaxed) & SEND_SHUTDOWN) {
      *err = -EPIPE;
      return nullptr;
    }
    if (sk->wmem_alloc_get() < sk->sk_sndbuf.load(std::memory_order_relaxed)) break;
    if (timeo == kTimeoNone) {
      *err = -EAGAIN;
      return nullptr;
    }
    if (sched::signal_pending(sched::current())) {
      *err = sock_intr_errno(timeo);
      return nullptr;
    }
    timeo = sock_wait_for_wmem(sk, timeo);
  }
  SkBuff* skb = alloc_skb(header_len + data_len, skb_truesize(header_len, data_len));
  skb_set_owner_w(skb, sk);
  return skb;
}

// --- datagram receive (net/core/datagram.c) ---

int receiver_wake_function(WaitQueueEntry* wait, unsigned mode, int sync, void* key) {
  if (key && !(key_to_poll(key) & (POLLIN | POLLERR))) return 0;
  return autoremove_wake_function(wait, mode, sync, key);
}

SkBuff* __skb_try_recv_datagram(Sock* sk, SkBuffHead* queue, unsigned flags, int* err,
                                SkBuff** last) {
  int error = sock_error(sk);
  if (error) {
    *err = error;
    return nullptr;
  }
  {
    SpinGuard g(queue->lock);
    *last = queue->peek_tail();
    SkBuff* skb = queue->peek();
    if (skb) {
      if (!(flags & MSG_PEEK)) queue->__unlink(skb);
      return skb;
    }
  }
  *err = -EAGAIN;
  return nullptr;
}

int __skb_wait_for_more_packets(Sock* sk, SkBuffHead* queue, int* err, int64_t* timeo,
                                const SkBuff* skb) {
  WaitQueueEntry wait;
  init_waitqueue_func_entry(&wait, receiver_wake_function);
  wait.private_ = sched::current();
  int error;
  prepare_to_wait_exclusive(&sk->wq, &wait, sched::TASK_INTERRUPTIBLE);
  error = sock_error(sk);
  if (error) goto out_err;
  {
    SpinGuard g(queue->lock);
    if (queue->peek_tail() != skb) goto out_locked;
  }
  if (sk->sk_shutdown.load(std::memory_order_relaxed) & RCV_SHUTDOWN) goto out_noerr;
  // Sequenced packets can come disconnected: report it.
  error = -ENOTCONN;
  if ((sk->sk_type == SOCK_STREAM || sk->sk_type == SOCK_SEQPACKET) &&
      !(sk->sk_state.load(std::memory_order_relaxed) == TCP_ESTABLISHED ||
        sk->sk_state.load(std::memory_order_relaxed) == TCP_LISTEN))
    goto out_err;
  if (sched::signal_pending(sched::current())) {
    error = sock_intr_errno(*timeo);
    goto out_err;
  }
  error = 0;
  *timeo = sock_schedule_timeout(sk, *timeo);
out:
  finish_wait(&sk->wq, &wait);
  return error;
out_locked:
  error = 0;
  goto out;
out_err:
  *err = error;
  goto out;
out_noerr:
  *err = 0;
  error = 1;
  goto out;
}

SkBuff* skb_recv_datagram(Sock* sk, unsigned flags, int* err) {
  int64_t timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT);
  SkBuff* last;
  do {
    SkBuff* skb = __skb_try_recv_datagram(sk, &sk->sk_receive_queue, flags, err, &last);
    if (skb) return skb;
    if (*err != -EAGAIN) break;
  } while (timeo != kTimeoNone &&
           !__skb_wait_for_more_packets(sk, &sk->sk_receive_queue, err, &timeo, last));
  return nullptr;
}

// --- SOL_SOCKET options ---

namespace {

int sock_set_timeout(std::atomic<long>* timeo_p, const void* optval, int optlen) {
  if (optlen < int(sizeof(struct timeval))) return -EINVAL;
  if (optval == nullptr) return -EFAULT;
  struct timeval tv;
  std::memcpy(&tv, optval, sizeof tv);
  if (tv.tv_usec < 0 || tv.tv_usec >= 1000000) return -EDOM;
  if (tv.tv_sec < 0) {
    timeo_p->store(0, std::memory_order_relaxed);
    return 0;
  }
  long val = kMaxScheduleTimeout;
  if ((tv.tv_sec || tv.tv_usec) && tv.tv_sec < kMaxScheduleTimeout / kHz - 1)
    val = long(tv.tv_sec) * kHz + long((tv.tv_usec + (1000000 / kHz) - 1) / (1000000 / kHz));
  timeo_p->store(val, std::memory_order_relaxed);
  return 0;
}

struct timeval sock_get_timeout(long timeo) {
  struct timeval tv;
  if (timeo == kMaxScheduleTimeout) {
    tv.tv_sec = 0;
    tv.tv_usec = 0;
  } else {
    tv.tv_sec = timeo / kHz;
    tv.tv_usec = ((timeo % kHz) * 1000000) / kHz;
  }
  return tv;
}

}  // namespace

int sock_setsockopt(Socket* sock, int optname, const void* optval, int optlen) {
  Sock* sk = sock->sk;
  if (optlen < int(sizeof(int))) return -EINVAL;
  if (optval == nullptr) return -EFAULT;
  int val;
  std::memcpy(&val, optval, sizeof val);
  const bool valbool = val != 0;
  switch (optname) {  // options that need no lock
    case SO_TYPE:
    case SO_PROTOCOL:
    case SO_DOMAIN:
    case SO_ERROR:
      return -ENOPROTOOPT;
    default:
      break;
  }
  std::lock_guard g(sk->sk_lock);
  int ret = 0;
  switch (optname) {
    case SO_DEBUG:
      if (val && !current_host()->cap_net_admin) {
        ret = -EACCES;
      } else {
        sk->valbool_flag(SOCK_DBG, valbool);
      }
      break;
    case SO_REUSEADDR:
      sk->sk_reuse.store(valbool ? 1 : 0, std::memory_order_relaxed);
      break;
    case SO_BROADCAST:
      sk->valbool_flag(SOCK_BROADCAST, valbool);
      break;
    case SO_SNDBUF: {
      // RCVBUF/SNDBUF are hints: no error, clamp to the sysctl (a negative value is taken
      // as unsigned, i.e. huge), double, and keep at least the minimum.
      unsigned u = std::min(unsigned(val), unsigned(kSysctlWmemMax));
      int v = std::min(int(u), INT_MAX / 2);
      sk->sk_sndbuf.store(std::max(v * 2, kSockMinSndbuf), std::memory_order_relaxed);
      sk->sk_write_space();  // wake senders if we upped the value
      break;
    }
    case SO_RCVBUF: {
      unsigned u = std::min(unsigned(val), unsigned(kSysctlRmemMax));
      int v = std::min(int(u), INT_MAX / 2);
      sk->sk_rcvbuf.store(std::max(v * 2, kSockMinRcvbuf), std::memory_order_relaxed);
      break;
    }
    case SO_KEEPALIVE:
      sk->valbool_flag(SOCK_KEEPOPEN, valbool);
      break;
    case SO_OOBINLINE:
      sk->valbool_flag(SOCK_URGINLINE, valbool);
      break;
    case SO_LINGER: {
      if (optlen < int(sizeof(struct linger))) {
        ret = -EINVAL;
        break;
      }
      struct linger ling;
      std::memcpy(&ling, optval, sizeof ling);
      if (!ling.l_onoff) {
        sk->reset_flag(SOCK_LINGER);
      } else {
        const unsigned long t_sec = static_cast<unsigned long>(static_cast<long>(ling.l_linger));
        sk->sk_lingertime.store(t_sec >= static_cast<unsigned long>(kMaxScheduleTimeout / kHz)
                                    ? kMaxScheduleTimeout
                                    : long(t_sec) * kHz,
                                std::memory_order_relaxed);
        sk->set_flag(SOCK_LINGER);
      }
      break;
    }
    case SO_PASSCRED:
      sk->valbool_flag(SOCK_PASSCRED, valbool);
      break;
    case SO_RCVLOWAT:
      if (val < 0) val = INT_MAX;
      sk->sk_rcvlowat.store(val ? val : 1, std::memory_order_relaxed);
      break;
    case SO_RCVTIMEO_OLD:
      ret = sock_set_timeout(&sk->sk_rcvtimeo, optval, optlen);
      break;
    case SO_SNDTIMEO_OLD:
      ret = sock_set_timeout(&sk->sk_sndtimeo, optval, optlen);
      break;
    case SO_BUSY_POLL:
      // Unprivileged users may only lower it.
      if (unsigned(val) > sk->sk_ll_usec.load(std::memory_order_relaxed) &&
          !current_host()->cap_net_admin) {
        ret = -EPERM;
      } else if (val < 0) {
        ret = -EINVAL;
      } else {
        sk->sk_ll_usec.store(unsigned(val), std::memory_order_relaxed);
      }
      break;
    default:
      ret = -ENOPROTOOPT;
      break;
  }
  return ret;
}

int sock_getsockopt(Socket* sock, int optname, void* optval, socklen_t* optlen) {
  Sock* sk = sock->sk;
  if (optlen == nullptr) return -EFAULT;
  int len = int(*optlen);
  if (len < 0) return -EINVAL;
  union {
    int val;
    struct linger ling;
    struct timeval tm;
    struct ucred cred;
  } v;
  std::memset(&v, 0, sizeof v);
  int lv = sizeof(int);
  switch (optname) {
    case SO_DEBUG:
      v.val = sk->flag(SOCK_DBG);
      break;
    case SO_BROADCAST:
      v.val = sk->flag(SOCK_BROADCAST);
      break;
    case SO_SNDBUF:
      v.val = sk->sk_sndbuf.load(std::memory_order_relaxed);
      break;
    case SO_RCVBUF:
      v.val = sk->sk_rcvbuf.load(std::memory_order_relaxed);
      break;
    case SO_REUSEADDR:
      v.val = sk->sk_reuse.load(std::memory_order_relaxed);
      break;
    case SO_KEEPALIVE:
      v.val = sk->flag(SOCK_KEEPOPEN);
      break;
    case SO_TYPE:
      v.val = sk->sk_type;
      break;
    case SO_PROTOCOL:
      v.val = sk->sk_protocol;
      break;
    case SO_DOMAIN:
      v.val = sk->sk_family;
      break;
    case SO_ERROR:
      v.val = -sock_error(sk);
      if (v.val == 0) v.val = sk->sk_err_soft.exchange(0);
      break;
    case SO_OOBINLINE:
      v.val = sk->flag(SOCK_URGINLINE);
      break;
    case SO_LINGER:
      lv = sizeof(v.ling);
      v.ling.l_onoff = sk->flag(SOCK_LINGER);
      v.ling.l_linger = int(sk->sk_lingertime.load(std::memory_order_relaxed) / kHz);
      break;
    case SO_RCVTIMEO_OLD:
      lv = sizeof(v.tm);
      v.tm = sock_get_timeout(sk->sk_rcvtimeo.load(std::memory_order_relaxed));
      break;
    case SO_SNDTIMEO_OLD:
      lv = sizeof(v.tm);
      v.tm = sock_get_timeout(sk->sk_sndtimeo.load(std::memory_order_relaxed));
      break;
    case SO_RCVLOWAT:
      v.val = sk->sk_rcvlowat.load(std::memory_order_relaxed);
      break;
    case SO_SNDLOWAT:
      v.val = 1;
      break;
    case SO_PASSCRED:
      v.val = sk->flag(SOCK_PASSCRED);
      break;
    case SO_PEERCRED: {
      lv = sizeof(v.cred);
      SpinGuard g(sk->peer_lock);
      if (sk->peer_cred_set) {
        v.cred.pid = sk->peer_pid;
        v.cred.uid = sk->peer_uid;
        v.cred.gid = sk->peer_gid;
      } else {
        v.cred.pid = 0;
        v.cred.uid = uid_t(-1);
        v.cred.gid = gid_t(-1);
      }
      break;
    }
    case SO_ACCEPTCONN:
      v.val = sk->sk_state.load(std::memory_order_relaxed) == TCP_LISTEN;
      break;
    case SO_BUSY_POLL:
      v.val = int(sk->sk_ll_usec.load(std::memory_order_relaxed));
      break;
    default:
      // SO_SNDLOWAT and friends are not settable (1003.1g 7); the rest are unknown.
      return -ENOPROTOOPT;
  }
  if (len > lv) len = lv;
  if (len > 0) {
    if (optval == nullptr) return -EFAULT;
    std::memcpy(optval, &v, size_t(len));
  }
  *optlen = socklen_t(len);
  return 0;
}

}  // namespace ustack::net
