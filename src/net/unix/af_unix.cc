// AF_UNIX: SOCK_STREAM, SOCK_DGRAM and SOCK_SEQPACKET (net/unix/af_unix.c), function by
// function as the kernel has them: unix_create, bind (pathname, abstract, autobind), the
// synchronous stream connect through an embryo sock queued on the listener, accept, the dgram
// queue limit with the peer_wait relay (unix_dgram_peer_wake_*), poll masks, stream and
// datagram send and receive, MSG_OOB, SCM_RIGHTS/SCM_CREDENTIALS, shutdown mirrored to the
// peer, and release with ECONNRESET for a peer that had unread data.
//
// LOCKING: see af_unix.hpp.
#include "net/unix/af_unix.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <random>

#include "base/trace.hpp"
#include "sched/signal.hpp"
#include "sched/task.hpp"
#include "vfs/host.hpp"

namespace ustack::net {

namespace {

constexpr int kSunPathOff = offsetof(struct sockaddr_un, sun_path);
// UNIX_SKB_FRAGS_SZ: how much of a stream skb goes into page frags.
constexpr size_t kUnixSkbFragsSz = 32768;
// SKB_MAX_ALLOC: a datagram's linear part before frags (SKB_MAX_ORDER(0, 2)).
constexpr size_t kSkbMaxAlloc = (kPageSize << 2) - kSkbSharedInfo;
constexpr size_t kMaxSkbFrags = 17;

size_t page_align(size_t x) { return (x + kPageSize - 1) & ~(kPageSize - 1); }

// --- the name table ---

void unix_table_free(void* p) { delete static_cast<UnixTable*>(p); }

// unix_state_double_lock: two socks in address order.
void unix_state_double_lock(UnixSock* a, UnixSock* b) {
  if (b == nullptr || a == b) {
    a->lock.lock();
    return;
  }
  if (a < b) {
    a->lock.lock();
    b->lock.lock();
  } else {
    b->lock.lock();
    a->lock.lock();
  }
}
void unix_state_double_unlock(UnixSock* a, UnixSock* b) {
  if (b == nullptr || a == b) {
    a->lock.unlock();
    return;
  }
  a->lock.unlock();
  b->lock.unlock();
}

// unix_peer_get: the peer with a reference.
UnixSock* unix_peer_get(UnixSock* s) {
  SpinGuard g(s->lock);
  UnixSock* p = s->peer.load(std::memory_order_relaxed);
  if (p) p->hold();
  return p;
}

bool unix_recvq_full_lockless(Sock* sk) {
  return sk->sk_receive_queue.len_lockless() >
         unsigned(sk->sk_max_ack_backlog.load(std::memory_order_relaxed));
}

// unix_writable: at most a quarter of sndbuf charged, and not a listener. The count is the
// raw sk_wmem_alloc, the socket's own reference included (refcount_read in the kernel).
bool unix_writable(Sock* sk, int state) {
  return state != TCP_LISTEN && (sk->sk_wmem_alloc.load(std::memory_order_relaxed) << 2) <=
                                    sk->sk_sndbuf.load(std::memory_order_relaxed);
}

// unix_may_send: osk is not connected, or connected to us.
bool unix_may_send(Sock* sk, Sock* osk) {
  UnixSock* p = unix_peer(osk);
  return p == nullptr || p == sk;
}

// --- the peer_wait relay (unix_dgram_peer_wake_*) ---

int unix_dgram_peer_wake_relay(WaitQueueEntry* q, unsigned /*mode*/, int /*sync*/, void* key) {
  UnixSock* u = USTACK_CONTAINER_OF(q, UnixSock::PeerWake, entry)->owner;
  UnixSock* other = static_cast<UnixSock*>(q->private_);
  other->peer_wait.__remove(q);
  q->private_ = nullptr;
  wake_up_interruptible_poll(&u->wq, key_to_poll(key));
  return 0;
}

bool unix_dgram_peer_wake_connect(UnixSock* u, UnixSock* other) {
  SpinGuard g(other->peer_wait.lock);
  if (u->peer_wake.entry.private_ == nullptr) {
    u->peer_wake.entry.private_ = other;
    other->peer_wait.__add(&u->peer_wake.entry);
    return true;
  }
  return false;
}

void unix_dgram_peer_wake_disconnect(UnixSock* u, UnixSock* other) {
  SpinGuard g(other->peer_wait.lock);
  if (u->peer_wake.entry.private_ == other) {
    other->peer_wait.__remove(&u->peer_wake.entry);
    u->peer_wake.entry.private_ = nullptr;
  }
}

void unix_dgram_peer_wake_disconnect_wakeup(UnixSock* u, UnixSock* other) {
  unix_dgram_peer_wake_disconnect(u, other);
  wake_up_interruptible_poll(&u->wq, POLLOUT | POLLWRNORM | POLLWRBAND);
}

// 1 if the sender must wait (the receiver is full and alive); hooks the relay meanwhile.
int unix_dgram_peer_wake_me(UnixSock* u, UnixSock* other) {
  const bool connected = unix_dgram_peer_wake_connect(u, other);
  // A dead receiver reports POLLOUT, so that the next write gets ECONNREFUSED.
  if (unix_recvq_full_lockless(other) && !other->flag(SOCK_DEAD)) return 1;
  if (connected) unix_dgram_peer_wake_disconnect(u, other);
  return 0;
}

// unix_dgram_disconnected: our queue is purged; a peer connected back learns ECONNRESET.
void unix_dgram_disconnected(UnixSock* sk, UnixSock* other) {
  if (!sk->sk_receive_queue.empty_lockless()) {
    sk->sk_receive_queue.purge();
    wake_up_interruptible_all(&sk->peer_wait);
    if (!other->flag(SOCK_DEAD) && unix_peer(other) == sk) {
      other->sk_err.store(ECONNRESET, std::memory_order_relaxed);
      other->sk_error_report();
    }
  }
}

// --- skb destructor: passed files and the sender's charge (unix_destruct_scm) ---

void unix_destruct_scm(SkBuff* skb) {
  if (ScmFpList* fp = skb->unix_cb.fp) {
    skb->unix_cb.fp = nullptr;
    for (int i = 0; i < fp->count; ++i) unix_notinflight(fp->fp[i]);
    for (int i = 0; i < fp->count; ++i) fput(fp->fp[i]);
    delete fp;
  }
  sock_wfree(skb);
}

// unix_scm_to_skb: credentials and (when send_fds) the files travel with the skb.
int unix_scm_to_skb(ScmCookie* scm, SkBuff* skb, bool send_fds) {
  skb->unix_cb.pid = scm->pid;
  skb->unix_cb.uid = scm->uid;
  skb->unix_cb.gid = scm->gid;
  if (send_fds && scm->fp) {
    skb->unix_cb.fp = scm->fp;
    scm->fp = nullptr;
    for (int i = 0; i < skb->unix_cb.fp->count; ++i) unix_inflight(skb->unix_cb.fp->fp[i]);
  }
  skb->destructor = unix_destruct_scm;
  return 0;
}

void scm_stat_add(UnixSock* other, SkBuff* skb) {
  if (skb->unix_cb.fp) other->scm_stat_nr_fds.fetch_add(skb->unix_cb.fp->count);
}
void scm_stat_del(UnixSock* sk, SkBuff* skb) {
  if (skb->unix_cb.fp) sk->scm_stat_nr_fds.fetch_sub(skb->unix_cb.fp->count);
}

// unix_detach_fds / unix_peek_fds: the receiver's cookie takes the files (a peek, copies).
void unix_detach_fds(ScmCookie* scm, SkBuff* skb) {
  ScmFpList* fp = skb->unix_cb.fp;
  skb->unix_cb.fp = nullptr;
  for (int i = 0; i < fp->count; ++i) unix_notinflight(fp->fp[i]);
  scm->fp = fp;
}
void unix_peek_fds(ScmCookie* scm, SkBuff* skb) {
  // The new references must not appear while the collector counts (CVE-2021-0920): wait for
  // a collection in progress to end.
  unix_gc_barrier();
  auto* fp = new ScmFpList;
  fp->count = skb->unix_cb.fp->count;
  for (int i = 0; i < fp->count; ++i) {
    fp->fp[i] = skb->unix_cb.fp->fp[i];
    fp->fp[i]->get();
  }
  scm->fp = fp;
}

// scm_recv_unix: credentials (if the receiver asked) then files, into the control buffer.
void scm_recv_unix(Socket* sock, KMsgHdr* msg, ScmCookie* scm, unsigned /*flags*/) {
  Sock* sk = sock->sk;
  const bool passcred = sk->flag(SOCK_PASSCRED);
  if (msg->msg_control == nullptr) {
    if (passcred || scm->fp) msg->msg_flags |= MSG_CTRUNC;
    return;
  }
  if (passcred) {
    struct ucred uc = {scm->pid, scm->uid, scm->gid};
    put_cmsg(msg, SOL_SOCKET, SCM_CREDENTIALS, sizeof uc, &uc);
  }
  if (scm->fp) scm_detach_fds(msg, scm);
}

// maybe_add_creds: the sender's credentials when either side has SO_PASSCRED and none were
// given explicitly.
void maybe_add_creds(SkBuff* skb, Socket* sock, Sock* other) {
  if (skb->unix_cb.pid) return;
  if ((sock && sock->sk->flag(SOCK_PASSCRED)) || other->flag(SOCK_PASSCRED)) {
    const Cred& c = current_cred();
    skb->unix_cb.pid = c.pid;
    skb->unix_cb.uid = c.uid;
    skb->unix_cb.gid = c.gid;
  }
}

// unix_copy_addr: the sender's name into msg_name (nothing if it is unnamed).
void unix_copy_addr(KMsgHdr* msg, Sock* sk) {
  if (msg->msg_name == nullptr) return;
  UnixAddress* addr = unix_sk(sk)->addr.load(std::memory_order_acquire);
  if (addr) {
    msg->msg_namelen = addr->len;
    std::memcpy(msg->msg_name, &addr->name, size_t(addr->len));
  } else {
    msg->msg_namelen = 0;
  }
}

// --- socket creation and release ---

UnixSock* unix_create1(Net* net, Socket* sock, int type) {
  auto* u = new UnixSock;
  sock_init_data(sock, u, net);
  u->sk_type = type;
  u->sk_family = AF_UNIX;
  u->sk_max_ack_backlog.store(net->unix_max_dgram_qlen.load(std::memory_order_relaxed),
                              std::memory_order_relaxed);
  UnixTable* t = unix_table(net);
  SpinGuard g(t->lock);
  t->all.insert(u);
  return u;
}

// unix_remove_socket: out of the name table (the path's inode stays until unlinked).
void unix_remove_socket(UnixSock* u) {
  UnixTable* t = unix_table(u->net);
  SpinGuard g(t->lock);
  t->all.erase(u);
  UnixAddress* addr = u->addr.load(std::memory_order_relaxed);
  if (addr == nullptr) return;
  if (addr->bsd) {
    if (u->hashed_bsd) {
      auto it = t->bsd.find({addr->dev, addr->ino});
      if (it != t->bsd.end() && it->second == u) t->bsd.erase(it);
      u->hashed_bsd = false;
    }
  } else {
    auto it = t->abstract.find(
        {u->sk_type, std::string(reinterpret_cast<const char*>(&addr->name), size_t(addr->len))});
    if (it != t->abstract.end() && it->second == u) t->abstract.erase(it);
  }
}

void unix_release_sock(UnixSock* sk, bool embrion) {
  unix_remove_socket(sk);
  UnixSock* skpair;
  int state;
  {
    SpinGuard g(sk->lock);
    sock_orphan(sk);
    sk->sk_shutdown.store(SHUTDOWN_MASK, std::memory_order_relaxed);
    state = sk->sk_state.load(std::memory_order_relaxed);
    sk->sk_state.store(TCP_CLOSE, std::memory_order_relaxed);
    skpair = sk->peer.load(std::memory_order_relaxed);
    sk->peer.store(nullptr, std::memory_order_relaxed);
  }
  sk->oob_skb.store(nullptr, std::memory_order_relaxed);  // freed with the queue below
  wake_up_interruptible_all(&sk->peer_wait);
  if (skpair != nullptr) {
    if (sk->sk_type == SOCK_STREAM || sk->sk_type == SOCK_SEQPACKET) {
      {
        SpinGuard g(skpair->lock);
        skpair->sk_shutdown.store(SHUTDOWN_MASK, std::memory_order_relaxed);
        if (!sk->sk_receive_queue.empty_lockless() || embrion)
          skpair->sk_err.store(ECONNRESET, std::memory_order_relaxed);
      }
      skpair->sk_state_change();
    }
    unix_dgram_peer_wake_disconnect(sk, skpair);
    skpair->put();
  }
  while (SkBuff* skb = sk->sk_receive_queue.dequeue()) {
    if (state == TCP_LISTEN) unix_release_sock(unix_sk(skb->sk), true);
    kfree_skb(skb);  // passed files are released by the destructor
  }
  sk->put();
  if (unix_gc_needed()) unix_gc();
}

// --- names ---

int unix_validate_addr(const struct sockaddr_storage* addr, int addr_len) {
  if (addr_len <= kSunPathOff || size_t(addr_len) > sizeof(struct sockaddr_un)) return -EINVAL;
  if (addr->ss_family != AF_UNIX) return -EINVAL;
  return 0;
}

// unix_mkname_bsd: the path is NUL-terminated in our copy; the length counts that NUL.
int unix_mkname_bsd(struct sockaddr_storage* addr, int addr_len) {
  reinterpret_cast<char*>(addr)[addr_len] = 0;
  return int(std::strlen(reinterpret_cast<struct sockaddr_un*>(addr)->sun_path)) + 1 + kSunPathOff;
}

UnixAddress* unix_create_addr(const struct sockaddr_storage* sun, int len) {
  auto* a = new UnixAddress;
  std::memset(&a->name, 0, sizeof a->name);
  std::memcpy(&a->name, sun, size_t(len));
  a->len = len;
  return a;
}

std::string abstract_key(const UnixAddress* a) {
  return std::string(reinterpret_cast<const char*>(&a->name), size_t(a->len));
}

int unix_autobind(UnixSock* u) {
  std::lock_guard g(u->bindlock);
  if (u->addr.load(std::memory_order_relaxed)) return 0;
  UnixTable* t = unix_table(u->net);
  auto* addr = new UnixAddress;
  std::memset(&addr->name, 0, sizeof addr->name);
  addr->len = kSunPathOff + 6;
  addr->name.ss_family = AF_UNIX;
  unsigned ordernum;
  {
    SpinGuard tg(t->lock);
    ordernum = t->ordernum;
  }
  const unsigned lastnum = ordernum & 0xFFFFF;
  for (;;) {
    ordernum = (ordernum + 1) & 0xFFFFF;
    char buf[8];
    std::snprintf(buf, sizeof buf, "%05x", ordernum);
    char* path = reinterpret_cast<struct sockaddr_un*>(&addr->name)->sun_path;
    path[0] = 0;
    std::memcpy(path + 1, buf, 5);
    SpinGuard tg(t->lock);
    auto key = std::make_pair(u->sk_type, abstract_key(addr));
    if (t->abstract.count(key) == 0) {
      t->abstract.emplace(key, u);
      t->ordernum = ordernum;
      u->addr.store(addr, std::memory_order_release);
      return 0;
    }
    if (ordernum == lastnum) {
      delete addr;
      return -ENOSPC;  // every name is taken
    }
  }
}

int unix_bind_bsd(UnixSock* u, struct sockaddr_storage* sunaddr, int addr_len) {
  addr_len = unix_mkname_bsd(sunaddr, addr_len);
  const char* path = reinterpret_cast<struct sockaddr_un*>(sunaddr)->sun_path;
  // vfs_mknod: S_IFSOCK, 0777 less the umask (mknod applies it).
  if (::mknod(path, S_IFSOCK | 0777, 0) != 0) {
    const int e = errno;
    return e == EEXIST ? -EADDRINUSE : -e;
  }
  struct stat st;
  if (::stat(path, &st) != 0) return -errno;
  std::lock_guard g(u->bindlock);
  if (u->addr.load(std::memory_order_relaxed)) {
    ::unlink(path);
    return -EINVAL;
  }
  UnixAddress* addr = unix_create_addr(sunaddr, addr_len);
  addr->bsd = true;
  addr->dev = st.st_dev;
  addr->ino = st.st_ino;
  UnixTable* t = unix_table(u->net);
  SpinGuard tg(t->lock);
  // A stale entry for this inode number belongs to a socket whose file was unlinked: that
  // socket can no longer be reached by path, as in the kernel.
  t->bsd[{st.st_dev, st.st_ino}] = u;
  u->hashed_bsd = true;
  u->addr.store(addr, std::memory_order_release);
  return 0;
}

int unix_bind_abstract(UnixSock* u, struct sockaddr_storage* sunaddr, int addr_len) {
  UnixAddress* addr = unix_create_addr(sunaddr, addr_len);
  std::lock_guard g(u->bindlock);
  if (u->addr.load(std::memory_order_relaxed)) {
    delete addr;
    return -EINVAL;
  }
  UnixTable* t = unix_table(u->net);
  SpinGuard tg(t->lock);
  auto key = std::make_pair(u->sk_type, abstract_key(addr));
  if (t->abstract.count(key)) {
    delete addr;
    return -EADDRINUSE;
  }
  t->abstract.emplace(key, u);
  u->addr.store(addr, std::memory_order_release);
  return 0;
}

// unix_find_bsd / unix_find_abstract: the target with a reference, or an errno.
UnixSock* unix_find_other(Net* net, struct sockaddr_storage* sunaddr, int addr_len, int type,
                          int* err) {
  UnixTable* t = unix_table(net);
  const auto* sun = reinterpret_cast<struct sockaddr_un*>(sunaddr);
  if (sun->sun_path[0]) {
    unix_mkname_bsd(sunaddr, addr_len);
    struct stat st;
    if (::stat(sun->sun_path, &st) != 0) {
      *err = -errno;
      return nullptr;
    }
    if (::access(sun->sun_path, W_OK) != 0) {
      *err = -errno;
      return nullptr;
    }
    if (!S_ISSOCK(st.st_mode)) {
      *err = -ECONNREFUSED;
      return nullptr;
    }
    SpinGuard g(t->lock);
    auto it = t->bsd.find({st.st_dev, st.st_ino});
    if (it == t->bsd.end()) {
      *err = -ECONNREFUSED;
      return nullptr;
    }
    if (it->second->sk_type != type) {
      *err = -EPROTOTYPE;
      return nullptr;
    }
    it->second->hold();
    return it->second;
  }
  SpinGuard g(t->lock);
  auto it = t->abstract.find(
      {type, std::string(reinterpret_cast<const char*>(sunaddr), size_t(addr_len))});
  if (it == t->abstract.end()) {
    *err = -ECONNREFUSED;
    return nullptr;
  }
  it->second->hold();
  return it->second;
}

// --- waits ---

// unix_wait_for_peer: called with other's state lock held; drops it.
int64_t unix_wait_for_peer(UnixSock* other, int64_t timeo) {
  WaitQueueEntry wait;
  init_wait_entry(&wait, 0);
  prepare_to_wait_exclusive(&other->peer_wait, &wait, sched::TASK_INTERRUPTIBLE);
  const bool sched = !other->flag(SOCK_DEAD) &&
                     !(other->sk_shutdown.load(std::memory_order_relaxed) & RCV_SHUTDOWN) &&
                     unix_recvq_full_lockless(other);
  other->lock.unlock();
  if (sched) timeo = sock_schedule_timeout(other, timeo);
  finish_wait(&other->peer_wait, &wait);
  return timeo;
}

// unix_stream_data_wait: called with sk's state lock held; returns with it dropped.
int64_t unix_stream_data_wait(UnixSock* sk, int64_t timeo, SkBuff* last, unsigned last_len) {
  WaitQueueEntry wait;
  init_wait_entry(&wait, 0);
  for (;;) {
    prepare_to_wait(&sk->wq, &wait, sched::TASK_INTERRUPTIBLE);
    SkBuff* tail;
    {
      SpinGuard g(sk->sk_receive_queue.lock);
      tail = sk->sk_receive_queue.peek_tail();
    }
    if (tail != last || (tail && tail->len != last_len) || sk->sk_err.load() ||
        (sk->sk_shutdown.load(std::memory_order_relaxed) & RCV_SHUTDOWN) ||
        sched::signal_pending(sched::current()) || timeo == kTimeoNone)
      break;
    sk->lock.unlock();
    timeo = sock_schedule_timeout(sk, timeo);
    sk->lock.lock();
    if (sk->flag(SOCK_DEAD)) break;
  }
  finish_wait(&sk->wq, &wait);
  sk->lock.unlock();
  return timeo;
}

// consumed is written by the reader under iolock and read under the queue lock (SIOCINQ, ss).
unsigned unix_skb_len(const SkBuff* skb) {
  return skb->len - skb->unix_cb.consumed.load(std::memory_order_relaxed);
}
void unix_skb_consume(SkBuff* skb, uint32_t n) {
  skb->unix_cb.consumed.store(skb->unix_cb.consumed.load(std::memory_order_relaxed) + n,
                              std::memory_order_relaxed);
}

// --- the operations ---

class UnixOps : public ProtoOps {
 public:
  constexpr UnixOps() : ProtoOps(AF_UNIX) {}

