// DFT, STFT, Einsum and Det CUDA kernels (cuda_signal_dft, cuda_signal_stft, cuda_einsum, cuda_det)
// against the CPU reference: DFT of lengths 7, 16 and 25 over a batch of 3, real and complex
// input, every axis, forward / inverse / one-sided (rfft, irfft), dft_length shorter and longer
// than the signal, opset 17's form (axis as a constant input, what the importer makes of the
// attribute) and opset 20's; STFT with and without a window, one- and two-sided, real and complex;
// Einsum over matmuls, batched matmuls, traces, diagonals, transposes, sums, outer products,
// ellipsis broadcasting and three operands, float and integer; Det of single and batched matrices,
// singular ones, and matrices too large for shared memory. Host inputs (dft_length, axis,
// frame_step, frame_length) are constants, as a CUDA engine needs.
#include <algorithm>
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

// Random values in [-1, 1) that are never all zero (and a nonzero first element).
Tensor rand(DType t, const Dims& d, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  Tensor x = randomTensor(t, d, rng, lo, hi);
  return x;
}

Tensor i64(int64_t v) { return Tensor::scalar<int64_t>(v); }

double tolFor(DType t) {
  switch (t) {
    case DType::kFloat16: return 2e-3;  // the outputs' own rounding
    case DType::kBFloat16: return 1.5e-2;
    case DType::kFloat64: return 1e-12;
    default: return 1e-6;  // both accumulate in double and round once
  }
}

// ---- DFT ----------------------------------------------------------------------------------------

struct DftCase {
  DType type = DType::kFloat32;
  Dims x;                 // (..., signal, 1 or 2)
  int64_t axis = 1;       // -1 = default (input omitted at opset 20)
  int64_t dftLength = 0;  // 0 = omitted
  bool inverse = false, onesided = false;
  int opset = 20;
};

OpSpec dftSpec(const DftCase& c, uint32_t seed) {
  OpSpec s;
  s.op = "DFT";
  s.opset = c.opset;
  s.attrs = attrs({{"inverse", AttrValue(int64_t{c.inverse})}, {"onesided", AttrValue(int64_t{c.onesided})}});
  s.inputs = {rand(c.type, c.x, seed)};
  s.constInputs = {false};
  const bool hasAxis = c.axis != -1 || c.opset < 20;  // opset 17-19: the importer always adds the attribute's axis
  if (c.dftLength || hasAxis) {
    s.inputs.push_back(c.dftLength ? i64(c.dftLength) : Tensor());
    s.constInputs.push_back(true);
  }
  if (hasAxis) {
    s.inputs.push_back(i64(c.axis == -1 ? 1 : c.axis));
    s.constInputs.push_back(true);
  }
  return s;
}

void expectDft(const DftCase& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "DFT " << dtypeName(c.type) << " " << c.x.toString() << " axis=" << c.axis
                                    << " dft_length=" << c.dftLength << " inverse=" << c.inverse
                                    << " onesided=" << c.onesided << " opset=" << c.opset);
  expectGpuMatchesCpu(dftSpec(c, seed), tolFor(c.type));
}

TEST(SignalDft, LengthsRealComplexForwardInverse) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1;
  for (int64_t n : {7, 16, 25})
    for (int64_t comp : {1, 2})
      for (bool inverse : {false, true})
        for (bool onesided : {false, true}) {
          if (inverse && onesided) continue;  // irfft below
          expectDft({.x = {3, n, comp}, .axis = 1, .inverse = inverse, .onesided = onesided}, seed++);
          expectDft({.x = {3, n, comp}, .axis = -2, .inverse = inverse, .onesided = onesided, .opset = 17}, seed++);
        }
}

