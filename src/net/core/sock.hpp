// The socket layer's objects (include/linux/net.h, include/net/sock.h, include/net/scm.h):
//
//   File --private_data--> Socket (struct socket: state, type, ops) --sk--> Sock (struct sock)
//
// A Socket lives exactly as long as its File. A Sock is refcounted (sock_hold/sock_put): a
// connected AF_UNIX peer, an embryo in a listener's queue and an in-flight skb's owner all hold
// it. The wait queue that poll, epoll and blocked calls sleep on is the Sock's own (the
// kernel's socket_wq reached through sk->sk_wq): a sender that still holds the peer's Sock
// can wake it after the peer's file is gone without the RCU the kernel uses for that.
//
// ProtoOps is proto_ops and NetProtoFamily is net_proto_family; a missing method returns what
// the kernel's sock_no_* returns (-EOPNOTSUPP). Families register with sock_register(); the
// table stays open for AF_INET/AF_INET6.
//
// LOCKING: Sock::sk_lock (lock_sock) serialises option changes. The protocol adds its own
// locks (AF_UNIX: the state lock, iolock, bindlock). sk_state, sk_shutdown, sk_err and the
// option values are atomics: poll and the fast paths read them without a lock (READ_ONCE).
// wq.lock is a wait-queue head lock: taken after any socket lock, never before.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <string>

#include "base/limits.hpp"
#include "base/mutex.hpp"
#include "net/core/skbuff.hpp"
#include "vfs/file.hpp"
#include "wait/wait.hpp"

namespace ustack {
class Host;
}

namespace ustack::net {

// --- limits and sysctls (net/core/sock.c, net/unix/af_unix.c) ---
inline constexpr int kAfMax = 46;                    // AF_MAX (NPROTO)
inline constexpr int kSockMax = 11;                  // SOCK_MAX
inline constexpr int kSockTypeMask = 0xf;            // SOCK_TYPE_MASK
inline constexpr int kSysctlSomaxconn = 4096;        // net.core.somaxconn
inline constexpr int kSysctlWmemMax = 212992;        // net.core.wmem_max
inline constexpr int kSysctlRmemMax = 212992;        // net.core.rmem_max
inline constexpr int kSysctlWmemDefault = 212992;    // net.core.wmem_default
inline constexpr int kSysctlRmemDefault = 212992;    // net.core.rmem_default
inline constexpr int kSysctlOptmemMax = 131072;      // net.core.optmem_max: control data limit
inline constexpr int kUnixMaxDgramQlen = 10;         // net.unix.max_dgram_qlen
inline constexpr int kSockMinSndbuf = 4608;          // SOCK_MIN_SNDBUF (2 * TCP_SKB_MIN_TRUESIZE)
inline constexpr int kSockMinRcvbuf = 2304;          // SOCK_MIN_RCVBUF
inline constexpr int kScmMaxFd = 253;                // SCM_MAX_FD
inline constexpr long kHz = 250;                     // CONFIG_HZ: socket timeouts are in jiffies
inline constexpr long kMaxScheduleTimeout = LONG_MAX;  // MAX_SCHEDULE_TIMEOUT (jiffies)
inline constexpr int64_t kNsecPerJiffy = kNsecPerSec / kHz;

// The network namespace of a host (struct net): its sysctls and each family's tables. The
// host holds one reference and every Sock another, so that a socket outliving its host (a
// file still in flight) still finds its tables.
struct Net {
  std::atomic<long> refs{1};
  void get() { refs.fetch_add(1, std::memory_order_relaxed); }
  void put();
  std::atomic<int> somaxconn{kSysctlSomaxconn};
  std::atomic<int> unix_max_dgram_qlen{kUnixMaxDgramQlen};
  void* unix_table = nullptr;  // af_unix's name table (owned by af_unix)
  void (*unix_table_free)(void*) = nullptr;
};
Net* host_net(Host* h);
Net* current_net();

// TCP-style states that AF_UNIX borrows (include/net/tcp_states.h).
enum : int { TCP_ESTABLISHED = 1, TCP_SYN_SENT = 2, TCP_CLOSE = 7, TCP_LISTEN = 10 };
// sk_shutdown bits.
inline constexpr int RCV_SHUTDOWN = 1;
inline constexpr int SEND_SHUTDOWN = 2;
inline constexpr int SHUTDOWN_MASK = 3;
// socket_state (include/uapi/linux/net.h).
enum socket_state { SS_FREE, SS_UNCONNECTED, SS_CONNECTING, SS_CONNECTED, SS_DISCONNECTING };

class Sock;
class Socket;
class ProtoOps;

// sk_flags bits (enum sock_flags), the ones the socket layer reads.
enum SockFlag : unsigned {
  SOCK_DEAD = 1u << 0,
  SOCK_KEEPOPEN = 1u << 1,
  SOCK_LINGER = 1u << 2,
  SOCK_BROADCAST = 1u << 3,
  SOCK_URGINLINE = 1u << 4,
  SOCK_DBG = 1u << 5,
  SOCK_PASSCRED = 1u << 6,  // sk_scm_credentials in 6.x
  SOCK_RCVTSTAMP = 1u << 7,
};

// struct msghdr as the protocols see it: the name in kernel memory, the data through an
// iov_iter, the control buffer (sendmsg: a kernel copy; recvmsg: the user's, advanced by
// put_cmsg as the kernel advances msg_control_user).
struct KMsgHdr {
  struct sockaddr_storage* msg_name = nullptr;
  int msg_namelen = 0;
  IovIter* msg_iter = nullptr;
  void* msg_control = nullptr;
  size_t msg_controllen = 0;
  unsigned msg_flags = 0;
  size_t data_left() const { return msg_iter->count(); }
};

// SCM_RIGHTS files in flight (struct scm_fp_list).
struct ScmFpList {
  int count = 0;
  File* fp[kScmMaxFd];
};

// struct scm_cookie: what a sendmsg's control data carries, and what a recvmsg hands out.
struct ScmCookie {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  ScmFpList* fp = nullptr;
  ~ScmCookie();
};

// The protocol's operations (struct proto_ops). Defaults are the kernel's sock_no_*.
class ProtoOps {
 public:
  explicit constexpr ProtoOps(int family) : family(family) {}
  virtual ~ProtoOps() = default;
  const int family;

