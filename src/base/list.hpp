// ListHead: the kernel's circular doubly linked list (include/linux/list.h).
//
// Why not Boost.Intrusive here (DESIGN.md §8 asks for it elsewhere): a wake function unlinks
// its own entry without knowing the head (list_del_init in autoremove_wake_function), and
// waitqueue_active() reads head.next without the lock. Both need the kernel's list, with the
// links as relaxed atomics so that the one lock-free read is not a data race.
//
// LOCKING: the owner's lock protects every link; only list_empty() may be called without it.
#pragma once

#include <atomic>

namespace ustack {

struct ListHead {
  std::atomic<ListHead*> next{this};
  std::atomic<ListHead*> prev{this};

  ListHead() = default;
  ListHead(const ListHead&) = delete;
  ListHead& operator=(const ListHead&) = delete;

  ListHead* nx() const { return next.load(std::memory_order_relaxed); }
  ListHead* pv() const { return prev.load(std::memory_order_relaxed); }
};

inline void INIT_LIST_HEAD(ListHead* l) {
  l->next.store(l, std::memory_order_relaxed);
  l->prev.store(l, std::memory_order_relaxed);
}

inline void __list_add(ListHead* n, ListHead* prev, ListHead* next) {
  next->prev.store(n, std::memory_order_relaxed);
  n->next.store(next, std::memory_order_relaxed);
  n->prev.store(prev, std::memory_order_relaxed);
  prev->next.store(n, std::memory_order_relaxed);
}
inline void list_add(ListHead* n, ListHead* head) { __list_add(n, head, head->nx()); }
inline void list_add_tail(ListHead* n, ListHead* head) { __list_add(n, head->pv(), head); }

inline void list_del_init(ListHead* e) {
  ListHead* prev = e->pv();
  ListHead* next = e->nx();
  next->prev.store(prev, std::memory_order_relaxed);
  prev->next.store(next, std::memory_order_relaxed);
  INIT_LIST_HEAD(e);
}

// Lock-free: for an entry, "not on any list"; for a head, "no entries".
inline bool list_empty(const ListHead* h) { return h->next.load(std::memory_order_relaxed) == h; }

}  // namespace ustack
