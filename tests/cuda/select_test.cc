// Data-dependent output sizes in CUDA engines: NonZero, Compress, NonMaxSuppression and Unique
// (cuda_select_*) against the CPU reference, each through a one-op engine whose output is sized for
// its bound and fitted after the layer; and a model whose later layers (Transpose, GatherND, Mul)
// run at the size NonZero found, over runs whose counts differ, against the CPU interpreter.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <random>

#include "data_test_util.h"
#include "eltwise_test_util.h"
#include "gpu_test_util.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"

namespace kiln::testing {
namespace {

// Random values with about `zeros` of them exactly zero.
Tensor sparse(DType t, const Dims& d, double zeros, std::mt19937& rng) {
  Tensor x = randomTensor(t, d, rng, 1, 4);  // never zero
  std::bernoulli_distribution z(zeros);
  Tensor zero = Tensor::allocate(t, Dims{});
  std::memset(zero.raw(), 0, zero.nbytes());
  for (int64_t i = 0; i < x.numel(); ++i)
    if (z(rng)) std::memcpy(static_cast<char*>(x.raw()) + i * dtypeSize(t), zero.raw(), dtypeSize(t));
  return x;
}

// data_test::spec with this file's argument order and opset.
OpSpec op(const std::string& name, std::vector<Tensor> in, AttrMap a = {}, int outputs = 1) {
  return data_test::spec(name, std::move(a), std::move(in), {}, outputs, 13);
}

TEST(CudaSelect, NonZeroMatchesCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(3);
  struct Case {
    DType t;
    Dims d;
    double zeros;
  };
  for (const Case& c : {Case{DType::kFloat32, {3, 7, 5}, 0.5}, Case{DType::kFloat32, {1000}, 0.9},
                        Case{DType::kFloat16, {17, 3}, 0.3}, Case{DType::kInt32, {2, 3, 4, 5}, 0.5},
                        Case{DType::kBool, {33}, 0.5}, Case{DType::kFloat32, {4, 4}, 1.0},
                        Case{DType::kFloat32, {4, 4}, 0.0}, Case{DType::kInt64, {}, 0.0},
                        Case{DType::kFloat32, {}, 1.0}}) {
    SCOPED_TRACE(std::string(dtypeName(c.t)) + " " + c.d.toString() + " zeros " + std::to_string(c.zeros));
    expectGpuMatchesCpu(op("NonZero", {sparse(c.t, c.d, c.zeros, rng)}));
  }
}

TEST(CudaSelect, CompressMatchesCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(4);
  auto cond = [&](int64_t n, double keep) {
    Tensor c = Tensor::allocate(DType::kBool, Dims{n});
    std::bernoulli_distribution b(keep);
    for (int64_t i = 0; i < n; ++i) c.data<bool>()[i] = b(rng);
    return c;
  };
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt64, DType::kUInt8}) {
    SCOPED_TRACE(dtypeName(t));
    const Tensor x = randomTensor(t, Dims{5, 6, 7}, rng, -3, 3);
    for (int64_t axis : {0, 1, 2, -1}) {
      AttrMap a;
      a.set("axis", AttrValue(axis));
      const int64_t extent = x.dims()[static_cast<int>(axis < 0 ? axis + 3 : axis)];
      expectGpuMatchesCpu(op("Compress", {x, cond(extent, 0.5)}, a));
      expectGpuMatchesCpu(op("Compress", {x, cond(extent - 2, 0.7)}, a));  // a shorter condition
    }
    expectGpuMatchesCpu(op("Compress", {x, cond(x.numel(), 0.3)}));  // no axis: the flattened input
    expectGpuMatchesCpu(op("Compress", {x, cond(11, 0.0)}));          // nothing selected
  }
  // A condition selecting past the extent is an error that says so.
  Tensor c = Tensor::allocate(DType::kBool, Dims{9});
  for (int i = 0; i < 9; ++i) c.data<bool>()[i] = i == 8;
  AttrMap a;
  a.set("axis", AttrValue(int64_t{0}));
  auto r = runOpCuda(op("Compress", {randomTensor(DType::kFloat32, Dims{5, 2}, rng), c}, a));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().toString().find("selects index 8 of an extent of 5"), std::string::npos) << r.status().toString();
}

