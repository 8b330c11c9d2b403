// Shared pieces of the cuDNN convolution kernels (see dnn_conv_util.h).
#include "backends/cuda/kernels/dnn_conv_util.h"

#include <cuda_runtime_api.h>

#include <climits>
#include <cstring>
#include <map>

#include "backends/cpu/kernels/conv_pool_geom.h"
#include "backends/cuda/cuda_check.h"
#include "core/activation.h"
#include "core/layout.h"

namespace kiln::cuda::dnn {

static_assert(static_cast<int>(EpAct::kNone) == static_cast<int>(Activation::kNone));
static_assert(static_cast<int>(EpAct::kRelu) == static_cast<int>(Activation::kRelu));
static_assert(static_cast<int>(EpAct::kLeakyRelu) == static_cast<int>(Activation::kLeakyRelu));
static_assert(static_cast<int>(EpAct::kClip) == static_cast<int>(Activation::kClip));
static_assert(static_cast<int>(EpAct::kSigmoid) == static_cast<int>(Activation::kSigmoid));
static_assert(static_cast<int>(EpAct::kTanh) == static_cast<int>(Activation::kTanh));
static_assert(static_cast<int>(EpAct::kHardSwish) == static_cast<int>(Activation::kHardSwish));
static_assert(static_cast<int>(EpAct::kSilu) == static_cast<int>(Activation::kSilu));
static_assert(static_cast<int>(EpAct::kGeluErf) == static_cast<int>(Activation::kGeluErf));
static_assert(static_cast<int>(EpAct::kGeluTanh) == static_cast<int>(Activation::kGeluTanh));

size_t ConvProblem::scratchBytes() const {
  if (!prePad && !postCrop) return 0;
  size_t n = 1;  // fwdIn is the padded X (prePad) or dx' (postCrop)
  for (int i = 0; i < nbDims; ++i) n *= static_cast<size_t>(fwdIn[i]);
  return n * elemSize();
}

namespace {

const char* opName(ConvKind k) { return k == ConvKind::kForward ? "Conv" : "ConvTranspose"; }

bool fitsInt(int64_t v) { return v >= 0 && v <= INT_MAX; }

// Copies logical [N, C, S...] into cuDNN's 4-D/5-D dims (1-D convs get a leading spatial 1).
void toCudnnDims(const Dims& d, int* out) {
  const int n = d.rank() - 2;
  out[0] = static_cast<int>(d[0]);
  out[1] = static_cast<int>(d[1]);
  if (n == 1) {
    out[2] = 1;
    out[3] = static_cast<int>(d[2]);
  } else {
    for (int i = 0; i < n; ++i) out[2 + i] = static_cast<int>(d[2 + i]);
  }
}

}  // namespace

Result<ConvProblem> resolveProblem(ConvKind kind, const AttrMap& attrs, DType dtype, bool channelsLast,
                                   const Dims& x, const Dims& w, const Dims& y, bool allowTf32, bool allowScratch) {
  const char* op = opName(kind);
  const int n = x.rank() - 2;
  if (n < 1 || n > 3)
    return Unsupported("{}: cuDNN convolutions have 1 to 3 spatial dims; the input is {}", op, x.toString());
  if (w.rank() != x.rank() || y.rank() != x.rank())
    return InvalidArgument("{}: input {}, weights {} and output {} must have the same rank", op, x.toString(),
                           w.toString(), y.toString());
  const int64_t group = attrs.getInt("group", 1);
  if (group < 1) return InvalidArgument("{}: group must be >= 1 (got {})", op, group);
  bool channelsOk;
  if (kind == ConvKind::kForward)
    channelsOk = x[1] == w[1] * group && w[0] % group == 0 && y[1] == w[0];
  else
    channelsOk = w[0] == x[1] && x[1] % group == 0 && y[1] == w[1] * group;
  if (!channelsOk)
    return InvalidArgument("{}: input {} and output {} do not match weights {} with group {}", op, x.toString(),
                           y.toString(), w.toString(), group);
  for (const Dims* d : {&x, &w, &y}) {
    if (!fitsInt(d->numel()))
      return Unsupported("{}: tensor of dims {} has 2^31 or more elements (cuDNN's legacy API limit)", op,
                         d->toString());
  }
  cpu::SpatialGeom g;
  KILN_RETURN_IF_ERROR(cpu::makeGeom(attrs, x, Dims(w.begin() + 2, w.end()), y,
                                     kind == ConvKind::kForward ? cpu::PadMode::kConv : cpu::PadMode::kConvTranspose,
                                     &g));
  ConvProblem p;
  p.dtype = dtype;
  p.channelsLast = channelsLast;
  p.allowTf32 = allowTf32;
  p.layerSpatial = n;
  p.nbDims = n == 3 ? 5 : 4;
  p.group = static_cast<int>(group);
  for (int i = 0; i < 3; ++i) {
    p.pad[i] = 0;
    p.stride[i] = 1;
    p.dil[i] = 1;
  }
  const bool fwd = kind == ConvKind::kForward;
  toCudnnDims(fwd ? x : y, p.fwdIn);
  toCudnnDims(fwd ? y : x, p.fwdOut);
  toCudnnDims(w, p.filter);
  for (int i = 0; i < x.rank(); ++i) p.xDims[i] = x[i];
  const int off = n == 1 ? 1 : 0;  // cuDNN spatial index of the layer's spatial dim 0
  for (int i = 0; i < n; ++i) {
    const int64_t s = g.strides[i], d = g.dilations[i], ek = g.effKernel(i);
    const int64_t pb = g.padBegin[i], pe = g.padEnd[i];
    if (!fitsInt(s) || !fitsInt(d) || !fitsInt(pb < 0 ? -pb : pb) || !fitsInt(pe < 0 ? -pe : pe))
      return Unsupported("{}: stride {}, dilation {} or paddings {}/{} out of cuDNN's range", op, s, d, pb, pe);
    p.stride[off + i] = static_cast<int>(s);
    p.dil[off + i] = static_cast<int>(d);
    p.padBegin[i] = pb;
    p.padEnd[i] = pe;
    // fwdIn size `in` with symmetric padding pb must give fwdOut size `out`.
    const int64_t in = fwd ? x[2 + i] : y[2 + i], out = fwd ? y[2 + i] : x[2 + i];
    const int64_t span = in + 2 * pb - ek;
    if (pb >= 0 && span >= 0 && span / s + 1 == out) {
      p.pad[off + i] = static_cast<int>(pb);
    } else if (allowScratch && (fwd ? pb >= 0 && pe >= 0 : true)) {
      (fwd ? p.prePad : p.postCrop) = true;
    } else {
      return Unsupported("{}: paddings {} (begin) / {} (end) of spatial dim {} (size {} -> {}) have no symmetric "
                         "equivalent in cuDNN, and the shapes are not static (no scratch copy possible)",
                         op, pb, pe, i, x[2 + i], y[2 + i]);
    }
  }
  if (p.prePad) {
    // Pad-free convolution over the zero-padded X.
    for (int i = 0; i < n; ++i) {
      const int64_t padded = x[2 + i] + p.padBegin[i] + p.padEnd[i];
      const int64_t span = padded - g.effKernel(i);
      if (!fitsInt(padded) || span < 0 || span / g.strides[i] + 1 != y[2 + i])
        return Unsupported("Conv: paddings of spatial dim {} do not produce the output size {}", i, y[2 + i]);
      p.fwdIn[2 + off + i] = static_cast<int>(padded);
      p.pad[off + i] = 0;
    }
  }
  if (p.postCrop) {
    // cuDNN pads q on both sides and writes dx' of size O' (its forward convolution must map O'
    // back to the input size I): dx'[j] gathers the windows with j = i*s - q + k*d, so
    // Y[o] = dx'[o - shift] with shift = q - pb. O' covers every Y position that a window reaches
    // (larger O' is cropped); Y positions before dx' (shift > 0, only when pb < 0) get no window.
    // q = max(pb, 0) first, smaller values when the end of Y would need positions past O'.
    p.tmpDims[0] = y[0];
    p.tmpDims[1] = y[1];
    for (int i = 0; i < n; ++i) {
      const int64_t s = g.strides[i], ek = g.effKernel(i), pb = g.padBegin[i];
      const int64_t inI = x[2 + i], outO = y[2 + i];
      bool found = false;
      for (int64_t q = pb > 0 ? pb : 0; q >= 0 && !found; --q) {
        const int64_t shift = q - pb;
        const int64_t base = s * (inI - 1) + ek - 2 * q;  // smallest O' with that forward size
        int64_t o2 = outO - shift;
        if (o2 < base) o2 = base;
        if (o2 < 1) o2 = 1;
        const int64_t r = o2 + 2 * q - ek - s * (inI - 1);
        if (r < 0 || r >= s || !fitsInt(o2) || !fitsInt(q)) continue;
        found = true;
        p.fwdIn[2 + off + i] = static_cast<int>(o2);
        p.pad[off + i] = static_cast<int>(q);
        p.tmpDims[2 + i] = o2;
        p.cropBegin[i] = shift;
        p.cropEnd[i] = outO - shift - o2;
      }
      if (!found)
        return Unsupported("ConvTranspose: output size {} of spatial dim {} (paddings {}/{}) is not reachable with "
                           "cuDNN's symmetric padding",
                           outO, i, pb, g.padEnd[i]);
    }
  }
  if (p.prePad || p.postCrop) {
    size_t numel = 1;
    for (int i = 0; i < p.nbDims; ++i) numel *= static_cast<size_t>(p.fwdIn[i]);
    if (numel > static_cast<size_t>(INT_MAX))
      return Unsupported("{}: the scratch copy has 2^31 or more elements", op);
  }
  return p;
}

cudnnDataType_t cudnnTypeOf(DType t) {
  switch (t) {
    case DType::kFloat16: return CUDNN_DATA_HALF;
    case DType::kBFloat16: return CUDNN_DATA_BFLOAT16;
    case DType::kFloat64: return CUDNN_DATA_DOUBLE;
    default: return CUDNN_DATA_FLOAT;
  }
}

cudnnMathType_t baseMathType(const ConvProblem& p) {
  switch (p.dtype) {
    case DType::kFloat32: return p.allowTf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    case DType::kFloat64: return CUDNN_DEFAULT_MATH;
    default: return CUDNN_TENSOR_OP_MATH;
  }
}

cudnnMathType_t execMathType(const ConvProblem& p, cudnnMathType_t listed) {
  // Without TF32, fp32 convolutions stay on FMA kernels whatever the heuristics report.
  if (p.dtype == DType::kFloat32 && !p.allowTf32) return CUDNN_FMA_MATH;
  if (p.dtype == DType::kFloat64) return CUDNN_DEFAULT_MATH;
  return listed;
}

Descriptors::~Descriptors() {
  if (in) cudnnDestroyTensorDescriptor(in);
  if (out) cudnnDestroyTensorDescriptor(out);
  if (bias) cudnnDestroyTensorDescriptor(bias);
  if (filter) cudnnDestroyFilterDescriptor(filter);
  if (conv) cudnnDestroyConvolutionDescriptor(conv);
  if (act) cudnnDestroyActivationDescriptor(act);
}

Status Descriptors::create() {
  if (!in) KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&in));
  if (!out) KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&out));
  if (!bias) KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&bias));
  if (!filter) KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&filter));
  if (!conv) KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&conv));
  if (!act) KILN_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&act));
  return Status::OK();
}

