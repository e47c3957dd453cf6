// Host: one simulated machine (DESIGN.md §2). For now: its fd table, its RLIMIT_NOFILE, its
// busy-poll setting and its capabilities; the network namespace joins it later.
//
// LOCKING: refs_ and the limits are atomics; fdt has its own lock.
#pragma once

#include <atomic>
#include <string>

#include "base/limits.hpp"
#include "sched/task.hpp"
#include "vfs/fdtable.hpp"

namespace ustack {

class Host {
 public:
  explicit Host(std::string name) : name_(std::move(name)) {}

  void get() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void put() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  const std::string& name() const { return name_; }
  FdTable fdt;
  std::atomic<uint64_t> nofile_cur{kRlimitNofileCur};  // RLIMIT_NOFILE soft
  std::atomic<uint64_t> nofile_max{kRlimitNofileMax};  // RLIMIT_NOFILE hard
  std::atomic<int64_t> busy_poll_ns{0};                // net.core.busy_poll, in ns
  // fs.epoll.max_user_watches and the count it limits (one user per host). The default is the
  // real machine's, so that ustack runs out where the kernel would.
  std::atomic<long> max_user_watches{kMaxUserWatchesDefault};
  std::atomic<long> epoll_watches{0};
  // CAP_SYS_RESOURCE: lets F_SETPIPE_SZ exceed fs.pipe-max-size. Taken from the real process
  // (a root process has it), so that the conformance tests agree with the host kernel.
  bool cap_sys_resource;
  // CAP_NET_ADMIN: lets SO_BUSY_POLL be raised. Taken from the real process, as above.
  bool cap_net_admin;
  // The network namespace (net::Net), created by the socket layer on first use and freed
  // with the host. Opaque here: vfs sits below net.
  std::atomic<void*> net_ns{nullptr};
  void (*net_ns_free)(void*) = nullptr;

 private:
  ~Host();
  std::atomic<long> refs_{1};
  std::string name_;
};

// The calling task's host.
Host* current_host_slow();
inline Host* current_host() {
  Host* h = sched::current()->host_;
  return USTACK_LIKELY(h != nullptr) ? h : current_host_slow();
}
// fdget/fdput: the current host's File at fd for the length of one call (null if not open).
class FdRef {
 public:
  explicit FdRef(int fd) : f_(current_host()->fdt.fdget(fd, &slot_)) {}
  // epoll_ctl's target: a kernel fd too, under the preload (FdTable::fget_or_foreign).
  enum OrForeign { kOrForeign };
  FdRef(int fd, OrForeign) : f_(current_host()->fdt.fdget(fd, &slot_)) {
    if (f_ == nullptr && g_foreign_fds != nullptr) {
      slot_ = -1;
      f_ = g_foreign_fds->fget(fd);
    }
  }
  ~FdRef() {
    if (f_) FdTable::fdput(f_, slot_);
  }
  FdRef(const FdRef&) = delete;
  FdRef& operator=(const FdRef&) = delete;
  File* get() const { return f_; }
  File* operator->() const { return f_; }
  explicit operator bool() const { return f_ != nullptr; }

 private:
  int slot_;
  File* f_;
};

inline uint64_t rlimit_nofile() { return current_host()->nofile_cur.load(std::memory_order_relaxed); }

}  // namespace ustack
