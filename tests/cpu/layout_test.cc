// Layout kernels against naive references at odd sizes: Pad (every mode, negative pads, axes),
// Resize (every mode and coordinate transformation, antialias, exclude_outside, sizes with
// aspect policies) against a non-separable per-point transcription of the ONNX reference,
// DepthToSpace/SpaceToDepth, CenterCropPad; and the errors they report.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <onnx/onnx_pb.h>

#include "onnx/importer.h"
#include "op_test_util.h"
#include "runtime/interpreter.h"

namespace kiln::testing {
namespace {

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

Dims unravel(int64_t i, const Dims& d) {
  Dims c = Dims::filled(d.rank(), 0);
  for (int k = d.rank() - 1; k >= 0; --k) {
    c[k] = i % d[k];
    i /= d[k];
  }
  return c;
}
int64_t ravel(const Dims& c, const Dims& d) {
  int64_t o = 0;
  for (int k = 0; k < d.rank(); ++k) o = o * d[k] + c[k];
  return o;
}

// ---- Pad -------------------------------------------------------------------------------------

// Source index of a padded position, by repeated reflection / wrapping (numpy's np.pad).
int64_t naivePadSource(int64_t i, int64_t n, const std::string& mode) {
  if (i >= 0 && i < n) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return i < 0 ? 0 : n - 1;
  if (mode == "wrap") {
    while (i < 0) i += n;
    while (i >= n) i -= n;
    return i;
  }
  if (n == 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
  }
  return i;
}

TEST(Layout, PadMatchesNaiveInEveryMode) {
  std::mt19937 rng(21);
  const Dims xd{3, 4, 5};
  for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
    for (int trial = 0; trial < 6; ++trial) {
      std::uniform_int_distribution<int64_t> u(-2, 7);
      std::vector<int64_t> pads(6);
      for (int a = 0; a < 3; ++a) {
        pads[a] = u(rng);
        pads[3 + a] = u(rng);
        // Cropping more than the axis has is an error; keep the sizes positive.
        while (xd[a] + pads[a] + pads[3 + a] <= 0) pads[3 + a]++;
      }
      Tensor x = randomTensor(DType::kFloat32, xd, rng);
      const float cv = 3.5f;
      auto r = runOp({.op = "Pad", .attrs = attrs({{"mode", mode}}),
                      .inputs = {x, Tensor::fromVector<int64_t>(pads, {6}), Tensor::scalar<float>(cv)},
                      .constInputs = {false, trial % 2 == 0, false}});
      ASSERT_TRUE(r.ok()) << mode << ": " << r.status().toString();
      Dims od = xd;
      for (int a = 0; a < 3; ++a) od[a] += pads[a] + pads[3 + a];
      ASSERT_EQ((*r)[0].dims(), od);
      for (int64_t i = 0; i < (*r)[0].numel(); ++i) {
        Dims c = unravel(i, od);
        float want = cv;
        bool constant = false;
        for (int a = 0; a < 3; ++a) {
          int64_t s = naivePadSource(c[a] - pads[a], xd[a], mode);
          if (s < 0) constant = true;
          else c[a] = s;
        }
        if (!constant) want = x.data<float>()[ravel(c, xd)];
        ASSERT_EQ((*r)[0].data<float>()[i], want) << mode << " trial " << trial << " at " << i;
      }
    }
  }
}

TEST(Layout, PadWithAxesInputAndIntegerTypes) {
  std::mt19937 rng(22);
  Tensor x = randomTensor(DType::kInt16, {2, 3, 4}, rng, -100, 100);
  // Pad only axis -1 (2 before, 1 after) and axis 0 (1 before).
  auto r = runOp({.op = "Pad", .attrs = attrs({{"mode", "edge"}}),
                  .inputs = {x, Tensor::fromVector<int64_t>({2, 1, 1, 0}, {4}), Tensor(),
                             Tensor::fromVector<int32_t>({-1, 0}, {2})},
                  .constInputs = {false, true, false, true}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ((*r)[0].dims(), (Dims{3, 3, 7}));
  for (int64_t i = 0; i < (*r)[0].numel(); ++i) {
    Dims c = unravel(i, Dims{3, 3, 7});
    Dims s{std::clamp<int64_t>(c[0] - 1, 0, 1), c[1], std::clamp<int64_t>(c[2] - 2, 0, 3)};
    EXPECT_EQ((*r)[0].data<int16_t>()[i], x.data<int16_t>()[ravel(s, x.dims())]);
  }
  // Wrong pads length, bad mode, reflect of an empty axis.
  auto bad = runOp({.op = "Pad", .inputs = {x, Tensor::fromVector<int64_t>({1, 1}, {2})}, .constInputs = {false, true}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  bad = runOp({.op = "Pad", .attrs = attrs({{"mode", "mirror"}}), .inputs = {x, Tensor::fromVector<int64_t>(std::vector<int64_t>(6, 1), {6})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("mirror"), std::string::npos);
  bad = runOp({.op = "Pad", .attrs = attrs({{"mode", "reflect"}}),
               .inputs = {Tensor::allocate(DType::kFloat32, {0, 2}), Tensor::fromVector<int64_t>({1, 0, 1, 0}, {4})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

// ---- Resize ----------------------------------------------------------------------------------

struct RP {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double A = -0.75, extrap = 0.0;
  bool exclude = false, antialias = false;
};

std::vector<double> naiveCoeffs(const RP& p, double ratio, double scale) {
  if (p.mode == "nearest") {
    if (ratio == 1.0) return {0, 1};
    bool right = p.nearest == "round_prefer_floor" ? ratio > 0.5
                 : p.nearest == "round_prefer_ceil" ? ratio >= 0.5
                 : p.nearest == "ceil";
    return {right ? 0.0 : 1.0, right ? 1.0 : 0.0};
  }
  auto cubic = [&](double x) {
    x = std::fabs(x);
    double A = p.A;
    if (x <= 1) return (A + 2) * x * x * x - (A + 3) * x * x + 1;
    if (x < 2) return A * x * x * x - 5 * A * x * x + 8 * A * x - 4 * A;
    return 0.0;
  };
  std::vector<double> c;
  if (!p.antialias) {
    if (p.mode == "linear") return {1 - ratio, ratio};
    for (int i = -1; i <= 2; ++i) c.push_back(cubic(i - ratio));
    return c;
  }
  const double s = std::min(scale, 1.0);
  const double support = p.mode == "linear" ? 1.0 : 2.0;
  const int start = static_cast<int>(std::floor(-support / s) + 1);
  double sum = 0;
  for (int i = start; i < 2 - start; ++i) {
    double x = s * (i - ratio);
    c.push_back(p.mode == "linear" ? std::clamp(1 - std::fabs(x), 0.0, 1.0) : cubic(x));
    sum += c.back();
  }
  for (double& v : c) v /= sum;
  return c;
}

// One output sample along one axis, transcribed from the reference's _interpolate_1d_with_x
// (edge padding, the n nearest samples with ties to the smaller index).
double naive1d(const std::vector<double>& data, double scale, int64_t outInt, double y, double r0, double r1, const RP& p) {
  const double W = static_cast<double>(data.size()), outW = scale * W;
  double x;
  if (p.coord == "align_corners") x = outW == 1 ? 0 : y * (W - 1) / (outW - 1);
  else if (p.coord == "asymmetric") x = y / scale;
  else if (p.coord == "tf_crop_and_resize") {
    x = outW == 1 ? (r1 - r0) * (W - 1) / 2 : y * (r1 - r0) * (W - 1) / (outW - 1);
    x += r0 * (W - 1);
    if (x < 0 || x > W - 1) return p.extrap;
  } else if (p.coord == "pytorch_half_pixel") x = outW == 1 ? -0.5 : (y + 0.5) / scale - 0.5;
  else if (p.coord == "half_pixel") x = (y + 0.5) / scale - 0.5;
  else {
    double adj = static_cast<double>(outInt) / outW;
    x = W / 2 * (1 - adj) + (y + 0.5) / scale - 0.5;
  }
  const double xi = std::floor(x);
  std::vector<double> c = naiveCoeffs(p, x == xi ? 1.0 : x - xi, scale);
  const int64_t n = static_cast<int64_t>(c.size()), pad = (n + 1) / 2, len = static_cast<int64_t>(data.size()) + 2 * pad;
  std::vector<int64_t> idx(len);
  std::iota(idx.begin(), idx.end(), 0);
  const double xp = x + static_cast<double>(pad);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    double da = std::fabs(xp - static_cast<double>(a)), db = std::fabs(xp - static_cast<double>(b));
    return da != db ? da < db : a < b;
  });
  idx.resize(n);
  std::sort(idx.begin(), idx.end());
  double sum = 0, acc = 0;
  if (p.exclude) {
    for (int64_t k = 0; k < n; ++k)
      if (idx[k] - pad < 0 || idx[k] - pad >= static_cast<int64_t>(data.size())) c[k] = 0;
    for (double v : c) sum += v;
    for (double& v : c) v /= sum;
  }
  for (int64_t k = 0; k < n; ++k) {
    int64_t s = std::clamp<int64_t>(idx[k] - pad, 0, static_cast<int64_t>(data.size()) - 1);
    acc += c[k] * data[s];
  }
  return acc;
}

// 2-D resize of one [H, W] slice, per output point (not separable).
std::vector<double> naiveResize2d(const std::vector<double>& x, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  double sh, double sw, const std::vector<double>& roi, const RP& p) {
  std::vector<double> out(OH * OW);
  for (int64_t oy = 0; oy < OH; ++oy)
    for (int64_t ox = 0; ox < OW; ++ox) {
      std::vector<double> col(H);
      for (int64_t h = 0; h < H; ++h)
        col[h] = naive1d(std::vector<double>(x.begin() + h * W, x.begin() + (h + 1) * W), sw, OW,
                         static_cast<double>(ox), roi[1], roi[3], p);
      out[oy * OW + ox] = naive1d(col, sh, OH, static_cast<double>(oy), roi[0], roi[2], p);
    }
  return out;
}

void checkResize(const RP& p, DType dt, const Dims& xd, std::vector<float> scales, std::vector<int64_t> sizes,
                 const std::string& policy, std::mt19937& rng) {
  const int64_t B = xd[0], H = xd[1], W = xd[2];
  Tensor x = randomTensor(dt, xd, rng, dt == DType::kUInt8 ? 0 : -1, dt == DType::kUInt8 ? 255 : 1);
  std::vector<double> roi = {0.1, 0.25, 0.85, 0.9};
  if (p.coord == "tf_crop_and_resize" && sizes.empty()) roi = {0.0, 0.3, 1.2, 0.8};
  for (double& v : roi) v = static_cast<float>(v);  // the op sees float32 values
  // Expected output size and scales, as the reference computes them.
  double sh, sw;
  int64_t OH, OW;
  if (!sizes.empty()) {
    sh = static_cast<double>(sizes[0]) / H;
    sw = static_cast<double>(sizes[1]) / W;
    OH = sizes[0];
    OW = sizes[1];
    if (policy != "stretch") {
      double s = policy == "not_larger" ? std::min(sh, sw) : std::max(sh, sw);
      sh = sw = s;
      OH = static_cast<int64_t>(s * H + 0.5);
      OW = static_cast<int64_t>(s * W + 0.5);
    }
  } else {
    sh = scales[0];
    sw = scales[1];
    OH = static_cast<int64_t>(std::floor(sh * H));
    OW = static_cast<int64_t>(std::floor(sw * W));
  }
  AttrMap a = attrs({{"mode", p.mode.c_str()}, {"coordinate_transformation_mode", p.coord.c_str()},
                     {"nearest_mode", p.nearest.c_str()}, {"cubic_coeff_a", static_cast<float>(p.A)},
                     {"exclude_outside", int64_t{p.exclude}}, {"antialias", int64_t{p.antialias}},
                     {"extrapolation_value", static_cast<float>(p.extrap)}, {"axes", std::vector<int64_t>{1, -1}},
                     {"keep_aspect_ratio_policy", policy.c_str()}});
  std::vector<float> roiF(roi.begin(), roi.end());
  std::vector<Tensor> ins = {x, Tensor::fromVector<float>(roiF, {4}), Tensor(), Tensor()};
  if (sizes.empty()) ins[2] = Tensor::fromVector<float>(scales, {2});
  else ins[3] = Tensor::fromVector<int64_t>(sizes, {2});
  const std::string what = fmt::format("{} {} {} aa={} ex={} A={} {} scales={} sizes={} {}", dtypeName(dt), p.mode, p.coord,
                                       p.antialias, p.exclude, p.A, p.nearest, fmt::join(scales, ","),
                                       fmt::join(sizes, ","), policy);
  auto r = runOp({.op = "Resize", .attrs = a, .inputs = ins, .constInputs = {false, true, true, true}});
  ASSERT_TRUE(r.ok()) << what << ": " << r.status().toString();
  const Tensor& y = (*r)[0];
  ASSERT_EQ(y.dims(), (Dims{B, OH, OW})) << what;
  // The reference skips an axis whose scale is 1 at an unchanged size.
  auto identity = [&](double s, int64_t in, int64_t out, double r0, double r1) {
    return std::fabs(s - 1) <= 1e-9 * std::max(1.0, s) && in == out && r0 == 0 && r1 == 1;
  };
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> slice(H * W);
    for (int64_t i = 0; i < H * W; ++i) slice[i] = x.doubleAt(b * H * W + i);
    std::vector<double> want;
    if (identity(sh, H, OH, roi[0], roi[2]) || identity(sw, W, OW, roi[1], roi[3])) continue;  // covered elsewhere
    want = naiveResize2d(slice, H, W, OH, OW, sh, sw, roi, p);
    for (int64_t i = 0; i < OH * OW; ++i) {
      double w = want[i];
      if (dt == DType::kUInt8) w = std::clamp(std::nearbyint(w), 0.0, 255.0);
      const double got = y.doubleAt(b * OH * OW + i);
      const double tol = dt == DType::kUInt8     ? 1.0
                         : dt == DType::kFloat16 ? 2e-3 * (1 + std::fabs(w))
                                                 : 2e-5 * (1 + std::fabs(w));
      ASSERT_NEAR(got, w, tol) << what << " at b=" << b << " (" << i / OW << "," << i % OW << ")";
    }
  }
}

TEST(Layout, ResizeMatchesPerPointReference) {
  std::mt19937 rng(31);
  const std::vector<std::vector<float>> scaleSets = {{0.6f, 0.37f}, {1.5f, 2.3f}, {2.0f, 0.8f}, {0.5f, 3.0f}};
  const char* coords[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                          "tf_crop_and_resize"};
  for (const char* coord : coords) {
    for (const auto& sc : scaleSets) {
      for (const char* nm : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
        RP p;
        p.coord = coord;
        p.nearest = nm;
        p.extrap = -7.5;
        checkResize(p, DType::kFloat32, {2, 5, 7}, sc, {}, "stretch", rng);
      }
      for (const char* mode : {"linear", "cubic"})
        for (int aa = 0; aa < 2; ++aa)
          for (int ex = 0; ex < 2; ++ex) {
            RP p;
            p.mode = mode;
            p.coord = coord;
            p.antialias = aa;
            p.exclude = ex;
            p.A = ex ? -0.5 : -0.75;
            p.extrap = 2.25;
            checkResize(p, DType::kFloat32, {2, 6, 9}, sc, {}, "stretch", rng);
            checkResize(p, DType::kFloat64, {1, 4, 5}, sc, {}, "stretch", rng);
          }
    }
  }
}

TEST(Layout, ResizeSizesAspectPoliciesAndIntegerTypes) {
  std::mt19937 rng(32);
  for (const char* policy : {"stretch", "not_larger", "not_smaller"})
    for (const char* mode : {"nearest", "linear", "cubic"}) {
      RP p;
      p.mode = mode;
      p.antialias = std::string(mode) != "nearest";
      checkResize(p, DType::kFloat32, {2, 7, 5}, {}, {4, 9}, policy, rng);
      checkResize(p, DType::kUInt8, {1, 6, 8}, {}, {11, 3}, policy, rng);
      checkResize(p, DType::kFloat16, {1, 5, 5}, {}, {3, 8}, policy, rng);
    }
}

TEST(Layout, ResizeNearestUpsampleIsExactForEveryType) {
  std::mt19937 rng(33);
  for (DType dt : {DType::kInt64, DType::kInt8, DType::kBool, DType::kBFloat16}) {
    Tensor x = randomTensor(dt, {2, 3, 4}, rng, -5, 5);
    auto r = runOp({.op = "Resize", .attrs = attrs({{"coordinate_transformation_mode", "asymmetric"}, {"nearest_mode", "floor"}}),
                    .inputs = {x, Tensor(), Tensor::fromVector<float>({1, 2, 3}, {3})}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    const Tensor& y = (*r)[0];
    ASSERT_EQ(y.dims(), (Dims{2, 6, 12}));
    for (int64_t i = 0; i < y.numel(); ++i) {
      Dims c = unravel(i, y.dims());
      c[1] /= 2;
      c[2] /= 3;
      ASSERT_EQ(y.doubleAt(i), x.doubleAt(ravel(c, x.dims()))) << dtypeName(dt);
    }
  }
  // Upsample (opset 9) shares the kernel: nearest with floor, asymmetric.
  Tensor x = randomTensor(DType::kFloat32, {1, 2, 3}, rng);
  auto u = runOp({.op = "Upsample", .inputs = {x, Tensor::fromVector<float>({1, 2, 1.5f}, {3})}, .opset = 9});
  ASSERT_TRUE(u.ok()) << u.status().toString();
  ASSERT_EQ((*u)[0].dims(), (Dims{1, 4, 4}));
  const int srcW[4] = {0, 0, 1, 2};  // floor(x / 1.5)
  for (int64_t i = 0; i < 16; ++i)
    EXPECT_EQ((*u)[0].data<float>()[i], x.data<float>()[(i / 4 / 2) * 3 + srcW[i % 4]]);
}

TEST(Layout, ResizeErrors) {
  std::mt19937 rng(34);
  Tensor x = randomTensor(DType::kFloat32, {1, 2, 3}, rng);
  Tensor sc = Tensor::fromVector<float>({1, 2, 2}, {3});
  Tensor sz = Tensor::fromVector<int64_t>({1, 4, 6}, {3});
  auto r = runOp({.op = "Resize", .inputs = {x, Tensor(), sc, sz}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = runOp({.op = "Resize", .inputs = {x}});
  ASSERT_FALSE(r.ok());
  r = runOp({.op = "Resize", .attrs = attrs({{"mode", "bilinear"}}), .inputs = {x, Tensor(), sc}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bilinear"), std::string::npos);
  r = runOp({.op = "Resize", .inputs = {x, Tensor(), Tensor::fromVector<float>({1, 2}, {2})}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = runOp({.op = "Resize", .inputs = {x, Tensor(), Tensor::fromVector<float>({1, -2, 1}, {3})}, .constInputs = {false, false, true}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = runOp({.op = "Resize", .attrs = attrs({{"coordinate_transformation_mode", "tf_crop_and_resize"}}),
             .inputs = {x, Tensor(), sc}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("roi"), std::string::npos);
}

// ---- DepthToSpace / SpaceToDepth / CenterCropPad ---------------------------------------------

TEST(Layout, DepthToSpaceAndSpaceToDepthMatchNaive) {
  std::mt19937 rng(41);
  const int64_t N = 2, C = 3, H = 5, W = 7, b = 2;
  for (const char* mode : {"DCR", "CRD"}) {
    Tensor x = randomTensor(DType::kFloat16, {N, C * b * b, H, W}, rng);
    auto r = runOp({.op = "DepthToSpace", .attrs = attrs({{"blocksize", b}, {"mode", mode}}), .inputs = {x}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    const Tensor& y = (*r)[0];
    ASSERT_EQ(y.dims(), (Dims{N, C, H * b, W * b}));
    for (int64_t i = 0; i < y.numel(); ++i) {
      Dims c = unravel(i, y.dims());
      const int64_t bi = c[2] % b, bj = c[3] % b;
      const int64_t ch = std::string(mode) == "DCR" ? (bi * b + bj) * C + c[1] : c[1] * b * b + bi * b + bj;
      ASSERT_EQ(y.data<Float16>()[i].bits, x.data<Float16>()[ravel(Dims{c[0], ch, c[2] / b, c[3] / b}, x.dims())].bits) << mode;
    }
    // SpaceToDepth inverts DepthToSpace in the same mode.
    auto back = runOp({.op = "SpaceToDepth", .attrs = attrs({{"blocksize", b}, {"mode", mode}}), .inputs = {y}});
    ASSERT_TRUE(back.ok()) << back.status().toString();
    ASSERT_EQ((*back)[0].dims(), x.dims());
    EXPECT_EQ(maxAbsDiff((*back)[0], x), 0.0) << mode;
  }
  auto bad = runOp({.op = "DepthToSpace", .attrs = attrs({{"blocksize", int64_t{2}}}),
                    .inputs = {randomTensor(DType::kFloat32, {1, 6, 2, 2}, rng)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  bad = runOp({.op = "SpaceToDepth", .attrs = attrs({{"blocksize", int64_t{2}}}),
               .inputs = {randomTensor(DType::kFloat32, {1, 1, 3, 4}, rng)}});
  ASSERT_FALSE(bad.ok());
}

TEST(Layout, CenterCropPadMatchesNaive) {
  std::mt19937 rng(42);
  Tensor x = randomTensor(DType::kInt32, {5, 6, 3}, rng, -50, 50);
  for (const auto& target : std::vector<std::vector<int64_t>>{{3, 9}, {8, 1}, {5, 6}, {2, 7}}) {
    auto r = runOp({.op = "CenterCropPad", .attrs = attrs({{"axes", std::vector<int64_t>{0, -2}}}),
                    .inputs = {x, Tensor::fromVector<int64_t>(target, {2})}, .constInputs = {false, true}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    Dims od{target[0], target[1], 3};
    ASSERT_EQ((*r)[0].dims(), od);
    for (int64_t i = 0; i < (*r)[0].numel(); ++i) {
      Dims c = unravel(i, od);
      bool inside = true;
      for (int a = 0; a < 2; ++a) {
        const int64_t n = x.dims()[a], m = od[a];
        // Crop: the window starts at floor((n - m) / 2); pad: the input starts at floor((m - n) / 2).
        c[a] = m <= n ? c[a] + (n - m) / 2 : c[a] - (m - n) / 2;
        inside = inside && c[a] >= 0 && c[a] < n;
      }
      EXPECT_EQ((*r)[0].data<int32_t>()[i], inside ? x.data<int32_t>()[ravel(c, x.dims())] : 0);
    }
  }
}

// ---- Older opset forms through the importer --------------------------------------------------

struct ModelBuilder {
  ::onnx::ModelProto m;
  explicit ModelBuilder(int opset) {
    m.set_ir_version(7);
    auto* os = m.add_opset_import();
    os->set_domain("");
    os->set_version(opset);
    m.mutable_graph()->set_name("g");
  }
  void input(const std::string& name, std::vector<std::string> dims) {
    auto* tt = m.mutable_graph()->add_input();
    tt->set_name(name);
    auto* t = tt->mutable_type()->mutable_tensor_type();
    t->set_elem_type(::onnx::TensorProto::FLOAT);
    for (const auto& d : dims) {
      auto* dim = t->mutable_shape()->add_dim();
      if (std::isdigit(d[0])) dim->set_dim_value(std::stoll(d));
      else dim->set_dim_param(d);
    }
  }
  void floats(const std::string& name, std::vector<float> v) {
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (float f : v) t->add_float_data(f);
  }
  ::onnx::NodeProto* node(const std::string& op, std::vector<std::string> ins, const std::string& out) {
    auto* n = m.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + out);
    for (auto& i : ins) n->add_input(i);
    n->add_output(out);
    return n;
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, std::vector<float> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOATS);
    for (float f : v) a->add_floats(f);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INTS);
    for (int64_t i : v) a->add_ints(i);
  }
  static void attrInt(::onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  Result<std::shared_ptr<ir::Graph>> import(const std::string& out) {
    m.mutable_graph()->add_output()->set_name(out);
    std::string bytes;
    m.SerializeToString(&bytes);
    KILN_ASSIGN_OR_RETURN(auto g, onnx_import::importModelBytes(bytes, ""));
    return std::shared_ptr<ir::Graph>(std::move(g));
  }
};

Result<Tensor> runGraph(std::shared_ptr<ir::Graph> g, const Tensor& x) {
  KILN_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::create(g));
  std::vector<runtime::NamedTensor> outs;
  KILN_RETURN_IF_ERROR(interp->run({{"x", x}}, &outs));
  return outs[0].tensor;
}

bool hasOp(const ir::Graph& g, const std::string& op) {
  for (const ir::Node* n : g.nodes())
    if (n->opType() == op) return true;
  return false;
}

TEST(Layout, UpsampleAndResize10BecomeResize) {
  std::mt19937 rng(61);
  Tensor x = randomTensor(DType::kFloat32, {1, 2, 3, 4}, rng);
  for (int opset : {7, 9, 10}) {
    ModelBuilder b(opset);
    b.input("x", {"1", "2", "3", "4"});
    ::onnx::NodeProto* n;
    if (opset == 7) {
      n = b.node("Upsample", {"x"}, "y");
      ModelBuilder::attr(n, "scales", std::vector<float>{1, 1, 2, 1.5f});
    } else {
      b.floats("s", {1, 1, 2, 1.5f});
      n = b.node(opset == 10 ? "Resize" : "Upsample", {"x", "s"}, "y");
    }
    ModelBuilder::attr(n, "mode", std::string("nearest"));
    auto g = b.import("y");
    ASSERT_TRUE(g.ok()) << opset << ": " << g.status().toString();
    EXPECT_TRUE(hasOp(**g, "Resize"));
    EXPECT_FALSE(hasOp(**g, "Upsample"));
    EXPECT_EQ((*g)->outputs()[0]->shape().toString(), "[1,2,6,6]");
    auto y = runGraph(*g, x);
    ASSERT_TRUE(y.ok()) << y.status().toString();
    // Asymmetric coordinates, floor: output (h, w) reads (h / 2, floor(w / 1.5)).
    for (int64_t i = 0; i < y->numel(); ++i) {
      Dims c = unravel(i, y->dims());
      c[2] = c[2] / 2;
      c[3] = static_cast<int64_t>(std::floor(c[3] / 1.5));
      ASSERT_EQ(y->data<float>()[i], x.data<float>()[ravel(c, x.dims())]) << "opset " << opset;
    }
  }
}

TEST(Layout, PadAttributeFormsBecomeInputs) {
  std::mt19937 rng(62);
  Tensor x = randomTensor(DType::kFloat32, {2, 3}, rng);
  for (int opset : {1, 2}) {
    ModelBuilder b(opset);
    b.input("x", {"2", "3"});
    auto* n = b.node("Pad", {"x"}, "y");
    ModelBuilder::attr(n, opset == 1 ? "paddings" : "pads", std::vector<int64_t>{0, 1, 1, 2});
    ModelBuilder::attr(n, "value", 1.5f);
    auto g = b.import("y");
    ASSERT_TRUE(g.ok()) << g.status().toString();
    EXPECT_EQ((*g)->outputs()[0]->shape().toString(), "[3,6]");
    auto y = runGraph(*g, x);
    ASSERT_TRUE(y.ok()) << y.status().toString();
    for (int64_t i = 0; i < 18; ++i) {
      const int64_t r = i / 6, c = i % 6 - 1;
      const float want = (r < 2 && c >= 0 && c < 3) ? x.data<float>()[r * 3 + c] : 1.5f;
      EXPECT_EQ(y->data<float>()[i], want) << "opset " << opset << " at " << i;
    }
  }
}

TEST(Layout, SymbolicDimsFlowThroughLayoutOps) {
  ModelBuilder b(18);
  b.input("x", {"N", "8", "H", "W"});
  b.floats("s", {1, 1, 2, 0.5f});
  b.node("Resize", {"x", "", "s"}, "r");
  ModelBuilder::attrInt(b.node("DepthToSpace", {"r"}, "d"), "blocksize", 2);
  auto g = b.import("d");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  // H doubles; W * 0.5 is unknown until run time; DepthToSpace moves 8 channels into 2x2 blocks.
  EXPECT_EQ((*g)->outputs()[0]->shape().toString(), "[N,2,4*H,?]");
}

}  // namespace
}  // namespace kiln::testing
