// Host side of the byte-moving layout ops: Transpose, Concat, Split, Slice, Expand, Tile,
// DepthToSpace, SpaceToDepth. Each op becomes either a strided view of its input (one
// launchStridedCopy: collapsed, vectorized, tiled when it transposes) or pitched 2-D copies
// (Concat/Split, one per input/output). Output dims are final when enqueue runs; the kernels
// re-derive every parameter from them and the host inputs, and check them against the inputs so a
// mismatch is an error rather than an out-of-bounds access.
#include <algorithm>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/data_util.h"
#include "core/slice_util.h"

namespace kiln::cuda::data {

namespace {

void contiguousStrides(const Dims& d, int64_t* st) {
  int64_t acc = 1;
  for (int a = d.rank() - 1; a >= 0; --a) {
    st[a] = acc;
    acc *= d[a];
  }
}

Status runView(const GpuKernelContext& c, const Tensor& x, Tensor& y, const StridedView& v) {
  if (y.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(launchStridedCopy(x.raw(), x.numel(), y.raw(), static_cast<int>(dtypeSize(x.dtype())), v,
                                              c.res.smCount, c.stream));
  return Status::OK();
}

Status checkSameType(std::string_view op, const Tensor& x, const Tensor& y) {
  if (x.dtype() != y.dtype() || !movableType(x.dtype()))
    return Unsupported("{} on the GPU: cannot move {} into {}", op, dtypeName(x.dtype()), dtypeName(y.dtype()));
  return Status::OK();
}

// Output axis i reads input axis perm[i] of `inDims` (a view of x's bytes).
Status permuteInto(const GpuKernelContext& c, std::string_view op, const Tensor& x, Tensor& y, const Dims& inDims,
                   const std::vector<int>& perm) {
  const int r = inDims.rank();
  if (r > kMaxDims) return Unsupported("{} on the GPU supports rank <= {}, got {}", op, kMaxDims, r);
  if (inDims.numel() != x.numel()) return InternalError("{}: view {} of {}", op, inDims.toString(), x.describe());
  int64_t st[kMaxDims];
  contiguousStrides(inDims, st);
  StridedView v;
  v.rank = r;
  int64_t n = 1;
  for (int i = 0; i < r; ++i) {
    v.dims[i] = inDims[perm[i]];
    v.strides[i] = st[perm[i]];
    n *= v.dims[i];
  }
  if (n != y.numel()) return InternalError("{}: output {} does not hold the permuted {}", op, y.describe(), x.describe());
  return runView(c, x, y, v);
}

Status transposeK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkSameType("Transpose", x, y));
  const int r = x.rank();
  std::vector<int> perm(r);
  const AttrValue* pa = c.attrs.find("perm");
  const bool hasPerm = pa && pa->kind() == AttrKind::kInts && !pa->ints().empty();
  if (hasPerm && static_cast<int>(pa->ints().size()) != r)
    return InvalidArgument("Transpose perm has {} entries for rank {}", pa->ints().size(), r);
  std::vector<bool> seen(r, false);
  for (int i = 0; i < r; ++i) {
    const int64_t p = hasPerm ? normAxis(pa->ints()[i], r) : r - 1 - i;
    if (p < 0 || p >= r || seen[p]) return InvalidArgument("Transpose perm is not a permutation of 0..{}", r - 1);
    seen[p] = true;
    perm[i] = static_cast<int>(p);
    if (y.dims()[i] != x.dims()[static_cast<int>(p)])
      return InternalError("Transpose output {} does not match input {}", y.describe(), x.describe());
  }
  return permuteInto(c, "Transpose", x, y, x.dims(), perm);
}

Status concatK(const GpuKernelContext& c) {
  Tensor& y = c.out(0);
  const int r = y.rank();
  const int64_t axis = normAxis(c.attrs.getInt("axis"), r);
  if (axis < 0 || axis >= r) return InvalidArgument("Concat axis {} is out of range for rank {}", c.attrs.getInt("axis"), r);
  int64_t axisSum = 0;
  for (int k = 0; k < c.numInputs(); ++k) {
    if (!c.hasInput(k)) return InvalidArgument("Concat input {} is missing", k);
    const Tensor& x = c.in(k);
    KILN_RETURN_IF_ERROR(checkSameType("Concat", x, y));
    if (x.rank() != r) return InvalidArgument("Concat input {} has rank {}; the output has {}", k, x.rank(), r);
    for (int a = 0; a < r; ++a)
      if (a != axis && x.dims()[a] != y.dims()[a])
        return InvalidArgument("Concat input {} has shape {}; the output is {}", k, x.dims().toString(), y.dims().toString());
    axisSum += x.dims()[static_cast<int>(axis)];
  }
  if (axisSum != y.dims()[static_cast<int>(axis)])
    return InternalError("Concat inputs sum to {} along axis {}; the output has {}", axisSum, axis, y.dims()[static_cast<int>(axis)]);
  if (y.numel() == 0) return Status::OK();
  int64_t outer = 1;
  for (int a = 0; a < axis; ++a) outer *= y.dims()[a];
  const int64_t outRow = y.numel() / outer;
  const int es = static_cast<int>(dtypeSize(y.dtype()));
  int64_t colOff = 0;
  for (int k = 0; k < c.numInputs(); ++k) {
    const Tensor& x = c.in(k);
    const int64_t row = x.numel() / outer;
    KILN_CUDA_RETURN_IF_ERROR(launchCopy2D(x.raw(), row, static_cast<char*>(y.raw()) + colOff * es, outRow, outer, row,
                                           es, c.res.smCount, c.stream));
    colOff += row;
  }
  return Status::OK();
}

Status splitK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  const int r = x.rank();
  const int64_t axis = normAxis(c.attrs.getInt("axis"), r);
  if (axis < 0 || axis >= r) return InvalidArgument("Split axis {} is out of range for rank {}", c.attrs.getInt("axis"), r);
  // Chunk sizes come from the output dims (inference applied `split` / num_outputs); an output the
  // graph does not use may be absent, and then its size comes from the same rules.
  const int n = c.numOutputs();
  const int64_t total = x.dims()[static_cast<int>(axis)];
  std::vector<int64_t> sizes(n, -1);
  bool missing = false;
  for (int k = 0; k < n; ++k) {
    if (!c.hasOutput(k)) {
      missing = true;
      continue;
    }
    const Tensor& y = c.out(k);
    KILN_RETURN_IF_ERROR(checkSameType("Split", x, y));
    if (y.rank() != r) return InternalError("Split output {} has rank {}; the input has {}", k, y.rank(), r);
    for (int a = 0; a < r; ++a)
      if (a != axis && x.dims()[a] != y.dims()[a])
        return InternalError("Split output {} has shape {}; the input is {}", k, y.dims().toString(), x.dims().toString());
    sizes[k] = y.dims()[static_cast<int>(axis)];
  }
  if (missing) {
    for (int k = 0; k < n; ++k) {
      int64_t s;
      if (c.hasInput(1) && c.in(1).numel() == n) {
        s = c.in(1).intAt(k);
      } else if (c.attrs.has("num_outputs")) {
        const int64_t chunk = (total + n - 1) / n;
        s = std::max<int64_t>(0, std::min(chunk, total - chunk * k));
      } else {
        s = total / n;
      }
      if (sizes[k] >= 0 && sizes[k] != s) return InternalError("Split output {} has {} elements on the axis, not {}", k, sizes[k], s);
      sizes[k] = s;
    }
  }
  int64_t axisSum = 0;
  for (int k = 0; k < n; ++k) {
    if (sizes[k] < 0) return InvalidArgument("Split size {} is negative", sizes[k]);
    axisSum += sizes[k];
  }
  if (axisSum != x.dims()[static_cast<int>(axis)])
    return InvalidArgument("Split sizes sum to {} but axis {} of {} has {}", axisSum, axis, x.describe(), x.dims()[static_cast<int>(axis)]);
  if (x.numel() == 0) return Status::OK();
  int64_t outer = 1;
  for (int a = 0; a < axis; ++a) outer *= x.dims()[a];
  const int64_t inRow = x.numel() / outer;
  const int es = static_cast<int>(dtypeSize(x.dtype()));
  int64_t colOff = 0;
  const int64_t inner = x.dims()[static_cast<int>(axis)] ? inRow / x.dims()[static_cast<int>(axis)] : 0;
  for (int k = 0; k < n; ++k) {
    const int64_t row = sizes[k] * inner;
    if (c.hasOutput(k))
      KILN_CUDA_RETURN_IF_ERROR(launchCopy2D(static_cast<const char*>(x.raw()) + colOff * es, inRow, c.out(k).raw(), row,
                                             outer, row, es, c.res.smCount, c.stream));
    colOff += row;
  }
  return Status::OK();
}

