// Cast/CastLike to and from the 4/2-bit and e8m0 types (tables computed with the ONNX reference's
// ml_dtypes / to_float8e8m0), round_mode, and Dropout's training mode against numpy's legacy
// RandomState (values computed with the test venv's numpy 2.4).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backends/cpu/kernels/tensor_random.h"
#include "op_test_util.h"

namespace kiln::testing {
namespace {

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

Result<std::vector<Tensor>> cast(const Tensor& x, DType to, AttrMap extra = {}) {
  extra.set("to", static_cast<int64_t>(to));
  return runOp({.op = "Cast", .attrs = extra, .inputs = {x}, .opset = 25});
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

TEST(CastSubByte, FloatToSubByteMatchesReference) {
  // np.arange(-9, 16) and specials; x.astype(ml_dtypes.int4 / uint4 / int2 / uint2).
  std::vector<float> in;
  for (int v = -9; v < 16; ++v) in.push_back(static_cast<float>(v));
  for (float v : {2.7f, -2.7f, 1000.0f, -129.0f, kNaN, kInf}) in.push_back(v);
  Tensor x = Tensor::fromVector<float>(in, {static_cast<int64_t>(in.size())});
  struct Want {
    DType t;
    std::vector<int> v;
  };
  const Want wants[] = {
      {DType::kInt4, {7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 2, -2, -8, -1, 0, 0}},
      {DType::kUInt4, {7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 2, 14, 8, 15, 0, 0}},
      {DType::kInt2, {-1, 0, 1, -2, -1, 0, 1, -2, -1, 0, 1, -2, -1, 0, 1, -2, -1, 0, 1, -2, -1, 0, 1, -2, -1, -2, -2, 0, -1, 0, 0}},
      {DType::kUInt2, {3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 2, 2, 0, 3, 0, 0}},
  };
  for (const Want& w : wants) {
    auto r = cast(x, w.t);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    const Tensor& y = (*r)[0];
    ASSERT_EQ(y.dtype(), w.t);
    for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(y.intAt(static_cast<int64_t>(i)), w.v[i]) << dtypeName(w.t) << " x=" << in[i];
    // Back to float and to int8 is exact; float16 input gives the same codes.
    auto f = cast(y, DType::kFloat32);
    ASSERT_TRUE(f.ok()) << f.status().toString();
    for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ((*f)[0].data<float>()[i], static_cast<float>(w.v[i]));
    auto h = cast(x, DType::kFloat16);
    ASSERT_TRUE(h.ok());
    auto y2 = cast((*h)[0], w.t);
    ASSERT_TRUE(y2.ok()) << y2.status().toString();
    for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ((*y2)[0].intAt(static_cast<int64_t>(i)), w.v[i]);
  }
}

TEST(CastSubByte, BetweenIntegerTypesWraps) {
  Tensor x = Tensor::allocate(DType::kInt4, {16});
  for (int i = 0; i < 16; ++i) x.data<Int4>()[i] = Int4(int64_t{i - 8});
  auto r = cast(x, DType::kUInt2);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  for (int i = 0; i < 16; ++i) EXPECT_EQ((*r)[0].intAt(i), (i - 8) & 3) << i;
  r = cast(x, DType::kUInt8);
  ASSERT_TRUE(r.ok());
  for (int i = 0; i < 16; ++i) EXPECT_EQ((*r)[0].data<uint8_t>()[i], static_cast<uint8_t>(i - 8));
  r = cast(Tensor::fromVector<int64_t>({200, -56, 23}, {3}), DType::kInt4);  // 200 = 0xC8 -> -8
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].intAt(0), -8);
  EXPECT_EQ((*r)[0].intAt(1), -8);
  EXPECT_EQ((*r)[0].intAt(2), 7);
  r = cast(x, DType::kBool);
  ASSERT_TRUE(r.ok());
  for (int i = 0; i < 16; ++i) EXPECT_EQ((*r)[0].data<bool>()[i], i != 8);
}

TEST(CastSubByte, Float4E2M1FromFloatAndFloat16) {
  const std::vector<float> in = {0.48f, 0.25f, 1.05f, -3.5f, -8.0f, 9.0f, 1e6f, 1e-7f, kNaN, kInf, -kInf, -4.0f, 0.01f, -0.0f, 2.5f};
  const int want[] = {1, 0, 2, 0xE, 0xF, 7, 7, 0, 8, 7, 0xF, 0xE, 0, 8, 4};  // ml_dtypes codes
  Tensor x = Tensor::fromVector<float>(in, {3, 5});
  Tensor h = Tensor::allocate(DType::kFloat16, {3, 5});
  for (size_t i = 0; i < in.size(); ++i) h.data<Float16>()[i] = Float16(in[i]);
  for (const Tensor* src : {&x, &h}) {
    auto r = cast(*src, DType::kFloat4E2M1, attrs({{"saturate", int64_t{0}}}));  // saturate does not apply to fp4
    ASSERT_TRUE(r.ok()) << r.status().toString();
    for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ((*r)[0].data<Float4E2M1>()[i].bits, want[i]) << in[i];
    auto back = cast((*r)[0], DType::kFloat16);
    ASSERT_TRUE(back.ok()) << back.status().toString();
    for (size_t i = 0; i < in.size(); ++i)
      ASSERT_EQ(static_cast<float>((*back)[0].data<Float16>()[i]), fp::f4E2M1ToFloat(static_cast<uint8_t>(want[i])));
  }
}

TEST(CastSubByte, Float8E8M0RoundModes) {
  const std::vector<float> in = {0.0f, 0.124f, 0.25f, 0.5f, 1.1f, 2.0f, 1.5f, 3.0e38f, kNaN};
  Tensor x = Tensor::fromVector<float>(in, {9});
  struct Mode {
    const char* name;
    int64_t saturate;
    int want[9];
  };
  const Mode modes[] = {{"up", 1, {0, 124, 125, 126, 128, 128, 128, 254, 255}},
                        {"up", 0, {0, 124, 125, 126, 128, 128, 128, 255, 255}},
                        {"down", 1, {0, 123, 125, 126, 127, 128, 127, 254, 255}},
                        {"nearest", 1, {0, 124, 125, 126, 127, 128, 128, 254, 255}}};
  for (const Mode& m : modes) {
    auto r = cast(x, DType::kFloat8E8M0, attrs({{"round_mode", m.name}, {"saturate", m.saturate}}));
    ASSERT_TRUE(r.ok()) << r.status().toString();
    for (int i = 0; i < 9; ++i) EXPECT_EQ((*r)[0].data<Float8E8M0>()[i].bits, m.want[i]) << m.name << " " << in[i];
  }
  // The default is round up with saturation; CastLike takes the same attributes.
  auto r = cast(x, DType::kFloat8E8M0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data<Float8E8M0>()[1].bits, 124);
  auto like = runOp({.op = "CastLike", .attrs = attrs({{"round_mode", "down"}}),
                     .inputs = {x, Tensor::allocate(DType::kFloat8E8M0, {1})}, .opset = 25});
  ASSERT_TRUE(like.ok()) << like.status().toString();
  EXPECT_EQ((*like)[0].data<Float8E8M0>()[1].bits, 123);
  // e8m0 -> float16 and float.
  auto h = cast((*r)[0], DType::kFloat16);
  ASSERT_TRUE(h.ok()) << h.status().toString();
  EXPECT_EQ(static_cast<float>((*h)[0].data<Float16>()[0]), 0.0f);  // 2^-127 underflows
  EXPECT_EQ(static_cast<float>((*h)[0].data<Float16>()[1]), 0.125f);
  EXPECT_TRUE(std::isinf(static_cast<float>((*h)[0].data<Float16>()[7])));
  auto f = cast((*r)[0], DType::kFloat32);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)[0].data<float>()[4], 2.0f);
  EXPECT_TRUE(std::isnan((*f)[0].data<float>()[8]));
}