// NonMaxSuppression against the CPU reference box for box: overlapping boxes, tied and NaN
// scores, both box formats, with and without a score threshold, and max_output_boxes_per_class of
// 0 (nothing), 1, 5 and more than there are boxes; the scalars as constants and as host inputs.
TEST(CudaSelect, NonMaxSuppressionMatchesCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int64_t center : {0, 1}) {
    for (int64_t maxOut : {0, 1, 5, 1000}) {
      for (bool threshold : {false, true}) {
        SCOPED_TRACE("center " + std::to_string(center) + " max " + std::to_string(maxOut) + " threshold " +
                     std::to_string(threshold));
        const int64_t B = 2, C = 3, N = 57;
        Tensor boxes = Tensor::allocate(DType::kFloat32, Dims{B, N, 4});
        for (int64_t i = 0; i < B * N; ++i) {
          float* b = boxes.data<float>() + i * 4;
          const float x = u(rng) * 10, y = u(rng) * 10, w = 0.5f + u(rng) * 3, h = 0.5f + u(rng) * 3;
          if (center) b[0] = x, b[1] = y, b[2] = w, b[3] = h;
          else b[0] = y, b[1] = x, b[2] = y + h, b[3] = x + w;
        }
        Tensor scores = Tensor::allocate(DType::kFloat32, Dims{B, C, N});
        for (int64_t i = 0; i < scores.numel(); ++i)
          scores.data<float>()[i] = std::round(u(rng) * 20) / 20;  // many ties
        scores.data<float>()[3] = NAN;
        AttrMap a;
        a.set("center_point_box", AttrValue(center));
        OpSpec s = op("NonMaxSuppression", {boxes, scores, Tensor::fromVector<int64_t>({maxOut}, Dims{1}),
                                            Tensor::fromVector<float>({0.3f}, Dims{1}),
                                            Tensor::fromVector<float>({threshold ? 0.4f : -1.0f}, Dims{1})},
                      a);
        // With a score threshold the three scalars are model inputs, as detection models exported
        // from PyTorch give them: the CUDA engine takes them as host inputs.
        s.constInputs = {false, false, !threshold, !threshold, !threshold};
        if (!threshold) {
          s.inputs.pop_back();
          s.constInputs.pop_back();
        }
        s.opset = 11;
        expectGpuMatchesCpu(s);
      }
    }
  }
}

// Values drawn from a few levels (so items repeat), as type t.
Tensor fewLevels(DType t, const Dims& d, int levels, std::mt19937& rng) {
  Tensor f = Tensor::allocate(DType::kFloat32, d);
  std::uniform_int_distribution<int> pick(0, levels - 1);
  const bool signedType = isFloat(t) || t == DType::kInt8 || t == DType::kInt64;
  for (int64_t i = 0; i < f.numel(); ++i) f.data<float>()[i] = static_cast<float>(pick(rng) - (signedType ? levels / 2 : 0));
  return eltwise_test::castTo(f, t);
}

// Unique against the CPU reference, all four outputs: element and slice items (axis 0, 1, -1 of a
// 3-D input whose slices repeat), sorted and in first-occurrence order, NaN and -0 among floats,
// one item, and only Y requested.
TEST(CudaSelect, UniqueMatchesCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(9);
  GpuRunOptions exact;
  exact.bitExact = true;  // Unique only moves values: bit for bit, NaNs and -0 included
  auto check = [&](const OpSpec& s) { expectGpuMatchesCpu(s, 0.0, exact); };
  auto unique = [](const Tensor& x, std::optional<int64_t> axis, int64_t sorted, int outputs = 4) {
    AttrMap a;
    if (axis) a.set("axis", AttrValue(*axis));
    a.set("sorted", AttrValue(sorted));
    OpSpec s = op("Unique", {x}, a, outputs);
    s.opset = 11;
    return s;
  };
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kFloat64, DType::kInt64, DType::kInt8, DType::kUInt8,
                  DType::kBool}) {
    for (int64_t sorted : {1, 0}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " sorted " + std::to_string(sorted));
      check(unique(fewLevels(t, Dims{1000}, 7, rng), std::nullopt, sorted));
      check(unique(fewLevels(t, Dims{3, 5, 7}, 3, rng), std::nullopt, sorted));
      check(unique(randomTensor(t, Dims{1}, rng), std::nullopt, sorted));
      // Slices along each axis, with some copied so that they repeat.
      Tensor x = fewLevels(t, Dims{6, 5, 4}, 3, rng);
      const size_t e = dtypeSize(t);
      char* p = static_cast<char*>(x.raw());
      std::memcpy(p + 3 * 20 * e, p + 1 * 20 * e, 20 * e);  // x[3] = x[1]
      std::memcpy(p + 5 * 20 * e, p + 1 * 20 * e, 20 * e);  // x[5] = x[1]
      for (int64_t axis : {0, 1, 2, -1}) {
        SCOPED_TRACE("axis " + std::to_string(axis));
        check(unique(x, axis, sorted));
      }
      check(unique(fewLevels(t, Dims{4, 9}, 2, rng), int64_t{1}, sorted, 1));  // Y only
    }
  }
  // NaNs (all one item, after every number) and -0 / +0 (one item).
  Tensor f = Tensor::fromVector<float>({2.0f, NAN, -0.0f, 1.0f, NAN, 0.0f, -3.0f, 2.0f, 0.0f}, Dims{9});
  for (int64_t sorted : {1, 0}) check(unique(f, std::nullopt, sorted));
}

