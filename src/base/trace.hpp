// Trace points at the hops of the wake-up chains (DESIGN.md §7).
//
// USTACK_TRACE(point, a0, a1) costs one predictable branch while tracing is off. While on, each
// hit records {time, task id, point, a0, a1} in one process-wide buffer, bounded by
// kTraceMaxEvents (older events are kept, newer ones counted as dropped).
#pragma once

#include <atomic>
#include <cstdint>

#include "base/compiler.hpp"

namespace ustack::trace {

inline constexpr size_t kTraceMaxEvents = 1 << 20;

extern std::atomic<bool> g_on;
// The ustack task id of the calling thread, set by src/sched when the task is created.
extern __thread uint32_t tls_task_id;

void record(const char* point, uint64_t a0, uint64_t a1);

// A thread whose trace points go somewhere else than the process-wide buffer: the simulation
// records them in its own event log, on virtual time.
extern __thread void (*tls_sink)(const char* point, uint64_t a0, uint64_t a1);

}  // namespace ustack::trace

#define USTACK_TRACE(point, a0, a1)                                                \
  do {                                                                             \
    if (USTACK_UNLIKELY(::ustack::trace::g_on.load(std::memory_order_relaxed)))    \
      ::ustack::trace::record((point), uint64_t(a0), uint64_t(a1));                \
  } while (0)
