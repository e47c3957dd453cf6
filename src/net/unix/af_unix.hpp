// AF_UNIX (net/unix/af_unix.c, net/unix/garbage.c, include/net/af_unix.h).
//
// Names: abstract names live in the host's table, keyed by (type, name) — the kernel folds the
// type into the hash, so a name is per socket type (E34). Pathname names are real socket inodes
// (bind creates one with mknod, as the kernel does), found again through the host's
// (st_dev, st_ino) → socket table: the path behaves as on Linux (EADDRINUSE until unlinked,
// ENOENT, ECONNREFUSED for a non-socket or for a socket inode no ustack socket of this host
// is bound to), and a path bound in one host is not reachable from another.
//
// LOCKING (the kernel's order):
//   UnixSock::iolock (readers; a mutex, held across copying)
//     -> UnixSock::lock (unix_state_lock: peer, state, shutdown; two socks: lower address first)
//       -> sk_receive_queue.lock
//       -> peer_wait.lock, then the sock's wq.lock (the relay wakes under peer_wait.lock)
//   UnixSock::bindlock (a mutex) is taken before the table lock; the table lock (UnixTable::
//   lock) is taken before a sock's state lock (the ss listing) and never under one.
//   g_gc_lock (garbage.cc) is taken with no socket spinlock held (iolock may be), and takes
//   receive-queue locks under it. No skb is freed under a state or queue lock: its destructor
//   may release files, and with them sockets.
#pragma once

#include <sys/stat.h>
#include <sys/un.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.hpp"
#include "net/core/sock.hpp"

namespace ustack::net {

// struct unix_address: immutable once published, shared by a listener and its children.
struct UnixAddress {
  std::atomic<int> refcnt{1};
  int len = 0;                    // bytes of name that are valid (getsockname's length)
  struct sockaddr_storage name;   // sun_family + sun_path (a pathname is NUL-terminated)
  bool bsd = false;               // pathname (an inode) rather than abstract
  dev_t dev = 0;
  ino_t ino = 0;
  void get() { refcnt.fetch_add(1, std::memory_order_relaxed); }
  void put() {
    if (refcnt.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  const struct sockaddr_un* sun() const {
    return reinterpret_cast<const struct sockaddr_un*>(&name);
  }
};

class UnixSock final : public Sock {
 public:
  UnixSock();
  ~UnixSock() override;

  void sk_write_space() override;  // unix_write_space: writable at <= 1/4 sndbuf

  SpinLock lock;                           // unix_state_lock
  Mutex iolock;                            // serialises readers
  Mutex bindlock;
  std::atomic<UnixSock*> peer{nullptr};    // unix_peer(sk), under lock; read lockless
  std::atomic<UnixAddress*> addr{nullptr};  // published once with release
  bool hashed_bsd = false;                 // in the table by inode (under the table lock)
  WaitQueueHead peer_wait;                 // senders waiting for room in our queue
  // Our hook on a full peer's peer_wait (the relay); owner leads back to us from the entry.
  struct PeerWake {
    WaitQueueEntry entry;
    UnixSock* owner;
  } peer_wake;
  std::atomic<SkBuff*> oob_skb{nullptr};   // the pending MSG_OOB byte
  std::atomic<int> scm_stat_nr_fds{0};     // files queued to us (fdinfo's scm_fds)
  // The garbage collector's view (under g_gc_lock): how many references to our file are in
  // flight in SCM_RIGHTS messages, and our place on the in-flight list.
  long inflight = 0;
  struct GcLink {
    ListHead link;
    UnixSock* owner;
  } gc_link;
  long gc_refs = 0;
  bool gc_candidate = false;
};

inline UnixSock* unix_sk(Sock* sk) { return static_cast<UnixSock*>(sk); }
inline UnixSock* unix_peer(Sock* sk) { return unix_sk(sk)->peer.load(std::memory_order_acquire); }

// The host's AF_UNIX names and sockets.
struct UnixTable {
  SpinLock lock;
  std::map<std::pair<int, std::string>, UnixSock*> abstract;  // (type, name bytes)
  std::map<std::pair<dev_t, ino_t>, UnixSock*> bsd;
  std::set<UnixSock*> all;  // every live AF_UNIX sock of the host (ss -x)
  unsigned ordernum = 0;    // autobind's next name
};
UnixTable* unix_table(Net* net);

// Registers AF_UNIX (af_unix_init).
void af_unix_init();

// The garbage collector (garbage.c): files in flight, and cycles of them nobody can reach.
void unix_inflight(File* f);
void unix_notinflight(File* f);
void unix_gc();
bool unix_gc_needed();
// Waits for a collection in progress to end (unix_peek_fds takes new file references).
void unix_gc_barrier();
// The socket behind a file if it is an AF_UNIX socket (unix_get_socket).
UnixSock* unix_get_socket(File* f);

// For inspection (ustack-ss -x): one line per socket, like `ss -x`.
struct UnixSockInfo {
  int type;
  int state;
  int shutdown;
  unsigned rqueue;     // bytes (stream) or datagrams queued to us; pending connections
  unsigned wqueue;     // bytes charged to our sends (SIOCOUTQ) or the backlog
  std::string local;   // our name ("*" unnamed, "@..." abstract, path)
  std::string peer;    // the peer's name
  uintptr_t ino;       // a stable id for the sock
  uintptr_t peer_ino;  // the peer's id, 0 if none
};
std::vector<UnixSockInfo> unix_sock_list(Net* net);

}  // namespace ustack::net