// irfft: the input holds the first n/2+1 bins of a Hermitian spectrum; the default length is
// 2 * (bins - 1), an explicit one may be odd.
TEST(SignalDft, InverseOneSided) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 100;
  for (int64_t bins : {4, 9, 13}) {
    expectDft({.x = {3, bins, 2}, .axis = 1, .inverse = true, .onesided = true}, seed++);
    expectDft({.x = {3, bins, 2}, .axis = 1, .inverse = true, .onesided = true, .opset = 17}, seed++);
    for (int64_t n : {7, 16, 25}) expectDft({.x = {3, bins, 2}, .axis = 1, .dftLength = n, .inverse = true, .onesided = true}, seed++);
  }
  expectDft({.x = {3, 5, 2, 4, 2}, .axis = 2, .dftLength = 7, .inverse = true, .onesided = true}, seed++);
}

// dft_length shorter than the signal truncates it, longer zero-pads it.
TEST(SignalDft, DftLengthShorterAndLonger) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 200;
  for (int64_t comp : {1, 2})
    for (int64_t n : {7, 16, 25})
      for (bool inverse : {false, true})
        for (bool onesided : {false, true}) {
          if (inverse && onesided) continue;
          expectDft({.x = {3, 16, comp}, .axis = 1, .dftLength = n, .inverse = inverse, .onesided = onesided}, seed++);
        }
}

// Axes other than the last signal dim (the transform is strided) and negative axes.
TEST(SignalDft, Axes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 300;
  for (int64_t comp : {1, 2}) {
    const Dims x{3, 7, 5, 4, comp};
    for (int64_t axis : {0, 1, 2, 3, -2, -3, -5}) {
      expectDft({.x = x, .axis = axis}, seed++);
      expectDft({.x = x, .axis = axis, .onesided = true}, seed++);
      expectDft({.x = x, .axis = axis, .dftLength = 9, .inverse = true}, seed++);
    }
  }
  expectDft({.x = {3, 25, 2}, .axis = -1}, seed++);  // the default axis input (-2) at opset 20
  expectDft({.x = {1, 10, 10, 1}, .axis = 2, .opset = 17}, seed++);  // the conformance layout
}

TEST(SignalDft, OtherTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 400;
  for (DType t : {DType::kFloat64, DType::kFloat16, DType::kBFloat16})
    for (int64_t comp : {1, 2}) {
      expectDft({.type = t, .x = {3, 25, comp}, .axis = 1}, seed++);
      expectDft({.type = t, .x = {3, 16, comp}, .axis = 1, .dftLength = 25, .inverse = true}, seed++);
      expectDft({.type = t, .x = {3, 7, 4, comp}, .axis = 1, .onesided = true}, seed++);
      if (comp == 2) expectDft({.type = t, .x = {3, 9, 2}, .axis = 1, .inverse = true, .onesided = true}, seed++);
    }
}

// Transforms longer than the shared-memory twiddle table compute each twiddle in place.
TEST(SignalDft, LongTransforms) {
  KILN_REQUIRE_GPU();
  expectDft({.x = {2, 3000, 2}, .axis = 1}, 501);
  expectDft({.x = {2, 2048, 1}, .axis = 1, .dftLength = 2049, .onesided = true}, 502);
  expectDft({.type = DType::kFloat64, .x = {1, 2600, 2}, .axis = 1, .dftLength = 4097, .inverse = true, .onesided = true},
            503);
}

// ---- STFT ---------------------------------------------------------------------------------------

struct StftCase {
  DType type = DType::kFloat32;
  Dims x;  // (batch, length, 1 or 2)
  int64_t step = 1;
  int64_t frameLength = 0;  // 0 = omitted (from the window, or the whole signal)
  int64_t window = 0;       // window length; 0 = no window
  bool onesided = true;
};

void expectStft(const StftCase& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "STFT " << dtypeName(c.type) << " " << c.x.toString() << " step=" << c.step
                                    << " frame_length=" << c.frameLength << " window=" << c.window
                                    << " onesided=" << c.onesided);
  OpSpec s;
  s.op = "STFT";
  s.opset = 17;
  s.attrs = attrs({{"onesided", AttrValue(int64_t{c.onesided})}});
  s.inputs = {rand(c.type, c.x, seed), i64(c.step), c.window ? rand(c.type, {c.window}, seed + 7777, 0.1, 1.0) : Tensor()};
  s.constInputs = {false, true, false};
  if (c.frameLength) {
    s.inputs.push_back(i64(c.frameLength));
    s.constInputs.push_back(true);
  }
  expectGpuMatchesCpu(s, tolFor(c.type));
}

