// libustack-preload.so: the C library's socket, I/O, poll and epoll entry points, on ustack
// (DESIGN.md §5, docs/preload.md).
//
// Every call on an fd asks one question first: is this a ustack fd? That is one atomic load of
// the fd's slot in the default host's table; a ustack fd goes to ustack, anything else to the
// C library. Calls that make objects (socket, socketpair, pipe, eventfd, epoll_create) follow the
// policy (environment variables, below). ustack's fd numbers are the kernel's: each ustack fd
// holds its number in the kernel's table with a placeholder (kernel_fds.hpp), so numbers never
// collide and FD_SET works. poll, select and epoll take kernel fds alongside ustack fds.
//
// The definitions carry the C library's names through asm labels (`pl_read` is the symbol
// `read`): the C++ names stay clear of <unistd.h>'s declarations and their exception
// specifications. exports.map exports exactly these symbols and nothing of ustack's.
//
// LOCKING: g_fdt and the policy are written by the constructor before any other thread can run
// preloaded code, and g_fdt again by the fork child's handler, single-threaded. The counters
// are relaxed atomics.
#include <dlfcn.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <atomic>
#include <mutex>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include "preload/kernel.hpp"
#include "preload/kernel_fds.hpp"
#include "sched/signal.hpp"
#include "vfs/host.hpp"

extern "C" void __chk_fail(void) __attribute__((noreturn));

