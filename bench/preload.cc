// ustack-bench --preload: runs ustack-bench-libc (the Linux twins, built against libc alone)
// natively and under ustack-run, one process per case and side, reads Google Benchmark's JSON from
// each, and prints native time, preloaded time and their ratio.
//
// One process per case and side, not one per side: a case that hangs or crashes under the preload
// costs that case only (the process is killed after a bound, and the others still run), and each
// case starts from a fresh fd table, as in ustack-bench where each case has a host of its own.
#include "preload.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "report.hpp"

extern char** environ;

namespace ustack_bench {
namespace {

constexpr char kLibcBench[] = "ustack-bench-libc";
constexpr char kUstackRun[] = "ustack-run";

// The target for the preloaded binary: the same-thread eventfd write → epoll_wait → read
// cycle at least 10x faster under ustack-run than natively.
struct PreloadTarget {
  const char* name;
  double min_ratio;
  const char* text;
};
constexpr PreloadTarget kPreloadTargets[] = {
    {"EpollEventfdCycle", 10, "ratio >= 10x"},
};

// Flags passed on to each case's process. The filter is not among them: ustack-bench applies it
// (it picks the cases), and each process gets the filter of its one case.
constexpr const char* kForwardedFlags[] = {"--benchmark_min_time=", "--benchmark_repetitions="};
constexpr char kFilterFlag[] = "--benchmark_filter=";
constexpr char kRepetitionsFlag[] = "--benchmark_repetitions=";

// The bound of one process (one case on one side). A cross-thread case's watchdog ends a stalled
// case within 15 s (Watchdog::kStall + kHardExit); the base also covers the setup of the biggest
// case (EpollWait1Of100000 adds 100,000 items per run) and what no watchdog sees: a single-thread
// case that blocks, a process that hangs in its exit.
constexpr std::chrono::seconds kChildTimeoutBase{60};
// Plus this many times min time per repetition: Google Benchmark grows the iteration count until
// a run lasts min time, so one repetition takes a few min times.
constexpr double kChildTimeoutPerMinTime = 10;
// A case prints a few KiB of JSON; more than this is not Google Benchmark's output.
constexpr size_t kChildOutputMax = 16 << 20;
// How often a process that closed its stdout is checked for having exited.
constexpr std::chrono::milliseconds kReapInterval{10};
// Nesting bound of the JSON reader (Google Benchmark's output nests four levels deep).
constexpr int kJsonDepthMax = 64;

// --- a JSON reader, enough for Google Benchmark's output ---

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<std::string> keys;  // object: keys[i] names items[i]
  std::vector<Json> items;        // array elements, or object values

  const Json* get(std::string_view key) const {
    if (type != Type::kObject) return nullptr;
    for (size_t i = 0; i < keys.size(); i++)
      if (keys[i] == key) return &items[i];
    return nullptr;
  }
  std::optional<double> num(std::string_view key) const {
    const Json* v = get(key);
    if (!v || v->type != Type::kNumber) return std::nullopt;
    return v->number;
  }
  std::string str(std::string_view key) const {
    const Json* v = get(key);
    return v && v->type == Type::kString ? v->string : std::string();
  }
  bool flag(std::string_view key) const {
    const Json* v = get(key);
    return v && v->type == Type::kBool && v->boolean;
  }
};

// Recursive descent over RFC 8259, plus the NaN, Infinity and -Infinity that Google Benchmark
// writes for a counter without a finite value.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : s_(text) {}

  // The one value at the start of the text (what follows it is ignored); nullopt if malformed.
  std::optional<Json> read() {
    Json v;
    if (!value(v, 0)) return std::nullopt;
    return v;
  }

