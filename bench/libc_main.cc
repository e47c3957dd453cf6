// ustack-bench-libc: the Linux twins of ustack-bench's cases (cases.cc built with
// USTACK_BENCH_LIBC_ONLY) in a binary that calls libc alone. Run natively it measures the kernel;
// run under ustack-run, the preload routes the very same calls to ustack. `ustack-bench --preload`
// runs it both ways and prints the two side by side; run by hand, it is a plain Google Benchmark
// binary (its flags, its console or JSON output).
#include <benchmark/benchmark.h>

#include "cases.hpp"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ustack_bench::register_cases();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