  int release(Socket* sock) const override {
    Sock* sk = sock->sk;
    if (!sk) return 0;
    unix_release_sock(unix_sk(sk), false);
    sock->sk = nullptr;
    return 0;
  }

  int bind(Socket* sock, struct sockaddr_storage* sunaddr, int addr_len) const override {
    UnixSock* u = unix_sk(sock->sk);
    if (addr_len == kSunPathOff && sunaddr->ss_family == AF_UNIX) return unix_autobind(u);
    int err = unix_validate_addr(sunaddr, addr_len);
    if (err) return err;
    const auto* sun = reinterpret_cast<struct sockaddr_un*>(sunaddr);
    return sun->sun_path[0] ? unix_bind_bsd(u, sunaddr, addr_len)
                            : unix_bind_abstract(u, sunaddr, addr_len);
  }

  int socketpair(Socket* socka, Socket* sockb) const override {
    UnixSock* ska = unix_sk(socka->sk);
    UnixSock* skb = unix_sk(sockb->sk);
    ska->hold();
    skb->hold();
    ska->peer.store(skb, std::memory_order_release);
    skb->peer.store(ska, std::memory_order_release);
    init_peercred(ska);
    init_peercred(skb);
    ska->sk_state.store(TCP_ESTABLISHED, std::memory_order_relaxed);
    skb->sk_state.store(TCP_ESTABLISHED, std::memory_order_relaxed);
    socka->state.store(SS_CONNECTED, std::memory_order_relaxed);
    sockb->state.store(SS_CONNECTED, std::memory_order_relaxed);
    return 0;
  }

