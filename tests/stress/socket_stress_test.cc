// Stress for AF_UNIX sockets (net/unix/af_unix.c): stream integrity under epoll, datagram and
// seqpacket boundaries, a contended listener, wake-ups of blocked calls by shutdown and peer
// close, and SCM_RIGHTS churn. Each test is written once against a call table and runs on the
// host kernel (glibc) and on ustack, like the conformance tests; the ustack run skips while its
// socketpair fails EAFNOSUPPORT. Load is time-bounded, every wait is bounded, and the tests run
// under TSan and ASan too.
#include <ustack/host.hpp>
#include <ustack/ustack.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Load per test. A test's wall time is this plus its drain (milliseconds unless something hangs).
constexpr auto kLoad = milliseconds(600);
// After the load, how long the drain may take before the test gives up and fails. Only a lost
// wake-up or a lost byte gets near it.
constexpr auto kDrainMax = std::chrono::seconds(5);
// SO_RCVTIMEO/SO_SNDTIMEO on sockets whose blocking calls only wait for a busy peer: a safety net
// that turns a hang into a failure. A call that reaches it is counted as a failure.
constexpr int kSafetyTimeoutMs = 3000;

// ---------------------------------------------------------------------------------------------
// The call table: glibc on the host kernel, or ustack on the test's own host.

struct Api {
  const char* name;
  bool is_linux;
  int (*socket)(int, int, int);
  int (*socketpair)(int, int, int, int*);
  int (*bind)(int, const sockaddr*, socklen_t);
  int (*listen)(int, int);
  int (*accept4)(int, sockaddr*, socklen_t*, int);
  int (*connect)(int, const sockaddr*, socklen_t);
  ssize_t (*send)(int, const void*, size_t, int);
  ssize_t (*recv)(int, void*, size_t, int);
  ssize_t (*sendmsg)(int, const msghdr*, int);
  ssize_t (*recvmsg)(int, msghdr*, int);
  int (*shutdown)(int, int);
  int (*getpeername)(int, sockaddr*, socklen_t*);
  int (*setsockopt)(int, int, int, const void*, socklen_t);
  int (*close)(int);
  int (*dup2)(int, int);
  int (*fcntl)(int, int, ...);
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*write)(int, const void*, size_t);
  int (*poll)(pollfd*, nfds_t, int);
  int (*epoll_create1)(int);
  int (*epoll_ctl)(int, int, int, epoll_event*);
  int (*epoll_wait)(int, epoll_event*, int, int);
  int (*eventfd)(unsigned, int);
  int (*eventfd_read)(int, eventfd_t*);
  int (*eventfd_write)(int, eventfd_t);
  int (*pipe2)(int*, int);
};

const Api kLinuxApi = {
    .name = "linux",
    .is_linux = true,
    .socket = ::socket,
    .socketpair = ::socketpair,
    .bind = ::bind,
    .listen = ::listen,
    .accept4 = ::accept4,
    .connect = ::connect,
    .send = ::send,
    .recv = ::recv,
    .sendmsg = ::sendmsg,
    .recvmsg = ::recvmsg,
    .shutdown = ::shutdown,
    .getpeername = ::getpeername,
    .setsockopt = ::setsockopt,
    .close = ::close,
    .dup2 = ::dup2,
    .fcntl = ::fcntl,
    .read = ::read,
    .write = ::write,
    .poll = ::poll,
    .epoll_create1 = ::epoll_create1,
    .epoll_ctl = ::epoll_ctl,
    .epoll_wait = ::epoll_wait,
    .eventfd = ::eventfd,
    .eventfd_read = ::eventfd_read,
    .eventfd_write = ::eventfd_write,
    .pipe2 = ::pipe2,
};

const Api kUstackApi = {
    .name = "ustack",
    .is_linux = false,
    .socket = ustack::socket,
    .socketpair = ustack::socketpair,
    .bind = ustack::bind,
    .listen = ustack::listen,
    .accept4 = ustack::accept4,
    .connect = ustack::connect,
    .send = ustack::send,
    .recv = ustack::recv,
    .sendmsg = ustack::sendmsg,
    .recvmsg = ustack::recvmsg,
    .shutdown = ustack::shutdown,
    .getpeername = ustack::getpeername,
    .setsockopt = ustack::setsockopt,
    .close = ustack::close,
    .dup2 = ustack::dup2,
    .fcntl = ustack::fcntl,
    .read = ustack::read,
    .write = ustack::write,
    .poll = ustack::poll,
    .epoll_create1 = ustack::epoll_create1,
    .epoll_ctl = ustack::epoll_ctl,
    .epoll_wait = ustack::epoll_wait,
    .eventfd = ustack::eventfd,
    .eventfd_read = ustack::eventfd_read,
    .eventfd_write = ustack::eventfd_write,
    .pipe2 = ustack::pipe2,
};

// One instance of a test: the table, and a variant (epoll mode, socket type) where it has one.
struct Case {
  const Api* api;
  int arg;
  std::string name;
};

std::vector<Case> on_both(const std::vector<std::pair<int, const char*>>& variants) {
  std::vector<Case> out;
  for (const Api* api : {&kLinuxApi, &kUstackApi})
    for (const auto& [arg, label] : variants)
      out.push_back({api, arg, std::string(api->name) + (*label ? "_" : "") + label});
  return out;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

// ---------------------------------------------------------------------------------------------
// Helpers

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

// Failures seen by worker threads: all are counted, the first few are kept for the message.
class Failures {
 public:
  void add(const std::string& what) {
    if (n_.fetch_add(1) < kKept) {
      std::lock_guard<std::mutex> g(mu_);
      text_ += "  " + what + "\n";
    }
  }
  long count() const { return n_.load(); }
  std::string text() const {
    std::lock_guard<std::mutex> g(mu_);
    return text_;
  }

 private:
  static constexpr long kKept = 8;
  std::atomic<long> n_{0};
  mutable std::mutex mu_;
  std::string text_;  // guarded by mu_
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Little-endian byte order for a word (the stream's order), so whole words can be stored and
// compared with one 8-byte access: much cheaper than byte by byte under TSan.
uint64_t le64(uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) return v;
  return __builtin_bswap64(v);
}

// Word w of the deterministic byte stream named by `seed`; the stream's byte pos is byte pos%8
// (little-endian) of word pos/8.
uint64_t stream_word(uint64_t seed, uint64_t w) {
  return splitmix64(seed ^ splitmix64(w));
}

void fill_stream(uint64_t seed, uint64_t pos, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n;) {
    const uint64_t q = pos + i;
    const uint64_t word = stream_word(seed, q >> 3);
    if ((q & 7) == 0 && n - i >= 8) {
      const uint64_t v = le64(word);
      memcpy(out + i, &v, 8);
      i += 8;
      continue;
    }
    for (unsigned k = unsigned(q & 7); k < 8 && i < n; ++k, ++i) out[i] = uint8_t(word >> (8 * k));
  }
}

// Index of the first byte of `in` that differs from the stream at `pos`, or n.
size_t first_mismatch(uint64_t seed, uint64_t pos, const uint8_t* in, size_t n) {
  for (size_t i = 0; i < n;) {
    const uint64_t q = pos + i;
    const uint64_t word = stream_word(seed, q >> 3);
    if ((q & 7) == 0 && n - i >= 8) {
      uint64_t v;
      memcpy(&v, in + i, 8);
      if (le64(v) == word) {
        i += 8;
        continue;
      }
    }
    for (unsigned k = unsigned(q & 7); k < 8 && i < n; ++k, ++i)
      if (in[i] != uint8_t(word >> (8 * k))) return i;
  }
  return n;
}

// Fletcher-style running checksum: order-sensitive, so a reordering changes it.
struct RunningSum {
  uint64_t a = 0, b = 0;
  void add(const uint8_t* p, size_t n) {
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
      uint64_t v;
      memcpy(&v, p + i, 8);
      v = le64(v);
      for (int k = 0; k < 8; ++k, v >>= 8) {
        a += v & 0xff;
        b += a;
      }
    }
    for (; i < n; ++i) {
      a += p[i];
      b += a;
    }
  }
  bool operator==(const RunningSum&) const = default;
};

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// A size in [min, max], log-uniform-ish so that small and large sizes both occur often.
size_t random_size(std::mt19937_64& rng, size_t min, size_t max) {
  const size_t cap = std::max(min, std::min(max, size_t(1) << (rng() % 17)));
  return min + size_t(rng() % (cap - min + 1));
}

int set_timeout_ms(const Api* sys, int fd, int opt, int ms) {
  const timeval tv = {ms / 1000, (ms % 1000) * 1000};
  return sys->setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

// An abstract AF_UNIX name, unique in this process and across processes (it has the pid).
struct AbstractAddr {
  sockaddr_un sun{};
  socklen_t len = 0;
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&sun); }
};

