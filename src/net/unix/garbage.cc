// The AF_UNIX garbage collector (net/unix/garbage.c, the classic mark-and-sweep form): files
// passed with SCM_RIGHTS that are only reachable from other in-flight messages — a socket
// sent into its own queue, or two sockets sent to each other — are found and their queues
// purged, which drops the last references and closes the cycle.
//
// A socket is a candidate when every reference to its file is in flight (f_count ==
// inflight). Candidates referenced only by other candidates' queues are garbage; a candidate
// with a reference from outside, and everything its queue holds, is alive.
//
// LOCKING: g_gc_lock guards every UnixSock's inflight/gc fields and the in-flight list, and
// serialises collections. It is taken with no socket lock held, except that a candidate's
// receive-queue lock is taken under it to walk the queue (queue locks are leaves).
#include <mutex>
#include <vector>

#include "base/mutex.hpp"
#include "net/unix/af_unix.hpp"

namespace ustack::net {

namespace {

Mutex g_gc_lock;
ListHead g_inflight_list;           // of UnixSock::gc_link, under g_gc_lock
std::atomic<long> g_tot_inflight{0};  // files of any kind in flight

// Each in-flight unix socket held by the files in u's own queue, as f(UnixSock*).
template <class F>
void scan_queue(UnixSock* u, F&& f) {
  SpinGuard g(u->sk_receive_queue.lock);
  u->sk_receive_queue.for_each([&](SkBuff* skb) {
    if (ScmFpList* fp = skb->unix_cb.fp) {
      for (int i = 0; i < fp->count; ++i) {
        if (UnixSock* v = unix_get_socket(fp->fp[i])) f(v);
      }
    }
  });
}

// f(embryo) for each connection waiting in listener u's queue, with a reference held.
template <class F>
void for_each_embryo(UnixSock* u, F&& f) {
  std::vector<UnixSock*> embryos;
  {
    SpinGuard g(u->sk_receive_queue.lock);
    u->sk_receive_queue.for_each([&](SkBuff* skb) {
      auto* e = unix_sk(skb->sk);
      e->hold();
      embryos.push_back(e);
    });
  }
  for (UnixSock* e : embryos) {
    f(e);
    e->put();
  }
}

// The queues that hold u's in-flight files: its own, or a listener's embryos'.
template <class F>
void for_each_queue_owner(UnixSock* u, F&& f) {
  if (u->sk_state.load(std::memory_order_relaxed) == TCP_LISTEN) {
    for_each_embryo(u, f);
  } else {
    f(u);
  }
}

// The kernel's scan_children: a listener's queue holds embryos, not files, so their queues are
// walked instead, and a listener sent into one of its own embryos is found.
template <class F>
void scan_children(UnixSock* u, F&& f) {
  for_each_queue_owner(u, [&](UnixSock* q) { scan_queue(q, f); });
}

}  // namespace

void unix_inflight(File* f) {
  std::lock_guard g(g_gc_lock);
  if (UnixSock* u = unix_get_socket(f)) {
    if (u->inflight++ == 0) list_add_tail(&u->gc_link.link, &g_inflight_list);
  }
  g_tot_inflight.fetch_add(1, std::memory_order_relaxed);
}

void unix_notinflight(File* f) {
  std::lock_guard g(g_gc_lock);
  if (UnixSock* u = unix_get_socket(f)) {
    USTACK_ASSERT(u->inflight > 0);
    if (--u->inflight == 0) list_del_init(&u->gc_link.link);
  }
  g_tot_inflight.fetch_sub(1, std::memory_order_relaxed);
}

bool unix_gc_needed() { return g_tot_inflight.load(std::memory_order_relaxed) != 0; }

void unix_gc_barrier() { std::lock_guard g(g_gc_lock); }

void unix_gc() {
  std::vector<SkBuff*> hitlist;
  {
    std::lock_guard g(g_gc_lock);
    std::vector<UnixSock*> candidates;
    for (ListHead* l = g_inflight_list.nx(); l != &g_inflight_list; l = l->nx()) {
      UnixSock* u = USTACK_CONTAINER_OF(l, UnixSock::GcLink, link)->owner;
      File* f = u->sk_socket ? u->sk_socket->file : nullptr;
      if (f && f->f_count.load(std::memory_order_acquire) == u->inflight) {
        u->gc_candidate = true;
        u->gc_refs = u->inflight;
        candidates.push_back(u);
      }
    }
    if (candidates.empty()) return;
    // References held by candidates' queues do not keep a candidate alive.
    for (UnixSock* u : candidates) {
      scan_children(u, [](UnixSock* v) {
        if (v->gc_candidate) --v->gc_refs;
      });
    }
    // A candidate with a reference from elsewhere is alive, and so is what it holds.
    std::vector<UnixSock*> alive;
    for (UnixSock* u : candidates) {
      if (u->gc_refs > 0) alive.push_back(u);
    }
    while (!alive.empty()) {
      UnixSock* u = alive.back();
      alive.pop_back();
      if (!u->gc_candidate) continue;
      u->gc_candidate = false;
      scan_children(u, [&](UnixSock* v) {
        if (v->gc_candidate) alive.push_back(v);
      });
    }
    // What is left is garbage: take the skbs carrying files out of its queues.
    auto collect = [&hitlist](UnixSock* u) {
      SpinGuard q(u->sk_receive_queue.lock);
      std::vector<SkBuff*> mine;
      u->sk_receive_queue.for_each([&](SkBuff* skb) {
        if (skb->unix_cb.fp) mine.push_back(skb);
      });
      for (SkBuff* skb : mine) {
        u->sk_receive_queue.__unlink(skb);
        hitlist.push_back(skb);
      }
    };
    for (UnixSock* u : candidates) {
      if (!u->gc_candidate) continue;
      u->gc_candidate = false;
      for_each_queue_owner(u, collect);
    }
  }
  // Freeing drops file references, which may release sockets and run the collector again.
  for (SkBuff* skb : hitlist) kfree_skb(skb);
}

}  // namespace ustack::net