  virtual int release(Socket* sock) const = 0;
  virtual int bind(Socket*, struct sockaddr_storage*, int) const { return -EOPNOTSUPP; }
  virtual int connect(Socket*, struct sockaddr_storage*, int, int /*f_flags*/) const {
    return -EOPNOTSUPP;
  }
  virtual int socketpair(Socket*, Socket*) const { return -EOPNOTSUPP; }
  // accept: f_flags is the listener's file flags (O_NONBLOCK decides blocking).
  virtual int accept(Socket*, Socket* /*newsock*/, unsigned /*f_flags*/) const {
    return -EOPNOTSUPP;
  }
  // getname: the address length, or a negative errno. peer: 0 = own, 1 = peer, 2 = accept.
  virtual int getname(Socket*, struct sockaddr_storage*, int /*peer*/) const {
    return -EOPNOTSUPP;
  }
  virtual __poll_t poll(File*, Socket*, PollTable*) const { return 0; }
  // -ENOIOCTLCMD when the command is not the protocol's.
  virtual long ioctl(Socket*, unsigned long, unsigned long) const { return -ENOIOCTLCMD; }
  virtual int listen(Socket*, int) const { return -EOPNOTSUPP; }
  virtual int shutdown(Socket*, int) const { return -EOPNOTSUPP; }
  // Levels other than SOL_SOCKET: null in the kernel's table means EOPNOTSUPP.
  virtual int setsockopt(Socket*, int, int, const void*, int) const { return -EOPNOTSUPP; }
  virtual int getsockopt(Socket*, int, int, void*, socklen_t*) const { return -EOPNOTSUPP; }
  virtual int sendmsg(Socket*, KMsgHdr*, size_t) const { return -EOPNOTSUPP; }
  virtual int recvmsg(Socket*, KMsgHdr*, size_t, int) const { return -EOPNOTSUPP; }
  virtual void show_fdinfo(Socket*, std::string&) const {}

  static constexpr int ENOIOCTLCMD = 515;
};

// struct net_proto_family.
struct NetProtoFamily {
  int family;
  int (*create)(Net* net, Socket* sock, int protocol, bool kern);
};
// sock_register: -EEXIST if the family is taken, -ENOBUFS if out of range.
int sock_register(const NetProtoFamily* ops);
void sock_unregister(int family);

// struct socket.
class Socket {
 public:
  std::atomic<int> state{SS_UNCONNECTED};
  short type = 0;
  File* file = nullptr;
  Sock* sk = nullptr;
  const ProtoOps* ops = nullptr;
};

// struct sock: the protocol-independent part. Protocols derive from it (UnixSock).
class Sock {
 public:
  Sock() = default;
  virtual ~Sock();
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;

