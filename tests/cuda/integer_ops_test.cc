// ONNX integer matmul/conv CUDA kernels (cuda_int_matmulinteger, cuda_int_qlinearmatmul,
// cuda_int_convinteger, cuda_int_qlinearconv) against the CPU reference, compared exactly: int8 and
// uint8 operands (mixed too), with and without zero points, per-row/per-column/per-channel
// parameters, float32/float16/bfloat16 scales, numpy batch broadcasting and 1-D operands, several
// GEMM tiles, ties that exercise round-half-even, saturation; convolutions 1-D/2-D/3-D with groups,
// strides, dilations, asymmetric pads and auto_pad, bias. The `supports` checks run without a GPU.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "data_test_util.h"

namespace kiln::testing {
namespace {

using data_test::attrs;
using data_test::Desc;
using data_test::supports;
using Ints = std::vector<int64_t>;

constexpr DType kS8 = DType::kInt8;
constexpr DType kU8 = DType::kUInt8;

// Random 8-bit values over most of the type's range (never all zeros).
Tensor rnd8(DType t, const Dims& d, std::mt19937& rng) {
  return t == kU8 ? randomTensor(t, d, rng, 0.0, 255.0) : randomTensor(t, d, rng, -128.0, 127.0);
}
// Zero points near the middle of the range, so centered operands take both signs.
Tensor zp8(DType t, const Dims& d, std::mt19937& rng) {
  return t == kU8 ? randomTensor(t, d, rng, 100.0, 156.0) : randomTensor(t, d, rng, -20.0, 20.0);
}

void expectExact(const OpSpec& s, const std::string& what) {
  SCOPED_TRACE(what);
  expectGpuMatchesCpu(s, 0.0);
}

std::string name(DType t) { return std::string(dtypeName(t)); }

// ---- MatMulInteger --------------------------------------------------------------------------------

enum class Zp { kNone, kScalar, kRank1Scalar, kPerRowCol };

OpSpec matMulIntegerSpec(DType at, DType bt, const Dims& a, const Dims& b, Zp zp, uint32_t seed) {
  std::mt19937 rng(seed);
  OpSpec s;
  s.op = "MatMulInteger";
  s.opset = 10;
  s.inputs = {rnd8(at, a, rng), rnd8(bt, b, rng)};
  const int64_t M = a.rank() >= 2 ? a[a.rank() - 2] : 1;
  const int64_t N = b.rank() >= 2 ? b[b.rank() - 1] : 1;
  switch (zp) {
    case Zp::kNone: break;
    case Zp::kScalar: s.inputs.push_back(zp8(at, {}, rng)), s.inputs.push_back(zp8(bt, {}, rng)); break;
    case Zp::kRank1Scalar: s.inputs.push_back(zp8(at, {1}, rng)), s.inputs.push_back(zp8(bt, {1}, rng)); break;
    case Zp::kPerRowCol: s.inputs.push_back(zp8(at, {M}, rng)), s.inputs.push_back(zp8(bt, {N}, rng)); break;
  }
  return s;
}

TEST(IntegerMatMulInteger, TypesAndZeroPoints) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1;
  for (DType at : {kU8, kS8})
    for (DType bt : {kU8, kS8})
      for (Zp zp : {Zp::kNone, Zp::kScalar, Zp::kRank1Scalar, Zp::kPerRowCol})
        expectExact(matMulIntegerSpec(at, bt, {7, 13}, {13, 5}, zp, seed++),
                    name(at) + " x " + name(bt) + " zp mode " + std::to_string(static_cast<int>(zp)));
}

TEST(IntegerMatMulInteger, OnlyAZeroPoint) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(5);
  OpSpec s = matMulIntegerSpec(kU8, kS8, {7, 13}, {13, 5}, Zp::kNone, 6);
  s.inputs.push_back(zp8(kU8, {7}, rng));
  expectExact(s, "a_zero_point only");
  s.inputs.push_back(Tensor());  // b_zero_point omitted explicitly
  expectExact(s, "a_zero_point, empty b_zero_point");
  OpSpec t = matMulIntegerSpec(kS8, kU8, {7, 13}, {13, 5}, Zp::kNone, 7);
  t.inputs.push_back(Tensor());
  t.inputs.push_back(zp8(kU8, {5}, rng));
  expectExact(t, "b_zero_point only");
}

