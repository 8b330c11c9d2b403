// Element-wise kernels: broadcasting layouts at odd sizes against a naive loop, and dtype coverage.
#include <gtest/gtest.h>

#include <cmath>

#include "op_test_util.h"

namespace kiln::testing {
namespace {

// Naive reference: index arithmetic per element.
Tensor naiveAdd(const Tensor& a, const Tensor& b, const Dims& out) {
  Tensor y = Tensor::allocate(DType::kFloat32, out);
  Dims idx = Dims::filled(out.rank(), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t r = i;
    for (int k = out.rank() - 1; k >= 0; --k) {
      idx[k] = r % out[k];
      r /= out[k];
    }
    auto off = [&](const Dims& d) {
      int64_t o = 0;
      for (int k = 0; k < d.rank(); ++k) {
        int ok = k + out.rank() - d.rank();
        o = o * d[k] + (d[k] == 1 ? 0 : idx[ok]);
      }
      return o;
    };
    y.data<float>()[i] = a.data<float>()[off(a.dims())] + b.data<float>()[off(b.dims())];
  }
  return y;
}

TEST(Elementwise, BroadcastLayoutsMatchNaive) {
  std::mt19937 rng(7);
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{7, 5, 3}, {7, 5, 3}}, {{7, 5, 3}, {3}},       {{7, 1, 3}, {1, 5, 1}}, {{1}, {4, 9}},
      {{5, 1}, {1, 11}},      {{2, 3, 1, 5}, {3, 4, 1}}, {{}, {3, 2}},        {{13, 17}, {13, 1}}};
  for (const auto& [da, db] : cases) {
    Tensor a = randomTensor(DType::kFloat32, da, rng), b = randomTensor(DType::kFloat32, db, rng);
    auto r = runOp({.op = "Add", .inputs = {a, b}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    Dims out = (*r)[0].dims();
    EXPECT_EQ(maxAbsDiff((*r)[0], naiveAdd(a, b, out)), 0.0) << da.toString() << " + " << db.toString();
  }
}

TEST(Elementwise, IncompatibleBroadcastIsAnError) {
  std::mt19937 rng(1);
  auto r = runOp({.op = "Mul", .inputs = {randomTensor(DType::kFloat32, {3, 4}, rng),
                                          randomTensor(DType::kFloat32, {5}, rng)}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot be broadcast"), std::string::npos) << r.status().toString();
}

TEST(Elementwise, IntegerDivAndModFollowOnnx) {
  Tensor a = Tensor::fromVector<int32_t>({7, -7, 7, -7}, {4});
  Tensor b = Tensor::fromVector<int32_t>({2, 2, -2, -2}, {4});
  auto d = runOp({.op = "Div", .inputs = {a, b}});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(std::vector<int32_t>((*d)[0].data<int32_t>(), (*d)[0].data<int32_t>() + 4),
            (std::vector<int32_t>{3, -3, -3, 3}));
  auto m = runOp({.op = "Mod", .inputs = {a, b}});
  ASSERT_TRUE(m.ok());
  // Python semantics: the result takes the divisor's sign.
  EXPECT_EQ(std::vector<int32_t>((*m)[0].data<int32_t>(), (*m)[0].data<int32_t>() + 4),
            (std::vector<int32_t>{1, 1, -1, -1}));
}

TEST(Elementwise, Float16ComputesInFloat) {
  std::mt19937 rng(3);
  Tensor x = randomTensor(DType::kFloat16, {3, 5, 7}, rng, -3, 3);
  auto r = runOp({.op = "Sigmoid", .inputs = {x}});
  ASSERT_TRUE(r.ok());
  for (int64_t i = 0; i < x.numel(); ++i) {
    float v = x.data<Float16>()[i];
    EXPECT_NEAR(static_cast<float>((*r)[0].data<Float16>()[i]), 1.0f / (1.0f + std::exp(-v)), 1e-3f);
  }
}

TEST(Elementwise, UnsupportedTypeIsReported) {
  auto r = runOp({.op = "Sqrt", .inputs = {Tensor::fromVector<int32_t>({4}, {1})}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln::testing
