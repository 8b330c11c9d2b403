// GPU test helpers: run one op as a CUDA engine (the real path: builder with the CUDA target,
// host/device placement, engine load, execution context) and compare it with the CPU reference.
// Without a GPU every GPU test skips, saying why (KILN_REQUIRE_GPU).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "op_test_util.h"

namespace kiln::testing {

bool gpuAvailable();
std::string gpuSkipReason();

#define KILN_REQUIRE_GPU() \
  do {                                                                                    \
    if (!::kiln::testing::gpuAvailable()) GTEST_SKIP() << ::kiln::testing::gpuSkipReason(); \
  } while (0)

struct GpuRunOptions {
  std::string tactic;  // force this CUDA tactic for the op ("" = the builder's choice, timed)
  bool fp16 = false;   // build with --fp16 (precision lowering); kernel tests usually pass fp16 inputs instead
  bool tf32 = false;   // off in tests so fp32 results match the CPU closely
  bool useCudaGraph = true;
  int runs = 2;        // run the context this many times (checks replay gives the same result)
  bool bitExact = false;  // compare float outputs bit for bit too (ops that only move values; NaNs compare)
};

// Runs spec on the GPU; outputs come back in host memory.
Result<std::vector<Tensor>> runOpCuda(const OpSpec& spec, const GpuRunOptions& opts = {});

// Every registered CUDA tactic of `op` (for tests that check each implementation).
std::vector<std::string> cudaTacticsFor(const std::string& op, const std::string& domain = "");

// Why this build or device cannot run `tactic` of `op`, a Hopper-only CUTLASS tactic ("" when it
// can): not registered (built without CUTLASS's headers) or device 0 not compute capability 9.0.
std::string hopperTacticSkipReason(const std::string& op, const std::string& domain, const std::string& tactic);

// Skips the test, saying why, unless a GPU is present and it can run the Hopper-only `tactic`.
#define KILN_REQUIRE_HOPPER_TACTIC(op, domain, tactic)                                       \
  do {                                                                                       \
    KILN_REQUIRE_GPU();                                                                      \
    const std::string why_ = ::kiln::testing::hopperTacticSkipReason(op, domain, tactic);    \
    if (!why_.empty()) GTEST_SKIP() << why_;                                                 \
  } while (0)

// Element-wise conversions for tests that feed fp16 kernels fp16-representable float32 values.
Tensor toFloat16(const Tensor& x);
Tensor toFloat32(const Tensor& x);
// x's values rounded to t (float16 or bfloat16), kept in float32.
Tensor roundTo(const Tensor& x, DType t);

// Runs spec with every variant of `tactic` ("tactic:0", ":1", ...) up to the first index the
// tactic refuses as a variant that does not exist; `check(v, outputs)` sees each run. A variant
// that fails for any other reason is a test failure. Returns how many ran.
int forEachVariant(const OpSpec& spec, const std::string& tactic,
                   const std::function<void(int, const std::vector<Tensor>&)>& check, int limit = 40);

// Runs spec on the CPU reference and on the GPU (each CUDA tactic of the op, or opts.tactic) and
// expects relative L2 <= tol (floats) or exact equality (integers/bool). Reports which tactic
// failed.
void expectGpuMatchesCpu(const OpSpec& spec, double tol = 1e-5, GpuRunOptions opts = {});

}  // namespace kiln::testing