TEST(IntegerMatMulInteger, BatchBroadcastingAnd1D) {
  KILN_REQUIRE_GPU();
  struct Shapes {
    Dims a, b;
  };
  const Shapes shapes[] = {{{2, 1, 7, 13}, {3, 13, 5}},  // broadcast both ways
                           {{3, 7, 13}, {13, 5}},        // one B for every A
                           {{7, 13}, {2, 3, 13, 5}},     // one A for every B
                           {{4, 7, 13}, {4, 13, 5}},     // plain batch
                           {{13}, {13, 5}},              // 1-D A
                           {{7, 13}, {13}},              // 1-D B
                           {{2, 7, 13}, {13}},           // 1-D B under a batch
                           {{13}, {13}},                 // dot product
                           {{13}, {2, 13, 5}},           // 1-D A against a batch
                           {{1, 2, 1, 7, 13}, {2, 1, 3, 13, 5}}};
  uint32_t seed = 11;
  for (const Shapes& sh : shapes)
    for (Zp zp : {Zp::kScalar, Zp::kPerRowCol}) {
      if (zp == Zp::kPerRowCol && (sh.a.rank() == 1 || sh.b.rank() == 1)) continue;
      expectExact(matMulIntegerSpec(seed % 2 ? kU8 : kS8, seed % 3 ? kS8 : kU8, sh.a, sh.b, zp, seed),
                  sh.a.toString() + " x " + sh.b.toString());
      ++seed;
    }
}

// Several output tiles in both directions, K longer than one shared-memory step, partial tiles.
TEST(IntegerMatMulInteger, LargeMultiTile) {
  KILN_REQUIRE_GPU();
  expectExact(matMulIntegerSpec(kU8, kU8, {131, 77}, {77, 150}, Zp::kPerRowCol, 21), "131x77x150 u8");
  expectExact(matMulIntegerSpec(kS8, kS8, {2, 65, 300}, {300, 66}, Zp::kScalar, 22), "2x65x300x66 s8");
  expectExact(matMulIntegerSpec(kU8, kS8, {3, 1, 64, 64}, {2, 64, 64}, Zp::kNone, 23), "exact tiles");
  // Extremes: every product at its largest magnitude.
  OpSpec s;
  s.op = "MatMulInteger";
  s.opset = 10;
  Tensor a = Tensor::allocate(kU8, {5, 200}), b = Tensor::allocate(kS8, {200, 3});
  for (int64_t i = 0; i < a.numel(); ++i) a.data<uint8_t>()[i] = i % 3 ? 255 : 0;
  for (int64_t i = 0; i < b.numel(); ++i) b.data<int8_t>()[i] = i % 2 ? -128 : 127;
  s.inputs = {a, b, Tensor::scalar<uint8_t>(0), Tensor::scalar<int8_t>(127)};
  expectExact(s, "extremes");
}

TEST(IntegerMatMulInteger, ConstantB) {
  KILN_REQUIRE_GPU();
  OpSpec s = matMulIntegerSpec(kU8, kS8, {2, 7, 13}, {13, 5}, Zp::kPerRowCol, 31);
  s.constInputs = {false, true, false, true};
  expectExact(s, "constant B and b_zero_point");
}

// ---- QLinearMatMul --------------------------------------------------------------------------------

struct QmmCase {
  DType a = kU8, b = kU8, y = kU8;
  DType scale = DType::kFloat32;
  Dims ad{7, 13}, bd{13, 5};
  bool perRow = false;  // a_scale, a_zero_point, y_scale, y_zero_point per row; b's per column
  int opset = 21;
};