 private:
  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      pos_++;
  }
  bool take(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      pos_++;
      return true;
    }
    return false;
  }
  bool take_word(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  bool value(Json& v, int depth) {
    if (depth > kJsonDepthMax) return false;
    skip_space();
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v.type = Json::Type::kString;
      return string(v.string);
    }
    if (take_word("true") || take_word("false")) {
      v.type = Json::Type::kBool;
      v.boolean = c == 't';
      return true;
    }
    if (take_word("null")) return true;
    return number(v);
  }

  bool object(Json& v, int depth) {
    v.type = Json::Type::kObject;
    pos_++;  // '{'
    if (take('}')) return true;
    do {
      skip_space();
      std::string key;
      if (pos_ >= s_.size() || s_[pos_] != '"' || !string(key) || !take(':')) return false;
      v.keys.push_back(std::move(key));
      v.items.emplace_back();
      if (!value(v.items.back(), depth + 1)) return false;
    } while (take(','));
    return take('}');
  }

  bool array(Json& v, int depth) {
    v.type = Json::Type::kArray;
    pos_++;  // '['
    if (take(']')) return true;
    do {
      v.items.emplace_back();
      if (!value(v.items.back(), depth + 1)) return false;
    } while (take(','));
    return take(']');
  }

  bool string(std::string& out) {
    pos_++;  // '"'
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      static constexpr char kEscaped[] = "\"\\/bfnrt";
      static constexpr char kDecoded[] = "\"\\/\b\f\n\r\t";
      if (e != 'u') {
        const char* at = e ? std::strchr(kEscaped, e) : nullptr;
        if (!at) return false;
        out += kDecoded[at - kEscaped];
        continue;
      }
      if (pos_ + 4 > s_.size()) return false;
      const std::string hex(s_.substr(pos_, 4));
      char* end = nullptr;
      const unsigned long cp = std::strtoul(hex.c_str(), &end, 16);
      if (end != hex.c_str() + 4) return false;
      pos_ += 4;
      // UTF-8 for the basic plane; a surrogate half (never in the names and messages we read)
      // becomes '?'.
      if (cp < 0x80) {
        out += char(cp);
      } else if (cp < 0x800) {
        out += char(0xc0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3f));
      } else if (cp >= 0xd800 && cp <= 0xdfff) {
        out += '?';
      } else {
        out += char(0xe0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
      }
    }
    return false;
  }

  bool number(Json& v) {
    v.type = Json::Type::kNumber;
    const bool negative = pos_ < s_.size() && s_[pos_] == '-';
    const size_t start = pos_;
    if (negative) pos_++;
    if (take_word("NaN")) {
      v.number = NAN;
      return true;
    }
    if (take_word("Infinity")) {
      v.number = negative ? -INFINITY : INFINITY;
      return true;
    }
    pos_ = start;
    size_t end = pos_;
    while (end < s_.size() && std::strchr("0123456789+-.eE", s_[end])) end++;
    if (end == pos_) return false;
    const std::string token(s_.substr(pos_, end - pos_));
    char* parsed = nullptr;
    v.number = std::strtod(token.c_str(), &parsed);
    if (parsed != token.c_str() + token.size()) return false;
    pos_ = end;
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

double unit_to_ns(const std::string& unit) {
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  return 1;  // "ns", the unit every case sets
}

// Adds the runs of Google Benchmark's JSON output (`--benchmark_format=json`) to `sides`, by run
// name. Aggregates (with --benchmark_repetitions) are skipped: we take our own median, as main.cc.
bool collect_runs(const std::string& out, std::map<std::string, Side>& sides) {
  const size_t start = out.find('{');  // anything a launcher printed before is not ours
  if (start == std::string::npos) return false;
  const std::optional<Json> doc = JsonReader(std::string_view(out).substr(start)).read();
  if (!doc) return false;
  const Json* runs = doc->get("benchmarks");
  if (!runs || runs->type != Json::Type::kArray) return false;
  for (const Json& r : runs->items) {
    if (r.str("run_type") != "iteration") continue;
    std::string name = r.str("run_name");
    if (name.empty()) name = r.str("name");
    Side& s = sides[name];
    if (r.flag("error_occurred")) {
      s.error = r.str("error_message");
      continue;
    }
    const std::optional<double> t = r.num("real_time");
    if (!t) continue;
    s.ns.push_back(*t * unit_to_ns(r.str("time_unit")));
    if (const std::optional<double> v = r.num("bytes_per_second")) s.bps.push_back(*v);
    if (const std::optional<double> v = r.num("items_per_second")) s.ips.push_back(*v);
  }
  return true;
}

// --- child processes ---

// The process group of the running child, for the signal handler: an interrupted ustack-bench
// must not leave a case running (each child has a group of its own, so that a timeout also kills
// whatever ustack-run started). A global because a signal handler has no other way in.
std::atomic<pid_t> g_child_group{0};

void on_terminating_signal(int sig) {
  const pid_t group = g_child_group.load();
  if (group > 0) kill(-group, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_terminating_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

struct ChildResult {
  std::string out;      // its standard output
  std::string failure;  // why it did not exit 0 within the bound; empty if it did
};

std::string describe_status(int status) {
  char buf[96];
  if (WIFEXITED(status)) {
    std::snprintf(buf, sizeof buf, "exited with status %d", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    std::snprintf(buf, sizeof buf, "killed by signal %d (%s)", WTERMSIG(status),
                  strsignal(WTERMSIG(status)));
  } else {
    std::snprintf(buf, sizeof buf, "ended with wait status %#x", status);
  }
  return buf;
}

// Runs argv (argv[0] a path) with stdout captured and stderr shared (a watchdog's message reaches
// the terminal), and kills its process group if it has not exited within `bound`. `native`: without
// LD_PRELOAD, so that "native" means the kernel even when ustack-bench itself runs preloaded.
ChildResult run_child(const std::vector<std::string>& argv, bool native,
                      std::chrono::milliseconds bound) {
  ChildResult res;
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e; e++)
    if (!native || std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env.push_back(*e);
  env.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    res.failure = std::string("pipe2: ") + std::strerror(errno);
    return res;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    res.failure = std::string("fork: ") + std::strerror(errno);
    close(out[0]);
    close(out[1]);
    return res;
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(out[1], STDOUT_FILENO);  // the duplicate does not inherit O_CLOEXEC
    execve(args[0], args.data(), env.data());
    static constexpr char kMsg[] = "ustack-bench: execve failed\n";
    [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    _exit(127);
  }
  setpgid(pid, pid);  // as the child does: the group exists before either may need it
  g_child_group.store(pid);
  close(out[1]);

  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + bound;
  bool timed_out = false;
  char buf[16384];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd p = {out[0], POLLIN, 0};
    const int r = poll(&p, 1, int(std::min<long long>(left.count(), INT_MAX)));
    if (r == 0 || (r < 0 && errno == EINTR)) continue;  // the deadline check above ends the loop
    if (r < 0) {
      res.failure = std::string("poll: ") + std::strerror(errno);
      kill(-pid, SIGKILL);
      break;
    }
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of file: the child (and all it started) closed its stdout
    res.out.append(buf, size_t(n));
    if (res.out.size() > kChildOutputMax) {
      res.failure = "printed more than " + std::to_string(kChildOutputMax >> 20) + " MiB";
      kill(-pid, SIGKILL);
      break;
    }
  }
  close(out[0]);

  // Closing stdout is not exiting: a process can still hang in its exit (a destructor, an atexit
  // handler of the preload), so the wait is bounded by the same deadline. The group is killed
  // while the child is still unreaped, so that its id cannot have been reused.
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      res.failure = std::string("waitpid: ") + std::strerror(errno);
      g_child_group.store(0);
      return res;
    }
    if (Clock::now() >= deadline) {
      timed_out = true;
      kill(-pid, SIGKILL);
      continue;
    }
    std::this_thread::sleep_for(kReapInterval);
  }
  g_child_group.store(0);

  if (timed_out) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(bound).count();
    res.failure = "did not finish within " + std::to_string(s) + " s; killed";
  } else if (res.failure.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    res.failure = describe_status(status);
  }
  return res;
}

