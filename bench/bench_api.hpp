// ustack-bench: the two API tables every case runs on, and the watchdog of the cross-thread cases.
//
// Each case is written once as a template on an Api struct and instantiated twice: on UstackApi
// (ustack's calls, on a host of the case's own) and on LinuxApi (the same calls through glibc to
// the kernel). Env is the case's host (nothing for Linux); ThreadScope makes it current in a
// thread (every thread that touches the case's fds needs one).
//
// Built with USTACK_BENCH_LIBC_ONLY (ustack-bench-libc), only LinuxApi exists and nothing of ustack
// is included: that binary calls libc alone, so that ustack-run can interpose ustack under it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#ifndef USTACK_BENCH_LIBC_ONLY
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>
#endif

namespace ustack_bench {

struct LinuxApi {
  static constexpr const char* kName = "linux";
  static constexpr bool kIsUstack = false;

  class Env {
   public:
    explicit Env(const char* /*name*/, unsigned /*busy_poll_us*/ = 0) {}
  };
  class ThreadScope {
   public:
    explicit ThreadScope(Env& /*env*/) {}
  };

  static int eventfd(unsigned v, int flags) { return ::eventfd(v, flags); }
  static int pipe2(int fds[2], int flags) { return ::pipe2(fds, flags); }
  static int close(int fd) { return ::close(fd); }
  static ssize_t read(int fd, void* buf, size_t n) { return ::read(fd, buf, n); }
  static ssize_t write(int fd, const void* buf, size_t n) { return ::write(fd, buf, n); }
  static int poll(struct pollfd* fds, nfds_t n, int timeout) { return ::poll(fds, n, timeout); }
  static int fcntl(int fd, int cmd, int arg) { return ::fcntl(fd, cmd, arg); }
  static int getrlimit(int res, struct rlimit* r) { return ::getrlimit(res, r); }
  static int setrlimit(int res, const struct rlimit* r) { return ::setrlimit(res, r); }
  static int epoll_create1(int flags) { return ::epoll_create1(flags); }
  static int epoll_ctl(int ep, int op, int fd, struct epoll_event* ev) {
    return ::epoll_ctl(ep, op, fd, ev);
  }
  static int epoll_wait(int ep, struct epoll_event* evs, int max, int timeout) {
    return ::epoll_wait(ep, evs, max, timeout);
  }
  static int socketpair(int domain, int type, int protocol, int sv[2]) {
    return ::socketpair(domain, type, protocol, sv);
  }
  static ssize_t send(int fd, const void* buf, size_t n, int flags) {
    return ::send(fd, buf, n, flags);
  }
  static ssize_t recv(int fd, void* buf, size_t n, int flags) { return ::recv(fd, buf, n, flags); }
  static int setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
    return ::setsockopt(fd, level, name, val, len);
  }
};

#ifndef USTACK_BENCH_LIBC_ONLY
struct UstackApi {
  static constexpr const char* kName = "ustack";
  static constexpr bool kIsUstack = true;

  class Env {
   public:
    explicit Env(const char* name, unsigned busy_poll_us = 0) : host_(ustack::host_create(name)) {
      if (busy_poll_us) ustack::host_set_busy_poll_us(host_, busy_poll_us);
    }
    ~Env() { ustack::host_put(host_); }
    Env(const Env&) = delete;
    Env& operator=(const Env&) = delete;
    ustack::Host* host() const { return host_; }

   private:
    ustack::Host* host_;
  };
  class ThreadScope {
   public:
    explicit ThreadScope(Env& env) : scope_(env.host()) {}

   private:
    ustack::HostScope scope_;
  };

  static int eventfd(unsigned v, int flags) { return ustack::eventfd(v, flags); }
  static int pipe2(int fds[2], int flags) { return ustack::pipe2(fds, flags); }
  static int close(int fd) { return ustack::close(fd); }
  static ssize_t read(int fd, void* buf, size_t n) { return ustack::read(fd, buf, n); }
  static ssize_t write(int fd, const void* buf, size_t n) { return ustack::write(fd, buf, n); }
  static int poll(struct pollfd* fds, nfds_t n, int timeout) { return ustack::poll(fds, n, timeout); }
  static int fcntl(int fd, int cmd, int arg) { return ustack::fcntl(fd, cmd, arg); }
  static int getrlimit(int res, struct rlimit* r) { return ustack::getrlimit(res, r); }
  static int setrlimit(int res, const struct rlimit* r) { return ustack::setrlimit(res, r); }
  static int epoll_create1(int flags) { return ustack::epoll_create1(flags); }
  static int epoll_ctl(int ep, int op, int fd, struct epoll_event* ev) {
    return ustack::epoll_ctl(ep, op, fd, ev);
  }
  static int epoll_wait(int ep, struct epoll_event* evs, int max, int timeout) {
    return ustack::epoll_wait(ep, evs, max, timeout);
  }
  static int socketpair(int domain, int type, int protocol, int sv[2]) {
    return ustack::socketpair(domain, type, protocol, sv);
  }
  static ssize_t send(int fd, const void* buf, size_t n, int flags) {
    return ustack::send(fd, buf, n, flags);
  }
  static ssize_t recv(int fd, void* buf, size_t n, int flags) {
    return ustack::recv(fd, buf, n, flags);
  }
  static int setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
    return ustack::setsockopt(fd, level, name, val, len);
  }
};
#endif  // USTACK_BENCH_LIBC_ONLY

// Bounds a cross-thread case. The partner thread calls beat() once per unit of work; if no beat
// comes for kStall, the watchdog sets fired() and calls kick(), which must unblock both threads
// (an extra eventfd write, a byte into a pipe...) so that the case can report the stall as an
// error. If the case still has not stopped the watchdog kHardExit after the kick, the process
// exits with a message rather than hang.
class Watchdog {
 public:
  static constexpr std::chrono::seconds kStall{5};
  static constexpr std::chrono::seconds kHardExit{10};

  Watchdog(const char* what, std::function<void()> kick)
      : what_(what), kick_(std::move(kick)), thread_([this] { run(); }) {}
  ~Watchdog() { stop(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Called by one thread only (the partner): a plain increment, no locked instruction.
  void beat() { beats_.store(beats_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  bool fired() const { return fired_.load(std::memory_order_relaxed); }
  const std::atomic<bool>& fired_flag() const { return fired_; }

  // Ends the watchdog; idempotent. Call it before closing the fds that kick() uses.
  void stop();

 private:
  void run();

  alignas(64) std::atomic<uint64_t> beats_{0};
  alignas(64) std::atomic<bool> fired_{false};
  const char* what_;
  std::function<void()> kick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace ustack_bench
