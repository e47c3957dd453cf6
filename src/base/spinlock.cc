// The per-thread count of held SpinLocks (spinlock.hpp).
#include "base/spinlock.hpp"

namespace ustack {

__thread unsigned tls_spin_depth __attribute__((tls_model("initial-exec"))) = 0;

}  // namespace ustack
