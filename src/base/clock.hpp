// CLOCK_MONOTONIC in nanoseconds, and the timespec/timeval conversions of
// include/linux/time64.h. Every timeout in ustack is an absolute deadline on this clock.
#pragma once

#include <cstdint>
#include <ctime>

#include <sys/time.h>

#include "base/limits.hpp"

namespace ustack {

inline int64_t monotonic_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * kNsecPerSec + ts.tv_nsec;
}

// timespec64_valid: seconds non-negative, nanoseconds in [0, 1e9).
inline bool timespec_valid(const struct timespec& ts) {
  return ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < kNsecPerSec;
}

// now + (sec, nsec), saturating at kNoDeadline instead of overflowing.
inline int64_t deadline_after(int64_t now_ns, int64_t sec, int64_t nsec) {
  if (sec >= (kNoDeadline - now_ns) / kNsecPerSec - 1) return kNoDeadline;
  return now_ns + sec * kNsecPerSec + nsec;
}

inline struct timespec ns_to_timespec(int64_t ns) {
  return {static_cast<time_t>(ns / kNsecPerSec), static_cast<long>(ns % kNsecPerSec)};
}

}  // namespace ustack
