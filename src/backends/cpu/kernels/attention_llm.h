// Registration of the attention family's LLM building-block kernels (attention_llm.cc):
// RotaryEmbedding, SwiGLU, TensorScatter, LinearAttention, CausalConvWithState.
#pragma once

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

void RegisterAttentionLlmKernels(KernelRegistry& r);

}  // namespace kiln::cpu
