// Host-callable launchers of the vision family (GridSample, RoiAlign, Col2Im; kernels in
// vision.cu, host side in vision_ops.cc). Plain data only: nvcc compiles vision.cu and cannot see
// Tensor/Status. Launchers return cudaSuccess, the launch error, or cudaErrorInvalidValue for an
// argument vision_ops.cc should have refused.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace kiln::cuda::vision {

// Element types these kernels compute on: the float types, like the CPU reference's FloatTypes.
enum class VisionType : int { kF32, kF16, kBF16, kF64 };

// ---- GridSample ---------------------------------------------------------------------------------
// X (N, C, D_0..D_{r-1}), grid (N, O_0..O_{r-1}, r) whose component k addresses spatial dim
// r-1-k, Y (N, C, O_0..O_{r-1}). Coordinates, taps and weights follow misc_vision.cc exactly.
constexpr int kMaxGridSampleRank = 3;  // spatial dims (2-D and 3-D GridSample, 1-D too)
enum class GridMode : int { kNearest, kLinear, kCubic };
enum class GridPad : int { kZeros, kBorder, kReflection };
struct GridSampleArgs {
  const void* x = nullptr;
  const void* grid = nullptr;
  void* y = nullptr;
  VisionType xType = VisionType::kF32;
  VisionType gridType = VisionType::kF32;
  int rank = 0;  // spatial dims r
  GridMode mode = GridMode::kLinear;
  GridPad pad = GridPad::kZeros;
  bool alignCorners = false;
  int64_t batch = 0, channels = 0;
  int64_t inDims[kMaxGridSampleRank] = {};  // D_0..D_{r-1}
  int64_t points = 0;                       // O_0 * ... * O_{r-1}
};
cudaError_t launchGridSample(const GridSampleArgs& a, int smCount, cudaStream_t s);

// ---- RoiAlign -----------------------------------------------------------------------------------
// X (N, C, H, W), rois (R, 4) of X's type, batchIndices (R) int32/int64 on the device, Y (R, C,
// oh, ow). A batch index outside [0, N) (an error on the CPU, which an enqueue cannot report
// without reading device memory) gives zeros for that ROI.
struct RoiAlignArgs {
  const void* x = nullptr;
  const void* rois = nullptr;
  const void* batchIndices = nullptr;
  void* y = nullptr;
  VisionType type = VisionType::kF32;
  int indexSize = 8;  // 4: int32, 8: int64
  int64_t batch = 0, channels = 0, height = 0, width = 0, numRois = 0;
  int64_t outH = 0, outW = 0, samplingRatio = 0;
  double spatialScale = 1.0;  // the float attribute, widened like the CPU's
  bool halfPixel = true;
  bool maxMode = false;
};
cudaError_t launchRoiAlign(const RoiAlignArgs& a, int smCount, cudaStream_t s);

// ---- Col2Im -------------------------------------------------------------------------------------
// X (N, C*K, L) -> Y (N, C, img_0..img_{r-1}); K = prod(block), L = prod(blocks per dim).
constexpr int kMaxCol2ImRank = 6;  // the IR allows ranks up to kMaxRank (8) for Y
struct Col2ImArgs {
  const void* x = nullptr;
  void* y = nullptr;
  VisionType type = VisionType::kF32;
  int rank = 0;
  int64_t planes = 0;  // N * C
  int64_t kernelSize = 0, numBlocks = 0, imageSize = 0;  // K, L, prod(img)
  int64_t img[kMaxCol2ImRank] = {};
  int64_t block[kMaxCol2ImRank] = {};
  int64_t blocks[kMaxCol2ImRank] = {};  // blocks per dim
  int64_t dil[kMaxCol2ImRank] = {};
  int64_t padBegin[kMaxCol2ImRank] = {};
  int64_t stride[kMaxCol2ImRank] = {};
};
cudaError_t launchCol2Im(const Col2ImArgs& a, int smCount, cudaStream_t s);

}  // namespace kiln::cuda::vision
