// Hosts and the public host API (include/ustack/host.hpp).
//
// LOCKING: the default host is created once (a function-local static); HostScope only touches
// the calling task.
#include "vfs/host.hpp"

#include <unistd.h>

#include <cstdio>

#include <ustack/host.hpp>

namespace ustack {

namespace {
long read_max_user_watches() {
  long v = kMaxUserWatchesDefault;
  if (FILE* f = std::fopen("/proc/sys/fs/epoll/max_user_watches", "r")) {
    if (std::fscanf(f, "%ld", &v) != 1) v = kMaxUserWatchesDefault;
    std::fclose(f);
  }
  return v;
}

Host* make_host(const char* name) {
  Host* h = new Host(name ? name : "host");
  h->cap_sys_resource = geteuid() == 0;
  h->cap_net_admin = geteuid() == 0;
  h->max_user_watches.store(read_max_user_watches(), std::memory_order_relaxed);
  return h;
}
}  // namespace

Host* default_host() {
  static Host* const h = make_host("default");  // lives as long as the process
  return h;
}

Host* current_host_slow() {
  Host* h = default_host();
  sched::current()->host_ = h;
  return h;
}

Host* host_create(const char* name) { return make_host(name); }

// The namespace's reference goes first; its sockets hold their own until the fd table
// (destroyed after this body) has closed them.
Host::~Host() {
  if (net_ns_free) net_ns_free(net_ns.load(std::memory_order_acquire));
}

void host_put(Host* host) {
  // The host's files are closed when its last reference goes; a task still inside it holds
  // one through HostScope.
  host->put();
}

void host_set_max_user_watches(Host* host, long n) {
  host->max_user_watches.store(n, std::memory_order_relaxed);
}

void host_set_busy_poll_us(Host* host, unsigned us) {
  host->busy_poll_ns.store(int64_t(us) * 1000, std::memory_order_relaxed);
}

HostScope::HostScope(Host* host) {
  sched::Task* t = sched::current();
  prev_ = t->host_;
  host->get();
  t->host_ = host;
}

HostScope::~HostScope() {
  sched::Task* t = sched::current();
  Host* h = t->host_;
  t->host_ = prev_;
  h->put();
}

}  // namespace ustack