  // sock_hold/sock_put. The last put frees through sk_free, which waits for in-flight skbs
  // (sk_wmem_alloc holds one extra count until then, as in the kernel).
  void hold() { sk_refcnt.fetch_add(1, std::memory_order_relaxed); }
  void put() {
    if (sk_refcnt.fetch_sub(1, std::memory_order_acq_rel) == 1) sk_free();
  }
  void sk_free();

  bool flag(unsigned f) const { return sk_flags.load(std::memory_order_relaxed) & f; }
  void set_flag(unsigned f) { sk_flags.fetch_or(f, std::memory_order_relaxed); }
  void reset_flag(unsigned f) { sk_flags.fetch_and(~f, std::memory_order_relaxed); }
  void valbool_flag(unsigned f, bool on) { on ? set_flag(f) : reset_flag(f); }

  // sk_wmem_alloc_get: bytes charged to this socket's sends (the extra count excluded).
  int wmem_alloc_get() const { return sk_wmem_alloc.load(std::memory_order_relaxed) - 1; }

  // The callbacks (sk_data_ready...): virtual rather than pointers, since each protocol's
  // are fixed; the defaults are sock_def_readable, sock_def_write_space, sock_def_wakeup and
  // sock_def_error_report.
  virtual void sk_data_ready();
  virtual void sk_write_space();
  virtual void sk_state_change();
  virtual void sk_error_report();

