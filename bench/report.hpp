// ustack-bench: what its two reports share (main.cc: ustack against Linux in one process;
// preload.cc: ustack-bench-libc natively against under ustack-run): the case table with its
// targets, the runs of one side of a case, and how a value is printed in the table and in JSON.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cases.hpp"

namespace ustack_bench {

// kRate: items per second (the case calls SetItemsProcessed), e.g. the simulation's task switches.
enum class Kind { kTime, kThroughput, kRate };
enum class Target { kNone, kRatioAtLeast, kUstackNsAtMost, kUstackRateAtLeast };

// One case, and the target of DESIGN.md §8 for ustack against Linux (main.cc's table).
struct CaseInfo {
  const char* name;
  Kind kind;
  Target target;
  double value;
  const char* text;
};

inline constexpr CaseInfo kCases[] = {
    {"EventfdWritePollRead", Kind::kTime, Target::kRatioAtLeast, 10, "ratio >= 10x"},
    {"Poll10OneReady", Kind::kTime, Target::kNone, 0, ""},
    {"Poll1000OneReady", Kind::kTime, Target::kRatioAtLeast, 5, "ratio >= 5x"},
    {"PipeThroughput64K", Kind::kThroughput, Target::kNone, 0, ""},
    {"EventfdPingPong", Kind::kTime, Target::kRatioAtLeast, 1.0, "ratio >= 1.0x"},
    {"EventfdPingPongBusyPoll", Kind::kTime, Target::kUstackNsAtMost, 1000, "ustack <= 1 us/rt"},
    {"EpollEventfdCycle", Kind::kTime, Target::kRatioAtLeast, 20, "ratio >= 20x"},
    {"EpollWait1Of10", Kind::kTime, Target::kNone, 0, ""},
    {"EpollWait1Of100000", Kind::kTime, Target::kNone, 0, "(see below)"},
    {"EpollCtlAddDel", Kind::kTime, Target::kRatioAtLeast, 5, "ratio >= 5x"},
    {"EpollPingPong", Kind::kTime, Target::kRatioAtLeast, 1.0, "ratio >= 1.0x"},
    {"EpollPingPongBusyPoll", Kind::kTime, Target::kUstackNsAtMost, 1000, "ustack <= 1 us/rt"},
    {"SocketpairWriteRead64", Kind::kTime, Target::kRatioAtLeast, 10, "ratio >= 10x"},
    {"UnixPingPong", Kind::kTime, Target::kRatioAtLeast, 1.0, "ratio >= 1.0x"},
    {"UnixPingPongBusyPoll", Kind::kTime, Target::kUstackNsAtMost, 1000, "ustack <= 1 us/rt"},
    {"UnixStreamThroughput64K", Kind::kThroughput, Target::kRatioAtLeast, 1.5, "ratio >= 1.5x"},
    // ustack only (the simulation has no Linux twin): linux and ratio show "-".
    {"SimTaskSwitches", Kind::kRate, Target::kUstackRateAtLeast, 5e6, "switches/s >= 5M"},
    {"SimTaskSwitchesEventfd", Kind::kRate, Target::kNone, 0, ""},
};

// All runs of one benchmark (several with --benchmark_repetitions); we report the median.
struct Side {
  std::vector<double> ns;   // real time per iteration
  std::vector<double> bps;  // bytes per second, when the case sets it
  std::vector<double> ips;  // items per second, when the case sets it
  std::string error;
  bool present() const { return !ns.empty() || !error.empty(); }
  bool ok() const { return !ns.empty() && error.empty(); }
  // The side lacks what the case needs (cases.hpp): shown as n/a, not counted as an error.
  bool not_supported() const { return error.rfind(kNotSupported, 0) == 0; }
  bool failed() const { return !error.empty() && !not_supported(); }
  // The error message, without the not-supported mark.
  std::string message() const {
    return not_supported() ? error.substr(sizeof kNotSupported - 1) : error;
  }
};

inline double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The side's value in the table's unit: ns per iteration, MB/s for throughput, items/s for rate;
// NaN if it did not run or failed.
inline double side_value(Kind kind, const Side* s) {
  if (!s || !s->ok()) return NAN;
  switch (kind) {
    case Kind::kTime: return median(s->ns);
    case Kind::kThroughput: return median(s->bps) / 1e6;
    case Kind::kRate: return median(s->ips);
  }
  return NAN;
}

inline std::string fmt_value(Kind kind, double v, const Side* s) {
  char buf[64];
  if (s && s->not_supported()) return "n/a";
  if (s && s->failed()) return "ERROR";
  if (std::isnan(v)) return "-";
  if (kind == Kind::kThroughput)
    std::snprintf(buf, sizeof buf, "%.0f MB/s", v);
  else if (kind == Kind::kRate)
    std::snprintf(buf, sizeof buf, "%.2f M/s", v / 1e6);
  else if (v < 1e3)
    std::snprintf(buf, sizeof buf, "%.1f ns", v);
  else if (v < 1e6)
    std::snprintf(buf, sizeof buf, "%.2f us", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f ms", v / 1e6);
  return buf;
}

inline const char* json_unit(Kind kind) {
  switch (kind) {
    case Kind::kTime: return "\"ns\"";
    case Kind::kThroughput: return "\"MB/s\"";
    case Kind::kRate: return "\"switches/s\"";
  }
  return "null";
}

inline std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

inline std::string json_num(double v) {
  if (std::isnan(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace ustack_bench