AbstractAddr abstract_addr(const char* tag) {
  static std::atomic<int> counter{0};
  AbstractAddr a;
  a.sun.sun_family = AF_UNIX;
  const int n = snprintf(a.sun.sun_path + 1, sizeof a.sun.sun_path - 1, "ustack-stress-%d-%s-%d",
                         int(getpid()), tag, counter.fetch_add(1));
  a.len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + size_t(n));
  return a;
}

int64_t ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
}

// Makes the host under test current for the calling thread (nothing to do for Linux).
class OnHost {
 public:
  explicit OnHost(ustack::Host* host) {
    if (host != nullptr) scope_.emplace(host);
  }

 private:
  std::optional<ustack::HostScope> scope_;
};

// ---------------------------------------------------------------------------------------------
// The fixture: a fresh host per ustack test; skips while ustack has no AF_UNIX.

class SocketStress : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    sys = GetParam().api;
    if (!sys->is_linux) host_ = ustack::host_create("socket-stress");
    main_on_host_.emplace(host_);
    int sv[2];
    if (sys->socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
      const int err = errno;
      if (err == EAFNOSUPPORT)
        GTEST_SKIP() << sys->name
                     << ": socketpair(AF_UNIX, SOCK_STREAM) fails EAFNOSUPPORT, no AF_UNIX yet";
      FAIL() << "socketpair(AF_UNIX, SOCK_STREAM): " << strerror(err);
    }
    sys->close(sv[0]);
    sys->close(sv[1]);
    fds_at_start_ = lowest_free_fds();
  }

  void TearDown() override {
    main_on_host_.reset();
    if (host_ != nullptr) ustack::host_put(host_);
  }

  // The kFdProbe lowest free fd numbers: equal before and after a test iff the test left the
  // fd table as it found it (a leaked fd takes the lowest number free when it was made).
  std::vector<int> lowest_free_fds() {
    constexpr int kFdProbe = 128;
    std::vector<int> fds;
    for (int i = 0; i < kFdProbe; ++i) fds.push_back(sys->eventfd(0, EFD_CLOEXEC));
    for (int fd : fds)
      if (fd >= 0) sys->close(fd);
    return fds;
  }

  void expect_fd_table_as_at_start() {
    EXPECT_EQ(lowest_free_fds(), fds_at_start_) << "the fd table differs from the test's start";
  }

  const Api* sys = nullptr;
  ustack::Host* host_ = nullptr;  // null for Linux

 private:
  std::optional<OnHost> main_on_host_;
  std::vector<int> fds_at_start_;
};

// ---------------------------------------------------------------------------------------------
// 1. Stream integrity under epoll.
//
// 16 nonblocking stream socketpairs. 4 writers (each owns 4 pairs) send each pair's deterministic
// byte stream in chunks of 1..64 KiB, blocking on even pairs (O_NONBLOCK cleared on their end)
// and MSG_DONTWAIT + poll on odd ones, then shutdown(SHUT_WR). 3 readers, each with its own epoll
// fd (LT or ET) over the pairs it owns, check every byte against the stream at its position and
// keep a running checksum. Nothing may be lost, duplicated or reordered; every pair ends in EOF.
// After one chunk in 4 the writer waits (bounded) until the reader has consumed it all, so a lost
// wake-up shows as unread data rather than being hidden by the next chunk's wake-up.

class SocketStreamStress : public SocketStress {};

TEST_P(SocketStreamStress, EveryByteArrivesOnceAndInOrderThroughEpoll) {
  const uint32_t et = uint32_t(GetParam().arg);
  constexpr int kPairs = 16;
  constexpr int kWriters = 4;
  constexpr int kReaders = 3;
  constexpr size_t kChunkMax = 64 * 1024;
  constexpr int kQuietMaxMs = 2000;

  struct Pair {
    int wfd, rfd;
    bool blocking_writer;
  };
  std::vector<Pair> pairs(kPairs);
  for (int p = 0; p < kPairs; ++p) {
    int sv[2];
    ASSERT_EQ(sys->socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0)
        << strerror(errno);
    pairs[p] = {sv[0], sv[1], p % 2 == 0};
    if (pairs[p].blocking_writer) {
      ASSERT_EQ(sys->fcntl(sv[0], F_SETFL, 0), 0) << strerror(errno);
    }
    ASSERT_EQ(sys->fcntl(sv[0], F_GETFL) & O_NONBLOCK, pairs[p].blocking_writer ? 0 : O_NONBLOCK);
    ASSERT_EQ(sys->fcntl(sv[1], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    ASSERT_EQ(set_timeout_ms(sys, sv[0], SO_SNDTIMEO, kSafetyTimeoutMs), 0) << strerror(errno);
  }

  struct WriterSide {  // written by the pair's writer only; read after join
    uint64_t sent = 0;
    RunningSum sum;
  };
  struct ReaderSide {  // written by the pair's reader only; read after join
    uint64_t received = 0;
    RunningSum sum;
    bool eof = false;
  };
  std::vector<WriterSide> ws(kPairs);
  std::vector<ReaderSide> rs(kPairs);
  std::vector<std::atomic<uint64_t>> consumed(kPairs);  // rs[p].received, published
  Failures failures;
  std::atomic<long> reports{0}, quiet_points{0};
  const auto load_end = Clock::now() + kLoad;
  const auto hard_end = load_end + kDrainMax;

  // Sends all of buf, blocking or with MSG_DONTWAIT + poll(POLLOUT); false on any failure.
  auto send_all = [&](const Pair& pr, const uint8_t* buf, size_t len) {
    size_t off = 0;
    while (off < len) {
      const int flags = MSG_NOSIGNAL | (pr.blocking_writer ? 0 : MSG_DONTWAIT);
      const ssize_t n = sys->send(pr.wfd, buf + off, len - off, flags);
      if (n > 0) {
        off += size_t(n);
        continue;
      }
      const int err = errno;
      if (n < 0 && err == EINTR) continue;
      if (n < 0 && err == EAGAIN && !pr.blocking_writer && Clock::now() < hard_end) {
        pollfd pfd = {pr.wfd, POLLOUT, 0};
        if (sys->poll(&pfd, 1, 100) < 0) {
          failures.add(fmt("poll(POLLOUT): %s", strerror(errno)));
          return false;
        }
        continue;
      }
      failures.add(
          fmt("send on fd %d returned %zd: %s%s", pr.wfd, n, strerror(err),
              pr.blocking_writer && err == EAGAIN ? " (SO_SNDTIMEO: a lost wake-up)" : ""));
      return false;
    }
    return true;
  };

  auto writer = [&](int w) {
    OnHost on(host_);
    std::mt19937_64 rng(uint64_t(w) + 1);
    std::vector<uint8_t> buf(kChunkMax);
    bool ok = true;
    while (ok && Clock::now() < load_end) {
      for (int p = w; ok && p < kPairs; p += kWriters) {
        const size_t len = random_size(rng, 1, kChunkMax);
        fill_stream(uint64_t(p) + 1, ws[p].sent, buf.data(), len);
        ok = send_all(pairs[p], buf.data(), len);
        if (!ok) break;
        ws[p].sum.add(buf.data(), len);
        ws[p].sent += len;
        // A quiet point: wait until the reader has consumed everything. A wake-up lost for the
        // last chunk leaves it unread and fails here; anywhere else the next chunk's wake-up
        // would hide it (each queued skb wakes the reader again, even in ET mode).
        if (rng() % 4 != 0) continue;
        quiet_points++;
        const auto quiet_end = Clock::now() + std::chrono::milliseconds(kQuietMaxMs);
        while (consumed[p].load() != ws[p].sent && Clock::now() < quiet_end)
          std::this_thread::sleep_for(std::chrono::microseconds(20));
        if (consumed[p].load() != ws[p].sent) {
          const auto unread = (unsigned long long)(ws[p].sent - consumed[p].load());
          failures.add(fmt("pair %d: %llu bytes unread after %d ms (a lost wake-up)", p, unread,
                           kQuietMaxMs));
          ok = false;
        }
      }
    }
    for (int p = w; p < kPairs; p += kWriters)
      if (sys->shutdown(pairs[p].wfd, SHUT_WR) != 0)
        failures.add(fmt("shutdown(SHUT_WR): %s", strerror(errno)));
  };

  auto reader = [&](int r) {
    OnHost on(host_);
    std::mt19937_64 rng(uint64_t(r) + 100);
    const int ep = sys->epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
      failures.add(fmt("epoll_create1: %s", strerror(errno)));
      return;
    }
    int open = 0;
    for (int p = r; p < kPairs; p += kReaders) {
      epoll_event ev = {EPOLLIN | EPOLLRDHUP | et, {.u64 = uint64_t(p)}};
      if (sys->epoll_ctl(ep, EPOLL_CTL_ADD, pairs[p].rfd, &ev) != 0)
        failures.add(fmt("epoll_ctl(ADD): %s", strerror(errno)));
      else
        ++open;
    }
    std::vector<uint8_t> buf(kChunkMax);
    epoll_event evs[8];
    while (open > 0) {
      if (Clock::now() > hard_end) {
        failures.add(fmt("reader %d: %d pairs never reached EOF", r, open));
        break;
      }
      const int n = sys->epoll_wait(ep, evs, 8, 100);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        failures.add(fmt("epoll_wait: %s", strerror(errno)));
        break;
      }
      for (int k = 0; k < n; ++k) {
        reports++;
        const int p = int(evs[k].data.u64);
        ReaderSide& st = rs[p];
        // Only IN (data) and RDHUP (the writer's SHUT_WR) can be set: the reader never shuts
        // its own side, so there is no HUP, and nothing is left unread at a close, so no ERR.
        if (!(evs[k].events & EPOLLIN) || (evs[k].events & ~uint32_t(EPOLLIN | EPOLLRDHUP)))
          failures.add(fmt("pair %d reported events %#x", p, evs[k].events));
        // LT reads once per report; ET reads until EAGAIN. Either way the first recv after a
        // report must find data or EOF: epoll reported a state polled at harvest time, and no
        // other thread reads this socket.
        for (bool first = true;; first = false) {
          const size_t want = random_size(rng, 1, kChunkMax);
          const ssize_t got = sys->recv(pairs[p].rfd, buf.data(), want, 0);
          if (got > 0) {
            const size_t bad =
                first_mismatch(uint64_t(p) + 1, st.received, buf.data(), size_t(got));
            if (bad != size_t(got))
              failures.add(fmt("pair %d: wrong byte at stream offset %llu", p,
                               (unsigned long long)(st.received + bad)));
            st.sum.add(buf.data(), size_t(got));
            st.received += uint64_t(got);
            consumed[p].store(st.received);
            if (!et) break;
            continue;
          }
          if (got == 0) {
            st.eof = true;
            if (sys->epoll_ctl(ep, EPOLL_CTL_DEL, pairs[p].rfd, nullptr) != 0)
              failures.add(fmt("epoll_ctl(DEL): %s", strerror(errno)));
            --open;
            break;
          }
          if (errno == EAGAIN && !first) break;
          failures.add(
              fmt("pair %d: recv after a report of %#x: %s", p, evs[k].events, strerror(errno)));
          break;
        }
      }
    }
    sys->close(ep);
  };

  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r) threads.emplace_back(reader, r);
  for (int w = 0; w < kWriters; ++w) threads.emplace_back(writer, w);
  for (auto& t : threads) t.join();

  uint64_t total = 0;
  for (int p = 0; p < kPairs; ++p) {
    EXPECT_TRUE(rs[p].eof) << "pair " << p;
    EXPECT_EQ(rs[p].received, ws[p].sent) << "pair " << p;
    EXPECT_TRUE(rs[p].sum == ws[p].sum) << "pair " << p << ": checksums differ";
    total += rs[p].received;
  }
  EXPECT_EQ(failures.count(), 0) << failures.text();
  EXPECT_GT(total, uint64_t(1) << 20) << "too little traffic to mean anything";
  RecordProperty("bytes", std::to_string(total));
  RecordProperty("epoll_reports", std::to_string(reports.load()));
  RecordProperty("quiet_points", std::to_string(quiet_points.load()));
  EXPECT_GT(reports.load(), kPairs);
  for (const Pair& pr : pairs) {
    EXPECT_EQ(sys->close(pr.wfd), 0);
    EXPECT_EQ(sys->close(pr.rfd), 0);
  }
  expect_fd_table_as_at_start();
}

