// net/socket.c and net/core/scm.c: the family registry, socket files, and every socket call,
// with the kernel's argument checks in the kernel's order; control messages (SCM_RIGHTS,
// SCM_CREDENTIALS) in and out.
//
// LOCKING: net_families is an array of atomics (sock_register publishes with release; socket()
// reads with acquire). Each call holds a file reference (fdget) for its length; everything
// else is the protocol's.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "base/clock.hpp"
#include "base/limits.hpp"
#include "net/core/net.hpp"
#include "net/core/sock.hpp"
#include "sched/task.hpp"
#include "vfs/host.hpp"
#include "vfs/uaccess.hpp"
#include "vfs/vfs.hpp"

namespace ustack::net {

namespace {

std::atomic<const NetProtoFamily*> net_families[kAfMax];

// --- the socket file (socket_file_ops) ---

class SocketFileOps final : public FileOps {
 public:
  constexpr SocketFileOps() : FileOps(kReadIter | kWriteIter | kPoll | kFasync) {}
  const char* name() const override { return "socket"; }

  // sock_read_iter: a zero-length read returns 0 at once (SYS5), consuming nothing (E56).
  ssize_t read_iter(File* file, IovIter& to) const override {
    Socket* sock = static_cast<Socket*>(file->private_data);
    if (!to.count()) return 0;
    KMsgHdr msg;
    msg.msg_iter = &to;
    msg.msg_flags = file->nonblock() ? MSG_DONTWAIT : 0;
    return sock->ops->recvmsg(sock, &msg, to.count(), int(msg.msg_flags));
  }

  // sock_write_iter: write() is send() without flags (so SIGPIPE), MSG_EOR on seqpacket.
  ssize_t write_iter(File* file, IovIter& from) const override {
    Socket* sock = static_cast<Socket*>(file->private_data);
    KMsgHdr msg;
    msg.msg_iter = &from;
    msg.msg_flags = file->nonblock() ? MSG_DONTWAIT : 0;
    if (sock->type == SOCK_SEQPACKET) msg.msg_flags |= MSG_EOR;
    return sock->ops->sendmsg(sock, &msg, from.count());
  }

  __poll_t poll(File* file, PollTable* wait) const override {
    Socket* sock = static_cast<Socket*>(file->private_data);
    return sock->ops->poll(file, sock, wait);
  }

  // sock_ioctl -> sock_do_ioctl: the protocol's, else ENOTTY.
  long ioctl(File* file, unsigned long cmd, unsigned long arg) const override {
    Socket* sock = static_cast<Socket*>(file->private_data);
    long err = sock->ops->ioctl(sock, cmd, arg);
    if (err == -ProtoOps::ENOIOCTLCMD) return -ENOTTY;
    return err;
  }

  // sock_close -> __sock_release.
  void release(File* file) const override {
    Socket* sock = static_cast<Socket*>(file->private_data);
    if (sock->ops) sock->ops->release(sock);
    sock->sk = nullptr;
    delete sock;
  }