Status Descriptors::set(const ConvProblem& p, cudnnMathType_t math, int64_t biasChannels) {
  KILN_RETURN_IF_ERROR(create());
  const cudnnTensorFormat_t fmt = p.channelsLast ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  const cudnnDataType_t dt = cudnnTypeOf(p.dtype);
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetTensorNdDescriptorEx(in, fmt, dt, p.nbDims, p.fwdIn));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetTensorNdDescriptorEx(out, fmt, dt, p.nbDims, p.fwdOut));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetFilterNdDescriptor(filter, dt, fmt, p.nbDims, p.filter));
  const cudnnDataType_t compute = p.dtype == DType::kFloat64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionNdDescriptor(conv, p.nbDims - 2, p.pad, p.stride, p.dil,
                                                             CUDNN_CROSS_CORRELATION, compute));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionGroupCount(conv, p.group));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(conv, math));
  if (biasChannels > 0) {
    int bd[5] = {1, static_cast<int>(biasChannels), 1, 1, 1};
    KILN_CUDNN_RETURN_IF_ERROR(cudnnSetTensorNdDescriptorEx(bias, CUDNN_TENSOR_NCHW, dt, p.nbDims, bd));
  }
  return Status::OK();
}

std::mutex& cudnnPlanMutex() {
  static std::mutex m;
  return m;
}

