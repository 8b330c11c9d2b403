// Host side of the indexing ops: Gather, GatherElements, GatherND, ScatterND, ScatterElements
// (and Scatter, its opset 9-10 form). Shapes are validated here exactly like the CPU reference
// does; index VALUES live on the device and are checked there (see data_index.cu: an index out of
// range gives zero bits in a gather and is skipped by a scatter, never an out-of-bounds access,
// and is reported through ctx.check so the run fails naming the layer).
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/data_util.h"

namespace kiln::cuda::data {

namespace {

int64_t prod(const Dims& d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= d[i];
  return p;
}

Status checkIndexType(std::string_view op, const Tensor& ind, bool allowInt32 = true) {
  if (ind.dtype() == DType::kInt64 || (allowInt32 && ind.dtype() == DType::kInt32)) return Status::OK();
  return InvalidArgument("{} indices must be {}, not {}", op, allowInt32 ? "int32 or int64" : "int64", dtypeName(ind.dtype()));
}

Status checkData(std::string_view op, const Tensor& x, const Tensor& y) {
  if (x.dtype() != y.dtype() || !movableType(x.dtype()))
    return Unsupported("{} on the GPU: cannot move {} into {}", op, dtypeName(x.dtype()), dtypeName(y.dtype()));
  return Status::OK();
}

Status gatherK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& ind = c.in(1);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkData("Gather", x, y));
  KILN_RETURN_IF_ERROR(checkIndexType("Gather", ind));
  const int r = x.rank();
  const int64_t axis = normAxis(c.attrs.getInt("axis"), r);
  if (axis < 0 || axis >= r) return InvalidArgument("Gather axis {} is out of range for rank {}", c.attrs.getInt("axis"), r);
  GatherArgs g;
  g.x = x.raw();
  g.idx = ind.raw();
  g.y = y.raw();
  g.elemSize = static_cast<int>(dtypeSize(x.dtype()));
  g.idxSize = static_cast<int>(dtypeSize(ind.dtype()));
  g.outer = prod(x.dims(), 0, static_cast<int>(axis));
  g.dim = x.dims()[static_cast<int>(axis)];
  g.inner = prod(x.dims(), static_cast<int>(axis) + 1, r);
  g.n = ind.numel();
  g.check = c.check;
  if (y.numel() != g.outer * g.n * g.inner)
    return InternalError("Gather output {} does not match data {} and indices {}", y.describe(), x.describe(), ind.describe());
  KILN_CUDA_RETURN_IF_ERROR(launchGather(g, c.res.smCount, c.stream));
  return Status::OK();
}

// GatherElements/ScatterElements arguments; `upd` is the updates tensor for scatters.
Status elementsArgs(std::string_view op, const GpuKernelContext& c, const Tensor& x, const Tensor& ind, ElementsArgs* a) {
  KILN_RETURN_IF_ERROR(checkIndexType(op, ind));
  const int r = x.rank();
  const int64_t axis = normAxis(c.attrs.getInt("axis"), r);
  if (axis < 0 || axis >= r) return InvalidArgument("{} axis {} is out of range for rank {}", op, c.attrs.getInt("axis"), r);
  if (ind.rank() != r) return InvalidArgument("{} indices rank {} differs from data rank {}", op, ind.rank(), r);
  if (r > kMaxIdxRank) return Unsupported("{} on the GPU supports rank <= {}, got {}", op, kMaxIdxRank, r);
  for (int i = 0; i < r; ++i)
    if (i != axis && ind.dims()[i] > x.dims()[i])
      return InvalidArgument("{} indices shape {} exceeds data shape {}", op, ind.dims().toString(), x.dims().toString());
  a->idx = ind.raw();
  a->elemSize = static_cast<int>(dtypeSize(x.dtype()));
  a->idxSize = static_cast<int>(dtypeSize(ind.dtype()));
  a->rank = r;
  a->axis = static_cast<int>(axis);
  a->axisDim = x.dims()[static_cast<int>(axis)];
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; --i) {
    a->dims[i] = ind.dims()[i];
    a->xStrides[i] = acc;
    acc *= x.dims()[i];
  }
  a->n = ind.numel();
  a->check = c.check;
  return Status::OK();
}