  void show_fdinfo(File* file, std::string& out) const override {
    Socket* sock = static_cast<Socket*>(file->private_data);
    sock->ops->show_fdinfo(sock, out);
  }
};

const SocketFileOps socket_file_ops;

// sock_alloc_file: a File for sock (flags: O_NONBLOCK from SOCK_NONBLOCK).
File* sock_alloc_file(Socket* sock, int flags) {
  File* f = alloc_file(&socket_file_ops, O_RDWR | (unsigned(flags) & O_NONBLOCK),
                       FMODE_READ | FMODE_WRITE, sock);
  sock->file = f;
  return f;
}

// __sock_create.
int sock_create(int family, int type, int protocol, Socket** res) {
  if (family < 0 || family >= kAfMax) return -EAFNOSUPPORT;
  if (type < 0 || type >= kSockMax) return -EINVAL;
  auto* sock = new Socket;
  sock->type = short(type);
  const NetProtoFamily* pf = net_families[family].load(std::memory_order_acquire);
  if (pf == nullptr) {
    delete sock;
    return -EAFNOSUPPORT;
  }
  int err = pf->create(current_net(), sock, protocol, false);
  if (err < 0) {
    if (sock->ops) sock->ops->release(sock);
    delete sock;
    return err;
  }
  *res = sock;
  return 0;
}

// sock_release for a socket that never got a file.
void sock_release(Socket* sock) {
  if (sock->ops) sock->ops->release(sock);
  delete sock;
}

// The fd's socket for the length of a call (sockfd_lookup_light): EBADF, then ENOTSOCK.
class SockRef {
 public:
  explicit SockRef(int fd) : f_(fd) {
    if (!f_) {
      err_ = -EBADF;
    } else if ((sock_ = sock_from_file(f_.get())) == nullptr) {
      err_ = -ENOTSOCK;
    }
  }
  int err() const { return err_; }
  Socket* get() const { return sock_; }
  Socket* operator->() const { return sock_; }
  File* file() const { return f_.get(); }

