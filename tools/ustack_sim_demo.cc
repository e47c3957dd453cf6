// ustack-sim-demo: an epoll server and many client tasks on AF_UNIX, on virtual time
// (include/ustack/sim.hpp, docs/simulation.md). Runs one seed, runs it again to show the same
// hash, runs another seed, then follows one request through the event log: the client's send,
// unix_stream_sendmsg, sock_def_readable, ep_poll_callback, try_to_wake_up of the server, and
// the server's epoll_wait returning. Writes the whole run as a Perfetto trace.
//
//   ustack-sim-demo [--seed N] [--clients N] [--trace FILE]
//
// Exits 1 if a run does not end with every task done and every request answered, if the same
// seed gives another hash (or the other seed the same one), if the chain cannot be found in the
// log, or if the trace cannot be written.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <ustack/host.hpp>
#include <ustack/sim.hpp>
#include <ustack/ustack.hpp>
#include <vector>

namespace {

using ustack::sim::RunResult;
using ustack::sim::World;

constexpr int kRequestsPerClient = 3;
constexpr size_t kMsgLen = 32;                 // every request and reply: fixed size, NUL-padded
constexpr int kServerTask = 0;                 // spawned first
constexpr char kName[] = "\0ustack-sim-demo";  // abstract: no filesystem entry
constexpr int kMaxEvents = 64;                 // per epoll_wait
constexpr int64_t kFirstThinkNsMax = 500'000;
constexpr int64_t kThinkNsMin = 10'000, kThinkNsMax = 100'000;

// What the tasks saw, checked after the run.
struct Stats {
  int served = 0;      // requests the server answered
  int replies_ok = 0;  // replies the clients read and found right
  std::string error;   // the first thing that went wrong, if any
};

void fail(Stats* st, const std::string& who, const char* what) {
  if (!st->error.empty()) return;
  st->error = who + ": " + what + ": " + std::strerror(errno);
}

// splitmix64: each client's think times come from the seed and its number only, so they do
// not depend on the order tasks run in.
uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Sleeps on the world's clock: virtual time only moves when every task sleeps.
void think(uint64_t* rng, int64_t min_ns, int64_t max_ns) {
  const int64_t ns = min_ns + int64_t(splitmix64(rng) % uint64_t(max_ns - min_ns + 1));
  const struct timespec ts = {ns / 1'000'000'000, ns % 1'000'000'000};
  ustack::nanosleep(&ts, nullptr);
}

socklen_t server_addr(struct sockaddr_un* a) {
  *a = {};
  a->sun_family = AF_UNIX;
  std::memcpy(a->sun_path, kName, sizeof kName - 1);
  return socklen_t(sizeof(sa_family_t) + sizeof kName - 1);
}

void make_msg(char* out, const char* verb, int client, int seq) {
  std::memset(out, 0, kMsgLen);
  std::snprintf(out, kMsgLen, "%s client-%d #%d", verb, client, seq);
}

// The server: a non-blocking listener and its connections in one epoll, level-triggered.
// Each 32-byte "ping ..." gets a 32-byte "pong ..." back; it ends when every client closed.
void server(Stats* st, int clients) {
  // Two fds per client on this host (its end and ours), above the default 1024.
  const rlim_t want = rlim_t(clients) * 2 + 64;
  struct rlimit rl = {};
  ustack::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    if (ustack::setrlimit(RLIMIT_NOFILE, &rl) != 0) return fail(st, "server", "setrlimit");
  }
  const int lfd = ustack::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_un addr;
  const socklen_t len = server_addr(&addr);
  if (lfd < 0) return fail(st, "server", "socket");
  if (ustack::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len) != 0)
    return fail(st, "server", "bind");
  if (ustack::listen(lfd, 4096) != 0) return fail(st, "server", "listen");
  const int ep = ustack::epoll_create1(0);
  struct epoll_event ev = {EPOLLIN, {.u64 = uint64_t(lfd)}};
  if (ep < 0 || ustack::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0)
    return fail(st, "server", "epoll");

  std::vector<std::string> inbuf;  // by fd: bytes of a request not yet complete
  int closed = 0;
  struct epoll_event evs[kMaxEvents];
  while (closed < clients) {
    const int n = ustack::epoll_wait(ep, evs, kMaxEvents, -1);
    if (n < 0) return fail(st, "server", "epoll_wait");
    for (int i = 0; i < n; ++i) {
      const int fd = int(evs[i].data.u64);
      if (fd == lfd) {
        for (;;) {
          const int c = ustack::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) {
            if (errno != EAGAIN) return fail(st, "server", "accept4");
            break;
          }
          ev = {EPOLLIN, {.u64 = uint64_t(c)}};
          if (ustack::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) != 0)
            return fail(st, "server", "epoll_ctl");
          if (size_t(c) >= inbuf.size()) inbuf.resize(size_t(c) + 1);
        }
        continue;
      }
      char buf[4 * kMsgLen];
      const ssize_t got = ustack::recv(fd, buf, sizeof buf, 0);
      if (got < 0) {
        if (errno == EAGAIN) continue;
        return fail(st, "server", "recv");
      }
      if (got == 0) {  // the client closed: so do we (which also leaves the epoll)
        ustack::close(fd);
        inbuf[size_t(fd)].clear();
        ++closed;
        continue;
      }
      std::string& in = inbuf[size_t(fd)];
      in.append(buf, size_t(got));
      while (in.size() >= kMsgLen) {
        char reply[kMsgLen];
        std::memcpy(reply, in.data(), kMsgLen);
        if (std::memcmp(reply, "ping", 4) != 0) {
          errno = EPROTO;
          return fail(st, "server", "request");
        }
        std::memcpy(reply, "pong", 4);
        if (ustack::send(fd, reply, kMsgLen, 0) != ssize_t(kMsgLen))
          return fail(st, "server", "send");
        in.erase(0, kMsgLen);
        ++st->served;
      }
    }
  }
  ustack::close(ep);
  ustack::close(lfd);
}

