// The simulation backend: fibers on virtual time (see fiber.hpp).
//
// LOCKING: none; single OS thread (fiber.hpp).
#include "sched/fiber.hpp"

#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/compiler.hpp"
#include "base/trace.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace ustack::sched {

namespace ctx = boost::context;

struct SimTask {
#if defined(__SANITIZE_THREAD__)
  void* tsan_fiber = nullptr;  // ThreadSanitizer's view of this fiber
#endif
  int index = 0;
  std::string name;
  Task* task = nullptr;
  std::function<void()> fn;
  ctx::fiber fiber;   // the task's own context while it is not running
  ctx::fiber caller;  // run()'s context while the task runs
  bool runnable = false;
  bool blocked = false;
  bool timed_out = false;
  bool done = false;
  bool started = false;
  SimTask* next_abandoned = nullptr;
  uint64_t timer_gen = 0;  // bumping it cancels a pending timer
  int64_t timer_deadline = kNoDeadline;
};

namespace {

__thread FiberScheduler* tls_fiber = nullptr;
#if defined(__SANITIZE_THREAD__)
__thread void* tls_tsan_main = nullptr;  // the OS thread's own context, for TSan
#endif

// A guarded stack whose memory goes back clean: ASan poisons stack frames that never return
// (a fiber's entry), and a later mapping at the same addresses would inherit that poison.
struct SimStack {
  ctx::protected_fixedsize_stack inner;
  explicit SimStack(size_t size) : inner(size) {}
  ctx::stack_context allocate() { return inner.allocate(); }
  void deallocate(ctx::stack_context& sctx) noexcept {
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(sctx.sp) - sctx.size, sctx.size);
#endif
    inner.deallocate(sctx);
  }
};

// Tasks that never ended, kept (and reachable, for the leak checker) for good.
SimTask* g_abandoned = nullptr;

uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool timer_later(const auto& a, const auto& b) {
  return a.deadline != b.deadline ? a.deadline > b.deadline : a.seq > b.seq;
}

void trace_sink(const char* point, uint64_t a0, uint64_t /*a1*/) {
  FiberScheduler* s = tls_fiber;
  // The first argument is kept (a task id, a count, a size, a user's epoll data, a deadline on
  // the virtual clock: the same run after run), except where it is an address.
  const bool address = std::strcmp(point, "sock_def_readable") == 0 ||
                       std::strcmp(point, "unix_stream_connect") == 0;
  s->record(s->current_index(), point, address ? 0 : a0, true);
}

// The hash of an event name, cached by the string's address (stable within a process; the
// bytes, not the address, go into the hash, so that it is the same in every process).
uint64_t name_hash(const char* what) {
  struct Slot {
    const char* key;
    uint64_t h;
  };
  static __thread Slot cache[64];
  Slot& sl = cache[(reinterpret_cast<uintptr_t>(what) >> 3) & 63];
  if (sl.key == what) return sl.h;
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char* p = what; *p; ++p) {
    h ^= uint8_t(*p);
    h *= 0x100000001b3ull;
  }
  sl = {what, h};
  return h;
}

// One 64-bit mixing step (the murmur3 finaliser over the running hash and a word).
uint64_t mix64(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

}  // namespace

FiberScheduler* current_fiber_scheduler() { return tls_fiber; }

FiberScheduler::FiberScheduler(const Options& opts) : opts_(opts), now_(opts.start_ns) {
  USTACK_ASSERT(now_ > 0);
  if (opts_.keep_events) events_.reserve(kInitialEvents);
  uint64_t x = opts.seed;
  for (uint64_t& r : rng_) r = splitmix64(&x);
}

FiberScheduler::~FiberScheduler() {
  for (auto& st : tasks_) {
    if (!st->done && st->started) {
      // A task that never ended (a deadlock, or a run_until that stopped first) sleeps with
      // wait-queue entries on its stack, linked into objects that may outlive us. Unwinding
      // its fiber would free them under their queues, so it is abandoned instead: stack, task
      // and all (the World keeps its hosts alive for the same reason). No allocation here:
      // the record itself goes on the list (reachable, for the leak checker).
      SimTask* raw = st.release();
      raw->next_abandoned = g_abandoned;
      g_abandoned = raw;
      continue;
    }
    st->fiber = {};  // never started: nothing of ustack on its stack yet
    if (st->task) st->task->put();
  }
}

uint64_t FiberScheduler::next_random() {
  // xoshiro256** (Blackman, Vigna).
  const uint64_t result = std::rotl(rng_[1] * 5, 7) * 9;
  const uint64_t t = rng_[1] << 17;
  rng_[2] ^= rng_[0];
  rng_[3] ^= rng_[1];
  rng_[1] ^= rng_[2];
  rng_[0] ^= rng_[3];
  rng_[2] ^= t;
  rng_[3] = std::rotl(rng_[3], 45);
  return result;
}