// K as a model input (not a constant): TopK reads K on the host, so the CUDA engine takes it as a
// host input (in host memory) and sizes the outputs for the axis until the run decides K (CPU
// engines: tests/runtime/data_dependent_test.cc; the engine API: tests/cuda/engine_test.cc).
TEST(CudaSelect, TopKWithKAsAModelInputMatchesCpu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(5);
  for (int64_t k : {7, 0, 40}) {
    for (int64_t largest : {1, 0}) {
      AttrMap a;
      a.set("axis", AttrValue(int64_t{1}));
      a.set("largest", AttrValue(largest));
      OpSpec s = op("TopK", {randomTensor(DType::kFloat32, Dims{3, 40, 2}, rng), Tensor::fromVector<int64_t>({k}, Dims{1})},
                    a, 2);
      s.opset = 11;
      SCOPED_TRACE("k " + std::to_string(k) + " largest " + std::to_string(largest));
      expectGpuMatchesCpu(s);
    }
  }
}

// x[4, 6] -> NonZero -> Transpose -> GatherND(x) -> * 2: later layers at the size NonZero found.
TEST(CudaSelect, LaterLayersRunAtTheFoundSize) {
  KILN_REQUIRE_GPU();
  ModelBuilder mb(17);
  mb.input("x", {"4", "6"});
  mb.initializer("two", Tensor::fromVector<float>({2.0f}, Dims{1}));
  mb.node("NonZero", {"x"}, {"nz"});
  auto& t = mb.node("Transpose", {"nz"}, {"idx"});
  ModelBuilder::attr(t, "perm", std::vector<int64_t>{1, 0});
  mb.node("GatherND", {"x", "idx"}, {"vals"});
  mb.node("Mul", {"vals", "two"}, {"y"});
  mb.output("nz").output("y");
  const std::string model = mb.bytes();
  BuildConfig cfg;
  cfg.target = Target::kCUDA;
  cfg.tf32 = false;
  auto bytes = buildEngineFromBytes(model, "", "nonzero", cfg);
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  auto engine = Engine::loadBytes(std::move(*bytes), "nonzero engine");
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::mt19937 rng(6);
  for (double zeros : {0.5, 1.0, 0.0, 0.2, 0.5}) {
    SCOPED_TRACE("zeros " + std::to_string(zeros));
    Tensor x = sparse(DType::kFloat32, Dims{4, 6}, zeros, rng);
    auto want = interpretModel(model, {{"x", x}});
    ASSERT_TRUE(want.ok()) << want.status().toString();
    std::vector<ExecutionContext::Named> got;
    Status st = (*ctx)->run({{"x", x}}, &got);
    ASSERT_TRUE(st.ok()) << st.toString();
    ASSERT_EQ(got.size(), want->size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].tensor.dims(), (*want)[i].tensor.dims()) << got[i].name;
      EXPECT_EQ(std::memcmp(got[i].tensor.raw(), (*want)[i].tensor.raw(), got[i].tensor.nbytes()), 0) << got[i].name;
    }
  }
}

}  // namespace
}  // namespace kiln::testing