TEST(CastSubByte, BadRoundModeAndStrings) {
  Tensor x = Tensor::fromVector<float>({1.0f}, {1});
  auto r = cast(x, DType::kFloat8E8M0, attrs({{"round_mode", "zero"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("round_mode"), std::string::npos) << r.status().toString();
  // Strings <-> int4.
  Tensor s = Tensor::allocate(DType::kString, {3});
  s.data<std::string>()[0] = "-3";
  s.data<std::string>()[1] = "9";
  s.data<std::string>()[2] = "7";
  r = cast(s, DType::kInt4);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)[0].intAt(0), -3);
  EXPECT_EQ((*r)[0].intAt(1), -7);  // wraps
  r = cast((*r)[0], DType::kString);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)[0].data<std::string>()[0], "-3");
  EXPECT_EQ((*r)[0].data<std::string>()[2], "7");
}

TEST(CastSubByte, BitCastReinterpretsTheCodeBits) {
  Tensor x = Tensor::allocate(DType::kInt4, {16});
  for (int i = 0; i < 16; ++i) x.data<Int4>()[i] = Int4::fromBits(static_cast<uint8_t>(i));
  auto bitcast = [](const Tensor& t, DType to) {
    return runOp({.op = "BitCast", .attrs = attrs({{"to", static_cast<int64_t>(to)}}), .inputs = {t}, .opset = 26});
  };
  auto u = bitcast(x, DType::kUInt4);
  ASSERT_TRUE(u.ok()) << u.status().toString();
  for (int i = 0; i < 16; ++i) EXPECT_EQ((*u)[0].data<uint8_t>()[i], i) << i;  // -1 -> 15
  auto f = bitcast((*u)[0], DType::kFloat4E2M1);
  ASSERT_TRUE(f.ok()) << f.status().toString();
  for (int i = 0; i < 16; ++i) EXPECT_EQ(static_cast<float>((*f)[0].data<Float4E2M1>()[i]), fp::f4E2M1ToFloat(static_cast<uint8_t>(i)));
  auto back = bitcast((*f)[0], DType::kInt4);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  for (int i = 0; i < 16; ++i) EXPECT_EQ((*back)[0].data<int8_t>()[i], x.data<int8_t>()[i]) << i;  // sign-extended again
  // Widths must match: int8 (8 bits) is not int4, int2 is not uint4.
  auto bad = bitcast(Tensor::allocate(DType::kInt8, {2}), DType::kInt4);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bits"), std::string::npos) << bad.status().toString();
  EXPECT_FALSE(bitcast(Tensor::allocate(DType::kInt2, {2}), DType::kUInt4).ok());
  EXPECT_TRUE(bitcast(Tensor::allocate(DType::kInt2, {2}), DType::kUInt2).ok());
}

