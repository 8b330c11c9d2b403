// Host-callable launchers of the data movement family (kernels in data_*.cu). This header is the
// boundary between nvcc-compiled .cu files (which cannot see Tensor/Status/GpuKernel) and the
// host-compiled data_*.cc files that read attributes, validate shapes and return Status.
// Everything here is plain data: raw device pointers, element sizes, dims, strides, the stream.
// Launchers return cudaSuccess, the launch error, or cudaErrorInvalidValue for an argument the
// .cc side should have refused (an internal error there).
//
// These kernels move elements without looking at them, so they dispatch on the element SIZE
// (1/2/4/8 bytes) rather than on the dtype. Index inputs (Gather, Scatter*, ...) are read on the
// device; an index out of range never reads or writes out of bounds: gathers produce zero bits
// for that element and scatters skip it (the CPU reference reports an error instead, which an
// enqueue cannot do since it never reads device memory).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/device_check.h"

namespace kiln::cuda::data {

// Ranks after collapsing (Tile doubles a rank-6 tensor's axes; Dims allows 12).
constexpr int kMaxDims = 12;

// out[i] = in[base + sum_a coord_a(i) * stride_a] for the output (contiguous) with dims `dims`.
// Strides are in elements of the input and may be 0 (broadcast) or negative (reversed slice).
struct StridedView {
  int rank = 0;
  int64_t dims[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  int64_t base = 0;
};

// Gathers `view` from `src` (input of `srcNumel` elements) into contiguous `dst`. Collapses
// axes, widens elements to 16-byte words where alignment allows, and takes a shared-memory tiled
// transpose when the input's contiguous axis is not the output's.
cudaError_t launchStridedCopy(const void* src, int64_t srcNumel, void* dst, int elemSize, StridedView view,
                              int smCount, cudaStream_t s);

// dst[r * dstPitch + c] = src[r * srcPitch + c] for r < rows, c < cols (all in elements):
// one input of Concat or one output of Split.
cudaError_t launchCopy2D(const void* src, int64_t srcPitch, void* dst, int64_t dstPitch, int64_t rows, int64_t cols,
                         int elemSize, int smCount, cudaStream_t s);

// Fills n elements of elemSize bytes with the low elemSize bytes of `pattern`.
cudaError_t launchFill(void* dst, int64_t n, int elemSize, uint64_t pattern, int smCount, cudaStream_t s);

// ---- indexing (data_index.cu) -----------------------------------------------------------------
// Gather: y[o, j, k] = x[o, idx[j], k], x viewed as [outer, dim, inner], y as [outer, n, inner].
struct GatherArgs {
  const void* x = nullptr;
  const void* idx = nullptr;
  void* y = nullptr;
  int elemSize = 4;
  int idxSize = 8;  // 4: int32, 8: int64
  int64_t outer = 0, dim = 0, inner = 0, n = 0;
  DeviceCheck check;  // where an index out of range is reported (input 1)
};
cudaError_t launchGather(const GatherArgs& a, int smCount, cudaStream_t s);

// GatherElements / ScatterElements: idx (and updates) have dims `dims` (rank <= 8); x/y have
// contiguous strides `xStrides`; the axis coordinate is replaced by the index.
constexpr int kMaxIdxRank = 8;
struct ElementsArgs {
  const void* x = nullptr;    // gather: data; scatter: updates
  const void* idx = nullptr;
  void* y = nullptr;          // gather: output; scatter: output (already holding a copy of data)
  int elemSize = 4;
  int idxSize = 8;
  int rank = 0;
  int axis = 0;
  int64_t axisDim = 0;        // the data axis extent, for negative indices and range checks
  int64_t dims[kMaxIdxRank] = {};
  int64_t xStrides[kMaxIdxRank] = {};  // strides of the data tensor
  int64_t n = 0;              // elements of idx
  DeviceCheck check;          // where an index out of range is reported (input 1)
};
cudaError_t launchGatherElements(const ElementsArgs& a, int smCount, cudaStream_t s);

// GatherND / ScatterND: tuple j (of k int64 indices) of batch j / perBatch addresses
// data[b, i_0..i_{k-1}, ...], a slice of `slice` elements.
struct NDArgs {
  const void* x = nullptr;    // gather: data; scatter: updates
  const int64_t* idx = nullptr;
  void* y = nullptr;
  int elemSize = 4;
  int k = 0;
  int64_t tuples = 0, perBatch = 1, batchStride = 0, slice = 0;
  int64_t dims[kMaxDims] = {};     // data dims of the k indexed axes
  int64_t strides[kMaxDims] = {};  // data strides of the k indexed axes
  DeviceCheck check;               // where an index out of range is reported (input 1)
};
cudaError_t launchGatherND(const NDArgs& a, int smCount, cudaStream_t s);

// Scatter reductions (ScatterND / ScatterElements `reduction`).
enum class ScatterOp : int { kNone, kAdd, kMul, kMax, kMin };
// How the element bits are interpreted for a reduction.
enum class ElemKind : int { kF32, kF16, kBF16, kF64, kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64, kBool };
cudaError_t launchScatterND(const NDArgs& a, ScatterOp op, ElemKind kind, int smCount, cudaStream_t s);
cudaError_t launchScatterElements(const ElementsArgs& a, ScatterOp op, ElemKind kind, int smCount, cudaStream_t s);

// ---- padding and resizing (data_pad.cu, data_resize.cu) ----------------------------------------
enum class PadMode : int { kConstant = 0, kEdge = 1, kReflect = 2, kWrap = 3 };
struct PadArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int elemSize = 4;
  int rank = 0;
  PadMode mode = PadMode::kConstant;
  uint64_t fill = 0;  // constant mode: the value's bits
  int64_t inDims[kMaxDims] = {};
  int64_t outDims[kMaxDims] = {};
  int64_t begin[kMaxDims] = {};  // output index of input index 0 on each axis (may be negative)
  int64_t n = 0;                 // output elements
};
cudaError_t launchPad(const PadArgs& a, int smCount, cudaStream_t s);

constexpr int kMaxResizeRank = 8;
enum class ResizeMode : int { kNearest, kLinear, kCubic };
enum class ResizeCoord : int { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfCrop, kTfHalfPixelForNN };
enum class ResizeNearest : int { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
struct ResizeArgs {
  const void* x = nullptr;
  void* y = nullptr;
  ElemKind kind = ElemKind::kF32;
  int elemSize = 4;
  int rank = 0;
  ResizeMode mode = ResizeMode::kNearest;
  ResizeCoord coord = ResizeCoord::kHalfPixel;
  ResizeNearest nearest = ResizeNearest::kRoundPreferFloor;
  double cubicA = -0.75;
  bool excludeOutside = false;
  double extrapolation = 0.0;   // as a double; converted per element type on the device
  uint64_t extrapolationBits = 0;  // nearest: the fill value's bits in the element type
  int64_t inDims[kMaxResizeRank] = {};
  int64_t outDims[kMaxResizeRank] = {};
  bool active[kMaxResizeRank] = {};  // resized axes (others map output index i to input index i)
  int order[kMaxResizeRank] = {};    // active axes in processing order (the `axes` attribute's)
  int numActive = 0;                 // linear: <= 4, cubic: <= 3
  int64_t inStrides[kMaxResizeRank] = {};
  double scale[kMaxResizeRank] = {};
  double roiStart[kMaxResizeRank] = {};   // tf_crop_and_resize (float32 results, see the .cc)
  double roiWidth[kMaxResizeRank] = {};
  double symOffset[kMaxResizeRank] = {};  // half_pixel_symmetric: center * (1 - adjustment)
  // Linear/cubic antialias (downscaling): a filter stretched by 1/scale, taps[a] samples on axis a
  // (at most kMaxResizeTaps), weights normalized to sum 1.
  bool antialias = false;
  int taps[kMaxResizeRank] = {};
  int64_t n = 0;
};
constexpr int kMaxResizeTaps = 64;
cudaError_t launchResize(const ResizeArgs& a, int smCount, cudaStream_t s);

// ---- small generators (data_misc.cu) ------------------------------------------------------------
// Trilu over `mats` matrices of rows x cols: keeps j - i >= k (upper) or <= k (lower), zero bits elsewhere.
cudaError_t launchTrilu(const void* x, void* y, int elemSize, int64_t mats, int64_t rows, int64_t cols, int64_t k,
                        bool upper, int smCount, cudaStream_t s);
// EyeLike: y[i, j] = (j == i + k) ? one : zero (bit patterns).
cudaError_t launchEyeLike(void* y, int elemSize, int64_t rows, int64_t cols, int64_t k, uint64_t one, uint64_t zero,
                          int smCount, cudaStream_t s);
// OneHot: y viewed as [outer, depth, inner]; index (o, i) of kind idxKind selects depth position d.
cudaError_t launchOneHot(const void* idx, ElemKind idxKind, void* y, int elemSize, int64_t outer, int64_t depth,
                         int64_t inner, uint64_t off, uint64_t on, int smCount, cudaStream_t s);
// Range: y[i] = start + i * delta in the type's compute precision (float for 16-bit floats).
cudaError_t launchRange(void* y, ElemKind kind, int64_t n, double startF, double deltaF, int64_t startI, int64_t deltaI,
                        int smCount, cudaStream_t s);
// ReverseSequence: x viewed as [batch, time, inner] (batchFirst) or [time, batch, inner]; lens
// (int64, device) gives each batch entry's reversed prefix. A length outside [0, time] (an error
// on the CPU) leaves that batch entry unreversed.
cudaError_t launchReverseSequence(const void* x, const int64_t* lens, void* y, int elemSize, int64_t batch,
                                  int64_t time, int64_t inner, bool batchFirst, int smCount, cudaStream_t s);

}  // namespace kiln::cuda::data