namespace ustack::preload {

// --- the C library's entry points (kernel.hpp) ---
namespace kernel {
#define USTACK_KERNEL_DEFINE(name) decltype(&::name) name = nullptr;
USTACK_KERNEL_CALLS(USTACK_KERNEL_DEFINE)
#undef USTACK_KERNEL_DEFINE

void resolve() {
#define USTACK_KERNEL_RESOLVE(fn) \
  fn = reinterpret_cast<decltype(&::fn)>(dlsym(RTLD_NEXT, #fn));
  USTACK_KERNEL_CALLS(USTACK_KERNEL_RESOLVE)
#undef USTACK_KERNEL_RESOLVE
}
}  // namespace kernel

namespace {

// --- policy (docs/preload.md) ---
// Plain data, constant-initialised: it must not be reset by a C++ initialiser that runs after
// the library has started (see lazy_init).
struct Policy {
  uint64_t families;    // USTACK_FAMILIES: socket families ustack takes (bit per AF_*)
  bool pipes;           // USTACK_PIPE=ustack|kernel
  bool eventfds;        // USTACK_EVENTFD=ustack|kernel
  bool unix_fallback;   // USTACK_UNIX_FALLBACK: a path only the kernel knows → kernel socket
  bool stats;           // USTACK_STATS=1: one line of counts on stderr at exit
  const char* trace;    // USTACK_TRACE=FILE: the wake-up trace, written at exit (or null)
};
Policy g_policy = {uint64_t(1) << AF_UNIX, true, true, true, false, nullptr};

// The default host's table while ustack is on; null before the first call, when USTACK=off,
// and in a forked child (a kernel-only process: docs/preload.md).
FdTable* g_fdt = nullptr;
enum State : int { kUninit, kOn, kOff };
std::atomic<int> g_state{kUninit};
int g_init_pid = 0;

std::atomic<unsigned long> g_sockets{0}, g_pipes{0}, g_eventfds{0}, g_epolls{0};

void lazy_init();

// The table, or null when ustack is off. Its first call starts the library (lazy_init).
inline FdTable* fdt() {
  FdTable* t = g_fdt;
  if (__builtin_expect(t != nullptr, 1)) return t;
  if (g_state.load(std::memory_order_acquire) == kUninit) lazy_init();
  return g_fdt;
}
inline bool on() { return fdt() != nullptr; }
inline bool ours(int fd) {
  FdTable* t = fdt();
  return t != nullptr && t->fd_is_open(unsigned(fd));
}
inline void count(std::atomic<unsigned long>& c, long r, unsigned long n = 1) {
  if (r >= 0) c.fetch_add(n, std::memory_order_relaxed);
}

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, value) == 0;
}

// USTACK_FAMILIES: "all" (everything ustack implements: AF_UNIX), "none", or a comma list of
// "unix"/"local". Unknown words are ignored, with a warning.
uint64_t parse_families(const char* v) {
  if (v == nullptr || std::strcmp(v, "all") == 0) return uint64_t(1) << AF_UNIX;
  uint64_t m = 0;
  std::string s(v);
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    const std::string w = s.substr(pos, end - pos);
    if (w == "unix" || w == "local") {
      m |= uint64_t(1) << AF_UNIX;
    } else if (!w.empty() && w != "none") {
      std::fprintf(stderr, "ustack: USTACK_FAMILIES: '%s' is not a family ustack implements\n",
                   w.c_str());
    }
    pos = end + 1;
  }
  return m;
}

bool family_is_ours(int domain) {
  return on() && domain >= 0 && domain < 64 && (g_policy.families >> domain & 1);
}

// The number of an fd_set word (select's bitmaps are arrays of longs).
constexpr unsigned kBitsPerWord = 8 * sizeof(unsigned long);

bool select_has_ours(int nfds, const fd_set* r, const fd_set* w, const fd_set* e) {
  if (!on() || nfds <= 0) return false;
  auto word = [](const fd_set* s, unsigned i) {
    return s ? reinterpret_cast<const unsigned long*>(s)[i] : 0UL;
  };
  for (unsigned i = 0; i * kBitsPerWord < unsigned(nfds); ++i) {
    unsigned long bits = word(r, i) | word(w, i) | word(e, i);
    while (bits) {
      const unsigned fd = i * kBitsPerWord + unsigned(__builtin_ctzl(bits));
      bits &= bits - 1;
      if (fd < unsigned(nfds) && ours(int(fd))) return true;
    }
  }
  return false;
}

bool poll_has_ours(const struct pollfd* fds, nfds_t n) {
  if (!on() || fds == nullptr) return false;
  for (nfds_t i = 0; i < n; ++i) {
    if (ours(fds[i].fd)) return true;
  }
  return false;
}

// A pathname AF_UNIX address (not abstract, not unnamed).
bool is_unix_path(const struct sockaddr* a, socklen_t len) {
  return a != nullptr && len > offsetof(struct sockaddr_un, sun_path) &&
         a->sa_family == AF_UNIX &&
         reinterpret_cast<const struct sockaddr_un*>(a)->sun_path[0] != '\0';
}

// A ustack AF_UNIX socket that was refused a path only the kernel knows becomes a kernel
// socket of the same type under the same number (the placeholder is replaced atomically).
// Only an unbound socket can move: its name would otherwise be ustack's. O_NONBLOCK and
// FD_CLOEXEC carry over; other options set before do not (docs/preload.md).
bool move_to_kernel(int fd) {
  int type = 0;
  socklen_t l = sizeof type;
  if (ustack::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0) return false;
  struct sockaddr_un self;
  l = sizeof self;
  if (ustack::getsockname(fd, reinterpret_cast<struct sockaddr*>(&self), &l) != 0 ||
      l > sizeof(sa_family_t))
    return false;
  const int fl = ustack::fcntl(fd, F_GETFL);
  const int fdfl = ustack::fcntl(fd, F_GETFD);
  const int k = K(socket)(AF_UNIX, type | SOCK_CLOEXEC | ((fl & O_NONBLOCK) ? SOCK_NONBLOCK : 0), 0);
  if (k < 0) return false;
  g_fdt->close(unsigned(fd), /*release_number=*/false);
  const int r = K(dup3)(k, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
  K(close)(k);
  return r == fd;
}

// After fork, in the child: ustack's objects belong to the parent's threads and locks, so the
// child becomes a kernel-only process. Its inherited ustack fds are placeholders the kernel
// refuses I/O on (EBADF) and that close() closes; new objects are the kernel's.
void child_after_fork() {
  g_fdt = nullptr;
  g_state.store(kOff, std::memory_order_relaxed);
  g_foreign_fds = nullptr;
  g_foreign_active.store(false, std::memory_order_relaxed);
  sched::g_kernel_wait = nullptr;
  g_kernel_fds.reset_in_child();
  g_policy.stats = false;
  g_policy.trace = nullptr;
}

void write_trace() {
  // A child process (of fork and exec) writes beside the first one's file, not over it.
  const char* first = std::getenv("USTACK_TRACE_PID");
  const bool is_first = first != nullptr && std::atoi(first) == getpid();
  char path[4096];
  if (is_first) {
    std::snprintf(path, sizeof path, "%s", g_policy.trace);
  } else {
    std::snprintf(path, sizeof path, "%s.%d", g_policy.trace, int(getpid()));
  }
  FILE* f = std::fopen(path, "w");
  if (f == nullptr) return;
  std::fprintf(f, "# ustack wake-up trace, pid %d: time_ns tid point arg0 arg1\n", getpid());
  for (const trace::Event& e : trace::drain()) std::fprintf(f, "%s\n", trace::format(e).c_str());
  std::fclose(f);
}

// The C library's functions are found first of all, before any other constructor can call us.
__attribute__((constructor(101))) void resolve_kernel() {
  kernel::resolve();
  sched::kernel_sigaction = kernel::sigaction;
}

// Started by the first call, not by a constructor: this library's constructors run before the
// C++ initialisers of the ustack code linked into it (link order), whose objects must be ready.
std::mutex g_init_mu;
void lazy_init() {
  std::lock_guard g(g_init_mu);
  if (g_state.load(std::memory_order_relaxed) != kUninit) return;
  if (kernel::sigaction == nullptr) resolve_kernel();
  if (env_is("USTACK", "off")) {
    g_state.store(kOff, std::memory_order_release);
    return;
  }
  g_policy.families = parse_families(std::getenv("USTACK_FAMILIES"));
  g_policy.pipes = !env_is("USTACK_PIPE", "kernel");
  g_policy.eventfds = !env_is("USTACK_EVENTFD", "kernel");
  g_policy.unix_fallback = !env_is("USTACK_UNIX_FALLBACK", "0");
  g_policy.stats = env_is("USTACK_STATS", "1");
  if (const char* t = std::getenv("USTACK_TRACE"); t != nullptr && *t) g_policy.trace = strdup(t);

  Host* h = default_host();
  h->fdt.set_number_space(&g_number_space);
  // RLIMIT_NOFILE is the kernel's: the one table of numbers has one limit.
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    h->nofile_cur.store(rl.rlim_cur, std::memory_order_relaxed);
    h->nofile_max.store(rl.rlim_max, std::memory_order_relaxed);
  }
  g_foreign_fds = &g_kernel_fds;
  sched::g_kernel_wait = &g_kernel_waiters;
  pthread_atfork(nullptr, nullptr, child_after_fork);
  if (g_policy.trace != nullptr) trace::enable(true);
  g_init_pid = getpid();
  g_fdt = &h->fdt;
  g_state.store(kOn, std::memory_order_release);
}

__attribute__((destructor)) void preload_fini() {
  if (!on() || getpid() != g_init_pid) return;
  if (g_policy.stats) {
    std::fprintf(stderr, "ustack-stats pid=%d sockets=%lu pipes=%lu eventfds=%lu epolls=%lu\n",
                 getpid(), g_sockets.load(), g_pipes.load(), g_eventfds.load(), g_epolls.load());
  }
  if (g_policy.trace != nullptr) write_trace();
}

// RLIMIT_NOFILE changes are mirrored into the host (see preload_init).
void mirror_nofile() {
  struct rlimit rl;
  if (on() && ::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    Host* h = default_host();
    h->nofile_cur.store(rl.rlim_cur, std::memory_order_relaxed);
    h->nofile_max.store(rl.rlim_max, std::memory_order_relaxed);
  }
}

// fstat of a ustack fd: what Linux reports for a socket (S_IFSOCK|0777), a pipe (S_IFIFO|0600)
// or an anonymous inode (eventfd, epoll: mode 0600 with no type bits). The inode number names the
// object (both ends of a pipe share it); the device is a fixed anonymous one.
int stat_ours(int fd, struct stat* st) {
  File* f = g_fdt->fget(fd);
  if (f == nullptr) {
    errno = EBADF;
    return -1;
  }
  std::memset(st, 0, sizeof *st);
  const char* n = f->f_op->name();
  if (std::strcmp(n, "socket") == 0) {
    st->st_mode = S_IFSOCK | 0777;
  } else if (std::strcmp(n, "pipe") == 0) {
    st->st_mode = S_IFIFO | 0600;
  } else {
    st->st_mode = 0600;
  }
  st->st_dev = makedev(0, 0x75);  // 'u'
  st->st_ino = ino_t(reinterpret_cast<uintptr_t>(f->private_data) >> 4);
  st->st_nlink = 1;
  st->st_uid = geteuid();
  st->st_gid = getegid();
  st->st_blksize = 4096;
  fput(f);
  return 0;
}

}  // namespace
}  // namespace ustack::preload

