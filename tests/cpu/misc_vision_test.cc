// GridSample (2-D and 3-D, every mode, padding mode and align_corners), AffineGrid, RoiAlign and
// Col2Im against naive references at odd sizes, plus error cases.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "op_test_util.h"

namespace kiln::testing {
namespace {

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

void expectError(const OpSpec& s, StatusCode code, const std::string& text) {
  auto r = runOp(s);
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), code) << r.status().toString();
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().toString();
}

double maxErr(const Tensor& got, const std::vector<double>& want) {
  EXPECT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  double m = 0;
  for (int64_t i = 0; i < got.numel() && i < static_cast<int64_t>(want.size()); ++i)
    m = std::max(m, std::fabs(got.doubleAt(i) - want[i]));
  return m;
}

// ---- GridSample ---------------------------------------------------------------------------------

double reflectRef(double x, double lo, double hi) {
  const double rng = hi - lo;
  if (rng <= 0) return lo;
  while (x < lo || x > hi) x = x < lo ? 2 * lo - x : 2 * hi - x;  // mirror until inside
  return x;
}

std::vector<double> naiveGridSample(const Tensor& x, const Tensor& grid, const std::string& mode, const std::string& pad,
                                    bool align) {
  const Dims &xd = x.dims(), &gd = grid.dims();
  const int r = xd.rank() - 2;
  const int64_t N = xd[0], C = xd[1];
  int64_t P = 1, S = 1;
  for (int i = 0; i < r; ++i) P *= gd[1 + i], S *= xd[2 + i];
  std::vector<double> out(N * C * P);
  auto lo = [&](int i) { return align ? 0.0 : -0.5; };
  auto hi = [&](int i) { return align ? xd[2 + i] - 1.0 : xd[2 + i] - 0.5; };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < P; ++p) {
      std::vector<double> coord(r);
      for (int i = 0; i < r; ++i) {
        const double g = grid.doubleAt((n * P + p) * r + (r - 1 - i));
        const double D = xd[2 + i];
        double c = static_cast<float>(align ? (g + 1) / 2 * (D - 1) : ((g + 1) * D - 1) / 2);
        if (mode == "nearest") c = std::nearbyint(c);
        if (c < lo(i) || c > hi(i)) {
          if (pad == "border") c = std::clamp(c, 0.0, D - 1);
          if (pad == "reflection") c = static_cast<float>(reflectRef(c, lo(i), hi(i)));
        }
        coord[i] = c;
      }
      for (int64_t c = 0; c < C; ++c) {
        std::vector<int64_t> idx(r);
        std::function<double(int)> interp = [&](int dim) -> double {
          if (dim == r) {
            int64_t off = 0;
            for (int i = 0; i < r; ++i) {
              int64_t k = idx[i];
              const int64_t D = xd[2 + i];
              if (k < 0 || k >= D) {
                if (pad == "zeros") return 0.0;
                k = pad == "border" ? std::clamp<int64_t>(k, 0, D - 1)
                                    : static_cast<int64_t>(reflectRef(double(k), lo(i), hi(i)));
              }
              off = off * D + k;
            }
            return x.doubleAt((n * C + c) * S + off);
          }
          const double v = coord[dim];
          if (mode == "nearest") {
            idx[dim] = static_cast<int64_t>(v);
            return interp(dim + 1);
          }
          const int64_t f = static_cast<int64_t>(std::floor(v));
          const double t = v - std::floor(v);
          if (mode == "linear") {
            idx[dim] = f;
            const double a = interp(dim + 1);
            idx[dim] = f + 1;
            return (1 - t) * a + t * interp(dim + 1);
          }
          const double A = -0.75;
          auto w = [&](double s) {
            s = std::fabs(s);
            return s <= 1 ? ((A + 2) * s - (A + 3)) * s * s + 1 : ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
          };
          double acc = 0;
          for (int k = -1; k <= 2; ++k) {
            idx[dim] = f + k;
            acc += w(t - k) * interp(dim + 1);
          }
          return acc;
        };
        out[(n * C + c) * P + p] = interp(0);
      }
    }
  return out;
}

