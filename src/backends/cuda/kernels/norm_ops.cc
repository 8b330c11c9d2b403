// LayerNormalization / RMSNormalization (norm_layer.cu) and the other normalizations
// (norm_other.cu): attribute handling, parameter-shape classification and validation.
#include <cuda_runtime_api.h>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/norm_enqueue.h"
#include "backends/cuda/kernels/pdl.h"
#include "backends/cuda/kernels/reduce_launch.h"
#include "backends/cuda/kernels/reduce_register.h"
#include "backends/embed_geometry.h"

namespace kiln::cuda {

namespace {

// How a Scale/B tensor of dims `p` maps onto rows of d = prod(x[axis:]) elements: one value per
// row element (after dropping leading 1s its numel is d and it fits in the normalized block),
// one scalar, or neither (unsupported: a parameter that broadcasts inside the block or over rows).
enum class PKind { kRow, kScalar, kOther };

PKind classifyParam(const Dims& p, const Dims& x, int axis) {
  if (p.numel() == 1) return PKind::kScalar;
  int lead = 0;
  while (lead < p.rank() && p[lead] == 1) ++lead;
  const int pr = p.rank() - lead;
  if (pr > x.rank() - axis) return PKind::kOther;
  for (int i = 0; i < pr; ++i)
    if (p[lead + i] != x[x.rank() - pr + i]) return PKind::kOther;
  for (int i = axis; i < x.rank() - pr; ++i)
    if (x[i] != 1) return PKind::kOther;
  return PKind::kRow;
}

// The same rule on build-time shapes: true only when every dim involved is known.
bool paramIsRowOrScalar(const Shape& p, const Shape& x, int axis) {
  if (!p.isStatic() || !x.rankKnown()) return false;
  int64_t numel = 1;
  for (int i = 0; i < p.rank(); ++i) numel *= p[i].value();
  if (numel == 1) return true;
  int lead = 0;
  while (lead < p.rank() && p[lead].value() == 1) ++lead;
  const int pr = p.rank() - lead;
  if (pr > x.rank() - axis) return false;
  for (int i = 0; i < pr; ++i) {
    const Dim& xd = x[x.rank() - pr + i];
    if (!xd.isStatic() || xd.value() != p[lead + i].value()) return false;
  }
  for (int i = axis; i < x.rank() - pr; ++i)
    if (!x[i].isStatic() || x[i].value() != 1) return false;
  return true;
}

template <bool kRms, bool kPacked = false>
Status layerNormEnqueue(const GpuKernelContext& c, bool discardX = false) {
  constexpr const char* op = kRms ? "RMSNormalization" : "LayerNormalization";
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (!rn::layerNormSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  if (x.rank() == 0) return InvalidArgument("{} needs an input of rank >= 1", op);
  int axis;
  if (!rnh::normAxis(c.attrs.getInt("axis"), x.rank(), &axis))
    return InvalidArgument("{} axis {} is out of range for rank {}", op, c.attrs.getInt("axis"), x.rank());
  rn::LayerNormArgs a;
  a.rms = kRms;
  a.packed = kPacked;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = y.raw();
  a.epsilon = c.attrs.getFloat("epsilon");
  a.smCount = c.res.smCount;
  a.pdl = pdlEnabled(c.res.computeCapability);
  a.discardX = discardX;
  for (int i = 0; i < x.rank(); ++i) (i < axis ? a.rows : a.d) *= x.dims()[i];
  if (y.dtype() != x.dtype() || y.numel() != x.numel())
    return InternalError("{}: output {} does not match the input {}", op, y.describe(), x.describe());
  const int nParams = kRms ? 1 : 2;
  const char* names[2] = {"Scale", "B"};
  rn::ParamView* views[2] = {&a.scale, &a.bias};
  for (int i = 0; i < nParams; ++i) {
    if (!c.hasInput(1 + i)) continue;
    const Tensor& p = c.in(1 + i);
    if (p.dtype() != x.dtype())
      return Unsupported("{} {} of type {} differs from X's type {}", op, names[i], dtypeName(p.dtype()),
                         dtypeName(x.dtype()));
    const PKind k = classifyParam(p.dims(), x.dims(), axis);
    if (k == PKind::kOther)
      return Unsupported("{} {} of shape {} for X {} at axis {}: only one value per normalized element or a scalar",
                         op, names[i], p.dims().toString(), x.dims().toString(), axis);
    views[i]->p = p.raw();
    views[i]->dtype = p.dtype();
    views[i]->kind = k == PKind::kScalar ? rn::ParamView::kScalar : rn::ParamView::kRow;
  }
  if (!c.hasInput(1)) return InvalidArgument("{} needs its scale input", op);
  for (int i = 1; i <= 2 && !kRms; ++i) {
    if (!c.hasOutput(i)) continue;
    Tensor& s = c.out(i);
    if (s.numel() != a.rows || (s.dtype() != DType::kFloat32 && s.dtype() != DType::kFloat64))
      return Unsupported("{}: statistics output {} (expected {} float32/float64 values)", op, s.describe(), a.rows);
    (i == 1 ? a.mean : a.invStd) = s.raw();
    a.statDtype = s.dtype();
  }
  if (c.hasOutput(1) && c.hasOutput(2) && c.out(1).dtype() != c.out(2).dtype())
    return InternalError("{}: Mean and InvStdDev differ in type", op);
  if (x.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(rn::launchLayerNorm(a, c.stream));
  return Status::OK();
}

template <bool kRms, bool kPacked = false>
Status layerNormEnqueueFn(const GpuKernelContext& c) {
  return layerNormEnqueue<kRms, kPacked>(c);
}

template <bool kRms>
bool layerNormSupports(const LayerDesc& d) {
  const DType t = rnh::inType(d, 0);
  if (!rn::layerNormSupportsType(t)) return false;
  const Shape* xs = rnh::inShape(d, 0);
  if (!xs || !xs->rankKnown() || xs->rank() == 0 || !d.attrs) return false;
  int axis;
  if (!rnh::normAxis(d.attrs->getInt("axis", -1), xs->rank(), &axis)) return false;
  const int nParams = kRms ? 1 : 2;
  if (rnh::inType(d, 1) == DType::kUndefined) return false;
  for (int i = 1; i <= nParams; ++i) {
    const DType pt = rnh::inType(d, i);
    if (pt == DType::kUndefined) continue;  // no bias
    if (pt != t) return false;
    const Shape* ps = rnh::inShape(d, i);
    if (!ps || !paramIsRowOrScalar(*ps, *xs, axis)) return false;
  }
  for (size_t i = 1; i < d.outputTypes.size(); ++i)
    if (d.outputTypes[i] != DType::kUndefined && d.outputTypes[i] != DType::kFloat32 &&
        d.outputTypes[i] != DType::kFloat64)
      return false;
  return true;
}

// ---- [N, C, spatial...] normalizations ---------------------------------------------------------------

struct NCS {
  int64_t n = 1, c = 1, s = 1;
};
Status splitNCS(const Tensor& x, const char* op, NCS* d) {
  if (x.rank() < 2) return InvalidArgument("{} input must have rank >= 2 ([N, C, ...]), got {}", op, x.dims().toString());
  d->n = x.dims()[0];
  d->c = x.dims()[1];
  for (int i = 2; i < x.rank(); ++i) d->s *= x.dims()[i];
  return Status::OK();
}

Status checkSameOut(const char* op, const Tensor& x, const Tensor& y) {
  if (y.dtype() != x.dtype() || y.numel() != x.numel())
    return InternalError("{}: output {} does not match the input {}", op, y.describe(), x.describe());
  return Status::OK();
}

template <bool kInstance>
Status groupNormEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = kInstance ? "InstanceNormalization" : "GroupNormalization";
  const Tensor& x = c.in(0);
  if (!rn::layerNormSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  NCS d;
  KILN_RETURN_IF_ERROR(splitNCS(x, op, &d));
  KILN_RETURN_IF_ERROR(checkSameOut(op, x, c.out(0)));
  const int64_t groups = kInstance ? d.c : c.attrs.getInt("num_groups");
  if (groups <= 0 || d.c % groups != 0)
    return InvalidArgument("{}: {} channels do not split into {} groups", op, d.c, groups);
  const Tensor &scale = c.in(1), &bias = c.in(2);
  if (scale.dtype() != x.dtype() || bias.dtype() != x.dtype())
    return InvalidArgument("{} scale and bias must have the input's type {}", op, dtypeName(x.dtype()));
  const bool perGroup = scale.numel() == groups && groups != d.c;
  const int64_t want = perGroup ? groups : d.c;
  if (scale.numel() != want || bias.numel() != want)
    return InvalidArgument("{} scale and bias must have {} elements, got {} and {}", op, d.c, scale.numel(),
                           bias.numel());
  rn::GroupNormArgs a;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = c.out(0).raw();
  a.scale = scale.raw();
  a.bias = bias.raw();
  a.perGroup = perGroup;
  a.n = d.n;
  a.c = d.c;
  a.s = d.s;
  a.groups = groups;
  a.epsilon = c.attrs.getFloat("epsilon");
  a.smCount = c.res.smCount;
  if (x.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(rn::launchGroupNorm(a, c.stream));
  return Status::OK();
}

bool groupNormSupports(const LayerDesc& d) {
  const DType t = rnh::inType(d, 0);
  return rn::layerNormSupportsType(t) && rnh::inType(d, 1) == t && rnh::inType(d, 2) == t &&
         (rnh::knownRank(d, 0) < 0 || rnh::knownRank(d, 0) >= 2);
}

Status batchNormEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = "BatchNormalization";
  const Tensor& x = c.in(0);
  if (!rn::layerNormSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  const bool training = c.attrs.getInt("training_mode") != 0;
  NCS d;
  KILN_RETURN_IF_ERROR(splitNCS(x, op, &d));
  KILN_RETURN_IF_ERROR(checkSameOut(op, x, c.out(0)));
  const bool perAct = !training && d.s != 1 && c.in(1).numel() == d.c * d.s;
  const int64_t want = perAct ? d.c * d.s : d.c;
  static const char* kNames[] = {"scale", "B", "input_mean", "input_var"};
  for (int i = 1; i < 5; ++i)
    if (c.in(i).numel() != want)
      return InvalidArgument("{} {} has {} elements; expected {}", op, kNames[i - 1], c.in(i).numel(), want);
  const DType pt = c.in(1).dtype(), st = c.in(3).dtype();
  auto okType = [&](DType t) { return t == x.dtype() || t == DType::kFloat32; };
  if (c.in(2).dtype() != pt || c.in(4).dtype() != st || !okType(pt) || !okType(st))
    return Unsupported("{}: parameters of types {}/{} for X of type {}", op, dtypeName(pt), dtypeName(st),
                       dtypeName(x.dtype()));
  rn::BatchNormArgs a;
  a.dtype = x.dtype();
  a.paramDtype = pt;
  a.statDtype = st;
  a.x = x.raw();
  a.y = c.out(0).raw();
  a.scale = c.in(1).raw();
  a.bias = c.in(2).raw();
  a.mean = c.in(3).raw();
  a.var = c.in(4).raw();
  a.perActivation = perAct;
  a.n = d.n;
  a.c = d.c;
  a.s = d.s;
  a.epsilon = c.attrs.getFloat("epsilon");
  a.smCount = c.res.smCount;
  if (training) {
    // Batch statistics; the optional outputs 1 and 2 get the running mean and variance.
    a.training = true;
    a.momentum = c.attrs.getFloat("momentum");
    for (int o = 1; o <= 2; ++o)
      if (c.hasOutput(o) && (c.out(o).numel() != d.c || c.out(o).dtype() != st))
        return InvalidArgument("{}: running statistic output {} is {}, expected {} {} values", op, o,
                               c.out(o).describe(), d.c, dtypeName(st));
    a.runMean = c.hasOutput(1) ? c.out(1).raw() : nullptr;
    a.runVar = c.hasOutput(2) ? c.out(2).raw() : nullptr;
    KILN_CUDA_RETURN_IF_ERROR(rn::launchBatchNorm(a, c.stream));
    return Status::OK();
  }
  if (x.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(rn::launchBatchNorm(a, c.stream));
  return Status::OK();
}

bool batchNormSupports(const LayerDesc& d) {
  const DType t = rnh::inType(d, 0);
  if (!rn::layerNormSupportsType(t) || !d.attrs) return false;
  // Training mode may ask for the running mean and variance (outputs 1, 2); inference has one output.
  const bool training = d.attrs->getInt("training_mode", 0) != 0;
  if (d.outputTypes.empty() || (!training && d.outputTypes.size() != 1) || d.outputTypes.size() > 3) return false;
  auto okType = [&](DType p) { return p == t || p == DType::kFloat32; };
  return okType(rnh::inType(d, 1)) && rnh::inType(d, 2) == rnh::inType(d, 1) && okType(rnh::inType(d, 3)) &&
         rnh::inType(d, 4) == rnh::inType(d, 3);
}

Status lpNormEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = "LpNormalization";
  const Tensor& x = c.in(0);
  if (!rn::layerNormSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  KILN_RETURN_IF_ERROR(checkSameOut(op, x, c.out(0)));
  const int64_t p = c.attrs.getInt("p");
  if (p != 1 && p != 2) return InvalidArgument("{} p must be 1 or 2, got {}", op, p);
  int axis;
  if (!rnh::normAxis(c.attrs.getInt("axis"), x.rank(), &axis))
    return InvalidArgument("{} axis {} is out of range for rank {}", op, c.attrs.getInt("axis"), x.rank());
  rn::LpNormArgs a;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = c.out(0).raw();
  a.p = static_cast<int>(p);
  a.smCount = c.res.smCount;
  for (int i = 0; i < x.rank(); ++i) {
    if (i < axis) a.outer *= x.dims()[i];
    else if (i == axis) a.n = x.dims()[i];
    else a.inner *= x.dims()[i];
  }
  if (x.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(rn::launchLpNorm(a, c.stream));
  return Status::OK();
}

Status mvnEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = "MeanVarianceNormalization";
  const Tensor& x = c.in(0);
  if (!rn::layerNormSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  KILN_RETURN_IF_ERROR(checkSameOut(op, x, c.out(0)));
  const int rank = x.rank();
  if (rank > 12) return Unsupported("{}: rank {} is above 12", op, rank);
  bool reduced[12] = {};
  for (int64_t v : c.attrs.getInts("axes")) {
    int k;
    if (!rnh::normAxis(v, rank, &k) || (rank == 0 && v != 0 && v != -1))
      return InvalidArgument("{} axes value {} is out of range for rank {}", op, v, rank);
    if (rank == 0) continue;
    if (reduced[k]) return InvalidArgument("{} axes repeats axis {}", op, v);
    reduced[k] = true;
  }
  if (x.numel() == 0) return Status::OK();
  // Runs of kept/reduced axes (size-1 axes dropped); a layout without reduced axes gets a
  // reduced run of 1 (each element is its own group: (x - x) / (0 + 1e-9) = 0).
  rn::MvnArgs a;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = c.out(0).raw();
  a.smCount = c.res.smCount;
  rn::ReduceLayout& L = a.layout;
  for (int i = 0; i < rank; ++i) {
    const int64_t dim = x.dims()[i];
    if (dim == 1) continue;
    if (L.rank > 0 && L.red[L.rank - 1] == reduced[i]) {
      L.dim[L.rank - 1] *= dim;
      continue;
    }
    if (L.rank == rn::kMaxRuns) return Unsupported("{}: too many runs of kept/reduced axes", op);
    L.dim[L.rank] = dim;
    L.red[L.rank++] = reduced[i];
  }
  if (L.rank == rn::kMaxRuns) return Unsupported("{}: too many runs of kept/reduced axes", op);
  L.dim[L.rank] = 1;  // a trailing reduced run of 1 changes no offsets and guarantees one
  L.red[L.rank++] = true;
  int64_t st = 1;
  for (int i = L.rank - 1; i >= 0; --i) {
    L.stride[i] = st;
    st *= L.dim[i];
    (L.red[i] ? L.redCount : L.outCount) *= L.dim[i];
  }
  KILN_CUDA_RETURN_IF_ERROR(rn::launchMvn(a, c.stream));
  return Status::OK();
}

Status lrnEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = "LRN";
  const Tensor& x = c.in(0);
  if (!rn::layerNormSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  NCS d;
  KILN_RETURN_IF_ERROR(splitNCS(x, op, &d));
  KILN_RETURN_IF_ERROR(checkSameOut(op, x, c.out(0)));
  rn::LrnArgs a;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = c.out(0).raw();
  a.n = d.n;
  a.c = d.c;
  a.s = d.s;
  a.size = c.attrs.getInt("size");
  a.alpha = c.attrs.getFloat("alpha");
  a.beta = c.attrs.getFloat("beta");
  a.bias = c.attrs.getFloat("bias");
  a.smCount = c.res.smCount;
  if (a.size <= 0) return InvalidArgument("LRN size must be positive, got {}", a.size);
  if (x.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(rn::launchLrn(a, c.stream));
  return Status::OK();
}

// The packed-row kernel (norm_layer.cu): 16-bit X whose rows are whole 16-byte vectors of at most
// 1024 values, with Scale/B one value per row element. (Its launch still falls back to the
// float-holding kernel if a buffer is not 16-byte aligned.)
// The packed-row kernels hold a row of 16-bit values as whole 16-byte words, at most 4 a lane.
bool packedRowFits(DType t, int64_t row) {
  return (t == DType::kFloat16 || t == DType::kBFloat16) && row % 8 == 0 && row <= 1024;
}

template <bool kRms>
bool layerNormPackedSupports(const LayerDesc& d) {
  if (!layerNormSupports<kRms>(d)) return false;
  const Shape& xs = *rnh::inShape(d, 0);
  int axis;
  if (!rnh::normAxis(d.attrs->getInt("axis", -1), xs.rank(), &axis)) return false;
  int64_t row = 1;
  for (int i = axis; i < xs.rank(); ++i) {
    if (!xs[i].isStatic()) return false;
    row *= xs[i].value();
  }
  if (!packedRowFits(rnh::inType(d, 0), row)) return false;
  for (int i = 1; i <= (kRms ? 1 : 2); ++i) {
    const Shape* ps = rnh::inShape(d, i);
    if (ps && ps->numel().value_or(0) == 1) return false;  // a scalar parameter
  }
  return true;
}

// kiln:EmbedLayerNorm: the shared geometry (backends/embed_geometry.h), then LayerNorm's kernels
// with the gathering row source (kPacked: the packed-row kernel where the tables are aligned).
template <bool kPacked>
Status embedLayerNormEnqueue(const GpuKernelContext& c) {
  const Tensor &ids0 = c.in(0), &table0 = c.in(1);
  const Tensor* beta = c.hasInput(3) ? &c.in(3) : nullptr;
  const Tensor* ids1 = c.hasInput(4) ? &c.in(4) : nullptr;
  const Tensor* table1 = c.hasInput(5) ? &c.in(5) : nullptr;
  const Tensor* addend = c.hasInput(6) ? &c.in(6) : nullptr;
  backends::EmbedGeometry g;
  KILN_RETURN_IF_ERROR(backends::embedGeometry(ids0, table0, ids1, table1, addend, c.in(2), beta, &g));
  if (!rn::layerNormSupportsType(table0.dtype())) return unsupportedGpuType("EmbedLayerNorm", table0.dtype());
  Tensor& y = c.out(0);
  if (y.dtype() != table0.dtype() || y.numel() != g.rows * g.h)
    return InternalError("EmbedLayerNorm: output {} does not hold {} rows of {}", y.describe(), g.rows, g.h);
  if (g.rows == 0) return Status::OK();
  rn::LayerNormArgs a;
  a.dtype = table0.dtype();
  a.y = y.raw();
  a.rows = g.rows;
  a.d = g.h;
  a.epsilon = c.attrs.getFloat("epsilon");
  a.smCount = c.res.smCount;
  a.packed = kPacked;
  a.pdl = pdlEnabled(c.res.computeCapability);  // the packed kernel waits before reading
  a.scale.p = c.in(2).raw();
  a.scale.dtype = a.dtype;
  if (beta) a.bias.p = beta->raw(), a.bias.dtype = a.dtype;
  rn::EmbedSource e;
  e.ids0 = ids0.raw();
  e.ids0Is64 = ids0.dtype() == DType::kInt64;
  e.table0 = table0.raw();
  e.vocab0 = g.vocab0;
  if (ids1) {
    e.ids1 = ids1->raw();
    e.ids1Is64 = ids1->dtype() == DType::kInt64;
    e.table1 = table1->raw();
    e.vocab1 = g.vocab1;
  }
  if (addend) e.addend = addend->raw();
  e.d = g.h;
  e.check = c.check;
  e.rank = g.rank;
  for (int i = 0; i < g.rank; ++i) e.idsDims[i] = g.idsDims[i], e.addendStride[i] = g.addendStride[i];
  KILN_CUDA_RETURN_IF_ERROR(rn::launchEmbedLayerNorm(a, e, c.stream));
  return Status::OK();
}

bool embedLayerNormSupports(const LayerDesc& d) {
  const DType t = rnh::inType(d, 1);
  if (!rn::layerNormSupportsType(t)) return false;
  for (int i : {3, 5, 6})
    if (rnh::inType(d, i) != DType::kUndefined && rnh::inType(d, i) != t) return false;
  return rnh::inType(d, 2) == t;
}

// The packed-row kernel where the tables' rows fit it.
bool embedLayerNormPackedSupports(const LayerDesc& d) {
  const Shape* ts = rnh::inShape(d, 1);
  if (!embedLayerNormSupports(d) || !ts || !ts->rankKnown() || ts->rank() == 0 || !(*ts)[ts->rank() - 1].isStatic())
    return false;
  return packedRowFits(rnh::inType(d, 1), (*ts)[ts->rank() - 1].value());
}

bool floatIn0(const LayerDesc& d) { return rn::layerNormSupportsType(rnh::inType(d, 0)); }
bool lpNormSupports(const LayerDesc& d) {
  const int64_t p = d.attrs ? d.attrs->getInt("p", 2) : 2;
  return floatIn0(d) && (p == 1 || p == 2);
}
// The collapsed layout plus its trailing reduced run must fit kMaxRuns.
bool mvnSupports(const LayerDesc& d) { return floatIn0(d) && rnh::knownRank(d, 0) < rn::kMaxRuns; }
bool floatIn0Rank2(const LayerDesc& d) {
  return floatIn0(d) && (rnh::knownRank(d, 0) < 0 || rnh::knownRank(d, 0) >= 2);
}

}  // namespace

Status enqueueLayerNorm(const GpuKernelContext& ctx, bool discardInput) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return InvalidArgument("LayerNorm needs X and Scale");
  const Tensor& x = ctx.in(0);
  const bool packed = x.rank() > 0 && packedRowFits(x.dtype(), x.dims().back()) && ctx.in(1).numel() > 1;
  return packed ? layerNormEnqueue<false, true>(ctx, discardInput) : layerNormEnqueue<false>(ctx, discardInput);
}

void registerNormOps(GpuKernelRegistry& r) {
  r.addFn("LayerNormalization", "cuda_norm_layernorm", &layerNormEnqueueFn<false>, layerNormSupports<false>, 10);
  r.addFn("RMSNormalization", "cuda_norm_rmsnorm", &layerNormEnqueueFn<true>, layerNormSupports<true>, 10);
  // The packed-row kernel, timed against the float-holding one, which stays the default below
  // optimization level 3 and the reference the builder checks candidates against.
  r.addFn("LayerNormalization", "cuda_norm_packed_layernorm", &layerNormEnqueueFn<false, true>,
          layerNormPackedSupports<false>, 5);
  r.addFn("RMSNormalization", "cuda_norm_packed_rmsnorm", &layerNormEnqueueFn<true, true>, layerNormPackedSupports<true>,
          5);
  r.addFn("EmbedLayerNorm", "cuda_norm_embed_layernorm", &embedLayerNormEnqueue<false>, embedLayerNormSupports, 10,
          "kiln");
  r.addFn("EmbedLayerNorm", "cuda_norm_packed_embed_layernorm", &embedLayerNormEnqueue<true>,
          embedLayerNormPackedSupports, 5, "kiln");
  r.addFn("GroupNormalization", "cuda_norm_groupnorm", &groupNormEnqueue<false>, groupNormSupports, 10);
  r.addFn("InstanceNormalization", "cuda_norm_instancenorm", &groupNormEnqueue<true>, groupNormSupports, 10);
  r.addFn("BatchNormalization", "cuda_norm_batchnorm", &batchNormEnqueue, batchNormSupports, 10);
  r.addFn("LpNormalization", "cuda_norm_lpnorm", &lpNormEnqueue, lpNormSupports, 10);
  r.addFn("MeanVarianceNormalization", "cuda_norm_mvn", &mvnEnqueue, mvnSupports, 10);
  r.addFn("LRN", "cuda_norm_lrn", &lrnEnqueue, floatIn0Rank2, 10);
}

}  // namespace kiln::cuda