// A client: think, connect, then kRequestsPerClient times: send a ping, read its pong, think.
void client(Stats* st, int index, uint64_t seed) {
  const std::string me = "client-" + std::to_string(index);
  uint64_t rng = seed * 0x100000001b3ull + uint64_t(index);
  // The first think also lets the server listen first: timers fire only once every runnable
  // task has run, the server included.
  think(&rng, 1'000, kFirstThinkNsMax);
  const int s = ustack::socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr;
  const socklen_t len = server_addr(&addr);
  if (s < 0) return fail(st, me, "socket");
  if (ustack::connect(s, reinterpret_cast<sockaddr*>(&addr), len) != 0)
    return fail(st, me, "connect");
  for (int seq = 0; seq < kRequestsPerClient; ++seq) {
    if (seq > 0) think(&rng, kThinkNsMin, kThinkNsMax);
    char req[kMsgLen], want[kMsgLen], got[kMsgLen];
    make_msg(req, "ping", index, seq);
    make_msg(want, "pong", index, seq);
    if (ustack::send(s, req, kMsgLen, 0) != ssize_t(kMsgLen)) return fail(st, me, "send");
    const ssize_t n = ustack::recv(s, got, kMsgLen, MSG_WAITALL);
    if (n != ssize_t(kMsgLen)) {
      if (n >= 0) errno = EPROTO;
      return fail(st, me, "recv");
    }
    if (std::memcmp(got, want, kMsgLen) != 0) {
      errno = EPROTO;
      return fail(st, me, "reply");
    }
    ++st->replies_ok;
  }
  ustack::close(s);
}

// One event of World::trace_text(): "t_us task what arg".
struct Event {
  double t_us;
  int task;
  std::string what;
  uint64_t arg;
};

std::vector<Event> parse_trace(const std::string& text) {
  std::vector<Event> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    double t = 0;
    int task = 0;
    char what[64] = {};
    char arg[32] = {};
    if (std::sscanf(line.c_str(), "%lf %d %63s %31s", &t, &task, what, arg) != 4) continue;
    out.push_back({t, task, what, std::strtoull(arg, nullptr, 0)});
  }
  return out;
}

struct Outcome {
  RunResult r;
  double wall_s = 0;
  Stats stats;
  std::vector<Event> events;  // filled when asked for
  std::vector<std::string> names;
  bool trace_written = false;
};

Outcome run_world(uint64_t seed, int clients, const char* trace_path, bool keep_events) {
  Outcome o;
  World w({.seed = seed});
  // AF_UNIX names live in a host's own name space (as in a Linux network namespace), so the
  // clients run on the server's host.
  ustack::Host* host = w.add_host("host");
  Stats* st = &o.stats;
  o.names.emplace_back("server");
  w.spawn(
      host, [st, clients] { server(st, clients); }, "server");
  for (int i = 1; i <= clients; ++i) {  // task i is client-i
    o.names.push_back("client-" + std::to_string(i));
    w.spawn(
        host, [st, i, seed] { client(st, i, seed); }, o.names.back());
  }
  const auto t0 = std::chrono::steady_clock::now();
  o.r = w.run();
  o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (keep_events) o.events = parse_trace(w.trace_text());
  if (trace_path) o.trace_written = w.write_trace(trace_path);
  return o;
}

