// envFlag: how every KILN_* boolean switch in the environment is read.
#include "core/env_flag.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace kiln {
namespace {

constexpr const char* kName = "KILN_TEST_ENV_FLAG";

TEST(EnvFlag, UnsetOrEmptyGivesTheDefault) {
  unsetenv(kName);
  EXPECT_TRUE(envFlag(kName, true));
  EXPECT_FALSE(envFlag(kName, false));
  setenv(kName, "", 1);
  EXPECT_TRUE(envFlag(kName, true));
  EXPECT_FALSE(envFlag(kName, false));
  unsetenv(kName);
}

TEST(EnvFlag, ZeroFalseAndOffAreFalseAnythingElseTrue) {
  for (const char* off : {"0", "false", "off"}) {
    setenv(kName, off, 1);
    EXPECT_FALSE(envFlag(kName, true)) << off;
  }
  for (const char* on : {"1", "true", "on", "yes", "2"}) {
    setenv(kName, on, 1);
    EXPECT_TRUE(envFlag(kName, false)) << on;
  }
  unsetenv(kName);
}

}  // namespace
}  // namespace kiln