  std::atomic<int> sk_refcnt{1};
  std::atomic<int> sk_wmem_alloc{1};
  Mutex sk_lock;                       // lock_sock
  WaitQueueHead wq;                    // sk_sleep(sk): the socket's wait queue
  Net* net = nullptr;
  Socket* sk_socket = nullptr;         // null once orphaned
  int sk_family = 0;
  int sk_type = 0;
  int sk_protocol = 0;
  std::atomic<int> sk_state{TCP_CLOSE};
  std::atomic<int> sk_shutdown{0};
  std::atomic<int> sk_err{0};
  std::atomic<int> sk_err_soft{0};
  std::atomic<unsigned> sk_flags{0};
  std::atomic<int> sk_sndbuf{kSysctlWmemDefault};
  std::atomic<int> sk_rcvbuf{kSysctlRmemDefault};
  std::atomic<int> sk_rcvlowat{1};
  std::atomic<long> sk_rcvtimeo{kMaxScheduleTimeout};  // jiffies
  std::atomic<long> sk_sndtimeo{kMaxScheduleTimeout};  // jiffies
  std::atomic<long> sk_lingertime{0};                  // jiffies
  std::atomic<unsigned> sk_ll_usec{0};                 // SO_BUSY_POLL
  std::atomic<int> sk_reuse{0};
  std::atomic<int> sk_max_ack_backlog{0};
  SkBuffHead sk_receive_queue;
  // SO_PEERCRED (sk_peer_pid/sk_peer_cred), under peer_lock.
  SpinLock peer_lock;
  bool peer_cred_set = false;
  pid_t peer_pid = 0;
  uid_t peer_uid = 0;
  gid_t peer_gid = 0;
};

// The calling process's credentials (current_cred() and task_tgid()), as SCM_CREDENTIALS and
// SO_PEERCRED report them. Read from the kernel once per process and again in a fork child:
// three system calls on every send would cost more than the send. A setuid() in a running
// process is therefore not seen by ustack's credentials (docs/sockets.md).
struct Cred {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};
const Cred& current_cred();

// sock_init_data: defaults from the namespace, links sock <-> sk.
void sock_init_data(Socket* sock, Sock* sk, Net* net);
// sock_orphan: the file is going away; SOCK_DEAD, no socket.
void sock_orphan(Sock* sk);
// init_peercred: SO_PEERCRED becomes the current process; copy_peercred: sk takes other's.
void init_peercred(Sock* sk);
void copy_peercred(Sock* sk, Sock* other);

// sock_error: the pending error, consumed (negative), or 0.
inline int sock_error(Sock* sk) {
  if (USTACK_LIKELY(sk->sk_err.load(std::memory_order_relaxed) == 0)) return 0;
  return -sk->sk_err.exchange(0);
}

// Timeouts: socket code keeps the kernel's jiffies in the options and works with absolute
// deadlines (ns) when it waits. A deadline of 0 is "no time left" (the kernel's timeo == 0),
// kNoDeadline is MAX_SCHEDULE_TIMEOUT.
inline constexpr int64_t kTimeoNone = 0;
int64_t sock_timeo_deadline(long jiffies);
inline int64_t sock_rcvtimeo(Sock* sk, bool noblock) {
  return noblock ? kTimeoNone : sock_timeo_deadline(sk->sk_rcvtimeo.load(std::memory_order_relaxed));
}
inline int64_t sock_sndtimeo(Sock* sk, bool noblock) {
  return noblock ? kTimeoNone : sock_timeo_deadline(sk->sk_sndtimeo.load(std::memory_order_relaxed));
}
// sock_intr_errno: an infinite wait restarts under SA_RESTART; a timed one is EINTR (E12).
int sock_intr_errno(int64_t timeo);
// schedule_timeout on a socket deadline: returns the deadline left (kTimeoNone once expired).
int64_t sock_schedule_timeout(Sock* sk, int64_t timeo, const char* wchan = __builtin_FUNCTION());
// sock_rcvlowat: how many bytes a blocking stream recv waits for.
inline int sock_rcvlowat(Sock* sk, bool waitall, int len) {
  int v = waitall ? len : std::min(sk->sk_rcvlowat.load(std::memory_order_relaxed), len);
  return v ? v : 1;
}

// sock_alloc_send_pskb: waits (sndtimeo) for sndbuf room, then an skb of header_len +
// data_len charged to sk. Null with *err set on failure.
SkBuff* sock_alloc_send_pskb(Sock* sk, size_t header_len, size_t data_len, bool noblock, int* err);
// skb_set_owner_w / sock_wfree.
void skb_set_owner_w(SkBuff* skb, Sock* sk);
void sock_wfree(SkBuff* skb);

// Datagram receive (net/core/datagram.c). `last` is the queue's tail at the last look.
SkBuff* __skb_try_recv_datagram(Sock* sk, SkBuffHead* queue, unsigned flags, int* err,
                                SkBuff** last);
// 0 when woken (look again), nonzero with *err set (0: shut down, no error) otherwise.
int __skb_wait_for_more_packets(Sock* sk, SkBuffHead* queue, int* err, int64_t* timeo,
                                const SkBuff* skb);
SkBuff* skb_recv_datagram(Sock* sk, unsigned flags, int* err);
// The wake function of blocked datagram receivers: only IN or ERR wake them (F6).
int receiver_wake_function(WaitQueueEntry* wait, unsigned mode, int sync, void* key);

// sock_poll_wait.
inline void sock_poll_wait(File* file, Sock* sk, PollTable* p) {
  if (!poll_does_not_wait(p)) {
    poll_wait(file, &sk->wq, p);
    smp_mb();  // pairs with the barrier in wq_has_sleeper
  }
}
inline __poll_t poll_requested_events(const PollTable* p) { return p ? p->_key : ~0u; }

// SOL_SOCKET options (sk_setsockopt/sk_getsockopt).
int sock_setsockopt(Socket* sock, int optname, const void* optval, int optlen);
int sock_getsockopt(Socket* sock, int optname, void* optval, socklen_t* optlen);

// put_cmsg: appends one control message to a recvmsg's buffer (MSG_CTRUNC if short).
void put_cmsg(KMsgHdr* msg, int level, int type, size_t len, const void* data);
// scm_detach_fds: installs the passed files in the receiver's table, as many as fit.
void scm_detach_fds(KMsgHdr* msg, ScmCookie* scm);
// __scm_send: parses SOL_SOCKET control messages (SCM_RIGHTS for AF_UNIX, SCM_CREDENTIALS).
int scm_send(Socket* sock, KMsgHdr* msg, ScmCookie* scm);

// sock_from_file: the Socket behind a file, or null (ENOTSOCK).
Socket* sock_from_file(File* file);
bool is_socket_file(const File* file);

// send_sig(SIGPIPE, current): after the caller has dropped its locks.
void send_sigpipe();

}  // namespace ustack::net
