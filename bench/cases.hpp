// ustack-bench: registers every case twice, as BM_<Case>/ustack and BM_<Case>/linux.
#pragma once

namespace ustack_bench {
void register_cases();
}  // namespace ustack_bench
