// ustack-bench: runs every case on ustack and on the host kernel, then prints one table (or JSON)
// with both numbers, their ratio and the speed targets of DESIGN.md §8, then the scaling checks
// (one case against another on the same side).
//
//   ustack-bench [--quick] [--json] [--preload] [--benchmark_* flags of Google Benchmark]
//
//   --quick    short runs (min time 0.05 s per case; `make demo`), and only the table; default
//              0.3 s per case, with Google Benchmark's own lines before the table
//   --json     print the summary as JSON on stdout instead of Google Benchmark's lines and the
//              table
//   --preload  instead: run ustack-bench-libc (the Linux twins, built against libc alone)
//              natively and under ustack-run, both found next to ustack-bench or one directory
//              up, and print native, preloaded and their ratio (preload.cc); --quick, --json, the
//              filter, min time and repetitions apply
// ratio: for times, linux time / ustack time; for throughput, ustack MB/s / linux MB/s. Either
// way, > 1 means ustack is faster.
// A side that lacks what a case needs (socketpair: EAFNOSUPPORT...) shows "n/a" and does not
// count as an error; any other failure shows "ERROR" and makes the exit status 1. A case with no
// Linux twin (the simulation's SimTaskSwitches*: task switches per second, kRate) shows "-" for
// linux and ratio, as a side that did not run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "cases.hpp"
#include "preload.hpp"
#include "report.hpp"

using namespace ustack_bench;

namespace {

// Scaling checks, within one side: time of case `num` / time of case `den`, printed under the
// table. The target applies to ustack; Linux's quotient is shown for reference.
struct ScaleCheck {
  const char* text;
  const char* num;
  const char* den;
  double max;  // target: ustack quotient <= max
};

constexpr ScaleCheck kChecks[] = {
    {"epoll_wait 1 ready of 100000 vs of 10", "EpollWait1Of100000", "EpollWait1Of10", 1.2},
};

double to_ns(double t, benchmark::TimeUnit u) {
  switch (u) {
    case benchmark::kNanosecond: return t;
    case benchmark::kMicrosecond: return t * 1e3;
    case benchmark::kMillisecond: return t * 1e6;
    case benchmark::kSecond: return t * 1e9;
  }
  return t;
}

// Collects every run by name; echoes Google Benchmark's usual console lines unless quiet.
class Collector : public benchmark::ConsoleReporter {
 public:
  Collector(bool echo, bool color)
      : ConsoleReporter(color ? OO_ColorTabular : OO_Tabular), echo_(echo) {}

  bool ReportContext(const Context& context) override {
    return echo_ ? ConsoleReporter::ReportContext(context) : true;
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;  // aggregates: we take our own median
      Side& s = sides_[r.run_name.function_name];
      if (r.error_occurred) {
        s.error = r.error_message;
        continue;
      }
      s.ns.push_back(to_ns(r.GetAdjustedRealTime(), r.time_unit));
      auto it = r.counters.find("bytes_per_second");
      if (it != r.counters.end()) s.bps.push_back(it->second.value);
      it = r.counters.find("items_per_second");
      if (it != r.counters.end()) s.ips.push_back(it->second.value);
    }
    if (echo_) ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    if (echo_) ConsoleReporter::Finalize();
  }

  const Side* side(const std::string& name) const {
    auto it = sides_.find(name);
    return it == sides_.end() ? nullptr : &it->second;
  }

 private:
  bool echo_;
  std::map<std::string, Side> sides_;
};

struct Row {
  const CaseInfo* info;
  const Side* us = nullptr;  // ustack
  const Side* lx = nullptr;  // linux
  double us_val = NAN, lx_val = NAN;  // ns per iteration, MB/s for throughput, items/s for rate
  double ratio = NAN;                 // > 1: ustack faster
  const char* status = nullptr;       // PASS / MISS / nullptr (no target, or not measured)
};

Row make_row(const CaseInfo& c, const Collector& col) {
  Row r;
  r.info = &c;
  r.us = col.side(std::string("BM_") + c.name + "/ustack");
  r.lx = col.side(std::string("BM_") + c.name + "/linux");
  r.us_val = side_value(c.kind, r.us);
  r.lx_val = side_value(c.kind, r.lx);
  if (!std::isnan(r.us_val) && !std::isnan(r.lx_val) && r.us_val > 0 && r.lx_val > 0)
    r.ratio = c.kind == Kind::kTime ? r.lx_val / r.us_val : r.us_val / r.lx_val;
  switch (c.target) {
    case Target::kNone: break;
    case Target::kRatioAtLeast:
      if (!std::isnan(r.ratio)) r.status = r.ratio >= c.value ? "PASS" : "MISS";
      break;
    case Target::kUstackNsAtMost:
      if (!std::isnan(r.us_val)) r.status = r.us_val <= c.value ? "PASS" : "MISS";
      break;
    case Target::kUstackRateAtLeast:
      if (!std::isnan(r.us_val)) r.status = r.us_val >= c.value ? "PASS" : "MISS";
      break;
  }
  return r;
}

