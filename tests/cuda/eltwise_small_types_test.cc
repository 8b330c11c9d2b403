// The small ONNX types on CUDA (fp8 x4, fp4, e8m0, 4/2-bit integers): Cast/CastLike both ways,
// the general QuantizeLinear/DequantizeLinear (blocked scales, 16/4/2-bit, fp8, fp4, e8m0
// scales), DynamicQuantizeLinear, mixed-type Pow, BitCast and CumProd, against the CPU reference.
// Small-type results are compared code for code; float results value for value (NaN == NaN).
#include <cmath>
#include <cstring>
#include <limits>

#include "eltwise_test_util.h"

namespace kiln::testing {
namespace {

using eltwise_test::castTo;
using eltwise_test::rnd;
using eltwise_test::spec;

const DType kSmallTypes[] = {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2, DType::kFloat8E5M2FNUZ,
                             DType::kFloat4E2M1,   DType::kFloat8E8M0,     DType::kInt4,       DType::kUInt4,
                             DType::kInt2,         DType::kUInt2};

bool isSmallType(DType t) {
  for (DType s : kSmallTypes)
    if (s == t) return true;
  return false;
}

// Every byte value as a tensor of small type t (any byte is a valid element: readers use the low bits).
Tensor allCodes(DType t) {
  Tensor x = Tensor::allocate(t, Dims{256});
  for (int i = 0; i < 256; ++i) static_cast<uint8_t*>(x.raw())[i] = static_cast<uint8_t>(i);
  return x;
}

// Floats that probe rounding and saturation of every small type: exact halves between fp8/fp4
// neighbours, subnormals, values past every type's range, +-0, inf and NaN, plus random values.
Tensor probeFloats(std::mt19937& rng) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> v = {0.f,   -0.f,   nan,    -nan,   inf,    -inf,   0.25f,  0.75f, 1.25f, 1.75f,  2.5f,
                          3.5f,  5.f,    -5.f,   6.f,    7.f,    1e-3f,  2e-3f,  1e-6f, 1e-9f, 1e-40f, 448.f,
                          464.f, 480.f,  57344.f, 61440.f, 1e6f, -1e6f,  240.f,  1.f / 512, 1.f / 1024, 3e38f,
                          1.5f,  -1.5f,  2.9f,   -2.9f,  7.5f,   -8.5f,  15.f,   16.f,  -9.f,  100.f,  -100.f};
  std::uniform_real_distribution<float> mant(-1.f, 1.f);
  std::uniform_int_distribution<int> ex(-20, 20);
  while (v.size() < 1024) v.push_back(std::ldexp(mant(rng), ex(rng)));
  return Tensor::fromVector<float>(v, Dims{static_cast<int64_t>(v.size())});
}

// Both outputs equal: small types and integers byte for byte; floats value for value, NaN == NaN.
void expectSame(const Tensor& got, const Tensor& want, const std::string& label) {
  ASSERT_EQ(got.dtype(), want.dtype()) << label;
  ASSERT_EQ(got.dims(), want.dims()) << label;
  if (!isFloat(want.dtype()) || isSmallType(want.dtype())) {
    const auto* a = static_cast<const uint8_t*>(got.raw());
    const auto* b = static_cast<const uint8_t*>(want.raw());
    for (size_t i = 0; i < want.nbytes(); ++i)
      if (a[i] != b[i]) {
        ADD_FAILURE() << label << ": byte " << i << " is " << int(a[i]) << ", expected " << int(b[i]);
        return;
      }
    return;
  }
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double a = got.doubleAt(i), b = want.doubleAt(i);
    if (std::isnan(a) && std::isnan(b)) continue;
    if (a != b) {
      ADD_FAILURE() << label << ": element " << i << " is " << a << ", expected " << b;
      return;
    }
  }
}

// Runs spec on the CPU reference and on the GPU (tactic chosen by the builder) and expects
// identical outputs.
void expectExactOnGpu(const OpSpec& s, const std::string& label) {
  auto want = runOp(s);
  ASSERT_TRUE(want.ok()) << label << " CPU: " << want.status().toString();
  auto got = runOpCuda(s);
  ASSERT_TRUE(got.ok()) << label << " GPU: " << got.status().toString();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < want->size(); ++i) expectSame((*got)[i], (*want)[i], label + " output " + std::to_string(i));
}