using namespace ustack::preload;  // NOLINT(google-build-using-namespace): this file's own
namespace us = ustack;

// Defines the C library's `name` as this file's pl_name (see the file comment).
#define PL(ret, name, params)                                                        \
  extern "C" __attribute__((visibility("default"))) ret pl_##name params __asm__(#name); \
  extern "C" ret pl_##name params

// Calls `name` on ustack for a ustack fd, on the C library otherwise.
#define ROUTE(fd, name, ...) (ours(fd) ? us::name(__VA_ARGS__) : K(name)(__VA_ARGS__))

// ----- fds -----

PL(int, close, (int fd)) {
  if (ours(fd)) return us::close(fd);
  if (is_hidden_fd(fd)) {
    // The library's own (a doorbell, the hidden epoll): not the program's to close.
    errno = EBADF;
    return -1;
  }
  // A watched kernel fd: its registrations go with it, as in Linux, even if close reports an
  // error (EINTR, EIO: the fd is released by then too). Only the File seen before the close
  // goes: after it, the number may already name another file.
  ustack::File* watched = g_kernel_fds.peek(fd);
  const int r = K(close)(fd);
  if (watched != nullptr) g_kernel_fds.forget(fd, watched);
  return r;
}
PL(int, __close, (int fd)) { return pl_close(fd); }

