// The public calls of include/ustack/ustack.hpp: argument decoding in Linux's order, then the
// vfs entry point, then sys::syscall for errno and restarts.
#include <ustack/ustack.hpp>

#include <pthread.h>
#include <signal.h>

#include <cstdarg>
#include <cerrno>
#include <climits>

#include "base/clock.hpp"
#include "base/compiler.hpp"
#include "sys/syscall.hpp"
#include "vfs/host.hpp"
#include "vfs/read_write.hpp"
#include "vfs/vfs.hpp"

namespace ustack {

namespace sys {

long syscall_exit_slow(sched::Task* t, long r) {
  const bool restart = r <= -sched::ERESTARTSYS && sched::signal_restart(&r);
  if (t->dq_head_.load(std::memory_order_relaxed) != t->dq_tail_.load(std::memory_order_relaxed) &&
      t->in_call_.load(std::memory_order_relaxed) == 0)
    sched::run_deferred_signals(t);
  if (restart) return kSyscallRestart;
  if (r >= 0) return r;
  errno = int(-r);
  return -1;
}

}  // namespace sys

using sys::syscall;

int close(int fd) {
  return syscall<int>([&] { return vfs::ksys_close(fd); });
}
int dup(int oldfd) {
  return syscall<int>([&] { return vfs::ksys_dup(oldfd); });
}
int dup2(int oldfd, int newfd) {
  return syscall<int>([&] { return vfs::ksys_dup2(oldfd, newfd); });
}
int dup3(int oldfd, int newfd, int flags) {
  return syscall<int>([&] { return vfs::ksys_dup3(oldfd, newfd, flags); });
}

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  unsigned long arg = va_arg(ap, unsigned long);  // every supported cmd takes an int or none
  va_end(ap);
  return syscall<int>([&] { return vfs::do_fcntl(fd, cmd, arg); });
}

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return syscall<int>([&] { return vfs::ksys_ioctl(fd, request, arg); });
}

ssize_t read(int fd, void* buf, size_t count) {
  return syscall<ssize_t>([&] { return vfs::ksys_read(fd, buf, count); });
}
ssize_t write(int fd, const void* buf, size_t count) {
  return syscall<ssize_t>([&] { return vfs::ksys_write(fd, buf, count); });
}
ssize_t readv(int fd, const struct iovec* iov, int iovcnt) {
  // vlen is an unsigned long in the kernel: a negative count is too large (EINVAL).
  return syscall<ssize_t>([&] { return vfs::do_readv(fd, iov, (unsigned long)(long)iovcnt); });
}
ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  return syscall<ssize_t>([&] { return vfs::do_writev(fd, iov, (unsigned long)(long)iovcnt); });
}