// --- finding the tools ---

std::string self_dir() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  path[n] = '\0';
  std::string p(path);
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

// Looks for `name` next to ustack-bench, then one directory up: CMake puts ustack-bench and
// ustack-bench-libc in <build>/bench, and ustack-run in <build> itself. Empty if in neither;
// `tried` lists where it looked.
std::string find_tool(const std::string& dir, const char* name, std::string& tried) {
  tried.clear();
  for (const std::string& d : {dir, dir + "/.."}) {
    const std::string path = d + "/" + name;
    if (access(path.c_str(), X_OK) == 0) return path;
    tried += (tried.empty() ? "" : ", ") + path;
  }
  return "";
}

// --- the report ---

struct PreloadRow {
  const CaseInfo* info;
  std::string benchmark;  // Google Benchmark's full name (BM_<Case>/linux/real_time)
  Side native, preloaded;
  double native_val = NAN, preloaded_val = NAN;  // ns per iteration, or MB/s
  double ratio = NAN;                            // > 1: faster under ustack-run
  const PreloadTarget* target = nullptr;
  const char* status = nullptr;  // PASS / MISS / nullptr (no target, or not measured)
};

void finish_row(PreloadRow& r) {
  r.native_val = side_value(r.info->kind, &r.native);
  r.preloaded_val = side_value(r.info->kind, &r.preloaded);
  if (!std::isnan(r.native_val) && !std::isnan(r.preloaded_val) && r.native_val > 0 &&
      r.preloaded_val > 0)
    r.ratio = r.info->kind == Kind::kTime ? r.native_val / r.preloaded_val
                                          : r.preloaded_val / r.native_val;
  for (const PreloadTarget& t : kPreloadTargets)
    if (std::string_view(t.name) == r.info->name) r.target = &t;
  if (r.target && !std::isnan(r.ratio)) r.status = r.ratio >= r.target->min_ratio ? "PASS" : "MISS";
}