Result<std::vector<AlgoChoice>> listAlgos(cudnnHandle_t h, ConvKind kind, const ConvProblem& p, Descriptors& d) {
  std::lock_guard<std::mutex> lock(cudnnPlanMutex());
  const cudnnMathType_t base = baseMathType(p);
  KILN_RETURN_IF_ERROR(d.set(p, base, 0));
  std::vector<AlgoChoice> out;
  // Non-deterministic algorithms (atomics; e.g. backward-data ALGO_0) are left out: an engine
  // must give the same bits on every run (CUDA-graph replays are compared in the tests).
  auto add = [&](int algo, cudnnStatus_t status, cudnnMathType_t listed, cudnnDeterminism_t det) -> Status {
    if (status != CUDNN_STATUS_SUCCESS || det != CUDNN_DETERMINISTIC) return Status::OK();
    for (const AlgoChoice& a : out)
      if (a.algo == algo) return Status::OK();
    const cudnnMathType_t math = execMathType(p, listed);
    KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(d.conv, math));
    size_t ws = 0;
    cudnnStatus_t st =
        kind == ConvKind::kForward
            ? cudnnGetConvolutionForwardWorkspaceSize(h, d.in, d.filter, d.conv, d.out,
                                                      static_cast<cudnnConvolutionFwdAlgo_t>(algo), &ws)
            : cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.filter, d.out, d.conv, d.in,
                                                           static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), &ws);
    if (st == CUDNN_STATUS_SUCCESS) out.push_back(AlgoChoice{algo, math, ws});
    return Status::OK();
  };
  if (kind == ConvKind::kForward) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    KILN_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardAlgorithm_v7(h, d.in, d.filter, d.conv, d.out,
                                                                      CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    for (int i = 0; i < n; ++i)
      KILN_RETURN_IF_ERROR(add(perf[i].algo, perf[i].status, perf[i].mathType, perf[i].determinism));
  } else {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    KILN_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        h, d.filter, d.out, d.conv, d.in, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
    for (int i = 0; i < n; ++i)
      KILN_RETURN_IF_ERROR(add(perf[i].algo, perf[i].status, perf[i].mathType, perf[i].determinism));
  }
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(d.conv, base));
  return out;
}