PL(int, dup, (int fd)) { return ROUTE(fd, dup, fd); }

// dup2 and dup3 across the two kinds. A watched kernel fd at newfd is forgotten only once
// newfd has really been replaced: a failed call leaves it and its epoll items alone.
PL(int, dup3, (int oldfd, int newfd, int flags)) {
  if (is_hidden_fd(newfd)) {
    errno = EBADF;  // the library's own fd (see close)
    return -1;
  }
  if (ours(oldfd)) {
    const bool kernel_target = !ours(newfd);
    const int r = us::dup3(oldfd, newfd, flags);
    if (r >= 0 && kernel_target) g_kernel_fds.forget(newfd);
    return r;
  }
  if (ours(newfd)) {
    // A kernel fd over a ustack one: Linux's checks first, then the ustack file goes while its
    // placeholder keeps the number, and the kernel replaces the placeholder atomically.
    if (flags & ~O_CLOEXEC) {
      errno = EINVAL;
      return -1;
    }
    if (K(fcntl)(oldfd, F_GETFD) < 0) return -1;  // EBADF, newfd untouched
    if (oldfd == newfd) {
      errno = EINVAL;
      return -1;
    }
    g_fdt->close(unsigned(newfd), /*release_number=*/false);
    return K(dup3)(oldfd, newfd, flags);
  }
  const int r = K(dup3)(oldfd, newfd, flags);
  if (r >= 0) g_kernel_fds.forget(newfd);
  return r;
}

PL(int, dup2, (int oldfd, int newfd)) {
  if (oldfd == newfd) return ours(oldfd) ? us::dup2(oldfd, newfd) : K(dup2)(oldfd, newfd);
  if (ours(oldfd) || ours(newfd) || is_hidden_fd(newfd)) return pl_dup3(oldfd, newfd, 0);
  const int r = K(dup2)(oldfd, newfd);
  if (r >= 0) g_kernel_fds.forget(newfd);
  return r;
}
PL(int, __dup2, (int oldfd, int newfd)) { return pl_dup2(oldfd, newfd); }

// fcntl and ioctl take one optional argument: an int or a pointer, which a long carries.
PL(int, fcntl, (int fd, int cmd, ...)) {
  va_list ap;
  va_start(ap, cmd);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return ours(fd) ? us::fcntl(fd, cmd, arg) : K(fcntl)(fd, cmd, arg);
}
PL(int, fcntl64, (int fd, int cmd, ...)) {
  va_list ap;
  va_start(ap, cmd);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return pl_fcntl(fd, cmd, arg);
}
PL(int, __fcntl, (int fd, int cmd, ...)) {
  va_list ap;
  va_start(ap, cmd);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return pl_fcntl(fd, cmd, arg);
}

PL(int, ioctl, (int fd, unsigned long request, ...)) {
  va_list ap;
  va_start(ap, request);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return ours(fd) ? us::ioctl(fd, request, arg) : K(ioctl)(fd, request, arg);
}

// ----- read and write -----

PL(ssize_t, read, (int fd, void* buf, size_t n)) { return ROUTE(fd, read, fd, buf, n); }
PL(ssize_t, __read, (int fd, void* buf, size_t n)) { return pl_read(fd, buf, n); }
PL(ssize_t, __read_chk, (int fd, void* buf, size_t n, size_t buflen)) {
  if (n > buflen) __chk_fail();
  return pl_read(fd, buf, n);
}
PL(ssize_t, write, (int fd, const void* buf, size_t n)) { return ROUTE(fd, write, fd, buf, n); }
PL(ssize_t, __write, (int fd, const void* buf, size_t n)) { return pl_write(fd, buf, n); }
PL(ssize_t, readv, (int fd, const struct iovec* iov, int n)) { return ROUTE(fd, readv, fd, iov, n); }
PL(ssize_t, writev, (int fd, const struct iovec* iov, int n)) {
  return ROUTE(fd, writev, fd, iov, n);
}

// ----- fstat -----