// The table's columns, in characters: wide enough for the longest case name and for the headers.
constexpr int kCaseWidth = 26;
constexpr int kValueWidth = 17;
constexpr int kRatioWidth = 9;
constexpr int kTargetWidth = 20;

void print_preload_table(const std::vector<PreloadRow>& rows, double min_time) {
  std::printf("\n%s natively (kernel) and under %s (ustack through LD_PRELOAD)\n", kLibcBench,
              kUstackRun);
  std::printf(
      "(median real time per iteration; min time %.2g s per case; one process per case "
      "and side)\n",
      min_time);
  std::printf(
      "ratio: native time / preloaded time, or preloaded MB/s / native MB/s: > 1 means "
      "faster under ustack-run\n\n");
  std::printf("%-*s %*s %*s %*s   %s\n", kCaseWidth, "case", kValueWidth, "native (kernel)",
              kValueWidth, "under ustack-run", kRatioWidth, "ratio", "target");
  std::printf(
      "%s\n",
      std::string(kCaseWidth + 1 + 2 * (kValueWidth + 1) + kRatioWidth + 3 + kTargetWidth, '-')
          .c_str());
  for (const PreloadRow& r : rows) {
    char ratio[32] = "-";
    if (!std::isnan(r.ratio)) std::snprintf(ratio, sizeof ratio, "%.2fx", r.ratio);
    std::string target;
    if (r.target) target = std::string(r.target->text) + "  " + (r.status ? r.status : "n/a");
    std::printf("%-*s %*s %*s %*s   %s\n", kCaseWidth, r.info->name, kValueWidth,
                fmt_value(r.info->kind, r.native_val, &r.native).c_str(), kValueWidth,
                fmt_value(r.info->kind, r.preloaded_val, &r.preloaded).c_str(), kRatioWidth, ratio,
                target.c_str());
  }
  if (rows.empty()) std::printf("(no case matched the filter)\n");
  for (const PreloadRow& r : rows) {
    for (auto [s, side] :
         {std::pair{&r.native, "natively"}, std::pair{&r.preloaded, "under ustack-run"}}) {
      if (!s->error.empty())
        std::printf("%s: %s %s: %s\n", s->failed() ? "error" : "n/a", r.benchmark.c_str(), side,
                    s->message().c_str());
    }
  }
}