Status gatherElementsK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& ind = c.in(1);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkData("GatherElements", x, y));
  ElementsArgs a;
  KILN_RETURN_IF_ERROR(elementsArgs("GatherElements", c, x, ind, &a));
  if (y.dims() != ind.dims()) return InternalError("GatherElements output {} differs from indices {}", y.describe(), ind.describe());
  a.x = x.raw();
  a.y = y.raw();
  KILN_CUDA_RETURN_IF_ERROR(launchGatherElements(a, c.res.smCount, c.stream));
  return Status::OK();
}

// GatherND/ScatterND tuple geometry (CPU: tupleOffsets).
Status ndArgs(std::string_view op, const Tensor& x, const Tensor& ind, int batchDims, NDArgs* a) {
  KILN_RETURN_IF_ERROR(checkIndexType(op, ind, /*allowInt32=*/false));
  const Dims& dd = x.dims();
  const int q = ind.rank();
  if (q < 1) return InvalidArgument("{} indices must have rank >= 1", op);
  if (batchDims < 0 || batchDims >= q || batchDims > dd.rank())
    return InvalidArgument("{} batch_dims {} is out of range for indices {} and data {}", op, batchDims, ind.dims().toString(), dd.toString());
  for (int i = 0; i < batchDims; ++i)
    if (dd[i] != ind.dims()[i])
      return InvalidArgument("{} batch dimension {} differs: data {} vs indices {}", op, i, dd.toString(), ind.dims().toString());
  const int64_t k = ind.dims()[q - 1];
  if (k < 1 || k > dd.rank() - batchDims)
    return InvalidArgument("{} indices last dimension {} must be in [1, {}]", op, k, dd.rank() - batchDims);
  a->idx = ind.data<int64_t>();
  a->elemSize = static_cast<int>(dtypeSize(x.dtype()));
  a->k = static_cast<int>(k);
  a->tuples = ind.numel() / k;
  const int64_t batch = prod(ind.dims(), 0, batchDims);
  a->perBatch = batch ? a->tuples / batch : 1;
  a->batchStride = prod(dd, batchDims, dd.rank());
  a->slice = prod(dd, batchDims + a->k, dd.rank());
  for (int t = 0; t < a->k; ++t) {
    a->dims[t] = dd[batchDims + t];
    a->strides[t] = prod(dd, batchDims + t + 1, dd.rank());
  }
  return Status::OK();
}

Status gatherNDK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& ind = c.in(1);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkData("GatherND", x, y));
  NDArgs a;
  KILN_RETURN_IF_ERROR(ndArgs("GatherND", x, ind, static_cast<int>(c.attrs.getInt("batch_dims")), &a));
  a.check = c.check;
  if (y.numel() != a.tuples * a.slice)
    return InternalError("GatherND output {} does not match data {} and indices {}", y.describe(), x.describe(), ind.describe());
  a.x = x.raw();
  a.y = y.raw();
  KILN_CUDA_RETURN_IF_ERROR(launchGatherND(a, c.res.smCount, c.stream));
  return Status::OK();
}

Status parseReduction(const AttrMap& attrs, ScatterOp* op) {
  const std::string r = attrs.getString("reduction", "none");
  if (r == "none") *op = ScatterOp::kNone;
  else if (r == "add") *op = ScatterOp::kAdd;
  else if (r == "mul") *op = ScatterOp::kMul;
  else if (r == "max") *op = ScatterOp::kMax;
  else if (r == "min") *op = ScatterOp::kMin;
  else return InvalidArgument("Scatter reduction '{}' is not none/add/mul/max/min", r);
  return Status::OK();
}

// The element kind a scatter computes with: plain stores only need the element width.
Status scatterKind(std::string_view op, DType t, ScatterOp red, ElemKind* k) {
  if (red != ScatterOp::kNone) {
    if (!elemKindOf(t, k)) return Unsupported("{} with a reduction on the GPU does not support {}", op, dtypeName(t));
    return Status::OK();
  }
  switch (dtypeSize(t)) {
    case 1: *k = ElemKind::kU8; return Status::OK();
    case 2: *k = ElemKind::kU16; return Status::OK();
    case 4: *k = ElemKind::kU32; return Status::OK();
    case 8: *k = ElemKind::kU64; return Status::OK();
    default: return Unsupported("{} on the GPU does not support {}", op, dtypeName(t));
  }
}

Status copyData(const GpuKernelContext& c, const Tensor& x, Tensor& y) {
  if (x.nbytes() != y.nbytes()) return InternalError("scatter output {} differs from data {}", y.describe(), x.describe());
  if (y.nbytes() && x.raw() != y.raw())
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.raw(), x.raw(), y.nbytes(), cudaMemcpyDeviceToDevice, c.stream));
  return Status::OK();
}

