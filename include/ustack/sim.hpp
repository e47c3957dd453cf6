// Deterministic simulation (DESIGN.md §2, docs/simulation.md): many hosts in one process, their
// tasks as fibers on one OS thread, on virtual time, in an order a seed decides.
//
//   ustack::sim::World w({.seed = 7});
//   ustack::Host* h = w.add_host("server");
//   w.spawn(h, [] { /* ustack calls: socket, epoll_wait, ... */ }, "srv");
//   auto r = w.run();          // until every task has ended (or a deadlock)
//   r.hash                     // the same for the same seed, run after run
//
// Inside a task every ustack call behaves as in a thread, except that blocking switches to
// another task, and every timeout (poll, select, epoll_wait, SO_RCVTIMEO/SO_SNDTIMEO,
// ustack::nanosleep) is on the world's clock, which jumps to the next timer when every task
// sleeps. A world runs on the thread that calls run(); its objects must not be touched from
// other threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ustack {

class Host;

namespace sim {

struct Options {
  uint64_t seed = 1;
  // Run tasks in the order they became runnable instead of the seed's choice.
  bool fifo = false;
  size_t stack_size = size_t{256} * 1024;
  // Keep every event for trace_json()/trace_text() (40 bytes each). false: only the hash is
  // kept, for long runs; the traces are then empty.
  bool keep_events = true;
};

struct RunResult {
  enum class Status { kAllDone, kDeadlock, kTimeReached } status;
  int64_t now_ns;         // the virtual clock when run returned (ns since the world began)
  uint64_t switches;      // task switches so far
  uint64_t hash;          // of every event so far: the same seed gives the same hash
  std::string deadlock;   // kDeadlock: each sleeping task, where it sleeps and on what
};

class World {
 public:
  explicit World(const Options& opts = {});
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // A new host (its own fd table and AF_UNIX name space), owned by the world.
  Host* add_host(const std::string& name);
  // A task on `host`, runnable at once; returns its number (0, 1, ...).
  int spawn(Host* host, std::function<void()> fn, const std::string& name = "");
  // Runs until every task has ended or nothing more can happen (deadlock).
  RunResult run();
  // Runs until the clock reaches t_ns (since the world began), every task has ended, or a
  // deadlock.
  RunResult run_until(int64_t t_ns);
  // The world's clock, ns since it began.
  int64_t now() const;
  // A signal to task `task` with a handler installed with (restart) or without SA_RESTART: the
  // call it sleeps in returns EINTR or restarts, as Linux's would. From inside a task.
  void interrupt(int task, bool restart = false);
  // Every event so far as Chrome/Perfetto trace JSON (open it in ui.perfetto.dev): each task a
  // thread of its host's process, its sleeps as slices named by where it slept, wake-ups and
  // the kernel-chain trace points (sock_def_readable, ep_poll_callback, ...) as instants.
  std::string trace_json() const;
  bool write_trace(const std::string& path) const;
  // The events as text, one per line: "t_us task what arg".
  std::string trace_text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// From inside a task: let the other runnable tasks run first (sched_yield).
void yield();
// From inside a task: the running world, or null outside one.
World* current_world();

}  // namespace sim
}  // namespace ustack
