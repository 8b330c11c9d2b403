// Registration of the attention CUDA kernels: ONNX Attention as a fused kernel, tensor cores for
// float16/bfloat16 (cuda_attention_flash) and a simple kernel for every other supported case
// (cuda_attention_generic: float32, odd head sizes).
#include "backends/cuda/kernels/attention_op.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {
void addAttention(GpuKernelRegistry& r, const char* tactic, int priority, bool flash, bool (*supports)(const LayerDesc&)) {
  GpuKernelDef def;
  def.op = "Attention";
  def.tactic = tactic;
  def.priority = priority;
  def.supports = supports;
  def.create = [flash](const LayerDesc&, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<AttentionKernel>(flash));
  };
  r.add(std::move(def));
}
}  // namespace

void registerAttentionKernels(GpuKernelRegistry& r) {
  addAttention(r, "cuda_attention_flash", 100, true, &attentionFlashSupports);
  addAttention(r, "cuda_attention_generic", 10, false, &attentionGenericSupports);
}

}  // namespace kiln::cuda
