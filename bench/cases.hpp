// ustack-bench: registers every case twice, as BM_<Case>/ustack and BM_<Case>/linux, except the
// ustack-only ones (the simulation's SimTaskSwitches*), which have no /linux twin. In
// ustack-bench-libc (built with USTACK_BENCH_LIBC_ONLY), only the /linux ones.
#pragma once

namespace ustack_bench {
void register_cases();

// Starts the error message of a case that cannot run on one side because that side lacks what it
// needs (socketpair: EAFNOSUPPORT...), as opposed to one that failed. Google Benchmark 1.7 carries
// only a message with a skipped run, so the distinction travels in it; main.cc shows such a side
// as "n/a" and does not count it as an error.
inline constexpr char kNotSupported[] = "not supported: ";
}  // namespace ustack_bench
