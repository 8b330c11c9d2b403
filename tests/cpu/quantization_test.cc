// Quantization kernels against naive references: per-tensor, per-axis and blocked scales, every
// integer quantized type (4/2-bit included), fp8 (saturating or not), fp4 with float and e8m0
// scales, output_dtype, DynamicQuantizeLinear, and the shape errors.
#include <gtest/gtest.h>

#include <cmath>

#include "op_test_util.h"

namespace kiln::testing {
namespace {

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

// Scale index of element i of x (dims xd) for the three granularities.
int64_t scaleIndex(int64_t i, const Dims& xd, const Dims& sd, int axis, int64_t block) {
  if (sd.numel() == 1) return 0;
  int64_t inner = 1;
  for (int k = axis + 1; k < xd.rank(); ++k) inner *= xd[k];
  const int64_t c = (i / inner) % xd[axis];
  if (block == 0) return c;
  const int64_t o = i / (inner * xd[axis]);
  return (o * sd[axis] + c / block) * inner + i % inner;
}

struct Case {
  Dims x, s;
  int axis;
  int64_t block;
};

const Case kCases[] = {
    {{3, 5, 7}, {}, 1, 0},       // per tensor
    {{3, 5, 7}, {5}, 1, 0},      // per axis
    {{3, 5, 7}, {7}, -1, 0},     // per axis, last
    {{3, 5, 7}, {3, 2, 7}, 1, 3},  // blocked, ragged last block
    {{4, 9}, {4, 3}, 1, 4},      // blocked on the last axis
    {{6, 2}, {2, 2}, 0, 3},      // blocked on the first axis
};

template <typename Q>
void checkQuantize(DType qt, std::mt19937& rng) {
  for (const Case& c : kCases) {
    Tensor x = randomTensor(DType::kFloat32, c.x, rng, -300, 300);
    Tensor s = randomTensor(DType::kFloat32, c.s, rng, 0.5, 3);
    Tensor z = randomTensor(qt, c.s, rng, isSigned(qt) ? -20 : 0, 20);
    auto r = runOp({.op = "QuantizeLinear", .attrs = attrs({{"axis", int64_t{c.axis}}, {"block_size", c.block}}),
                    .inputs = {x, s, z}});
    ASSERT_TRUE(r.ok()) << dtypeName(qt) << " " << c.s.toString() << ": " << r.status().toString();
    const int axis = c.axis < 0 ? c.axis + c.x.rank() : c.axis;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t si = scaleIndex(i, c.x, c.s, axis, c.block);
      double q = std::nearbyint(x.data<float>()[i] / s.data<float>()[si]) + z.doubleAt(si);
      q = std::clamp(q, static_cast<double>(std::numeric_limits<Q>::lowest()), static_cast<double>(std::numeric_limits<Q>::max()));
      ASSERT_EQ((*r)[0].doubleAt(i), q) << dtypeName(qt) << " " << c.s.toString() << " at " << i;
    }
    // Dequantize the result with the same parameters.
    auto d = runOp({.op = "DequantizeLinear", .attrs = attrs({{"axis", int64_t{c.axis}}, {"block_size", c.block}}),
                    .inputs = {(*r)[0], s, z}});
    ASSERT_TRUE(d.ok()) << d.status().toString();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t si = scaleIndex(i, c.x, c.s, axis, c.block);
      const float want = (static_cast<float>((*r)[0].doubleAt(i)) - static_cast<float>(z.doubleAt(si))) * s.data<float>()[si];
      ASSERT_EQ((*d)[0].data<float>()[i], want);
    }
  }
}

TEST(Quantization, QuantizeAndDequantizeEveryGranularity) {
  std::mt19937 rng(51);
  checkQuantize<int8_t>(DType::kInt8, rng);
  checkQuantize<uint8_t>(DType::kUInt8, rng);
  checkQuantize<int16_t>(DType::kInt16, rng);
  checkQuantize<uint16_t>(DType::kUInt16, rng);
}

