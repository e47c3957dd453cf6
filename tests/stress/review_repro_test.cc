// Reproducers for the concurrency review (tests named Review*).
//
// Several of these need a signal to land between two particular instructions. They get it
// deterministically with x86 single-stepping: the trap flag is set, so the CPU raises SIGTRAP
// after every instruction, and the SIGTRAP handler is installed through ustack::sigaction, i.e.
// it runs behind ustack's own trampoline exactly as any hooked asynchronous handler (SIGALRM,
// SIGCHLD, ...) would if it arrived at that instruction boundary. Nothing in src/ is changed or
// called in a way production code could not.
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <x86intrin.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "sched/task.hpp"
#include "vfs/file.hpp"
#include "vfs/host.hpp"

namespace ustack {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ThreadSanitizer defers asynchronous signals to its own safe points, which single-stepping
// cannot work with: these run in the release and ASan builds.
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
// ---------------------------------------------------------------------------------------------
// Single-step harness.
constexpr greg_t kTF = 0x100;
volatile sig_atomic_t g_stepping = 0;
void (*volatile g_on_step)(ucontext_t*) = nullptr;

void step_handler(int, siginfo_t*, void* uctx) {
  auto* uc = static_cast<ucontext_t*>(uctx);
  if (g_stepping && g_on_step) g_on_step(uc);
  if (g_stepping) {
    uc->uc_mcontext.gregs[REG_EFL] |= kTF;
  } else {
    uc->uc_mcontext.gregs[REG_EFL] &= ~kTF;
  }
}

struct StepHandlerScope {
  StepHandlerScope() {
    struct sigaction sa = {};
    sa.sa_sigaction = step_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(ustack::sigaction(SIGTRAP, &sa, nullptr), 0);  // behind ustack's trampoline
  }
  ~StepHandlerScope() {
    struct sigaction sa = {};
    sa.sa_handler = SIG_DFL;
    ustack::sigaction(SIGTRAP, &sa, nullptr);
    g_on_step = nullptr;
  }
};

__attribute__((always_inline)) inline void step_start() {
  g_stepping = 1;
  asm volatile(
      "sub $128, %%rsp\n\t"  // keep clear of any red zone
      "pushfq\n\t"
      "orq $0x100, (%%rsp)\n\t"
      "popfq\n\t"
      "add $128, %%rsp\n\t" ::
          : "memory", "cc");
}
__attribute__((always_inline)) inline void step_stop() {
  g_stepping = 0;  // the next trap clears TF
  asm volatile("nop\n\tnop" ::: "memory");
}

bool light_enabled() { return g_fdget_light_enabled; }

// The calling task becomes the sole user of `h`'s table (its first fdget does it).
int sole_user_eventfd(Host*) {
  int efd = ustack::eventfd(0, EFD_NONBLOCK);
  EXPECT_GE(efd, 0);
  EXPECT_EQ(ustack::eventfd_write(efd, 0), 0);  // FdRef → become_sole_user
  return efd;
}

// ---------------------------------------------------------------------------------------------
// Finding: a signal between fdget's `in_light_ = true` and `light_n_ = n + 1` runs the
// trampoline's light_upgrade, which sees no live slot yet and clears in_light_. fdget then
// publishes a live light slot with in_light_ == false: a task that makes the table shared does
// not wait for it and can close the fd, releasing the File while it is in use (and a later
// sleep does not upgrade it either, since light_upgrade tests in_light_).
TEST(ReviewFdgetLight, SignalInsideFdgetHidesTheLightUseFromASharer) {
  if (!light_enabled()) GTEST_SKIP() << "fdget light path off (membarrier unavailable)";
  Host* h = host_create("review-fdget-window");
  {
    HostScope s(h);
    int efd = sole_user_eventfd(h);
    sched::Task* self = sched::current();
    File* f = nullptr;
    int slot = -1;
    {
      StepHandlerScope sh;
      step_start();
      f = h->fdt.fdget(efd, &slot);  // a signal may land on any instruction of this
      step_stop();
    }
    sched::signal_clear_pending(self);
    ASSERT_NE(f, nullptr);
    ASSERT_GE(slot, 0) << "expected a light use";
    const bool hidden = !self->in_light_.load() && unsigned(slot) >= self->light_live_;
    EXPECT_FALSE(hidden) << "live light slot " << slot << " with in_light_ == false";

    // The consequence: another task's close no longer waits for our light use.
    std::atomic<bool> closed{false};
    std::thread other([&] {
      HostScope hs(h);
      ustack::close(efd);
      closed = true;
    });
    std::this_thread::sleep_for(300ms);
    const bool closed_while_in_use = closed.load();
    const bool released = f->f_op == nullptr;  // type-stable memory: safe to look
    FdTable::fdput(f, slot);
    other.join();
    EXPECT_FALSE(closed_while_in_use)
        << "close() by a new user finished while the sole user still held the file lightly"
        << (released ? " and the File was released (f_op == nullptr): use-after-free" : "");
  }
  host_put(h);
}

// ---------------------------------------------------------------------------------------------
// Finding: upgrade_light_files is not re-entrant against the trampoline. A signal after the
// loop's get() but before light_live_/in_light_ are stored makes the trampoline upgrade the
// same slots again: two references, one fdput → the File leaks (never released: no POLLHUP,
// a pipe never reaches EOF, the eventfd context is never freed).
// Here the stepping handler is a plain ::sigaction one (so that nothing upgrades early); at
// step k inside upgrade_light_files it raises SIGUSR1, whose handler is hooked through
// ustack::sigaction: exactly a SIGUSR1 arriving at that instruction.
struct RawStep {
  uintptr_t fn = 0, ret = 0;
  int k = 0, steps = 0;
  bool inside = false, done = false, fired = false;
};
RawStep* g_raw = nullptr;

void raw_step_handler(int, siginfo_t*, void* uctx) {
  auto* uc = static_cast<ucontext_t*>(uctx);
  if (g_stepping && g_raw) {
    RawStep& r = *g_raw;
    const uintptr_t rip = uintptr_t(uc->uc_mcontext.gregs[REG_RIP]);
    if (!r.inside && !r.done && rip == r.fn) {
      r.inside = true;
      r.ret = *reinterpret_cast<uintptr_t*>(uc->uc_mcontext.gregs[REG_RSP]);
      r.steps = 0;
    }
    if (r.inside) {
      if (rip == r.ret) {
        r.inside = false;
        r.done = true;
        g_stepping = 0;
      } else if (++r.steps == r.k) {
        r.fired = true;
        raise(SIGUSR1);  // delivered right here, through ustack's trampoline
      }
    }
  }
  if (g_stepping) {
    uc->uc_mcontext.gregs[REG_EFL] |= kTF;
  } else {
    uc->uc_mcontext.gregs[REG_EFL] &= ~kTF;
  }
}

void empty_handler(int) {}

TEST(ReviewFdgetLight, SignalInsideLightUpgradeTakesTwoReferences) {
  if (!light_enabled()) GTEST_SKIP() << "fdget light path off (membarrier unavailable)";
  Host* h = host_create("review-upgrade");
  {
    HostScope s(h);
    int efd = sole_user_eventfd(h);
    sched::Task* self = sched::current();
    struct sigaction usr = {}, trap = {}, old_usr, old_trap;
    usr.sa_handler = empty_handler;
    sigemptyset(&usr.sa_mask);
    ASSERT_EQ(ustack::sigaction(SIGUSR1, &usr, &old_usr), 0);
    trap.sa_sigaction = raw_step_handler;
    trap.sa_flags = SA_SIGINFO;
    sigemptyset(&trap.sa_mask);
    ASSERT_EQ(::sigaction(SIGTRAP, &trap, &old_trap), 0);
    RawStep r;
    g_raw = &r;
    long leaked = 0;
    int leaked_at = -1;
    for (int k = 1; k < 200; ++k) {
      int slot = -1;
      File* f = h->fdt.fdget(efd, &slot);
      ASSERT_NE(f, nullptr);
      ASSERT_GE(slot, 0);
      ASSERT_TRUE(self->in_light_.load());
      const long before = f->f_count.load();  // the table's reference
      r = RawStep{};
      r.fn = reinterpret_cast<uintptr_t>(sched::g_light_upgrade);
      r.k = k;
      step_start();
      // What every blocking call does first: upgrade, then (state RUNNING here) return.
      sched::schedule_timeout(kNoDeadline);
      step_stop();
      sched::signal_clear_pending(self);
      FdTable::fdput(f, slot);
      const long after = f->f_count.load();
      if (after != before) {
        leaked = after - before;
        leaked_at = k;
        while (f->f_count.load() > before) f->put();  // undo the leak
        break;
      }
      if (!r.fired) break;  // past the end of upgrade_light_files
    }
    g_raw = nullptr;
    ::sigaction(SIGTRAP, &old_trap, nullptr);
    ustack::sigaction(SIGUSR1, &old_usr, nullptr);
    EXPECT_EQ(leaked, 0) << "a signal at instruction " << leaked_at
                         << " of upgrade_light_files took a second reference (leak)";
    ustack::close(efd);
  }
  host_put(h);
}

// (ReviewWakeQ's reproducer is gone: handlers no longer run inside a ustack call — the
// trampoline defers them to the call's end — so no handler can interleave with try_to_wake_up's
// wake_q update; the slot is also reserved before it is filled now.)

// ---------------------------------------------------------------------------------------------
// Finding: a ustack call from a hooked handler on an object the interrupted call has locked
// deadlocks the thread (the self-pipe trick: SIGCHLD handler writes the pipe the event loop is
// reading). Linux syscalls are atomic with respect to handlers, and write() is
// async-signal-safe. Run in a child with an alarm; the handler fires on every instruction of
// the read, so it is bound to hit the pipe mutex's critical section.
int g_selfpipe_w = -1;
void selfpipe_on_step(ucontext_t*) {
  char x = 'x';
  ustack::write(g_selfpipe_w, &x, 1);
}

TEST(ReviewSignal, HandlerWritingTheSelfPipeWhileTheLoopReadsItDeadlocks) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(3);
    Host* h = host_create("review-selfpipe");
    HostScope s(h);
    int p[2];
    if (ustack::pipe2(p, O_NONBLOCK) != 0) _exit(2);
    g_selfpipe_w = p[1];
    char x = 'x', buf[64];
    ustack::write(p[1], &x, 1);
    StepHandlerScope sh;
    g_on_step = selfpipe_on_step;
    step_start();
    ustack::read(p[0], buf, sizeof buf);
    step_stop();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "child " << (WIFSIGNALED(status) ? "killed by signal " : "exited ")
      << (WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status))
      << (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM
              ? ": the handler's write() deadlocked on the pipe mutex held by the interrupted read()"
              : "");
}
#endif  // __x86_64__