INSTANTIATE_TEST_SUITE_P(, SocketStreamStress,
                         ::testing::ValuesIn(on_both({{0, "LevelTriggered"},
                                                      {int(EPOLLET), "EdgeTriggered"}})),
                         case_name);

// ---------------------------------------------------------------------------------------------
// 2. Datagram and seqpacket boundaries.
//
// 2 socketpairs, both directions used: 2 sender threads per direction send messages with a
// 0..8 KiB payload behind a header (sender, sequence, length, payload checksum), and now and then
// a zero-length message; one receiver per direction checks each message is whole and that each
// sender's sequence has no gap and no reordering. Receives use MSG_TRUNC (the return value is
// the message's full length); one in 4 peeks the length first with a 1-byte MSG_PEEK|MSG_TRUNC,
// and half of those then receive into a buffer too short for the payload, checking MSG_TRUNC in
// msg_flags and the part that did arrive. The last message of each sender carries its count of
// zero-length messages. After one message in 8 the sender waits (bounded) until the receiver has
// taken it: a quiet point, where a lost wake-up cannot hide behind the next message's.

class SocketMessageStress : public SocketStress {};

struct MsgHeader {
  uint32_t magic;
  uint16_t sender;    // global sender id
  uint16_t last;      // 1 on the sender's last message
  uint64_t seq;       // per sender, from 0, no gaps (the last message carries the count)
  uint32_t len;       // the whole message, header included
  uint32_t empties;   // on the last message: zero-length messages this sender sent
  uint64_t checksum;  // fnv1a of the payload
};
static_assert(sizeof(MsgHeader) == 32);
constexpr uint32_t kMsgMagic = 0x55534d47;  // "USMG"

uint64_t message_seed(int sender, uint64_t seq) {
  return splitmix64((uint64_t(sender) << 48) ^ seq ^ 0xabcdefull);
}

