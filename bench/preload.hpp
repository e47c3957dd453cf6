// ustack-bench --preload: the Linux twins built against libc alone (ustack-bench-libc), run
// natively and under ustack-run, side by side: what an unmodified program gains from the preload.
#pragma once

#include <string>
#include <vector>

namespace ustack_bench {

struct PreloadOptions {
  // Google Benchmark's flags as ustack-bench got them, with --benchmark_min_time always present.
  std::vector<std::string> flags;
  double min_time_s = 0;
  bool json = false;  // the summary as JSON instead of the table
};

// Runs every case of ustack-bench-libc that the filter selects, natively and then under
// ustack-run, each in a process of its own, and prints the table (or JSON). Returns the exit
// status: 0, or 1 if a tool is missing or a case failed on either side.
int run_preload(const PreloadOptions& opt);

}  // namespace ustack_bench