void FiberScheduler::record(int task, const char* what, uint64_t arg, bool hashed) {
  if (opts_.keep_events) events_.push_back({now_, task, what, arg, hashed});
  if (!hashed) return;
  hash_ = mix64(hash_, uint64_t(now_));
  hash_ = mix64(hash_, uint64_t(int64_t(task)));
  hash_ = mix64(hash_, name_hash(what));
  hash_ = mix64(hash_, arg);
}

int FiberScheduler::spawn(std::function<void()> fn, std::string name, Host* host) {
  auto st = std::make_unique<SimTask>();
  SimTask* raw = st.get();
  raw->index = int(tasks_.size());
  raw->name = std::move(name);
  raw->fn = std::move(fn);
  raw->task = new Task(uint32_t(1000000 + raw->index));
  raw->task->sim_ = raw;
  raw->task->host_ = host;
#if defined(__SANITIZE_THREAD__)
  raw->tsan_fiber = __tsan_create_fiber(0);
#endif
  raw->fiber = ctx::fiber(std::allocator_arg, SimStack(opts_.stack_size),
                          [this, raw](ctx::fiber&& caller) {
                            raw->caller = std::move(caller);
                            try {
                              raw->fn();
                            } catch (const ctx::detail::forced_unwind&) {
                              throw;  // Boost.Context's own unwinding
                            } catch (...) {
                              if (!error_) error_ = std::current_exception();
                            }
                            wake_q_flush();
                            raw->done = true;
#if defined(__SANITIZE_THREAD__)
                            __tsan_switch_to_fiber(tls_tsan_main, 0);
#endif
                            return std::move(raw->caller);
                          });
  tasks_.push_back(std::move(st));
  ++live_;
  make_runnable(raw);
  return raw->index;
}

void FiberScheduler::make_runnable(SimTask* st) {
  if (st->runnable || st->done) return;
  st->runnable = true;
  runq_.push_back(st);
}

void FiberScheduler::switch_to_main(SimTask* st) {
#if defined(__SANITIZE_THREAD__)
  __tsan_switch_to_fiber(tls_tsan_main, 0);
#endif
  st->caller = std::move(st->caller).resume();
}

bool FiberScheduler::block(Task* t, uint32_t blocked_state, int64_t deadline_ns) {
  auto* st = static_cast<SimTask*>(t->sim_);
  USTACK_ASSERT(st != nullptr && st->index == current_);
  if (t->state_.load(std::memory_order_relaxed) != blocked_state) return true;
  st->timed_out = false;
  if (deadline_ns != kNoDeadline) {
    if (deadline_ns <= now_) return false;
    st->timer_deadline = deadline_ns;
    timers_.push_back({deadline_ns, timer_seq_++, st, ++st->timer_gen});
    std::push_heap(timers_.begin(), timers_.end(), [](const Timer& a, const Timer& b) {
      return timer_later(a, b);
    });
  } else {
    st->timer_deadline = kNoDeadline;
  }
  st->blocked = true;
  record(st->index, "block", 0);
  switch_to_main(st);
  return !st->timed_out;
}

void FiberScheduler::unblock(Task* t) {
  auto* st = static_cast<SimTask*>(t->sim_);
  USTACK_ASSERT(st != nullptr);  // a simulated task cannot wake a thread
  if (!st->blocked) return;
  st->blocked = false;
  ++st->timer_gen;  // its timer, if any, no longer applies
  record(current_, "wake", uint64_t(st->index));
  make_runnable(st);
}

void FiberScheduler::yield() {
  SimTask* st = tasks_[size_t(current_)].get();
  make_runnable(st);
  record(st->index, "yield", 0);
  switch_to_main(st);
}

void FiberScheduler::interrupt(int idx, bool restart) {
  USTACK_ASSERT(idx >= 0 && size_t(idx) < tasks_.size());
  SimTask* st = tasks_[size_t(idx)].get();
  if (st->done) return;
  Task* t = st->task;
  if (!restart) t->sig_restart_.store(false, std::memory_order_relaxed);
  t->sigpending_.store(true, std::memory_order_seq_cst);
  record(current_, "interrupt", uint64_t(idx));
  // Between runs this thread's backend is the threaded one: route the wake-up to us.
  Scheduler* saved = tls_scheduler;
  tls_scheduler = this;
  try_to_wake_up(t, TASK_INTERRUPTIBLE, 0);
  wake_q_flush();
  tls_scheduler = saved;
}