TEST(GridSample, EveryModePaddingAndAlignmentMatchesNaive) {
  std::mt19937 rng(1);
  const std::vector<std::pair<Dims, Dims>> shapes = {{{2, 3, 5, 4}, {2, 3, 6, 2}}, {{1, 2, 3, 4, 5}, {1, 2, 3, 4, 3}}};
  for (const auto& [xd, gd] : shapes)
    for (const char* mode : {"nearest", "linear", "cubic"})
      for (const char* pad : {"zeros", "border", "reflection"})
        for (int64_t align : {0, 1}) {
          Tensor x = randomTensor(DType::kFloat32, xd, rng, -2, 2), g = randomTensor(DType::kFloat32, gd, rng, -1.4, 1.4);
          auto r = runOp({.op = "GridSample",
                          .attrs = attrs({{"mode", AttrValue(mode)}, {"padding_mode", AttrValue(pad)},
                                          {"align_corners", AttrValue(align)}}),
                          .inputs = {x, g},
                          .opset = 22});
          ASSERT_TRUE(r.ok()) << r.status().toString();
          EXPECT_LE(maxErr((*r)[0], naiveGridSample(x, g, mode, pad, align)), 1e-5)
              << xd.toString() << " " << mode << " " << pad << " " << align;
        }
}

TEST(GridSample, DTypesAndErrors) {
  std::mt19937 rng(2);
  Tensor x = randomTensor(DType::kFloat64, {1, 2, 4, 3}, rng), g = randomTensor(DType::kFloat16, {1, 2, 2, 2}, rng);
  auto r = runOp({.op = "GridSample", .inputs = {x, g}, .opset = 22});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_LE(maxErr((*r)[0], naiveGridSample(x, g, "linear", "zeros", false)), 1e-6);
  expectError({.op = "GridSample", .attrs = attrs({{"mode", AttrValue("bilinear")}}), .inputs = {x, g}, .opset = 22},
              StatusCode::kInvalidArgument, "mode must be");
  expectError({.op = "GridSample", .inputs = {x, randomTensor(DType::kFloat32, {1, 2, 2, 3}, rng)}, .opset = 22},
              StatusCode::kInvalidArgument, "does not match");
}

// ---- AffineGrid ---------------------------------------------------------------------------------

TEST(AffineGrid, TwoAndThreeDMatchFormula) {
  std::mt19937 rng(3);
  for (int r : {2, 3})
    for (int64_t align : {0, 1}) {
      const int64_t N = 2;
      std::vector<int64_t> size = r == 2 ? std::vector<int64_t>{N, 3, 4, 5} : std::vector<int64_t>{N, 3, 3, 1, 5};
      Tensor theta = randomTensor(DType::kFloat32, {N, r, r + 1}, rng);
      auto res = runOp({.op = "AffineGrid", .attrs = attrs({{"align_corners", AttrValue(align)}}),
                        .inputs = {theta, Tensor::fromVector<int64_t>(size, {static_cast<int64_t>(size.size())})},
                        .opset = 20});
      ASSERT_TRUE(res.ok()) << res.status().toString();
      std::vector<double> want;
      auto base = [&](int64_t i, int64_t s) {
        return align ? (s == 1 ? -1.0 : -1.0 + 2.0 * i / (s - 1)) : (2.0 * i + 1) / s - 1.0;
      };
      const int64_t D = r == 3 ? size[2] : 1, H = size[r == 3 ? 3 : 2], W = size[r == 3 ? 4 : 3];
      for (int64_t n = 0; n < N; ++n)
        for (int64_t d = 0; d < D; ++d)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w) {
              std::vector<double> hv = {base(w, W), base(h, H)};
              if (r == 3) hv.push_back(base(d, D));
              hv.push_back(1);
              for (int k = 0; k < r; ++k) {
                double acc = 0;
                for (int j = 0; j <= r; ++j) acc += theta.doubleAt((n * r + k) * (r + 1) + j) * hv[j];
                want.push_back(acc);
              }
            }
      EXPECT_LE(maxErr((*res)[0], want), 1e-6) << r << align;
    }
  expectError({.op = "AffineGrid",
               .inputs = {randomTensor(DType::kFloat32, {2, 2, 3}, rng), Tensor::fromVector<int64_t>({2, 1, 3, 3, 3}, {5})},
               .opset = 20},
              StatusCode::kInvalidArgument, "does not match");
}