TEST_P(SocketMessageStress, MessagesArriveWholeAndInOrderPerSender) {
  const int type = GetParam().arg;
  constexpr int kPairs = 2;
  constexpr int kDirs = 2 * kPairs;
  constexpr int kSendersPerDir = 2;
  constexpr size_t kPayloadMax = 8 * 1024;
  constexpr int kQuietMaxMs = 2000;

  // Direction d sends from fd[d] to fd[d ^ 1].
  std::vector<int> fd(kDirs);
  for (int p = 0; p < kPairs; ++p) {
    ASSERT_EQ(sys->socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, &fd[2 * p]), 0) << strerror(errno);
  }
  for (int f : fd) {
    ASSERT_EQ(set_timeout_ms(sys, f, SO_SNDTIMEO, kSafetyTimeoutMs), 0) << strerror(errno);
    ASSERT_EQ(set_timeout_ms(sys, f, SO_RCVTIMEO, kSafetyTimeoutMs), 0) << strerror(errno);
  }

  struct SenderTotals {  // written by the sender; read after join
    uint64_t messages = 0, bytes = 0;
    uint32_t empties = 0;
  };
  struct ReceiverTotals {  // written by the receiver; read after join
    std::vector<uint64_t> next_seq = std::vector<uint64_t>(kSendersPerDir, 0);
    std::vector<bool> last_seen = std::vector<bool>(kSendersPerDir, false);
    uint64_t bytes = 0;
    uint32_t empties = 0, empties_announced = 0, truncated = 0, peeked = 0;
  };
  std::vector<SenderTotals> st(kDirs * kSendersPerDir);
  std::vector<ReceiverTotals> rt(kDirs);
  // Messages of each sender the receiver has taken (rt[].next_seq, published for quiet points).
  std::vector<std::atomic<uint64_t>> taken(kDirs * kSendersPerDir);
  Failures failures;
  std::atomic<long> quiet_points{0};
  const auto load_end = Clock::now() + kLoad;

  auto sender = [&](int d, int s) {
    OnHost on(host_);
    const int id = d * kSendersPerDir + s;
    const int out = fd[d];
    std::mt19937_64 rng(uint64_t(id) + 1000);
    std::vector<uint8_t> payload(kPayloadMax);
    SenderTotals& t = st[id];
    while (Clock::now() < load_end) {
      if (rng() % 32 == 0) {
        const ssize_t n = sys->send(out, payload.data(), 0, MSG_NOSIGNAL);
        if (n != 0) {
          failures.add(fmt("zero-length send returned %zd: %s", n, strerror(errno)));
          break;
        }
        t.empties++;
        continue;
      }
      const size_t plen = random_size(rng, 0, kPayloadMax);
      fill_stream(message_seed(id, t.messages), 0, payload.data(), plen);
      MsgHeader h = {kMsgMagic,
                     uint16_t(id),
                     0,
                     t.messages,
                     uint32_t(sizeof h + plen),
                     0,
                     fnv1a(payload.data(), plen)};
      iovec iov[2] = {{&h, sizeof h}, {payload.data(), plen}};
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = 2;
      const ssize_t n = sys->sendmsg(out, &m, MSG_NOSIGNAL);
      if (n != ssize_t(h.len)) {
        failures.add(fmt("sendmsg of %u bytes returned %zd: %s", h.len, n, strerror(errno)));
        break;
      }
      t.messages++;
      t.bytes += h.len;
      // A quiet point, as in the stream test: a wake-up lost for this message would otherwise
      // be hidden by the next message's.
      if (rng() % 8 != 0) continue;
      quiet_points++;
      const auto quiet_end = Clock::now() + std::chrono::milliseconds(kQuietMaxMs);
      while (taken[id].load() != t.messages && Clock::now() < quiet_end)
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      if (taken[id].load() != t.messages) {
        failures.add(fmt("sender %d: message %llu not received after %d ms (a lost wake-up)", id,
                         (unsigned long long)(t.messages - 1), kQuietMaxMs));
        break;
      }
    }
    const MsgHeader last = {kMsgMagic,         uint16_t(id), 1, t.messages,
                            sizeof(MsgHeader), t.empties,    0};
    const ssize_t n = sys->send(out, &last, sizeof last, MSG_NOSIGNAL);
    if (n != ssize_t(sizeof last))
      failures.add(fmt("last send returned %zd: %s", n, strerror(errno)));
  };

  auto receiver = [&](int d) {
    OnHost on(host_);
    const int in = fd[d ^ 1];
    std::mt19937_64 rng(uint64_t(d) + 2000);
    std::vector<uint8_t> buf(sizeof(MsgHeader) + kPayloadMax + 64);
    ReceiverTotals& t = rt[d];
    int lasts = 0;
    while (lasts < kSendersPerDir) {
      size_t cap = buf.size();
      ssize_t peeked = -1;
      const unsigned how = unsigned(rng() % 8);
      if (how < 2) {  // the length first, from a 1-byte peek
        uint8_t one;
        peeked = sys->recv(in, &one, 1, MSG_PEEK | MSG_TRUNC);
        if (peeked < 0) {
          failures.add(fmt("recv(MSG_PEEK|MSG_TRUNC): %s", strerror(errno)));
          return;
        }
        t.peeked++;
        // Half of these then receive into a buffer too short for the payload.
        if (how == 1 && size_t(peeked) > sizeof(MsgHeader))
          cap = sizeof(MsgHeader) + size_t(rng() % (size_t(peeked) - sizeof(MsgHeader)));
      }
      iovec iov = {buf.data(), cap};
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      const ssize_t n = sys->recvmsg(in, &m, MSG_TRUNC);
      if (n < 0) {
        failures.add(fmt("dir %d: recvmsg: %s%s", d, strerror(errno),
                         errno == EAGAIN ? " (SO_RCVTIMEO: a lost message or wake-up)" : ""));
        return;
      }
      if (peeked >= 0 && n != peeked)
        failures.add(fmt("MSG_PEEK|MSG_TRUNC said %zd bytes, recvmsg(MSG_TRUNC) %zd", peeked, n));
      const bool truncated = size_t(n) > cap;
      if (bool(m.msg_flags & MSG_TRUNC) != truncated)
        failures.add(fmt("%zd-byte message into %zu bytes: msg_flags %#x", n, cap, m.msg_flags));
      t.truncated += truncated;
      if (n == 0) {
        t.empties++;
        continue;
      }
      if (size_t(n) < sizeof(MsgHeader)) {
        failures.add(fmt("a %zd-byte message: a message was split", n));
        continue;
      }
      MsgHeader h;
      memcpy(&h, buf.data(), sizeof h);
      const int s = int(h.sender) - d * kSendersPerDir;
      if (h.magic != kMsgMagic || s < 0 || s >= kSendersPerDir || h.len != uint32_t(n)) {
        failures.add(fmt("dir %d: bad header (magic %#x sender %u len %u) on a %zd-byte message", d,
                         h.magic, h.sender, h.len, n));
        continue;
      }
      if (t.last_seen[s]) failures.add(fmt("sender %u: a message after its last", h.sender));
      if (h.seq != t.next_seq[s])
        failures.add(fmt("sender %u: seq %llu, expected %llu", h.sender, (unsigned long long)h.seq,
                         (unsigned long long)t.next_seq[s]));
      if (h.last) {
        t.last_seen[s] = true;
        t.empties_announced += h.empties;
        ++lasts;
        continue;
      }
      t.next_seq[s] = h.seq + 1;
      taken[h.sender].store(t.next_seq[s]);
      t.bytes += uint64_t(n);
      const size_t plen = size_t(n) - sizeof h;
      const size_t have = std::min(size_t(n), cap) - sizeof h;
      const uint8_t* payload = buf.data() + sizeof h;
      if (first_mismatch(message_seed(h.sender, h.seq), 0, payload, have) != have)
        failures.add(
            fmt("sender %u seq %llu: payload corrupted", h.sender, (unsigned long long)h.seq));
      if (have == plen && fnv1a(payload, plen) != h.checksum)
        failures.add(fmt("sender %u seq %llu: checksum", h.sender, (unsigned long long)h.seq));
    }
  };

  std::vector<std::thread> threads;
  for (int d = 0; d < kDirs; ++d) threads.emplace_back(receiver, d);
  for (int d = 0; d < kDirs; ++d)
    for (int s = 0; s < kSendersPerDir; ++s) threads.emplace_back(sender, d, s);
  for (auto& t : threads) t.join();

  uint64_t messages = 0;
  uint32_t truncated = 0, peeked = 0;
  for (int d = 0; d < kDirs; ++d) {
    uint64_t bytes = 0;
    uint32_t empties = 0;
    for (int s = 0; s < kSendersPerDir; ++s) {
      const SenderTotals& t = st[d * kSendersPerDir + s];
      EXPECT_TRUE(rt[d].last_seen[s]) << "dir " << d << " sender " << s;
      EXPECT_EQ(rt[d].next_seq[s], t.messages) << "dir " << d << " sender " << s;
      bytes += t.bytes;
      empties += t.empties;
      messages += t.messages;
    }
    EXPECT_EQ(rt[d].bytes, bytes) << "dir " << d;
    EXPECT_EQ(rt[d].empties, empties) << "dir " << d;
    EXPECT_EQ(rt[d].empties_announced, empties) << "dir " << d;
    truncated += rt[d].truncated;
    peeked += rt[d].peeked;
  }
  EXPECT_EQ(failures.count(), 0) << failures.text();
  EXPECT_GT(messages, 400u) << "too little traffic to mean anything";
  EXPECT_GT(truncated, 0u);
  EXPECT_GT(peeked, 0u);
  RecordProperty("messages", std::to_string(messages));
  RecordProperty("truncated", std::to_string(truncated));
  RecordProperty("quiet_points", std::to_string(quiet_points.load()));
  for (int f : fd) EXPECT_EQ(sys->close(f), 0);
  expect_fd_table_as_at_start();
}

INSTANTIATE_TEST_SUITE_P(, SocketMessageStress,
                         ::testing::ValuesIn(on_both({{SOCK_DGRAM, "Dgram"},
                                                      {SOCK_SEQPACKET, "Seqpacket"}})),
                         case_name);

// ---------------------------------------------------------------------------------------------
// 3. Listener stress.
//
// One stream listener on an abstract name, backlog 8. 6 clients loop: socket, connect (blocking;
// it waits while the backlog is full), send a request, read the reply, read EOF, close. 3
// acceptors serve: two block in accept4, one waits in epoll_wait on the listener first. At the
// end each acceptor takes one "quit" connection. Every request must be served exactly once, and
// the name must be free once the listener is closed.

class SocketListenerStress : public SocketStress {};