OpSpec castSpec(const Tensor& x, DType to, int64_t saturate = 1, const std::string& roundMode = "up") {
  AttrMap a;
  a.set("to", AttrValue(static_cast<int64_t>(to)));
  a.set("saturate", AttrValue(saturate));
  a.set("round_mode", AttrValue(roundMode));
  OpSpec s = spec("Cast", {x}, a);
  s.opset = 25;
  return s;
}

TEST(CudaSmallTypes, CastFromEveryCode) {
  KILN_REQUIRE_GPU();
  for (DType from : kSmallTypes) {
    const Tensor x = allCodes(from);
    for (DType to : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8, DType::kUInt8,
                     DType::kInt32, DType::kInt64, DType::kUInt64, DType::kBool, DType::kFloat8E4M3FN,
                     DType::kFloat8E5M2FNUZ, DType::kFloat4E2M1, DType::kInt4, DType::kUInt2}) {
      if (to == from) continue;
      expectExactOnGpu(castSpec(x, to), std::string(dtypeName(from)) + " -> " + std::string(dtypeName(to)));
    }
  }
}

TEST(CudaSmallTypes, CastToSmallTypesRoundsAndSaturates) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(7);
  const Tensor f = probeFloats(rng);
  const Tensor ints = Tensor::fromVector<int64_t>({0, 1, -1, 7, 8, -8, -9, 15, 16, 17, 200, -200, 3, -3, 2, -2, 1LL << 40,
                                                   -(1LL << 40)},
                                                  Dims{18});
  for (DType to : kSmallTypes) {
    for (int64_t sat : {1, 0}) {
      for (DType src : {DType::kFloat32, DType::kFloat16, DType::kFloat64}) {
        const Tensor x = castTo(f, src);
        expectExactOnGpu(castSpec(x, to, sat),
                         std::string(dtypeName(src)) + " -> " + std::string(dtypeName(to)) + " saturate " + std::to_string(sat));
      }
    }
    expectExactOnGpu(castSpec(ints, to), "int64 -> " + std::string(dtypeName(to)));
    expectExactOnGpu(castSpec(castTo(ints, DType::kUInt8), to), "uint8 -> " + std::string(dtypeName(to)));
  }
  for (const char* rm : {"up", "down", "nearest"})
    for (int64_t sat : {1, 0})
      expectExactOnGpu(castSpec(f, DType::kFloat8E8M0, sat, rm), std::string("float32 -> e8m0 round ") + rm);
}

TEST(CudaSmallTypes, CastLikeTakesTheTargetTypeOnly) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(8);
  const Tensor f = probeFloats(rng);
  for (DType to : {DType::kFloat8E4M3FN, DType::kUInt4, DType::kFloat32}) {
    OpSpec s = spec("CastLike", {to == DType::kFloat32 ? allCodes(DType::kFloat8E5M2) : f, allCodes(to)});
    s.opset = 25;
    expectExactOnGpu(s, "CastLike -> " + std::string(dtypeName(to)));
  }
}

// saturate < 0: not set (DequantizeLinear has no such attribute).
AttrMap quantAttrs(int64_t axis, int64_t blockSize, int64_t saturate = -1) {
  AttrMap a;
  a.set("axis", AttrValue(axis));
  a.set("block_size", AttrValue(blockSize));
  if (saturate >= 0) a.set("saturate", AttrValue(saturate));
  return a;
}

OpSpec quantSpec(const std::string& op, std::vector<Tensor> in, AttrMap a) {
  OpSpec s = spec(op, std::move(in), std::move(a));
  s.opset = 25;
  return s;
}

