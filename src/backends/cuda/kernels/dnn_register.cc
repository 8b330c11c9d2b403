// Registration of the dnn CUDA kernels (cuDNN convolutions). Tactic names are stable (engines
// store them with ":<variant>", the index of a cuDNN algorithm in the heuristics' list):
//   Conv            cuda_dnn_conv (cudnnConvolutionForward + epilogue kernel for the bias),
//                   cuda_dnn_conv_bias_act (cudnnConvolutionBiasActivationForward, identity: needs a bias)
//   kiln:FusedConv  cuda_dnn_fused_conv_bias_act (cuDNN fused bias + residual + ReLU/identity),
//                   cuda_dnn_fused_conv (cuDNN conv + our epilogue: any activation),
//                   cuda_gemm_fused_conv (channels-last 2-D as im2col + cuBLASLt matmul with the
//                   bias/ReLU epilogue and the residual as C; variants: cuBLASLt's algorithms)
//   ConvTranspose   cuda_dnn_conv_transpose (cudnnConvolutionBackwardData + bias epilogue)
#include "backends/cuda/kernels/dnn_conv.h"
#include "backends/cuda/kernels/dnn_conv_gemm.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {

void addForward(GpuKernelRegistry& r, const char* domain, const char* op, const char* tactic, int priority,
                bool fused, bool biasAct) {
  GpuKernelDef d;
  d.domain = domain;
  d.op = op;
  d.tactic = tactic;
  d.priority = priority;
  d.supports = [fused, biasAct](const LayerDesc& l) { return dnn::supportsForward(l, fused, biasAct); };
  d.variants = [fused, biasAct](const LayerDesc& l, size_t) { return dnn::forwardVariants(l, fused, biasAct); };
  d.create = [fused, biasAct](const LayerDesc& l, int variant, size_t limit) {
    return dnn::createForward(l, fused, biasAct, variant, limit);
  };
  r.add(std::move(d));
}

}  // namespace

void registerDnnKernels(GpuKernelRegistry& r) {
  addForward(r, "", "Conv", "cuda_dnn_conv", 10, false, false);
  addForward(r, "", "Conv", "cuda_dnn_conv_bias_act", 5, false, true);
  addForward(r, "kiln", "FusedConv", "cuda_dnn_fused_conv_bias_act", 20, true, true);
  addForward(r, "kiln", "FusedConv", "cuda_dnn_fused_conv", 10, true, false);

  // Lowest priority: heuristic-level builds keep cuDNN; timed builds pick it where it is faster
  // (small batches), and the cuDNN tactics are the self-check's reference.
  GpuKernelDef g;
  g.domain = "kiln";
  g.op = "FusedConv";
  g.tactic = "cuda_gemm_fused_conv";
  g.priority = 5;
  g.supports = [](const LayerDesc& l) { return dnn::supportsConvGemm(l); };
  g.variants = [](const LayerDesc& l, size_t limit) { return dnn::convGemmVariants(l, limit); };
  g.create = [](const LayerDesc& l, int variant, size_t limit) { return dnn::createConvGemm(l, variant, limit); };
  r.add(std::move(g));

  GpuKernelDef t;
  t.op = "ConvTranspose";
  t.tactic = "cuda_dnn_conv_transpose";
  t.priority = 10;
  t.supports = [](const LayerDesc& l) { return dnn::supportsTranspose(l); };
  t.variants = [](const LayerDesc& l, size_t) { return dnn::transposeVariants(l); };
  t.create = [](const LayerDesc& l, int variant, size_t limit) { return dnn::createTranspose(l, variant, limit); };
  r.add(std::move(t));
}

}  // namespace kiln::cuda