Result<AlgoChoice> forwardAlgo(cudnnHandle_t h, const ConvProblem& p, Descriptors& d, int algo) {
  // The heuristics' math type for this algorithm when they list it; the base type otherwise.
  KILN_ASSIGN_OR_RETURN(auto listed, listAlgos(h, ConvKind::kForward, p, d));
  for (const AlgoChoice& a : listed)
    if (a.algo == algo) return a;
  const cudnnMathType_t math = execMathType(p, baseMathType(p));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(d.conv, math));
  size_t ws = 0;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardWorkspaceSize(
      h, d.in, d.filter, d.conv, d.out, static_cast<cudnnConvolutionFwdAlgo_t>(algo), &ws));
  return AlgoChoice{algo, math, ws};
}

Result<QueryHandle> queryHandle() {
  static std::mutex mu;
  static std::map<int, cudnnHandle_t>* handles = new std::map<int, cudnnHandle_t>();  // never freed
  QueryHandle q;
  q.lock = std::unique_lock<std::mutex>(mu);
  int dev = 0;
  KILN_CUDA_RETURN_IF_ERROR(cudaGetDevice(&dev));
  auto it = handles->find(dev);
  if (it == handles->end()) {
    cudnnHandle_t h = nullptr;
    KILN_CUDNN_RETURN_IF_ERROR(cudnnCreate(&h));
    it = handles->emplace(dev, h).first;
  }
  q.handle = it->second;
  return q;
}