  int getname(Socket* sock, struct sockaddr_storage* uaddr, int peer) const override {
    UnixSock* sk;
    if (peer) {  // 1: getpeername, 2: accept's address
      sk = unix_peer_get(unix_sk(sock->sk));
      if (!sk) return -ENOTCONN;
    } else {
      sk = unix_sk(sock->sk);
      sk->hold();
    }
    UnixAddress* addr = sk->addr.load(std::memory_order_acquire);
    int err;
    if (!addr) {
      uaddr->ss_family = AF_UNIX;
      reinterpret_cast<struct sockaddr_un*>(uaddr)->sun_path[0] = 0;
      err = kSunPathOff;
    } else {
      err = addr->len;
      std::memcpy(uaddr, &addr->name, size_t(addr->len));
    }
    sk->put();
    return err;
  }

  long ioctl(Socket* sock, unsigned long cmd, unsigned long arg) const override {
    Sock* sk = sock->sk;
    int amount;
    switch (cmd) {
      case SIOCOUTQ:
        amount = sk->wmem_alloc_get();
        break;
      case SIOCINQ:
        amount = unix_inq_len(sk);
        if (amount < 0) return amount;
        break;
      case SIOCATMARK: {
        if (sk->sk_type != SOCK_STREAM) return -ENOIOCTLCMD;
        SpinGuard g(sk->sk_receive_queue.lock);
        SkBuff* skb = sk->sk_receive_queue.peek();
        SkBuff* oob = unix_sk(sk)->oob_skb.load(std::memory_order_relaxed);
        amount = (skb && skb == oob) ? 1 : 0;
        break;
      }
      default:
        return -ENOIOCTLCMD;
    }
    int* p = reinterpret_cast<int*>(arg);
    if (p == nullptr) return -EFAULT;
    *p = amount;
    return 0;
  }