namespace {

// poll_select_set_timeout: {0,0} is "no wait", anything else an absolute deadline.
long set_timeout(int64_t sec, int64_t nsec, int64_t* deadline_ns) {
  struct timespec ts = {time_t(sec), long(nsec)};
  if (!timespec_valid(ts)) return -EINVAL;
  *deadline_ns = (sec == 0 && nsec == 0) ? vfs::kDeadlineNoWait
                                         : deadline_after(sched::now_ns(), sec, nsec);
  return 0;
}

// Whether `sig` has a handler, i.e. whether letting it in would interrupt a call (a signal
// that is ignored, by SIG_IGN or by default, is dropped; a default action that stops or kills
// ends more than the call).
bool has_handler(int sig) {
  struct sigaction sa;
  if (sched::kernel_sigaction(sig, nullptr, &sa) != 0) return false;
  if (sa.sa_flags & SA_SIGINFO) return sa.sa_sigaction != nullptr;
  return sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

// set_user_sigmask / restore_saved_sigmask_unless, for ppoll and pselect (A22).
//
// In the kernel the call's mask is in force for the whole call, but the signals it lets in are
// handled only on the way out, and only if the call returns -ERESTARTNOHAND (EINTR): for any
// other result the caller's mask is restored first and a pending signal stays pending. In user
// space, unblocking a pending signal runs its handler at once. So a signal that is already
// pending (blocked by the caller) and that the call's mask lets in stays blocked for the call
// and marks the task signal_pending instead, as TIF_SIGPENDING would: the call makes its scan
// and returns what it found, or EINTR if nothing was ready; only for EINTR is the call's mask
// put in, which runs the handler, before the caller's mask comes back. A signal that arrives
// during the call is handled when it comes, which is when the kernel would wake the task.
// (glibc passes the kernel's 8-byte sigset; the size check happens there.)
class SigmaskScope {
 public:
  explicit SigmaskScope(const sigset_t* mask) : mask_(mask) {
    if (mask_ == nullptr) return;
    sigset_t during = *mask;
    sigset_t pending;
    if (sigpending(&pending) == 0) {
      for (int sig = 1; sig < NSIG; ++sig) {
        if (sigismember(&pending, sig) == 1 && sigismember(mask, sig) == 0 && has_handler(sig)) {
          sigaddset(&during, sig);
          deferred_ = true;
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &during, &old_);
    if (deferred_) sched::current()->sigpending_.store(true, std::memory_order_seq_cst);
  }
  // poll_select_finish: restore_saved_sigmask_unless(ret == -ERESTARTNOHAND).
  long finish(long ret) {
    if (mask_ == nullptr) return ret;
    if (deferred_ && (ret == -sched::ERESTARTNOHAND || ret == -EINTR))
      pthread_sigmask(SIG_SETMASK, mask_, nullptr);
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    mask_ = nullptr;
    return ret;
  }
  ~SigmaskScope() { finish(0); }
  SigmaskScope(const SigmaskScope&) = delete;
  SigmaskScope& operator=(const SigmaskScope&) = delete;

 private:
  const sigset_t* mask_;
  bool deferred_ = false;
  sigset_t old_;
};

long do_poll_call(struct pollfd* fds, nfds_t nfds, int64_t deadline_ns) {
  if (nfds > UINT32_MAX) return -EINVAL;
  long r = vfs::do_sys_poll(fds, unsigned(nfds), deadline_ns);
  // poll is never restarted after a handler ran (ERESTART_RESTARTBLOCK → EINTR, A19).
  if (r == -sched::ERESTARTNOHAND) r = -sched::ERESTART_RESTARTBLOCK;
  return r;
}

}  // namespace

int poll(struct pollfd* fds, nfds_t nfds, int timeout_ms) {
  return syscall<int>([&]() -> long {
    int64_t deadline = kNoDeadline;  // any negative timeout waits forever (A3)
    if (timeout_ms >= 0) {
      set_timeout(timeout_ms / 1000, int64_t(timeout_ms % 1000) * 1000000, &deadline);
    }
    return do_poll_call(fds, nfds, deadline);
  });
}

int ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* tmo_p, const sigset_t* sigmask) {
  return syscall<int>([&]() -> long {
    int64_t deadline = kNoDeadline;
    if (tmo_p != nullptr) {
      if (long r = set_timeout(tmo_p->tv_sec, tmo_p->tv_nsec, &deadline); r < 0) return r;
    }
    SigmaskScope mask(sigmask);
    long r = do_poll_call(fds, nfds, deadline);
    if (r == -sched::ERESTART_RESTARTBLOCK) r = -sched::ERESTARTNOHAND;
    return mask.finish(r);
  });
}

namespace {

// poll_select_finish for select: writes the time not slept back (B12), except for a zero
// timeout.
void select_finish(int64_t deadline_ns, struct timeval* tvp) {
  if (tvp == nullptr || deadline_ns == vfs::kDeadlineNoWait) return;
  int64_t left = deadline_ns - sched::now_ns();
  if (left < 0) left = 0;
  tvp->tv_sec = time_t(left / kNsecPerSec);
  tvp->tv_usec = suseconds_t((left % kNsecPerSec) / 1000);
}

}  // namespace

int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
           struct timeval* timeout) {
  return syscall<int>([&]() -> long {
    int64_t deadline = kNoDeadline;
    if (timeout != nullptr) {
      // glibc's select (__select64, which calls pselect6): a negative tv_sec or tv_usec is
      // EINVAL before the call, then whole seconds of tv_usec are folded into tv_sec,
      // saturating (B11). (The kernel's own kern_select folds first, so that {2, -1000000} is a
      // valid second there.) glibc reads tv_usec as an int32_t.
      int64_t sec = timeout->tv_sec;
      const int32_t usec = int32_t(timeout->tv_usec);
      if (sec < 0 || usec < 0) return -EINVAL;
      int64_t nsec;
      if (usec / 1000000 > INT64_MAX - sec) {
        sec = INT64_MAX;
        nsec = kNsecPerSec - 1;
      } else {
        sec += usec / 1000000;
        nsec = int64_t(usec % 1000000) * 1000;
      }
      if (long r = set_timeout(sec, nsec, &deadline); r < 0) return r;
    }
    long r = vfs::core_sys_select(nfds, readfds, writefds, exceptfds, deadline);
    select_finish(deadline, timeout);
    return r;
  });
}

int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
            const struct timespec* timeout, const sigset_t* sigmask) {
  return syscall<int>([&]() -> long {
    int64_t deadline = kNoDeadline;
    if (timeout != nullptr) {
      if (long r = set_timeout(timeout->tv_sec, timeout->tv_nsec, &deadline); r < 0) return r;
    }
    SigmaskScope mask(sigmask);
    // glibc's pselect passes a copy of the timeout: nothing is written back (A23, B13).
    return mask.finish(vfs::core_sys_select(nfds, readfds, writefds, exceptfds, deadline));
  });
}

// --- epoll ---