OpSpec qlinearMatMulSpec(const QmmCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t M = c.ad.rank() >= 2 ? c.ad[c.ad.rank() - 2] : 1;
  const int64_t N = c.bd.rank() >= 2 ? c.bd[c.bd.rank() - 1] : 1;
  const int64_t K = c.ad[c.ad.rank() - 1];
  const Dims rows = c.perRow ? Dims{M} : Dims{}, cols = c.perRow ? Dims{N} : Dims{};
  // a_scale * b_scale / y_scale ~ 0.01 / sqrt(K): outputs spread over the 8-bit range, a few
  // saturate.
  const double ys = std::sqrt(static_cast<double>(K));
  OpSpec s;
  s.op = "QLinearMatMul";
  s.opset = c.opset;
  s.inputs = {rnd8(c.a, c.ad, rng),
              randomTensor(c.scale, rows, rng, 0.05, 0.15),
              zp8(c.a, rows, rng),
              rnd8(c.b, c.bd, rng),
              randomTensor(c.scale, cols, rng, 0.05, 0.15),
              zp8(c.b, cols, rng),
              randomTensor(c.scale, rows, rng, 0.5 * ys, 1.5 * ys),
              zp8(c.y, rows, rng)};
  return s;
}

std::string describe(const QmmCase& c) {
  return c.ad.toString() + " x " + c.bd.toString() + " " + name(c.a) + "/" + name(c.b) + "->" + name(c.y) +
         " scales " + name(c.scale) + (c.perRow ? " per-row" : " per-tensor");
}

TEST(IntegerQLinearMatMul, TypesAndScales) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 41;
  for (DType scale : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
    for (DType a : {kU8, kS8})
      for (DType b : {kU8, kS8})
        for (DType y : {kU8, kS8})
          for (bool perRow : {false, true}) {
            QmmCase c{.a = a, .b = b, .y = y, .scale = scale, .perRow = perRow};
            expectExact(qlinearMatMulSpec(c, seed++), describe(c));
          }
}

TEST(IntegerQLinearMatMul, Opset10FloatScales) {
  KILN_REQUIRE_GPU();
  QmmCase c{.a = kU8, .b = kS8, .y = kU8, .opset = 10};
  expectExact(qlinearMatMulSpec(c, 61), describe(c));
  c.perRow = true;
  expectExact(qlinearMatMulSpec(c, 62), describe(c));
}

TEST(IntegerQLinearMatMul, BatchBroadcastingAnd1D) {
  KILN_REQUIRE_GPU();
  const std::pair<Dims, Dims> shapes[] = {{{2, 1, 7, 13}, {3, 13, 5}}, {{2, 2, 4}, {2, 4, 3}}, {{3, 7, 13}, {13, 5}},
                                          {{13}, {2, 13, 5}},          {{7, 13}, {13}},          {{130, 70}, {70, 90}}};
  uint32_t seed = 71;
  for (const auto& [a, b] : shapes)
    for (DType scale : {DType::kFloat32, DType::kFloat16}) {
      QmmCase c{.a = seed % 2 ? kU8 : kS8, .b = kS8, .y = seed % 3 ? kU8 : kS8, .scale = scale, .ad = a, .bd = b};
      c.perRow = a.rank() >= 2 && b.rank() >= 2 && seed % 2 == 0;
      expectExact(qlinearMatMulSpec(c, seed++), describe(c));
    }
}

// Multiplier exactly 0.5 (a_scale 0.5, b_scale 1, y_scale 1): odd sums land on .5 and must round
// half to even, as std::nearbyint does on the CPU.
TEST(IntegerQLinearMatMul, TiesRoundHalfToEven) {
  KILN_REQUIRE_GPU();
  for (DType scale : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    std::mt19937 rng(81);
    auto sc = [&](float v) {
      Tensor t = Tensor::allocate(scale, {});
      if (scale == DType::kFloat16) t.data<Float16>()[0] = Float16(v);
      else if (scale == DType::kBFloat16) t.data<BFloat16>()[0] = BFloat16(v);
      else t.data<float>()[0] = v;
      return t;
    };
    OpSpec s;
    s.op = "QLinearMatMul";
    s.inputs = {randomTensor(kS8, {7, 13}, rng, -10, 10), sc(0.5f), Tensor::scalar<int8_t>(0),
                randomTensor(kS8, {13, 5}, rng, -10, 10), sc(1.0f), Tensor::scalar<int8_t>(1),
                sc(1.0f),                                  Tensor::scalar<int8_t>(3)};
    expectExact(s, "ties " + name(scale));
  }
}

// ---- ConvInteger / QLinearConv -------------------------------------------------------------------