const char* status_name(RunResult::Status s) {
  switch (s) {
    case RunResult::Status::kAllDone:
      return "all done";
    case RunResult::Status::kDeadlock:
      return "DEADLOCK";
    case RunResult::Status::kTimeReached:
      return "time reached";
  }
  return "?";
}

// One request's path: the first send of a client whose chain reached a sleeping server.
// Returns the event indices, in order (the server's last sleep first), or an empty vector.
std::vector<size_t> find_chain(const std::vector<Event>& ev) {
  const char* const hops[] = {"unix_stream_sendmsg", "sock_def_readable", "ep_poll_callback",
                              "try_to_wake_up", "wake"};
  size_t server_slept = ev.size();  // the server's last schedule_timeout so far
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev[i].task == kServerTask && ev[i].what == "schedule_timeout") server_slept = i;
    if (ev[i].what != hops[0] || ev[i].task == kServerTask || server_slept == ev.size()) continue;
    std::vector<size_t> chain = {server_slept, i};
    // The client's next events, while it still runs: the remaining hops in this order.
    size_t j = i + 1;
    for (size_t h = 1; h < std::size(hops) && j < ev.size(); ++j) {
      if (ev[j].task != ev[i].task || ev[j].what == "block" || ev[j].what == "exit") break;
      if (ev[j].what == hops[h]) {
        chain.push_back(j);
        ++h;
      }
    }
    if (chain.size() != 1 + std::size(hops) || ev[chain.back()].arg != uint64_t(kServerTask))
      continue;
    // The server runs again, and its schedule_timeout returns into ep_poll.
    for (const char* what : {"run", "schedule_timeout_ret"}) {
      for (; j < ev.size(); ++j) {
        if (ev[j].task == kServerTask && ev[j].what == what) {
          chain.push_back(j);
          break;
        }
      }
    }
    if (chain.size() == 3 + std::size(hops)) return chain;
  }
  return {};
}

// `woken`: the task the chain's "wake" event names (try_to_wake_up's own argument is shown
// when the log has it).
std::string describe(const Event& e, const Outcome& o, int woken) {
  char buf[200];
  const std::string& who = o.names[size_t(e.task)];
  if (e.what == "schedule_timeout") {
    std::snprintf(buf, sizeof buf, "schedule_timeout: epoll_wait finds nothing ready, sleeps");
  } else if (e.what == "unix_stream_sendmsg") {
    std::snprintf(buf, sizeof buf,
                  "send() -> unix_stream_sendmsg: %zu bytes onto the server end's queue", kMsgLen);
  } else if (e.what == "sock_def_readable") {
    std::snprintf(buf, sizeof buf, "sock_def_readable: wakes the server end's wait queue");
  } else if (e.what == "ep_poll_callback") {
    std::snprintf(buf, sizeof buf,
                  "ep_poll_callback: item %" PRIu64 " (the server's fd) onto the ready list",
                  e.arg);
  } else if (e.what == "try_to_wake_up") {
    std::snprintf(buf, sizeof buf, "try_to_wake_up(%s): TASK_INTERRUPTIBLE -> TASK_RUNNING",
                  o.names[size_t(woken)].c_str());
    if (e.arg != 0) {
      const size_t n = std::strlen(buf);
      std::snprintf(buf + n, sizeof buf - n, " (task id %" PRIu64 ")", e.arg);
    }
  } else if (e.what == "wake") {
    std::snprintf(buf, sizeof buf, "wake: the scheduler puts %s on the run queue",
                  o.names[size_t(e.arg)].c_str());
  } else if (e.what == "run") {
    std::snprintf(buf, sizeof buf, "run: the seed picks %s to run next", who.c_str());
  } else if (e.what == "schedule_timeout_ret") {
    std::snprintf(buf, sizeof buf,
                  "schedule_timeout returns into ep_poll: epoll_wait returns the item");
  } else {
    std::snprintf(buf, sizeof buf, "%s %#" PRIx64, e.what.c_str(), e.arg);
  }
  return buf;
}

void usage() {
  std::fprintf(stderr, "usage: ustack-sim-demo [--seed N] [--clients N] [--trace FILE]\n");
}

