// ONNX Attention on the GPU (host side; see attention_op.cc).
#pragma once

#include "backends/cuda/gpu_kernel.h"
#include "backends/cuda/kernels/attention_kernels.h"

namespace kiln::cuda {

// flash = true: the tensor-core kernel where the run's tensors fit it (float16/bfloat16, head
// size 32/64/128, aligned), else the generic kernel; flash = false: the generic tactic, which
// also runs what only the full kernel implements (attention_full.cu: KV cache, qk_matmul_output,
// softcap, windows, nonpad_kv_seqlen, other mask types, softmax_precision).
// packed = true: kiln:PackedAttention (inputs QKV [B, S, (Hq + 2 Hkv) * D] and the mask).
// resident = true (with flash): the short-sequence kernel where a run has Skv <= 128 and D <= 64,
// the flash kernel for other runs of the same layer. wgmma = true (with resident): the same
// kernel on Hopper's warpgroup MMA (sm90/attention_wgmma.cu) where a run has D == Dv == 64; the
// tactic needs a compute capability 9.0 device and refuses others (kUnsupported).
class AttentionKernel final : public GpuKernel {
 public:
  explicit AttentionKernel(bool flash, bool packed = false, bool resident = false, bool wgmma = false)
      : flash_(flash), packed_(packed), resident_(resident), wgmma_(wgmma) {}
  Status enqueue(const GpuKernelContext& ctx) const override;

 private:
  bool flash_;
  bool packed_;
  bool resident_;
  bool wgmma_;
};

bool attentionFlashSupports(const LayerDesc& d);
bool attentionGenericSupports(const LayerDesc& d);
bool packedAttentionFlashSupports(const LayerDesc& d);
// The short-sequence tactics: the flash tactic's layers whose head size is 32 or 64 and whose key
// sequence may be at most 128 long (a symbolic length qualifies: longer runs use the flash kernel).
bool attentionResidentSupports(const LayerDesc& d);
bool packedAttentionResidentSupports(const LayerDesc& d);
// The wgmma tactics: the short-sequence tactics' layers whose head sizes are both 64.
bool attentionWgmmaSupports(const LayerDesc& d);
bool packedAttentionWgmmaSupports(const LayerDesc& d);
bool packedAttentionGenericSupports(const LayerDesc& d);
// Validates the run's tensors and attributes and fills the kernel parameters. full = false
// (flash, cuDNN, packed): what only the full kernel implements is refused as Unsupported.
Status attentionParams(const GpuKernelContext& ctx, AttnParams* p, DType* type, bool packed = false, bool full = false);
// attentionParams, then what every tactic does first: writes present_key/present_value (full),
// and returns false when nothing is left to launch (empty outputs, or no keys: the zeros are
// written here).
Result<bool> prepareAttention(const GpuKernelContext& ctx, AttnParams* p, DType* type, bool packed, bool full = false);
// Kiln's own kernels for the run: the full kernel where the run needs it, else the wgmma kernel
// where `wgmma` and the run fit it, else the short-sequence kernel where `resident` and the run fit
// it, else flash where `flash` and the run fit it, else the tiled generic one. The caller checks
// the device for `wgmma`.
Status launchOwnAttention(const AttnParams& p, DType t, bool flash, cudaStream_t stream, bool resident = false,
                          bool wgmma = false);

// attention_full.cc. Why a layer or run needs the full kernel (nullptr: it does not): extra
// inputs (past_key/past_value, nonpad_kv_seqlen), extra outputs (present K/V, qk_matmul_output),
// softcap, windows, an integer/float64 mask, or (softmaxPrecision) a softmax_precision rounding
// unlike the I/O type.
const char* attentionFullOnlyFeature(const AttrMap& a, DType t, DType maskType, bool extraInputs, bool extraOutputs,
                                     bool softmaxPrecision);
// Fills the full kernel's part of p (p's geometry is set; Tp = 0 on entry).
Status attentionFullParams(const GpuKernelContext& ctx, DType t, AttnParams* p);
AttnRound attentionStorageRounding(DType t);
AttnRound attentionSoftmaxRounding(const AttrMap& a, DType t);

}  // namespace kiln::cuda