TEST_P(SocketListenerStress, EveryConnectionIsServedExactlyOnce) {
  constexpr int kClients = 6;
  constexpr int kBlockingAcceptors = 2;
  constexpr int kAcceptors = 3;  // the last one waits in epoll_wait
  constexpr uint64_t kQuit = ~uint64_t(0);
  constexpr uint64_t kNonceMask = 0x5a5a5a5a5a5a5a5aull;
  struct Request {
    uint64_t id, nonce;
  };
  struct Reply {
    uint64_t id, nonce;
    uint32_t acceptor, pad;
  };

  const AbstractAddr addr = abstract_addr("listen");
  const int lfd = sys->socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0) << strerror(errno);
  ASSERT_EQ(sys->bind(lfd, addr.sa(), addr.len), 0) << strerror(errno);
  ASSERT_EQ(sys->listen(lfd, 8), 0) << strerror(errno);
  ASSERT_EQ(set_timeout_ms(sys, lfd, SO_RCVTIMEO, kSafetyTimeoutMs), 0) << strerror(errno);

  std::vector<std::vector<uint64_t>> served(kAcceptors), completed(kClients);
  Failures failures;
  const auto load_end = Clock::now() + kLoad;
  const auto hard_end = load_end + kDrainMax;

  // Reads exactly len bytes (a stream may split them); false on error, timeout or early EOF.
  auto recv_all = [&](int fd, void* p, size_t len) {
    size_t off = 0;
    while (off < len) {
      const ssize_t n = sys->recv(fd, static_cast<char*>(p) + off, len - off, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        failures.add(fmt("recv returned %zd after %zu of %zu bytes: %s", n, off, len,
                         n < 0 ? strerror(errno) : "EOF"));
        return false;
      }
      off += size_t(n);
    }
    return true;
  };

  // Serves one accepted connection; true if it was a quit request.
  auto serve = [&](int a, int cfd) {
    bool quit = false;
    Request rq;
    if (set_timeout_ms(sys, cfd, SO_RCVTIMEO, kSafetyTimeoutMs) != 0)
      failures.add(fmt("setsockopt(SO_RCVTIMEO): %s", strerror(errno)));
    if (recv_all(cfd, &rq, sizeof rq)) {
      const Reply rp = {rq.id, rq.nonce ^ kNonceMask, uint32_t(a), 0};
      const ssize_t n = sys->send(cfd, &rp, sizeof rp, MSG_NOSIGNAL);
      if (n != ssize_t(sizeof rp)) failures.add(fmt("reply: %zd: %s", n, strerror(errno)));
      quit = rq.id == kQuit;
      if (!quit) served[a].push_back(rq.id);
    }
    if (sys->close(cfd) != 0) failures.add(fmt("close(accepted): %s", strerror(errno)));
    return quit;
  };

  auto acceptor = [&](int a) {
    OnHost on(host_);
    int ep = -1;
    if (a >= kBlockingAcceptors) {
      ep = sys->epoll_create1(EPOLL_CLOEXEC);
      epoll_event ev = {EPOLLIN, {.u64 = 7}};
      if (ep < 0 || sys->epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0)
        failures.add(fmt("epoll on the listener: %s", strerror(errno)));
    }
    for (bool quit = false; !quit;) {
      if (Clock::now() > hard_end) {
        failures.add(fmt("acceptor %d never got its quit connection", a));
        break;
      }
      if (ep >= 0) {
        epoll_event ev;
        const int n = sys->epoll_wait(ep, &ev, 1, 100);
        if (n < 0 && errno != EINTR) failures.add(fmt("epoll_wait: %s", strerror(errno)));
        if (n <= 0) continue;
        if (ev.events != EPOLLIN || ev.data.u64 != 7)
          failures.add(fmt("listener reported %#x", ev.events));
        // Another acceptor may take the connection first; then accept4 blocks for the next.
      }
      sockaddr_un peer;
      memset(&peer, 0xee, sizeof peer);
      socklen_t plen = sizeof peer;
      const int cfd = sys->accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
      if (cfd < 0) {
        if (errno != EINTR)
          failures.add(fmt("accept4: %s%s", strerror(errno),
                           errno == EAGAIN ? " (SO_RCVTIMEO: a lost wake-up)" : ""));
        continue;
      }
      // An unbound client: the name is just the family (Linux's unix_getname with no addr).
      if (plen != sizeof(sa_family_t) || peer.sun_family != AF_UNIX)
        failures.add(fmt("accept4 peer address: len %u family %d", plen, peer.sun_family));
      if (sys->fcntl(cfd, F_GETFD) != FD_CLOEXEC)
        failures.add("accept4(SOCK_CLOEXEC) fd without FD_CLOEXEC");
      quit = serve(a, cfd);
    }
    if (ep >= 0) sys->close(ep);
  };

  // One request over a fresh connection; true if it was answered correctly.
  auto call = [&](uint64_t id, uint64_t nonce, bool check_peer) {
    const int fd = sys->socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      failures.add(fmt("socket: %s", strerror(errno)));
      return false;
    }
    bool ok = set_timeout_ms(sys, fd, SO_SNDTIMEO, kSafetyTimeoutMs) == 0 &&
              set_timeout_ms(sys, fd, SO_RCVTIMEO, kSafetyTimeoutMs) == 0;
    if (ok && sys->connect(fd, addr.sa(), addr.len) != 0) {
      failures.add(fmt("connect: %s%s", strerror(errno),
                       errno == EAGAIN ? " (SO_SNDTIMEO: backlog never drained)" : ""));
      ok = false;
    }
    if (ok && check_peer) {
      sockaddr_un peer{};
      socklen_t plen = sizeof peer;
      if (sys->getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0 ||
          plen != addr.len || memcmp(&peer, &addr.sun, plen) != 0)
        failures.add(fmt("getpeername: len %u, want the listener's name (len %u)", plen, addr.len));
    }
    const Request rq = {id, nonce};
    if (ok && sys->send(fd, &rq, sizeof rq, MSG_NOSIGNAL) != ssize_t(sizeof rq)) {
      failures.add(fmt("send request: %s", strerror(errno)));
      ok = false;
    }
    Reply rp;
    if (ok) ok = recv_all(fd, &rp, sizeof rp);
    if (ok && (rp.id != id || rp.nonce != (nonce ^ kNonceMask) || rp.acceptor >= kAcceptors)) {
      failures.add(fmt("request %#llx got the reply for %#llx", (unsigned long long)id,
                       (unsigned long long)rp.id));
      ok = false;
    }
    char c;
    if (ok && sys->recv(fd, &c, 1, 0) != 0) {
      failures.add(fmt("no EOF after the reply: %s", strerror(errno)));
      ok = false;
    }
    if (sys->close(fd) != 0) failures.add(fmt("close(client): %s", strerror(errno)));
    return ok;
  };

  auto client = [&](int c) {
    OnHost on(host_);
    std::mt19937_64 rng(uint64_t(c) + 3000);
    for (uint64_t seq = 0; Clock::now() < load_end; ++seq) {
      const uint64_t id = (uint64_t(c) << 40) | seq;
      if (call(id, rng(), seq % 16 == 0)) completed[c].push_back(id);
    }
  };

  std::vector<std::thread> acceptors, clients;
  for (int a = 0; a < kAcceptors; ++a) acceptors.emplace_back(acceptor, a);
  for (int c = 0; c < kClients; ++c) clients.emplace_back(client, c);
  for (auto& t : clients) t.join();
  for (int a = 0; a < kAcceptors; ++a) EXPECT_TRUE(call(kQuit, uint64_t(a), false));
  for (auto& t : acceptors) t.join();

  std::vector<uint64_t> all_served, all_completed;
  for (const auto& v : served) all_served.insert(all_served.end(), v.begin(), v.end());
  for (const auto& v : completed) all_completed.insert(all_completed.end(), v.begin(), v.end());
  std::sort(all_served.begin(), all_served.end());
  std::sort(all_completed.begin(), all_completed.end());
  EXPECT_EQ(std::adjacent_find(all_served.begin(), all_served.end()), all_served.end())
      << "a request was served twice";
  EXPECT_EQ(all_served.size(), all_completed.size());
  EXPECT_TRUE(all_served == all_completed) << "served and completed requests differ";
  EXPECT_EQ(failures.count(), 0) << failures.text();
  EXPECT_GT(all_completed.size(), 200u) << "too little traffic to mean anything";
  RecordProperty("connections", std::to_string(all_completed.size()));
  RecordProperty("by_epoll_acceptor", std::to_string(served[kAcceptors - 1].size()));

  // Closing the listener frees the abstract name: a connect now finds nobody.
  EXPECT_EQ(sys->close(lfd), 0);
  const int fd = sys->socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(sys->connect(fd, addr.sa(), addr.len), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  EXPECT_EQ(sys->close(fd), 0);
  expect_fd_table_as_at_start();
}

INSTANTIATE_TEST_SUITE_P(, SocketListenerStress, ::testing::ValuesIn(on_both({{0, ""}})),
                         case_name);

// ---------------------------------------------------------------------------------------------
// 4. Close and shutdown races against blocked calls.
//
// Rounds, until the load time is up. Each round makes fresh sockets and starts 7 blocked calls:
// 2 recv on an empty stream socket A, 1 send on a stream socket B whose send buffer is full,
// 2 accept4 on a listener L and 2 epoll_wait (LT) on an epoll fd watching stream socket C. Two
// chaos threads then wake each group with one randomly chosen event, after a random delay, and
// in half the rounds start before the calls (so the event races the call's entry either way):
// data or a drain, shutdown of either end, close of the peer, or dup2 over the peer. An fd a
// blocked call uses is never closed (on Linux a close does not wake the call, which holds its own
// reference); only peers nobody waits on are.
//
// Every call must return with exactly the result of its event. SO_RCVTIMEO/SO_SNDTIMEO and the
// epoll_wait timeout (2 s) are only a safety net: no call may return through them.

