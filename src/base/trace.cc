// The trace buffer behind USTACK_TRACE and the public ustack::trace API.
//
// LOCKING: g_lock protects g_events and g_dropped. record() is never called with it held.
#include "base/trace.hpp"

#include <cstdio>
#include <mutex>
#include <vector>

#include <ustack/host.hpp>

#include "base/clock.hpp"

namespace ustack::trace {

std::atomic<bool> g_on{false};
__thread uint32_t tls_task_id = 0;

namespace {
std::mutex g_lock;
std::vector<Event> g_events;  // guarded by g_lock
uint64_t g_dropped = 0;       // guarded by g_lock
}  // namespace

__thread void (*tls_sink)(const char* point, uint64_t a0, uint64_t a1) = nullptr;

void record(const char* point, uint64_t a0, uint64_t a1) {
  if (tls_sink) {
    tls_sink(point, a0, a1);
    return;
  }
  Event e{uint64_t(monotonic_ns()), tls_task_id, point, a0, a1};
  std::lock_guard g(g_lock);
  if (g_events.size() >= kTraceMaxEvents) {
    ++g_dropped;
    return;
  }
  g_events.push_back(e);
}

void enable(bool on) { g_on.store(on, std::memory_order_relaxed); }
bool enabled() { return g_on.load(std::memory_order_relaxed); }

std::vector<Event> drain() {
  std::lock_guard g(g_lock);
  std::vector<Event> out;
  out.swap(g_events);
  g_dropped = 0;
  return out;
}

std::string format(const Event& e) {
  char buf[192];
  std::snprintf(buf, sizeof buf, "%llu.%09llu task %u %s(%#llx, %#llx)",
                (unsigned long long)(e.time_ns / 1000000000), (unsigned long long)(e.time_ns % 1000000000),
                e.tid, e.point, (unsigned long long)e.arg0, (unsigned long long)e.arg1);
  return buf;
}

}  // namespace ustack::trace