struct ConvCase {
  DType x = kU8, w = kU8, y = kU8;
  Dims xd, wd;
  AttrMap a;
  bool xZp = true;   // ConvInteger: pass x_zero_point
  bool wZp = true;   // ConvInteger: pass w_zero_point
  bool perChannel = false;
  bool bias = false;  // QLinearConv
  bool constW = false;
};

OpSpec convIntegerSpec(const ConvCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  OpSpec s;
  s.op = "ConvInteger";
  s.opset = 10;
  s.attrs = c.a;
  s.inputs = {rnd8(c.x, c.xd, rng), rnd8(c.w, c.wd, rng)};
  if (c.xZp || c.wZp) s.inputs.push_back(c.xZp ? zp8(c.x, {}, rng) : Tensor());
  if (c.wZp) s.inputs.push_back(zp8(c.w, c.perChannel ? Dims{c.wd[0]} : Dims{}, rng));
  if (c.constW) {
    s.constInputs.assign(s.inputs.size(), false);
    s.constInputs[1] = true;
  }
  return s;
}

OpSpec qlinearConvSpec(const ConvCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const Dims ch = c.perChannel ? Dims{c.wd[0]} : Dims{};
  OpSpec s;
  s.op = "QLinearConv";
  s.opset = 10;
  s.attrs = c.a;
  // x_scale * w_scale / y_scale ~ 0.002: with up to ~100 taps the outputs spread, some saturate.
  s.inputs = {rnd8(c.x, c.xd, rng),
              randomTensor(DType::kFloat32, {}, rng, 0.02, 0.04),
              zp8(c.x, {}, rng),
              rnd8(c.w, c.wd, rng),
              randomTensor(DType::kFloat32, ch, rng, 0.02, 0.06),
              zp8(c.w, ch, rng),
              randomTensor(DType::kFloat32, {}, rng, 0.4, 0.8),
              zp8(c.y, {}, rng)};
  if (c.bias) s.inputs.push_back(randomTensor(DType::kInt32, {c.wd[0]}, rng, -3000, 3000));
  if (c.constW) {
    s.constInputs.assign(s.inputs.size(), false);
    for (int i : {3, 4, 5}) s.constInputs[i] = true;
    if (c.bias) s.constInputs[8] = true;
  }
  return s;
}

std::string describe(const ConvCase& c, const char* what) {
  return std::string(what) + " x" + c.xd.toString() + " w" + c.wd.toString() + " " + name(c.x) + "/" + name(c.w) +
         "->" + name(c.y) + (c.perChannel ? " per-channel" : "") + (c.bias ? " bias" : "");
}

// Geometries shared by both ops: 1-D, 2-D and 3-D; groups; strides; dilations; pads; auto_pad.
std::vector<ConvCase> geometries() {
  std::vector<ConvCase> g;
  auto add = [&](Dims x, Dims w, AttrMap a) {
    ConvCase c;
    c.xd = std::move(x);
    c.wd = std::move(w);
    c.a = std::move(a);
    g.push_back(std::move(c));
  };
  add({1, 1, 3, 3}, {1, 1, 2, 2}, {});                                              // conformance-sized
  add({1, 1, 3, 3}, {2, 1, 2, 2}, attrs({{"pads", Ints{1, 1, 1, 1}}}));
  add({2, 3, 9, 8}, {4, 3, 3, 3}, attrs({{"pads", Ints{1, 1, 1, 1}}}));
  add({2, 4, 9, 8}, {6, 2, 3, 3}, attrs({{"group", AttrValue(int64_t{2})}, {"strides", Ints{2, 2}}}));
  add({2, 4, 11, 10}, {6, 2, 3, 2},
      attrs({{"group", AttrValue(int64_t{2})}, {"dilations", Ints{2, 2}}, {"pads", Ints{2, 0, 1, 3}}}));
  add({1, 3, 10, 9}, {5, 3, 3, 3}, attrs({{"auto_pad", AttrValue("SAME_UPPER")}, {"strides", Ints{2, 2}}}));
  add({1, 3, 10, 9}, {5, 3, 4, 2}, attrs({{"auto_pad", AttrValue("SAME_LOWER")}, {"strides", Ints{3, 2}}}));
  add({1, 3, 8, 7}, {2, 3, 3, 3}, attrs({{"auto_pad", AttrValue("VALID")}}));
  add({2, 3, 17}, {4, 3, 5}, attrs({{"pads", Ints{2, 1}}, {"dilations", Ints{2}}}));          // 1-D
  add({2, 4, 16}, {6, 2, 3}, attrs({{"group", AttrValue(int64_t{2})}, {"strides", Ints{2}}, {"auto_pad", AttrValue("SAME_UPPER")}}));
  add({1, 6, 7, 7}, {6, 1, 3, 3}, attrs({{"group", AttrValue(int64_t{6})}, {"pads", Ints{1, 1, 1, 1}}}));  // depthwise
  add({1, 2, 5, 6, 7}, {3, 2, 2, 3, 2}, attrs({{"pads", Ints{1, 0, 1, 0, 1, 1}}, {"strides", Ints{1, 2, 1}}}));  // 3-D
  add({1, 8, 6, 5}, {16, 8, 1, 1}, {});                                             // 1x1
  return g;
}