int epoll_create(int size) {
  return syscall<int>([&]() -> long {
    if (size <= 0) return -EINVAL;  // the size is only checked, then ignored (C1)
    return vfs::do_epoll_create(0);
  });
}

int epoll_create1(int flags) {
  return syscall<int>([&] { return vfs::do_epoll_create(flags); });
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  return syscall<int>([&] { return vfs::do_epoll_ctl(epfd, op, fd, event); });
}

namespace {

int64_t epoll_ms_deadline(int timeout_ms) {
  // ep_timeout_to_timespec: any negative timeout waits forever (C43).
  if (timeout_ms < 0) return kNoDeadline;
  if (timeout_ms == 0) return vfs::kDeadlineNoWait;  // the polling loop's case, without a clock
  int64_t deadline;
  set_timeout(timeout_ms / 1000, int64_t(timeout_ms % 1000) * 1000000, &deadline);
  return deadline;
}

}  // namespace

int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms) {
  return syscall<int>([&] {
    return vfs::do_epoll_wait(epfd, events, maxevents, epoll_ms_deadline(timeout_ms));
  });
}

int epoll_pwait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms,
                const sigset_t* sigmask) {
  return syscall<int>([&] {
    SigmaskScope mask(sigmask);
    return mask.finish(
        vfs::do_epoll_wait(epfd, events, maxevents, epoll_ms_deadline(timeout_ms)));
  });
}

int epoll_pwait2(int epfd, struct epoll_event* events, int maxevents,
                 const struct timespec* timeout, const sigset_t* sigmask) {
  return syscall<int>([&]() -> long {
    int64_t deadline = kNoDeadline;  // NULL: wait forever (C44)
    if (timeout != nullptr) {
      if (long r = set_timeout(timeout->tv_sec, timeout->tv_nsec, &deadline); r < 0) return r;
    }
    SigmaskScope mask(sigmask);
    return mask.finish(vfs::do_epoll_wait(epfd, events, maxevents, deadline));
  });
}

int eventfd(unsigned int initval, int flags) {
  return syscall<int>([&] { return vfs::do_eventfd(initval, flags); });
}

// glibc's eventfd_read/eventfd_write: 8-byte read/write, 0 or -1.
int eventfd_read(int fd, eventfd_t* value) {
  return read(fd, value, sizeof(eventfd_t)) == sizeof(eventfd_t) ? 0 : -1;
}
int eventfd_write(int fd, eventfd_t value) {
  return write(fd, &value, sizeof(eventfd_t)) == sizeof(eventfd_t) ? 0 : -1;
}

int pipe(int pipefd[2]) { return pipe2(pipefd, 0); }
int pipe2(int pipefd[2], int flags) {
  return syscall<int>([&] { return vfs::do_pipe2(pipefd, flags); });
}

int getrlimit(int resource, struct rlimit* rlim) {
  if (resource != RLIMIT_NOFILE) return ::getrlimit(__rlimit_resource(resource), rlim);
  if (rlim == nullptr) {
    errno = EFAULT;
    return -1;
  }
  Host* h = current_host();
  rlim->rlim_cur = h->nofile_cur.load(std::memory_order_relaxed);
  rlim->rlim_max = h->nofile_max.load(std::memory_order_relaxed);
  return 0;
}

int setrlimit(int resource, const struct rlimit* rlim) {
  if (resource != RLIMIT_NOFILE) return ::setrlimit(__rlimit_resource(resource), rlim);
  return syscall<int>([&]() -> long {
    if (rlim == nullptr) return -EFAULT;
    if (rlim->rlim_cur > rlim->rlim_max) return -EINVAL;
    Host* h = current_host();
    // do_prlimit: raising the hard limit needs CAP_SYS_RESOURCE; NOFILE is capped by nr_open.
    if (rlim->rlim_max > h->nofile_max.load(std::memory_order_relaxed) && !h->cap_sys_resource)
      return -EPERM;
    if (rlim->rlim_max > kNrOpen) return -EPERM;
    h->nofile_cur.store(rlim->rlim_cur, std::memory_order_relaxed);
    h->nofile_max.store(rlim->rlim_max, std::memory_order_relaxed);
    return 0;
  });
}

int sigaction(int signum, const struct sigaction* act, struct sigaction* oldact) {
  return sched::sigaction_hook(signum, act, oldact);
}

sighandler_t signal(int signum, sighandler_t handler) {
  // glibc's signal(): BSD semantics, SA_RESTART, the signal itself not blocked... glibc sets
  // SA_RESTART and blocks the signal during the handler (no SA_NODEFER).
  struct sigaction act = {}, old = {};
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, signum);
  act.sa_flags = SA_RESTART;
  if (ustack::sigaction(signum, &act, &old) < 0) return SIG_ERR;
  return old.sa_handler;
}

}  // namespace ustack