class SocketWakeStress : public SocketStress {};

TEST_P(SocketWakeStress, ShutdownAndPeerCloseWakeEveryBlockedCall) {
  constexpr int kNetMs = 2000;
  constexpr long kMinRounds = 30;
  int spare[2];  // dup2 source: putting it over a peer's fd number closes the peer
  ASSERT_EQ(sys->pipe2(spare, O_CLOEXEC), 0) << strerror(errno);

  enum ActA { kAData, kAShutRd, kAShutRdwr, kAPeerShutWr, kAPeerClose, kAPeerDup2, kANum };
  enum ActB { kBDrain, kBShutWr, kBPeerShutRd, kBShutRdwr, kBPeerClose, kBPeerDup2, kBNum };
  enum ActC { kCData, kCPeerShutWr, kCShutRd, kCShutRdwr, kCPeerClose, kCPeerDup2, kCNum };
  enum ActL { kLConnect, kLShutRd, kLShutRdwr, kLNum };
  static const char* const kANames[] = {"data",         "SHUT_RD",    "SHUT_RDWR",
                                        "peer SHUT_WR", "peer close", "dup2 over peer"};
  static const char* const kBNames[] = {"drain",     "SHUT_WR",    "peer SHUT_RD",
                                        "SHUT_RDWR", "peer close", "dup2 over peer"};
  static const char* const kCNames[] = {"data",      "peer SHUT_WR", "SHUT_RD",
                                        "SHUT_RDWR", "peer close",   "dup2 over peer"};
  static const char* const kLNames[] = {"connect", "SHUT_RD", "SHUT_RDWR"};

  struct Outcome {
    ssize_t ret = -2;
    int err = 0;
    uint32_t events = 0;
    char byte = 0;
    int64_t waited_ms = 0;
  };

  Failures failures;
  long rounds = 0, timeouts = 0, slow = 0, reset_after_close = 0, pipe_after_close = 0;
  std::mt19937_64 rng(20240601);
  const auto load_end = Clock::now() + kLoad;

  // At least kMinRounds even on a slow (sanitized, loaded) machine, within 2.5 times the load.
  const auto rounds_end = Clock::now() + kLoad * 5 / 2;
  while ((Clock::now() < load_end || rounds < kMinRounds) && Clock::now() < rounds_end &&
         failures.count() == 0) {
    ++rounds;
    int a[2], b[2], c[2];
    ASSERT_EQ(sys->socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0) << strerror(errno);
    ASSERT_EQ(sys->socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0) << strerror(errno);
    ASSERT_EQ(sys->socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c), 0) << strerror(errno);
    ASSERT_EQ(set_timeout_ms(sys, a[0], SO_RCVTIMEO, kNetMs), 0) << strerror(errno);
    ASSERT_EQ(set_timeout_ms(sys, b[0], SO_SNDTIMEO, kNetMs), 0) << strerror(errno);
    {  // fill B until a send would block
      static const char chunk[4096] = {};
      ssize_t n;
      while ((n = sys->send(b[0], chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL)) > 0) {
      }
      ASSERT_EQ(n, -1);
      ASSERT_EQ(errno, EAGAIN);
    }
    const int ep = sys->epoll_create1(EPOLL_CLOEXEC);
    ASSERT_GE(ep, 0) << strerror(errno);
    epoll_event cev = {EPOLLIN | EPOLLRDHUP, {.u64 = 3}};
    ASSERT_EQ(sys->epoll_ctl(ep, EPOLL_CTL_ADD, c[0], &cev), 0) << strerror(errno);
    const AbstractAddr laddr = abstract_addr("wake");
    const int lfd = sys->socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(lfd, 0) << strerror(errno);
    ASSERT_EQ(sys->bind(lfd, laddr.sa(), laddr.len), 0) << strerror(errno);
    ASSERT_EQ(sys->listen(lfd, 8), 0) << strerror(errno);
    ASSERT_EQ(set_timeout_ms(sys, lfd, SO_RCVTIMEO, kNetMs), 0) << strerror(errno);

    const int act_a = int(rng() % kANum), act_b = int(rng() % kBNum);
    const int act_c = int(rng() % kCNum), act_l = int(rng() % kLNum);
    const uint64_t seed_x = rng(), seed_y = rng();
    const bool chaos_first = rng() % 2 == 0;
    Outcome recv_out[2], send_out, accept_out[2], epoll_out[2];
    int clients[2] = {-1, -1};

    auto timed = [](Outcome& o, auto&& call) {
      const auto t0 = Clock::now();
      o.ret = call();
      o.err = errno;
      o.waited_ms = ms_since(t0);
    };
    std::vector<std::thread> blocked;
    auto start_blocked = [&] {
      for (int i = 0; i < 2; ++i) {
        blocked.emplace_back([&, i] {
          OnHost on(host_);
          timed(recv_out[i], [&] { return sys->recv(a[0], &recv_out[i].byte, 1, 0); });
        });
        blocked.emplace_back([&, i] {
          OnHost on(host_);
          timed(accept_out[i], [&] { return sys->accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC); });
          if (accept_out[i].ret >= 0) sys->close(int(accept_out[i].ret));
        });
        blocked.emplace_back([&, i] {
          OnHost on(host_);
          epoll_event ev = {};
          timed(epoll_out[i], [&] { return sys->epoll_wait(ep, &ev, 1, kNetMs); });
          epoll_out[i].events = ev.events;
        });
      }
      blocked.emplace_back([&] {
        OnHost on(host_);
        static const char kilo[1024] = {};
        timed(send_out, [&] { return sys->send(b[0], kilo, sizeof kilo, MSG_NOSIGNAL); });
      });
    };

    auto expect_zero = [&](int r, const char* what) {
      if (r != 0) failures.add(fmt("chaos %s: %s", what, strerror(errno)));
    };
    auto pause = [](std::mt19937_64& r) {
      switch (r() % 4) {
        case 0:
          break;
        case 1:
          std::this_thread::yield();
          break;
        default:
          std::this_thread::sleep_for(std::chrono::microseconds(r() % 1000));
      }
    };
    // Chaos X wakes A and B; chaos Y wakes C and L. Each fd is touched by one thread only.
    auto chaos_x = [&] {
      OnHost on(host_);
      std::mt19937_64 r(seed_x);
      pause(r);
      switch (act_a) {
        case kAData:
          if (sys->send(a[1], "xy", 2, MSG_NOSIGNAL) != 2) expect_zero(-1, "send xy");
          break;
        case kAShutRd:
          expect_zero(sys->shutdown(a[0], SHUT_RD), "shutdown");
          break;
        case kAShutRdwr:
          expect_zero(sys->shutdown(a[0], SHUT_RDWR), "shutdown");
          break;
        case kAPeerShutWr:
          expect_zero(sys->shutdown(a[1], SHUT_WR), "shutdown");
          break;
        case kAPeerClose:
          expect_zero(sys->close(a[1]), "close");
          a[1] = -1;
          break;
        case kAPeerDup2:
          if (sys->dup2(spare[0], a[1]) != a[1]) expect_zero(-1, "dup2");
          break;
      }
      pause(r);
      switch (act_b) {
        case kBDrain: {
          char sink[8192];
          while (sys->recv(b[1], sink, sizeof sink, MSG_DONTWAIT) > 0) {
          }
          if (errno != EAGAIN) expect_zero(-1, "drain");
          break;
        }
        case kBShutWr:
          expect_zero(sys->shutdown(b[0], SHUT_WR), "shutdown");
          break;
        case kBPeerShutRd:
          expect_zero(sys->shutdown(b[1], SHUT_RD), "shutdown");
          break;
        case kBShutRdwr:
          expect_zero(sys->shutdown(b[0], SHUT_RDWR), "shutdown");
          break;
        case kBPeerClose:
          expect_zero(sys->close(b[1]), "close");
          b[1] = -1;
          break;
        case kBPeerDup2:
          if (sys->dup2(spare[1], b[1]) != b[1]) expect_zero(-1, "dup2");
          break;
      }
    };
    auto chaos_y = [&] {
      OnHost on(host_);
      std::mt19937_64 r(seed_y);
      pause(r);
      switch (act_c) {
        case kCData:
          if (sys->send(c[1], "z", 1, MSG_NOSIGNAL) != 1) expect_zero(-1, "send z");
          break;
        case kCPeerShutWr:
          expect_zero(sys->shutdown(c[1], SHUT_WR), "shutdown");
          break;
        case kCShutRd:
          expect_zero(sys->shutdown(c[0], SHUT_RD), "shutdown");
          break;
        case kCShutRdwr:
          expect_zero(sys->shutdown(c[0], SHUT_RDWR), "shutdown");
          break;
        case kCPeerClose:
          expect_zero(sys->close(c[1]), "close");
          c[1] = -1;
          break;
        case kCPeerDup2:
          if (sys->dup2(spare[0], c[1]) != c[1]) expect_zero(-1, "dup2");
          break;
      }
      pause(r);
      switch (act_l) {
        case kLConnect:
          for (int& fd : clients) {
            fd = sys->socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || set_timeout_ms(sys, fd, SO_SNDTIMEO, kNetMs) != 0)
              expect_zero(-1, "socket");
            else
              expect_zero(sys->connect(fd, laddr.sa(), laddr.len), "connect");
          }
          break;
        case kLShutRd:
          expect_zero(sys->shutdown(lfd, SHUT_RD), "shutdown(listener)");
          break;
        case kLShutRdwr:
          expect_zero(sys->shutdown(lfd, SHUT_RDWR), "shutdown(listener)");
          break;
      }
    };
    // Half the rounds start the chaos first, so that events also land before the calls.
    std::thread x, y;
    if (chaos_first) {
      x = std::thread(chaos_x);
      y = std::thread(chaos_y);
      start_blocked();
    } else {
      start_blocked();
      x = std::thread(chaos_x);
      y = std::thread(chaos_y);
    }
    x.join();
    y.join();
    for (auto& t : blocked) t.join();

    // The outcomes, each against the exact result of its event.
    std::vector<const Outcome*> all = {&recv_out[0],   &recv_out[1],  &send_out,    &accept_out[0],
                                       &accept_out[1], &epoll_out[0], &epoll_out[1]};
    for (const Outcome* o : all) {
      if ((o->ret == -1 && o->err == EAGAIN) || o->waited_ms >= kNetMs) timeouts++;
      if (o->waited_ms >= kNetMs / 2) slow++;
    }
    auto bad = [&](const char* call, const char* event, const Outcome& o) {
      failures.add(fmt("round %ld: %s woken by %s returned %zd (%s), events %#x, after %lld ms",
                       rounds, call, event, o.ret, o.ret < 0 ? strerror(o.err) : "-", o.events,
                       (long long)o.waited_ms));
    };
    // A: "xy" gives each recv one byte; every other event is EOF.
    if (act_a == kAData) {
      for (const Outcome& o : recv_out)
        if (o.ret != 1) bad("recv", kANames[act_a], o);
      if (recv_out[0].byte + recv_out[1].byte != 'x' + 'y' || recv_out[0].byte == recv_out[1].byte)
        failures.add(fmt("the two recvs got '%c' and '%c'", recv_out[0].byte, recv_out[1].byte));
    } else {
      for (const Outcome& o : recv_out)
        if (o.ret != 0) bad("recv", kANames[act_a], o);
    }
    // B: a drain lets the 1 KiB through. Shutdown of either side is EPIPE. A peer that closes
    // with unread data leaves ECONNRESET pending, which a sender already inside send reports
    // first; one that enters send afterwards sees SEND_SHUTDOWN first and gets EPIPE.
    const bool b_ok =
        act_b == kBDrain ? send_out.ret == 1024
        : (act_b == kBPeerClose || act_b == kBPeerDup2)
            ? send_out.ret == -1 && (send_out.err == ECONNRESET || send_out.err == EPIPE)
            : send_out.ret == -1 && send_out.err == EPIPE;
    if (!b_ok) bad("send", kBNames[act_b], send_out);
    if (b_ok && (act_b == kBPeerClose || act_b == kBPeerDup2))
      (send_out.err == ECONNRESET ? reset_after_close : pipe_after_close)++;
    // C: both LT waiters see the same state: IN for data, IN|RDHUP for a half shutdown,
    // IN|RDHUP|HUP once both directions are shut (the peer gone, or SHUT_RDWR).
    const uint32_t want_c = act_c == kCData ? EPOLLIN
                            : (act_c == kCPeerShutWr || act_c == kCShutRd)
                                ? EPOLLIN | EPOLLRDHUP
                                : EPOLLIN | EPOLLRDHUP | EPOLLHUP;
    for (const Outcome& o : epoll_out)
      if (o.ret != 1 || o.events != want_c) bad("epoll_wait", kCNames[act_c], o);
    // L: each accept4 gets one of the two connections; shutdown(SHUT_RD) of a listener makes
    // accept fail EINVAL.
    for (const Outcome& o : accept_out)
      if (act_l == kLConnect ? o.ret < 0 : !(o.ret == -1 && o.err == EINVAL))
        bad("accept4", kLNames[act_l], o);

    for (int fd : {a[0], a[1], b[0], b[1], c[0], c[1], ep, lfd, clients[0], clients[1]})
      if (fd >= 0 && sys->close(fd) != 0) failures.add(fmt("close(%d): %s", fd, strerror(errno)));
  }

  EXPECT_EQ(timeouts, 0) << "calls that returned through the safety-net timeout";
  EXPECT_EQ(slow, 0) << "calls that took over " << kNetMs / 2 << " ms to wake";
  EXPECT_EQ(failures.count(), 0) << failures.text();
  EXPECT_GE(rounds, kMinRounds) << "too few rounds to mean anything";
  RecordProperty("rounds", std::to_string(rounds));
  RecordProperty("send_after_peer_close_econnreset", std::to_string(reset_after_close));
  RecordProperty("send_after_peer_close_epipe", std::to_string(pipe_after_close));
  EXPECT_EQ(sys->close(spare[0]), 0);
  EXPECT_EQ(sys->close(spare[1]), 0);
  expect_fd_table_as_at_start();
}

