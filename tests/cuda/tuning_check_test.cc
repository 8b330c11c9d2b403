// The builder's device-side tuning helpers (backends/cuda/tuning_check.h): the random fill is
// in range, varied and reproducible; diffNorms matches the same sums computed on the host,
// NaN and infinity agreement and mismatches included.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/cuda/tuning_check.h"
#include "gpu_test_util.h"
#include "kiln/tensor.h"

namespace kiln::testing {
namespace {

struct Buf {
  void* p = nullptr;
  explicit Buf(size_t n) { EXPECT_EQ(cudaMalloc(&p, n), cudaSuccess); }
  ~Buf() { cudaFree(p); }
};

Tensor download(const Buf& b, DType t, int64_t n) {
  Tensor h = Tensor::allocate(t, Dims{n});
  EXPECT_EQ(cudaMemcpy(h.raw(), b.p, h.nbytes(), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}

void setValue(Tensor& t, int64_t i, float v) {
  switch (t.dtype()) {
    case DType::kFloat32: t.data<float>()[i] = v; break;
    case DType::kFloat16: t.data<Float16>()[i] = Float16(v); break;
    case DType::kBFloat16: t.data<BFloat16>()[i] = BFloat16(v); break;
    default: FAIL() << "unexpected " << dtypeName(t.dtype());
  }
}
void setNan(Tensor& t, int64_t i) { setValue(t, i, NAN); }

// Writes element i of host tensor h and of the device copy at p.
void poke(Tensor& h, void* p, int64_t i, float v) {
  setValue(h, i, v);
  const size_t es = dtypeSize(h.dtype());
  ASSERT_EQ(cudaMemcpy(static_cast<char*>(p) + i * es, static_cast<const char*>(h.raw()) + i * es, es,
                       cudaMemcpyHostToDevice),
            cudaSuccess);
}

TEST(TuningCheck, FillIsInRangeVariedAndReproducible) {
  KILN_REQUIRE_GPU();
  const int64_t n = 100003;  // odd: the grid-stride tail
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    SCOPED_TRACE(dtypeName(t));
    Buf a(n * 8), b(n * 8), c(n * 8);
    ASSERT_EQ(cuda::fillUniform(a.p, t, n, 7, -2.f, 3.f, nullptr), cudaSuccess);
    ASSERT_EQ(cuda::fillUniform(b.p, t, n, 7, -2.f, 3.f, nullptr), cudaSuccess);
    ASSERT_EQ(cuda::fillUniform(c.p, t, n, 8, -2.f, 3.f, nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    Tensor ha = download(a, t, n), hb = download(b, t, n), hc = download(c, t, n);
    double sum = 0, lo = 1e9, hi = -1e9;
    int64_t sameAsC = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double x = ha.doubleAt(i);
      ASSERT_EQ(x, hb.doubleAt(i)) << "same seed, element " << i;
      sameAsC += x == hc.doubleAt(i);
      sum += x;
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    EXPECT_GE(lo, -2.0);
    EXPECT_LE(hi, 3.0);  // fp16/bf16 rounding may reach the upper bound itself
    EXPECT_LT(lo, -1.9);
    EXPECT_GT(hi, 2.9);
    EXPECT_NEAR(sum / n, 0.5, 0.05);
    EXPECT_LT(sameAsC, n / 20) << "another seed gives other values";
  }
  EXPECT_EQ(cuda::fillUniform(nullptr, DType::kInt32, 5, 1, 0.f, 1.f, nullptr), cudaErrorInvalidValue);
}

TEST(TuningCheck, DiffNormsMatchTheHost) {
  KILN_REQUIRE_GPU();
  const int64_t n = 77777;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    SCOPED_TRACE(dtypeName(t));
    Buf a(n * 4), b(n * 4), sums(3 * sizeof(double));
    ASSERT_EQ(cuda::fillUniform(a.p, t, n, 1, -1.f, 1.f, nullptr), cudaSuccess);
    ASSERT_EQ(cuda::fillUniform(b.p, t, n, 2, -1.f, 1.f, nullptr), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    Tensor ha = download(a, t, n), hb = download(b, t, n);
    // NaN in both (agree), NaN in a only (mismatch), +inf in both (agree), +inf in b only
    // (mismatch), -inf against +inf (mismatch).
    poke(ha, a.p, 10, NAN);
    poke(hb, b.p, 10, NAN);
    poke(ha, a.p, n - 1, NAN);
    poke(ha, a.p, 20, INFINITY);
    poke(hb, b.p, 20, INFINITY);
    poke(hb, b.p, 30, INFINITY);
    poke(ha, a.p, 40, -INFINITY);
    poke(hb, b.p, 40, INFINITY);
    double num = 0, den = 0, mismatch = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double x = ha.doubleAt(i), y = hb.doubleAt(i);
      const bool inf = std::isinf(x) || std::isinf(y);
      if (std::isnan(x) != std::isnan(y) || (inf && x != y)) {
        mismatch += 1;
        continue;
      }
      if (std::isnan(x) || inf) continue;
      num += (x - y) * (x - y);
      den += y * y;
    }
    ASSERT_EQ(cudaMemset(sums.p, 0, 3 * sizeof(double)), cudaSuccess);
    ASSERT_EQ(cuda::diffNorms(a.p, b.p, t, n, static_cast<double*>(sums.p), nullptr), cudaSuccess);
    double h[3];
    ASSERT_EQ(cudaMemcpy(h, sums.p, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_NEAR(h[0], num, 1e-9 * num);
    EXPECT_NEAR(h[1], den, 1e-9 * den);
    EXPECT_EQ(h[2], mismatch);
    EXPECT_EQ(mismatch, 3);
    EXPECT_GT(num, 0.1 * n);  // independent draws: far apart on average
  }
}

}  // namespace
}  // namespace kiln::testing