struct CheckResult {
  const ScaleCheck* check;
  bool present = false;             // at least one of the two cases ran (not filtered out)
  double us = NAN, lx = NAN;        // quotients, ustack and Linux
  const char* status = nullptr;     // PASS / MISS for ustack; nullptr if not measured
};

CheckResult eval_check(const ScaleCheck& c, const Collector& col) {
  CheckResult r;
  r.check = &c;
  auto ns = [&](const char* name, const char* side, bool& seen) -> double {
    const Side* s = col.side(std::string("BM_") + name + "/" + side);
    if (s) seen = true;
    return s && s->ok() ? median(s->ns) : NAN;
  };
  bool seen = false;
  r.us = ns(c.num, "ustack", seen) / ns(c.den, "ustack", seen);
  r.lx = ns(c.num, "linux", seen) / ns(c.den, "linux", seen);
  r.present = seen;
  if (!std::isnan(r.us)) r.status = r.us <= c.max ? "PASS" : "MISS";
  return r;
}

void print_checks(const std::vector<CheckResult>& checks) {
  bool first = true;
  for (const CheckResult& r : checks) {
    if (!r.present) continue;
    if (first) std::printf("\n");
    first = false;
    char q[32] = "-";
    if (!std::isnan(r.us)) std::snprintf(q, sizeof q, "%.2fx", r.us);
    std::printf("%s (ustack): %s  target <= %.2gx  %s\n", r.check->text, q, r.check->max,
                r.status ? r.status : "n/a");
    std::snprintf(q, sizeof q, "-");
    if (!std::isnan(r.lx)) std::snprintf(q, sizeof q, "%.2fx", r.lx);
    std::printf("%s (linux):  %s  (reference)\n", r.check->text, q);
  }
}

void print_table(const std::vector<Row>& rows, const std::vector<CheckResult>& checks,
                 double min_time) {
  std::printf("\nustack vs Linux (median real time per iteration; min time %.2g s per case)\n",
              min_time);
  std::printf("ratio: linux time / ustack time, or ustack MB/s / linux MB/s: > 1 means ustack faster\n");
  if (std::any_of(rows.begin(), rows.end(),
                  [](const Row& r) { return r.us && r.info->kind == Kind::kRate; }))
    std::printf("M/s: task switches per second in a simulated world (ustack only)\n");
  std::printf("\n");
  std::printf("%-26s %14s %14s %9s   %s\n", "case", "ustack", "linux", "ratio", "target");
  std::printf("%s\n", std::string(26 + 1 + 14 + 1 + 14 + 1 + 9 + 3 + 24, '-').c_str());
  for (const Row& r : rows) {
    if (!r.us && !r.lx) continue;  // filtered out
    char ratio[32] = "-";
    if (!std::isnan(r.ratio)) std::snprintf(ratio, sizeof ratio, "%.2fx", r.ratio);
    std::string target = r.info->text;
    if (r.info->target != Target::kNone) target += std::string("  ") + (r.status ? r.status : "n/a");
    std::printf("%-26s %14s %14s %9s   %s\n", r.info->name,
                fmt_value(r.info->kind, r.us_val, r.us).c_str(),
                fmt_value(r.info->kind, r.lx_val, r.lx).c_str(), ratio, target.c_str());
  }
  if (std::none_of(rows.begin(), rows.end(), [](const Row& r) { return r.us || r.lx; }))
    std::printf("(no case matched the filter)\n");
  print_checks(checks);
  for (const Row& r : rows) {
    for (auto [s, side] : {std::pair{r.us, "ustack"}, std::pair{r.lx, "linux"}}) {
      if (s && !s->error.empty())
        std::printf("%s: BM_%s/%s: %s\n", s->failed() ? "error" : "n/a", r.info->name, side,
                    s->message().c_str());
    }
  }
}

