// cuDNN convolution kernels of the dnn family: forward (Conv, kiln:FusedConv) in dnn_conv.cc,
// ConvTranspose (backward data) in dnn_conv_transpose.cc; registered in dnn_register.cc.
#pragma once

#include "backends/cuda/kernels/dnn_conv_util.h"

namespace kiln::cuda::dnn {

// What a forward convolution layer is, resolved from its LayerDesc. fromDesc fails (with the
// reason) exactly for the layers the kernel does not support, so `supports` is fromDesc().ok().
struct FwdConfig {
  bool fused = false;    // kiln:FusedConv (else Conv)
  bool biasAct = false;  // the cudnnConvolutionBiasActivationForward tactic
  DType dtype = DType::kFloat32;
  bool channelsLast = false;
  bool hasBias = false, hasResidual = false;
  EpAct act = EpAct::kNone;
  float alpha = 0.f, beta = 0.f;
  int64_t group = 1;
  bool allowTf32 = false;
  AttrMap attrs;
  Dims wDims;            // [M, C/group, k...] (always static)
  Tensor constW;         // host copy of constant weights (undefined otherwise)
  bool staticShapes = false;
  Dims xDims, yDims;     // logical NC... dims (static layers)
  ConvProblem prob;      // static layers

  static Result<FwdConfig> fromDesc(const LayerDesc& d, bool fused, bool biasAct);
  size_t packedWBytes() const;
  // Static layers: the variants (algorithms) in heuristic order.
  Result<std::vector<AlgoChoice>> algorithms() const;
};

class ConvKernel final : public GpuKernel {
 public:
  // cudnnWorkspace: the algorithm's need (static layers) or the budget (dynamic layers).
  ConvKernel(FwdConfig cfg, AlgoChoice algo, size_t cudnnWorkspace);
  Status enqueue(const GpuKernelContext& ctx) const override;
  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources& res) const override;
  size_t workspaceBytes() const override { return workspace_; }

 private:
  FwdConfig cfg_;
  AlgoChoice algo_;
  size_t cudnnWs_ = 0;
  // Workspace layout: [cuDNN | zero-padded X (prePad) | relaid filter (channels-last, non-constant W)].
  size_t prePadOffset_ = 0, packedWOffset_ = 0, workspace_ = 0;
};

bool supportsForward(const LayerDesc& d, bool fused, bool biasAct);
int forwardVariants(const LayerDesc& d, bool fused, bool biasAct);
Result<std::unique_ptr<GpuKernel>> createForward(const LayerDesc& d, bool fused, bool biasAct, int variant,
                                                 size_t workspaceLimit);

bool supportsTranspose(const LayerDesc& d);
int transposeVariants(const LayerDesc& d);
Result<std::unique_ptr<GpuKernel>> createTranspose(const LayerDesc& d, int variant, size_t workspaceLimit);

}  // namespace kiln::cuda::dnn