TEST(SignalStft, WithAndWithoutWindow) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 600;
  for (int64_t comp : {1, 2})
    for (bool onesided : {true, false}) {
      expectStft({.x = {3, 128, comp}, .step = 8, .frameLength = 16, .onesided = onesided}, seed++);
      expectStft({.x = {3, 128, comp}, .step = 8, .window = 16, .onesided = onesided}, seed++);
      expectStft({.x = {3, 100, comp}, .step = 7, .frameLength = 25, .window = 25, .onesided = onesided}, seed++);
      expectStft({.x = {3, 50, comp}, .step = 3, .frameLength = 7, .onesided = onesided}, seed++);
      expectStft({.x = {3, 25, comp}, .step = 4, .onesided = onesided}, seed++);  // one frame: the whole signal
    }
}

TEST(SignalStft, OtherTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 700;
  for (DType t : {DType::kFloat64, DType::kFloat16, DType::kBFloat16}) {
    expectStft({.type = t, .x = {3, 128, 1}, .step = 8, .window = 16}, seed++);
    expectStft({.type = t, .x = {3, 60, 2}, .step = 5, .frameLength = 7, .onesided = false}, seed++);
  }
}

// ---- Einsum -------------------------------------------------------------------------------------

void expectEinsum(const std::string& eq, const std::vector<Dims>& shapes, DType t, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "Einsum '" << eq << "' " << dtypeName(t));
  OpSpec s;
  s.op = "Einsum";
  s.opset = 12;
  s.attrs = attrs({{"equation", AttrValue(eq)}});
  for (size_t i = 0; i < shapes.size(); ++i) {
    const bool isInt = !isFloat(t);
    s.inputs.push_back(isInt ? rand(t, shapes[i], seed + uint32_t(i), -9.0, 9.0) : rand(t, shapes[i], seed + uint32_t(i)));
  }
  expectGpuMatchesCpu(s, isFloat(t) ? tolFor(t) : 0.0);
}

struct EinsumCase {
  const char* eq;
  std::vector<Dims> shapes;
};

const std::vector<EinsumCase>& einsumCases() {
  static const std::vector<EinsumCase> cases = {
      {"ij,jk->ik", {{5, 7}, {7, 3}}},
      {"bij,bjk->bik", {{3, 5, 7}, {3, 7, 4}}},
      {"bij, bjk -> bik", {{5, 2, 3}, {5, 3, 4}}},  // spaces, as in the conformance test
      {"ii->i", {{7, 7}}},
      {"ii", {{7, 7}}},
      {"ij->ji", {{5, 7}}},
      {"ij->i", {{3, 4}}},
      {"ij", {{3, 4}}},
      {"ji", {{3, 4}}},  // implicit output in letter order: a transpose
      {"i,i", {{25}, {25}}},
      {"i,j->ij", {{5}, {7}}},
      {"...ij,...jk->...ik", {{2, 3, 5, 4}, {2, 3, 4, 6}}},
      {"...ij,...jk->...ik", {{2, 1, 5, 4}, {3, 4, 6}}},  // ellipsis dims broadcast
      {"...ii->...i", {{3, 5, 5}}},
      {"bn,anm,bm->ba", {{3, 5}, {4, 5, 6}, {3, 6}}},
      {"ij,ij->ij", {{3, 1}, {3, 4}}},  // a size-1 dim broadcasts
      {"iij->j", {{4, 4, 3}}},
      {"ijk,ikl,ilm->im", {{2, 3, 4}, {2, 4, 5}, {2, 5, 3}}},
      {"i...->...", {{4, 3, 2}}},
      {"abcdefgh->hgfedcba", {{2, 1, 3, 2, 1, 2, 3, 2}}},
  };
  return cases;
}

