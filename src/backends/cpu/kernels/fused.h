// Epilogues of fused layers on the CPU, shared by the reference and oneDNN tactics.
#pragma once

#include "backends/cpu/kernel.h"
#include "core/activation.h"

namespace kiln::cpu {

struct EpilogueSpec {
  Activation act = Activation::kNone;
  float alpha = 0, beta = 0;
  static EpilogueSpec fromAttrs(const AttrMap& a);  // activation / activation_alpha / activation_beta
};

// y = act(y + residual + bias) in place, float32. `residual` has y's shape; `bias` has y's last
// dimension. Either may be null.
void applyEpilogue(Tensor& y, const Tensor* residual, const Tensor* bias, const EpilogueSpec& ep);

// Per-context scratch tensors, grown when a larger shape comes and reused otherwise (so a
// steady-state run allocates nothing).
struct ScratchState final : KernelState {
  std::vector<Tensor> buffers;
  // A tensor of `dims` viewing scratch buffer i (reallocated only when it is too small).
  Tensor get(size_t i, DType dtype, const Dims& dims);
};

Status refFusedConv(const KernelContext& ctx);
// Channels-last pooling through the reference pooling kernels (inputs permuted to NC...).
Status refNhwcPool(const KernelContext& ctx, Status (*pool)(const KernelContext&));
// x with its dims permuted (a new tensor) / into `out` (already of the permuted dims).
Tensor permutedTensor(const Tensor& x, const Dims& perm);
void permuteInto(const Tensor& x, const Dims& perm, Tensor& out);
Status refFusedMatMul(const KernelContext& ctx);

}  // namespace kiln::cpu