TEST(IntegerConvInteger, Geometries) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 101;
  for (ConvCase c : geometries()) {
    c.x = seed % 2 ? kU8 : kS8;
    c.w = seed % 3 ? kS8 : kU8;
    c.perChannel = seed % 2 == 0;
    expectExact(convIntegerSpec(c, seed), describe(c, "ConvInteger"));
    ++seed;
  }
}

TEST(IntegerConvInteger, TypesAndZeroPoints) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 131;
  for (DType x : {kU8, kS8})
    for (DType w : {kU8, kS8})
      for (int zp = 0; zp < 5; ++zp) {
        ConvCase c;
        c.x = x;
        c.w = w;
        c.xd = {2, 4, 7, 6};
        c.wd = {6, 2, 3, 3};
        c.a = attrs({{"group", AttrValue(int64_t{2})}, {"pads", Ints{1, 0, 1, 1}}});
        c.xZp = zp != 0 && zp != 4;
        c.wZp = zp >= 2;
        c.perChannel = zp == 3;
        if (zp == 4) c.perChannel = true;  // only w_zero_point (x_zero_point passed as omitted)
        expectExact(convIntegerSpec(c, seed++), describe(c, "ConvInteger") + " zp mode " + std::to_string(zp));
      }
}

TEST(IntegerConvInteger, ConstantWeights) {
  KILN_REQUIRE_GPU();
  ConvCase c = geometries()[3];
  c.perChannel = true;
  c.constW = true;
  expectExact(convIntegerSpec(c, 151), describe(c, "ConvInteger const w"));
}

TEST(IntegerQLinearConv, Geometries) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 201;
  for (ConvCase c : geometries()) {
    c.x = seed % 2 ? kU8 : kS8;
    c.w = seed % 3 ? kS8 : kU8;
    c.y = seed % 4 < 2 ? kU8 : kS8;
    c.perChannel = seed % 2 == 0;
    c.bias = seed % 3 != 1;
    expectExact(qlinearConvSpec(c, seed), describe(c, "QLinearConv"));
    ++seed;
  }
}

TEST(IntegerQLinearConv, TypesBiasPerChannel) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 231;
  for (DType x : {kU8, kS8})
    for (DType w : {kU8, kS8})
      for (DType y : {kU8, kS8})
        for (int mode = 0; mode < 4; ++mode) {
          ConvCase c;
          c.x = x;
          c.w = w;
          c.y = y;
          c.xd = {2, 4, 9, 7};
          c.wd = {6, 2, 3, 3};
          c.a = attrs({{"group", AttrValue(int64_t{2})}, {"strides", Ints{2, 1}}, {"dilations", Ints{1, 2}},
                       {"pads", Ints{1, 2, 0, 1}}});
          c.perChannel = mode & 1;
          c.bias = mode & 2;
          c.constW = mode == 3;
          expectExact(qlinearConvSpec(c, seed++), describe(c, "QLinearConv"));
        }
}

