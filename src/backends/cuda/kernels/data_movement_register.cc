// Registration of the data movement CUDA kernel family: the byte-moving layout ops (Transpose,
// Concat, Split, Slice, Expand, Tile, DepthToSpace, SpaceToDepth), indexing (Gather*, Scatter*),
// Pad/CenterCropPad/Resize/Upsample and small generators (Trilu, OneHot, EyeLike,
// ConstantOfShape, Range, ReverseSequence). Shared predicates live here too.
#include <cstring>

#include "backends/cuda/kernels/data_util.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace data {

bool movableLayer(const LayerDesc& d, std::initializer_list<int> dataInputs) {
  for (DType t : d.outputTypes)
    if (t != DType::kUndefined && !movableType(t)) return false;
  for (int i : dataInputs)
    if (i < static_cast<int>(d.inputTypes.size()) && !movableType(d.inputTypes[i])) return false;
  return true;
}

bool indexTypeOk(const LayerDesc& d, int i) {
  if (i >= static_cast<int>(d.inputTypes.size())) return true;
  const DType t = d.inputTypes[i];
  return t == DType::kInt32 || t == DType::kInt64 || t == DType::kUndefined;
}

int knownRank(const LayerDesc& d, int i) {
  if (i >= static_cast<int>(d.inputShapes.size()) || !d.inputShapes[i].rankKnown()) return -1;
  return d.inputShapes[i].rank();
}

bool elemKindOf(DType t, ElemKind* k) {
  switch (t) {
    case DType::kFloat32: *k = ElemKind::kF32; return true;
    case DType::kFloat16: *k = ElemKind::kF16; return true;
    case DType::kBFloat16: *k = ElemKind::kBF16; return true;
    case DType::kFloat64: *k = ElemKind::kF64; return true;
    case DType::kInt8: *k = ElemKind::kI8; return true;
    case DType::kUInt8: *k = ElemKind::kU8; return true;
    case DType::kInt16: *k = ElemKind::kI16; return true;
    case DType::kUInt16: *k = ElemKind::kU16; return true;
    case DType::kInt32: *k = ElemKind::kI32; return true;
    case DType::kUInt32: *k = ElemKind::kU32; return true;
    case DType::kInt64: *k = ElemKind::kI64; return true;
    case DType::kUInt64: *k = ElemKind::kU64; return true;
    case DType::kBool: *k = ElemKind::kBool; return true;
    default: return false;
  }
}

bool valueBits(DType t, double v, uint64_t* bits) {
  using Types = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t,
                         int64_t, uint64_t, bool, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ>;
  return dispatchType<Types>(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T x = convertValue<T>(v);
    *bits = 0;
    std::memcpy(bits, &x, sizeof(T));
  });
}

}  // namespace data

void registerDataMovementKernels(GpuKernelRegistry& r) {
  data::registerDataTransformKernels(r);
  data::registerDataIndexKernels(r);
  data::registerDataPadResizeKernels(r);
  data::registerDataMiscKernels(r);
}

}  // namespace kiln::cuda