TEST(CudaSmallTypes, QuantizeEveryTypeAndLayout) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(9);
  // x [3, 10, 5]: per tensor, per axis 1, blocked along axis 1 with block 4 (a partial last block).
  const Tensor x = rnd(DType::kFloat32, Dims{3, 10, 5}, rng, -40, 40);
  const Tensor sT = Tensor::fromVector<float>({0.37f}, Dims{});
  const Tensor sA = rnd(DType::kFloat32, Dims{10}, rng, 0.2, 3);
  const Tensor sB = rnd(DType::kFloat32, Dims{3, 3, 5}, rng, 0.2, 3);
  for (DType q : {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kUInt16, DType::kInt4, DType::kUInt4, DType::kInt2,
                  DType::kUInt2, DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2,
                  DType::kFloat8E5M2FNUZ, DType::kFloat4E2M1}) {
    const bool f8 = isFloat(q) && q != DType::kFloat4E2M1;
    const bool isUnsigned = q == DType::kUInt8 || q == DType::kUInt16 || q == DType::kUInt4 || q == DType::kUInt2;
    auto zp = [&](const Dims& d) {
      if (f8) return castTo(Tensor::allocate(DType::kFloat32, d), q);  // fp8 zero points are 0
      Tensor z = rnd(DType::kInt32, d, rng, isUnsigned ? 0 : -1, isUnsigned ? 2 : 1);
      return castTo(z, q);
    };
    for (DType xt : {DType::kFloat32, DType::kFloat16}) {
      const Tensor xx = castTo(x, xt);
      const std::string label = std::string(dtypeName(xt)) + " -> " + std::string(dtypeName(q));
      for (int64_t sat : {1, 0}) {
        if (!f8 && sat == 0) continue;
        expectExactOnGpu(quantSpec("QuantizeLinear", {xx, castTo(sT, xt), zp(Dims{})}, quantAttrs(1, 0, sat)),
                         label + " per tensor");
      }
      expectExactOnGpu(quantSpec("QuantizeLinear", {xx, sA, zp(Dims{10})}, quantAttrs(1, 0)), label + " per axis");
      expectExactOnGpu(quantSpec("QuantizeLinear", {xx, sB, zp(Dims{3, 3, 5})}, quantAttrs(1, 4)), label + " blocked");
    }
  }
  // e8m0 scales (powers of two) and an explicit precision.
  Tensor se = castTo(Tensor::fromVector<float>({0.5f, 2.f, 4.f, 0.25f, 1.f, 8.f, 0.125f, 1.f, 2.f, 16.f}, Dims{10}),
                     DType::kFloat8E8M0);
  expectExactOnGpu(quantSpec("QuantizeLinear", {x, se}, quantAttrs(1, 0)), "e8m0 scale");
  AttrMap prec = quantAttrs(1, 0);
  prec.set("precision", AttrValue(static_cast<int64_t>(DType::kFloat16)));
  expectExactOnGpu(quantSpec("QuantizeLinear", {x, sA, castTo(rnd(DType::kInt32, Dims{10}, rng, -3, 3), DType::kInt8)}, prec),
                   "float16 precision");
}

TEST(CudaSmallTypes, DequantizeEveryTypeAndLayout) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(10);
  const Tensor sA = rnd(DType::kFloat32, Dims{16}, rng, 0.2, 3);
  const Tensor sB = rnd(DType::kFloat32, Dims{3, 3}, rng, 0.2, 3);  // axis 1 of [3, 16] in blocks of 7: 3 blocks
  for (DType q : {DType::kInt16, DType::kUInt16, DType::kInt4, DType::kUInt4, DType::kInt2, DType::kUInt2,
                  DType::kFloat8E4M3FN, DType::kFloat8E5M2, DType::kFloat8E4M3FNUZ, DType::kFloat4E2M1, DType::kUInt8}) {
    const bool fp = isFloat(q);
    Tensor x = q == DType::kInt16 || q == DType::kUInt16 || q == DType::kUInt8
                   ? castTo(rnd(DType::kInt32, Dims{3, 16}, rng, 0, 250), q)
                   : Tensor::allocate(q, Dims{3, 16});
    if (x.dtype() != DType::kInt16 && x.dtype() != DType::kUInt16 && x.dtype() != DType::kUInt8)
      for (int i = 0; i < 48; ++i) static_cast<uint8_t*>(x.raw())[i] = static_cast<uint8_t>(rng() & 0xFF);
    const std::string label = std::string(dtypeName(q));
    for (DType yt : {DType::kFloat32, DType::kFloat16}) {
      OpSpec s = quantSpec("DequantizeLinear", {x, castTo(Tensor::fromVector<float>({0.75f}, Dims{}), yt)}, quantAttrs(1, 0));
      expectExactOnGpu(s, label + " per tensor -> " + std::string(dtypeName(yt)));
    }
    Tensor zA = fp ? castTo(Tensor::allocate(DType::kFloat32, Dims{16}), q) : castTo(rnd(DType::kInt32, Dims{16}, rng, 0, 1), q);
    expectExactOnGpu(quantSpec("DequantizeLinear", {x, sA, zA}, quantAttrs(1, 0)), label + " per axis");
    expectExactOnGpu(quantSpec("DequantizeLinear", {x, sB}, quantAttrs(1, 7)), label + " blocked");
  }
}

