// Looking inside a host: its open fds the way /proc/PID/fdinfo shows them, and ss-like
// listings (DESIGN.md §7). In-process: call these from the program that runs the host.
// fdinfo, open_fds and ss are in src/vfs/inspect.cc; ss_unix in src/net/unix/diag.cc.
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

// `ss -x -a` for `host`: one line per AF_UNIX socket, with ss's columns
//   Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port
// Netid is u_str, u_dgr or u_seq; State ESTAB, LISTEN or UNCONN (never connected, or a
// datagram socket without a peer). Recv-Q is the unread bytes (SOCK_DGRAM: the first datagram's
// length, as Linux shows it), Send-Q the bytes the socket's sends still hold (skb truesize); for a listener, the
// connections waiting for accept() and the backlog. An address is the path, @abstract (each
// NUL shown as '@') or *.
// The "port" is the socket's inode number in Linux; ustack numbers the sockets 1, 2, ... in the
// order of the lowest fd that holds each one (sockets only in flight in SCM_RIGHTS messages
// last), and lists them in that order. The peer's address and number are "* 0" when the peer
// is closed or is a connection not yet accepted (which, as in Linux, is not listed); otherwise
// the peer's own name and number (ss over netlink prints "*" for every peer name; the names are
// what it prints from /proc/net/unix). With `processes`, the Process column of `ss -xp`:
// users:(("HOST",fd=N),...) with every fd of the host that refers to the socket.
std::string ss_unix(Host* host, bool processes);

}  // namespace inspect
}  // namespace ustack