void print_preload_json(const std::vector<PreloadRow>& rows, double min_time) {
  std::printf("{\n  \"min_time_s\": %s,\n", json_num(min_time).c_str());
  std::printf("  \"native\": %s,\n  \"preloaded\": %s,\n", json_str(kLibcBench).c_str(),
              json_str(std::string(kUstackRun) + " -- " + kLibcBench).c_str());
  std::printf(
      "  \"ratio\": \"native time / preloaded time, or preloaded MB/s / native MB/s; > 1 "
      "means faster under ustack-run\",\n");
  std::printf("  \"cases\": [");
  bool first = true;
  for (const PreloadRow& r : rows) {
    std::printf(
        "%s\n    {\"case\": %s, \"unit\": %s, \"native\": %s, \"preloaded\": %s, "
        "\"ratio\": %s",
        first ? "" : ",", json_str(r.info->name).c_str(), json_unit(r.info->kind),
        json_num(r.native_val).c_str(), json_num(r.preloaded_val).c_str(),
        json_num(r.ratio).c_str());
    first = false;
    if (r.target)
      std::printf(", \"target\": %s, \"status\": %s", json_str(r.target->text).c_str(),
                  r.status ? json_str(r.status).c_str() : "null");
    for (auto [s, side] : {std::pair{&r.native, "native"}, std::pair{&r.preloaded, "preloaded"}}) {
      if (!s->error.empty())
        std::printf(", \"%s_%s\": %s", side, s->failed() ? "error" : "not_supported",
                    json_str(s->message()).c_str());
    }
    std::printf("}");
  }
  std::printf("\n  ]\n}\n");
}

}  // namespace