TEST(CudaSmallTypes, DynamicQuantizeLinear) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(11);
  for (const auto& [lo, hi] : {std::pair{-3.0, 5.0}, std::pair{0.5, 9.0}, std::pair{-7.0, -1.0}}) {
    OpSpec s = spec("DynamicQuantizeLinear", {rnd(DType::kFloat32, Dims{7, 301}, rng, lo, hi)});
    s.numOutputs = 3;
    expectExactOnGpu(s, "DynamicQuantizeLinear");
  }
  OpSpec one = spec("DynamicQuantizeLinear", {Tensor::fromVector<float>({2.5f}, Dims{1})});
  one.numOutputs = 3;
  expectExactOnGpu(one, "DynamicQuantizeLinear of one value");
}

TEST(CudaSmallTypes, PowWithMixedTypes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(12);
  const Tensor base = rnd(DType::kFloat32, Dims{3, 1, 17}, rng, 0.1, 3);
  const Tensor ibase = rnd(DType::kInt64, Dims{5, 17}, rng, -6, 6);
  for (DType et : {DType::kInt32, DType::kInt64, DType::kUInt32, DType::kUInt64, DType::kFloat64}) {
    const Tensor e = castTo(rnd(DType::kInt32, Dims{5, 17}, rng, 0, 4), et);
    expectGpuMatchesCpu(spec("Pow", {base, e}), 1e-6);
  }
  // Integer bases with integral float exponents (a fractional power of a negative integer is NaN,
  // whose conversion to an integer is undefined).
  expectGpuMatchesCpu(spec("Pow", {ibase, castTo(rnd(DType::kInt32, Dims{17}, rng, 0, 5), DType::kFloat32)}));
  expectGpuMatchesCpu(spec("Pow", {castTo(ibase, DType::kInt32), castTo(rnd(DType::kInt32, Dims{1}, rng, 1, 3), DType::kFloat32)}));
  expectGpuMatchesCpu(spec("Pow", {castTo(base, DType::kFloat16), castTo(rnd(DType::kInt32, Dims{1}, rng, 1, 3), DType::kInt64)}), 1e-3);
}

TEST(CudaSmallTypes, BitCast) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(13);
  auto bitcast = [](const Tensor& x, DType to) {
    AttrMap a;
    a.set("to", AttrValue(static_cast<int64_t>(to)));
    OpSpec s = spec("BitCast", {x}, a);
    s.opset = 26;
    return s;
  };
  const Tensor f = rnd(DType::kFloat32, Dims{4, 33}, rng, -5, 5);
  expectExactOnGpu(bitcast(f, DType::kInt32), "float32 -> int32");
  expectExactOnGpu(bitcast(rnd(DType::kInt64, Dims{9}, rng, -1000, 1000), DType::kFloat64), "int64 -> float64");
  expectExactOnGpu(bitcast(rnd(DType::kUInt8, Dims{37}, rng, 0, 3), DType::kBool), "uint8 -> bool (0/1 only)");
  expectExactOnGpu(bitcast(rnd(DType::kUInt16, Dims{5, 3}, rng, 0, 60000), DType::kInt16), "uint16 -> int16");
}

TEST(CudaSmallTypes, CumProd) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(14);
  for (int64_t axis : {0, 1, -1})
    for (int64_t excl : {0, 1})
      for (int64_t rev : {0, 1}) {
        AttrMap a;
        a.set("exclusive", AttrValue(excl));
        a.set("reverse", AttrValue(rev));
        OpSpec s = spec("CumProd", {rnd(DType::kFloat32, Dims{3, 11, 5}, rng, 0.5, 1.5), Tensor::scalar<int64_t>(axis)}, a);
        s.constInputs = {false, true};
        s.opset = 26;
        expectGpuMatchesCpu(s, 1e-6);
        s.inputs[0] = rnd(DType::kInt32, Dims{3, 11, 5}, rng, -3, 3);
        expectGpuMatchesCpu(s);
        s.inputs[0] = rnd(DType::kFloat64, Dims{3, 11, 5}, rng, 0.5, 1.5);
        expectGpuMatchesCpu(s, 1e-12);
      }
}

}  // namespace
}  // namespace kiln::testing
