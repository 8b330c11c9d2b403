// Registration of the attention CUDA kernels: ONNX Attention as a fused kernel, tensor cores for
// float16/bfloat16 (cuda_attention_flash; cuda_attention_resident for key sequences up to 128, and
// cuda_attention_wgmma, the same on Hopper's warpgroup MMA for head size 64)
// and simple kernels for every other case
// (cuda_attention_generic: float32, odd head sizes, and what only its full kernel implements: KV
// cache, qk_matmul_output, softcap, windows, nonpad_kv_seqlen); the same three for
// kiln:PackedAttention, whose Q, K and V are column blocks of one merged-projection tensor; and
// cuDNN's fused attention for both where the frontend headers are present (attention_cudnn.cc).
#include <functional>

#include "backends/cuda/kernels/attention_cudnn.h"
#include "backends/cuda/kernels/attention_op.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {
using CreateFn = std::function<Result<std::unique_ptr<GpuKernel>>(const LayerDesc&, int, size_t)>;

void addAttention(GpuKernelRegistry& r, const char* tactic, int priority, bool packed,
                  bool (*supports)(const LayerDesc&), CreateFn create, int variants = 0) {
  GpuKernelDef def;
  if (variants > 0) def.variants = [variants](const LayerDesc&, size_t) { return variants; };
  def.domain = packed ? "kiln" : "";
  def.op = packed ? "PackedAttention" : "Attention";
  def.tactic = tactic;
  def.priority = priority;
  def.supports = supports;
  def.create = std::move(create);
  r.add(std::move(def));
}

// Kiln's own kernels: flash (tensor cores) or generic.
void addOwn(GpuKernelRegistry& r, const char* tactic, int priority, bool flash, bool packed,
            bool (*supports)(const LayerDesc&), bool resident = false, bool wgmma = false) {
  addAttention(r, tactic, priority, packed, supports,
               [flash, packed, resident, wgmma](const LayerDesc&, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
                 return std::unique_ptr<GpuKernel>(std::make_unique<AttentionKernel>(flash, packed, resident, wgmma));
               });
}
}  // namespace

void registerAttentionKernels(GpuKernelRegistry& r) {
  // Short key sequences (BERT's 128): K/V resident in shared memory; timed against flash and cuDNN.
  // The same on Hopper's wgmma (compute capability 9.0 only): below the resident kernel, so that a
  // build without timing never picks a tactic the device may refuse; timed against it.
  addOwn(r, "cuda_attention_wgmma", 105, true, false, &attentionWgmmaSupports, true, true);
  addOwn(r, "cuda_attention_resident", 110, true, false, &attentionResidentSupports, true);
  addOwn(r, "cuda_attention_flash", 100, true, false, &attentionFlashSupports);
  addOwn(r, "cuda_attention_generic", 10, false, false, &attentionGenericSupports);
  addOwn(r, "cuda_packed_attention_wgmma", 105, true, true, &packedAttentionWgmmaSupports, true, true);
  addOwn(r, "cuda_packed_attention_resident", 110, true, true, &packedAttentionResidentSupports, true);
  addOwn(r, "cuda_packed_attention_flash", 100, true, true, &packedAttentionFlashSupports);
  addOwn(r, "cuda_packed_attention_generic", 10, false, true, &packedAttentionGenericSupports);
#if KILN_HAVE_CUDNN_FRONTEND
  // cuDNN's fused attention: below the own flash kernel by default, the builder times both.
  for (bool packed : {false, true})
    addAttention(r, packed ? "cuda_packed_attention_cudnn" : "cuda_attention_cudnn", 50, packed,
                 packed ? &packedAttentionCudnnSupports : &attentionCudnnSupports,
                 [packed](const LayerDesc&, int variant, size_t workspaceLimit) -> Result<std::unique_ptr<GpuKernel>> {
                   return makeCudnnAttention(packed, workspaceLimit, variant);
                 },
                 kCudnnAttentionVariants);
#endif
  registerQkvAttentionKernels(r);
}

}  // namespace kiln::cuda
