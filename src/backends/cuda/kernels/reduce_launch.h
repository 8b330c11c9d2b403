// Host-callable launchers of the reduce / norm / pool kernel families. This header is the boundary
// between the .cu files (compiled by nvcc as C++17, so they cannot see Tensor/Status/GpuKernel)
// and the .cc files (C++20) that read attributes, validate shapes and return Status. Everything
// here is plain data: raw device pointers, dtypes, sizes, and the stream. Each launcher returns
// cudaSuccess, the launch error, or cudaErrorInvalidValue for a dtype it was not built for (the
// .cc side checks dtypes first, so that is an internal error).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/device_check.h"
#include "kiln/dtype.h"

namespace kiln::cuda::rn {

constexpr int kMaxRuns = 8;  // collapsed runs of kept/reduced axes (rank <= 8 after collapsing)

// ---- Reduce* ------------------------------------------------------------------------------------
enum class ROp : int { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// The input's axes collapsed into alternating runs of kept and reduced axes (size-1 axes dropped),
// outermost first. A layout that reduces nothing ends with a reduced run of 1.
struct ReduceLayout {
  int rank = 0;
  int64_t dim[kMaxRuns] = {};
  int64_t stride[kMaxRuns] = {};
  bool red[kMaxRuns] = {};
  int64_t outCount = 1, redCount = 1;
};

struct ReduceArgs {
  ROp op = ROp::kSum;
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* y = nullptr;
  int64_t inNumel = 0;   // 0: every output is the identity's value (a reduced axis of size 0)
  int64_t outNumel = 0;
  ReduceLayout layout;   // valid when inNumel > 0
  int smCount = 132;
  void* workspace = nullptr;  // optional split-reduction scratch
  size_t workspaceSize = 0;
};
// Bytes of workspace a reduction may use for split (multi-block) rows and columns.
constexpr size_t kReduceWorkspaceBytes = size_t{1} << 20;
bool reduceSupportsType(ROp op, DType t);
cudaError_t launchReduce(const ReduceArgs& a, cudaStream_t s);
// Implemented per op group (reduce_sum.cu / reduce_minmax.cu); launchReduce picks one.
cudaError_t launchReduceAdditive(const ReduceArgs& a, cudaStream_t s);
cudaError_t launchReduceOther(const ReduceArgs& a, cudaStream_t s);

// ---- ArgMax / ArgMin ----------------------------------------------------------------------------
struct ArgArgs {
  bool isMax = true, selectLast = false;
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  int64_t* y = nullptr;
  int64_t outer = 1, n = 1, inner = 1;  // n >= 1
  int smCount = 132;
};
bool argSupportsType(DType t);
cudaError_t launchArg(const ArgArgs& a, cudaStream_t s);

// ---- Softmax / LogSoftmax / Hardmax ---------------------------------------------------------------
enum class SMode : int { kSoftmax, kLogSoftmax, kHardmax };
struct SoftmaxArgs {
  SMode mode = SMode::kSoftmax;
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* y = nullptr;
  int64_t outer = 1, n = 1, inner = 1;  // all > 0
  int smCount = 132;
};
bool softmaxSupportsType(DType t);
cudaError_t launchSoftmax(const SoftmaxArgs& a, cudaStream_t s);

// ---- CumSum / CumProd ------------------------------------------------------------------------------
struct ScanArgs {
  bool prod = false, exclusive = false, reverse = false;
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* y = nullptr;
  int64_t outer = 1, n = 1, inner = 1;  // all > 0
  int smCount = 132;
};
bool scanSupportsType(DType t);  // CumSum and CumProd (prod = true)
cudaError_t launchScan(const ScanArgs& a, cudaStream_t s);

// ---- TopK --------------------------------------------------------------------------------------------
struct TopKArgs {
  bool largest = true;
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* values = nullptr;
  int64_t* indices = nullptr;
  int64_t outer = 1, n = 1, inner = 1, k = 1;  // 0 <= k <= n
  int smCount = 132;
};
constexpr int64_t kTopKMaxK = 32;  // the warp kernel's register lists
bool topKSupportsType(DType t);
cudaError_t launchTopK(const TopKArgs& a, cudaStream_t s);        // K <= kTopKMaxK
cudaError_t launchTopKSelect(const TopKArgs& a, cudaStream_t s);  // any K (K rounds of selection)

// ---- Normalizations -----------------------------------------------------------------------------------
// A parameter tensor (Scale, B) of a row normalization, as the kernel reads it: per element of the
// normalized row (the common case), one scalar, or through broadcast strides over all of X.
// kStrided is not implemented by launchLayerNorm (the .cc side refuses such parameters).
struct ParamView {
  const void* p = nullptr;  // nullptr: absent (bias); the scale is required
  DType dtype = DType::kFloat32;
  enum Kind : int { kRow = 0, kScalar = 1, kStrided = 2 } kind = kRow;
  int64_t stride[kMaxRuns] = {};  // kStrided: element strides against xDims
};

struct LayerNormArgs {
  bool rms = false;
  // The packed-row kernel where it applies (tactic cuda_norm_packed_layernorm); else the
  // float-holding one.
  bool packed = false;
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* y = nullptr;
  int64_t rows = 1, d = 1;  // d > 0
  float epsilon = 1e-5f;
  ParamView scale, bias;
  int rank = 0;  // X's dims for kStrided parameters
  int64_t xDims[kMaxRuns] = {};
  void* mean = nullptr;  // optional outputs, `rows` elements of statDtype
  void* invStd = nullptr;
  DType statDtype = DType::kFloat32;
  int smCount = 132;
  bool pdl = false;  // the packed kernel launches with programmatic dependent launch (pdl.cuh)
  // X is dead once read (a layer's private intermediate): the packed kernel drops its rows from L2
  // instead of letting them be written back to DRAM (norm_layer.cu says why).
  bool discardX = false;
};
bool layerNormSupportsType(DType t);
bool paramSupportsType(DType t);
cudaError_t launchLayerNorm(const LayerNormArgs& a, cudaStream_t s);

// kiln:EmbedLayerNorm: LayerNorm (a.x unused; a.rows rows of a.d = H values, per-row-element
// scale/bias) of rows summed from gathered table rows and a broadcast addend
// (backends/embed_geometry.h). Ids out of range read as zero rows and are reported to `check`.
struct EmbedSource {
  static constexpr int kMaxRank = 8;
  const void* ids0 = nullptr;
  const void* ids1 = nullptr;  // null: no second table
  bool ids0Is64 = true, ids1Is64 = true;
  const void* table0 = nullptr;
  const void* table1 = nullptr;
  const void* addend = nullptr;  // null: none
  int64_t vocab0 = 0, vocab1 = 0, d = 0;
  int rank = 0;
  int64_t idsDims[kMaxRank] = {};
  int64_t addendStride[kMaxRank] = {};  // in rows of d
  DeviceCheck check;  // where an id out of range is reported (input 0 or 4)
};
cudaError_t launchEmbedLayerNorm(const LayerNormArgs& a, const EmbedSource& e, cudaStream_t s);

// GroupNormalization / InstanceNormalization over [N, C, S]: groups of C/G channels.
struct GroupNormArgs {
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* y = nullptr;
  const void* scale = nullptr;
  const void* bias = nullptr;  // same dtype as x
  bool perGroup = false;       // scale/bias hold one value per group (opset 18)
  int64_t n = 1, c = 1, s = 1, groups = 1;
  float epsilon = 1e-5f;
  int smCount = 132;
};
cudaError_t launchGroupNorm(const GroupNormArgs& a, cudaStream_t s);

// BatchNormalization over [N, C, S], inference only (training = true is refused with
// cudaErrorInvalidValue): y = (x - mean) / sqrt(var + eps) * scale + bias, parameters per channel
// or (perActivation) per [C, S] element; scale/B and mean/var each of X's type or float32.
struct BatchNormArgs {
  DType dtype = DType::kFloat32;
  DType paramDtype = DType::kFloat32;  // scale/B
  DType statDtype = DType::kFloat32;   // input_mean/input_var (and the running outputs)
  const void* x = nullptr;
  void* y = nullptr;
  const void *scale = nullptr, *bias = nullptr, *mean = nullptr, *var = nullptr;
  bool perActivation = false, training = false;
  void *runMean = nullptr, *runVar = nullptr;
  int64_t n = 1, c = 1, s = 1;
  float epsilon = 1e-5f, momentum = 0.9f;
  int smCount = 132;
};
cudaError_t launchBatchNorm(const BatchNormArgs& a, cudaStream_t s);

struct LpNormArgs {
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* y = nullptr;
  int64_t outer = 1, n = 1, inner = 1;
  int p = 2;
  int smCount = 132;
};
cudaError_t launchLpNorm(const LpNormArgs& a, cudaStream_t s);

// MeanVarianceNormalization: statistics over the reduced runs of `layout`.
struct MvnArgs {
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* y = nullptr;
  ReduceLayout layout;
  int smCount = 132;
};
cudaError_t launchMvn(const MvnArgs& a, cudaStream_t s);

struct LrnArgs {
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* y = nullptr;
  int64_t n = 1, c = 1, s = 1, size = 1;
  float alpha = 1e-4f, beta = 0.75f, bias = 1.0f;
  int smCount = 132;
};
cudaError_t launchLrn(const LrnArgs& a, cudaStream_t s);

// ---- Pooling -------------------------------------------------------------------------------------------
constexpr int kMaxPoolDims = 3;
enum class PoolMode : int { kMax, kAvg, kLp };
// Window geometry of one pooling layer (spatial rank 1..3), paddings already resolved.
struct PoolGeom {
  int nd = 0;
  int64_t batch = 1, channels = 1;
  int64_t in[kMaxPoolDims] = {}, out[kMaxPoolDims] = {};
  int64_t kernel[kMaxPoolDims] = {}, stride[kMaxPoolDims] = {}, dilation[kMaxPoolDims] = {};
  int64_t padBegin[kMaxPoolDims] = {}, padEnd[kMaxPoolDims] = {};
};
struct PoolArgs {
  PoolMode mode = PoolMode::kMax;
  DType dtype = DType::kFloat32;
  bool channelsLast = false;
  bool countIncludePad = false;
  int p = 2;                   // LpPool
  bool colMajorIndices = false;  // MaxPool storage_order = 1
  const void* x = nullptr;
  void* y = nullptr;
  int64_t* indices = nullptr;  // MaxPool's optional output (channels-first only)
  PoolGeom g;
  int smCount = 132;
};
cudaError_t launchPool(const PoolArgs& a, cudaStream_t s);

// Global pooling over the spatial positions of each (n, c): channels-first planes of `spatial`
// contiguous elements, or channels-last [N, spatial, C].
struct GlobalPoolArgs {
  PoolMode mode = PoolMode::kAvg;
  DType dtype = DType::kFloat32;
  bool channelsLast = false;
  int p = 2;
  const void* x = nullptr;
  void* y = nullptr;
  int64_t batch = 1, channels = 1, spatial = 1;
  int smCount = 132;
};
cudaError_t launchGlobalPool(const GlobalPoolArgs& a, cudaStream_t s);

bool poolSupportsType(PoolMode mode, DType t);

}  // namespace kiln::cuda::rn