// 4- and 2-bit integers: saturate to their ranges, every granularity, and back.
template <typename Q>
void checkQuantizeSubByte(DType qt, std::mt19937& rng) {
  int saturated = 0;
  for (const Case& c : kCases) {
    Tensor x = randomTensor(DType::kFloat32, c.x, rng, -12, 12);
    Tensor s = randomTensor(DType::kFloat32, c.s, rng, 0.5, 3);
    Tensor z = randomTensor(qt, c.s, rng, Q::kMin, Q::kMax + 1);
    auto r = runOp({.op = "QuantizeLinear", .attrs = attrs({{"axis", int64_t{c.axis}}, {"block_size", c.block}}),
                    .inputs = {x, s, z}, .opset = 25});
    ASSERT_TRUE(r.ok()) << dtypeName(qt) << " " << c.s.toString() << ": " << r.status().toString();
    ASSERT_EQ((*r)[0].dtype(), qt);
    const int axis = c.axis < 0 ? c.axis + c.x.rank() : c.axis;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t si = scaleIndex(i, c.x, c.s, axis, c.block);
      const double raw = std::nearbyint(x.data<float>()[i] / s.data<float>()[si]) + z.intAt(si);
      const double q = std::clamp(raw, static_cast<double>(Q::kMin), static_cast<double>(Q::kMax));
      saturated += raw != q;
      ASSERT_EQ((*r)[0].intAt(i), q) << dtypeName(qt) << " " << c.s.toString() << " at " << i;
      ASSERT_EQ((*r)[0].data<int8_t>()[i], static_cast<int8_t>(q));  // canonical one-byte storage
    }
    auto d = runOp({.op = "DequantizeLinear", .attrs = attrs({{"axis", int64_t{c.axis}}, {"block_size", c.block}}),
                    .inputs = {(*r)[0], s, z}, .opset = 25});
    ASSERT_TRUE(d.ok()) << d.status().toString();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t si = scaleIndex(i, c.x, c.s, axis, c.block);
      const float want = (static_cast<float>((*r)[0].intAt(i)) - static_cast<float>(z.intAt(si))) * s.data<float>()[si];
      ASSERT_EQ((*d)[0].data<float>()[i], want);
    }
  }
  EXPECT_GT(saturated, 20) << dtypeName(qt);  // the range limits are exercised
}

TEST(Quantization, SubByteIntegerTypes) {
  std::mt19937 rng(54);
  checkQuantizeSubByte<Int4>(DType::kInt4, rng);
  checkQuantizeSubByte<UInt4>(DType::kUInt4, rng);
  checkQuantizeSubByte<Int2>(DType::kInt2, rng);
  checkQuantizeSubByte<UInt2>(DType::kUInt2, rng);
  // output_dtype alone selects the type (no zero point).
  auto r = runOp({.op = "QuantizeLinear", .attrs = attrs({{"output_dtype", int64_t{static_cast<int>(DType::kInt4)}}}),
                  .inputs = {Tensor::fromVector<float>({-20.f, 2.5f, 3.5f, 20.f}, {4}), Tensor::scalar<float>(1.0f)}, .opset = 25});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ((*r)[0].dtype(), DType::kInt4);
  const int want[] = {-8, 2, 4, 7};
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*r)[0].intAt(i), want[i]) << i;
}

