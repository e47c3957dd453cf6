// The fd table of a host (fs/file.c: struct files_struct / fdtable): fd → File.
//
// fget() is lock-free: slots are atomic pointers in one reservation of kNrOpen entries (the
// pages are touched only as fds are used), so the table never moves and a reader needs no RCU.
// max_fds() models the kernel's table size, which select() clamps nfds to (B2): it starts at
// NR_OPEN_DEFAULT and grows as expand_fdtable() would.
//
// LOCKING: file_lock protects open_fds_, close_on_exec_, next_fd_ and every store to a slot.
// Slots are read without it (fget); max_fds_ is written under it and read without it.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "base/spinlock.hpp"
#include "vfs/file.hpp"

namespace ustack {

class FdTable {
 public:
  FdTable();
  ~FdTable();
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;

  // fget: a new reference to the File at fd, or nullptr if fd is not open.
  File* fget(int fd) {
    if (USTACK_UNLIKELY(unsigned(fd) >= kNrOpen)) return nullptr;
    for (;;) {
      File* f = fd_[fd].load(std::memory_order_acquire);
      if (f == nullptr) return nullptr;
      if (!f->get_not_zero()) continue;  // being freed: the slot has changed
      if (USTACK_LIKELY(fd_[fd].load(std::memory_order_acquire) == f)) return f;
      fput(f);  // the slot was reused under us (type-stable File): try again
    }
  }

  // The File at fd without a reference, for a caller inside a file_rcu::ReadSection (the
  // kernel's fdget light path): valid until the section ends.
  File* fget_rcu(int fd) const {
    if (USTACK_UNLIKELY(unsigned(fd) >= kNrOpen)) return nullptr;
    return fd_[fd].load(std::memory_order_acquire);
  }

  // get_unused_fd_flags + fd_install in one step: the lowest free fd in [start, nofile),
  // holding `f` (whose reference the table takes). -EMFILE if none.
  int install_lowest(File* f, unsigned start, uint64_t nofile, bool cloexec);
  // replace_fd for dup2/dup3: installs f at fd (taking the reference), closing what was there.
  // -EBUSY if fd is reserved but not installed (not possible here: kept for the kernel's shape).
  int replace(unsigned fd, File* f, bool cloexec);
  // close_fd: removes fd and drops the table's reference. -EBADF if not open.
  int close(unsigned fd);
  // Every open fd, closed (a host going away).
  void close_all();

  int get_close_on_exec(unsigned fd);   // 0/1, or -EBADF
  int set_close_on_exec(unsigned fd, bool on);
  bool fd_is_open(unsigned fd) const {
    return fd < kNrOpen && fd_[fd].load(std::memory_order_acquire) != nullptr;
  }
  unsigned max_fds() const { return max_fds_.load(std::memory_order_acquire); }

 private:
  void expand_locked(unsigned fd);
  void set_open_locked(unsigned fd, bool open);
  void set_cloexec_locked(unsigned fd, bool on);
  bool test_bit(const std::vector<uint64_t>& map, unsigned fd) const {
    return fd / 64 < map.size() && (map[fd / 64] >> (fd % 64) & 1);
  }

  std::atomic<File*>* fd_;               // kNrOpen slots (mmap'd, zero-filled on demand)
  SpinLock file_lock_;
  std::vector<uint64_t> open_fds_;       // under file_lock_
  std::vector<uint64_t> close_on_exec_;  // under file_lock_
  unsigned next_fd_ = 0;                 // under file_lock_: lowest possibly-free fd
  std::atomic<unsigned> max_fds_;
};

}  // namespace ustack
