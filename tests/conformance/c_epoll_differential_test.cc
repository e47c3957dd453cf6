// Group C of spec/linux-semantics.md (epoll), checked differentially: one seeded random sequence
// of non-blocking operations on eventfds, pipes and (possibly nested) epoll fds runs on the host
// kernel and on ustack, and after every step the two must agree exactly: return value, errno,
// every epoll_wait event (mask and data, in order), every poll revents, every byte read.
//
// The world is kSlots slots; each holds at most one fd (the same kind of object on both sides).
// Ops are generated from the slot kinds only, so both sides see the same sequence while they
// agree, and a failure replays exactly from its seed.
//
// fd numbers: each side's fd table is first normalised (holes below the highest open fd are
// filled with placeholders), so from then on both tables hand out numbers the same way, as
// offsets from a per-side base. Returned fd numbers are compared as those offsets ("r3"). This
// keeps the epoll key (file, fd number) (C21–C24) identical on both sides, and lets ops target
// closed numbers (EBADF, POLLNVAL, C23's stale entries).
//
// Reading a report: "s3(ep7@r4)" is slot 3, holding open file description #7 (an epoll) at fd
// base+4; dups share the file number. Events print as "s3@42:IN|OUT": the data registered for
// slot 3 by the ADD/MOD at step 42. "#r9" is a closed fd number, base+9. A failing sequence is
// also minimised (greedy delta debugging, up to 10 s in all): ops are dropped while the same op
// still ends with the same two different results, and the short sequence is printed.
//
// Nothing here blocks: every eventfd and pipe is O_NONBLOCK, every wait has timeout 0. With one
// thread the kernel's behaviour is then deterministic (checked by LinuxIsDeterministic). Not
// exercised: EPOLLWAKEUP (as root it is kept and creates a wakeup source; C12), blocking and
// threads (C50–C56, covered by c_epoll_wait_test), pipe O_DIRECT. A non-root run could see
// pipes shrink to 2 pages past fs.pipe-user-pages-soft (16384 pages per user, all processes).
//
// Environment:
//   USTACK_DIFF_STEPS=N        steps per seed (default 10000; 2500 in a TSan build)
//   USTACK_DIFF_SEEDS=K        seeds 1..K (default 32); or "A-B" (seeds A..B); or "A,B,C"
//   USTACK_DIFF_TRACE=file     append every step (op => the reference's result) to file
//   USTACK_DIFF_MINIMIZE=0     do not minimise a failing sequence
#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "conformance/api.hpp"

// TSan makes a step ~25x slower (ASan ~4x, which still fits): fewer steps under TSan.
#if defined(__SANITIZE_THREAD__)
#define USTACK_DIFF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define USTACK_DIFF_TSAN 1
#endif
#endif

namespace {

using conformance::Api;

constexpr int kSlots = 12;
constexpr int kRelWindow = 2 * kSlots;  // dup2 into an empty slot picks a free offset below this
constexpr int kMaxEpolls = 3;     // new epolls only while fewer epoll files than this are open
constexpr size_t kMaxIo = 70000;  // > the default pipe capacity (65536)
constexpr int kMaxEvents = 8;
constexpr size_t kHistory = 20;

#ifdef USTACK_DIFF_TSAN
constexpr long kDefaultSteps = 2500;
#else
constexpr long kDefaultSteps = 10000;
#endif
constexpr int kDefaultSeeds = 32;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (splitmix64: the same stream everywhere, unlike <random>'s
// distributions).

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) { s = next(); }  // seeds 1, 2, ... far apart
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
  long range(long lo, long hi) { return lo + long(below(uint64_t(hi - lo + 1))); }  // [lo, hi]
  bool pct(int p) { return below(100) < uint64_t(p); }
};

// ---------------------------------------------------------------------------------------------
// Formatting.

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

std::string errname(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : fmt("errno%d", e);
}

// epoll and poll share the low bit values; 0x20 is POLLNVAL (no EPOLL counterpart).
std::string mask_str(uint32_t m) {
  static const std::pair<uint32_t, const char*> kNames[] = {
      {EPOLLIN, "IN"},          {EPOLLPRI, "PRI"},       {EPOLLOUT, "OUT"},
      {EPOLLERR, "ERR"},        {EPOLLHUP, "HUP"},       {0x20, "NVAL"},
      {EPOLLRDNORM, "RDNORM"},  {EPOLLRDBAND, "RDBAND"}, {EPOLLWRNORM, "WRNORM"},
      {EPOLLWRBAND, "WRBAND"},  {EPOLLMSG, "MSG"},       {EPOLLRDHUP, "RDHUP"},
      {EPOLLEXCLUSIVE, "EXCL"}, {EPOLLWAKEUP, "WAKEUP"}, {EPOLLONESHOT, "ONESHOT"},
      {EPOLLET, "ET"},
  };
  if (m == 0) return "0";
  std::string s;
  for (auto [bit, name] : kNames) {
    if (m & bit) {
      if (!s.empty()) s += '|';
      s += name;
      m &= ~bit;
    }
  }
  if (m) s += fmt("%s0x%x", s.empty() ? "" : "|", m);
  return s;
}