 private:
  FdRef f_;
  Socket* sock_ = nullptr;
  int err_ = 0;
};

// move_addr_to_kernel.
int move_addr_to_kernel(const void* uaddr, int ulen, struct sockaddr_storage* kaddr) {
  if (ulen < 0 || size_t(ulen) > sizeof(struct sockaddr_storage)) return -EINVAL;
  if (ulen == 0) return 0;
  if (uaddr == nullptr || !access_ok(uaddr, size_t(ulen))) return -EFAULT;
  std::memcpy(kaddr, uaddr, size_t(ulen));
  return 0;
}

// move_addr_to_user: copies min(klen, *ulen) bytes and stores klen.
int move_addr_to_user(const struct sockaddr_storage* kaddr, int klen, void* uaddr,
                      socklen_t* ulen) {
  if (ulen == nullptr) return -EFAULT;
  int len = int(*ulen);
  if (len > klen) len = klen;
  if (len < 0) return -EINVAL;
  if (len) {
    if (uaddr == nullptr || !access_ok(uaddr, size_t(len))) return -EFAULT;
    std::memcpy(uaddr, kaddr, size_t(len));
  }
  *ulen = socklen_t(klen);
  return 0;
}

// The checks before installing new fds: the table's EMFILE comes first, as with
// get_unused_fd_flags.
bool fds_available(int n) { return current_host()->fdt.have_free_fds(n, rlimit_nofile()); }

long install_file(File* f, int flags) {
  long fd = current_host()->fdt.install_lowest(f, 0, rlimit_nofile(), flags & O_CLOEXEC);
  if (fd < 0) fput(f);
  return fd;
}

// copy_msghdr_from_user's iovec: more than UIO_MAXIOV is EMSGSIZE here (import_iovec itself
// would say EINVAL).
long import_msg_iovec(const struct msghdr* umsg, struct iovec* iov, size_t* total) {
  if (umsg->msg_iovlen > size_t(kUioMaxIov)) return -EMSGSIZE;
  return vfs::import_iovec(umsg->msg_iov, umsg->msg_iovlen, iov, total);
}

// ____sys_sendmsg for one user msghdr.
long sys_sendmsg_one(Socket* sock, const struct msghdr* umsg, unsigned flags) {
  if (umsg == nullptr) return -EFAULT;
  struct sockaddr_storage address;
  KMsgHdr msg;
  if (umsg->msg_name != nullptr && umsg->msg_namelen) {
    int namelen = int(umsg->msg_namelen);
    if (namelen < 0) return -EINVAL;
    if (size_t(namelen) > sizeof address) namelen = sizeof address;
    std::memcpy(&address, umsg->msg_name, size_t(namelen));
    msg.msg_name = &address;
    msg.msg_namelen = namelen;
  }
  auto iov = std::make_unique<struct iovec[]>(std::max<size_t>(umsg->msg_iovlen, 1));
  size_t total = 0;
  long err = import_msg_iovec(umsg, iov.get(), &total);
  if (err) return err;
  IovIter it(iov.get(), umsg->msg_iovlen, total);
  msg.msg_iter = &it;
  if (umsg->msg_controllen > size_t(INT_MAX)) return -ENOBUFS;
  std::unique_ptr<char[]> ctl;
  if (umsg->msg_controllen) {
    if (umsg->msg_controllen > size_t(kSysctlOptmemMax)) return -ENOBUFS;
    if (umsg->msg_control == nullptr) return -EFAULT;
    ctl = std::make_unique<char[]>(umsg->msg_controllen);
    std::memcpy(ctl.get(), umsg->msg_control, umsg->msg_controllen);
    msg.msg_control = ctl.get();
    msg.msg_controllen = umsg->msg_controllen;
  }
  msg.msg_flags = flags;
  if (sock->file->nonblock()) msg.msg_flags |= MSG_DONTWAIT;
  return sock->ops->sendmsg(sock, &msg, total);
}

// ____sys_recvmsg for one user msghdr.
long sys_recvmsg_one(Socket* sock, struct msghdr* umsg, unsigned flags) {
  if (umsg == nullptr) return -EFAULT;
  struct sockaddr_storage address;
  KMsgHdr msg;
  // __copy_msghdr: no name buffer means no name length; a negative one is EINVAL, before the
  // iovec is looked at.
  if (umsg->msg_name != nullptr && int(umsg->msg_namelen) < 0) return -EINVAL;
  auto iov = std::make_unique<struct iovec[]>(std::max<size_t>(umsg->msg_iovlen, 1));
  size_t total = 0;
  long err = import_msg_iovec(umsg, iov.get(), &total);
  if (err) return err;
  IovIter it(iov.get(), umsg->msg_iovlen, total);
  msg.msg_iter = &it;
  msg.msg_name = umsg->msg_name ? &address : nullptr;
  msg.msg_namelen = 0;
  msg.msg_control = umsg->msg_control;
  msg.msg_controllen = umsg->msg_controllen;
  void* const cmsg_ptr = umsg->msg_control;
  msg.msg_flags = flags & MSG_CMSG_CLOEXEC;
  if (sock->file->nonblock()) flags |= MSG_DONTWAIT;
  const long len = sock->ops->recvmsg(sock, &msg, total, int(flags));
  if (len < 0) return len;
  if (umsg->msg_name != nullptr) {
    err = move_addr_to_user(&address, msg.msg_namelen, umsg->msg_name, &umsg->msg_namelen);
    if (err < 0) return err;
  } else {
    umsg->msg_namelen = 0;
  }
  umsg->msg_flags = int(msg.msg_flags);
  umsg->msg_controllen = size_t(static_cast<char*>(msg.msg_control) - static_cast<char*>(cmsg_ptr));
  return len;
}

}  // namespace

// --- registry ---

int sock_register(const NetProtoFamily* ops) {
  if (ops->family < 0 || ops->family >= kAfMax) return -ENOBUFS;
  const NetProtoFamily* expected = nullptr;
  if (!net_families[ops->family].compare_exchange_strong(expected, ops, std::memory_order_release))
    return -EEXIST;
  return 0;
}

void sock_unregister(int family) {
  USTACK_ASSERT(family >= 0 && family < kAfMax);
  net_families[family].store(nullptr, std::memory_order_release);
}

bool is_socket_file(const File* file) { return file->f_op == &socket_file_ops; }
Socket* sock_from_file(File* file) {
  return file->f_op == &socket_file_ops ? static_cast<Socket*>(file->private_data) : nullptr;
}

// --- control messages (net/core/scm.c) ---

ScmCookie::~ScmCookie() {
  if (fp) {
    for (int i = 0; i < fp->count; ++i) fput(fp->fp[i]);
    delete fp;
  }
}

int scm_send(Socket* sock, KMsgHdr* msg, ScmCookie* scm) {
  const Cred& c = current_cred();
  scm->pid = c.pid;
  scm->uid = c.uid;
  scm->gid = c.gid;
  if (msg->msg_controllen == 0) return 0;
  char* const base = static_cast<char*>(msg->msg_control);
  const size_t total = msg->msg_controllen;
  size_t off = 0;
  while (off + sizeof(struct cmsghdr) <= total) {
    auto* cmsg = reinterpret_cast<struct cmsghdr*>(base + off);
    // CMSG_OK: at least a header, and within the buffer.
    if (cmsg->cmsg_len < sizeof(struct cmsghdr) || cmsg->cmsg_len > total - off) return -EINVAL;
    if (cmsg->cmsg_level == SOL_SOCKET) {
      switch (cmsg->cmsg_type) {
        case SCM_RIGHTS: {
          if (sock->ops->family != AF_UNIX) return -EINVAL;
          const int num = int((cmsg->cmsg_len - sizeof(struct cmsghdr)) / sizeof(int));
          if (num <= 0) break;
          if (num > kScmMaxFd) return -EINVAL;
          if (!scm->fp) scm->fp = new ScmFpList;
          if (scm->fp->count + num > kScmMaxFd) return -EINVAL;
          const int* fdp = reinterpret_cast<const int*>(CMSG_DATA(cmsg));
          for (int i = 0; i < num; ++i) {
            int fd;
            std::memcpy(&fd, fdp + i, sizeof fd);
            File* f = fd < 0 ? nullptr : current_host()->fdt.fget(fd);
            if (f == nullptr) return -EBADF;
            scm->fp->fp[scm->fp->count++] = f;
          }
          break;
        }
        case SCM_CREDENTIALS: {
          if (cmsg->cmsg_len != CMSG_LEN(sizeof(struct ucred))) return -EINVAL;
          struct ucred creds;
          std::memcpy(&creds, CMSG_DATA(cmsg), sizeof creds);
          // scm_check_creds: one's own pid (or CAP_SYS_ADMIN), uid and gid (or CAP_SETUID/GID).
          // scm_check_creds: an invalid uid or gid first, then permission.
          if (creds.uid == uid_t(-1) || creds.gid == gid_t(-1)) return -EINVAL;
          const bool admin = c.uid == 0;
          if (!((creds.pid == c.pid || admin) && (creds.uid == c.uid || admin) &&
                (creds.gid == c.gid || admin)))
            return -EPERM;
          if (creds.pid != c.pid && (creds.pid <= 0 || (::kill(creds.pid, 0) != 0 && errno == ESRCH)))
            return -ESRCH;
          scm->pid = creds.pid;
          scm->uid = creds.uid;
          scm->gid = creds.gid;
          break;
        }
        default:
          return -EINVAL;
      }
    }
    off += CMSG_ALIGN(cmsg->cmsg_len);
  }
  if (scm->fp && scm->fp->count == 0) {
    delete scm->fp;
    scm->fp = nullptr;
  }
  return 0;
}

void put_cmsg(KMsgHdr* msg, int level, int type, size_t len, const void* data) {
  size_t cmlen = CMSG_LEN(len);
  if (msg->msg_control == nullptr || msg->msg_controllen < sizeof(struct cmsghdr)) {
    msg->msg_flags |= MSG_CTRUNC;
    return;
  }
  if (msg->msg_controllen < cmlen) {
    msg->msg_flags |= MSG_CTRUNC;
    cmlen = msg->msg_controllen;
  }
  struct cmsghdr h;
  h.cmsg_level = level;
  h.cmsg_type = type;
  h.cmsg_len = cmlen;
  char* p = static_cast<char*>(msg->msg_control);
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + sizeof(struct cmsghdr), data, cmlen - sizeof(struct cmsghdr));
  cmlen = std::min(CMSG_SPACE(len), msg->msg_controllen);
  msg->msg_control = p + cmlen;
  msg->msg_controllen -= cmlen;
}

