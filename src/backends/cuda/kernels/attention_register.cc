// Registration of the attention CUDA kernels: ONNX Attention as a fused kernel, tensor cores for
// float16/bfloat16 (cuda_attention_flash) and a simple kernel for every other supported case
// (cuda_attention_generic: float32, odd head sizes); the same two for kiln:PackedAttention, whose
// Q, K and V are column blocks of one merged-projection tensor; and cuDNN's fused attention for both
// where the frontend headers are present (attention_cudnn.cc).
#include "backends/cuda/kernels/attention_cudnn.h"
#include "backends/cuda/kernels/attention_op.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {
void addAttention(GpuKernelRegistry& r, const char* tactic, int priority, bool flash, bool (*supports)(const LayerDesc&),
                  bool packed = false) {
  GpuKernelDef def;
  def.domain = packed ? "kiln" : "";
  def.op = packed ? "PackedAttention" : "Attention";
  def.tactic = tactic;
  def.priority = priority;
  def.supports = supports;
  def.create = [flash, packed](const LayerDesc&, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<AttentionKernel>(flash, packed));
  };
  r.add(std::move(def));
}
}  // namespace

void registerAttentionKernels(GpuKernelRegistry& r) {
  addAttention(r, "cuda_attention_flash", 100, true, &attentionFlashSupports);
  addAttention(r, "cuda_attention_generic", 10, false, &attentionGenericSupports);
  addAttention(r, "cuda_packed_attention_flash", 100, true, &packedAttentionFlashSupports, true);
  addAttention(r, "cuda_packed_attention_generic", 10, false, &packedAttentionGenericSupports, true);
#if KILN_HAVE_CUDNN_FRONTEND
  // cuDNN's fused attention: below the own flash kernel by default, the builder times both.
  for (bool packed : {false, true}) {
    GpuKernelDef def;
    def.domain = packed ? "kiln" : "";
    def.op = packed ? "PackedAttention" : "Attention";
    def.tactic = packed ? "cuda_packed_attention_cudnn" : "cuda_attention_cudnn";
    def.priority = 50;
    def.supports = packed ? &packedAttentionCudnnSupports : &attentionCudnnSupports;
    def.create = [packed](const LayerDesc&, int, size_t workspaceLimit) -> Result<std::unique_ptr<GpuKernel>> {
      return makeCudnnAttention(packed, workspaceLimit);
    };
    r.add(std::move(def));
  }
#endif
}

}  // namespace kiln::cuda
