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

// smp_mb(): a full memory barrier. A locked add on the stack is as strong as mfence for
// ordinary memory and cheaper; written in asm because ThreadSanitizer does not model
// std::atomic_thread_fence (and GCC rejects it under -fsanitize=thread). Every use pairs with
// seq_cst atomics on the other side, which TSan does see.
namespace ustack {
inline void smp_mb() { __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc"); }
}  // namespace ustack

// container_of for intrusive members: the object that holds `member` at `ptr`.
#define USTACK_CONTAINER_OF(ptr, type, member)                                   \
  (reinterpret_cast<type*>(reinterpret_cast<char*>(ptr) - offsetof(type, member)))