// ---------------------------------------------------------------------------------------------
// Finding: file_rcu's ReadSection reads the epoch, then increments g_readers[epoch & 1]. A reader
// that is preempted in between while one synchronize() flips the epoch and drains its side ends
// up counted on the side a *later* synchronize() does not wait for: that synchronize returns at
// once and the File is released (->release, back to the pool) while the reader scans it.
// The preemption is modelled by doing ReadSection's constructor by hand, with the pause in it.
TEST(ReviewFileRcu, ReaderPreemptedInsideReadSectionConstructorIsNotWaitedFor) {
  Host* h = host_create("review-rcu");
  {
  HostScope s(h);
  int victim = ustack::eventfd(0, EFD_NONBLOCK);
  int other = ustack::eventfd(0, EFD_NONBLOCK);
  ASSERT_GE(victim, 0);
  ASSERT_GE(other, 0);

  // The reader (this thread, say a poll() scan) loads the epoch ... and is preempted.
  const unsigned idx = file_rcu::g_epoch.load(std::memory_order_relaxed) & 1;

  // Meanwhile another scan is running and another thread closes some other fd.
  std::atomic<bool> r0_in{false}, r0_go{false};
  std::thread r0([&] {
    file_rcu::ReadSection rs;
    r0_in = true;
    while (!r0_go) std::this_thread::yield();
  });
  while (!r0_in) std::this_thread::yield();
  const unsigned epoch0 = file_rcu::g_epoch.load();
  std::thread c1([&] {
    HostScope hs(h);
    ustack::close(other);  // last fput → synchronize(): flips the epoch, waits for r0
  });
  while (file_rcu::g_epoch.load() == epoch0) std::this_thread::yield();
  r0_go = true;
  r0.join();
  c1.join();

  // The reader resumes: the rest of ReadSection's constructor, then it loads a slot.
  ++file_rcu::tls_depth;
  file_rcu::g_readers[idx].fetch_add(1, std::memory_order_seq_cst);
  File* f = h->fdt.fget_rcu(victim);
  ASSERT_NE(f, nullptr);

  std::atomic<bool> closed{false};
  std::thread c2([&] {
    HostScope hs(h);
    ustack::close(victim);  // its synchronize() must wait for our section
    closed = true;
  });
  std::this_thread::sleep_for(300ms);
  const bool closed_early = closed.load();
  const bool released = f->f_op == nullptr;
  // End of the reader's section.
  file_rcu::g_readers[idx].fetch_sub(1, std::memory_order_release);
  if (--file_rcu::tls_depth == 0) file_rcu::flush_deferred();
  c2.join();
  EXPECT_FALSE(closed_early) << "the last fput did not wait for a running read section"
                             << (released ? "; the File was released under the reader" : "");
  }
  host_put(h);
}

