// Every limit ustack enforces, with the Linux sysctl or constant it mirrors.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ustack {

// --- fd tables (fs/file.c) ---
inline constexpr unsigned kNrOpen = 1048576;          // fs.nr_open: hard ceiling on an fd number
inline constexpr unsigned kNrOpenDefault = 64;        // NR_OPEN_DEFAULT (BITS_PER_LONG): initial max_fds
inline constexpr unsigned kFdtableGrain = 1024 / sizeof(void*);  // expand_fdtable's unit: 128 fds
inline constexpr uint64_t kRlimitNofileCur = 1024;    // default RLIMIT_NOFILE soft limit
inline constexpr uint64_t kRlimitNofileMax = kNrOpen; // default RLIMIT_NOFILE hard limit

// --- read/write (include/uapi/linux/uio.h, fs/read_write.c) ---
inline constexpr int kUioMaxIov = 1024;               // UIO_MAXIOV
inline constexpr size_t kMaxRwCount = 0x7ffff000;     // MAX_RW_COUNT: INT_MAX & PAGE_MASK

// --- poll/select (fs/select.c) ---
inline constexpr size_t kPollInlineEntries = 18;      // N_INLINE_POLL_ENTRIES: on-stack entries
inline constexpr size_t kPollTablePageEntries = 64;   // entries per overflow page

// --- pipes (fs/pipe.c) ---
inline constexpr size_t kPageSize = 4096;             // PAGE_SIZE
inline constexpr size_t kPipeBuf = 4096;              // PIPE_BUF: atomic write size
inline constexpr unsigned kPipeDefBuffers = 16;       // PIPE_DEF_BUFFERS: 64 KiB default
inline constexpr unsigned kPipeMaxSize = 1048576;     // fs.pipe-max-size

// --- epoll (fs/eventpoll.c) ---
inline constexpr int kEpMaxNests = 4;                 // EP_MAX_NESTS: at most 5 epoll levels
inline constexpr long kMaxUserWatchesDefault = 1L << 20;  // used if /proc is unreadable

// --- time ---
inline constexpr int64_t kNsecPerSec = 1000000000;
inline constexpr int64_t kNoDeadline = INT64_MAX;     // schedule_timeout(MAX_SCHEDULE_TIMEOUT)
// How long a task spins on its state word before it blocks when the host has no busy_poll
// set: long enough for a partner on another CPU to answer, short against a time slice.
inline constexpr int64_t kSpinBeforeSleepNs = 2000;

}  // namespace ustack
