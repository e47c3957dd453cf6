// Host inspection (include/ustack/inspect.hpp): fdinfo and the ustack-ss listing.
#include <ustack/inspect.hpp>

#include <cstdio>

#include "vfs/host.hpp"

namespace ustack::inspect {

std::vector<int> open_fds(Host* host) {
  std::vector<int> fds;
  const unsigned max = host->fdt.max_fds();
  for (unsigned fd = 0; fd < max; ++fd) {
    if (host->fdt.fd_is_open(fd)) fds.push_back(int(fd));
  }
  return fds;
}

std::string fdinfo(Host* host, int fd) {
  File* f = host->fdt.fget(fd);
  if (f == nullptr) return {};
  unsigned flags = f->f_flags.load(std::memory_order_relaxed);
  if (host->fdt.get_close_on_exec(unsigned(fd)) == 1) flags |= O_CLOEXEC;
  char buf[64];
  std::snprintf(buf, sizeof buf, "pos:\t0\nflags:\t0%o\n", flags);
  std::string out = buf;
  f->f_op->show_fdinfo(f, out);
  fput(f);
  return out;
}

std::string ss(Host* host, bool epoll) {
  std::string out = "fd    kind          flags\n";
  for (int fd : open_fds(host)) {
    File* f = host->fdt.fget(fd);
    if (f == nullptr) continue;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%-5d %-13s 0%o\n", fd, f->f_op->name(),
                  f->f_flags.load(std::memory_order_relaxed));
    out += buf;
    if (epoll && std::string(f->f_op->name()) == "[eventpoll]") {
      std::string items;
      f->f_op->show_fdinfo(f, items);
      for (size_t pos = 0; pos < items.size();) {
        size_t nl = items.find('\n', pos);
        out += "      " + items.substr(pos, nl - pos + 1);
        pos = nl + 1;
      }
    }
    fput(f);
  }
  return out;
}

}  // namespace ustack::inspect