Status sliceK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkSameType("Slice", x, y));
  const int r = x.rank();
  if (r > kMaxDims) return Unsupported("Slice on the GPU supports rank <= {}, got {}", kMaxDims, r);
  if (y.rank() != r) return InternalError("Slice output {} has a different rank than {}", y.describe(), x.describe());
  const Tensor& st = c.in(1);
  const Tensor& en = c.in(2);
  const int64_t na = st.numel();
  if (en.numel() != na || (c.hasInput(3) && c.in(3).numel() != na) || (c.hasInput(4) && c.in(4).numel() != na))
    return InvalidArgument("Slice starts, ends, axes and steps must have the same length");
  int64_t start[kMaxDims], step[kMaxDims], count[kMaxDims];
  for (int a = 0; a < r; ++a) {
    start[a] = 0;
    step[a] = 1;
    count[a] = x.dims()[a];
  }
  std::vector<bool> seen(r, false);
  for (int64_t i = 0; i < na; ++i) {
    const int64_t a0 = c.hasInput(3) ? c.in(3).intAt(i) : i;
    const int64_t a = normAxis(a0, r);
    if (a < 0 || a >= r || seen[a]) return InvalidArgument("Slice axis {} is out of range or repeated (rank {})", a0, r);
    seen[a] = true;
    const int64_t s = c.hasInput(4) ? c.in(4).intAt(i) : 1;
    if (s == 0) return InvalidArgument("Slice step cannot be 0");
    const SliceAxis sa = resolveSlice(st.intAt(i), en.intAt(i), s, x.dims()[static_cast<int>(a)]);
    start[a] = sa.start;
    step[a] = sa.step;
    count[a] = sa.count;
  }
  int64_t xs[kMaxDims];
  contiguousStrides(x.dims(), xs);
  StridedView v;
  v.rank = r;
  for (int a = 0; a < r; ++a) {
    if (count[a] != y.dims()[a])
      return InternalError("Slice output {} differs from the computed extent {} on axis {}", y.describe(), count[a], a);
    v.dims[a] = count[a];
    v.strides[a] = step[a] * xs[a];
    if (count[a] > 0) v.base += start[a] * xs[a];
  }
  return runView(c, x, y, v);
}