PL(int, fstat, (int fd, struct stat* st)) { return ours(fd) ? stat_ours(fd, st) : K(fstat)(fd, st); }
PL(int, fstat64, (int fd, struct stat* st)) { return pl_fstat(fd, st); }
PL(int, fstatat, (int dirfd, const char* path, struct stat* st, int flags)) {
  if ((flags & AT_EMPTY_PATH) && path != nullptr && *path == '\0' && ours(dirfd))
    return stat_ours(dirfd, st);
  return K(fstatat)(dirfd, path, st, flags);
}
PL(int, fstatat64, (int dirfd, const char* path, struct stat* st, int flags)) {
  return pl_fstatat(dirfd, path, st, flags);
}
// The pre-2.33 names, for programs built against an older C library.
PL(int, __fxstat, (int ver, int fd, struct stat* st)) {
  (void)ver;
  return pl_fstat(fd, st);
}
PL(int, __fxstat64, (int ver, int fd, struct stat* st)) {
  (void)ver;
  return pl_fstat(fd, st);
}

// ----- poll and select -----

PL(int, poll, (struct pollfd* fds, nfds_t n, int timeout)) {
  return poll_has_ours(fds, n) ? us::poll(fds, n, timeout) : K(poll)(fds, n, timeout);
}
PL(int, __poll, (struct pollfd* fds, nfds_t n, int timeout)) { return pl_poll(fds, n, timeout); }
PL(int, __poll_chk, (struct pollfd* fds, nfds_t n, int timeout, size_t fdslen)) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return pl_poll(fds, n, timeout);
}
PL(int, ppoll, (struct pollfd* fds, nfds_t n, const struct timespec* t, const sigset_t* m)) {
  return poll_has_ours(fds, n) ? us::ppoll(fds, n, t, m) : K(ppoll)(fds, n, t, m);
}
PL(int, __ppoll_chk,
   (struct pollfd* fds, nfds_t n, const struct timespec* t, const sigset_t* m, size_t fdslen)) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return pl_ppoll(fds, n, t, m);
}
PL(int, select, (int n, fd_set* r, fd_set* w, fd_set* e, struct timeval* t)) {
  return select_has_ours(n, r, w, e) ? us::select(n, r, w, e, t) : K(select)(n, r, w, e, t);
}
PL(int, __select, (int n, fd_set* r, fd_set* w, fd_set* e, struct timeval* t)) {
  return pl_select(n, r, w, e, t);
}
PL(int, pselect,
   (int n, fd_set* r, fd_set* w, fd_set* e, const struct timespec* t, const sigset_t* m)) {
  return select_has_ours(n, r, w, e) ? us::pselect(n, r, w, e, t, m)
                                     : K(pselect)(n, r, w, e, t, m);
}

// ----- epoll: every epoll is ustack's (it can watch both kinds of fd) -----

PL(int, epoll_create, (int size)) {
  if (!on()) return K(epoll_create)(size);
  const int r = us::epoll_create(size);
  count(g_epolls, r);
  return r;
}
PL(int, epoll_create1, (int flags)) {
  if (!on()) return K(epoll_create1)(flags);
  const int r = us::epoll_create1(flags);
  count(g_epolls, r);
  return r;
}
PL(int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event* ev)) {
  return ROUTE(epfd, epoll_ctl, epfd, op, fd, ev);
}
PL(int, epoll_wait, (int epfd, struct epoll_event* evs, int max, int timeout)) {
  return ROUTE(epfd, epoll_wait, epfd, evs, max, timeout);
}
PL(int, epoll_pwait, (int epfd, struct epoll_event* evs, int max, int timeout, const sigset_t* m)) {
  return ROUTE(epfd, epoll_pwait, epfd, evs, max, timeout, m);
}
PL(int, epoll_pwait2,
   (int epfd, struct epoll_event* evs, int max, const struct timespec* t, const sigset_t* m)) {
  return ROUTE(epfd, epoll_pwait2, epfd, evs, max, t, m);
}

// ----- eventfd and pipes -----

PL(int, eventfd, (unsigned int v, int flags)) {
  if (!on() || !g_policy.eventfds) return K(eventfd)(v, flags);
  const int r = us::eventfd(v, flags);
  count(g_eventfds, r);
  return r;
}
PL(int, eventfd_read, (int fd, eventfd_t* v)) { return ROUTE(fd, eventfd_read, fd, v); }
PL(int, eventfd_write, (int fd, eventfd_t v)) { return ROUTE(fd, eventfd_write, fd, v); }

PL(int, pipe2, (int fds[2], int flags)) {
  if (!on() || !g_policy.pipes) return K(pipe2)(fds, flags);
  const int r = us::pipe2(fds, flags);
  count(g_pipes, r);
  return r;
}
PL(int, pipe, (int fds[2])) { return pl_pipe2(fds, 0); }
PL(int, __pipe, (int fds[2])) { return pl_pipe2(fds, 0); }

// ----- sockets -----

