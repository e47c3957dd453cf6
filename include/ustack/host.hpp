// Hosts: one simulated machine each (its own fd table, limits and, later, network namespace).
//
// Calls made through ustack.hpp act on the calling task's current host. A task starts on the
// default host, created at first use; HostScope makes another host current for a scope.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ustack {

class Host;

// A new host with an empty fd table and default limits (RLIMIT_NOFILE 1024/1048576).
// Returned with one reference; host_put drops it (the host closes its fds when the last
// reference goes).
Host* host_create(const char* name);
void host_put(Host* host);
Host* default_host();

// fs.epoll.max_user_watches for this host (default: the real machine's value).
void host_set_max_user_watches(Host* host, long n);

// net.core.busy_poll for this host: microseconds a blocking wait spins before it sleeps.
void host_set_busy_poll_us(Host* host, unsigned us);

class HostScope {
 public:
  explicit HostScope(Host* host);
  ~HostScope();
  HostScope(const HostScope&) = delete;
  HostScope& operator=(const HostScope&) = delete;

 private:
  Host* prev_;
};

// Wake-up tracing (DESIGN.md §7): each hop of a wake-up chain records one event while on.
namespace trace {
struct Event {
  uint64_t time_ns;   // CLOCK_MONOTONIC
  uint32_t tid;       // ustack task id of the task that ran the hop
  const char* point;  // "pollwake", "try_to_wake_up", "schedule_timeout", ... (static string)
  uint64_t arg0;      // point-specific: woken task id, wake key, ...
  uint64_t arg1;
};
void enable(bool on);
bool enabled();
std::vector<Event> drain();  // the events recorded so far, oldest first; clears the buffer
std::string format(const Event& e);
}  // namespace trace

}  // namespace ustack