Status expandK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkSameType("Expand", x, y));
  const int r = y.rank(), off = r - x.rank();
  if (r > kMaxDims) return Unsupported("Expand on the GPU supports rank <= {}, got {}", kMaxDims, r);
  if (off < 0) return InternalError("Expand output {} has a lower rank than {}", y.describe(), x.describe());
  StridedView v;
  v.rank = r;
  int64_t acc = 1;
  for (int a = r - 1; a >= 0; --a) {
    v.dims[a] = y.dims()[a];
    const int ia = a - off;
    if (ia < 0) continue;
    const int64_t d = x.dims()[ia];
    if (d != 1 && d != y.dims()[a])
      return InvalidArgument("Expand cannot broadcast {} to {}", x.dims().toString(), y.dims().toString());
    v.strides[a] = d == 1 ? 0 : acc;
    acc *= d;
  }
  return runView(c, x, y, v);
}

// Tile: output axis a (out = in * reps) is the pair of axes [reps, in] with input strides [0, s_a].
Status tileK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkSameType("Tile", x, y));
  const int r = x.rank();
  if (y.rank() != r) return InternalError("Tile output {} has a different rank than {}", y.describe(), x.describe());
  if (2 * r > kMaxDims) return Unsupported("Tile on the GPU supports rank <= {}, got {}", kMaxDims / 2, r);
  if (y.numel() == 0) return Status::OK();
  int64_t xs[kMaxDims];
  contiguousStrides(x.dims(), xs);
  StridedView v;
  v.rank = 2 * r;
  for (int a = 0; a < r; ++a) {
    const int64_t d = x.dims()[a];
    if (d == 0 || y.dims()[a] % d != 0)
      return InternalError("Tile output {} is not a whole repetition of {}", y.describe(), x.describe());
    v.dims[2 * a] = y.dims()[a] / d;
    v.strides[2 * a] = 0;
    v.dims[2 * a + 1] = d;
    v.strides[2 * a + 1] = xs[a];
  }
  return runView(c, x, y, v);
}