TEST(Quantization, Float4E2M1WithFloatAndE8M0Scales) {
  std::mt19937 rng(55);
  Tensor x = randomTensor(DType::kFloat32, {5, 9}, rng, -20, 20);
  Tensor s = randomTensor(DType::kFloat32, {5}, rng, 0.5, 3);
  Tensor zp = Tensor::allocate(DType::kFloat4E2M1, {5});  // zeros
  auto r = runOp({.op = "QuantizeLinear", .attrs = attrs({{"axis", int64_t{0}}}), .inputs = {x, s, zp}, .opset = 25});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ((*r)[0].dtype(), DType::kFloat4E2M1);
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_EQ((*r)[0].data<Float4E2M1>()[i].bits, Float4E2M1(x.data<float>()[i] / s.data<float>()[i / 9]).bits) << i;
  auto d = runOp({.op = "DequantizeLinear", .attrs = attrs({{"axis", int64_t{0}}}), .inputs = {(*r)[0], s, zp}, .opset = 25});
  ASSERT_TRUE(d.ok()) << d.status().toString();
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_EQ((*d)[0].data<float>()[i], static_cast<float>((*r)[0].data<Float4E2M1>()[i]) * s.data<float>()[i / 9]);
  // MX style: fp4 blocks of 4 along the last axis with power-of-two (e8m0) scales.
  Tensor es = Tensor::allocate(DType::kFloat8E8M0, {5, 3});
  for (int64_t i = 0; i < es.numel(); ++i) es.data<Float8E8M0>()[i] = Float8E8M0::fromBits(static_cast<uint8_t>(125 + i % 5));
  auto blocked = runOp({.op = "DequantizeLinear", .attrs = attrs({{"axis", int64_t{1}}, {"block_size", int64_t{4}},
                                                                   {"output_dtype", int64_t{1}}}),
                        .inputs = {(*r)[0], es}, .opset = 25});
  ASSERT_TRUE(blocked.ok()) << blocked.status().toString();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float sc = static_cast<float>(es.data<Float8E8M0>()[(i / 9) * 3 + (i % 9) / 4]);
    ASSERT_EQ((*blocked)[0].data<float>()[i], static_cast<float>((*r)[0].data<Float4E2M1>()[i]) * sc) << i;
  }
  // Without output_dtype the output would be e8m0: refused.
  auto bad = runOp({.op = "DequantizeLinear", .attrs = attrs({{"axis", int64_t{1}}, {"block_size", int64_t{4}}}),
                    .inputs = {(*r)[0], es}, .opset = 25});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(Quantization, RoundsHalfToEvenAndDefaultsToUint8) {
  Tensor x = Tensor::fromVector<float>({0.5f, 1.5f, 2.5f, -0.5f, 300.f, -3.f}, {6});
  auto r = runOp({.op = "QuantizeLinear", .inputs = {x, Tensor::scalar<float>(1.0f)}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ((*r)[0].dtype(), DType::kUInt8);
  const uint8_t want[] = {0, 2, 2, 0, 255, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ((*r)[0].data<uint8_t>()[i], want[i]) << i;
  // output_dtype without a zero point; float16 input.
  Tensor h = Tensor::allocate(DType::kFloat16, {3});
  for (int i = 0; i < 3; ++i) h.data<Float16>()[i] = Float16(-1.25f * (i + 1));
  r = runOp({.op = "QuantizeLinear", .attrs = attrs({{"output_dtype", int64_t{static_cast<int>(DType::kInt8)}}}),
             .inputs = {h, Tensor::scalar<float>(0.5f)}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ((*r)[0].dtype(), DType::kInt8);
  EXPECT_EQ((*r)[0].data<int8_t>()[0], -2);  // -2.5 -> -2
  EXPECT_EQ((*r)[0].data<int8_t>()[1], -5);
  EXPECT_EQ((*r)[0].data<int8_t>()[2], -8);  // -7.5 -> -8
}

TEST(Quantization, Float8SaturatesOrNot) {
  Tensor x = Tensor::fromVector<float>({1000.f, -1000.f, 0.3f, 3.f}, {4});
  Tensor zp = Tensor::allocate(DType::kFloat8E4M3FN, {});
  for (int sat = 0; sat < 2; ++sat) {
    auto r = runOp({.op = "QuantizeLinear", .attrs = attrs({{"saturate", int64_t{sat}}}),
                    .inputs = {x, Tensor::scalar<float>(1.0f), zp}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    const Tensor& y = (*r)[0];
    ASSERT_EQ(y.dtype(), DType::kFloat8E4M3FN);
    if (sat) {
      EXPECT_EQ(static_cast<float>(y.data<Float8E4M3FN>()[0]), 448.f);
      EXPECT_EQ(static_cast<float>(y.data<Float8E4M3FN>()[1]), -448.f);
    } else {
      EXPECT_TRUE(std::isnan(static_cast<float>(y.data<Float8E4M3FN>()[0])));
    }
    EXPECT_EQ(y.data<Float8E4M3FN>()[3].bits, Float8E4M3FN(3.f).bits);
    auto d = runOp({.op = "DequantizeLinear", .inputs = {y, Tensor::scalar<float>(2.0f), zp}});
    ASSERT_TRUE(d.ok()) << d.status().toString();
    EXPECT_EQ((*d)[0].data<float>()[3], 6.f);
    EXPECT_NEAR((*d)[0].data<float>()[2], 2 * static_cast<float>(Float8E4M3FN(0.3f)), 1e-7);
  }
  // A nonzero float8 zero point is refused.
  Tensor badZp = Tensor::allocate(DType::kFloat8E4M3FN, {});
  badZp.data<Float8E4M3FN>()[0] = Float8E4M3FN(1.0f);
  auto d = runOp({.op = "DequantizeLinear", .inputs = {Tensor::allocate(DType::kFloat8E4M3FN, {2}), Tensor::scalar<float>(1.0f), badZp}});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
}

TEST(Quantization, DequantizeInt32AndOutputDtype) {
  Tensor x = Tensor::fromVector<int32_t>({-100000, 0, 7, 123456}, {4});
  Tensor s = Tensor::allocate(DType::kFloat16, {});
  s.data<Float16>()[0] = Float16(0.25f);
  auto r = runOp({.op = "DequantizeLinear", .inputs = {x, s}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ((*r)[0].dtype(), DType::kFloat16);
  EXPECT_EQ(static_cast<float>((*r)[0].data<Float16>()[2]), 1.75f);
  r = runOp({.op = "DequantizeLinear", .attrs = attrs({{"output_dtype", int64_t{1}}}), .inputs = {x, s}, .opset = 23});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ((*r)[0].dtype(), DType::kFloat32);
  EXPECT_EQ((*r)[0].data<float>()[0], -25000.f);
  EXPECT_EQ((*r)[0].data<float>()[3], 30864.f);
}

TEST(Quantization, ShapeErrors) {
  std::mt19937 rng(52);
  Tensor x = randomTensor(DType::kFloat32, {3, 5}, rng);
  // Per-axis scale of the wrong length; blocked scale with the wrong block count; zero point
  // shape unlike the scale; an unsupported output type.
  auto r = runOp({.op = "QuantizeLinear", .inputs = {x, randomTensor(DType::kFloat32, {4}, rng, 1, 2)}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = runOp({.op = "QuantizeLinear", .attrs = attrs({{"block_size", int64_t{2}}}),
             .inputs = {x, randomTensor(DType::kFloat32, {3, 2}, rng, 1, 2)}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("block_size"), std::string::npos) << r.status().toString();
  r = runOp({.op = "DequantizeLinear", .inputs = {Tensor::allocate(DType::kInt8, {3, 5}), randomTensor(DType::kFloat32, {5}, rng, 1, 2),
                                                   Tensor::allocate(DType::kInt8, {3})}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = runOp({.op = "QuantizeLinear", .inputs = {x, Tensor::scalar<float>(1.f), Tensor::scalar<int32_t>(0)}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
}

TEST(Quantization, DynamicQuantizeLinearMatchesNaive) {
  std::mt19937 rng(53);
  for (auto [lo, hi] : {std::pair{-3.0, 5.0}, std::pair{1.0, 4.0}, std::pair{-6.0, -2.0}}) {
    Tensor x = randomTensor(DType::kFloat32, {7, 9}, rng, lo, hi);
    auto r = runOp({.op = "DynamicQuantizeLinear", .inputs = {x}, .numOutputs = 3});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    float mx = 0, mn = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      mx = std::max(mx, x.data<float>()[i]);
      mn = std::min(mn, x.data<float>()[i]);
    }
    const float scale = (mx - mn) / 255.0f;
    const float zp = std::nearbyint(std::clamp(-mn / scale, 0.0f, 255.0f));
    EXPECT_EQ((*r)[1].data<float>()[0], scale);
    EXPECT_EQ((*r)[2].data<uint8_t>()[0], static_cast<uint8_t>(zp));
    for (int64_t i = 0; i < x.numel(); ++i)
      ASSERT_EQ((*r)[0].data<uint8_t>()[i],
                static_cast<uint8_t>(std::clamp(std::nearbyint(x.data<float>()[i] / scale) + zp, 0.0f, 255.0f)));
  }
}

}  // namespace
}  // namespace kiln::testing