void FiberScheduler::fire_timers_upto(int64_t t) {
  auto cmp = [](const Timer& a, const Timer& b) { return timer_later(a, b); };
  while (!timers_.empty() && timers_.front().deadline <= t) {
    std::pop_heap(timers_.begin(), timers_.end(), cmp);
    Timer tm = timers_.back();
    timers_.pop_back();
    SimTask* st = tm.task;
    if (!st->blocked || st->timer_gen != tm.gen) continue;  // woken meanwhile
    st->blocked = false;
    st->timed_out = true;
    record(st->index, "timeout", 0);
    make_runnable(st);
  }
}

FiberScheduler::Stop FiberScheduler::run(int64_t until_ns) {
  // Not from inside a task (of this world or another): fibers would nest.
  USTACK_ASSERT(tls_fiber == nullptr);
  Scheduler* saved_sched = tls_scheduler;
  FiberScheduler* saved_fiber = tls_fiber;
  Task* saved_task = tls_task;
  const uint32_t saved_tid = trace::tls_task_id;
  auto saved_sink = trace::tls_sink;
  const bool saved_on = trace::g_on.load(std::memory_order_relaxed);
  tls_scheduler = this;
  tls_fiber = this;
  trace::tls_sink = trace_sink;
  trace::g_on.store(true, std::memory_order_relaxed);
  Stop stop = Stop::kAllDone;
  for (;;) {
    if (runq_.empty()) {
      // Drop cancelled timers from the top, then move the clock to the next live one.
      auto cmp = [](const Timer& a, const Timer& b) { return timer_later(a, b); };
      while (!timers_.empty() && (!timers_.front().task->blocked ||
                                  timers_.front().task->timer_gen != timers_.front().gen)) {
        std::pop_heap(timers_.begin(), timers_.end(), cmp);
        timers_.pop_back();
      }
      if (timers_.empty()) {
        stop = live_ == 0 ? Stop::kAllDone : Stop::kDeadlock;
        break;
      }
      if (timers_.front().deadline > until_ns) {
        if (until_ns > now_) now_ = until_ns;
        stop = Stop::kTimeReached;
        break;
      }
      now_ = timers_.front().deadline;
      fire_timers_upto(now_);
      continue;
    }
    size_t pick = 0;
    if (!opts_.fifo && runq_.size() > 1) pick = size_t(next_random() % runq_.size());
    SimTask* st = runq_[pick];
    if (opts_.fifo) {
      runq_.erase(runq_.begin());
    } else {
      runq_[pick] = runq_.back();
      runq_.pop_back();
    }
    st->runnable = false;
    st->started = true;
    current_ = st->index;
    tls_task = st->task;
    trace::tls_task_id = st->task->id();
    ++switches_;
    record(st->index, "run", 0);
#if defined(__SANITIZE_THREAD__)
    tls_tsan_main = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(st->tsan_fiber, 0);
#endif
    st->fiber = std::move(st->fiber).resume();
    current_ = -1;
    if (st->done) {
      record(st->index, "exit", 0);
      st->fiber = {};
#if defined(__SANITIZE_THREAD__)
      __tsan_destroy_fiber(st->tsan_fiber);
      st->tsan_fiber = nullptr;
#endif
      --live_;
    }
    if (error_) break;
  }
  trace::g_on.store(saved_on, std::memory_order_relaxed);
  trace::tls_sink = saved_sink;
  trace::tls_task_id = saved_tid;
  tls_task = saved_task;
  tls_fiber = saved_fiber;
  tls_scheduler = saved_sched;
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
  return stop;
}

const std::string& FiberScheduler::task_name(int idx) const { return tasks_[size_t(idx)]->name; }
Host* FiberScheduler::task_host(int idx) const { return tasks_[size_t(idx)]->task->host_; }

std::string FiberScheduler::report() const {
  std::string out;
  char line[256];
  for (const auto& st : tasks_) {
    if (st->done) continue;
    const uint32_t state = st->task->state_.load(std::memory_order_relaxed) & ~kTaskBlocked;
    const char* how = state & TASK_INTERRUPTIBLE   ? "TASK_INTERRUPTIBLE"
                      : state & TASK_UNINTERRUPTIBLE ? "TASK_UNINTERRUPTIBLE"
                                                     : "runnable";
    if (st->blocked && st->timer_deadline != kNoDeadline) {
      std::snprintf(line, sizeof line, "  task %d '%s': sleeping in %s (%s), timer at %.6f s\n",
                    st->index, st->name.c_str(), st->task->wchan_ ? st->task->wchan_ : "?", how,
                    double(st->timer_deadline) / 1e9);
    } else if (st->blocked) {
      std::snprintf(line, sizeof line, "  task %d '%s': sleeping in %s (%s), no timeout\n",
                    st->index, st->name.c_str(), st->task->wchan_ ? st->task->wchan_ : "?", how);
    } else {
      std::snprintf(line, sizeof line, "  task %d '%s': runnable\n", st->index, st->name.c_str());
    }
    out += line;
  }
  return out;
}

}  // namespace ustack::sched