void scm_detach_fds(KMsgHdr* msg, ScmCookie* scm) {
  const bool cloexec = msg->msg_flags & MSG_CMSG_CLOEXEC;
  const int max_fds = msg->msg_controllen <= sizeof(struct cmsghdr)
                          ? 0
                          : int((msg->msg_controllen - sizeof(struct cmsghdr)) / sizeof(int));
  const int fdmax = std::min(max_fds, scm->fp->count);
  char* cm = static_cast<char*>(msg->msg_control);
  int i = 0;
  for (; i < fdmax; ++i) {
    File* f = scm->fp->fp[i];
    f->get();
    const long fd = current_host()->fdt.install_lowest(f, 0, rlimit_nofile(), cloexec);
    if (fd < 0) {
      fput(f);
      break;
    }
    const int ifd = int(fd);
    std::memcpy(cm + CMSG_LEN(0) + size_t(i) * sizeof(int), &ifd, sizeof ifd);
  }
  if (i > 0) {
    struct cmsghdr h;
    h.cmsg_level = SOL_SOCKET;
    h.cmsg_type = SCM_RIGHTS;
    h.cmsg_len = CMSG_LEN(size_t(i) * sizeof(int));
    std::memcpy(cm, &h, sizeof h);
    size_t cmlen = std::min(CMSG_SPACE(size_t(i) * sizeof(int)), msg->msg_controllen);
    msg->msg_control = cm + cmlen;
    msg->msg_controllen -= cmlen;
  }
  if (i < scm->fp->count || (scm->fp->count && fdmax <= 0)) msg->msg_flags |= MSG_CTRUNC;
  // The references that were installed were taken above; the cookie drops the list's own.
}

