// Small helpers shared by the simulation tests (tests/unit/sim/): abstract AF_UNIX names, the
// virtual clock as seen from inside a task, and millisecond/microsecond constants.
#pragma once

#include <ustack/sim.hpp>
#include <ustack/ustack.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace simtest {

inline constexpr int64_t kUs = 1000;
inline constexpr int64_t kMs = 1000 * kUs;
inline constexpr int64_t kSec = 1000 * kMs;

// ThreadSanitizer builds run the big programs with fewer tasks (see sim_determinism_test.cc).
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kTsan = true;
#else
inline constexpr bool kTsan = false;
#endif
#else
inline constexpr bool kTsan = false;
#endif

// An abstract AF_UNIX address ("\0name"); len is what bind/connect take.
struct UnixAddr {
  struct sockaddr_un sun = {};
  socklen_t len = 0;
  explicit UnixAddr(const std::string& name) {
    sun.sun_family = AF_UNIX;
    sun.sun_path[0] = '\0';
    std::memcpy(sun.sun_path + 1, name.data(), name.size());
    len = socklen_t(sizeof(sa_family_t) + 1 + name.size());
  }
  const struct sockaddr* sa() const { return reinterpret_cast<const struct sockaddr*>(&sun); }
};

// The running world's clock (ns since it began), from inside a task.
inline int64_t now() { return ustack::sim::current_world()->now(); }

// nanosleep on the virtual clock; returns nanosleep's result.
inline int sleep_ns(int64_t ns) {
  struct timespec ts = {time_t(ns / kSec), long(ns % kSec)};
  return ustack::nanosleep(&ts, nullptr);
}

inline int set_timeo_us(int fd, int opt, int64_t us) {
  struct timeval tv = {time_t(us / 1000000), suseconds_t(us % 1000000)};
  return ustack::setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

inline int64_t get_timeo_us(int fd, int opt) {
  struct timeval tv = {-1, -1};
  socklen_t len = sizeof tv;
  if (ustack::getsockopt(fd, SOL_SOCKET, opt, &tv, &len) != 0) return -1;
  return int64_t(tv.tv_sec) * 1000000 + tv.tv_usec;
}

// A stream listener bound to `a`, or -1.
inline int listener(const UnixAddr& a, int backlog, int type = SOCK_STREAM) {
  int fd = ustack::socket(AF_UNIX, type, 0);
  if (fd < 0) return -1;
  if (ustack::bind(fd, a.sa(), a.len) != 0 || ustack::listen(fd, backlog) != 0) {
    ustack::close(fd);
    return -1;
  }
  return fd;
}

// Sends with MSG_DONTWAIT until EAGAIN; returns the bytes queued.
inline size_t fill(int fd) {
  static const char buf[4096] = {};
  size_t total = 0;
  for (int i = 0; i < 100000; ++i) {  // bounded: a unix stream sndbuf holds far less
    ssize_t n = ustack::send(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;
    total += size_t(n);
  }
  return total;
}

// Receives with MSG_DONTWAIT until EAGAIN; returns the bytes read.
inline size_t drain(int fd) {
  char buf[4096];
  size_t total = 0;
  for (int i = 0; i < 100000; ++i) {
    ssize_t n = ustack::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    total += size_t(n);
  }
  return total;
}

}  // namespace simtest