// ---- Dropout -----------------------------------------------------------------------------

TEST(Dropout, NumpyUniformMatchesRandomState) {
  // np.random.RandomState(seed).uniform(0, 1, 5), printed with float.hex().
  const std::pair<uint32_t, std::array<double, 5>> cases[] = {
      {0u, {0x1.18fe1565f12a8p-1, 0x1.6e2d4cf608733p-1, 0x1.349d66b6e894bp-1, 0x1.16faedb6395f5p-1, 0x1.b1d2904fd0ef6p-2}},
      {1u, {0x1.ab07d0ffa3c06p-2, 0x1.70ce5f3baf051p-1, 0x1.dfb906661c000p-14, 0x1.3596ab7fe08f4p-2, 0x1.2c8e5a3c7053cp-3}},
      {42u, {0x1.7f8771e5f51ecp-2, 0x1.e6c4068bbd654p-1, 0x1.76c7e8f1e6751p-1, 0x1.32835d6632cb0p-1, 0x1.3f86b37222184p-3}},
      {4294967295u, {0x1.8fe69a3924820p-4, 0x1.d323d824032b1p-1, 0x1.93fc6f61af3f9p-1, 0x1.8f5ca1b151c07p-1, 0x1.25ec7244bbf80p-6}},
  };
  for (const auto& [seed, want] : cases) {
    std::mt19937 g(seed);
    for (double w : want) EXPECT_EQ(cpu::numpyUniform(g), w) << "seed " << seed;
  }
}

