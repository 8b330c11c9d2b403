// CPU kernels for the misc family's vision ops: GridSample (N-D; nearest/linear/cubic; zeros,
// border and reflection padding), AffineGrid, RoiAlign, NonMaxSuppression and Col2Im, following
// the ONNX reference implementations.
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/misc_kernels.h"
#include "core/misc_select.h"

namespace kiln::cpu {

namespace {

// ---- GridSample ---------------------------------------------------------------------------------

// Reflects x into [lo, hi] by its nearest border until it is inside (the reference's rule).
double reflect(double x, double lo, double hi) {
  const double rng = hi - lo;
  if (!(rng > 0)) return lo;
  if (x < lo) {
    const double dx = lo - x;
    const double n = std::floor(dx / rng), r = dx - n * rng;
    return std::fmod(n, 2.0) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const double n = std::floor(dx / rng), r = dx - n * rng;
    return std::fmod(n, 2.0) == 0 ? hi - r : lo + r;
  }
  return x;
}

void cubicCoeffs(double t, double c[4]) {
  const double a = -0.75;
  t = std::fabs(t);
  const double t1 = t + 1, t2 = 1 - t, t3 = 2 - t;
  c[0] = ((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a;
  c[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
  c[2] = ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1;
  c[3] = ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a;
}

enum class Pad { kZeros, kBorder, kReflection };

struct Tap {
  int64_t idx;
  double w;
};

Status GridSample(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &grid = ctx.in(1);
  const Dims &xd = x.dims(), &gd = grid.dims();
  const int r = xd.rank() - 2;
  if (r < 1 || gd.rank() != r + 2 || gd[0] != xd[0] || gd[r + 1] != r)
    return InvalidArgument("GridSample grid {} does not match X {}", gd.toString(), xd.toString());
  const std::string &modeS = ctx.attrs.getString("mode"), &padS = ctx.attrs.getString("padding_mode");
  const int mode = modeS == "nearest" ? 0 : (modeS == "linear" ? 1 : 2);
  const Pad pad = padS == "border" ? Pad::kBorder : (padS == "reflection" ? Pad::kReflection : Pad::kZeros);
  const bool align = ctx.attrs.getInt("align_corners") != 0;
  const int64_t N = xd[0], nc = xd[1];
  int64_t P = 1, S = 1;
  for (int i = 0; i < r; ++i) {
    P *= gd[1 + i];
    S *= xd[2 + i];
  }
  std::vector<int64_t> dims(r), strides(r);
  for (int i = r - 1, s = 1; i >= 0; --i) {
    dims[i] = xd[2 + i];
    strides[i] = s;
    s *= dims[i];
  }
  std::vector<double> lo(r), hi(r);
  for (int i = 0; i < r; ++i) {
    lo[i] = align ? 0.0 : -0.5;
    hi[i] = align ? dims[i] - 1.0 : dims[i] - 0.5;
  }
  // Maps a tap index through the padding mode; false when it reads zero padding.
  auto mapIndex = [&](int i, int64_t idx, int64_t* out) {
    if (idx >= 0 && idx < dims[i]) {
      *out = idx;
      return true;
    }
    if (pad == Pad::kZeros) return false;
    if (pad == Pad::kBorder) *out = std::clamp<int64_t>(idx, 0, dims[i] - 1);
    else *out = std::clamp<int64_t>(static_cast<int64_t>(reflect(double(idx), lo[i], hi[i])), 0, dims[i] - 1);
    return true;
  };
  Status st;
  Status dst = dispatchOr<FloatTypes>("GridSample grid", grid.dtype(), [&](auto gtag) {
    using G = KILN_TYPE(gtag);
    const G* pg = grid.data<G>();
    st = dispatchOr<NumericTypes>("GridSample", x.dtype(), [&](auto tag) {
      using T = KILN_TYPE(tag);
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      const T* px = x.data<T>();
      T* py = ctx.out(0).data<T>();
      parallelFor(N * P, std::max<int64_t>(1, 1024 / std::max<int64_t>(1, nc)), [&](int64_t b, int64_t e) {
        std::vector<std::vector<Tap>> taps(r);
        std::vector<int64_t> offs;
        std::vector<C> ws;
        for (int64_t np = b; np < e; ++np) {
          const int64_t n = np / P, p = np % P;
          const G* g = pg + np * r;
          for (int i = 0; i < r; ++i) {
            const double gv = static_cast<double>(static_cast<float>(g[r - 1 - i]));
            double c = align ? (gv + 1) / 2.0 * (dims[i] - 1) : ((gv + 1) * dims[i] - 1) / 2.0;
            c = static_cast<float>(c);  // the reference keeps coordinates in float32
            if (mode == 0) c = std::nearbyint(c);
            if (c < lo[i] || c > hi[i]) {
              if (pad == Pad::kBorder) c = std::clamp(c, 0.0, double(dims[i] - 1));
              else if (pad == Pad::kReflection) c = static_cast<float>(reflect(c, lo[i], hi[i]));
            }
            taps[i].clear();
            if (mode == 0) {
              taps[i].push_back({static_cast<int64_t>(c), 1.0});
            } else {
              const double f = std::floor(c);
              const int64_t i0 = static_cast<int64_t>(f);
              const double t = static_cast<float>(c - f);
              if (mode == 1) {
                taps[i].push_back({i0, 1.0 - t});
                taps[i].push_back({i0 + 1, t});
              } else {
                double cc[4];
                cubicCoeffs(t, cc);
                for (int k = 0; k < 4; ++k) taps[i].push_back({i0 - 1 + k, cc[k]});
              }
            }
          }
          // All valid tap combinations: element offset and product weight.
          offs.assign(1, 0);
          ws.assign(1, C(1));
          for (int i = 0; i < r; ++i) {
            std::vector<int64_t> no;
            std::vector<C> nw;
            for (const Tap& t : taps[i]) {
              int64_t idx;
              if (!mapIndex(i, t.idx, &idx)) continue;
              for (size_t k = 0; k < offs.size(); ++k) {
                no.push_back(offs[k] + idx * strides[i]);
                nw.push_back(ws[k] * static_cast<C>(static_cast<float>(t.w)));
              }
            }
            offs.swap(no);
            ws.swap(nw);
          }
          for (int64_t c = 0; c < nc; ++c) {
            const T* src = px + (n * nc + c) * S;
            C acc = 0;
            for (size_t k = 0; k < offs.size(); ++k) acc += ws[k] * static_cast<C>(src[offs[k]]);
            py[(n * nc + c) * P + p] = convertValue<T>(acc);
          }
        }
      });
    });
  });
  KILN_RETURN_IF_ERROR(dst);
  return st;
}

// ---- AffineGrid ---------------------------------------------------------------------------------

Status AffineGrid(const KernelContext& ctx) {
  const Tensor &theta = ctx.in(0), &size = ctx.in(1);
  const int64_t n = size.numel();
  if (n != 4 && n != 5) return InvalidArgument("AffineGrid size must have 4 or 5 elements, got {}", n);
  const int r = static_cast<int>(n) - 2;
  std::vector<int64_t> sz(n);
  for (int64_t i = 0; i < n; ++i) sz[i] = size.intAt(i);
  if (theta.dims() != Dims{sz[0], r, r + 1})
    return InvalidArgument("AffineGrid theta {} does not match size ({} batches, {}-D)", theta.dims().toString(), sz[0], r);
  const bool align = ctx.attrs.getInt("align_corners") != 0;
  // Base coordinates per spatial dim (size order: D, H, W); the grid's components are (x, y, z).
  std::vector<std::vector<double>> base(r);
  int64_t P = 1;
  for (int i = 0; i < r; ++i) {
    const int64_t s = sz[2 + i];
    P *= s;
    for (int64_t k = 0; k < s; ++k)
      base[i].push_back(align ? (s > 1 ? -1.0 + 2.0 * k / (s - 1) : -1.0) : -1.0 + (2.0 * k + 1) / s);
  }
  return dispatchOr<FloatTypes>("AffineGrid", theta.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* th = theta.data<T>();
    T* out = ctx.out(0).data<T>();
    for (int64_t b = 0; b < sz[0]; ++b)
      for (int64_t p = 0; p < P; ++p) {
        double h[4] = {0, 0, 0, 1};  // (x, y, z?, 1): component j reads spatial dim r-1-j
        int64_t rem = p;
        for (int i = r - 1; i >= 0; --i) {
          h[r - 1 - i] = base[i][rem % sz[2 + i]];
          rem /= sz[2 + i];
        }
        h[r] = 1;
        for (int k = 0; k < r; ++k) {
          double acc = 0;
          for (int j = 0; j <= r; ++j) acc += static_cast<double>(static_cast<compute_t<T>>(th[(b * r + k) * (r + 1) + j])) * h[j];
          out[(b * P + p) * r + k] = convertValue<T>(acc);
        }
      }
  });
}

// ---- RoiAlign -----------------------------------------------------------------------------------

Status RoiAlign(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &rois = ctx.in(1), &bi = ctx.in(2);
  const Dims& xd = x.dims();
  if (xd.rank() != 4 || rois.rank() != 2 || rois.dims()[1] != 4 || bi.dims() != Dims{rois.dims()[0]})
    return InvalidArgument("RoiAlign X {} / rois {} / batch_indices {} have wrong shapes", xd.toString(),
                           rois.dims().toString(), bi.dims().toString());
  const AttrMap& a = ctx.attrs;
  const int64_t N = xd[0], nc = xd[1], H = xd[2], W = xd[3], R = rois.dims()[0];
  const int64_t oh = a.getInt("output_height"), ow = a.getInt("output_width"), ratio = a.getInt("sampling_ratio");
  const double scale = a.getFloat("spatial_scale");
  const bool halfPixel = a.getString("coordinate_transformation_mode") == "half_pixel";
  const bool maxMode = a.getString("mode") == "max";
  for (int64_t i = 0; i < R; ++i)
    if (bi.intAt(i) < 0 || bi.intAt(i) >= N)
      return InvalidArgument("RoiAlign batch_indices[{}] = {} is out of range [0, {})", i, bi.intAt(i), N);
  return dispatchOr<FloatTypes>("RoiAlign", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    const T* pr = rois.data<T>();
    T* py = ctx.out(0).data<T>();
    struct Sample {
      int64_t pos[4];
      double w[4];
    };
    parallelFor(R, 1, [&](int64_t lo, int64_t hi) {
      std::vector<Sample> samples;
      for (int64_t n = lo; n < hi; ++n) {
        const double off = halfPixel ? 0.5 : 0.0;
        const double x0 = double(pr[n * 4 + 0]) * scale - off, y0 = double(pr[n * 4 + 1]) * scale - off;
        const double x1 = double(pr[n * 4 + 2]) * scale - off, y1 = double(pr[n * 4 + 3]) * scale - off;
        double rw = x1 - x0, rh = y1 - y0;
        if (!halfPixel) {
          rw = std::max(rw, 1.0);
          rh = std::max(rh, 1.0);
        }
        const double bh = rh / oh, bw = rw / ow;
        const int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / oh));
        const int64_t gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / ow));
        const double count = std::max<double>(double(gh * gw), 1.0);
        samples.assign(std::max<int64_t>(0, oh * ow * gh * gw), Sample{});
        size_t k = 0;
        for (int64_t ph = 0; ph < oh; ++ph)
          for (int64_t pw = 0; pw < ow; ++pw)
            for (int64_t iy = 0; iy < gh; ++iy) {
              const double yy = y0 + ph * bh + (iy + 0.5) * bh / gh;
              for (int64_t ix = 0; ix < gw; ++ix, ++k) {
                double xx = x0 + pw * bw + (ix + 0.5) * bw / gw, y = yy;
                Sample& s = samples[k];
                if (y < -1.0 || y > H || xx < -1.0 || xx > W) continue;  // all-zero sample
                y = std::max(y, 0.0);
                xx = std::max(xx, 0.0);
                int64_t yl = static_cast<int64_t>(y), xl = static_cast<int64_t>(xx), yh, xh;
                if (yl >= H - 1) yh = yl = H - 1, y = double(yl);
                else yh = yl + 1;
                if (xl >= W - 1) xh = xl = W - 1, xx = double(xl);
                else xh = xl + 1;
                const double ly = y - yl, lx = xx - xl, hy = 1 - ly, hx = 1 - lx;
                s = Sample{{yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh}, {hy * hx, hy * lx, ly * hx, ly * lx}};
              }
            }
        const int64_t b = bi.intAt(n);
        for (int64_t c = 0; c < nc; ++c) {
          const T* src = px + (b * nc + c) * H * W;
          size_t s = 0;
          for (int64_t p = 0; p < oh * ow; ++p) {
            double v = 0;
            bool first = true;
            for (int64_t q = 0; q < gh * gw; ++q, ++s) {
              const Sample& sm = samples[s];
              if (maxMode) {
                double m = sm.w[0] * double(src[sm.pos[0]]);
                for (int j = 1; j < 4; ++j) m = std::max(m, sm.w[j] * double(src[sm.pos[j]]));
                v = first ? m : std::max(v, m);
                first = false;
              } else {
                for (int j = 0; j < 4; ++j) v += sm.w[j] * double(src[sm.pos[j]]);
              }
            }
            if (!maxMode) v /= count;
            py[((n * nc + c) * oh * ow) + p] = convertValue<T>(v);
          }
        }
      }
    });
  });
}