// --- the calls ---

long __sys_socket(int family, int type, int protocol) {
  const int flags = type & ~kSockTypeMask;
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return -EINVAL;
  type &= kSockTypeMask;
  Socket* sock;
  int err = sock_create(family, type, protocol, &sock);
  if (err < 0) return err;
  return install_file(sock_alloc_file(sock, flags), flags);
}

long __sys_socketpair(int family, int type, int protocol, int* usockvec) {
  const int flags = type & ~kSockTypeMask;
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return -EINVAL;
  type &= kSockTypeMask;
  if (!fds_available(2)) return -EMFILE;
  if (usockvec == nullptr) return -EFAULT;
  Socket* sock1;
  int err = sock_create(family, type, protocol, &sock1);
  if (err < 0) return err;
  Socket* sock2;
  err = sock_create(family, type, protocol, &sock2);
  if (err < 0) {
    sock_release(sock1);
    return err;
  }
  err = sock1->ops->socketpair(sock1, sock2);
  if (err < 0) {
    sock_release(sock2);
    sock_release(sock1);
    return err;
  }
  File* f1 = sock_alloc_file(sock1, flags);
  File* f2 = sock_alloc_file(sock2, flags);
  const long fd1 = install_file(f1, flags);
  if (fd1 < 0) {
    fput(f2);
    return fd1;
  }
  const long fd2 = install_file(f2, flags);
  if (fd2 < 0) {
    current_host()->fdt.close(unsigned(fd1));
    return fd2;
  }
  usockvec[0] = int(fd1);
  usockvec[1] = int(fd2);
  return 0;
}

long __sys_bind(int fd, const struct sockaddr* umyaddr, int addrlen) {
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  struct sockaddr_storage address;
  int err = move_addr_to_kernel(umyaddr, addrlen, &address);
  if (err) return err;
  return sock->ops->bind(sock.get(), &address, addrlen);
}

long __sys_listen(int fd, int backlog) {
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  const int somaxconn = sock->sk->net->somaxconn.load(std::memory_order_relaxed);
  if (unsigned(backlog) > unsigned(somaxconn)) backlog = somaxconn;
  return sock->ops->listen(sock.get(), backlog);
}