  int shutdown(Socket* sock, int mode) const override {
    UnixSock* sk = unix_sk(sock->sk);
    if (mode < SHUT_RD || mode > SHUT_RDWR) return -EINVAL;
    ++mode;  // SHUT_RD -> RCV_SHUTDOWN, SHUT_WR -> SEND_SHUTDOWN, SHUT_RDWR -> both
    UnixSock* other;
    {
      SpinGuard g(sk->lock);
      sk->sk_shutdown.store(sk->sk_shutdown.load(std::memory_order_relaxed) | mode,
                            std::memory_order_relaxed);
      other = sk->peer.load(std::memory_order_relaxed);
      if (other) other->hold();
    }
    sk->sk_state_change();
    if (other && (sk->sk_type == SOCK_STREAM || sk->sk_type == SOCK_SEQPACKET)) {
      int peer_mode = 0;
      if (mode & RCV_SHUTDOWN) peer_mode |= SEND_SHUTDOWN;
      if (mode & SEND_SHUTDOWN) peer_mode |= RCV_SHUTDOWN;
      {
        SpinGuard g(other->lock);
        other->sk_shutdown.store(other->sk_shutdown.load(std::memory_order_relaxed) | peer_mode,
                                 std::memory_order_relaxed);
      }
      other->sk_state_change();
    }
    if (other) other->put();
    return 0;
  }

  void show_fdinfo(Socket* sock, std::string& out) const override {
    if (sock->sk)
      out += "scm_fds: " + std::to_string(unix_sk(sock->sk)->scm_stat_nr_fds.load()) + "\n";
  }

 protected:
  static int unix_inq_len(Sock* sk) {
    if (sk->sk_state.load(std::memory_order_relaxed) == TCP_LISTEN) return -EINVAL;
    SpinGuard g(sk->sk_receive_queue.lock);
    if (sk->sk_type == SOCK_DGRAM) {
      SkBuff* skb = sk->sk_receive_queue.peek();
      return skb ? int(skb->len) : 0;
    }
    int amount = 0;
    sk->sk_receive_queue.for_each([&](SkBuff* skb) { amount += int(unix_skb_len(skb)); });
    return amount;
  }

  // unix_stream_connect (stream and seqpacket).
  static int stream_connect(Socket* sock, struct sockaddr_storage* sunaddr, int addr_len,
                            int flags) {
    UnixSock* sk = unix_sk(sock->sk);
    int err = unix_validate_addr(sunaddr, addr_len);
    if (err) return err;
    if (sk->flag(SOCK_PASSCRED) && !sk->addr.load(std::memory_order_relaxed)) {
      err = unix_autobind(sk);
      if (err) return err;
    }
    int64_t timeo = sock_sndtimeo(sk, flags & O_NONBLOCK);
    // Resources first: the embryo that the listener will hand to accept(), and the skb that
    // carries it there.
    UnixSock* newsk = unix_create1(sk->net, nullptr, sk->sk_type);
    SkBuff* skb = alloc_skb(1, skb_truesize(1, 0));
    skb_set_owner_w(skb, newsk);
    UnixSock* other;
    for (;;) {
      other = unix_find_other(sk->net, sunaddr, addr_len, sk->sk_type, &err);
      if (!other) goto out_free;
      other->lock.lock();
      if (other->flag(SOCK_DEAD)) {  // the table overslept its death: look again
        other->lock.unlock();
        other->put();
        continue;
      }
      err = -ECONNREFUSED;
      if (other->sk_state.load(std::memory_order_relaxed) != TCP_LISTEN) goto out_unlock;
      if (other->sk_shutdown.load(std::memory_order_relaxed) & RCV_SHUTDOWN) goto out_unlock;
      if (unix_recvq_full_lockless(other)) {
        err = -EAGAIN;
        if (timeo == kTimeoNone) goto out_unlock;
        timeo = unix_wait_for_peer(other, timeo);  // drops other->lock
        err = sock_intr_errno(timeo);
        if (sched::signal_pending(sched::current())) {
          other->put();
          goto out_free;
        }
        other->put();
        continue;
      }
      break;
    }
    {
      // Self and simultaneous connects are excluded by refusing non-listeners above.
      int state = sk->sk_state.load(std::memory_order_relaxed);
      if (state != TCP_CLOSE) {
        err = state == TCP_ESTABLISHED ? -EISCONN : -EINVAL;
        goto out_unlock;
      }
      sk->lock.lock();
      state = sk->sk_state.load(std::memory_order_relaxed);
      if (state != TCP_CLOSE) {
        err = state == TCP_ESTABLISHED ? -EISCONN : -EINVAL;
        sk->lock.unlock();
        goto out_unlock;
      }
      // The way is open.
      sk->hold();
      newsk->peer.store(sk, std::memory_order_release);
      newsk->sk_state.store(TCP_ESTABLISHED, std::memory_order_relaxed);
      init_peercred(newsk);
      if (UnixAddress* oaddr = other->addr.load(std::memory_order_relaxed)) {
        oaddr->get();
        newsk->addr.store(oaddr, std::memory_order_release);
      }
      copy_peercred(sk, other);
      sock->state.store(SS_CONNECTED, std::memory_order_relaxed);
      sk->sk_state.store(TCP_ESTABLISHED, std::memory_order_relaxed);
      newsk->hold();
      sk->peer.store(newsk, std::memory_order_release);
      sk->lock.unlock();
      other->sk_receive_queue.queue_tail(skb);
      other->lock.unlock();
      USTACK_TRACE("unix_stream_connect", uintptr_t(sk), uintptr_t(other));
      other->sk_data_ready();
      other->put();
      return 0;
    }
  out_unlock:
    other->lock.unlock();
    other->put();
  out_free:
    kfree_skb(skb);
    unix_release_sock(newsk, false);
    return err;
  }

  // unix_accept.
  static int stream_accept(Socket* sock, Socket* newsock, unsigned f_flags) {
    UnixSock* sk = unix_sk(sock->sk);
    if (sock->type != SOCK_STREAM && sock->type != SOCK_SEQPACKET) return -EOPNOTSUPP;
    if (sk->sk_state.load(std::memory_order_relaxed) != TCP_LISTEN) return -EINVAL;
    int err = 0;
    SkBuff* skb = skb_recv_datagram(sk, (f_flags & O_NONBLOCK) ? MSG_DONTWAIT : 0, &err);
    if (!skb) return err == 0 ? -EINVAL : err;  // shut down: EINVAL
    UnixSock* tsk = unix_sk(skb->sk);
    kfree_skb(skb);
    wake_up_interruptible(&sk->peer_wait);
    // sock_graft.
    {
      SpinGuard g(tsk->lock);
      tsk->sk_socket = newsock;
      newsock->sk = tsk;
      newsock->state.store(SS_CONNECTED, std::memory_order_relaxed);
      if (sk->flag(SOCK_PASSCRED)) tsk->set_flag(SOCK_PASSCRED);
    }
    return 0;
  }