#if defined(__x86_64__)
// ---------------------------------------------------------------------------------------------
// Finding: ep_poll_callback's lock-free pre-check of epi->events. eventfd's write stores the
// count and runs the callback in the same wqh.lock section: no full barrier between the count
// store and the events load, so (x86 store buffer) the callback can see the old, disarmed mask
// while a concurrent EPOLL_CTL_MOD (seq_cst store of events, then poll) sees the old count 0.
// Both miss: the ONESHOT item is re-armed, the eventfd is readable, and nothing is queued.
// The kernel takes ep->lock (a locked RMW) before reading the mask. Probabilistic, and in
// practice very unlikely here: count shares a cache line with the wqh.lock the writer has just
// taken, so its store drains almost at once (not reproduced in > 1M aligned iterations).
TEST(ReviewEpoll, OneshotRearmRacingAWriteIsNeverLost) {
  Host* h = host_create("review-sb");
  {
    HostScope s(h);
    int efd = ustack::eventfd(0, EFD_NONBLOCK);
    int ep = ustack::epoll_create1(0);
    ASSERT_GE(efd, 0);
    ASSERT_GE(ep, 0);
    struct epoll_event ev = {EPOLLIN | EPOLLONESHOT, {.u64 = 7}};
    ASSERT_EQ(ustack::epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
    struct epoll_event out[2];
    eventfd_t v;
    ASSERT_EQ(ustack::eventfd_write(efd, 1), 0);
    ASSERT_EQ(ustack::epoll_wait(ep, out, 2, 0), 1);  // fired: disarmed now
    ASSERT_EQ(ustack::eventfd_read(efd, &v), 0);

    // Calibrate how long each call takes (TSC cycles), to line up their ends.
    auto cycles = [](auto&& fn) {
      uint64_t best = ~uint64_t(0);
      for (int i = 0; i < 2000; ++i) {
        uint64_t t0 = __rdtsc();
        fn();
        uint64_t t = __rdtsc() - t0;
        if (t < best) best = t;
      }
      return best;
    };
    struct epoll_event mod = {EPOLLIN | EPOLLONESHOT, {.u64 = 7}};
    const uint64_t dm = cycles([&] { ustack::epoll_ctl(ep, EPOLL_CTL_MOD, efd, &mod); });
    const uint64_t dw = cycles([&] {
      ustack::eventfd_write(efd, 1);
      ustack::epoll_wait(ep, out, 2, 0);
      ustack::eventfd_read(efd, &v);
    });
    const uint64_t dw1 = cycles([&] { ustack::eventfd_write(efd, 0); });
    ustack::epoll_wait(ep, out, 2, 0);  // leave it disarmed, count 0
    ustack::eventfd_read(efd, &v);
    (void)dw;
    const int64_t span = 3 * int64_t(dm + dw1);

    std::atomic<long> go{-1}, wdone{-1};
    std::atomic<uint64_t> wstart{0};
    std::atomic<bool> quit{false};
    std::thread writer([&] {
      HostScope hs(h);
      for (long i = 0;; ++i) {
        while (go.load(std::memory_order_acquire) != i) {
          if (quit.load(std::memory_order_relaxed)) return;
        }
        const uint64_t at = wstart.load(std::memory_order_relaxed);
        while (__rdtsc() < at) {
        }
        ustack::eventfd_write(efd, 1);
        wdone.store(i, std::memory_order_release);
      }
    });
    std::mt19937_64 rng(12345);
    long lost = 0, iters = 0;
    const auto end = Clock::now() + 3s;
    for (long i = 0; Clock::now() < end && lost == 0; ++i, ++iters) {
      // Both ends land near `base`; the writer's offset sweeps [-span, span].
      const uint64_t base = __rdtsc() + 20000;
      const int64_t jitter = int64_t(rng() % uint64_t(2 * span + 1)) - span;
      wstart.store(uint64_t(int64_t(base) - int64_t(dw1) + jitter), std::memory_order_relaxed);
      go.store(i, std::memory_order_release);
      const uint64_t mstart = base - dm;
      while (__rdtsc() < mstart) {
      }
      ustack::epoll_ctl(ep, EPOLL_CTL_MOD, efd, &mod);
      while (wdone.load(std::memory_order_acquire) != i) {
      }
      const int n = ustack::epoll_wait(ep, out, 2, 0);
      const bool readable = ustack::eventfd_read(efd, &v) == 0;  // resets the count
      if (n == 0 && readable) ++lost;
    }
    quit = true;
    writer.join();
    std::printf("[ review ] MOD %llu cycles, write %llu cycles, %ld iterations, %ld lost\n",
                (unsigned long long)dm, (unsigned long long)dw1, iters, lost);
    EXPECT_EQ(lost, 0) << "re-armed ONESHOT item with a readable eventfd was not reported";
  }
  host_put(h);
}
#endif  // __x86_64__

}  // namespace
}  // namespace ustack