long __sys_accept4(int fd, struct sockaddr* upeer_sockaddr, socklen_t* upeer_addrlen, int flags) {
  FdRef f(fd);
  if (!f) return -EBADF;
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return -EINVAL;
  if (!fds_available(1)) return -EMFILE;
  Socket* sock = sock_from_file(f.get());
  if (sock == nullptr) return -ENOTSOCK;
  auto* newsock = new Socket;
  newsock->type = sock->type;
  newsock->ops = sock->ops;
  File* newfile = sock_alloc_file(newsock, flags);
  int err = sock->ops->accept(sock, newsock, f->f_flags.load(std::memory_order_relaxed));
  if (err < 0) {
    newsock->ops = nullptr;  // nothing to release: accept attached no sock
    fput(newfile);
    return err;
  }
  if (upeer_sockaddr) {
    struct sockaddr_storage address;
    const int len = newsock->ops->getname(newsock, &address, 2);
    if (len < 0) {
      fput(newfile);
      return -ECONNABORTED;
    }
    err = move_addr_to_user(&address, len, upeer_sockaddr, upeer_addrlen);
    if (err < 0) {
      fput(newfile);
      return err;
    }
  }
  return install_file(newfile, flags);
}

long __sys_connect(int fd, const struct sockaddr* uservaddr, int addrlen) {
  FdRef f(fd);
  if (!f) return -EBADF;
  struct sockaddr_storage address;
  int err = move_addr_to_kernel(uservaddr, addrlen, &address);
  if (err) return err;
  Socket* sock = sock_from_file(f.get());
  if (sock == nullptr) return -ENOTSOCK;
  return sock->ops->connect(sock, &address, addrlen, int(f->f_flags.load(std::memory_order_relaxed)));
}

long __sys_sendto(int fd, const void* buff, size_t len, unsigned flags,
                  const struct sockaddr* addr, int addr_len) {
  if (len > kMaxRwCount) len = kMaxRwCount;
  if (!access_ok(buff, len)) return -EFAULT;
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  struct iovec iov = {const_cast<void*>(buff), len};
  IovIter it(&iov, 1, len);
  KMsgHdr msg;
  msg.msg_iter = &it;
  struct sockaddr_storage address;
  if (addr) {
    int err = move_addr_to_kernel(addr, addr_len, &address);
    if (err < 0) return err;
    msg.msg_name = &address;
    msg.msg_namelen = addr_len;
  }
  if (sock.file()->nonblock()) flags |= MSG_DONTWAIT;
  msg.msg_flags = flags;
  return sock->ops->sendmsg(sock.get(), &msg, len);
}

long __sys_recvfrom(int fd, void* ubuf, size_t size, unsigned flags, struct sockaddr* addr,
                    socklen_t* addr_len) {
  if (size > kMaxRwCount) size = kMaxRwCount;
  if (!access_ok(ubuf, size)) return -EFAULT;
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  struct iovec iov = {ubuf, size};
  IovIter it(&iov, 1, size);
  KMsgHdr msg;
  msg.msg_iter = &it;
  struct sockaddr_storage address;
  msg.msg_name = addr ? &address : nullptr;
  msg.msg_namelen = 0;
  if (sock.file()->nonblock()) flags |= MSG_DONTWAIT;
  long err = sock->ops->recvmsg(sock.get(), &msg, size, int(flags));
  if (err >= 0 && addr != nullptr) {
    const int err2 = move_addr_to_user(&address, msg.msg_namelen, addr, addr_len);
    if (err2 < 0) err = err2;
  }
  return err;
}

long __sys_sendmsg(int fd, const struct msghdr* msg, unsigned flags) {
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  return sys_sendmsg_one(sock.get(), msg, flags);
}

