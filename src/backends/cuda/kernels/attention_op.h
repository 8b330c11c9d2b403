// ONNX Attention on the GPU (host side; see attention_op.cc).
#pragma once

#include "backends/cuda/gpu_kernel.h"
#include "backends/cuda/kernels/attention_kernels.h"

namespace kiln::cuda {

// flash = true: the tensor-core kernel where the run's tensors fit it (float16/bfloat16, head
// size 32/64/128, aligned), else the generic kernel; flash = false: always the generic kernel.
// packed = true: kiln:PackedAttention (inputs QKV [B, S, (Hq + 2 Hkv) * D] and the mask).
class AttentionKernel final : public GpuKernel {
 public:
  explicit AttentionKernel(bool flash, bool packed = false) : flash_(flash), packed_(packed) {}
  Status enqueue(const GpuKernelContext& ctx) const override;

 private:
  bool flash_;
  bool packed_;
};

bool attentionFlashSupports(const LayerDesc& d);
bool attentionGenericSupports(const LayerDesc& d);
bool packedAttentionFlashSupports(const LayerDesc& d);
bool packedAttentionGenericSupports(const LayerDesc& d);
// Validates the run's tensors and attributes and fills the kernel parameters.
Status attentionParams(const GpuKernelContext& ctx, AttnParams* p, DType* type, bool packed = false);
// attentionParams, then what every tactic does first: false when nothing is left to launch (an
// empty output, or no keys: the zeros are written here).
Result<bool> prepareAttention(const GpuKernelContext& ctx, AttnParams* p, DType* type, bool packed);
// Kiln's own kernels for the run: flash where `flash` and the run fit it, else the generic one.
Status launchOwnAttention(const AttnParams& p, DType t, bool flash, cudaStream_t stream);

}  // namespace kiln::cuda