  static int do_listen(Socket* sock, int backlog) {
    UnixSock* u = unix_sk(sock->sk);
    if (sock->type != SOCK_STREAM && sock->type != SOCK_SEQPACKET) return -EOPNOTSUPP;
    if (!u->addr.load(std::memory_order_acquire)) return -EINVAL;  // no listens unbound
    SpinGuard g(u->lock);
    const int state = u->sk_state.load(std::memory_order_relaxed);
    if (state != TCP_CLOSE && state != TCP_LISTEN) return -EINVAL;
    if (backlog > u->sk_max_ack_backlog.load(std::memory_order_relaxed))
      wake_up_interruptible_all(&u->peer_wait);
    u->sk_max_ack_backlog.store(backlog, std::memory_order_relaxed);
    u->sk_state.store(TCP_LISTEN, std::memory_order_relaxed);
    init_peercred(u);  // connect copies it
    return 0;
  }

  // unix_dgram_sendmsg (dgram and seqpacket).
  static int dgram_sendmsg(Socket* sock, KMsgHdr* msg, size_t len) {
    UnixSock* sk = unix_sk(sock->sk);
    ScmCookie scm;
    int err = scm_send(sock, msg, &scm);
    if (err < 0) return err;
    if (msg->msg_flags & MSG_OOB) return -EOPNOTSUPP;
    UnixSock* other = nullptr;
    if (msg->msg_namelen) {
      err = unix_validate_addr(msg->msg_name, msg->msg_namelen);
      if (err) return err;
    } else {
      other = unix_peer_get(sk);
      if (!other) return -ENOTCONN;
    }
    struct OtherRef {
      UnixSock*& o;
      ~OtherRef() {
        if (o) o->put();
      }
    } other_ref{other};
    if (sk->flag(SOCK_PASSCRED) && !sk->addr.load(std::memory_order_relaxed)) {
      err = unix_autobind(sk);
      if (err) return err;
    }
    if (len > size_t(sk->sk_sndbuf.load(std::memory_order_relaxed) - 32)) return -EMSGSIZE;
    size_t data_len = 0;
    if (len > kSkbMaxAlloc) data_len = page_align(std::min(len - kSkbMaxAlloc, kMaxSkbFrags * kPageSize));
    SkBuff* skb = sock_alloc_send_pskb(sk, len - data_len, data_len, msg->msg_flags & MSG_DONTWAIT, &err);
    if (!skb) return err;
    skb->len = uint32_t(len);
    unix_scm_to_skb(&scm, skb, true);
    if (msg->msg_iter->copy_from(skb->data(), len) != len) {
      kfree_skb(skb);
      return -EFAULT;
    }
    int64_t timeo = sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT);
    bool sk_locked = false;
  restart:
    if (!other) {
      other = unix_find_other(sk->net, msg->msg_name, msg->msg_namelen, sk->sk_type, &err);
      if (!other) goto out_free;
    }
    other->lock.lock();
  restart_locked:
    err = -EPERM;
    if (!unix_may_send(sk, other)) goto out_unlock;
    if (other->flag(SOCK_DEAD)) {
      // Check with 1003.1g: what should a datagram error be?
      other->lock.unlock();
      if (sk->sk_type == SOCK_SEQPACKET) {
        err = -EPIPE;
        goto out_free_nolock;
      }
      if (!sk_locked) sk->lock.lock();
      if (sk->peer.load(std::memory_order_relaxed) == other) {
        sk->peer.store(nullptr, std::memory_order_relaxed);
        unix_dgram_peer_wake_disconnect_wakeup(sk, other);
        sk->sk_state.store(TCP_CLOSE, std::memory_order_relaxed);
        sk->lock.unlock();
        unix_dgram_disconnected(sk, other);
        other->put();  // the association's reference
        err = -ECONNREFUSED;
        goto out_free_nolock;
      }
      sk->lock.unlock();
      sk_locked = false;
      if (!msg->msg_namelen) {
        err = -ECONNRESET;
        goto out_free_nolock;
      }
      other->put();
      other = nullptr;
      goto restart;
    }
    err = -EPIPE;
    if (other->sk_shutdown.load(std::memory_order_relaxed) & RCV_SHUTDOWN) goto out_unlock;
    if (other != sk && unix_peer(other) != sk && unix_recvq_full_lockless(other)) {
      if (timeo != kTimeoNone) {
        if (sk_locked) {
          sk->lock.unlock();
          sk_locked = false;
        }
        timeo = unix_wait_for_peer(other, timeo);  // drops other->lock
        err = sock_intr_errno(timeo);
        if (sched::signal_pending(sched::current())) goto out_free_nolock;
        goto restart_relock;
      }
      if (!sk_locked) {
        other->lock.unlock();
        unix_state_double_lock(sk, other);
      }
      if (sk->peer.load(std::memory_order_relaxed) != other || unix_dgram_peer_wake_me(sk, other)) {
        err = -EAGAIN;
        sk_locked = true;
        goto out_unlock;
      }
      if (!sk_locked) {
        sk_locked = true;
        goto restart_locked;
      }
    }
    if (sk_locked) sk->lock.unlock();
    maybe_add_creds(skb, sock, other);
    scm_stat_add(other, skb);
    other->sk_receive_queue.queue_tail(skb);
    other->lock.unlock();
    other->sk_data_ready();
    return int(len);
  restart_relock:
    other->lock.lock();
    goto restart_locked;
  out_unlock:
    if (sk_locked) sk->lock.unlock();
    other->lock.unlock();
  out_free_nolock:
  out_free:
    kfree_skb(skb);
    return err;
  }

  // __unix_dgram_recvmsg (dgram and seqpacket).
  static int dgram_recvmsg(Socket* sock, KMsgHdr* msg, size_t size, int flags) {
    UnixSock* sk = unix_sk(sock->sk);
    if (flags & MSG_OOB) return -EOPNOTSUPP;
    int64_t timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT);
    SkBuff* skb = nullptr;
    SkBuff* last = nullptr;
    int err = 0;
    do {
      sk->iolock.lock();
      skb = __skb_try_recv_datagram(sk, &sk->sk_receive_queue, unsigned(flags), &err, &last);
      if (skb) {
        if (!(flags & MSG_PEEK)) scm_stat_del(sk, skb);
        break;
      }
      sk->iolock.unlock();
      if (err != -EAGAIN) break;
    } while (timeo != kTimeoNone &&
             !__skb_wait_for_more_packets(sk, &sk->sk_receive_queue, &err, &timeo, last));
    if (!skb) {
      // EOF on a disconnected non-blocking SEQPACKET socket.
      SpinGuard g(sk->lock);
      if (sk->sk_type == SOCK_SEQPACKET && err == -EAGAIN &&
          (sk->sk_shutdown.load(std::memory_order_relaxed) & RCV_SHUTDOWN))
        err = 0;
      return err;
    }
    if (wq_has_sleeper(&sk->peer_wait))
      wake_up_interruptible_sync_poll(&sk->peer_wait, POLLOUT | POLLWRNORM | POLLWRBAND);
    if (msg->msg_name) unix_copy_addr(msg, skb->sk);
    const size_t skblen = skb->len;
    if (size > skblen) {
      size = skblen;
    } else if (size < skblen) {
      msg->msg_flags |= MSG_TRUNC;
    }
    ScmCookie scm;
    if (msg->msg_iter->copy_to(skb->data(), size) != size) {
      err = -EFAULT;
    } else {
      scm.pid = skb->unix_cb.pid;
      scm.uid = skb->unix_cb.uid;
      scm.gid = skb->unix_cb.gid;
      if (!(flags & MSG_PEEK)) {
        if (skb->unix_cb.fp) unix_detach_fds(&scm, skb);
      } else if (skb->unix_cb.fp) {
        unix_peek_fds(&scm, skb);
      }
      err = (flags & MSG_TRUNC) ? int(skblen) : int(size);
      scm_recv_unix(sock, msg, &scm, unsigned(flags));
    }
    if (!(flags & MSG_PEEK)) kfree_skb(skb);
    sk->iolock.unlock();
    return err;
  }

