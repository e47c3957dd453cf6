// access_ok (arch/x86/include/asm/uaccess_64.h): the only check ustack can make on a user
// pointer besides NULL: the whole range lies below TASK_SIZE_MAX (4-level paging). A range
// past it is a fault (EFAULT); an unmapped page inside it is the caller's undefined behaviour.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/limits.hpp"

namespace ustack {

inline constexpr uintptr_t kTaskSizeMax = (uintptr_t(1) << 47) - kPageSize;

inline bool access_ok(const void* addr, size_t size) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  const uintptr_t sum = a + size;
  return sum >= a && sum <= kTaskSizeMax;
}

}  // namespace ustack