INSTANTIATE_TEST_SUITE_P(, SocketWakeStress, ::testing::ValuesIn(on_both({{0, ""}})), case_name);

// ---------------------------------------------------------------------------------------------
// 5. SCM_RIGHTS churn.
//
// A stream and a seqpacket socketpair, a sender and a receiver on each end (4 directions). Each
// message passes 1..3 fds: an eventfd made with a token as its count, a pipe's read end with the
// token written into it (the write end closed), or a second copy of the previous fd. The sender
// closes its copies at once, so the in-flight reference is the only one. The receiver checks
// each fd is the object named in the message: the eventfd reads the token and then EAGAIN; the
// pipe reads the token and then EOF (no write end survives anywhere); a second copy is another
// fd number for the same object. MSG_CMSG_CLOEXEC on every other recvmsg must set FD_CLOEXEC,
// and only then. At the end the fd table is as it was at the start. Senders keep at most 32
// messages in flight per direction (and now and then wait for none): a window that does not open
// within 2 s is a lost wake-up.

class SocketScmRightsStress : public SocketStress {};

struct FdMsg {
  uint32_t magic;
  uint32_t nfds;    // 0 on the last message
  uint64_t seq;     // per direction, from 0
  uint8_t kind[4];  // per fd: kKindEventfd, kKindPipe or kKindAgain (same object as fd i-1)
  uint32_t last;    // 1 on the sender's last message
  uint64_t token;   // eventfd count / pipe content of fd i is token + i
};
static_assert(sizeof(FdMsg) == 32);
constexpr uint32_t kFdMsgMagic = 0x55534644;  // "USFD"
enum : uint8_t { kKindEventfd = 1, kKindPipe = 2, kKindAgain = 3 };