PL(int, socket, (int domain, int type, int protocol)) {
  if (!family_is_ours(domain)) return K(socket)(domain, type, protocol);
  const int r = us::socket(domain, type, protocol);
  count(g_sockets, r);
  return r;
}
PL(int, socketpair, (int domain, int type, int protocol, int sv[2])) {
  if (!family_is_ours(domain)) return K(socketpair)(domain, type, protocol, sv);
  const int r = us::socketpair(domain, type, protocol, sv);
  count(g_sockets, r, 2);
  return r;
}
PL(int, bind, (int fd, const struct sockaddr* a, socklen_t l)) { return ROUTE(fd, bind, fd, a, l); }
PL(int, listen, (int fd, int backlog)) { return ROUTE(fd, listen, fd, backlog); }
PL(int, accept, (int fd, struct sockaddr* a, socklen_t* l)) {
  if (!ours(fd)) return K(accept)(fd, a, l);
  const int r = us::accept(fd, a, l);
  count(g_sockets, r);
  return r;
}
PL(int, accept4, (int fd, struct sockaddr* a, socklen_t* l, int flags)) {
  if (!ours(fd)) return K(accept4)(fd, a, l, flags);
  const int r = us::accept4(fd, a, l, flags);
  count(g_sockets, r);
  return r;
}
PL(int, connect, (int fd, const struct sockaddr* a, socklen_t l)) {
  if (!ours(fd)) return K(connect)(fd, a, l);
  const int r = us::connect(fd, a, l);
  if (r < 0 && errno == ECONNREFUSED && g_policy.unix_fallback && is_unix_path(a, l) &&
      move_to_kernel(fd))
    return K(connect)(fd, a, l);
  return r;
}
PL(int, __connect, (int fd, const struct sockaddr* a, socklen_t l)) { return pl_connect(fd, a, l); }

PL(ssize_t, send, (int fd, const void* b, size_t n, int flags)) {
  return ROUTE(fd, send, fd, b, n, flags);
}
PL(ssize_t, __send, (int fd, const void* b, size_t n, int flags)) { return pl_send(fd, b, n, flags); }
PL(ssize_t, sendto,
   (int fd, const void* b, size_t n, int flags, const struct sockaddr* a, socklen_t l)) {
  if (!ours(fd)) return K(sendto)(fd, b, n, flags, a, l);
  const ssize_t r = us::sendto(fd, b, n, flags, a, l);
  if (r < 0 && errno == ECONNREFUSED && g_policy.unix_fallback && is_unix_path(a, l) &&
      move_to_kernel(fd))
    return K(sendto)(fd, b, n, flags, a, l);
  return r;
}
PL(ssize_t, sendmsg, (int fd, const struct msghdr* m, int flags)) {
  if (!ours(fd)) return K(sendmsg)(fd, m, flags);
  const ssize_t r = us::sendmsg(fd, m, flags);
  if (r < 0 && errno == ECONNREFUSED && g_policy.unix_fallback && m != nullptr &&
      is_unix_path(static_cast<const struct sockaddr*>(m->msg_name), m->msg_namelen) &&
      move_to_kernel(fd))
    return K(sendmsg)(fd, m, flags);
  return r;
}
PL(int, sendmmsg, (int fd, struct mmsghdr* v, unsigned int n, int flags)) {
  return ROUTE(fd, sendmmsg, fd, v, n, flags);
}
PL(ssize_t, recv, (int fd, void* b, size_t n, int flags)) { return ROUTE(fd, recv, fd, b, n, flags); }
PL(ssize_t, __recv_chk, (int fd, void* b, size_t n, size_t buflen, int flags)) {
  if (n > buflen) __chk_fail();
  return pl_recv(fd, b, n, flags);
}
PL(ssize_t, recvfrom,
   (int fd, void* b, size_t n, int flags, struct sockaddr* a, socklen_t* l)) {
  return ROUTE(fd, recvfrom, fd, b, n, flags, a, l);
}
PL(ssize_t, __recvfrom_chk,
   (int fd, void* b, size_t n, size_t buflen, int flags, struct sockaddr* a, socklen_t* l)) {
  if (n > buflen) __chk_fail();
  return pl_recvfrom(fd, b, n, flags, a, l);
}
PL(ssize_t, recvmsg, (int fd, struct msghdr* m, int flags)) {
  return ROUTE(fd, recvmsg, fd, m, flags);
}
PL(int, recvmmsg,
   (int fd, struct mmsghdr* v, unsigned int n, int flags, struct timespec* t)) {
  return ROUTE(fd, recvmmsg, fd, v, n, flags, t);
}
PL(int, shutdown, (int fd, int how)) { return ROUTE(fd, shutdown, fd, how); }
PL(int, getsockname, (int fd, struct sockaddr* a, socklen_t* l)) {
  return ROUTE(fd, getsockname, fd, a, l);
}
PL(int, getpeername, (int fd, struct sockaddr* a, socklen_t* l)) {
  return ROUTE(fd, getpeername, fd, a, l);
}
PL(int, getsockopt, (int fd, int level, int name, void* v, socklen_t* l)) {
  return ROUTE(fd, getsockopt, fd, level, name, v, l);
}
PL(int, setsockopt, (int fd, int level, int name, const void* v, socklen_t l)) {
  return ROUTE(fd, setsockopt, fd, level, name, v, l);
}