int demo(int argc, char** argv) {
  uint64_t seed = 1;
  int clients = 200;
  std::string trace_path = "build/ustack-sim-trace.json";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 < argc && a == "--seed") {
      seed = std::strtoull(argv[++i], nullptr, 0);
    } else if (i + 1 < argc && a == "--clients") {
      clients = std::atoi(argv[++i]);
    } else if (i + 1 < argc && a == "--trace") {
      trace_path = argv[++i];
    } else {
      usage();
      return 2;
    }
  }
  if (clients < 1) {
    usage();
    return 2;
  }
  const int requests = clients * kRequestsPerClient;
  std::printf(
      "ustack simulation: an epoll server and %d client tasks on AF_UNIX, on virtual time\n"
      "  task 0 'server' listens on @%s and answers from an epoll_wait loop; tasks 1..%d\n"
      "  'client-1'..'client-%d' each connect, send %d requests with 10-100 us of virtual think\n"
      "  time (nanosleep) between them, read each reply and close. One OS thread; the seed\n"
      "  picks which runnable task runs next.\n\n",
      clients, kName + 1, clients, clients, kRequestsPerClient);

  bool ok = true;
  auto check = [&](const char* label, const Outcome& o) {
    const bool good = o.r.status == RunResult::Status::kAllDone && o.stats.error.empty() &&
                      o.stats.served == requests && o.stats.replies_ok == requests;
    if (!good) {
      ok = false;
      std::printf("  %s: FAILED: %s; served %d, replies %d of %d%s%s\n", label,
                  status_name(o.r.status), o.stats.served, o.stats.replies_ok, requests,
                  o.stats.error.empty() ? "" : "; ", o.stats.error.c_str());
      if (!o.r.deadlock.empty()) std::printf("%s", o.r.deadlock.c_str());
    }
    return good;
  };

  const Outcome a = run_world(seed, clients, trace_path.c_str(), true);
  std::printf("run (seed %" PRIu64 "): %s, %d of %d requests served, %d replies checked\n", seed,
              status_name(a.r.status), a.stats.served, requests, a.stats.replies_ok);
  std::printf("  virtual time   %.3f ms\n", double(a.r.now_ns) / 1e6);
  std::printf("  task switches  %" PRIu64 "\n", a.r.switches);
  std::printf("  wall time      %.1f ms\n", a.wall_s * 1e3);
  std::printf("  hash           %#018" PRIx64 "\n", a.r.hash);
  check("run", a);

  const Outcome b = run_world(seed, clients, nullptr, false);
  const bool same = b.r.hash == a.r.hash && b.r.switches == a.r.switches;
  std::printf("again (seed %" PRIu64 "): hash %#018" PRIx64 " %s\n", seed, b.r.hash,
              same ? "identical: the same seed gives the same run, event for event"
                   : "DIFFERENT: the run is not deterministic");
  ok &= same && check("again", b);

  const Outcome c = run_world(seed + 1, clients, nullptr, false);
  const bool differs = c.r.hash != a.r.hash;
  std::printf("other (seed %" PRIu64 "): hash %#018" PRIx64 " %s, %d replies checked\n", seed + 1,
              c.r.hash, differs ? "different interleaving" : "SAME as seed's: unexpected",
              c.stats.replies_ok);
  ok &= differs && check("other", c);

  const std::vector<size_t> chain = find_chain(a.events);
  if (chain.empty()) {
    ok = false;
    std::printf("\nno client send that woke the sleeping server found in the event log\n");
  } else {
    const Event& send = a.events[chain[1]];
    int woken = kServerTask;
    for (size_t k : chain) {
      if (a.events[k].what == "wake") woken = int(a.events[k].arg);
    }
    std::printf(
        "\none request's path, from the event log (%s -> server; no virtual time passes\n"
        "while a task runs, so the order is the log's):\n",
        a.names[size_t(send.task)].c_str());
    std::printf("  %10s  %7s  %-11s %s\n", "t (us)", "event", "task", "hop");
    for (size_t k : chain) {
      const Event& e = a.events[k];
      std::printf("  %10.3f  %7zu  %-11s %s\n", e.t_us, k, a.names[size_t(e.task)].c_str(),
                  describe(e, a, woken).c_str());
    }
  }

  if (a.trace_written) {
    std::printf(
        "\nPerfetto trace of the first run: %s (%zu events)\n"
        "  open https://ui.perfetto.dev, \"Open trace file\": each task is a thread of its\n"
        "  host, sleeps are slices, hops (ep_poll_callback, try_to_wake_up...) instants.\n",
        trace_path.c_str(), a.events.size());
    if (!chain.empty()) {
      const Event& send = a.events[chain[1]];
      std::printf("  The path above is at %.3f us on the tracks of %s and server.\n", send.t_us,
                  a.names[size_t(send.task)].c_str());
    }
  } else {
    ok = false;
    std::printf("\ncould not write the trace to %s\n", trace_path.c_str());
  }
  if (!ok) std::printf("\nustack-sim-demo: FAILED\n");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return demo(argc, argv);
  } catch (const std::exception& e) {  // e.g. std::bad_alloc from spawn: too many tasks
    std::printf("\nustack-sim-demo: FAILED: %s\n", e.what());
    return 1;
  }
}
