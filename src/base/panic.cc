// The one place a broken invariant ends the process.
#include "base/compiler.hpp"

#include <cstdio>
#include <cstdlib>

namespace ustack {

void panic(const char* file, int line, const char* what) {
  std::fprintf(stderr, "ustack: assertion failed at %s:%d: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace ustack