uint64_t fnv(const unsigned char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

// ---------------------------------------------------------------------------------------------
// Ops.

enum Kind : uint8_t { kEmpty, kEfd, kEfdSem, kPipeR, kPipeW, kEpoll };
const char* kind_name(Kind k) {
  switch (k) {
    case kEmpty:
      return "empty";
    case kEfd:
      return "efd";
    case kEfdSem:
      return "efdsem";
    case kPipeR:
      return "pipeR";
    case kPipeW:
      return "pipeW";
    case kEpoll:
      return "ep";
  }
  return "?";
}

// An fd operand: an occupied slot's fd, a closed number (base + rel), or -1.
struct Target {
  int slot = -1;
  int rel = -1;
};

enum class OpKind {
  kEventfd,
  kPipe,
  kEpollCreate,
  kClose,
  kDup,
  kDup2,
  kWrite,
  kRead,
  kCtl,
  kWait,
  kPoll
};

struct Op {
  OpKind kind;
  Target a, b;              // fd / epfd / dup source; ctl target / dup2 target
  int dst = -1, dst2 = -1;  // slots receiving new fds
  int flags = 0;            // eventfd/pipe2/epoll_create1 flags; epoll_create size if variant
  unsigned initval = 0;
  int variant = 0;  // epoll_create vs create1; epoll_wait/pwait/pwait2
  int ctl = 0;
  uint32_t events = 0;
  uint64_t data = 0;
  bool null_ptr = false;
  int maxevents = 0;
  size_t size = 0;
  uint64_t value = 0;      // eventfd value, or the seed of a pipe write's bytes
  bool efd_value = false;  // write: the buffer starts with `value`
  std::vector<std::pair<Target, short>> pfds;
};

// ---------------------------------------------------------------------------------------------
// A world: one side's slots.

class World {
 public:
  struct Slot {
    Kind kind = kEmpty;
    int fd = -1;
    int file = 0;  // which open file description: dup and dup2 copy it
  };

  explicit World(const Api* api) : api_(api) {
    // Normalise the fd table: fill every hole below the highest open fd, so that lowest-free
    // allocation hands out base, base+1, ... exactly as on the other side.
    struct rlimit rl = {};
    api_->getrlimit(RLIMIT_NOFILE, &rl);
    probe_ = int(rl.rlim_cur < 1024 ? rl.rlim_cur : 1024);
    const int probe = probe_;
    int max_open = -1;
    for (int fd = 0; fd < probe; ++fd)
      if (api_->fcntl(fd, F_GETFD) >= 0) max_open = fd;
    for (;;) {
      const int fd = api_->eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (fd < 0) {
        ADD_FAILURE() << api_->name << ": placeholder eventfd: " << errname(errno);
        base_ = 1 << 20;
        return;
      }
      if (fd > max_open) {
        api_->close(fd);
        base_ = fd;
        break;
      }
      placeholders_.push_back(fd);
    }
    ok_ = base_ + kRelWindow + kSlots + 16 < probe;
    if (!ok_) ADD_FAILURE() << api_->name << ": fd base " << base_ << " too close to the limit";
  }
  ~World() {
    // Every fd from base up is this world's: the slots', and any a replayed sequence leaked
    // (a minimised sequence may create into a slot that is still occupied).
    for (int fd = base_; fd < probe_; ++fd)
      if (api_->fcntl(fd, F_GETFD) >= 0) api_->close(fd);
    for (int fd : placeholders_) api_->close(fd);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  bool ok() const { return ok_; }
  // (epfd slot, target slot) of recent successful ADDs: generation aims MOD and DEL at them.
  const std::vector<std::pair<int, int>>& added() const { return added_; }
  const Api* api() const { return api_; }
  const Slot& slot(int i) const { return slots_[i]; }
  int rel_of(int i) const { return slots_[i].fd - base_; }

  int fd(const Target& t) const {
    if (t.slot >= 0) return slots_[t.slot].kind == kEmpty ? -1 : slots_[t.slot].fd;
    if (t.rel >= 0) return base_ + t.rel;
    return -1;
  }

  std::string exec(const Op& op);

  // Both sides in the same state (kinds and fd offsets)?
  bool same_model(const World& o) const {
    for (int i = 0; i < kSlots; ++i) {
      if (slots_[i].kind != o.slots_[i].kind) return false;
      if (slots_[i].kind != kEmpty && rel_of(i) != o.rel_of(i)) return false;
    }
    return true;
  }
  std::string model_str() const {
    std::string s;
    for (int i = 0; i < kSlots; ++i) {
      if (slots_[i].kind == kEmpty) continue;
      s += fmt("s%d=%s%d@r%d ", i, kind_name(slots_[i].kind), slots_[i].file, rel_of(i));
    }
    return s;
  }

 private:
  std::string ret(long r) const {
    if (r < 0) return "-1 " + errname(errno);
    return fmt("%ld", r);
  }
  std::string fd_ret(int r) const {
    if (r < 0) return "-1 " + errname(errno);
    return fmt("fd=r%d", r - base_);
  }

  const Api* api_;
  int base_ = 0;
  int probe_ = 0;
  int files_ = 0;  // file ids handed out
  std::vector<std::pair<int, int>> added_;
  bool ok_ = false;
  std::vector<int> placeholders_;
  std::array<Slot, kSlots> slots_;
};

std::string World::exec(const Op& op) {
  static thread_local std::vector<unsigned char> buf(kMaxIo + 16);
  errno = 0;
  switch (op.kind) {
    case OpKind::kEventfd: {
      const int fd = api_->eventfd(op.initval, op.flags);
      if (fd >= 0) slots_[op.dst] = {(op.flags & EFD_SEMAPHORE) ? kEfdSem : kEfd, fd, ++files_};
      return fd_ret(fd);
    }
    case OpKind::kPipe: {
      int p[2] = {-1, -1};
      const int r = api_->pipe2(p, op.flags);
      if (r != 0) return ret(r);
      slots_[op.dst] = {kPipeR, p[0], ++files_};
      slots_[op.dst2] = {kPipeW, p[1], ++files_};
      return fmt("fds=r%d,r%d", p[0] - base_, p[1] - base_);
    }
    case OpKind::kEpollCreate: {
      const int fd = op.variant ? api_->epoll_create(op.flags) : api_->epoll_create1(op.flags);
      if (fd >= 0) slots_[op.dst] = {kEpoll, fd, ++files_};
      return fd_ret(fd);
    }
    case OpKind::kClose: {
      const int r = api_->close(fd(op.a));
      if (op.a.slot >= 0) slots_[op.a.slot] = {};
      return ret(r);
    }
    case OpKind::kDup: {
      const int r = api_->dup(fd(op.a));
      if (r >= 0) slots_[op.dst] = {slots_[op.a.slot].kind, r, slots_[op.a.slot].file};
      return fd_ret(r);
    }
    case OpKind::kDup2: {
      const int to = fd(op.b);
      const int r = api_->dup2(fd(op.a), to);
      if (r >= 0 && op.a.slot >= 0) {
        const Slot from = slots_[op.a.slot];
        slots_[op.b.slot >= 0 ? op.b.slot : op.dst] = {from.kind, to, from.file};
      }
      return fd_ret(r);
    }
    case OpKind::kWrite: {
      if (op.efd_value) {
        memcpy(buf.data(), &op.value, sizeof op.value);
        for (size_t i = 8; i < op.size; ++i) buf[i] = 0;
      } else {
        for (size_t i = 0; i < op.size; ++i) buf[i] = (unsigned char)(op.value + i * 0x9d);
      }
      return ret(api_->write(fd(op.a), buf.data(), op.size));
    }
    case OpKind::kRead: {
      memset(buf.data(), 0xa5, op.size + 8);
      const ssize_t r = api_->read(fd(op.a), buf.data(), op.size);
      std::string s = ret(r);
      if (r == 8) {
        uint64_t v;
        memcpy(&v, buf.data(), 8);
        s += fmt(" val=%" PRIu64, v);
      } else if (r > 0) {
        s += fmt(" hash=%016" PRIx64, fnv(buf.data(), size_t(r)));
      }
      if (r >= 0 && buf[size_t(r)] != 0xa5) s += " (wrote past the count)";
      return s;
    }
    case OpKind::kCtl: {
      struct epoll_event ev = {};
      ev.events = op.events;
      ev.data.u64 = op.data;
      const int r = api_->epoll_ctl(fd(op.a), op.ctl, fd(op.b), op.null_ptr ? nullptr : &ev);
      if (r == 0 && op.ctl == EPOLL_CTL_ADD && op.a.slot >= 0 && op.b.slot >= 0) {
        added_.push_back({op.a.slot, op.b.slot});
        if (added_.size() > 32) added_.erase(added_.begin());
      } else if (r == 0 && op.ctl == EPOLL_CTL_DEL) {
        std::erase(added_, std::pair<int, int>{op.a.slot, op.b.slot});
      }
      return ret(r);
    }
    case OpKind::kWait: {
      struct epoll_event evs[kMaxEvents + 1];
      for (auto& e : evs) {
        e.events = 0xdeadbeef;
        e.data.u64 = 0xdeadbeefdeadbeefULL;
      }
      struct epoll_event* p = op.null_ptr ? nullptr : evs;
      int n;
      if (op.variant == 0) {
        n = api_->epoll_wait(fd(op.a), p, op.maxevents, 0);
      } else if (op.variant == 1) {
        n = api_->epoll_pwait(fd(op.a), p, op.maxevents, 0, nullptr);
      } else {
        const struct timespec ts = {0, 0};
        n = api_->epoll_pwait2(fd(op.a), p, op.maxevents, &ts, nullptr);
      }
      std::string s = ret(n);
      if (n > 0 && p) {
        s += " [";
        for (int i = 0; i < n && i < kMaxEvents; ++i) {
          const uint64_t d = evs[i].data.u64;
          const uint32_t m = evs[i].events;
          s += fmt("%ss%d@%" PRIu64 ":%s", i ? ", " : "", int(d & 0xff), d >> 8,
                   mask_str(m).c_str());
        }
        s += "]";
      }
      const int used = n > 0 ? n : 0;
      for (int i = used; i <= kMaxEvents; ++i) {
        if (evs[i].events != 0xdeadbeef || evs[i].data.u64 != 0xdeadbeefdeadbeefULL) {
          s += fmt(" (entry %d written past the count)", i);
          break;
        }
      }
      return s;
    }
    case OpKind::kPoll: {
      std::vector<struct pollfd> pfds;
      for (auto& [t, ev] : op.pfds) pfds.push_back({fd(t), ev, short(0x5a5a)});
      const int n = api_->poll(pfds.data(), pfds.size(), 0);
      std::string s = ret(n) + " [";
      for (size_t i = 0; i < pfds.size(); ++i)
        s += (i ? ", " : "") + mask_str(uint16_t(pfds[i].revents));
      return s + "]";
    }
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Generation: from the slot kinds only (identical on both sides while they agree).

class Gen {
 public:
  Gen(Rng& r, const World& w) : r_(r), w_(w) {}

  Op next(long step);

 private:
  std::vector<int> slots_where(bool (*pred)(Kind)) const {
    std::vector<int> v;
    for (int i = 0; i < kSlots; ++i)
      if (pred(w_.slot(i).kind)) v.push_back(i);
    return v;
  }
  std::vector<int> occupied() const {
    return slots_where([](Kind k) { return k != kEmpty; });
  }
  std::vector<int> empty() const {
    return slots_where([](Kind k) { return k == kEmpty; });
  }
  int epoll_files() const {
    std::vector<int> files;
    for (int i = 0; i < kSlots; ++i)
      if (w_.slot(i).kind == kEpoll &&
          std::find(files.begin(), files.end(), w_.slot(i).file) == files.end())
        files.push_back(w_.slot(i).file);
    return int(files.size());
  }
  int pick(const std::vector<int>& v) { return v[r_.below(v.size())]; }

  // A free offset in [0, kRelWindow): no slot holds it.
  int free_rel() {
    for (;;) {
      const int rel = int(r_.below(kRelWindow));
      bool used = false;
      for (int i = 0; i < kSlots; ++i)
        if (w_.slot(i).kind != kEmpty && w_.rel_of(i) == rel) used = true;
      if (!used) return rel;
    }
  }
  // Mostly an occupied slot; sometimes a closed number or -1.
  Target any() {
    auto occ = occupied();
    if (!occ.empty() && r_.pct(88)) return {pick(occ), -1};
    if (r_.pct(75)) return {-1, free_rel()};
    return {};
  }
  // A slot of the kinds `pred` accepts with probability p%, else any().
  Target of(bool (*pred)(Kind), int p) {
    auto v = slots_where(pred);
    if (!v.empty() && r_.pct(p)) return {pick(v), -1};
    return any();
  }
  uint32_t ctl_events(int ctl) {
    uint32_t m = 0;
    if (r_.pct(5)) return 0;
    if (r_.pct(60)) m |= EPOLLIN;
    if (r_.pct(55)) m |= EPOLLOUT;
    if (r_.pct(12)) m |= EPOLLRDHUP;
    if (r_.pct(8)) m |= EPOLLPRI;
    if (r_.pct(8)) m |= EPOLLERR;
    if (r_.pct(8)) m |= EPOLLHUP;
    if (r_.pct(8)) m |= EPOLLRDNORM;
    if (r_.pct(8)) m |= EPOLLWRNORM;
    if (r_.pct(3)) m |= EPOLLMSG;  // unknown to every file: stored, never reported (C14)
    if (r_.pct(35)) m |= EPOLLET;
    if (r_.pct(18)) m |= EPOLLONESHOT;
    if (ctl == EPOLL_CTL_ADD && r_.pct(15)) {
      m |= EPOLLEXCLUSIVE;
      if (r_.pct(75)) m &= EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLET | EPOLLEXCLUSIVE;
    } else if (ctl == EPOLL_CTL_MOD && r_.pct(3)) {
      m |= EPOLLEXCLUSIVE;
    }
    return m;
  }

  size_t io_size() {
    const uint64_t c = r_.below(100);
    if (c < 2) return 0;
    if (c < 37) return size_t(r_.range(1, 64));
    if (c < 67) return size_t(r_.range(65, 4096));
    if (c < 72) return r_.pct(50) ? 4096 : 4097;
    if (c < 90) return size_t(r_.range(4097, 20000));
    return size_t(r_.range(20001, long(kMaxIo)));
  }

  Rng& r_;
  const World& w_;
};

bool is_efd(Kind k) {
  return k == kEfd || k == kEfdSem;
}
bool is_pipe_r(Kind k) {
  return k == kPipeR;
}
bool is_pipe_w(Kind k) {
  return k == kPipeW;
}
bool is_epoll(Kind k) {
  return k == kEpoll;
}
bool not_epoll(Kind k) {
  return k != kEpoll && k != kEmpty;
}

Op Gen::next(long step) {
  Op op;
  for (;;) {
    uint64_t c = r_.below(100);
    auto occ = occupied();
    auto emp = empty();
    // Without an epoll most ops are about nothing: make one soon.
    const bool need_epoll = epoll_files() == 0 && !emp.empty() && r_.pct(30);
    if (need_epoll) c = 0;
    if (c < 7) {  // create
      if (emp.empty()) continue;
      op.dst = pick(emp);
      const uint64_t what = need_epoll ? 9 : r_.below(10);
      if (what < 4) {
        op.kind = OpKind::kEventfd;
        op.flags = EFD_NONBLOCK;
        if (r_.pct(40)) op.flags |= EFD_SEMAPHORE;
        if (r_.pct(30)) op.flags |= EFD_CLOEXEC;
        if (r_.pct(3)) op.flags |= 2;  // not an eventfd flag: EINVAL (D1)
        const uint64_t iv = r_.below(10);
        op.initval = iv < 5 ? 0 : iv < 9 ? unsigned(r_.range(1, 5)) : unsigned(r_.next());
      } else if (what < 7) {
        if (emp.size() < 2) continue;
        op.kind = OpKind::kPipe;
        do op.dst2 = pick(emp);
        while (op.dst2 == op.dst);
        op.flags = O_NONBLOCK;
        if (r_.pct(30)) op.flags |= O_CLOEXEC;
        if (r_.pct(3)) op.flags |= O_APPEND;  // EINVAL
      } else {
        if (epoll_files() >= kMaxEpolls) continue;
        op.kind = OpKind::kEpollCreate;
        if (r_.pct(10)) {
          op.variant = 1;
          op.flags = r_.pct(30) ? 0 : int(r_.range(1, 100));  // size 0: EINVAL (C1)
        } else {
          op.flags = r_.pct(30) ? EPOLL_CLOEXEC : 0;
          if (r_.pct(3)) op.flags |= 1;  // EINVAL (C2)
        }
      }
      return op;
    }
    if (c < 12) {  // close
      op.kind = OpKind::kClose;
      if (occ.empty() || r_.pct(5)) {
        op.a = {-1, r_.pct(80) ? free_rel() : -1};
      } else {
        op.a = {pick(occ), -1};
      }
      return op;
    }
    if (c < 15) {  // dup into an empty slot
      if (occ.empty() || emp.empty()) continue;
      op.kind = OpKind::kDup;
      op.a = {pick(occ), -1};
      op.dst = pick(emp);
      return op;
    }
    if (c < 18) {  // dup2 onto another slot's number, or a free number for an empty slot
      if (occ.empty()) continue;
      op.kind = OpKind::kDup2;
      op.a = r_.pct(95) ? Target{pick(occ), -1} : any();
      if (r_.pct(10)) {
        op.b = op.a;  // dup2(fd, fd)
      } else if (!emp.empty() && r_.pct(40)) {
        op.dst = pick(emp);
        op.b = {-1, free_rel()};
      } else {
        op.b = {pick(occ), -1};
      }
      return op;
    }
    if (c < 29) {  // eventfd-style write
      op.kind = OpKind::kWrite;
      op.a = of(is_efd, 85);
      op.efd_value = true;
      const uint64_t v = r_.below(100);
      if (v < 35)
        op.value = r_.below(4);
      else if (v < 65)
        op.value = r_.range(1, 1000);
      else if (v < 80)
        op.value = r_.next() & 0xffffffff;
      else if (v < 88)
        op.value = 0xfffffffffffffffeULL - r_.below(4);  // D8 boundary
      else if (v < 92)
        op.value = ULLONG_MAX;  // EINVAL (D5)
      else
        op.value = (1ULL << 63) + r_.below(1000);
      const uint64_t s = r_.below(100);
      op.size = s < 90 ? 8 : s < 94 ? 4 : s < 97 ? 16 : 7;  // D4: != 8 is EINVAL on 6.9+
      return op;
    }
    if (c < 38) {  // eventfd-style read
      op.kind = OpKind::kRead;
      op.a = of(is_efd, 85);
      const uint64_t s = r_.below(100);
      op.size = s < 88 ? 8 : s < 92 ? 4 : s < 96 ? 16 : 0;  // D3
      return op;
    }
    if (c < 46) {  // pipe write
      op.kind = OpKind::kWrite;
      op.a = of(is_pipe_w, 85);
      op.size = io_size();
      op.value = r_.next();
      return op;
    }
    if (c < 54) {  // pipe read
      op.kind = OpKind::kRead;
      op.a = of(is_pipe_r, 85);
      op.size = io_size();
      return op;
    }
    if (c < 76) {  // epoll_ctl
      op.kind = OpKind::kCtl;
      const uint64_t o = r_.below(100);
      op.ctl = o < 42   ? EPOLL_CTL_ADD
               : o < 75 ? EPOLL_CTL_MOD
               : o < 97 ? EPOLL_CTL_DEL
                        : (r_.pct(50) ? 0 : 4);
      std::vector<std::pair<int, int>> added;  // still an epoll, and still something
      for (auto [ep, target] : w_.added())
        if (w_.slot(ep).kind == kEpoll && w_.slot(target).kind != kEmpty)
          added.push_back({ep, target});
      if (op.ctl != EPOLL_CTL_ADD && !added.empty() && r_.pct(60)) {
        // Most MOD/DEL on something ADDed (the slots may since have been dup2'ed over...).
        const auto [ep, target] = added[r_.below(added.size())];
        op.a = {ep, -1};
        op.b = {target, -1};
      } else {
        op.a = of(is_epoll, 92);
        op.b = r_.pct(4) ? op.a : r_.pct(15) ? of(is_epoll, 100) : of(not_epoll, 90);
      }
      op.events = ctl_events(op.ctl);
      op.data = (uint64_t(step) << 8) | uint64_t(op.b.slot >= 0 ? op.b.slot : 0xff);
      op.null_ptr = r_.pct(2);  // EFAULT for ADD/MOD (C5), fine for DEL (C6)
      return op;
    }
    if (c < 93) {  // epoll_wait, timeout 0
      op.kind = OpKind::kWait;
      op.a = of(is_epoll, 92);
      const uint64_t m = r_.below(100);
      op.maxevents = m < 3 ? int(r_.range(-1, 0)) : m < 40 ? 1 : int(r_.range(2, kMaxEvents));
      op.variant = r_.pct(70) ? 0 : r_.pct(50) ? 1 : 2;
      op.null_ptr = r_.pct(2);  // C42: 0 if nothing is ready, else EFAULT
      return op;
    }
    // poll over a few slots, timeout 0
    op.kind = OpKind::kPoll;
    const int n = int(r_.range(1, 6));
    for (int i = 0; i < n; ++i) {
      Target t = any();
      short ev = 0;
      if (!r_.pct(8)) {
        static const short kBits[] = {POLLIN,     POLLOUT,    POLLPRI,    POLLRDNORM,
                                      POLLWRNORM, POLLRDBAND, POLLWRBAND, POLLRDHUP};
        for (short b : kBits)
          if (r_.pct(35)) ev |= b;
      }
      op.pfds.push_back({t, ev});
    }
    return op;
  }
}

// ---------------------------------------------------------------------------------------------
// Descriptions, from the world the op is about to run on.

std::string tdesc(const World& w, const Target& t) {
  if (t.slot >= 0) {
    if (w.slot(t.slot).kind == kEmpty) return fmt("s%d(empty)", t.slot);
    return fmt("s%d(%s%d@r%d)", t.slot, kind_name(w.slot(t.slot).kind), w.slot(t.slot).file,
               w.rel_of(t.slot));
  }
  if (t.rel >= 0) return fmt("#r%d", t.rel);
  return "-1";
}

std::string describe(const Op& op, const World& w) {
  const std::string a = tdesc(w, op.a);
  switch (op.kind) {
    case OpKind::kEventfd:
      return fmt("eventfd(%u, 0x%x) -> s%d", op.initval, op.flags, op.dst);
    case OpKind::kPipe:
      return fmt("pipe2(0x%x) -> s%d,s%d", op.flags, op.dst, op.dst2);
    case OpKind::kEpollCreate:
      return op.variant ? fmt("epoll_create(%d) -> s%d", op.flags, op.dst)
                        : fmt("epoll_create1(0x%x) -> s%d", op.flags, op.dst);
    case OpKind::kClose:
      return "close(" + a + ")";
    case OpKind::kDup:
      return fmt("dup(%s) -> s%d", a.c_str(), op.dst);
    case OpKind::kDup2: {
      std::string s = fmt("dup2(%s, %s)", a.c_str(), tdesc(w, op.b).c_str());
      if (op.dst >= 0) s += fmt(" -> s%d", op.dst);
      return s;
    }
    case OpKind::kWrite:
      if (op.efd_value) return fmt("write(%s, u64 %" PRIu64 ", %zu)", a.c_str(), op.value, op.size);
      return fmt("write(%s, %zu bytes)", a.c_str(), op.size);
    case OpKind::kRead:
      return fmt("read(%s, %zu)", a.c_str(), op.size);
    case OpKind::kCtl: {
      const char* name = op.ctl == EPOLL_CTL_ADD   ? "ADD"
                         : op.ctl == EPOLL_CTL_MOD ? "MOD"
                         : op.ctl == EPOLL_CTL_DEL ? "DEL"
                                                   : nullptr;
      std::string s = fmt("epoll_ctl(%s, %s, %s, ", a.c_str(),
                          name ? name : fmt("op%d", op.ctl).c_str(), tdesc(w, op.b).c_str());
      if (op.null_ptr) return s + "NULL)";
      return s + fmt("{%s, s%d@%" PRIu64 "})", mask_str(op.events).c_str(), int(op.data & 0xff),
                     op.data >> 8);
    }
    case OpKind::kWait: {
      static const char* const kNames[] = {"epoll_wait", "epoll_pwait", "epoll_pwait2"};
      return fmt("%s(%s, %s, %d, 0)", kNames[op.variant], a.c_str(), op.null_ptr ? "NULL" : "buf",
                 op.maxevents);
    }
    case OpKind::kPoll: {
      std::string s = "poll([";
      for (size_t i = 0; i < op.pfds.size(); ++i)
        s += fmt("%s%s:%s", i ? ", " : "", tdesc(w, op.pfds[i].first).c_str(),
                 mask_str(uint16_t(op.pfds[i].second)).c_str());
      return s + "], 0)";
    }
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Drivers.

struct Config {
  std::vector<uint64_t> seeds;
  long steps;
};

Config config(int default_seeds, long default_steps) {
  Config c{{}, default_steps};
  if (const char* s = getenv("USTACK_DIFF_STEPS"); s && *s) c.steps = strtol(s, nullptr, 10);
  const char* s = getenv("USTACK_DIFF_SEEDS");
  if (s && *s) {
    std::string v = s;
    if (v.find(',') != std::string::npos) {
      for (const char* p = s; *p;) {
        char* end;
        c.seeds.push_back(strtoull(p, &end, 10));
        p = *end ? end + 1 : end;
      }
    } else if (auto dash = v.find('-'); dash != std::string::npos) {
      const uint64_t lo = strtoull(v.c_str(), nullptr, 10);
      const uint64_t hi = strtoull(v.c_str() + dash + 1, nullptr, 10);
      for (uint64_t x = lo; x <= hi; ++x) c.seeds.push_back(x);
    } else {
      default_seeds = int(strtol(s, nullptr, 10));
    }
  }
  if (c.seeds.empty())
    for (int i = 1; i <= default_seeds; ++i) c.seeds.push_back(uint64_t(i));
  return c;
}

// SIGPIPE ignored for the test (a pipe write with no reader is EPIPE plus SIGPIPE).
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() {
    struct sigaction sa = {};
    sa.sa_handler = SIG_IGN;
    conformance::kLinuxApi.sigaction(SIGPIPE, &sa, &old_linux_);
    conformance::kUstackApi.sigaction(SIGPIPE, &sa, &old_ustack_);
  }
  ~IgnoreSigpipe() {
    conformance::kUstackApi.sigaction(SIGPIPE, &old_ustack_, nullptr);
    conformance::kLinuxApi.sigaction(SIGPIPE, &old_linux_, nullptr);
  }

 private:
  struct sigaction old_linux_ = {}, old_ustack_ = {};
};

struct Step {
  std::string desc, result;
};

// Two worlds run op by op.
class Lockstep {
 public:
  Lockstep(const Api* ref, const Api* test) : a(ref), b(test) {}
  bool ok() const { return a.ok() && b.ok(); }
  // Runs op on both; false if they differ.
  bool step(const Op& op) {
    desc = describe(op, a);
    ra = a.exec(op);
    rb = b.exec(op);
    if (ra != rb) return false;
    if (!a.same_model(b)) {
      ra += "  [slots: " + a.model_str() + "]";
      rb += "  [slots: " + b.model_str() + "]";
      return false;
    }
    return true;
  }
  World a, b;
  std::string desc, ra, rb;
};

// Replays ops; the index of the first difference, or -1.
long replay(const std::vector<Op>& ops, const Api* ref, const Api* test,
            std::vector<Step>* trace = nullptr, std::string* ra = nullptr,
            std::string* rb = nullptr) {
  Lockstep ls(ref, test);
  if (!ls.ok()) return -1;
  for (size_t i = 0; i < ops.size(); ++i) {
    const bool same = ls.step(ops[i]);
    if (trace) trace->push_back({ls.desc, ls.ra});
    if (!same) {
      if (ra) *ra = ls.ra;
      if (rb) *rb = ls.rb;
      return long(i);
    }
  }
  return -1;
}

// Greedy delta debugging: drops chunks of ops (halving the chunk size) while the replay still
// differs first at the last op, with the same two results there; bounded by `budget`.
std::vector<Op> minimize(std::vector<Op> ops, const Api* ref, const Api* test,
                         const std::string& ra, const std::string& rb,
                         std::chrono::milliseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t chunk = std::max<size_t>(ops.size() / 2, 1);; chunk /= 2) {
      for (size_t i = 0; i + 1 < ops.size();) {
        if (std::chrono::steady_clock::now() > deadline) return ops;
        std::vector<Op> cand;
        cand.reserve(ops.size());
        const size_t end = std::min(i + chunk, ops.size() - 1);
        cand.insert(cand.end(), ops.begin(), ops.begin() + long(i));
        cand.insert(cand.end(), ops.begin() + long(end), ops.end());
        std::string ca, cb;
        const long at = replay(cand, ref, test, nullptr, &ca, &cb);
        if (at == long(cand.size()) - 1 && ca == ra && cb == rb) {
          ops = std::move(cand);
          progress = true;
        } else {
          i += chunk;
        }
      }
      if (chunk == 1) break;
    }
  }
  return ops;
}

constexpr long kMaxKeptOps = 200000;  // longer runs are not minimised (memory)

// Runs `steps` ops on a (the reference) and b in lockstep; the first difference fails the test.
bool run_lockstep(uint64_t seed, long steps, const Api* ref, const Api* test,
                  std::chrono::milliseconds minimize_budget) {
  std::vector<Op> ops;
  std::string first_ra, first_rb;
  std::deque<Step> hist;
  long at = -1;
  std::string report;
  {
    // Opened before the worlds: its fd must not land in the reference's fd window.
    FILE* trace = nullptr;
    if (const char* t = getenv("USTACK_DIFF_TRACE"); t && *t) trace = fopen(t, "a");
    Lockstep ls(ref, test);
    if (!ls.ok()) {
      if (trace) fclose(trace);
      return false;
    }
    Rng rng(seed);
    for (long i = 0; i < steps; ++i) {
      Op op = Gen(rng, ls.a).next(i);
      const bool same = ls.step(op);
      if (trace)
        fprintf(trace, "%" PRIu64 " #%ld %s => %s\n", seed, i, ls.desc.c_str(), ls.ra.c_str());
      if (steps <= kMaxKeptOps) ops.push_back(std::move(op));
      if (!same) {
        at = i;
        first_ra = ls.ra;
        first_rb = ls.rb;
        report = fmt("seed %" PRIu64 ", step %ld of %ld: results differ\n", seed, i, steps);
        report += "  op:     " + ls.desc + "\n";
        report += fmt("  %-7s ", (std::string(ref->name) + ":").c_str()) + ls.ra + "\n";
        report += fmt("  %-7s ", (std::string(test->name) + ":").c_str()) + ls.rb + "\n";
        report += fmt("  last %zu ops before it (results agreed):\n", hist.size());
        for (size_t k = 0; k < hist.size(); ++k)
          report += fmt("    #%ld %s => %s\n", i - long(hist.size() - k), hist[k].desc.c_str(),
                        hist[k].result.c_str());
        report += fmt("  replay: USTACK_DIFF_SEEDS=%" PRIu64 "-%" PRIu64 " USTACK_DIFF_STEPS=%ld\n",
                      seed, seed, i + 1);
        break;
      }
      hist.push_back({ls.desc, ls.ra});
      if (hist.size() > kHistory) hist.pop_front();
    }
    if (trace) fclose(trace);
  }
  if (at < 0) return true;
  const char* m = getenv("USTACK_DIFF_MINIMIZE");
  if (steps <= kMaxKeptOps && minimize_budget.count() > 0 && !(m && *m == '0')) {
    std::vector<Op> small =
        minimize(std::move(ops), ref, test, first_ra, first_rb, minimize_budget);
    std::vector<Step> trace;
    std::string ra, rb;
    const long k = replay(small, ref, test, &trace, &ra, &rb);
    if (k >= 0) {
      report += fmt("  minimised to %ld ops (%s's results; the last differs):\n", k + 1, ref->name);
      for (long j = 0; j < k; ++j)
        report +=
            fmt("    %s => %s\n", trace[size_t(j)].desc.c_str(), trace[size_t(j)].result.c_str());
      report += "    " + trace[size_t(k)].desc + "\n";
      report += fmt("      %-7s ", (std::string(ref->name) + ":").c_str()) + ra + "\n";
      report += fmt("      %-7s ", (std::string(test->name) + ":").c_str()) + rb + "\n";
    }
  }
  ADD_FAILURE() << report;
  return false;
}

// The same sequence twice on one table, one run after the other (two worlds cannot share one
// fd table at once): the second run is compared with the first's trace.
bool run_twice(uint64_t seed, long steps, const Api* api) {
  std::vector<Step> trace;
  trace.reserve(size_t(steps));
  {
    World a(api);
    if (!a.ok()) return false;
    Rng rng(seed);
    for (long i = 0; i < steps; ++i) {
      Op op = Gen(rng, a).next(i);
      std::string d = describe(op, a);
      std::string r = a.exec(op);
      trace.push_back({std::move(d), std::move(r)});
    }
  }
  World b(api);
  if (!b.ok()) return false;
  Rng rng(seed);
  for (long i = 0; i < steps; ++i) {
    Op op = Gen(rng, b).next(i);
    const std::string d = describe(op, b);
    const std::string r = b.exec(op);
    if (d != trace[size_t(i)].desc || r != trace[size_t(i)].result) {
      const long first = i >= long(kHistory) ? i - long(kHistory) : 0;
      std::string s = fmt("seed %" PRIu64 ", step %ld: the second run differs\n", seed, i);
      s += "  run 1: " + trace[size_t(i)].desc + " => " + trace[size_t(i)].result + "\n";
      s += "  run 2: " + d + " => " + r + "\n  before:\n";
      for (long k = first; k < i; ++k)
        s += fmt("    #%ld %s => %s\n", k, trace[size_t(k)].desc.c_str(),
                 trace[size_t(k)].result.c_str());
      ADD_FAILURE() << s;
      return false;
    }
  }
  return true;
}

// The host kernel against itself: the op sequence is deterministic, so a difference between
// the two implementations is never the kernel's noise.
TEST(EpollDifferential, LinuxIsDeterministic) {
  IgnoreSigpipe ignore;
  const Config c = config(4, kDefaultSteps / 2);
  ASSERT_FALSE(c.seeds.empty());
  int failed = 0;
  for (uint64_t seed : c.seeds) {
    if (!run_twice(seed, c.steps, &conformance::kLinuxApi)) {
      ++failed;
      break;
    }
  }
  EXPECT_EQ(failed, 0) << "the op sequence is not deterministic on Linux (see above)";
}

TEST(EpollDifferential, UstackMatchesLinux) {
  IgnoreSigpipe ignore;
  const Config c = config(kDefaultSeeds, kDefaultSteps);
  // Every seed runs; each failing one reports its first difference, minimised (the first few
  // only: the minimiser replays the sequence many times).
  int failed = 0;
  auto budget = std::chrono::milliseconds(10000);  // for minimising, over all failing seeds
  for (uint64_t seed : c.seeds) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!run_lockstep(seed, c.steps, &conformance::kLinuxApi, &conformance::kUstackApi, budget)) {
      ++failed;
      budget -= std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - t0);
      if (budget.count() < 0) budget = std::chrono::milliseconds(0);
    }
    if (failed >= 10) break;
  }
  ASSERT_FALSE(c.seeds.empty());
  EXPECT_EQ(failed, 0) << "seeds whose run differs from Linux's (each reported above)";
}

}  // namespace