int run_preload(const PreloadOptions& opt) {
  const std::string dir = self_dir();
  std::string tried;
  const std::string bench = find_tool(dir, kLibcBench, tried);
  if (bench.empty()) {
    std::fprintf(stderr,
                 "ustack-bench --preload: %s not found (looked for %s); build the CMake target "
                 "%s\n",
                 kLibcBench, tried.c_str(), kLibcBench);
    return 1;
  }
  const std::string run = find_tool(dir, kUstackRun, tried);
  if (run.empty()) {
    std::fprintf(stderr,
                 "ustack-bench --preload: %s not found (looked for %s); build the CMake targets "
                 "ustack-run and ustack-preload\n",
                 kUstackRun, tried.c_str());
    return 1;
  }

  std::vector<std::string> forwarded;
  std::string filter;  // the user's --benchmark_filter=..., if any (the last one counts)
  int repetitions = 1;
  for (const std::string& f : opt.flags) {
    if (f.rfind(kFilterFlag, 0) == 0) {
      filter = f;
      continue;
    }
    bool pass = false;
    for (const char* prefix : kForwardedFlags) pass |= f.rfind(prefix, 0) == 0;
    if (!pass) {
      std::fprintf(stderr, "ustack-bench --preload: ignoring %s\n", f.c_str());
      continue;
    }
    if (f.rfind(kRepetitionsFlag, 0) == 0)
      repetitions = std::max(1, std::atoi(f.c_str() + sizeof kRepetitionsFlag - 1));
    forwarded.push_back(f);
  }
  const auto bound =
      kChildTimeoutBase + std::chrono::milliseconds(static_cast<long long>(
                              1e3 * kChildTimeoutPerMinTime * opt.min_time_s * repetitions));
  install_signal_handlers();

  // The cases the filter selects, as the binary itself lists them; listed under ustack-run too,
  // so that a ustack-run that cannot start the binary at all is reported once, not per case.
  std::vector<std::string> list_args = {bench, "--benchmark_list_tests=true"};
  if (!filter.empty()) list_args.push_back(filter);
  const ChildResult listed = run_child(list_args, /*native=*/true, bound);
  if (!listed.failure.empty()) {
    std::fprintf(stderr, "ustack-bench --preload: %s --benchmark_list_tests: %s\n", bench.c_str(),
                 listed.failure.c_str());
    return 1;
  }
  std::vector<std::string> preloaded_list_args = {run, "--"};
  preloaded_list_args.insert(preloaded_list_args.end(), list_args.begin(), list_args.end());
  const ChildResult listed_preloaded = run_child(preloaded_list_args, /*native=*/false, bound);
  if (!listed_preloaded.failure.empty()) {
    std::fprintf(stderr, "ustack-bench --preload: %s -- %s --benchmark_list_tests: %s\n",
                 run.c_str(), bench.c_str(), listed_preloaded.failure.c_str());
    return 1;
  }
  // Listed names carry Google Benchmark's suffixes (BM_<Case>/linux/real_time): a case is the
  // listed name that starts with BM_<Case>/linux, then ends or goes on with '/'.
  std::vector<PreloadRow> rows;
  for (const CaseInfo& c : kCases) {
    const std::string prefix = std::string("BM_") + c.name + "/linux";
    for (size_t pos = 0; pos < listed.out.size();) {
      size_t nl = listed.out.find('\n', pos);
      if (nl == std::string::npos) nl = listed.out.size();
      const std::string name = listed.out.substr(pos, nl - pos);
      pos = nl + 1;
      if (name.rfind(prefix, 0) == 0 &&
          (name.size() == prefix.size() || name[prefix.size()] == '/')) {
        rows.push_back(PreloadRow{&c});
        rows.back().benchmark = name;
        break;
      }
    }
  }
  if (!opt.json)
    std::printf("running %zu case%s of %s natively and under %s, one process each...\n",
                rows.size(), rows.size() == 1 ? "" : "s", kLibcBench, kUstackRun);
  std::fflush(stdout);  // before the children write to the same terminal (stderr)

  bool errors = false;
  for (PreloadRow& r : rows) {
    const std::string& bm = r.benchmark;
    std::vector<std::string> args = {bench, "--benchmark_filter=^" + bm + "$",
                                     "--benchmark_format=json"};
    args.insert(args.end(), forwarded.begin(), forwarded.end());
    for (bool native : {true, false}) {
      std::vector<std::string> argv = args;
      if (!native) argv.insert(argv.begin(), {run, "--"});
      const ChildResult res = run_child(argv, native, bound);
      std::map<std::string, Side> sides;
      const bool parsed = collect_runs(res.out, sides);
      Side& s = native ? r.native : r.preloaded;
      if (auto it = sides.find(bm); it != sides.end()) s = it->second;
      // A process that failed fails its case, whatever it printed before; the case's own message,
      // if it left one, says more.
      if (!res.failure.empty())
        s.error = res.failure + (s.error.empty() ? "" : " (the case: " + s.error + ")");
      else if (!parsed)
        s.error = "its output is not Google Benchmark's JSON";
      else if (!s.present())
        s.error = "its output has no run of " + bm;
      errors |= s.failed();
    }
    finish_row(r);
  }

  if (opt.json)
    print_preload_json(rows, opt.min_time_s);
  else
    print_preload_table(rows, opt.min_time_s);
  std::fflush(stdout);
  return errors ? 1 : 0;
}

}  // namespace ustack_bench