Status scatterNDK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& ind = c.in(1);
  const Tensor& upd = c.in(2);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkData("ScatterND", x, y));
  KILN_RETURN_IF_ERROR(checkData("ScatterND", upd, y));
  ScatterOp red;
  KILN_RETURN_IF_ERROR(parseReduction(c.attrs, &red));
  ElemKind kind;
  KILN_RETURN_IF_ERROR(scatterKind("ScatterND", x.dtype(), red, &kind));
  NDArgs a;
  KILN_RETURN_IF_ERROR(ndArgs("ScatterND", x, ind, 0, &a));
  a.check = c.check;
  if (upd.numel() != a.tuples * a.slice)
    return InvalidArgument("ScatterND updates shape {} does not match indices {} and data {}", upd.dims().toString(),
                           ind.dims().toString(), x.dims().toString());
  KILN_RETURN_IF_ERROR(copyData(c, x, y));
  a.x = upd.raw();
  a.y = y.raw();
  KILN_CUDA_RETURN_IF_ERROR(launchScatterND(a, red, kind, c.res.smCount, c.stream));
  return Status::OK();
}

Status scatterElementsK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& ind = c.in(1);
  const Tensor& upd = c.in(2);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkData("ScatterElements", x, y));
  KILN_RETURN_IF_ERROR(checkData("ScatterElements", upd, y));
  ScatterOp red;
  KILN_RETURN_IF_ERROR(parseReduction(c.attrs, &red));
  ElemKind kind;
  KILN_RETURN_IF_ERROR(scatterKind("ScatterElements", x.dtype(), red, &kind));
  if (upd.dims() != ind.dims())
    return InvalidArgument("ScatterElements needs indices and updates of one shape (indices {}, updates {})",
                           ind.dims().toString(), upd.dims().toString());
  ElementsArgs a;
  KILN_RETURN_IF_ERROR(elementsArgs("ScatterElements", c, x, ind, &a));
  KILN_RETURN_IF_ERROR(copyData(c, x, y));
  a.x = upd.raw();
  a.y = y.raw();
  KILN_CUDA_RETURN_IF_ERROR(launchScatterElements(a, red, kind, c.res.smCount, c.stream));
  return Status::OK();
}

bool reductionSupported(const LayerDesc& d) {
  std::string red = "none";
  if (d.attrs && d.attrs->has("reduction")) red = d.attrs->getString("reduction");
  if (red == "none") return true;
  ElemKind k;
  return !d.inputTypes.empty() && elemKindOf(d.inputTypes[0], &k);
}

bool rankAtMost(const LayerDesc& d, int i, int maxRank) { return knownRank(d, i) <= maxRank; }

}  // namespace

void registerDataIndexKernels(GpuKernelRegistry& r) {
  r.addFn("Gather", "cuda_data_gather", &gatherK,
          [](const LayerDesc& d) { return movableLayer(d, {0}) && indexTypeOk(d, 1); }, 10);
  r.addFn("GatherElements", "cuda_data_gather_elements", &gatherElementsK, [](const LayerDesc& d) {
    return movableLayer(d, {0}) && indexTypeOk(d, 1) && rankAtMost(d, 0, kMaxIdxRank);
  }, 10);
  r.addFn("GatherND", "cuda_data_gather_nd", &gatherNDK, [](const LayerDesc& d) {
    return movableLayer(d, {0}) && (d.inputTypes.size() < 2 || d.inputTypes[1] == DType::kInt64) &&
           rankAtMost(d, 0, kMaxDims);
  }, 10);
  r.addFn("ScatterND", "cuda_data_scatter_nd", &scatterNDK, [](const LayerDesc& d) {
    return movableLayer(d, {0, 2}) && (d.inputTypes.size() < 2 || d.inputTypes[1] == DType::kInt64) &&
           rankAtMost(d, 0, kMaxDims) && reductionSupported(d);
  }, 10);
  for (const char* op : {"ScatterElements", "Scatter"})
    r.addFn(op, op == std::string("Scatter") ? "cuda_data_scatter" : "cuda_data_scatter_elements", &scatterElementsK,
            [](const LayerDesc& d) {
              return movableLayer(d, {0, 2}) && indexTypeOk(d, 1) && rankAtMost(d, 0, kMaxIdxRank) && reductionSupported(d);
            }, 10);
}

}  // namespace kiln::cuda::data
