// Shorthands for op definitions and the list of per-family registration functions.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "ir/op_registry.h"

namespace kiln::ir {

inline const std::initializer_list<DType> kFloatTypes = {DType::kFloat32, DType::kFloat64,
                                                         DType::kFloat16, DType::kBFloat16};

inline AttrDef attrF(const char* n, float v) { return AttrDef{n, AttrKind::kFloat, AttrValue(v)}; }
inline AttrDef attrI(const char* n, int64_t v) { return AttrDef{n, AttrKind::kInt, AttrValue(v)}; }
inline AttrDef attrS(const char* n, const char* v) { return AttrDef{n, AttrKind::kString, AttrValue(v)}; }
inline AttrDef attrInts(const char* n, std::vector<int64_t> v) {
  return AttrDef{n, AttrKind::kInts, AttrValue(std::move(v))};
}
inline AttrDef attrFloats(const char* n, std::vector<float> v) {
  return AttrDef{n, AttrKind::kFloats, AttrValue(std::move(v))};
}
// An attribute with no default (absent unless the model sets it).
inline AttrDef attrOpt(const char* n, AttrKind k) { return AttrDef{n, k, std::nullopt, false}; }
inline AttrDef attrRequired(const char* n, AttrKind k) { return AttrDef{n, k, std::nullopt, true}; }

// One registration function per op family (src/ir/ops/<family>.cc).
void RegisterElementwiseOps(OpRegistry& r);
void RegisterTensorOps(OpRegistry& r);
void RegisterShapeOps(OpRegistry& r);
void RegisterReductionOps(OpRegistry& r);
void RegisterNormalizationOps(OpRegistry& r);
void RegisterConvPoolOps(OpRegistry& r);
void RegisterMatMulOps(OpRegistry& r);
void RegisterIndexingOps(OpRegistry& r);
void RegisterQuantizationOps(OpRegistry& r);
void RegisterLayoutOps(OpRegistry& r);
void RegisterAttentionOps(OpRegistry& r);
void RegisterMiscOps(OpRegistry& r);
void RegisterSequenceOps(OpRegistry& r);  // after the tensor ops (it extends Identity)
void RegisterFusedOps(OpRegistry& r);  // after the ops it fuses

}  // namespace kiln::ir