TEST_P(SocketScmRightsStress, PassedFdsAreTheirObjectsAndNoneLeak) {
  constexpr int kDirs = 4;     // stream 0→1, 1→0, seqpacket 0→1, 1→0
  constexpr int kWindow = 32;  // messages in flight per direction (bounds in-flight fds)
  constexpr int kQuietMaxMs = 2000;
  std::vector<int> fd(kDirs);
  ASSERT_EQ(sys->socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, &fd[0]), 0) << strerror(errno);
  ASSERT_EQ(sys->socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, &fd[2]), 0)
      << strerror(errno);
  for (int f : fd) {
    ASSERT_EQ(set_timeout_ms(sys, f, SO_SNDTIMEO, kSafetyTimeoutMs), 0) << strerror(errno);
    ASSERT_EQ(set_timeout_ms(sys, f, SO_RCVTIMEO, kSafetyTimeoutMs), 0) << strerror(errno);
  }

  std::vector<std::atomic<int>> in_flight(kDirs);
  std::vector<uint64_t> sent(kDirs), received(kDirs), fds_sent(kDirs), fds_received(kDirs);
  Failures failures;
  const auto load_end = Clock::now() + kLoad;

  auto sender = [&](int d) {
    OnHost on(host_);
    const int out = fd[d];
    std::mt19937_64 rng(uint64_t(d) + 4000);
    for (uint64_t seq = 0;; ++seq) {
      bool last = Clock::now() >= load_end;
      // Wait for room in the window, or (one message in 8, a quiet point) for the receiver to
      // take everything: a receiver that lost a wake-up never gets there.
      const int room = rng() % 8 == 0 ? 1 : kWindow;
      const auto wait_end = Clock::now() + std::chrono::milliseconds(kQuietMaxMs);
      while (in_flight[d].load() >= room && Clock::now() < wait_end)
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      if (in_flight[d].load() >= room) {
        failures.add(fmt("dir %d: %d messages not received after %d ms (a lost wake-up)", d,
                         in_flight[d].load(), kQuietMaxMs));
        last = true;
      }
      FdMsg m = {kFdMsgMagic,
                 last ? 0u : 1u + uint32_t(rng() % 3),
                 seq,
                 {},
                 last ? 1u : 0u,
                 (rng() & 0x3fffffff) + 1};
      int fds[4], mine[8], nmine = 0;  // mine: every fd this sender made, closed after sending
      bool ok = true;
      for (uint32_t i = 0; ok && i < m.nfds; ++i) {
        const uint64_t token = m.token + i;
        const unsigned pick = i > 0 ? unsigned(rng() % 3) : unsigned(rng() % 2);
        if (pick == 2) {
          m.kind[i] = kKindAgain;
          fds[i] = fds[i - 1];
        } else if (pick == 0) {
          m.kind[i] = kKindEventfd;
          fds[i] = sys->eventfd(unsigned(token), EFD_NONBLOCK | EFD_CLOEXEC);
          ok = fds[i] >= 0;
          if (ok) mine[nmine++] = fds[i];
        } else {
          m.kind[i] = kKindPipe;
          int p[2];
          ok = sys->pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0;
          if (ok) {
            fds[i] = mine[nmine++] = p[0];
            ok = sys->write(p[1], &token, sizeof token) == ssize_t(sizeof token);
            sys->close(p[1]);
          }
        }
      }
      if (!ok) {
        failures.add(fmt("making the fds to pass: %s", strerror(errno)));
        m.nfds = 0;
        m.last = 1;
      }
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
      iovec iov = {&m, sizeof m};
      msghdr h{};
      h.msg_iov = &iov;
      h.msg_iovlen = 1;
      if (m.nfds > 0) {
        h.msg_control = control;
        h.msg_controllen = CMSG_SPACE(sizeof(int) * m.nfds);
        cmsghdr* cm = CMSG_FIRSTHDR(&h);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * m.nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * m.nfds);
      }
      in_flight[d]++;
      const ssize_t n = sys->sendmsg(out, &h, MSG_NOSIGNAL);
      for (int i = 0; i < nmine; ++i) sys->close(mine[i]);
      if (n != ssize_t(sizeof m)) {
        failures.add(fmt("dir %d: sendmsg returned %zd: %s", d, n, strerror(errno)));
        return;
      }
      sent[d]++;
      fds_sent[d] += m.nfds;
      if (m.last) return;
    }
  };

  // Checks that fd is object i of message m; reads consume the token.
  auto check_fd = [&](const FdMsg& m, uint32_t i, const int* fds, bool cloexec) {
    const uint64_t token = m.token + i;
    const int f = fds[i];
    if (sys->fcntl(f, F_GETFD) != (cloexec ? FD_CLOEXEC : 0))
      failures.add(fmt("received fd: FD_CLOEXEC %s MSG_CMSG_CLOEXEC",
                       cloexec ? "missing with" : "set without"));
    switch (m.kind[i]) {
      case kKindEventfd: {
        eventfd_t v = 0;
        if (sys->eventfd_read(f, &v) != 0 || v != token)
          failures.add(fmt("eventfd read %llu, want %llu", (unsigned long long)v,
                           (unsigned long long)token));
        if (sys->eventfd_read(f, &v) != -1 || errno != EAGAIN)
          failures.add("eventfd not empty after its token");
        break;
      }
      case kKindPipe: {
        uint64_t v = 0;
        if (sys->read(f, &v, sizeof v) != ssize_t(sizeof v) || v != token)
          failures.add(
              fmt("pipe read %llu, want %llu", (unsigned long long)v, (unsigned long long)token));
        if (sys->read(f, &v, sizeof v) != 0)
          failures.add(
              fmt("pipe: no EOF after the token (a write end survived): %s", strerror(errno)));
        break;
      }
      case kKindAgain: {
        // Another fd number for the object of fd i-1, which was already read empty.
        if (f == fds[i - 1]) failures.add("a second copy arrived as the same fd number");
        if (m.kind[i - 1] == kKindPipe ||
            (i >= 2 && m.kind[i - 1] == kKindAgain && m.kind[i - 2] == kKindPipe)) {
          char ch;
          if (sys->read(f, &ch, 1) != 0) failures.add("second copy of a pipe: not at EOF");
        } else {  // an eventfd: a count written through one fd is read through the other
          eventfd_t v = 0;
          if (sys->eventfd_write(f, 7) != 0 || sys->eventfd_read(fds[i - 1], &v) != 0 || v != 7)
            failures.add(
                fmt("second copy of an eventfd: read %llu, want 7", (unsigned long long)v));
        }
        break;
      }
      default:
        failures.add(fmt("message kind %u", m.kind[i]));
    }
  };

  auto receiver = [&](int d) {
    OnHost on(host_);
    const int in = fd[d ^ 1];
    for (uint64_t seq = 0;; ++seq) {
      const bool cloexec = seq % 2 == 1;
      FdMsg m{};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
      int fds[4] = {-1, -1, -1, -1}, nfds = 0;
      size_t off = 0;
      bool ok = true;
      while (ok && off < sizeof m) {  // a stream may split a message; fds come with byte 0
        iovec iov = {reinterpret_cast<char*>(&m) + off, sizeof m - off};
        msghdr h{};
        h.msg_iov = &iov;
        h.msg_iovlen = 1;
        h.msg_control = control;
        h.msg_controllen = sizeof control;
        const ssize_t n = sys->recvmsg(in, &h, cloexec ? MSG_CMSG_CLOEXEC : 0);
        if (n <= 0) {
          failures.add(
              fmt("dir %d: recvmsg returned %zd: %s", d, n, n == 0 ? "EOF" : strerror(errno)));
          return;
        }
        if (h.msg_flags & (MSG_CTRUNC | MSG_TRUNC))
          failures.add(fmt("recvmsg msg_flags %#x", h.msg_flags));
        for (cmsghdr* cm = CMSG_FIRSTHDR(&h); cm != nullptr; cm = CMSG_NXTHDR(&h, cm)) {
          const int k = int((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
          if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || off != 0 ||
              nfds + k > 4) {
            failures.add(fmt("unexpected cmsg level %d type %d at offset %zu", cm->cmsg_level,
                             cm->cmsg_type, off));
            ok = false;
            break;
          }
          memcpy(fds + nfds, CMSG_DATA(cm), sizeof(int) * size_t(k));
          nfds += k;
        }
        off += size_t(n);
      }
      if (ok && (m.magic != kFdMsgMagic || m.seq != seq || m.nfds != uint32_t(nfds))) {
        failures.add(fmt("dir %d: message seq %llu (want %llu) with %d fds (it says %u)", d,
                         (unsigned long long)m.seq, (unsigned long long)seq, nfds, m.nfds));
        ok = false;
      }
      for (int i = 0; ok && i < nfds; ++i) check_fd(m, uint32_t(i), fds, cloexec);
      for (int i = 0; i < nfds; ++i)
        if (sys->close(fds[i]) != 0) failures.add(fmt("close(received): %s", strerror(errno)));
      received[d]++;
      fds_received[d] += uint64_t(nfds);
      in_flight[d]--;
      if (m.last || !ok) return;
    }
  };

  std::vector<std::thread> threads;
  for (int d = 0; d < kDirs; ++d) threads.emplace_back(receiver, d);
  for (int d = 0; d < kDirs; ++d) threads.emplace_back(sender, d);
  for (auto& t : threads) t.join();

  uint64_t total_fds = 0;
  for (int d = 0; d < kDirs; ++d) {
    EXPECT_EQ(received[d], sent[d]) << "dir " << d;
    EXPECT_EQ(fds_received[d], fds_sent[d]) << "dir " << d;
    total_fds += fds_received[d];
  }
  EXPECT_EQ(failures.count(), 0) << failures.text();
  EXPECT_GT(total_fds, 400u) << "too little traffic to mean anything";
  RecordProperty("fds_passed", std::to_string(total_fds));
  for (int f : fd) EXPECT_EQ(sys->close(f), 0);
  expect_fd_table_as_at_start();
}

INSTANTIATE_TEST_SUITE_P(, SocketScmRightsStress, ::testing::ValuesIn(on_both({{0, ""}})),
                         case_name);

}  // namespace
