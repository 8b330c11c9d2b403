// CPU reference kernels for Pad (constant/reflect/edge/wrap, negative pads crop), DepthToSpace,
// SpaceToDepth and CenterCropPad. Resize and Upsample are in layout_resize.cc.
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/indexing_util.h"

namespace kiln::cpu {

namespace {

// Input index for output position o of an axis padded by `begin` in front: inside the input it
// is o - begin; outside, the mode decides (numpy semantics; -1 selects the constant).
int64_t padSource(int64_t o, int64_t begin, int64_t n, int mode) {
  int64_t i = o - begin;
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 0: return -1;                                  // constant
    case 1: return i < 0 ? 0 : n - 1;                   // edge
    case 2: {                                           // reflect (period 2(n-1))
      if (n == 1) return 0;
      const int64_t p = 2 * (n - 1);
      int64_t m = ((i % p) + p) % p;
      return m >= n ? p - m : m;
    }
    default: return ((i % n) + n) % n;                  // wrap
  }
}

Status Pad(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const std::string& modeName = ctx.attrs.getString("mode");
  const int mode = modeName == "constant" ? 0 : modeName == "edge" ? 1 : modeName == "reflect" ? 2 : 3;
  const int r = x.rank();
  std::vector<int> axes;
  if (ctx.hasInput(3)) {
    const Tensor& at = ctx.in(3);
    for (int64_t i = 0; i < at.numel(); ++i) {
      int64_t a = indexAt(at, i);
      if (a < -r || a >= r) return InvalidArgument("Pad axis {} is out of range for rank {}", a, r);
      axes.push_back(static_cast<int>(a < 0 ? a + r : a));
    }
  } else {
    for (int i = 0; i < r; ++i) axes.push_back(i);
  }
  const Tensor& pads = ctx.in(1);
  const size_t na = axes.size();
  if (pads.numel() != static_cast<int64_t>(2 * na))
    return InvalidArgument("Pad pads has {} elements; expected {}", pads.numel(), 2 * na);
  std::vector<int64_t> begin(r, 0);
  for (size_t i = 0; i < na; ++i) begin[axes[i]] = pads.data<int64_t>()[i];
  std::vector<std::vector<int64_t>> maps(r);
  for (int a = 0; a < r; ++a) {
    const int64_t n = x.dims()[a];
    if (n == 0 && mode != 0 && y.dims()[a] > 0)
      return InvalidArgument("Pad mode '{}' cannot pad axis {}, which is empty", modeName, a);
    maps[a].resize(y.dims()[a]);
    for (int64_t o = 0; o < y.dims()[a]; ++o) maps[a][o] = padSource(o, begin[a], n, mode);
  }
  return dispatchStorage("Pad", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    T fill{};
    if (ctx.hasInput(2) && ctx.in(2).numel() > 0) fill = ctx.in(2).data<T>()[0];
    axisMapGather(x.data<T>(), x.dims(), y.data<T>(), y.dims(), maps, &fill);
  });
}

Status CenterCropPad(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int r = x.rank();
  std::vector<std::vector<int64_t>> maps(r);
  for (int a = 0; a < r; ++a) {
    const int64_t n = x.dims()[a], m = y.dims()[a];
    // Crop takes the centre (the extra element of an odd difference is cut at the end); padding
    // puts the input in the centre likewise.
    const int64_t begin = m >= n ? (m - n) / 2 : -((n - m) / 2);
    maps[a].resize(m);
    for (int64_t o = 0; o < m; ++o) maps[a][o] = padSource(o, begin, n, 0);
  }
  return dispatchStorage("CenterCropPad", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    T fill{};
    axisMapGather(x.data<T>(), x.dims(), y.data<T>(), y.dims(), maps, &fill);
  });
}

// DepthToSpace and SpaceToDepth move [b, b] blocks between channels and space:
//   space[n, c, h*b + i, w*b + j] = depth[n, ch(c, i, j), h, w]
// with ch = (i*b + j)*C + c for DCR and c*b*b + i*b + j for CRD (C = channels of the space side).
template <typename T>
void blockMove(const T* src, T* dst, int64_t N, int64_t C, int64_t H, int64_t W, int64_t b, bool dcr, bool toSpace) {
  const int64_t HB = H * b, WB = W * b;
  parallelFor(N * C * H, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, WB * b)), [&](int64_t s, int64_t e) {
    for (int64_t t = s; t < e; ++t) {
      const int64_t h = t % H, c = (t / H) % C, n = t / (H * C);
      for (int64_t i = 0; i < b; ++i)
        for (int64_t w = 0; w < W; ++w)
          for (int64_t j = 0; j < b; ++j) {
            const int64_t ch = dcr ? (i * b + j) * C + c : c * b * b + i * b + j;
            const int64_t depthOff = ((n * C * b * b + ch) * H + h) * W + w;
            const int64_t spaceOff = ((n * C + c) * HB + h * b + i) * WB + w * b + j;
            if (toSpace) dst[spaceOff] = src[depthOff];
            else dst[depthOff] = src[spaceOff];
          }
    }
  });
}

Status DepthToSpace(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t b = ctx.attrs.getInt("blocksize");
  const bool dcr = ctx.attrs.getString("mode") == "DCR";
  const Dims& d = x.dims();
  if (d.rank() != 4 || d[1] % (b * b) != 0)
    return InvalidArgument("DepthToSpace input {} must be 4-D with channels divisible by {}", d.toString(), b * b);
  return dispatchStorage("DepthToSpace", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    blockMove(x.data<T>(), y.data<T>(), d[0], d[1] / (b * b), d[2], d[3], b, dcr, true);
  });
}

Status SpaceToDepth(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int64_t b = ctx.attrs.getInt("blocksize");
  const bool dcr = ctx.attrs.getString("mode") == "DCR";
  const Dims& d = x.dims();
  if (d.rank() != 4 || d[2] % b != 0 || d[3] % b != 0)
    return InvalidArgument("SpaceToDepth input {} must be 4-D with spatial dims divisible by {}", d.toString(), b);
  return dispatchStorage("SpaceToDepth", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    blockMove(x.data<T>(), y.data<T>(), d[0], d[1], d[2] / b, d[3] / b, b, dcr, false);
  });
}

}  // namespace

void RegisterLayoutKernels(KernelRegistry& r) {
  r.addFn("Pad", "cpu_ref_Pad", &Pad);
  r.addFn("CenterCropPad", "cpu_ref_CenterCropPad", &CenterCropPad);
  r.addFn("DepthToSpace", "cpu_ref_DepthToSpace", &DepthToSpace);
  r.addFn("SpaceToDepth", "cpu_ref_SpaceToDepth", &SpaceToDepth);
  RegisterResizeKernels(r);
}

}  // namespace kiln::cpu