void print_json(const std::vector<Row>& rows, const std::vector<CheckResult>& checks,
                double min_time) {
  std::printf("{\n  \"min_time_s\": %s,\n", json_num(min_time).c_str());
  std::printf("  \"ratio\": \"linux time / ustack time, or ustack MB/s / linux MB/s; > 1 means ustack faster\",\n");
  std::printf("  \"cases\": [");
  bool first = true;
  for (const Row& r : rows) {
    if (!r.us && !r.lx) continue;
    std::printf("%s\n    {\"case\": %s, \"unit\": %s, \"ustack\": %s, \"linux\": %s, \"ratio\": %s",
                first ? "" : ",", json_str(r.info->name).c_str(), json_unit(r.info->kind),
                json_num(r.us_val).c_str(), json_num(r.lx_val).c_str(), json_num(r.ratio).c_str());
    first = false;
    if (r.info->target != Target::kNone)
      std::printf(", \"target\": %s, \"status\": %s", json_str(r.info->text).c_str(),
                  r.status ? json_str(r.status).c_str() : "null");
    for (auto [s, side] : {std::pair{r.us, "ustack"}, std::pair{r.lx, "linux"}}) {
      if (s && !s->error.empty())
        std::printf(", \"%s_%s\": %s", side, s->failed() ? "error" : "not_supported",
                    json_str(s->message()).c_str());
    }
    std::printf("}");
  }
  std::printf("\n  ],\n  \"checks\": [");
  first = true;
  for (const CheckResult& r : checks) {
    if (!r.present) continue;
    std::printf("%s\n    {\"check\": %s, \"ustack\": %s, \"linux\": %s, \"target\": %s, "
                "\"status\": %s}",
                first ? "" : ",", json_str(r.check->text).c_str(), json_num(r.us).c_str(),
                json_num(r.lx).c_str(), json_str("ustack <= " + json_num(r.check->max) + "x").c_str(),
                r.status ? json_str(r.status).c_str() : "null");
    first = false;
  }
  std::printf("\n  ]\n}\n");
}

void usage() {
  std::printf(
      "usage: ustack-bench [--quick] [--json] [--preload] [--benchmark_* flags]\n"
      "  --quick    short runs (min time 0.05 s per case)\n"
      "  --json     print the summary as JSON instead of the table\n"
      "  --preload  run ustack-bench-libc (the Linux twins, built against libc only) natively\n"
      "             and under ustack-run, one process per case and side, and print native,\n"
      "             preloaded and their ratio (native time / preloaded time, or preloaded MB/s /\n"
      "             native MB/s); both tools are looked for next to ustack-bench, then one\n"
      "             directory up; exits 1 if either is missing\n"
      "Google Benchmark's flags (e.g. --benchmark_filter=PingPong, --benchmark_repetitions=5)\n"
      "pass through; cases are named BM_<Case>/ustack and BM_<Case>/linux. With --preload,\n"
      "only the filter, min time and repetitions apply.\n\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, json = false, preload = false, help = false;
  double min_time = 0.3;
  std::vector<std::string> pass;  // arguments for Google Benchmark
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!std::strcmp(a, "--quick")) {
      quick = true;
    } else if (!std::strcmp(a, "--json")) {
      json = true;
    } else if (!std::strcmp(a, "--preload")) {
      preload = true;
    } else {
      if (!std::strcmp(a, "--help") || !std::strcmp(a, "-h")) help = true;
      if (!std::strncmp(a, "--benchmark_min_time=", 21)) min_time = std::atof(a + 21);
      pass.emplace_back(a);
    }
  }
  if (help) usage();
  bool user_min_time = false;
  for (const std::string& a : pass) user_min_time |= a.rfind("--benchmark_min_time=", 0) == 0;
  if (!user_min_time) {
    if (quick) min_time = 0.05;
    pass.insert(pass.begin(), "--benchmark_min_time=" + std::to_string(min_time));
  }

  std::vector<char*> args;
  args.push_back(argv[0]);
  for (std::string& a : pass) args.push_back(a.data());
  args.push_back(nullptr);
  int n = int(args.size()) - 1;
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  // Google Benchmark has checked the flags; the cases run in other processes.
  if (preload) return run_preload(PreloadOptions{pass, min_time, json});

  ustack_bench::register_cases();
  // --benchmark_color: auto (colour on a terminal), or yes/true/1, or no/false/0.
  bool color = isatty(STDOUT_FILENO);
  for (const std::string& a : pass)
    if (a.rfind("--benchmark_color=", 0) == 0) {
      const std::string v = a.substr(18);
      if (v == "yes" || v == "true" || v == "1") color = true;
      if (v == "no" || v == "false" || v == "0") color = false;
    }
  if (quick && !json) std::printf("running every case on ustack and on Linux (about 15 s)...\n");
  Collector collector(/*echo=*/!json && !quick, color);
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::Shutdown();

  std::vector<Row> rows;
  bool errors = false;
  for (const CaseInfo& c : kCases) {
    rows.push_back(make_row(c, collector));
    const Row& r = rows.back();
    errors |= (r.us && r.us->failed()) || (r.lx && r.lx->failed());
  }
  std::vector<CheckResult> checks;
  for (const ScaleCheck& c : kChecks) checks.push_back(eval_check(c, collector));
  if (json) {
    print_json(rows, checks, min_time);
  } else {
    print_table(rows, checks, min_time);
  }
  std::fflush(stdout);
  return errors ? 1 : 0;
}