// ----- signals: ustack sees every handler, so SA_RESTART decides its restarts (E12) -----

PL(int, sigaction, (int sig, const struct sigaction* act, struct sigaction* old)) {
  return us::sigaction(sig, act, old);
}
PL(int, __sigaction, (int sig, const struct sigaction* act, struct sigaction* old)) {
  return us::sigaction(sig, act, old);
}
PL(sighandler_t, signal, (int sig, sighandler_t h)) { return us::signal(sig, h); }
PL(sighandler_t, bsd_signal, (int sig, sighandler_t h)) { return us::signal(sig, h); }
// System V semantics: the handler is reset on delivery and the signal not blocked meanwhile.
PL(sighandler_t, sysv_signal, (int sig, sighandler_t h)) {
  struct sigaction act = {}, old = {};
  act.sa_handler = h;
  sigemptyset(&act.sa_mask);
  act.sa_flags = int(SA_RESETHAND | SA_NODEFER);
  if (us::sigaction(sig, &act, &old) < 0) return SIG_ERR;
  return old.sa_handler;
}
PL(sighandler_t, __sysv_signal, (int sig, sighandler_t h)) { return pl_sysv_signal(sig, h); }

// ----- resource limits: RLIMIT_NOFILE is mirrored into ustack's host -----

PL(int, setrlimit, (__rlimit_resource_t res, const struct rlimit* rl)) {
  const int r = K(setrlimit)(res, rl);
  if (r == 0 && res == RLIMIT_NOFILE) mirror_nofile();
  return r;
}
PL(int, setrlimit64, (__rlimit_resource_t res, const struct rlimit* rl)) {
  return pl_setrlimit(res, rl);
}
PL(int, prlimit, (pid_t pid, __rlimit_resource res, const struct rlimit* n, struct rlimit* o)) {
  const int r = K(prlimit)(pid, res, n, o);
  if (r == 0 && n != nullptr && res == RLIMIT_NOFILE && (pid == 0 || pid == getpid()))
    mirror_nofile();
  return r;
}
PL(int, prlimit64, (pid_t pid, __rlimit_resource res, const struct rlimit* n, struct rlimit* o)) {
  return pl_prlimit(pid, res, n, o);
}

// ----- fork: the child is a kernel-only process (child_after_fork); vfork is a fork, since a
// vfork child would run the library in its parent's memory -----

PL(pid_t, fork, (void)) { return K(fork)(); }
PL(pid_t, __fork, (void)) { return K(fork)(); }
PL(pid_t, vfork, (void)) { return K(fork)(); }
PL(pid_t, __vfork, (void)) { return K(fork)(); }

// ----- syscall(): the numbers of the calls above reach them -----