  // unix_dgram_poll (dgram and seqpacket).
  static __poll_t dgram_poll(File* file, Socket* sock, PollTable* wait) {
    UnixSock* sk = unix_sk(sock->sk);
    sock_poll_wait(file, sk, wait);
    __poll_t mask = 0;
    const int shutdown = sk->sk_shutdown.load(std::memory_order_relaxed);
    if (sk->sk_err.load(std::memory_order_relaxed)) mask |= POLLERR;
    if (shutdown & RCV_SHUTDOWN) mask |= POLLRDHUP | POLLIN | POLLRDNORM;
    if (shutdown == SHUTDOWN_MASK) mask |= POLLHUP;
    if (!sk->sk_receive_queue.empty_lockless()) mask |= POLLIN | POLLRDNORM;
    const int state = sk->sk_state.load(std::memory_order_relaxed);
    if (sk->sk_type == SOCK_SEQPACKET) {
      if (state == TCP_CLOSE) mask |= POLLHUP;
      if (state == TCP_SYN_SENT) return mask;  // connection hasn't started yet
    }
    if (!(poll_requested_events(wait) & (POLLWRBAND | POLLWRNORM | POLLOUT))) return mask;
    bool writable = unix_writable(sk, state);
    if (writable) {
      SpinGuard g(sk->lock);
      UnixSock* other = sk->peer.load(std::memory_order_relaxed);
      if (other && unix_peer(other) != sk && unix_recvq_full_lockless(other) &&
          unix_dgram_peer_wake_me(sk, other))
        writable = false;
    }
    if (writable) mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
    return mask;
  }

  // unix_seqpacket_sendmsg / recvmsg.
  static int seqpacket_sendmsg(Socket* sock, KMsgHdr* msg, size_t len) {
    Sock* sk = sock->sk;
    int err = sock_error(sk);
    if (err) return err;
    if (sk->sk_state.load(std::memory_order_relaxed) != TCP_ESTABLISHED) return -ENOTCONN;
    msg->msg_namelen = 0;
    return dgram_sendmsg(sock, msg, len);
  }
  static int seqpacket_recvmsg(Socket* sock, KMsgHdr* msg, size_t size, int flags) {
    if (sock->sk->sk_state.load(std::memory_order_relaxed) != TCP_ESTABLISHED) return -ENOTCONN;
    return dgram_recvmsg(sock, msg, size, flags);
  }
};

// Stream and seqpacket: connection-oriented, with a listener, embryos and accept().
class UnixConnectionOps : public UnixOps {
 public:
  int connect(Socket* sock, struct sockaddr_storage* a, int len, int flags) const override {
    return stream_connect(sock, a, len, flags);
  }
  int accept(Socket* sock, Socket* newsock, unsigned f_flags) const override {
    return stream_accept(sock, newsock, f_flags);
  }
  int listen(Socket* sock, int backlog) const override { return do_listen(sock, backlog); }
};

class UnixStreamOps final : public UnixConnectionOps {
 public:

  // unix_poll.
  __poll_t poll(File* file, Socket* sock, PollTable* wait) const override {
    UnixSock* sk = unix_sk(sock->sk);
    sock_poll_wait(file, sk, wait);
    __poll_t mask = 0;
    const int shutdown = sk->sk_shutdown.load(std::memory_order_relaxed);
    const int state = sk->sk_state.load(std::memory_order_relaxed);
    if (sk->sk_err.load(std::memory_order_relaxed)) mask |= POLLERR;
    if (shutdown == SHUTDOWN_MASK) mask |= POLLHUP;
    if (shutdown & RCV_SHUTDOWN) mask |= POLLRDHUP | POLLIN | POLLRDNORM;
    if (!sk->sk_receive_queue.empty_lockless()) mask |= POLLIN | POLLRDNORM;
    if (sk->oob_skb.load(std::memory_order_relaxed)) mask |= POLLPRI;
    if (state == TCP_CLOSE) mask |= POLLHUP;
    // Writable even after the peer shut down: prevents stuck sockets.
    if (unix_writable(sk, state)) mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
    return mask;
  }

  // unix_stream_sendmsg.
  int sendmsg(Socket* sock, KMsgHdr* msg, size_t len) const override {
    UnixSock* sk = unix_sk(sock->sk);
    ScmCookie scm;
    int err = scm_send(sock, msg, &scm);
    if (err < 0) return err;
    const bool oob = msg->msg_flags & MSG_OOB;
    if (oob) {
      if (len == 0) return -EOPNOTSUPP;
      --len;
    }
    if (msg->msg_namelen)
      return sk->sk_state.load(std::memory_order_relaxed) == TCP_ESTABLISHED ? -EISCONN
                                                                              : -EOPNOTSUPP;
    UnixSock* other = sk->peer.load(std::memory_order_acquire);
    if (!other) return -ENOTCONN;
    size_t sent = 0;
    bool fds_sent = false;
    SkBuff* skb = nullptr;
    if (sk->sk_shutdown.load(std::memory_order_relaxed) & SEND_SHUTDOWN) goto pipe_err;
    while (sent < len) {
      size_t size = len - sent;
      // Keep two messages in the pipe so it schedules better.
      size = std::min<size_t>(size, size_t((sk->sk_sndbuf.load(std::memory_order_relaxed) >> 1) - 64));
      size = std::min(size, skb_max_head(0) + kUnixSkbFragsSz);
      size_t data_len = size > skb_max_head(0) ? size - skb_max_head(0) : 0;
      data_len = std::min(size, page_align(data_len));
      skb = sock_alloc_send_pskb(sk, size - data_len, data_len, msg->msg_flags & MSG_DONTWAIT, &err);
      if (!skb) goto out_err;
      unix_scm_to_skb(&scm, skb, !fds_sent);
      fds_sent = true;
      skb->len = uint32_t(size);
      if (msg->msg_iter->copy_from(skb->data(), size) != size) {
        err = -EFAULT;
        kfree_skb(skb);
        goto out_err;
      }
      other->lock.lock();
      if (other->flag(SOCK_DEAD) ||
          (other->sk_shutdown.load(std::memory_order_relaxed) & RCV_SHUTDOWN)) {
        other->lock.unlock();
        kfree_skb(skb);
        goto pipe_err;
      }
      maybe_add_creds(skb, sock, other);
      scm_stat_add(other, skb);
      other->sk_receive_queue.queue_tail(skb);
      other->lock.unlock();
      USTACK_TRACE("unix_stream_sendmsg", size, uintptr_t(other));
      other->sk_data_ready();
      sent += size;
    }
    if (oob) {
      err = queue_oob(sock, msg, other, &scm, fds_sent);
      if (err) goto out_err;
      ++sent;
    }
    return int(sent);
  pipe_err:
    if (!sent && !(msg->msg_flags & MSG_NOSIGNAL)) send_sigpipe();
    err = -EPIPE;
  out_err:
    return sent ? int(sent) : err;
  }

  int recvmsg(Socket* sock, KMsgHdr* msg, size_t size, int flags) const override {
    return stream_read_generic(sock, msg, size, flags);
  }

 private:
  static int queue_oob(Socket* sock, KMsgHdr* msg, UnixSock* other, ScmCookie* scm,
                       bool fds_sent) {
    UnixSock* sk = unix_sk(sock->sk);
    int err;
    SkBuff* skb = sock_alloc_send_pskb(sk, 1, 0, msg->msg_flags & MSG_DONTWAIT, &err);
    if (!skb) return err;
    unix_scm_to_skb(scm, skb, !fds_sent);
    skb->len = 1;
    if (msg->msg_iter->copy_from(skb->data(), 1) != 1) {
      kfree_skb(skb);
      return -EFAULT;
    }
    other->lock.lock();
    if (other->flag(SOCK_DEAD) || (other->sk_shutdown.load(std::memory_order_relaxed) & RCV_SHUTDOWN)) {
      other->lock.unlock();
      kfree_skb(skb);
      return -EPIPE;
    }
    maybe_add_creds(skb, sock, other);
    scm_stat_add(other, skb);
    {
      SpinGuard g(other->sk_receive_queue.lock);
      other->oob_skb.store(skb, std::memory_order_relaxed);
      other->sk_receive_queue.__queue_tail(skb);
    }
    other->lock.unlock();
    other->sk_data_ready();
    return 0;
  }

