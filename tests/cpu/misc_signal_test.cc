// Window functions, DFT (forward/inverse/rfft/irfft, any axis, truncated and zero-padded
// lengths), STFT and MelWeightMatrix against direct formulas, plus error cases.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>

#include "op_test_util.h"

namespace kiln::testing {
namespace {

using cd = std::complex<double>;
constexpr double kPi = std::numbers::pi;

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

double maxErr(const Tensor& got, const std::vector<double>& want) {
  EXPECT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  double m = 0;
  for (int64_t i = 0; i < got.numel() && i < static_cast<int64_t>(want.size()); ++i)
    m = std::max(m, std::fabs(got.doubleAt(i) - want[i]));
  return m;
}

TEST(Windows, MatchFormulas) {
  for (const char* op : {"HannWindow", "HammingWindow", "BlackmanWindow"})
    for (int64_t periodic : {0, 1}) {
      const int64_t n = 11;
      auto r = runOp({.op = op, .attrs = attrs({{"periodic", AttrValue(periodic)}}),
                      .inputs = {Tensor::scalar<int64_t>(n)}, .opset = 17});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      const double N = periodic ? n : n - 1;
      std::vector<double> want;
      for (int64_t i = 0; i < n; ++i) {
        const double a = 2 * kPi * i / N;
        if (std::string(op) == "HannWindow") want.push_back(0.5 - 0.5 * std::cos(a));
        else if (std::string(op) == "HammingWindow") want.push_back(25.0 / 46 - 21.0 / 46 * std::cos(a));
        else want.push_back(0.42 - 0.5 * std::cos(a) + 0.08 * std::cos(2 * a));
      }
      EXPECT_LE(maxErr((*r)[0], want), 1e-6) << op << periodic;
    }
  // Integer output type and int32 size.
  auto r = runOp({.op = "HannWindow", .attrs = attrs({{"output_datatype", AttrValue(int64_t{11})}}),
                  .inputs = {Tensor::scalar<int32_t>(4)}, .opset = 17});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)[0].dtype(), DType::kFloat64);
  EXPECT_NEAR((*r)[0].data<double>()[2], 1.0, 1e-12);
  auto bad = runOp({.op = "HannWindow", .attrs = attrs({{"output_datatype", AttrValue(int64_t{8})}}),
                    .inputs = {Tensor::scalar<int32_t>(4)}, .opset = 17});
  EXPECT_FALSE(bad.ok());
}

// Direct transform of a complex line (zero-padded or truncated to n); inverse includes 1/n.
std::vector<cd> directDft(const std::vector<cd>& x, int64_t n, bool inverse) {
  std::vector<cd> out(n);
  for (int64_t k = 0; k < n; ++k) {
    cd acc = 0;
    for (int64_t t = 0; t < std::min<int64_t>(n, x.size()); ++t)
      acc += x[t] * std::polar(1.0, (inverse ? 2 : -2) * kPi * double(k * t % n) / n);
    out[k] = inverse ? acc / double(n) : acc;
  }
  return out;
}

