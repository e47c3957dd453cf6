// `ss -x` for a host's AF_UNIX sockets (include/ustack/inspect.hpp): net/unix/diag.c's walk
// over the sockets, and the printing half of iproute2's misc/ss.c (unix_show_sock,
// unix_stats_print). Lives in net/unix rather than beside fdinfo in vfs: vfs sits below net.
//
// LOCKING: the table lock (UnixTable::lock) to take a reference on each sock, then each sock's
// state lock alone to read sk_socket (sock_graft and sock_orphan write it under that lock);
// the rest comes from unix_sock_list and the fd table, each under its own locks. The parts are
// separate snapshots: a socket created or closed meanwhile may be missing or stale, as with ss.
#include <ustack/inspect.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "net/unix/af_unix.hpp"
#include "vfs/host.hpp"

namespace ustack::inspect {
namespace {

// sstate_name (misc/ss.c), indexed by the kernel's TCP state (include/net/tcp_states.h):
// AF_UNIX uses ESTABLISHED, LISTEN and CLOSE, which ss prints as UNCONN.
const char* sstate_name(int state) {
  static constexpr std::array<const char*, 12> kNames = {
      "UNKNOWN",   "ESTAB",  "SYN-SENT",   "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
      "TIME-WAIT", "UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN",     "CLOSING"};
  return state >= 0 && size_t(state) < kNames.size() ? kNames[size_t(state)] : "UNKNOWN";
}

// unix_netid_name (misc/ss.c).
const char* unix_netid_name(int type) {
  switch (type) {
    case SOCK_STREAM:
      return "u_str";
    case SOCK_SEQPACKET:
      return "u_seq";
    default:
      return "u_dgr";
  }
}

// ss prints the NULs of an abstract name as '@' (unix_show_sock), the leading one included.
std::string printable_name(std::string name) {
  std::replace(name.begin(), name.end(), '\0', '@');
  return name;
}

// The socks that have a socket, i.e. a nonzero sock_i_ino: diag.c's sk_diag_dump skips the
// others. Those are the embryos a connect() queued on a listener, not yet accepted (a closed
// socket has already left the table).
std::set<uintptr_t> socks_with_socket(net::Net* net) {
  net::UnixTable* t = net::unix_table(net);
  std::vector<net::UnixSock*> socks;
  {
    SpinGuard g(t->lock);
    socks.reserve(t->all.size());
    for (net::UnixSock* u : t->all) {
      u->hold();  // the table lock is a leaf except for sock_hold
      socks.push_back(u);
    }
  }
  std::set<uintptr_t> out;
  for (net::UnixSock* u : socks) {
    bool grafted;
    {
      SpinGuard g(u->lock);
      grafted = u->sk_socket != nullptr;
    }
    if (grafted) out.insert(uintptr_t(u));
    u->put();
  }
  return out;
}

// The fds of `host` behind each socket (keyed as UnixSockInfo::ino), lowest first.
std::map<uintptr_t, std::vector<int>> socket_fds(Host* host) {
  std::map<uintptr_t, std::vector<int>> out;
  for (int fd : open_fds(host)) {
    File* f = host->fdt.fget(fd);
    if (f == nullptr) continue;
    net::Socket* sock = net::sock_from_file(f);
    if (sock != nullptr && sock->sk != nullptr && sock->sk->sk_family == AF_UNIX)
      out[uintptr_t(net::unix_sk(sock->sk))].push_back(fd);
    fput(f);
  }
  return out;
}

// The columns of `ss -x` (and -p's Process). An address is right-aligned against its port;
// the two are joined by ':' in the header and by a space in the rows.
enum Col : size_t {
  kNetid,
  kState,
  kRecvQ,
  kSendQ,
  kLocal,
  kLport,
  kPeer,
  kPport,
  kProcess,
  kNrCols
};
using Row = std::array<std::string, kNrCols>;

std::string render(const std::vector<Row>& rows, size_t ncols) {
  std::array<size_t, kNrCols> width{};
  for (const Row& r : rows) {
    for (size_t c = 0; c < ncols; ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::string line;
    for (size_t c = 0; c < ncols; ++c) {
      if (c > 0) line += ((c == kLport || c == kPport) && i == 0) ? ':' : ' ';
      const std::string pad(width[c] - r[c].size(), ' ');
      line += (c == kLocal || c == kPeer) ? pad + r[c] : r[c] + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace

std::string ss_unix(Host* host, bool processes) {
  net::Net* net = net::host_net(host);
  const std::map<uintptr_t, std::vector<int>> fds = socket_fds(host);
  const std::set<uintptr_t> grafted = socks_with_socket(net);
  std::vector<net::UnixSockInfo> socks = net::unix_sock_list(net);
  std::erase_if(socks, [&](const net::UnixSockInfo& i) { return grafted.count(i.ino) == 0; });

  // ustack sockets have no inode numbers: number them 1, 2, ... in the order of the lowest fd
  // that holds each one (sockets only in flight in SCM_RIGHTS messages last, by address), so
  // that the numbers follow the program's own order and a test can predict them.
  auto lowest_fd = [&](uintptr_t ino) {
    auto it = fds.find(ino);
    return it == fds.end() ? INT_MAX : it->second.front();
  };
  std::sort(socks.begin(), socks.end(),
            [&](const net::UnixSockInfo& a, const net::UnixSockInfo& b) {
              return std::pair(lowest_fd(a.ino), a.ino) < std::pair(lowest_fd(b.ino), b.ino);
            });
  std::map<uintptr_t, unsigned> number;
  for (const net::UnixSockInfo& i : socks) number.emplace(i.ino, unsigned(number.size() + 1));

  std::vector<Row> rows;
  rows.push_back({"Netid", "State", "Recv-Q", "Send-Q", "Local Address", "Port", "Peer Address",
                  "Port", "Process"});
  for (const net::UnixSockInfo& i : socks) {
    // A peer that is gone (closed) or not yet accepted has no inode: ss shows "* 0".
    auto peer = number.find(i.peer_ino);
    const bool peer_listed = i.peer_ino != 0 && peer != number.end();
    std::string users;
    if (auto it = fds.find(i.ino); it != fds.end()) {
      for (int fd : it->second) {
        users += (users.empty() ? "users:((\"" : ",(\"") + host->name() +
                 "\",fd=" + std::to_string(fd) + ")";
      }
      users += ")";
    }
    rows.push_back({unix_netid_name(i.type), sstate_name(i.state), std::to_string(i.rqueue),
                    std::to_string(i.wqueue), printable_name(i.local),
                    std::to_string(number.at(i.ino)), peer_listed ? printable_name(i.peer) : "*",
                    peer_listed ? std::to_string(peer->second) : "0", std::move(users)});
  }
  return render(rows, processes ? kNrCols : kProcess);
}

}  // namespace ustack::inspect