  // skbs a reader unlinked while holding its state lock, freed once it holds no lock: an skb's
  // destructor may drop the last reference to a passed file, whose release takes socket locks
  // (possibly our own, through our peer) and the collector's. The kernel defers that release
  // with task_work; ustack releases at once, so the caller defers the free instead.
  struct DeferredSkbs {
    std::vector<SkBuff*> skbs;
    DeferredSkbs() = default;
    DeferredSkbs(const DeferredSkbs&) = delete;
    DeferredSkbs& operator=(const DeferredSkbs&) = delete;
    ~DeferredSkbs() {
      for (SkBuff* skb : skbs) kfree_skb(skb);
    }
  };

  // manage_oob: skips a consumed OOB skb, and stops the read at the OOB byte.
  static SkBuff* manage_oob(SkBuff* skb, UnixSock* sk, int flags, int copied, DeferredSkbs* dead) {
    if (USTACK_LIKELY(unix_skb_len(skb) && skb != sk->oob_skb.load(std::memory_order_relaxed)))
      return skb;
    SkBuff* read_skb = nullptr;
    SkBuff* unread_skb = nullptr;
    {
      SpinGuard g(sk->sk_receive_queue.lock);
      SkBuff* oob = sk->oob_skb.load(std::memory_order_relaxed);
      if (!unix_skb_len(skb)) {
        if (copied && (!oob || skb == oob)) {
          skb = nullptr;
        } else if (flags & MSG_PEEK) {
          skb = sk->sk_receive_queue.peek_next(skb);
        } else {
          read_skb = skb;
          skb = sk->sk_receive_queue.peek_next(skb);
          sk->sk_receive_queue.__unlink(read_skb);
        }
      }
      if (skb && skb == oob) {
        if (copied) {
          skb = nullptr;
        } else if (!(flags & MSG_PEEK)) {
          sk->oob_skb.store(nullptr, std::memory_order_relaxed);
          if (!sk->flag(SOCK_URGINLINE)) {
            sk->sk_receive_queue.__unlink(skb);
            unread_skb = skb;
            skb = sk->sk_receive_queue.peek();
          }
        } else if (!sk->flag(SOCK_URGINLINE)) {
          skb = sk->sk_receive_queue.peek_next(skb);
        }
      }
    }
    if (read_skb) dead->skbs.push_back(read_skb);
    if (unread_skb) dead->skbs.push_back(unread_skb);
    return skb;
  }

  static int recv_urg(UnixSock* sk, KMsgHdr* msg, int flags) {
    std::lock_guard io(sk->iolock);
    SkBuff* oob;
    {
      SpinGuard g(sk->lock);
      SpinGuard q(sk->sk_receive_queue.lock);
      oob = sk->oob_skb.load(std::memory_order_relaxed);
      if (sk->flag(SOCK_URGINLINE) || !oob) return -EINVAL;
      if (!(flags & MSG_PEEK)) sk->oob_skb.store(nullptr, std::memory_order_relaxed);
    }
    const size_t chunk = msg->msg_iter->count() ? 1 : 0;
    if (chunk && msg->msg_iter->copy_to(oob->data(), 1) != 1) return -EFAULT;
    if (!(flags & MSG_PEEK)) unix_skb_consume(oob, 1);
    msg->msg_flags |= MSG_OOB;
    return 1;
  }

  // unix_stream_read_generic.
  static int stream_read_generic(Socket* sock, KMsgHdr* msg, size_t size, int flags) {
    UnixSock* sk = unix_sk(sock->sk);
    if (USTACK_UNLIKELY(sk->sk_state.load(std::memory_order_relaxed) != TCP_ESTABLISHED))
      return -EINVAL;
    if (USTACK_UNLIKELY(flags & MSG_OOB)) return recv_urg(sk, msg, flags);
    const int target = sock_rcvlowat(sk, flags & MSG_WAITALL, int(std::min<size_t>(size, INT_MAX)));
    int64_t timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT);
    DeferredSkbs dead;  // destroyed last, with no lock held
    ScmCookie scm;
    bool check_creds = false;
    int copied = 0;
    int err = 0;
    sk->iolock.lock();
    do {
      SkBuff* skb;
      SkBuff* last;
      unsigned last_len;
    redo:
      sk->lock.lock();
      if (sk->flag(SOCK_DEAD)) {
        err = -ECONNRESET;
        sk->lock.unlock();
        break;
      }
      {
        SpinGuard q(sk->sk_receive_queue.lock);
        last = skb = sk->sk_receive_queue.peek();
      }
      last_len = last ? last->len : 0;
      if (skb) {
        skb = manage_oob(skb, sk, flags, copied, &dead);
        if (!skb && copied) {
          sk->lock.unlock();
          break;
        }
      }
      if (skb == nullptr) {
        if (copied >= target) {
          sk->lock.unlock();
          break;
        }
        // POSIX 1003.1g mandates this order.
        err = sock_error(sk);
        if (err) {
          sk->lock.unlock();
          break;
        }
        if (sk->sk_shutdown.load(std::memory_order_relaxed) & RCV_SHUTDOWN) {
          sk->lock.unlock();
          break;
        }
        if (timeo == kTimeoNone) {
          sk->lock.unlock();
          err = -EAGAIN;
          break;
        }
        sk->iolock.unlock();
        timeo = unix_stream_data_wait(sk, timeo, last, last_len);  // drops sk->lock
        if (sched::signal_pending(sched::current())) {
          err = sock_intr_errno(timeo);
          return copied ? copied : err;
        }
        sk->iolock.lock();
        goto redo;
      }
      sk->lock.unlock();
      if (check_creds) {
        // Never glue messages from different writers.
        if (skb->unix_cb.pid != scm.pid || skb->unix_cb.uid != scm.uid || skb->unix_cb.gid != scm.gid)
          break;
      } else if (sk->flag(SOCK_PASSCRED)) {
        scm.pid = skb->unix_cb.pid;
        scm.uid = skb->unix_cb.uid;
        scm.gid = skb->unix_cb.gid;
        check_creds = true;
      }
      if (msg->msg_name) {
        unix_copy_addr(msg, skb->sk);
        msg->msg_name = nullptr;  // copy the address just once
      }
      const unsigned skip = skb->len - unix_skb_len(skb);
      size_t chunk = std::min<size_t>(unix_skb_len(skb), size);
      if (msg->msg_iter->copy_to(skb->data() + skip, chunk) != chunk) {
        if (copied == 0) copied = -EFAULT;
        break;
      }
      copied += int(chunk);
      size -= chunk;
      if (!(flags & MSG_PEEK)) {
        unix_skb_consume(skb, uint32_t(chunk));
        if (skb->unix_cb.fp) {
          scm_stat_del(sk, skb);
          unix_detach_fds(&scm, skb);
        }
        if (unix_skb_len(skb)) break;
        sk->sk_receive_queue.unlink(skb);
        kfree_skb(skb);
        if (scm.fp) break;
      } else {
        // Peeking walks on through the queue; files are copied, and end the read.
        if (skb->unix_cb.fp) {
          unix_peek_fds(&scm, skb);
          break;
        }
        SkBuff* next = skb;
        for (;;) {
          {
            SpinGuard q(sk->sk_receive_queue.lock);
            next = sk->sk_receive_queue.peek_next(next);
          }
          if (!next || size == 0) break;
          next = manage_oob(next, sk, flags, copied, &dead);
          if (!next) break;
          if (check_creds && (next->unix_cb.pid != scm.pid || next->unix_cb.uid != scm.uid ||
                              next->unix_cb.gid != scm.gid))
            break;
          const size_t c = std::min<size_t>(unix_skb_len(next), size);
          if (msg->msg_iter->copy_to(next->data() + (next->len - unix_skb_len(next)), c) != c) break;
          copied += int(c);
          size -= c;
          if (next->unix_cb.fp) {
            unix_peek_fds(&scm, next);
            break;
          }
        }
        break;
      }
    } while (size);
    sk->iolock.unlock();
    scm_recv_unix(sock, msg, &scm, unsigned(flags));
    return copied ? copied : err;
  }
};