long __sys_sendmmsg(int fd, struct mmsghdr* mmsg, unsigned vlen, unsigned flags) {
  if (vlen > unsigned(kUioMaxIov)) vlen = kUioMaxIov;
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  unsigned datagrams = 0;
  long err = 0;
  while (datagrams < vlen) {
    err = sys_sendmsg_one(sock.get(), &mmsg[datagrams].msg_hdr, flags);
    if (err < 0) break;
    mmsg[datagrams].msg_len = unsigned(err);
    err = 0;
    ++datagrams;
  }
  if (datagrams != 0) return long(datagrams);
  return err;
}

long __sys_recvmsg(int fd, struct msghdr* msg, unsigned flags) {
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  return sys_recvmsg_one(sock.get(), msg, flags);
}

long __sys_recvmmsg(int fd, struct mmsghdr* mmsg, unsigned vlen, unsigned flags,
                    struct timespec* timeout) {
  int64_t end_ns = 0;
  if (timeout) {
    if (!timespec_valid(*timeout)) return -EINVAL;
    end_ns = deadline_after(sched::now_ns(), timeout->tv_sec, timeout->tv_nsec);
  }
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  if (!(flags & MSG_ERRQUEUE)) {
    const int e = sock_error(sock->sk);
    if (e) return e;
  }
  unsigned datagrams = 0;
  long err = 0;
  while (datagrams < vlen) {
    err = sys_recvmsg_one(sock.get(), &mmsg[datagrams].msg_hdr, flags & ~unsigned(MSG_WAITFORONE));
    if (err < 0) break;
    mmsg[datagrams].msg_len = unsigned(err);
    err = 0;
    const unsigned got_flags = unsigned(mmsg[datagrams].msg_hdr.msg_flags);
    ++datagrams;
    if (flags & MSG_WAITFORONE) flags |= MSG_DONTWAIT;
    if (timeout) {
      const int64_t left = end_ns - sched::now_ns();
      if (left <= 0) {
        timeout->tv_sec = 0;
        timeout->tv_nsec = 0;
        break;
      }
      *timeout = ns_to_timespec(left);
    }
    if (got_flags & MSG_OOB) break;
  }
  if (err == 0) return long(datagrams);
  if (datagrams == 0) return err;
  // Some were received: report them, and keep the error for the next call (not EAGAIN).
  if (err != -EAGAIN) sock->sk->sk_err.store(int(-err), std::memory_order_relaxed);
  return long(datagrams);
}

long __sys_shutdown(int fd, int how) {
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  return sock->ops->shutdown(sock.get(), how);
}

namespace {
// getsockname/getpeername: ops->getname, then the address out. peer: 0 own, 1 the peer's.
long sys_getname(int fd, struct sockaddr* usockaddr, socklen_t* usockaddr_len, int peer) {
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  struct sockaddr_storage address;
  const int len = sock->ops->getname(sock.get(), &address, peer);
  if (len < 0) return len;
  return move_addr_to_user(&address, len, usockaddr, usockaddr_len);
}
}  // namespace

long __sys_getsockname(int fd, struct sockaddr* usockaddr, socklen_t* usockaddr_len) {
  return sys_getname(fd, usockaddr, usockaddr_len, 0);
}

long __sys_getpeername(int fd, struct sockaddr* usockaddr, socklen_t* usockaddr_len) {
  return sys_getname(fd, usockaddr, usockaddr_len, 1);
}

long __sys_getsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen) {
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  if (level == SOL_SOCKET) return sock_getsockopt(sock.get(), optname, optval, optlen);
  return sock->ops->getsockopt(sock.get(), level, optname, optval, optlen);
}

long __sys_setsockopt(int fd, int level, int optname, const void* optval, int optlen) {
  if (optlen < 0) return -EINVAL;
  SockRef sock(fd);
  if (sock.err()) return sock.err();
  if (level == SOL_SOCKET) return sock_setsockopt(sock.get(), optname, optval, optlen);
  return sock->ops->setsockopt(sock.get(), level, optname, optval, optlen);
}

}  // namespace ustack::net
