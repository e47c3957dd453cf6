// The simulation backend (DESIGN.md §2): tasks are fibers (Boost.Context) on one OS thread,
// time is virtual, and a seed decides which runnable task runs next.
//
// A task runs until it blocks (schedule_timeout -> block), yields or ends; then control goes
// back to run(), which picks the next runnable task — at random from the seeded generator, or
// in FIFO order — and, when no task is runnable, moves the clock to the earliest timer. Nothing
// above src/sched knows: it calls schedule_timeout, try_to_wake_up and now_ns as always.
//
// Every decision is recorded as an event (run, block, wake, timeout, exit, and the trace points
// hit while a task ran), with world-local task numbers and virtual time, so two runs of the
// same program with the same seed give the same events and the same hash.
//
// LOCKING: none. Everything runs on the OS thread that called run(); wakers on other threads
// are not supported (a real thread must not touch a simulated host's objects).
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sched/task.hpp"

namespace ustack::sched {

struct SimTask;

class FiberScheduler final : public Scheduler {
 public:
  // The event log's first allocation; it grows as needed.
  static constexpr size_t kInitialEvents = 1 << 16;
  // Each task's stack is an mmap with a guard page (two mappings), so vm.max_map_count
  // (65530 by default) bounds a process to about 32,000 live tasks.
  struct Options {
    uint64_t seed = 1;
    bool fifo = false;                  // run tasks in the order they became runnable
    size_t stack_size = size_t{256} * 1024;  // per fiber (virtual memory: touched pages only)
    int64_t start_ns = kNsecPerSec;     // the virtual clock at the start (never 0)
    bool keep_events = true;            // false: only the hash (long runs: 40 bytes per event)
  };
  // One recorded event. `task` is the world-local index; `what` a static string.
  struct Event {
    int64_t time_ns;
    int task;
    const char* what;
    uint64_t arg;   // a task index for "wake", otherwise 0 or the trace point's first argument
    bool hashed;    // part of the run's hash (trace-point arguments that are addresses are not)
  };
  enum class Stop { kAllDone, kDeadlock, kTimeReached };

  explicit FiberScheduler(const Options& opts);
  ~FiberScheduler() override;
  FiberScheduler(const FiberScheduler&) = delete;
  FiberScheduler& operator=(const FiberScheduler&) = delete;

  // A new task running fn on `host` (Task::host_), runnable now. Returns its index.
  int spawn(std::function<void()> fn, std::string name, Host* host);
  // Runs until every task has ended, nothing can happen any more (deadlock), or the clock
  // would pass until_ns. Rethrows an exception a task let escape.
  Stop run(int64_t until_ns);

  // The current task goes to the back of the run queue (sched_yield).
  void yield();
  // Models a signal to task idx with a handler (SA_RESTART or not): the call it sleeps in
  // returns EINTR or restarts, as Linux's would.
  void interrupt(int idx, bool restart);

  // --- Scheduler ---
  bool block(Task* t, uint32_t blocked_state, int64_t deadline_ns) override;
  void unblock(Task* t) override;
  int64_t now_ns() override { return now_; }
  bool virtual_time() const override { return true; }

  // --- inspection ---
  int current_index() const { return current_; }
  size_t task_count() const { return tasks_.size(); }
  size_t live_tasks() const { return live_; }
  uint64_t switches() const { return switches_; }
  const std::vector<Event>& events() const { return events_; }
  uint64_t hash() const { return hash_; }
  void record(int task, const char* what, uint64_t arg, bool hashed = true);
  // Each live task: index, name, state, where it sleeps and whether a timer will wake it.
  std::string report() const;
  const std::string& task_name(int idx) const;
  Host* task_host(int idx) const;

 private:
  void fire_timers_upto(int64_t t);
  void make_runnable(SimTask* st);
  void switch_to_main(SimTask* st);

  Options opts_;
  std::vector<std::unique_ptr<SimTask>> tasks_;
  std::vector<SimTask*> runq_;
  struct Timer {
    int64_t deadline;
    uint64_t seq;
    SimTask* task;
    uint64_t gen;
  };
  std::vector<Timer> timers_;  // a min-heap on (deadline, seq)
  uint64_t timer_seq_ = 0;
  uint64_t rng_[4];            // xoshiro256**: the same numbers on every machine
  int64_t now_;
  int current_ = -1;
  size_t live_ = 0;
  uint64_t switches_ = 0;
  uint64_t hash_ = 0xcbf29ce484222325ull;  // FNV-1a over the hashed events
  std::vector<Event> events_;
  std::exception_ptr error_;
  uint64_t next_random();
};

// The fiber scheduler running on this OS thread, or null.
FiberScheduler* current_fiber_scheduler();

}  // namespace ustack::sched
