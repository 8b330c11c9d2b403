// Host-callable launcher of NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (kernels in
// loss.cu, attribute handling and validation in loss_ops.cc). Plain data only: this header is the
// boundary between nvcc (no Tensor/Status) and the host compiler.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::loss {

enum class Reduction : int { kNone, kSum, kMean };

// Scores viewed as [n, c, d] (d = product of the spatial dims d1..dk, 1 for a 2-D input); labels
// and per-position losses as [n, d].
struct LossArgs {
  bool softmax = false;  // SoftmaxCrossEntropyLoss: log-softmax over c first
  Reduction reduction = Reduction::kMean;
  DType dtype = DType::kFloat32;       // scores, weight, loss and log_prob
  DType labelDtype = DType::kInt64;    // int32 or int64
  const void* x = nullptr;
  const void* labels = nullptr;
  const void* weight = nullptr;  // [c] or nullptr (every class weighs 1)
  void* loss = nullptr;          // [n, d] for kNone, a scalar otherwise
  void* logProb = nullptr;       // SCE's optional second output, [n, c, d]; nullptr = not requested
  int64_t n = 0, c = 0, d = 1;
  bool hasIgnore = false;
  int64_t ignoreIndex = 0;
  void* workspace = nullptr;  // per-block partial sums of kSum/kMean
  size_t workspaceSize = 0;
  int smCount = 132;
};

// Partial sums (loss, weight) of at most this many blocks go through the workspace; the final
// reduction adds them in a fixed order, so results are identical from run to run.
constexpr int kMaxLossPartials = 1024;
constexpr size_t kLossWorkspaceBytes = size_t{kMaxLossPartials} * 2 * sizeof(double);

bool lossSupportsTypes(DType scores, DType labels);
cudaError_t launchLoss(const LossArgs& a, cudaStream_t s);

}  // namespace kiln::cuda::loss