// ---- RoiAlign -----------------------------------------------------------------------------------

TEST(RoiAlign, MatchesBilinearSampling) {
  std::mt19937 rng(4);
  const int64_t N = 2, C = 3, H = 9, W = 7, R = 5, oh = 3, ow = 4;
  Tensor x = randomTensor(DType::kFloat32, {N, C, H, W}, rng, -1, 1);
  Tensor rois = randomTensor(DType::kFloat32, {R, 4}, rng, -1, 12);
  for (int64_t i = 0; i < R; ++i) {  // x1 >= x0, y1 >= y0 for most; one malformed ROI stays
    float* b = rois.data<float>() + i * 4;
    if (i != 3) {
      if (b[2] < b[0]) std::swap(b[0], b[2]);
      if (b[3] < b[1]) std::swap(b[1], b[3]);
    }
  }
  Tensor bi = Tensor::fromVector<int64_t>({0, 1, 1, 0, 1}, {R});
  for (const char* ctm : {"half_pixel", "output_half_pixel"})
    for (const char* mode : {"avg", "max"})
      for (int64_t ratio : {0, 2}) {
        const float scale = 0.8f;
        auto r = runOp({.op = "RoiAlign",
                        .attrs = attrs({{"coordinate_transformation_mode", AttrValue(ctm)}, {"mode", AttrValue(mode)},
                                        {"output_height", AttrValue(oh)}, {"output_width", AttrValue(ow)},
                                        {"sampling_ratio", AttrValue(ratio)}, {"spatial_scale", AttrValue(scale)}}),
                        .inputs = {x, rois, bi},
                        .opset = 22});
        ASSERT_TRUE(r.ok()) << r.status().toString();
        std::vector<double> want;
        const bool hp = std::string(ctm) == "half_pixel";
        for (int64_t n = 0; n < R; ++n) {
          const double off = hp ? 0.5 : 0;
          const double x0 = rois.doubleAt(n * 4) * scale - off, y0 = rois.doubleAt(n * 4 + 1) * scale - off;
          double rw = rois.doubleAt(n * 4 + 2) * scale - off - x0, rh = rois.doubleAt(n * 4 + 3) * scale - off - y0;
          if (!hp) rw = std::max(rw, 1.0), rh = std::max(rh, 1.0);
          const int64_t gh = ratio ? ratio : static_cast<int64_t>(std::ceil(rh / oh));
          const int64_t gw = ratio ? ratio : static_cast<int64_t>(std::ceil(rw / ow));
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ph = 0; ph < oh; ++ph)
              for (int64_t pw = 0; pw < ow; ++pw) {
                double acc = 0, mx = 0;
                bool first = true;
                for (int64_t iy = 0; iy < gh; ++iy)
                  for (int64_t ix = 0; ix < gw; ++ix) {
                    double y = y0 + ph * rh / oh + (iy + 0.5) * rh / oh / gh, xx = x0 + pw * rw / ow + (ix + 0.5) * rw / ow / gw;
                    double v[4] = {0, 0, 0, 0};
                    if (!(y < -1 || y > H || xx < -1 || xx > W)) {
                      y = std::max(y, 0.0), xx = std::max(xx, 0.0);
                      int64_t yl = static_cast<int64_t>(y), xl = static_cast<int64_t>(xx);
                      int64_t yh = yl + 1, xh = xl + 1;
                      if (yl >= H - 1) yl = yh = H - 1, y = double(yl);
                      if (xl >= W - 1) xl = xh = W - 1, xx = double(xl);
                      const double ly = y - yl, lx = xx - xl;
                      auto px = [&](int64_t yy, int64_t xq) { return x.doubleAt(((bi.intAt(n) * C + c) * H + yy) * W + xq); };
                      v[0] = (1 - ly) * (1 - lx) * px(yl, xl), v[1] = (1 - ly) * lx * px(yl, xh);
                      v[2] = ly * (1 - lx) * px(yh, xl), v[3] = ly * lx * px(yh, xh);
                    }
                    acc += v[0] + v[1] + v[2] + v[3];
                    const double m = std::max(std::max(v[0], v[1]), std::max(v[2], v[3]));
                    mx = first ? m : std::max(mx, m);
                    first = false;
                  }
                want.push_back(std::string(mode) == "max" ? mx : acc / std::max<double>(1.0, double(gh * gw)));
              }
        }
        EXPECT_LE(maxErr((*r)[0], want), 1e-5) << ctm << " " << mode << " " << ratio;
      }
  expectError({.op = "RoiAlign", .inputs = {x, rois, Tensor::fromVector<int64_t>({0, 1, 2, 0, 1}, {R})}, .opset = 22},
              StatusCode::kInvalidArgument, "out of range");
}

