// Always-on assertions and small compiler helpers (include/linux/compiler.h, bug.h).
//
// USTACK_ASSERT checks an internal invariant in every build, NDEBUG or not: a broken invariant
// is a ustack bug and stops the process with the expression and its place. Never assert on user
// arguments or on packet contents: those are errors (negative errno) or counted drops.
#pragma once

namespace ustack {
[[noreturn]] void panic(const char* file, int line, const char* what);
}  // namespace ustack

#define USTACK_LIKELY(x) __builtin_expect(!!(x), 1)
#define USTACK_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define USTACK_ASSERT(expr)                                                 \
  do {                                                                      \
    if (USTACK_UNLIKELY(!(expr))) ::ustack::panic(__FILE__, __LINE__, #expr); \
  } while (0)

// container_of for intrusive members: the object that holds `member` at `ptr`.
#define USTACK_CONTAINER_OF(ptr, type, member)                                   \
  (reinterpret_cast<type*>(reinterpret_cast<char*>(ptr) - offsetof(type, member)))
