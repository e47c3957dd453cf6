// sim::World (include/ustack/sim.hpp): hosts plus the fiber scheduler of src/sched/fiber.cc,
// the trace export, and the time calls (clock_gettime, nanosleep) that follow the running
// scheduler's clock.
//
// LOCKING: none; a world is used from the one thread that runs it (sim.hpp).
#include <ustack/host.hpp>
#include <ustack/sim.hpp>
#include <ustack/ustack.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include "base/clock.hpp"
#include "sched/fiber.hpp"
#include "sched/task.hpp"
#include "sys/syscall.hpp"
#include "vfs/host.hpp"

namespace ustack {

namespace sim {

namespace {
__thread World* tls_world = nullptr;
// The virtual clock starts at 1 s (0 means "no time left" to the socket layer); now() counts
// from the world's beginning.
constexpr int64_t kStartNs = kNsecPerSec;
}  // namespace

struct World::Impl {
  explicit Impl(const Options& o)
      : sched({o.seed, o.fifo, o.stack_size, kStartNs, o.keep_events}) {}
  sched::FiberScheduler sched;
  std::vector<Host*> hosts;
  std::vector<std::string> host_names;
  RunResult run(int64_t until_abs) {
    World* saved = tls_world;
    tls_world = owner;
    sched::FiberScheduler::Stop st;
    try {
      st = sched.run(until_abs);
    } catch (...) {
      tls_world = saved;
      throw;
    }
    tls_world = saved;
    RunResult r;
    r.status = st == sched::FiberScheduler::Stop::kAllDone     ? RunResult::Status::kAllDone
               : st == sched::FiberScheduler::Stop::kDeadlock ? RunResult::Status::kDeadlock
                                                               : RunResult::Status::kTimeReached;
    r.now_ns = sched.now_ns() - kStartNs;
    r.switches = sched.switches();
    r.hash = sched.hash();
    if (st == sched::FiberScheduler::Stop::kDeadlock) {
      char head[96];
      std::snprintf(head, sizeof head, "deadlock at t=%.6f s: every task sleeps, no timer is set\n",
                    double(r.now_ns) / 1e9);
      r.deadlock = head + sched.report();
    }
    return r;
  }
  World* owner = nullptr;
  int host_index(Host* h) const {
    for (size_t i = 0; i < hosts.size(); ++i) {
      if (hosts[i] == h) return int(i);
    }
    return -1;
  }
};

World::World(const Options& opts) : impl_(std::make_unique<Impl>(opts)) { impl_->owner = this; }

World::~World() {
  // Tasks still asleep are abandoned with their stacks (fiber.cc); their hosts stay too, since
  // those tasks' wait-queue entries are linked into the hosts' objects.
  const bool stuck = impl_->sched.live_tasks() != 0;
  if (stuck) {
    // Kept for good, and reachable for the leak checker. (The hosts are moved, not copied:
    // a destructor must not allocate.)
    static std::vector<std::vector<Host*>> kept;
    kept.emplace_back(std::move(impl_->hosts));
    return;
  }
  for (Host* h : impl_->hosts) host_put(h);
}

Host* World::add_host(const std::string& name) {
  Host* h = host_create(name.c_str());
  impl_->hosts.push_back(h);
  impl_->host_names.push_back(name);
  return h;
}

int World::spawn(Host* host, std::function<void()> fn, const std::string& name) {
  const int n = int(impl_->sched.task_count());
  return impl_->sched.spawn(std::move(fn), name.empty() ? "task-" + std::to_string(n) : name, host);
}

RunResult World::run() { return impl_->run(kNoDeadline); }
RunResult World::run_until(int64_t t_ns) { return impl_->run(kStartNs + t_ns); }
int64_t World::now() const { return impl_->sched.now_ns() - kStartNs; }

void World::interrupt(int task, bool restart) { impl_->sched.interrupt(task, restart); }

std::string World::trace_text() const {
  std::string out;
  char line[160];
  for (const auto& e : impl_->sched.events()) {
    std::snprintf(line, sizeof line, "%.3f %d %s %#llx\n", double(e.time_ns - kStartNs) / 1e3,
                  e.task, e.what, (unsigned long long)e.arg);
    out += line;
  }
  return out;
}

std::string World::trace_json() const {
  const auto& sch = impl_->sched;
  std::string out = "{\"traceEvents\":[\n";
  bool first = true;
  auto emit = [&](const std::string& ev) {
    if (!first) out += ",\n";
    first = false;
    out += ev;
  };
  char buf[512];
  // Names: a process per host, a thread per task.
  for (size_t h = 0; h < impl_->hosts.size(); ++h) {
    std::snprintf(buf, sizeof buf,
                  "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%zu,\"args\":{\"name\":\"%s\"}}",
                  h, impl_->host_names[h].c_str());
    emit(buf);
  }
  for (size_t t = 0; t < sch.task_count(); ++t) {
    std::snprintf(buf, sizeof buf,
                  "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%zu,\"args\":{\"name\":"
                  "\"%s\"}}",
                  impl_->host_index(sch.task_host(int(t))), t, sch.task_name(int(t)).c_str());
    emit(buf);
  }
  // Sleeps as slices (block .. run), everything else as instants.
  std::map<int, int64_t> asleep_since;
  for (const auto& e : sch.events()) {
    const int pid = e.task >= 0 ? impl_->host_index(sch.task_host(e.task)) : 0;
    const double ts = double(e.time_ns - kStartNs) / 1e3;
    if (!std::strcmp(e.what, "block")) {
      asleep_since[e.task] = e.time_ns;
      continue;
    }
    if (!std::strcmp(e.what, "run")) {
      auto it = asleep_since.find(e.task);
      if (it != asleep_since.end()) {
        std::snprintf(buf, sizeof buf,
                      "{\"ph\":\"X\",\"name\":\"sleep\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f}",
                      pid, e.task, double(it->second - kStartNs) / 1e3,
                      double(e.time_ns - it->second) / 1e3);
        emit(buf);
        asleep_since.erase(it);
      }
      continue;
    }
    std::snprintf(buf, sizeof buf,
                  "{\"ph\":\"i\",\"s\":\"t\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,"
                  "\"args\":{\"arg\":%llu}}",
                  e.what, pid, e.task, ts, (unsigned long long)e.arg);
    emit(buf);
  }
  out += "\n]}\n";
  return out;
}

bool World::write_trace(const std::string& path) const {
  std::ofstream f(path);
  f << trace_json();
  return bool(f);
}

void yield() {
  sched::FiberScheduler* s = sched::current_fiber_scheduler();
  if (s && s->current_index() >= 0) s->yield();
}

World* current_world() { return tls_world; }

}  // namespace sim

int clock_gettime(clockid_t clockid, struct timespec* tp) {
  if (tp == nullptr) {
    errno = EFAULT;
    return -1;
  }
  sched::Scheduler& s = sched::scheduler();
  if (!s.virtual_time()) return ::clock_gettime(clockid, tp);
  switch (clockid) {
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
      *tp = ns_to_timespec(s.now_ns());
      return 0;
    default:
      return ::clock_gettime(clockid, tp);
  }
}

// nanosleep: never restarted after a handler (signal(7)); EINTR with the time left.
int nanosleep(const struct timespec* req, struct timespec* rem) {
  return sys::syscall<int>([&]() -> long {
    if (req == nullptr) return -EFAULT;
    if (!timespec_valid(*req)) return -EINVAL;
    const int64_t deadline = deadline_after(sched::now_ns(), req->tv_sec, req->tv_nsec);
    sched::Task* t = sched::current();
    for (;;) {
      sched::set_current_state(sched::TASK_INTERRUPTIBLE);
      if (sched::signal_pending(t)) {
        sched::__set_current_state(sched::TASK_RUNNING);
        if (rem) *rem = ns_to_timespec(std::max<int64_t>(0, deadline - sched::now_ns()));
        return -EINTR;
      }
      if (!sched::schedule_timeout(deadline, 0, "hrtimer_nanosleep")) return 0;
    }
  });
}

}  // namespace ustack