// ---- Col2Im -------------------------------------------------------------------------------------

TEST(Col2Im, MatchesNaiveScatterAdd) {
  std::mt19937 rng(5);
  struct Case {
    std::vector<int64_t> img, block, dil, pads, strides;
  };
  const std::vector<Case> cases = {{{5, 6}, {2, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}},
                                   {{7, 5}, {3, 2}, {2, 1}, {1, 0, 2, 1}, {2, 1}},
                                   {{4, 3, 5}, {2, 1, 3}, {1, 1, 2}, {0, 1, 0, 1, 0, 1}, {1, 2, 1}}};
  for (const Case& c : cases) {
    const int r = static_cast<int>(c.img.size());
    int64_t K = 1, L = 1, S = 1;
    std::vector<int64_t> nb(r);
    for (int i = 0; i < r; ++i) {
      nb[i] = (c.img[i] + c.pads[i] + c.pads[i + r] - c.dil[i] * (c.block[i] - 1) - 1) / c.strides[i] + 1;
      K *= c.block[i], L *= nb[i], S *= c.img[i];
    }
    const int64_t N = 2, C = 3;
    Tensor x = randomTensor(DType::kFloat32, {N, C * K, L}, rng);
    auto res = runOp({.op = "Col2Im",
                      .attrs = attrs({{"dilations", AttrValue(c.dil)}, {"pads", AttrValue(c.pads)}, {"strides", AttrValue(c.strides)}}),
                      .inputs = {x, Tensor::fromVector<int64_t>(c.img, {r}), Tensor::fromVector<int64_t>(c.block, {r})},
                      .opset = 18});
    ASSERT_TRUE(res.ok()) << res.status().toString();
    std::vector<double> want(N * C * S, 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t s = 0; s < S; ++s) {
          std::vector<int64_t> pos(r);
          for (int i = r - 1, rem = static_cast<int>(s); i >= 0; --i) pos[i] = rem % c.img[i], rem /= static_cast<int>(c.img[i]);
          double acc = 0;
          for (int64_t k = 0; k < K; ++k)
            for (int64_t l = 0; l < L; ++l) {
              bool hit = true;
              for (int i = r - 1, kr = static_cast<int>(k), lr = static_cast<int>(l); i >= 0; --i) {
                const int64_t ko = kr % c.block[i], bo = lr % nb[i];
                kr /= static_cast<int>(c.block[i]), lr /= static_cast<int>(nb[i]);
                hit = hit && bo * c.strides[i] - c.pads[i] + ko * c.dil[i] == pos[i];
              }
              if (hit) acc += x.doubleAt((n * C * K + ch * K + k) * L + l);
            }
          want[(n * C + ch) * S + s] = acc;
        }
    EXPECT_LE(maxErr((*res)[0], want), 1e-5);
  }
  expectError({.op = "Col2Im",
               .inputs = {randomTensor(DType::kFloat32, {1, 6, 7}, rng), Tensor::fromVector<int64_t>({4, 4}, {2}),
                          Tensor::fromVector<int64_t>({2, 3}, {2})},
               .opset = 18},
              StatusCode::kInvalidArgument, "blocks");
}

}  // namespace
}  // namespace kiln::testing