DeviceMem::~DeviceMem() {
  if (ptr) cudaFree(ptr);
}

Status DeviceMem::allocate(size_t bytes) {
  if (ptr) {
    cudaFree(ptr);
    ptr = nullptr;
  }
  if (bytes == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&ptr, bytes));
  return Status::OK();
}

Tensor filterToChannelsLastHost(const Tensor& w) {
  const int64_t k = w.dims()[0], c = w.dims()[1];
  const int64_t s = (k > 0 && c > 0) ? w.numel() / (k * c) : 0;
  Tensor out = Tensor::allocate(w.dtype(), Dims{k, s, c});
  const size_t es = dtypeSize(w.dtype());
  const char* src = static_cast<const char*>(w.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t ki = 0; ki < k; ++ki)
    for (int64_t si = 0; si < s; ++si)
      for (int64_t ci = 0; ci < c; ++ci)
        std::memcpy(dst + ((ki * s + si) * c + ci) * es, src + ((ki * c + ci) * s + si) * es, es);
  return out;
}

Dims logicalDims(const Dims& d, bool channelsLast) {
  return channelsLast && d.rank() >= 3 ? channelsFirstDims(d) : d;
}

bool paddingShapeIndependent(ConvKind kind, const AttrMap& attrs, const Dims& kernel) {
  const int n = kernel.rank();
  const std::string autoPad = attrs.getString("auto_pad", "NOTSET");
  auto ints = [&](const char* name, int count, int64_t dflt) {
    std::vector<int64_t> v = attrs.has(name) ? attrs.getInts(name) : std::vector<int64_t>();
    v.resize(count, dflt);
    return v;
  };
  const auto strides = ints("strides", n, 1), dils = ints("dilations", n, 1), pads = ints("pads", 2 * n, 0);
  if (kind == ConvKind::kForward) {
    for (int i = 0; i < n; ++i) {
      const int64_t ek = (kernel[i] - 1) * dils[i] + 1;
      if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
        if (strides[i] != 1 || ek % 2 == 0) return false;  // else the total padding ek-1 splits evenly
      } else if (autoPad != "VALID" && pads[i] != pads[i + n]) {
        return false;
      }
    }
    return true;
  }
  if (attrs.has("output_shape")) return false;  // paddings then depend on the input size
  const auto outPad = ints("output_padding", n, 0);
  auto floorDiv2 = [](int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); };
  for (int i = 0; i < n; ++i) {
    const int64_t s = strides[i], ek = (kernel[i] - 1) * dils[i] + 1;
    int64_t pb = 0, pe = 0;
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      const int64_t total = outPad[i] + ek - s;
      pb = autoPad == "SAME_UPPER" ? floorDiv2(total) : total - floorDiv2(total);
      pe = total - pb;
    } else if (autoPad != "VALID") {
      pb = pads[i];
      pe = pads[i + n];
    }
    const int64_t r = pb - pe + outPad[i];
    if (pb < 0 || r < 0 || r >= s) return false;
  }
  return true;
}

std::optional<Dims> staticDims(const Shape& s) {
  if (!s.rankKnown() || !s.isStatic()) return std::nullopt;
  return s.toDims();
}

}  // namespace kiln::cuda::dnn