TEST(Dropout, SeededTrainingMatchesNumpy) {
  // np.random.RandomState(7).uniform(0, 1, (37,)) >= 0.3
  const char* wantMask = "0111111001111001011011011011110111111";
  std::mt19937 rng(81);
  Tensor x = randomTensor(DType::kFloat32, {37}, rng, -3, 3);
  auto r = runOp({.op = "Dropout", .attrs = attrs({{"seed", int64_t{7}}}),
                  .inputs = {x, Tensor::scalar<float>(0.3f), Tensor::scalar<bool>(true)}, .numOutputs = 2, .opset = 22});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const float scale = 1.0f / (1.0f - 0.3f);
  for (int i = 0; i < 37; ++i) {
    const bool keep = wantMask[i] == '1';
    ASSERT_EQ((*r)[1].data<bool>()[i], keep) << i;
    ASSERT_EQ((*r)[0].data<float>()[i], keep ? x.data<float>()[i] * scale : 0.0f) << i;
  }
  // Deterministic: the same seed gives the same output (also without the mask output, and in
  // float64 and float16).
  auto again = runOp({.op = "Dropout", .attrs = attrs({{"seed", int64_t{7}}}),
                      .inputs = {x, Tensor::scalar<float>(0.3f), Tensor::scalar<bool>(true)}, .opset = 22});
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_EQ(maxAbsDiff((*again)[0], (*r)[0]), 0.0);
  for (DType t : {DType::kFloat64, DType::kFloat16}) {
    Tensor xt = Tensor::allocate(t, {37});
    for (int i = 0; i < 37; ++i) {
      if (t == DType::kFloat64) xt.data<double>()[i] = x.data<float>()[i];
      else xt.data<Float16>()[i] = Float16(x.data<float>()[i]);
    }
    auto rt = runOp({.op = "Dropout", .attrs = attrs({{"seed", int64_t{7}}}),
                     .inputs = {xt, Tensor::scalar<float>(0.3f), Tensor::scalar<bool>(true)}, .numOutputs = 2, .opset = 22});
    ASSERT_TRUE(rt.ok()) << rt.status().toString();
    for (int i = 0; i < 37; ++i) {
      ASSERT_EQ((*rt)[1].data<bool>()[i], wantMask[i] == '1') << dtypeName(t) << " " << i;
      ASSERT_NEAR((*rt)[0].doubleAt(i), wantMask[i] == '1' ? xt.doubleAt(i) / 0.7 : 0.0, 1e-2) << dtypeName(t) << " " << i;
    }
  }
}

TEST(Dropout, UnseededTrainingDrawsFreshMasks) {
  Tensor x = Tensor::allocate(DType::kFloat32, {1000});
  for (int i = 0; i < 1000; ++i) x.data<float>()[i] = 1.0f + static_cast<float>(i);
  std::vector<bool> first;
  bool differs = false;
  for (int run = 0; run < 2; ++run) {
    auto r = runOp({.op = "Dropout", .inputs = {x, Tensor::scalar<float>(0.5f), Tensor::scalar<bool>(true)},
                    .numOutputs = 2, .opset = 22});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    int kept = 0;
    for (int i = 0; i < 1000; ++i) {
      const bool keep = (*r)[1].data<bool>()[i];
      kept += keep;
      ASSERT_EQ((*r)[0].data<float>()[i], keep ? 2.0f * x.data<float>()[i] : 0.0f) << i;
      if (run == 0) first.push_back(keep);
      else differs |= first[i] != keep;
    }
    EXPECT_GT(kept, 400);
    EXPECT_LT(kept, 600);
  }
  EXPECT_TRUE(differs);  // the chance of two equal 1000-element masks is 2^-1000
}

TEST(Dropout, InferenceAndZeroRatioAreIdentityAndBadRatioIsRefused) {
  std::mt19937 rng(82);
  Tensor x = randomTensor(DType::kFloat32, {5, 7}, rng);
  for (auto [ratio, training] : {std::pair{0.5f, false}, std::pair{0.0f, true}}) {
    auto r = runOp({.op = "Dropout", .attrs = attrs({{"seed", int64_t{3}}}),
                    .inputs = {x, Tensor::scalar<float>(ratio), Tensor::scalar<bool>(training)}, .numOutputs = 2, .opset = 22});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ(maxAbsDiff((*r)[0], x), 0.0);
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_TRUE((*r)[1].data<bool>()[i]);
  }
  for (float bad : {1.0f, -0.1f}) {
    auto r = runOp({.op = "Dropout", .inputs = {x, Tensor::scalar<float>(bad), Tensor::scalar<bool>(true)}, .opset = 22});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("[0, 1)"), std::string::npos) << r.status().toString();
  }
  auto r = runOp({.op = "Dropout", .inputs = {x, Tensor::fromVector<float>({0.1f, 0.2f}, {2}), Tensor::scalar<bool>(true)}, .opset = 22});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::testing