// DepthToSpace / SpaceToDepth are 6-D permutations of views of the input:
//   DCR depth [N, b, b, C, H, W], CRD depth [N, C, b, b, H, W], space [N, C, H, b, W, b].
Status blockMoveK(const GpuKernelContext& c, bool toSpace) {
  const char* op = toSpace ? "DepthToSpace" : "SpaceToDepth";
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkSameType(op, x, y));
  const int64_t b = c.attrs.getInt("blocksize");
  const bool dcr = c.attrs.getString("mode") == "DCR";
  const Dims& d = x.dims();
  if (b <= 0 || d.rank() != 4) return InvalidArgument("{} needs a 4-D input and blocksize > 0, got {} and {}", op, d.toString(), b);
  Dims view;
  std::vector<int> perm;
  if (toSpace) {
    if (d[1] % (b * b) != 0) return InvalidArgument("DepthToSpace channels {} are not divisible by {}", d[1], b * b);
    const int64_t C = d[1] / (b * b);
    view = dcr ? Dims{d[0], b, b, C, d[2], d[3]} : Dims{d[0], C, b, b, d[2], d[3]};
    perm = dcr ? std::vector<int>{0, 3, 4, 1, 5, 2} : std::vector<int>{0, 1, 4, 2, 5, 3};
  } else {
    if (d[2] % b != 0 || d[3] % b != 0)
      return InvalidArgument("SpaceToDepth spatial dims {} are not divisible by {}", d.toString(), b);
    view = Dims{d[0], d[1], d[2] / b, b, d[3] / b, b};
    perm = dcr ? std::vector<int>{0, 3, 5, 1, 2, 4} : std::vector<int>{0, 1, 3, 5, 2, 4};
  }
  return permuteInto(c, op, x, y, view, perm);
}

Status depthToSpaceK(const GpuKernelContext& c) { return blockMoveK(c, true); }
Status spaceToDepthK(const GpuKernelContext& c) { return blockMoveK(c, false); }

bool rankAtMost(const LayerDesc& d, int i, int maxRank) {
  const int r = knownRank(d, i);
  return r <= maxRank;  // unknown (-1) passes; enqueue checks
}

}  // namespace

void registerDataTransformKernels(GpuKernelRegistry& r) {
  // Priority 10: above any generic fallback another family might register.
  r.addFn("Transpose", "cuda_data_transpose", &transposeK,
          [](const LayerDesc& d) { return movableLayer(d, {0}) && rankAtMost(d, 0, kMaxDims); }, 10);
  r.addFn("Concat", "cuda_data_concat", &concatK, [](const LayerDesc& d) {
    for (size_t i = 0; i < d.inputTypes.size(); ++i)
      if (!movableType(d.inputTypes[i])) return false;
    return movableLayer(d, {});
  }, 10);
  r.addFn("Split", "cuda_data_split", &splitK, [](const LayerDesc& d) { return movableLayer(d, {0}); }, 10);
  r.addFn("Slice", "cuda_data_slice", &sliceK,
          [](const LayerDesc& d) { return movableLayer(d, {0}) && rankAtMost(d, 0, kMaxDims); }, 10);
  r.addFn("Expand", "cuda_data_expand", &expandK, [](const LayerDesc& d) {
    if (!movableLayer(d, {0})) return false;
    return d.outputShapes.empty() || !d.outputShapes[0].rankKnown() || d.outputShapes[0].rank() <= kMaxDims;
  }, 10);
  r.addFn("Tile", "cuda_data_tile", &tileK,
          [](const LayerDesc& d) { return movableLayer(d, {0}) && rankAtMost(d, 0, kMaxDims / 2); }, 10);
  r.addFn("DepthToSpace", "cuda_data_depth_to_space", &depthToSpaceK,
          [](const LayerDesc& d) { return movableLayer(d, {0}) && knownRank(d, 0) == 4; }, 10);
  r.addFn("SpaceToDepth", "cuda_data_space_to_depth", &spaceToDepthK,
          [](const LayerDesc& d) { return movableLayer(d, {0}) && knownRank(d, 0) == 4; }, 10);
}

}  // namespace kiln::cuda::data
