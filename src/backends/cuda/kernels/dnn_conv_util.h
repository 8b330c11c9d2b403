// Shared pieces of the cuDNN convolution kernels (host side, C++20): the convolution problem as
// cuDNN's legacy API sees it, resolved from a layer's attributes and logical NC... dims with the CPU
// kernels' own padding rules (cpu::makeGeom); RAII descriptors; the algorithm lists that become
// tactic variants; a process-wide query handle for variants()/create(), which get no resources.
//
// cuDNN's legacy convolutions take one (symmetric) padding per spatial dim. A layer whose
// begin/end paddings differ still maps onto it when cuDNN, padding `begin` on both sides, yields
// the same output size (the windows then start at the same places); otherwise a forward
// convolution is run on a zero-padded copy of X in the workspace ("prePad", static shapes only).
#pragma once

#include <cudnn.h>

#include <memory>
#include <mutex>
#include <vector>

#include "backends/cuda/gpu_kernel.h"
#include "backends/cuda/kernels/dnn_epilogue.h"

namespace kiln::cuda::dnn {

enum class ConvKind { kForward, kTranspose };

constexpr size_t kAlign = 256;
inline size_t alignUp(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// cuDNN's view of one convolution, in FORWARD terms: fwdIn -(filter)-> fwdOut. For Conv, fwdIn is
// the layer's X and fwdOut its Y; for ConvTranspose (backward data), fwdIn is the layer's Y and
// fwdOut its X. 1-D convolutions get a leading spatial dim of 1 (nbDims 4).
struct ConvProblem {
  DType dtype = DType::kFloat32;
  bool channelsLast = false;
  bool allowTf32 = false;
  int nbDims = 4;  // 4 or 5
  int fwdIn[5] = {}, filter[5] = {}, fwdOut[5] = {};
  int pad[3] = {}, stride[3] = {}, dil[3] = {};
  int group = 1;
  // Forward only: X is first copied into a zero-padded buffer (its logical dims are xDims, the
  // paddings padBegin/padEnd per layer spatial dim); fwdIn then holds the padded dims.
  bool prePad = false;
  int layerSpatial = 2;  // the layer's spatial rank (1..3)
  int64_t xDims[5] = {};
  int64_t padBegin[3] = {}, padEnd[3] = {};

  // ConvTranspose only: cuDNN writes a temporary dx' (logical dims tmpDims) that is then copied
  // into Y shifted/cropped/zero-extended per spatial dim: Y = pad(dx', cropBegin, cropEnd) (a
  // negative cropEnd crops). Used when the paddings have no symmetric equivalent (static shapes).
  bool postCrop = false;
  int64_t tmpDims[5] = {};
  int64_t cropBegin[3] = {}, cropEnd[3] = {};

  size_t elemSize() const { return dtypeSize(dtype); }
  // Bytes of the zero-padded X (prePad) or of dx' (postCrop); 0 otherwise.
  size_t scratchBytes() const;
};

// Resolves the problem for concrete logical dims: x [N, C, S...], w [M, C/g, k...] (ConvTranspose:
// [C, M/g, k...]), y [N, M, S'...]. Unsupported (with the reason) when cuDNN can't run it.
// allowScratch: paddings without a symmetric equivalent may use prePad / postCrop (static shapes).
Result<ConvProblem> resolveProblem(ConvKind kind, const AttrMap& attrs, DType dtype, bool channelsLast,
                                   const Dims& x, const Dims& w, const Dims& y, bool allowTf32, bool allowScratch);

// The layer's cuDNN data type and the math type the descriptor starts with: fp32 uses FMA only
// unless TF32 is allowed (CUDNN_DEFAULT_MATH would permit TF32 on Ampere+).
cudnnDataType_t cudnnTypeOf(DType t);
cudnnMathType_t baseMathType(const ConvProblem& p);
// The math type to run an algorithm the heuristics listed with `listed`.
cudnnMathType_t execMathType(const ConvProblem& p, cudnnMathType_t listed);

struct Descriptors {
  cudnnTensorDescriptor_t in = nullptr, out = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t filter = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnActivationDescriptor_t act = nullptr;

  Descriptors() = default;
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
  ~Descriptors();
  Status create();
  // Sets in/out/filter/conv (and bias [1, K, 1...] where K = the bias' channel count) for p.
  Status set(const ConvProblem& p, cudnnMathType_t math, int64_t biasChannels);
};

struct AlgoChoice {
  int algo = 0;  // cudnnConvolutionFwdAlgo_t or cudnnConvolutionBwdDataAlgo_t
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

// cuDNN's legacy convolution API resolves (algorithm, descriptors) into an execution plan in
// library state on a heuristic query and on the first call with fresh descriptors. Queries and
// each descriptor set's first call hold this process-wide lock (once per shape, so the cost is
// small); later calls run unlocked. It did not cure the 2-GPU fault under dynamic batching (the
// same load ran clean with CUDA graphs off; see runtime/cuda/cuda_engine.cc); it is kept because
// the clean 2-GPU run was measured with it.
std::mutex& cudnnPlanMutex();

// The heuristics' algorithms for p, best first, each checked with the workspace query (algorithms
// cuDNN refuses for p are dropped; duplicates too). `d` is created and set as a side effect.
Result<std::vector<AlgoChoice>> listAlgos(cudnnHandle_t h, ConvKind kind, const ConvProblem& p, Descriptors& d);
// One given forward algorithm (the fused bias+identity call requires IMPLICIT_PRECOMP_GEMM).
Result<AlgoChoice> forwardAlgo(cudnnHandle_t h, const ConvProblem& p, Descriptors& d, int algo);

// A cuDNN handle for build-time queries on the current device, held with its lock.
struct QueryHandle {
  std::unique_lock<std::mutex> lock;
  cudnnHandle_t handle = nullptr;
};
Result<QueryHandle> queryHandle();

// Device memory owned by a kernel state.
struct DeviceMem {
  void* ptr = nullptr;
  DeviceMem() = default;
  DeviceMem(const DeviceMem&) = delete;
  DeviceMem& operator=(const DeviceMem&) = delete;
  ~DeviceMem();
  Status allocate(size_t bytes);
};

// Host relayout of constant weights [K, C, S] -> [K, S, C] (elements of t's dtype).
Tensor filterToChannelsLastHost(const Tensor& w);

// Logical NC... dims of a layer tensor.
Dims logicalDims(const Dims& d, bool channelsLast);

// Whether a layer's attribute-level paddings map onto cuDNN for ANY input size (dynamic shapes).
bool paddingShapeIndependent(ConvKind kind, const AttrMap& attrs, const Dims& kernel);

// Static dims of a shape, or nullopt.
std::optional<Dims> staticDims(const Shape& s);

}  // namespace kiln::cuda::dnn
