// Host-callable launchers of the dnn family's own small kernels (the cuDNN calls live in the .cc
// files). Plain data only: this header is shared by nvcc (.cu) and the host compiler (.cc).
//  - the convolution epilogue y = act(y + bias[c] + z), in place, one pass over y;
//  - the filter relayout [K, C, S] -> [K, S, C] (KCRS -> KRSC) for channels-last convolutions
//    whose weights are not constants (constant weights are relaid once on the host);
//  - the zero-padding copy that turns an asymmetrically padded convolution into a pad-free one;
//  - the channels-last im2col gather of the GEMM convolution tactic (dnn_conv_gemm.cc).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::dnn {

// Same numbering as kiln::Activation (core/activation.h); dnn_conv_util.cc static_asserts it.
enum class EpAct : int {
  kNone = 0, kRelu, kLeakyRelu, kClip, kSigmoid, kTanh, kHardSwish, kSilu, kGeluErf, kGeluTanh
};

struct EpilogueArgs {
  DType dtype = DType::kFloat32;  // float32, float16, bfloat16, float64
  void* y = nullptr;              // numel elements, updated in place
  const void* bias = nullptr;     // [channels] or null
  const void* residual = nullptr; // numel elements (same layout as y) or null
  int64_t numel = 0;
  int64_t channels = 1;
  // Elements per channel step: the spatial size for NC... layouts, 1 for channels-last. The channel
  // of element i is (i / inner) % channels.
  int64_t inner = 1;
  EpAct act = EpAct::kNone;
  float alpha = 0.f, beta = 0.f;  // LeakyRelu slope / Clip min, Clip max
  int smCount = 132;
};
cudaError_t launchEpilogue(const EpilogueArgs& a, cudaStream_t s);

// dst[k][s][c] = src[k][c][s] for elements of `elemSize` bytes (2, 4 or 8).
cudaError_t launchFilterToChannelsLast(const void* src, void* dst, int64_t k, int64_t c, int64_t spatial,
                                       int elemSize, cudaStream_t s);

// Copies x (rank 4 or 5, NC... or channels-last per `channelsLast`) into a zero-padded buffer:
// dims[] are the logical [N, C, S...] dims of x, padBegin/padEnd per spatial dim. elemSize 2/4/8.
struct PadArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int rank = 4;
  int64_t dims[5] = {};
  int64_t padBegin[3] = {}, padEnd[3] = {};
  bool channelsLast = false;
  int elemSize = 4;
  int smCount = 132;
};
cudaError_t launchZeroPad(const PadArgs& a, cudaStream_t s);

// Channels-last im2col of a 2-D convolution (group 1): col[m][k] for output pixel
// m = (n * outH + oh) * outW + ow and k = (r * kW + s) * C + c is
// x[n][oh * strideH - padH + r * dilH][ow * strideW - padW + s * dilW][c], zero outside the input;
// columns k in [kH * kW * C, rowElems) are zero (the row is padded so that rows stay 16-byte aligned).
// 16-byte vectors when C * elemSize and both pointers allow, else elements of elemSize (2 or 4) bytes.
struct Im2colArgs {
  const void* x = nullptr;
  void* col = nullptr;
  int elemSize = 2;
  int64_t n = 1, h = 1, w = 1, c = 1;  // x [n, h, w, c]
  int64_t outH = 1, outW = 1;
  int64_t kH = 1, kW = 1, strideH = 1, strideW = 1, padH = 0, padW = 0, dilH = 1, dilW = 1;
  int64_t rowElems = 0;  // >= kH * kW * c
  int smCount = 132;
};
cudaError_t launchIm2colNhwc(const Im2colArgs& a, cudaStream_t s);

}  // namespace kiln::cuda::dnn
