// Pooling on the GPU against the CPU reference: MaxPool (Indices, storage_order, dilations,
// ceil_mode, auto_pad), AveragePool (count_include_pad), LpPool, 1-D/2-D/3-D windows, the global
// pools, and the channels-last kiln:Nhwc* forms (ResNet-50's 3x3/2 max pool and global average).
#include <gtest/gtest.h>

#include "reduce_test_util.h"

namespace kiln::testing {
namespace {

using namespace rn_test;

struct PoolCase {
  Dims x;
  Ints kernel, strides, pads, dilations;
  int64_t ceil = 0;
  std::string autoPad = "NOTSET";
};

AttrMap poolAttrs(const PoolCase& c) {
  AttrMap a;
  a.set("kernel_shape", c.kernel);
  if (!c.strides.empty()) a.set("strides", c.strides);
  if (!c.pads.empty()) a.set("pads", c.pads);
  a.set("ceil_mode", c.ceil);
  a.set("auto_pad", c.autoPad);
  return a;
}

std::vector<PoolCase> cases() {
  return {
      {{2, 16, 17, 17}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}},
      {{1, 8, 56, 56}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}},
      {{2, 3, 9, 11}, {2, 3}, {1, 2}, {0, 1, 1, 0}, {}},
      {{2, 3, 10, 10}, {3, 3}, {2, 2}, {0, 0, 0, 0}, {}, 1},
      {{1, 5, 13, 8}, {3, 2}, {2, 1}, {}, {}, 0, "SAME_UPPER"},
      {{1, 5, 13, 8}, {3, 2}, {2, 3}, {}, {}, 0, "SAME_LOWER"},
      {{1, 4, 12, 12}, {3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}},
      {{3, 2, 33}, {4}, {3}, {1, 2}, {}},
      {{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {1, 0, 1, 0, 1, 1}, {}},
  };
}

TEST(PoolPool, MaxPool) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1;
  for (const PoolCase& c : cases()) {
    AttrMap a = poolAttrs(c);
    if (!c.dilations.empty()) a.set("dilations", c.dilations);
    SCOPED_TRACE(c.x.toString());
    expectGpuMatchesCpu(spec("MaxPool", a, {rnd(DType::kFloat32, c.x, seed++)}), 0.0);
    // With Indices, both storage orders.
    for (int64_t order : {0, 1}) {
      AttrMap ai = a;
      ai.set("storage_order", order);
      expectGpuMatchesCpu(spec("MaxPool", ai, {rnd(DType::kFloat32, c.x, seed++)}, {}, 2), 0.0);
    }
  }
}

TEST(PoolPool, MaxPoolTypes) {
  KILN_REQUIRE_GPU();
  PoolCase c = cases()[0];
  uint32_t seed = 50;
  for (DType t : {DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8, DType::kUInt8}) {
    SCOPED_TRACE(tn(t));
    expectGpuMatchesCpu(spec("MaxPool", poolAttrs(c), {rnd(t, c.x, seed++)}), 0.0);
  }
}

TEST(PoolPool, AverageAndLpPool) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 100;
  for (const PoolCase& c : cases()) {
    SCOPED_TRACE(c.x.toString());
    for (int64_t inc : {0, 1}) {
      AttrMap a = poolAttrs(c);
      if (!c.dilations.empty()) a.set("dilations", c.dilations);
      a.set("count_include_pad", inc);
      expectGpuMatchesCpu(spec("AveragePool", a, {rnd(DType::kFloat32, c.x, seed++)}), 1e-5);
    }
    for (int64_t p : {1, 2, 3}) {
      AttrMap a = poolAttrs(c);
      a.set("p", p);
      expectGpuMatchesCpu(spec("LpPool", a, {rnd(DType::kFloat32, c.x, seed++)}), 1e-5);
    }
  }
  for (DType t : {DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    AttrMap a = poolAttrs(cases()[1]);
    expectGpuMatchesCpu(spec("AveragePool", a, {rnd(t, cases()[1].x, seed++)}), tolFor(t, 1e-5));
  }
}

TEST(PoolPool, GlobalPools) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 200;
  for (const Dims& d : std::vector<Dims>{{2, 2048, 7, 7}, {1, 3, 5}, {2, 4, 100, 100}, {1, 2, 3, 4, 5}, {3, 5, 1, 1}})
    for (DType t : floatTypes()) {
      SCOPED_TRACE(d.toString() + " " + tn(t));
      expectGpuMatchesCpu(spec("GlobalAveragePool", {}, {rnd(t, d, seed++)}), tolFor(t));
      expectGpuMatchesCpu(spec("GlobalMaxPool", {}, {rnd(t, d, seed++)}), 0.0);
      expectGpuMatchesCpu(spec("GlobalLpPool", attrs({{"p", int64_t{2}}}), {rnd(t, d, seed++)}), tolFor(t));
    }
  expectGpuMatchesCpu(spec("GlobalLpPool", attrs({{"p", int64_t{3}}}), {rnd(DType::kFloat32, {2, 3, 9, 9}, 7)}), 1e-5);
}

// Channels-last forms: X is [N, spatial..., C].
TEST(PoolPool, NhwcPools) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 300;
  const std::vector<std::pair<Dims, PoolCase>> nhwc = {
      {{1, 56, 56, 64}, {{}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}}},  // ResNet-50 stem pool
      {{2, 17, 17, 3}, {{}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}}},   // C not a multiple of the vector
      {{2, 9, 11, 24}, {{}, {2, 3}, {1, 2}, {0, 1, 1, 0}, {}}},
      {{1, 10, 10, 8}, {{}, {3, 3}, {2, 2}, {0, 0, 0, 0}, {}, 1}},
  };
  for (const auto& [xd, c] : nhwc)
    for (DType t : floatTypes()) {
      SCOPED_TRACE(xd.toString() + " " + tn(t));
      expectGpuMatchesCpu(spec("NhwcMaxPool", poolAttrs(c), {rnd(t, xd, seed++)}, {}, 1, "kiln"), 0.0);
      for (int64_t inc : {0, 1}) {
        AttrMap a = poolAttrs(c);
        a.set("count_include_pad", inc);
        expectGpuMatchesCpu(spec("NhwcAveragePool", a, {rnd(t, xd, seed++)}, {}, 1, "kiln"), tolFor(t));
      }
    }
  for (const Dims& d : std::vector<Dims>{{2, 7, 7, 2048}, {1, 3, 3, 5}, {2, 50, 50, 6}, {3, 1, 1, 8}})
    for (DType t : floatTypes()) {
      SCOPED_TRACE(d.toString() + " " + tn(t));
      expectGpuMatchesCpu(spec("NhwcGlobalAveragePool", {}, {rnd(t, d, seed++)}, {}, 1, "kiln"), tolFor(t));
    }
}

}  // namespace
}  // namespace kiln::testing