// Multiplier exactly 0.5 (x_scale 0.5, w_scale 1, y_scale 1): odd sums round half to even.
TEST(IntegerQLinearConv, TiesRoundHalfToEven) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(251);
  OpSpec s;
  s.op = "QLinearConv";
  s.opset = 10;
  s.attrs = attrs({{"pads", Ints{1, 1, 1, 1}}});
  s.inputs = {randomTensor(kS8, {1, 2, 6, 5}, rng, -10, 10), Tensor::scalar<float>(0.5f), Tensor::scalar<int8_t>(1),
              randomTensor(kS8, {3, 2, 3, 3}, rng, -5, 5),  Tensor::fromVector<float>({1.0f}, {1}),
              Tensor::fromVector<int8_t>({0}, {1}),          Tensor::scalar<float>(1.0f),
              Tensor::scalar<int8_t>(-2),                    randomTensor(DType::kInt32, {3}, rng, -7, 7)};
  expectExact(s, "QLinearConv ties");
}

// ---- registry and `supports` (no GPU needed) -----------------------------------------------------

TEST(IntegerSupports, TacticsRegistered) {
  const std::pair<const char*, const char*> ops[] = {{"MatMulInteger", "cuda_int_matmulinteger"},
                                                     {"QLinearMatMul", "cuda_int_qlinearmatmul"},
                                                     {"ConvInteger", "cuda_int_convinteger"},
                                                     {"QLinearConv", "cuda_int_qlinearconv"}};
  for (const auto& [op, tactic] : ops) {
    const auto t = cudaTacticsFor(op);
    EXPECT_NE(std::find(t.begin(), t.end(), tactic), t.end()) << op;
  }
}

TEST(IntegerSupports, Types) {
  const DType U = DType::kUndefined, F = DType::kFloat32, H = DType::kFloat16, B = DType::kBFloat16,
              I32 = DType::kInt32;
  {
    Desc d("MatMulInteger", {}, {kU8, kS8, kU8, kS8}, {I32});
    EXPECT_TRUE(supports("cuda_int_matmulinteger", d.d));
    Desc o("MatMulInteger", {}, {kS8, kU8, U, kU8}, {I32});
    EXPECT_TRUE(supports("cuda_int_matmulinteger", o.d));
    Desc bad("MatMulInteger", {}, {kU8, kU8, kS8}, {I32});
    EXPECT_FALSE(supports("cuda_int_matmulinteger", bad.d));
    Desc i16("MatMulInteger", {}, {DType::kInt16, kU8}, {I32});
    EXPECT_FALSE(supports("cuda_int_matmulinteger", i16.d));
  }
  for (DType s : {F, H, B}) {
    Desc d("QLinearMatMul", {}, {kU8, s, kU8, kS8, s, kS8, s, kS8}, {kS8});
    EXPECT_TRUE(supports("cuda_int_qlinearmatmul", d.d)) << dtypeName(s);
  }
  {
    Desc f8("QLinearMatMul", {}, {DType::kFloat8E4M3FN, F, DType::kFloat8E4M3FN, kS8, F, kS8, F, kS8}, {kS8});
    EXPECT_FALSE(supports("cuda_int_qlinearmatmul", f8.d));
    Desc d64("QLinearMatMul", {}, {kU8, DType::kFloat64, kU8, kS8, F, kS8, F, kS8}, {kS8});
    EXPECT_FALSE(supports("cuda_int_qlinearmatmul", d64.d));
  }
  {
    Desc d("ConvInteger", {}, {kU8, kS8, kU8, kS8}, {I32});
    EXPECT_TRUE(supports("cuda_int_convinteger", d.d));
    Desc noZp("ConvInteger", {}, {kS8, kS8}, {I32});
    EXPECT_TRUE(supports("cuda_int_convinteger", noZp.d));
    Desc bad("ConvInteger", {}, {kU8, kS8, kS8}, {I32});
    EXPECT_FALSE(supports("cuda_int_convinteger", bad.d));
  }
  {
    Desc d("QLinearConv", {}, {kU8, F, kU8, kS8, F, kS8, F, kU8, I32}, {kU8});
    EXPECT_TRUE(supports("cuda_int_qlinearconv", d.d));
    Desc noBias("QLinearConv", {}, {kS8, F, kS8, kU8, F, kU8, F, kS8}, {kS8});
    EXPECT_TRUE(supports("cuda_int_qlinearconv", noBias.d));
    Desc half("QLinearConv", {}, {kU8, H, kU8, kS8, H, kS8, H, kU8}, {kU8});
    EXPECT_FALSE(supports("cuda_int_qlinearconv", half.d));
  }
}

}  // namespace
}  // namespace kiln::testing
