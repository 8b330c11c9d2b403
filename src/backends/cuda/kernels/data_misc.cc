// Host side of Trilu, EyeLike, OneHot, ConstantOfShape, Range and ReverseSequence (kernels in
// data_misc.cu and the fill of data_copy.cu). Shape-like inputs (Trilu's k, OneHot's depth and
// values, ConstantOfShape's shape, Range's scalars) are host tensors; dtype-dependent constants
// are converted to bit patterns here with the CPU's own conversions.
#include <algorithm>
#include <cstring>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/data_util.h"

namespace kiln::cuda::data {

namespace {

template <typename T>
uint64_t bitsOf(T v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}

Status triluK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (x.dtype() != y.dtype() || !movableType(x.dtype()) || x.dims() != y.dims())
    return InternalError("Trilu output {} does not match input {}", y.describe(), x.describe());
  const int r = x.rank();
  if (r < 2) return InvalidArgument("Trilu input must have rank >= 2, got {}", x.describe());
  int64_t k = 0;
  if (c.hasInput(1)) {
    if (c.in(1).numel() != 1) return InvalidArgument("Trilu k must be a scalar");
    k = c.in(1).intAt(0);
  }
  const int64_t rows = x.dims()[r - 2], cols = x.dims()[r - 1];
  const int64_t mats = rows * cols != 0 ? x.numel() / (rows * cols) : 0;
  k = std::clamp<int64_t>(k, -rows - 1, cols + 1);
  KILN_CUDA_RETURN_IF_ERROR(launchTrilu(x.raw(), y.raw(), static_cast<int>(dtypeSize(x.dtype())), mats, rows, cols, k,
                                        c.attrs.getInt("upper") != 0, c.res.smCount, c.stream));
  return Status::OK();
}

using EyeTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t,
                          int64_t, uint64_t, bool, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ>;

Status eyeLikeK(const GpuKernelContext& c) {
  Tensor& y = c.out(0);
  if (y.rank() != 2) return InvalidArgument("EyeLike output must be 2-D, got {}", y.describe());
  uint64_t one = 0, zero = 0;
  const bool ok = dispatchType<EyeTypes>(y.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    one = bitsOf(convertValue<T>(1.0f));
    zero = bitsOf(convertValue<T>(0.0f));
  });
  if (!ok) return Unsupported("EyeLike on the GPU does not support {}", dtypeName(y.dtype()));
  KILN_CUDA_RETURN_IF_ERROR(launchEyeLike(y.raw(), static_cast<int>(dtypeSize(y.dtype())), y.dims()[0], y.dims()[1],
                                          c.attrs.getInt("k"), one, zero, c.res.smCount, c.stream));
  return Status::OK();
}

Status oneHotK(const GpuKernelContext& c) {
  const Tensor& ind = c.in(0);
  const Tensor& vals = c.in(2);
  Tensor& y = c.out(0);
  if (vals.numel() != 2) return InvalidArgument("OneHot values must have two elements, has {}", vals.numel());
  if (!movableType(y.dtype())) return Unsupported("OneHot on the GPU does not support {} outputs", dtypeName(y.dtype()));
  ElemKind kind;
  if (!elemKindOf(ind.dtype(), &kind) || ind.dtype() == DType::kBool)
    return Unsupported("OneHot on the GPU does not support {} indices", dtypeName(ind.dtype()));
  const int r = ind.rank();
  const int64_t a = c.attrs.getInt("axis");
  const int64_t axis = a < 0 ? a + r + 1 : a;
  if (axis < 0 || axis > r || y.rank() != r + 1) return InvalidArgument("OneHot axis {} is out of range for rank {}", a, r);
  const int64_t depth = y.dims()[static_cast<int>(axis)];
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= ind.dims()[i];
  for (int i = static_cast<int>(axis); i < r; ++i) inner *= ind.dims()[i];
  if (outer * depth * inner != y.numel()) return InternalError("OneHot output {} does not match indices {}", y.describe(), ind.describe());
  const size_t es = dtypeSize(y.dtype());
  uint64_t off = 0, on = 0;
  if (vals.dtype() == y.dtype()) {
    std::memcpy(&off, vals.raw(), es);
    std::memcpy(&on, static_cast<const char*>(vals.raw()) + es, es);
  } else if (vals.dtype() == DType::kString || !valueBits(y.dtype(), vals.doubleAt(0), &off) ||
             !valueBits(y.dtype(), vals.doubleAt(1), &on)) {  // e.g. float32 values of a lowered float16 output
    return Unsupported("OneHot on the GPU: values {} into output {}", vals.describe(), y.describe());
  }
  KILN_CUDA_RETURN_IF_ERROR(launchOneHot(ind.raw(), kind, y.raw(), static_cast<int>(es), outer, depth, inner, off, on,
                                         c.res.smCount, c.stream));
  return Status::OK();
}

