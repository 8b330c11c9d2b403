// The one place that lists every op family (explicit registration, no static initializers).
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

void RegisterAllOps(OpRegistry& r) {
  RegisterElementwiseOps(r);
  RegisterTensorOps(r);
  RegisterShapeOps(r);
  RegisterReductionOps(r);
  RegisterNormalizationOps(r);
  RegisterConvPoolOps(r);
  RegisterMatMulOps(r);
  RegisterIndexingOps(r);
  RegisterLayoutOps(r);
  RegisterQuantizationOps(r);
  RegisterAttentionOps(r);
  RegisterMiscOps(r);
  RegisterSequenceOps(r);
  RegisterFusedOps(r);
}

}  // namespace kiln::ir