TEST(SignalEinsum, Equations) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 800;
  for (const EinsumCase& c : einsumCases()) expectEinsum(c.eq, c.shapes, DType::kFloat32, seed += 10);
}

TEST(SignalEinsum, OtherTypes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 900;
  for (DType t : {DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64, DType::kInt8,
                  DType::kUInt8})
    for (const EinsumCase& c : einsumCases()) expectEinsum(c.eq, c.shapes, t, seed += 10);
}

TEST(SignalEinsum, ScalarAndLarger) {
  KILN_REQUIRE_GPU();
  expectEinsum("->", {{}}, DType::kFloat64, 1000);
  expectEinsum(",->", {{}, {}}, DType::kFloat32, 1001);
  expectEinsum("bij,bjk->bik", {{4, 70, 90}, {4, 90, 50}}, DType::kFloat32, 1002);
  expectEinsum("ij->", {{300, 200}}, DType::kFloat64, 1003);
}

// ---- Det ----------------------------------------------------------------------------------------

void expectDet(const Tensor& x, double tol) {
  SCOPED_TRACE(::testing::Message() << "Det " << x.describe());
  OpSpec s;
  s.op = "Det";
  s.opset = 22;
  s.inputs = {x};
  expectGpuMatchesCpu(s, tol);
}

// Batches of near-identity matrices (determinants near 1, no overflow at any size).
Tensor nearIdentity(DType t, const Dims& d, uint32_t seed, double scale) {
  Tensor x = rand(DType::kFloat64, d, seed, -scale, scale);
  const int64_t m = d[d.rank() - 1];
  double* p = x.data<double>();
  for (int64_t b = 0; b < x.numel() / (m * m); ++b)
    for (int64_t i = 0; i < m; ++i) p[b * m * m + i * m + i] += 1.0;
  if (t == DType::kFloat64) return x;
  Tensor y = Tensor::allocate(t, d);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (t == DType::kFloat32) y.data<float>()[i] = static_cast<float>(p[i]);
    else if (t == DType::kFloat16) y.data<Float16>()[i] = Float16(static_cast<float>(p[i]));
    else y.data<BFloat16>()[i] = BFloat16(static_cast<float>(p[i]));
  }
  return y;
}

TEST(SignalDet, SingleAndBatched) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 1100;
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16}) {
    const double tol = t == DType::kFloat64 ? 1e-12 : t == DType::kFloat32 ? 1e-6 : tolFor(t);
    expectDet(rand(t, {5, 5}, seed++), tol);
    expectDet(rand(t, {3, 4, 4}, seed++), tol);
    expectDet(rand(t, {2, 3, 7, 7}, seed++), tol);
    expectDet(rand(t, {1, 1}, seed++), tol);
    expectDet(rand(t, {3, 2, 2}, seed++), tol);
  }
}

// Singular matrices give exactly 0 (a zero pivot), mixed with regular ones in one batch.
TEST(SignalDet, Singular) {
  KILN_REQUIRE_GPU();
  Tensor x = rand(DType::kFloat32, {4, 4, 4}, 1200);
  float* p = x.data<float>();
  for (int j = 0; j < 4; ++j) p[16 * 0 + 2 * 4 + j] = p[16 * 0 + 0 * 4 + j];  // matrix 0: rows 0 and 2 equal
  for (int i = 0; i < 4; ++i) p[16 * 2 + i * 4 + 1] = 0.0f;                   // matrix 2: column 1 zero
  for (int j = 0; j < 4; ++j) p[16 * 3 + 3 * 4 + j] = 2.0f * p[16 * 3 + 1 * 4 + j];  // matrix 3: row 3 = 2 row 1
  expectDet(x, 1e-6);
  OpSpec s;
  s.op = "Det";
  s.opset = 22;
  s.inputs = {x};
  auto cpu = runOp(s);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  auto gpu = runOpCuda(s);
  ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
  for (int b = 0; b < 3; b += 2) {
    EXPECT_EQ((*cpu)[0].doubleAt(b), 0.0) << b;
    EXPECT_EQ((*gpu)[0].doubleAt(b), 0.0) << b;
  }
  EXPECT_NE((*gpu)[0].doubleAt(1), 0.0);
  Tensor z = Tensor::allocate(DType::kFloat64, {3, 3});
  std::fill(z.data<double>(), z.data<double>() + 9, 0.0);
  auto zs = s;
  zs.inputs = {z};
  auto gz = runOpCuda(zs);
  ASSERT_TRUE(gz.ok()) << gz.status().toString();
  EXPECT_EQ((*gz)[0].doubleAt(0), 0.0);
}