Status constantOfShapeK(const GpuKernelContext& c) {
  Tensor& y = c.out(0);
  uint64_t pattern = 0;  // default: float32 zeros
  if (c.attrs.has("value")) {
    const Tensor& v = c.attrs.getTensor("value");
    if (!movableType(y.dtype()) || v.numel() < 1)
      return Unsupported("ConstantOfShape on the GPU: value {} for output {}", v.describe(), y.describe());
    if (v.dtype() == y.dtype()) std::memcpy(&pattern, v.raw(), dtypeSize(v.dtype()));
    else if (v.dtype() == DType::kString || !valueBits(y.dtype(), v.doubleAt(0), &pattern))
      return Unsupported("ConstantOfShape on the GPU: value {} for output {}", v.describe(), y.describe());
  } else if (!movableType(y.dtype())) {
    return Unsupported("ConstantOfShape on the GPU does not support {}", dtypeName(y.dtype()));
  }
  KILN_CUDA_RETURN_IF_ERROR(launchFill(y.raw(), y.numel(), static_cast<int>(dtypeSize(y.dtype())), pattern,
                                       c.res.smCount, c.stream));
  return Status::OK();
}

Status rangeK(const GpuKernelContext& c) {
  Tensor& y = c.out(0);
  const DType t = y.dtype();
  for (int i = 0; i < 3; ++i)
    if (c.in(i).numel() != 1) return InvalidArgument("Range inputs must be scalars, input {} is {}", i, c.in(i).describe());
  ElemKind kind;
  if (!elemKindOf(t, &kind)) return Unsupported("Range on the GPU does not support {}", dtypeName(t));
  // start and delta in the output type's compute precision (float for float32 and the 16-bit
  // floats: the inputs normally have the output's type, so these are exact).
  double sF = 0, dF = 0;
  int64_t sI = 0, dI = 0;
  switch (t) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16:
      sF = static_cast<float>(c.in(0).doubleAt(0));
      dF = static_cast<float>(c.in(2).doubleAt(0));
      break;
    case DType::kFloat64: sF = c.in(0).doubleAt(0); dF = c.in(2).doubleAt(0); break;
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64: sI = c.in(0).intAt(0); dI = c.in(2).intAt(0); break;
    default: return Unsupported("Range on the GPU does not support {}", dtypeName(t));
  }
  KILN_CUDA_RETURN_IF_ERROR(launchRange(y.raw(), kind, y.numel(), sF, dF, sI, dI, c.res.smCount, c.stream));
  return Status::OK();
}

Status reverseSequenceK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& lens = c.in(1);
  Tensor& y = c.out(0);
  if (x.dtype() != y.dtype() || !movableType(x.dtype()) || x.dims() != y.dims())
    return InternalError("ReverseSequence output {} does not match input {}", y.describe(), x.describe());
  const int64_t ba = c.attrs.getInt("batch_axis"), ta = c.attrs.getInt("time_axis");
  if (x.rank() < 2 || !((ba == 0 && ta == 1) || (ba == 1 && ta == 0)))
    return InvalidArgument("ReverseSequence needs rank >= 2 and batch/time axes 0 and 1, got {} with {} and {}", x.describe(), ba, ta);
  if (lens.dtype() != DType::kInt64) return InvalidArgument("ReverseSequence sequence_lens must be int64, not {}", dtypeName(lens.dtype()));
  const int64_t batch = x.dims()[static_cast<int>(ba)], time = x.dims()[static_cast<int>(ta)];
  if (lens.numel() != batch)
    return InvalidArgument("ReverseSequence sequence_lens has {} entries but the batch axis has {}", lens.numel(), batch);
  int64_t inner = 1;
  for (int i = 2; i < x.rank(); ++i) inner *= x.dims()[i];
  KILN_CUDA_RETURN_IF_ERROR(launchReverseSequence(x.raw(), lens.data<int64_t>(), y.raw(),
                                                  static_cast<int>(dtypeSize(x.dtype())), batch, time, inner, ba == 0,
                                                  c.res.smCount, c.stream));
  return Status::OK();
}

bool rangeTypes(const LayerDesc& d) {
  if (d.outputTypes.empty()) return false;
  const DType t = d.outputTypes[0];
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 || t == DType::kBFloat16 ||
         t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64;
}

bool oneHotTypes(const LayerDesc& d) {
  ElemKind k;
  return movableLayer(d, {}) && !d.inputTypes.empty() && elemKindOf(d.inputTypes[0], &k) && d.inputTypes[0] != DType::kBool;
}

bool eyeTypes(const LayerDesc& d) {
  return !d.outputTypes.empty() && dispatchType<EyeTypes>(d.outputTypes[0], [](auto) {});
}

}  // namespace

void registerDataMiscKernels(GpuKernelRegistry& r) {
  r.addFn("Trilu", "cuda_data_trilu", &triluK, [](const LayerDesc& d) { return movableLayer(d, {0}); }, 10);
  r.addFn("EyeLike", "cuda_data_eye_like", &eyeLikeK, eyeTypes, 10);
  r.addFn("OneHot", "cuda_data_one_hot", &oneHotK, oneHotTypes, 10);
  r.addFn("ConstantOfShape", "cuda_data_constant_of_shape", &constantOfShapeK,
          [](const LayerDesc& d) { return movableLayer(d, {}); }, 10);
  r.addFn("Range", "cuda_data_range", &rangeK, rangeTypes, 10);
  r.addFn("ReverseSequence", "cuda_data_reverse_sequence", &reverseSequenceK,
          [](const LayerDesc& d) { return movableLayer(d, {0}) && d.inputTypes.size() > 1 && d.inputTypes[1] == DType::kInt64; },
          10);
}

}  // namespace kiln::cuda::data