class UnixDgramOps final : public UnixOps {
 public:
  // unix_dgram_connect.
  int connect(Socket* sock, struct sockaddr_storage* addr, int alen, int /*flags*/) const override {
    UnixSock* sk = unix_sk(sock->sk);
    if (alen < int(sizeof(sa_family_t))) return -EINVAL;
    UnixSock* other = nullptr;
    int err;
    if (addr->ss_family != AF_UNSPEC) {
      err = unix_validate_addr(addr, alen);
      if (err) return err;
      if (sk->flag(SOCK_PASSCRED) && !sk->addr.load(std::memory_order_relaxed)) {
        err = unix_autobind(sk);
        if (err) return err;
      }
      for (;;) {
        other = unix_find_other(sk->net, addr, alen, sock->type, &err);
        if (!other) return err;
        unix_state_double_lock(sk, other);
        if (other->flag(SOCK_DEAD)) {
          unix_state_double_unlock(sk, other);
          other->put();
          continue;
        }
        break;
      }
      if (!unix_may_send(sk, other)) {
        unix_state_double_unlock(sk, other);
        other->put();
        return -EPERM;
      }
      sk->sk_state.store(TCP_ESTABLISHED, std::memory_order_relaxed);
      other->sk_state.store(TCP_ESTABLISHED, std::memory_order_relaxed);
    } else {
      // 1003.1g: breaking the connected state with AF_UNSPEC.
      unix_state_double_lock(sk, nullptr);
    }
    UnixSock* old_peer = sk->peer.load(std::memory_order_relaxed);
    if (old_peer) {
      sk->peer.store(other, std::memory_order_release);
      if (!other) sk->sk_state.store(TCP_CLOSE, std::memory_order_relaxed);
      unix_dgram_peer_wake_disconnect_wakeup(sk, old_peer);
      unix_state_double_unlock(sk, other);
      if (other != old_peer) {
        unix_dgram_disconnected(sk, old_peer);
        SpinGuard g(old_peer->lock);
        if (!old_peer->peer.load(std::memory_order_relaxed))
          old_peer->sk_state.store(TCP_CLOSE, std::memory_order_relaxed);
      }
      old_peer->put();
    } else {
      sk->peer.store(other, std::memory_order_release);
      unix_state_double_unlock(sk, other);
    }
    return 0;
  }
  __poll_t poll(File* file, Socket* sock, PollTable* wait) const override {
    return dgram_poll(file, sock, wait);
  }
  int sendmsg(Socket* sock, KMsgHdr* msg, size_t len) const override {
    return dgram_sendmsg(sock, msg, len);
  }
  int recvmsg(Socket* sock, KMsgHdr* msg, size_t size, int flags) const override {
    return dgram_recvmsg(sock, msg, size, flags);
  }
};

class UnixSeqpacketOps final : public UnixConnectionOps {
 public:
  __poll_t poll(File* file, Socket* sock, PollTable* wait) const override {
    return dgram_poll(file, sock, wait);
  }
  int sendmsg(Socket* sock, KMsgHdr* msg, size_t len) const override {
    return seqpacket_sendmsg(sock, msg, len);
  }
  int recvmsg(Socket* sock, KMsgHdr* msg, size_t size, int flags) const override {
    return seqpacket_recvmsg(sock, msg, size, flags);
  }
};

const UnixStreamOps unix_stream_ops;
const UnixDgramOps unix_dgram_ops;
const UnixSeqpacketOps unix_seqpacket_ops;

// unix_create.
int unix_create(Net* net, Socket* sock, int protocol, bool /*kern*/) {
  if (protocol && protocol != PF_UNIX) return -EPROTONOSUPPORT;
  sock->state.store(SS_UNCONNECTED, std::memory_order_relaxed);
  switch (sock->type) {
    case SOCK_STREAM:
      sock->ops = &unix_stream_ops;
      break;
    case SOCK_RAW:  // believe it or not, BSD has AF_UNIX SOCK_RAW
      sock->type = SOCK_DGRAM;
      [[fallthrough]];
    case SOCK_DGRAM:
      sock->ops = &unix_dgram_ops;
      break;
    case SOCK_SEQPACKET:
      sock->ops = &unix_seqpacket_ops;
      break;
    default:
      return -ESOCKTNOSUPPORT;
  }
  unix_create1(net, sock, sock->type);
  return 0;
}

const NetProtoFamily unix_family_ops = {PF_UNIX, unix_create};

std::string name_of(const UnixAddress* a) {
  if (a == nullptr) return "*";
  const char* p = a->sun()->sun_path;
  if (a->bsd) return std::string(p);
  std::string s = "@";
  s.append(p + 1, size_t(a->len - kSunPathOff - 1));
  return s;
}

}  // namespace

UnixSock::UnixSock() {
  init_waitqueue_func_entry(&peer_wake.entry, unix_dgram_peer_wake_relay);
  peer_wake.owner = this;
  gc_link.owner = this;
}

UnixSock::~UnixSock() {
  sk_receive_queue.purge();
  if (UnixAddress* a = addr.load(std::memory_order_relaxed)) a->put();
}

// unix_write_space.
void UnixSock::sk_write_space() {
  if (unix_writable(this, sk_state.load(std::memory_order_relaxed))) {
    if (wq_has_sleeper(&wq)) wake_up_interruptible_sync_poll(&wq, POLLOUT | POLLWRNORM | POLLWRBAND);
  }
}

UnixTable* unix_table(Net* net) {
  // Created with the namespace's first AF_UNIX socket.
  static Mutex create_lock;
  auto* t = static_cast<UnixTable*>(__atomic_load_n(&net->unix_table, __ATOMIC_ACQUIRE));
  if (USTACK_LIKELY(t != nullptr)) return t;
  std::lock_guard g(create_lock);
  t = static_cast<UnixTable*>(net->unix_table);
  if (t == nullptr) {
    t = new UnixTable;
    t->ordernum = std::random_device{}() & 0xFFFFF;
    net->unix_table_free = unix_table_free;
    __atomic_store_n(&net->unix_table, t, __ATOMIC_RELEASE);
  }
  return t;
}

void af_unix_init() {
  const int err = sock_register(&unix_family_ops);
  USTACK_ASSERT(err == 0);
}

UnixSock* unix_get_socket(File* f) {
  Socket* sock = sock_from_file(f);
  if (sock == nullptr || sock->ops == nullptr || sock->ops->family != AF_UNIX || !sock->sk)
    return nullptr;
  return unix_sk(sock->sk);
}

std::vector<UnixSockInfo> unix_sock_list(Net* net) {
  std::vector<UnixSockInfo> out;
  UnixTable* t = unix_table(net);
  SpinGuard g(t->lock);
  for (UnixSock* u : t->all) {
    UnixSockInfo i;
    i.type = u->sk_type;
    i.state = u->sk_state.load(std::memory_order_relaxed);
    i.shutdown = u->sk_shutdown.load(std::memory_order_relaxed);
    if (i.state == TCP_LISTEN) {
      i.rqueue = u->sk_receive_queue.len_lockless();
      i.wqueue = unsigned(u->sk_max_ack_backlog.load(std::memory_order_relaxed));
    } else {
      // unix_inq_len: a datagram socket's first datagram, else every unread byte.
      i.rqueue = 0;
      SpinGuard q(u->sk_receive_queue.lock);
      if (u->sk_type == SOCK_DGRAM) {
        if (SkBuff* skb = u->sk_receive_queue.peek()) i.rqueue = skb->len;
      } else {
        u->sk_receive_queue.for_each([&](SkBuff* skb) { i.rqueue += unix_skb_len(skb); });
      }
      i.wqueue = unsigned(u->wmem_alloc_get());
    }
    i.local = name_of(u->addr.load(std::memory_order_acquire));
    // The peer's reference is ours while its lock is held: a connect() that replaces the peer
    // drops the old one only after unlocking.
    SpinGuard pg(u->lock);
    UnixSock* p = u->peer.load(std::memory_order_acquire);
    i.peer = p ? name_of(p->addr.load(std::memory_order_acquire)) : "*";
    i.ino = uintptr_t(u);
    i.peer_ino = uintptr_t(p);
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace ustack::net
