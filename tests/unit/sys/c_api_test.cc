// The C ABI, exercised from a C translation unit (c_api_smoke.c).
#include <gtest/gtest.h>

extern "C" int ustack_c_api_smoke(void);

TEST(CApi, CallsFromCReachUstackWithLinuxErrnos) {
  // Each non-zero value names the step that failed (see c_api_smoke.c).
  EXPECT_EQ(ustack_c_api_smoke(), 0);
}