TEST(DFT, ForwardInverseOnesidedAlongEveryAxis) {
  std::mt19937 rng(1);
  const Dims xdReal = {2, 6, 5, 1}, xdCplx = {2, 6, 5, 2};
  for (int64_t axis : {1, 2, -2, -3})
    for (bool complexIn : {false, true})
      for (bool inverse : {false, true})
        for (bool onesided : {false, true})
          for (int64_t len : {0, 4, 9}) {  // 0: default length
            if (inverse && onesided && !complexIn) continue;
            const Dims xd = complexIn ? xdCplx : xdReal;
            Tensor x = randomTensor(DType::kFloat64, xd, rng);
            OpSpec s{.op = "DFT",
                     .attrs = attrs({{"inverse", AttrValue(int64_t{inverse})}, {"onesided", AttrValue(int64_t{onesided})}}),
                     .inputs = {x, len ? Tensor::scalar<int64_t>(len) : Tensor(), Tensor::scalar<int64_t>(axis)},
                     .opset = 20};
            auto r = runOp(s);
            ASSERT_TRUE(r.ok()) << r.status().toString();
            const int ax = static_cast<int>(axis < 0 ? axis + 4 : axis);
            const int64_t L = xd[ax];
            const bool irfft = inverse && onesided;
            const int64_t n = len ? len : (irfft ? 2 * (L - 1) : L);
            const int64_t m = (!inverse && onesided) ? n / 2 + 1 : n;
            Dims od = xd;
            od[ax] = m;
            od[3] = irfft ? 1 : 2;
            ASSERT_EQ((*r)[0].dims(), od);
            std::vector<double> want(od.numel());
            const int64_t outer = ax == 1 ? 2 : 12, inner = ax == 1 ? 5 : 1;
            for (int64_t o = 0; o < outer; ++o)
              for (int64_t i = 0; i < inner; ++i) {
                std::vector<cd> line(L);
                for (int64_t t = 0; t < L; ++t) {
                  const int64_t e = ((o * L + t) * inner + i) * xd[3];
                  line[t] = cd(x.doubleAt(e), complexIn ? x.doubleAt(e + 1) : 0.0);
                }
                std::vector<cd> res;
                if (irfft) {  // Hermitian extension of the first n/2+1 bins
                  std::vector<cd> full(n);
                  for (int64_t k = 0; k <= n / 2; ++k) full[k] = k < L ? line[k] : 0.0;
                  for (int64_t k = 1; k < n - k; ++k) full[n - k] = std::conj(full[k]);
                  res = directDft(full, n, true);
                } else {
                  res = directDft(line, n, inverse);
                }
                for (int64_t k = 0; k < m; ++k) {
                  const int64_t e = ((o * m + k) * inner + i) * od[3];
                  want[e] = res[k].real();
                  if (!irfft) want[e + 1] = res[k].imag();
                }
              }
            EXPECT_LE(maxErr((*r)[0], want), 1e-9) << axis << complexIn << inverse << onesided << len;
          }
  std::mt19937 r2(2);
  auto bad = runOp({.op = "DFT", .inputs = {randomTensor(DType::kFloat32, {2, 6, 1}, r2), Tensor(), Tensor::scalar<int64_t>(2)},
                    .opset = 20});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("axis"), std::string::npos) << bad.status().toString();
}

TEST(STFT, MatchesWindowedFrames) {
  std::mt19937 rng(3);
  const int64_t B = 2, L = 37, step = 5, fl = 8;
  for (bool window : {false, true})
    for (int64_t onesided : {0, 1}) {
      Tensor x = randomTensor(DType::kFloat32, {B, L, 1}, rng);
      Tensor w = randomTensor(DType::kFloat32, {fl}, rng, 0, 1);
      auto r = runOp({.op = "STFT", .attrs = attrs({{"onesided", AttrValue(onesided)}}),
                      .inputs = {x, Tensor::scalar<int64_t>(step), window ? w : Tensor(), Tensor::scalar<int64_t>(fl)},
                      .opset = 17});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      const int64_t frames = 1 + (L - fl) / step, bins = onesided ? fl / 2 + 1 : fl;
      ASSERT_EQ((*r)[0].dims(), (Dims{B, frames, bins, 2}));
      std::vector<double> want;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t f = 0; f < frames; ++f) {
          std::vector<cd> frame(fl);
          for (int64_t t = 0; t < fl; ++t) frame[t] = x.doubleAt(b * L + f * step + t) * (window ? w.doubleAt(t) : 1.0);
          auto res = directDft(frame, fl, false);
          for (int64_t k = 0; k < bins; ++k) want.insert(want.end(), {res[k].real(), res[k].imag()});
        }
      EXPECT_LE(maxErr((*r)[0], want), 1e-5) << window << onesided;
    }
  auto bad = runOp({.op = "STFT", .inputs = {randomTensor(DType::kFloat32, {1, 6, 1}, rng), Tensor::scalar<int64_t>(1), Tensor(),
                                            Tensor::scalar<int64_t>(9)},
                    .opset = 17});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("shorter than frame_length"), std::string::npos) << bad.status().toString();
}

TEST(MelWeightMatrix, MatchesReferenceValues) {
  // Expected values from onnx.reference (num_mel_bins 5, dft_length 32, 16 kHz, 100..7000 Hz).
  const std::vector<double> want = {
      1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 1, 0,
      0, 0, 0, 0.75, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0.25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  auto r = runOp({.op = "MelWeightMatrix",
                  .inputs = {Tensor::scalar<int32_t>(5), Tensor::scalar<int32_t>(32), Tensor::scalar<int32_t>(16000),
                             Tensor::scalar<float>(100), Tensor::scalar<float>(7000)},
                  .opset = 17});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)[0].dims(), (Dims{17, 5}));
  EXPECT_EQ(maxErr((*r)[0], want), 0.0);
  auto bad = runOp({.op = "MelWeightMatrix",
                    .inputs = {Tensor::scalar<int32_t>(5), Tensor::scalar<int32_t>(32), Tensor::scalar<int32_t>(1000),
                               Tensor::scalar<float>(100), Tensor::scalar<float>(7000)},
                    .opset = 17});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("outside"), std::string::npos) << bad.status().toString();
}

}  // namespace
}  // namespace kiln::testing
