// Looking inside a host: its open fds the way /proc/PID/fdinfo shows them, and ss-like
// listings (DESIGN.md §7). In-process: call these from the program that runs the host.
#pragma once

#include <string>
#include <vector>

namespace ustack {

class Host;

namespace inspect {

// /proc/PID/fdinfo/FD for `fd` of `host`: "pos:", "flags:" (octal, as F_GETFL plus O_CLOEXEC
// for a close-on-exec fd), then the file's own lines: for an epoll, one
// "tfd: … events: … data: …  ready:0|1" line per watched item. Empty if fd is not open.
std::string fdinfo(Host* host, int fd);

// The open fds of `host`, lowest first.
std::vector<int> open_fds(Host* host);

// The listing `ustack-ss` prints: one line per open fd (fd, kind, flags), and with `epoll`
// every epoll's interest list under it.
std::string ss(Host* host, bool epoll);

}  // namespace inspect
}  // namespace ustack