// ---- NonMaxSuppression --------------------------------------------------------------------------

Status NonMaxSuppression(const KernelContext& ctx) {
  const Tensor &boxes = ctx.in(0), &scores = ctx.in(1);
  const Dims &bd = boxes.dims(), &sd = scores.dims();
  if (bd.rank() != 3 || bd[2] != 4 || sd.rank() != 3 || sd[0] != bd[0] || sd[2] != bd[1])
    return InvalidArgument("NonMaxSuppression boxes {} / scores {} must be (B, N, 4) / (B, C, N)", bd.toString(),
                           sd.toString());
  misc::NmsParams p;
  p.batches = bd[0], p.boxes = bd[1], p.classes = sd[1];
  if (ctx.hasInput(2) && ctx.in(2).numel()) p.maxPerClass = std::max<int64_t>(ctx.in(2).intAt(0), 0);
  if (ctx.hasInput(3) && ctx.in(3).numel()) p.iouThreshold = static_cast<float>(ctx.in(3).doubleAt(0));
  if (ctx.hasInput(4) && ctx.in(4).numel()) p.scoreThreshold = static_cast<float>(ctx.in(4).doubleAt(0));
  p.centerPointBox = ctx.attrs.getInt("center_point_box") == 1;
  const auto sel = misc::nonMaxSuppression(boxes.data<float>(), scores.data<float>(), p);
  Tensor& out = ctx.out(0);
  KILN_RETURN_IF_ERROR(fitOutput(out, Dims{static_cast<int64_t>(sel.size()), 3}, "NonMaxSuppression"));
  int64_t* po = out.data<int64_t>();
  for (size_t i = 0; i < sel.size(); ++i)
    for (int j = 0; j < 3; ++j) po[i * 3 + j] = sel[i][j];
  return Status::OK();
}