PL(long, syscall, (long nr, ...)) {
  va_list ap;
  va_start(ap, nr);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  auto p = [&](int i) { return reinterpret_cast<void*>(a[i]); };
  const int fd = int(a[0]);
  switch (nr) {
    case SYS_read: return pl_read(fd, p(1), size_t(a[2]));
    case SYS_write: return pl_write(fd, p(1), size_t(a[2]));
    case SYS_readv: return pl_readv(fd, static_cast<const struct iovec*>(p(1)), int(a[2]));
    case SYS_writev: return pl_writev(fd, static_cast<const struct iovec*>(p(1)), int(a[2]));
    case SYS_close: return pl_close(fd);
    case SYS_dup: return pl_dup(fd);
    case SYS_dup2: return pl_dup2(fd, int(a[1]));
    case SYS_dup3: return pl_dup3(fd, int(a[1]), int(a[2]));
    case SYS_fcntl: return pl_fcntl(fd, int(a[1]), a[2]);
    case SYS_ioctl: return pl_ioctl(fd, (unsigned long)(a[1]), a[2]);
    case SYS_poll: return pl_poll(static_cast<struct pollfd*>(p(0)), nfds_t(a[1]), int(a[2]));
    case SYS_ppoll:
      return pl_ppoll(static_cast<struct pollfd*>(p(0)), nfds_t(a[1]),
                      static_cast<const struct timespec*>(p(2)), static_cast<const sigset_t*>(p(3)));
    case SYS_select:
      return pl_select(fd, static_cast<fd_set*>(p(1)), static_cast<fd_set*>(p(2)),
                       static_cast<fd_set*>(p(3)), static_cast<struct timeval*>(p(4)));
    case SYS_pselect6: {
      // The sixth argument is {const sigset_t* ss; size_t ss_len;}.
      const sigset_t* mask = a[5] ? *static_cast<const sigset_t* const*>(p(5)) : nullptr;
      return pl_pselect(fd, static_cast<fd_set*>(p(1)), static_cast<fd_set*>(p(2)),
                        static_cast<fd_set*>(p(3)), static_cast<const struct timespec*>(p(4)), mask);
    }
    case SYS_epoll_create: return pl_epoll_create(fd);
    case SYS_epoll_create1: return pl_epoll_create1(fd);
    case SYS_epoll_ctl:
      return pl_epoll_ctl(fd, int(a[1]), int(a[2]), static_cast<struct epoll_event*>(p(3)));
    case SYS_epoll_wait:
      return pl_epoll_wait(fd, static_cast<struct epoll_event*>(p(1)), int(a[2]), int(a[3]));
    case SYS_epoll_pwait:
      return pl_epoll_pwait(fd, static_cast<struct epoll_event*>(p(1)), int(a[2]), int(a[3]),
                            static_cast<const sigset_t*>(p(4)));
    case SYS_epoll_pwait2:
      return pl_epoll_pwait2(fd, static_cast<struct epoll_event*>(p(1)), int(a[2]),
                             static_cast<const struct timespec*>(p(3)),
                             static_cast<const sigset_t*>(p(4)));
    case SYS_eventfd: return pl_eventfd(unsigned(a[0]), 0);
    case SYS_eventfd2: return pl_eventfd(unsigned(a[0]), int(a[1]));
    case SYS_pipe: return pl_pipe2(static_cast<int*>(p(0)), 0);
    case SYS_pipe2: return pl_pipe2(static_cast<int*>(p(0)), int(a[1]));
    case SYS_socket: return pl_socket(fd, int(a[1]), int(a[2]));
    case SYS_socketpair: return pl_socketpair(fd, int(a[1]), int(a[2]), static_cast<int*>(p(3)));
    case SYS_bind:
      return pl_bind(fd, static_cast<const struct sockaddr*>(p(1)), socklen_t(a[2]));
    case SYS_listen: return pl_listen(fd, int(a[1]));
    case SYS_accept:
      return pl_accept(fd, static_cast<struct sockaddr*>(p(1)), static_cast<socklen_t*>(p(2)));
    case SYS_accept4:
      return pl_accept4(fd, static_cast<struct sockaddr*>(p(1)), static_cast<socklen_t*>(p(2)),
                        int(a[3]));
    case SYS_connect:
      return pl_connect(fd, static_cast<const struct sockaddr*>(p(1)), socklen_t(a[2]));
    case SYS_sendto:
      return pl_sendto(fd, p(1), size_t(a[2]), int(a[3]),
                       static_cast<const struct sockaddr*>(p(4)), socklen_t(a[5]));
    case SYS_recvfrom:
      return pl_recvfrom(fd, p(1), size_t(a[2]), int(a[3]), static_cast<struct sockaddr*>(p(4)),
                         static_cast<socklen_t*>(p(5)));
    case SYS_sendmsg: return pl_sendmsg(fd, static_cast<const struct msghdr*>(p(1)), int(a[2]));
    case SYS_recvmsg: return pl_recvmsg(fd, static_cast<struct msghdr*>(p(1)), int(a[2]));
    case SYS_sendmmsg:
      return pl_sendmmsg(fd, static_cast<struct mmsghdr*>(p(1)), unsigned(a[2]), int(a[3]));
    case SYS_recvmmsg:
      return pl_recvmmsg(fd, static_cast<struct mmsghdr*>(p(1)), unsigned(a[2]), int(a[3]),
                         static_cast<struct timespec*>(p(4)));
    case SYS_shutdown: return pl_shutdown(fd, int(a[1]));
    case SYS_getsockname:
      return pl_getsockname(fd, static_cast<struct sockaddr*>(p(1)), static_cast<socklen_t*>(p(2)));
    case SYS_getpeername:
      return pl_getpeername(fd, static_cast<struct sockaddr*>(p(1)), static_cast<socklen_t*>(p(2)));
    case SYS_getsockopt:
      return pl_getsockopt(fd, int(a[1]), int(a[2]), p(3), static_cast<socklen_t*>(p(4)));
    case SYS_setsockopt:
      return pl_setsockopt(fd, int(a[1]), int(a[2]), p(3), socklen_t(a[4]));
    default:
      return K(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  }
}

// ----- for tests and tools: whether an fd is ustack's (1) or not (0) -----

extern "C" __attribute__((visibility("default"))) int ustack_preload_fd_kind(int fd) {
  return ours(fd) ? 1 : 0;
}