// Matrices larger than kDetSharedMaxM (78) go through the workspace, several launches for a batch
// larger than it holds.
TEST(SignalDet, LargeMatrices) {
  KILN_REQUIRE_GPU();
  expectDet(nearIdentity(DType::kFloat64, {3, 90, 90}, 1300, 0.05), 1e-12);
  expectDet(nearIdentity(DType::kFloat32, {130, 130}, 1301, 0.05), 1e-6);
  expectDet(nearIdentity(DType::kFloat64, {70, 80, 80}, 1302, 0.05), 1e-12);
  expectDet(nearIdentity(DType::kFloat32, {2, 78, 78}, 1303, 0.05), 1e-6);
}

// ---- registry and `supports` (no GPU needed) ----------------------------------------------------

TEST(SignalSupports, TacticsAndTypes) {
  for (const auto& [op, tactic] : std::vector<std::pair<std::string, std::string>>{
           {"DFT", "cuda_signal_dft"}, {"STFT", "cuda_signal_stft"}, {"Einsum", "cuda_einsum"}, {"Det", "cuda_det"}}) {
    const auto t = cudaTacticsFor(op);
    EXPECT_NE(std::find(t.begin(), t.end(), tactic), t.end()) << op;
  }
  const AttrMap none;
  const AttrMap eq = attrs({{"equation", AttrValue("ij,jk->ik")}});
  const AttrMap badEq = attrs({{"equation", AttrValue("ij,j?->ik")}});
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    Desc dft("DFT", none, {t, DType::kInt64, DType::kInt64}, {t});
    EXPECT_TRUE(supports("cuda_signal_dft", dft.d)) << dtypeName(t);
    Desc stft("STFT", none, {t, DType::kInt64, t, DType::kInt32}, {t});
    EXPECT_TRUE(supports("cuda_signal_stft", stft.d)) << dtypeName(t);
    Desc det("Det", none, {t}, {t});
    EXPECT_TRUE(supports("cuda_det", det.d)) << dtypeName(t);
    Desc ein("Einsum", eq, {t, t}, {t});
    EXPECT_TRUE(supports("cuda_einsum", ein.d)) << dtypeName(t);
  }
  Desc intEinsum("Einsum", eq, {DType::kInt64, DType::kInt64}, {DType::kInt64});
  EXPECT_TRUE(supports("cuda_einsum", intEinsum.d));
  Desc mixed("Einsum", eq, {DType::kFloat32, DType::kFloat16}, {DType::kFloat32});
  EXPECT_FALSE(supports("cuda_einsum", mixed.d));
  Desc bad("Einsum", badEq, {DType::kFloat32, DType::kFloat32}, {DType::kFloat32});
  EXPECT_FALSE(supports("cuda_einsum", bad.d));
  Desc arity("Einsum", eq, {DType::kFloat32}, {DType::kFloat32});
  EXPECT_FALSE(supports("cuda_einsum", arity.d));
  Desc intDft("DFT", none, {DType::kInt32}, {DType::kInt32});
  EXPECT_FALSE(supports("cuda_signal_dft", intDft.d));
  Desc intDet("Det", none, {DType::kInt32}, {DType::kInt32});
  EXPECT_FALSE(supports("cuda_det", intDet.d));
  Desc mixedWindow("STFT", none, {DType::kFloat32, DType::kInt64, DType::kFloat16}, {DType::kFloat32});
  EXPECT_FALSE(supports("cuda_signal_stft", mixedWindow.d));
}

}  // namespace
}  // namespace kiln::testing