// ---- Col2Im -------------------------------------------------------------------------------------

Status Col2Im(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &imgT = ctx.in(1), &blkT = ctx.in(2);
  const int r = static_cast<int>(imgT.numel());
  if (x.rank() != 3 || r < 1 || blkT.numel() != r)
    return InvalidArgument("Col2Im input {} / image_shape {} / block_shape {} are inconsistent", x.dims().toString(),
                           imgT.dims().toString(), blkT.dims().toString());
  std::vector<int64_t> img(r), blk(r), nb(r);
  for (int i = 0; i < r; ++i) img[i] = imgT.intAt(i), blk[i] = blkT.intAt(i);
  const AttrMap& a = ctx.attrs;
  const std::vector<int64_t> dil = a.getInts("dilations", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> pads = a.getInts("pads", std::vector<int64_t>(2 * r, 0));
  const std::vector<int64_t> str = a.getInts("strides", std::vector<int64_t>(r, 1));
  if (static_cast<int>(dil.size()) != r || static_cast<int>(pads.size()) != 2 * r || static_cast<int>(str.size()) != r)
    return InvalidArgument("Col2Im dilations/strides need {} values and pads {}", r, 2 * r);
  int64_t K = 1, L = 1, S = 1;
  for (int i = 0; i < r; ++i) {
    if (blk[i] < 1 || img[i] < 1) return InvalidArgument("Col2Im image_shape and block_shape entries must be >= 1");
    if (dil[i] < 1 || str[i] < 1 || pads[i] < 0 || pads[i + r] < 0)
      return InvalidArgument("Col2Im dilations and strides must be >= 1 and pads >= 0");
    nb[i] = (img[i] + pads[i] + pads[i + r] - dil[i] * (blk[i] - 1) - 1) / str[i] + 1;
    if (nb[i] < 1) return InvalidArgument("Col2Im image_shape dim {} is too small for the block", i);
    K *= blk[i], L *= nb[i], S *= img[i];
  }
  const int64_t N = x.dims()[0];
  if (x.dims()[1] % K != 0 || x.dims()[2] != L)
    return InvalidArgument("Col2Im input {} does not match {} kernel positions and {} blocks", x.dims().toString(), K, L);
  const int64_t nc = x.dims()[1] / K;
  return dispatchOr<NumericTypes>("Col2Im", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using Cc = compute_t<T>;
    const T* px = x.data<T>();
    T* py = ctx.out(0).data<T>();
    parallelFor(N * nc, 1, [&](int64_t lo, int64_t hi) {
      std::vector<Cc> acc(S);
      std::vector<int64_t> ko(r), bo(r);
      for (int64_t ncI = lo; ncI < hi; ++ncI) {
        std::fill(acc.begin(), acc.end(), Cc(0));
        for (int64_t k = 0; k < K; ++k) {
          int64_t kr = k;
          for (int i = r - 1; i >= 0; --i) ko[i] = kr % blk[i], kr /= blk[i];
          const T* src = px + (ncI * K + k) * L;
          for (int64_t l = 0; l < L; ++l) {
            int64_t lr = l, off = 0;
            bool inside = true;
            for (int i = r - 1; i >= 0; --i) {
              bo[i] = lr % nb[i], lr /= nb[i];
            }
            for (int i = 0; i < r && inside; ++i) {
              const int64_t p = bo[i] * str[i] - pads[i] + ko[i] * dil[i];
              inside = p >= 0 && p < img[i];
              off = off * img[i] + p;
            }
            if (inside) acc[off] += static_cast<Cc>(src[l]);
          }
        }
        for (int64_t s = 0; s < S; ++s) py[ncI * S + s] = convertValue<T>(acc[s]);
      }
    });
  });
}

}  // namespace

void RegisterMiscVisionKernels(KernelRegistry& r) {
  r.addFn("GridSample", "cpu_ref_GridSample", &GridSample);
  r.addFn("AffineGrid", "cpu_ref_AffineGrid", &AffineGrid);
  r.addFn("RoiAlign", "cpu_ref_RoiAlign", &RoiAlign);
  r.addFn("NonMaxSuppression", "cpu_ref_NonMaxSuppression", &NonMaxSuppression);
  r.addFn("Col2Im", "cpu_ref_Col2Im", &Col2Im);
}

}  // namespace kiln::cpu
