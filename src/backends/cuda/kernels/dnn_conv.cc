// cuDNN forward convolutions: Conv and kiln:FusedConv (Y = act(Conv(X, W) + B + Z), NC... or
// channels-last). Two tactics per op, each with one variant per algorithm of cuDNN's heuristics
// (cudnnGetConvolutionForwardAlgorithm_v7, best first; the builder times them):
//  - cuda_dnn_(fused_)conv: cudnnConvolutionForward, then our one-pass epilogue kernel for bias,
//    residual and any activation;
//  - cuda_dnn_(fused_)conv_bias_act: cudnnConvolutionBiasActivationForward (bias + residual via
//    alpha2/z + ReLU or identity in cuDNN); identity requires IMPLICIT_PRECOMP_GEMM, so that
//    variant list has this one algorithm.
// Static shapes: descriptors, algorithm and workspace are fixed when the kernel is created.
// Dynamic shapes (symbolic dims in the engine): one variant; the state re-describes the problem
// when the input dims change and picks the heuristics' best algorithm fitting a fixed workspace
// budget (host-only queries: nothing is allocated or synchronized).
// Channels-last layers run cuDNN's NHWC kernels with the filter relaid out to KRSC: constant
// weights once in createState, others into the workspace at each run.
#include "backends/cuda/kernels/dnn_conv.h"

#include <cuda_runtime_api.h>

#include "backends/cuda/cuda_check.h"
#include "core/activation.h"

namespace kiln::cuda::dnn {

namespace {

constexpr size_t kDynamicCudnnWorkspace = size_t{64} << 20;

// The descriptors and algorithm for one set of dims.
struct ShapeEntry {
  Dims key;  // logical x dims + y dims the descriptors describe (dynamic layers)
  Descriptors d;
  ConvProblem prob;
  AlgoChoice algo;
  bool ran = false;  // the first call resolves cuDNN's plan: under cudnnPlanMutex()
};

// Dynamic layers keep one entry per dims seen (up to kMaxShapes): a server batching requests
// switches batch sizes on nearly every run, and describing the problem again with cuDNN's
// heuristics each time cost milliseconds per layer (ResNet-50: ~150 ms a run).
constexpr size_t kMaxShapes = 64;

struct ConvState final : GpuKernelState {
  std::vector<std::unique_ptr<ShapeEntry>> shapes;  // static layers: exactly one
  ShapeEntry* cur = nullptr;
  DeviceMem packedW;  // constant weights relaid out for channels-last
  DeviceMem zeroBias; // the fused cuDNN call needs a bias: zeros when the layer has none
};

Result<std::unique_ptr<ShapeEntry>> newShapeEntry(const FwdConfig& cfg) {
  auto e = std::make_unique<ShapeEntry>();
  KILN_RETURN_IF_ERROR(e->d.create());
  if (cfg.biasAct)
    KILN_CUDNN_RETURN_IF_ERROR(cudnnSetActivationDescriptor(
        e->d.act, cfg.act == EpAct::kRelu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
        CUDNN_NOT_PROPAGATE_NAN, 0.0));
  return e;
}

}  // namespace

Result<FwdConfig> FwdConfig::fromDesc(const LayerDesc& d, bool fused, bool biasAct) {
  FwdConfig c;
  c.fused = fused;
  c.biasAct = biasAct;
  const char* op = fused ? "FusedConv" : "Conv";
  if (d.inputTypes.size() < 2 || d.outputTypes.empty())
    return InvalidArgument("{}: needs X and W inputs and one output", op);
  c.dtype = d.inputTypes[0];
  if (c.dtype != DType::kFloat32 && c.dtype != DType::kFloat16 && c.dtype != DType::kBFloat16 &&
      c.dtype != DType::kFloat64)
    return unsupportedGpuType(op, c.dtype);
  if (biasAct && c.dtype != DType::kFloat32 && c.dtype != DType::kFloat16)
    return Unsupported("{}: the fused cuDNN bias/activation tactic runs float32 and float16 only", op);
  for (DType t : d.inputTypes)
    if (t != DType::kUndefined && t != c.dtype)
      return InvalidArgument("{}: inputs mix {} and {}", op, dtypeName(c.dtype), dtypeName(t));
  if (d.outputTypes[0] != c.dtype) return InvalidArgument("{}: output type differs from the input's", op);
  c.hasBias = d.inputTypes.size() > 2 && d.inputTypes[2] != DType::kUndefined;
  c.hasResidual = fused && d.inputTypes.size() > 3 && d.inputTypes[3] != DType::kUndefined;
  if (d.inputTypes.size() > (fused ? 4u : 3u)) return InvalidArgument("{}: too many inputs", op);
  const AttrMap& a = *d.attrs;
  c.attrs = a;
  c.group = a.getInt("group", 1);
  c.allowTf32 = d.allowTf32;
  if (fused) {
    Activation act = Activation::kNone;
    if (!parseActivation(a.getString("activation", ""), &act))
      return InvalidArgument("FusedConv: unknown activation '{}'", a.getString("activation", ""));
    c.act = static_cast<EpAct>(static_cast<int>(act));
    c.alpha = a.getFloat("activation_alpha", 0.f);
    c.beta = a.getFloat("activation_beta", 0.f);
    c.channelsLast = a.getInt("channels_last", 0) != 0;
  }
  if (biasAct) {
    if (c.act != EpAct::kNone && c.act != EpAct::kRelu)
      return Unsupported("{}: cuDNN's fused call applies ReLU or nothing; the activation is {}", op,
                         activationName(static_cast<Activation>(static_cast<int>(c.act))));
    if (!c.hasBias && !c.hasResidual && c.act == EpAct::kNone)
      return Unsupported("{}: nothing to fuse (no bias, residual or activation)", op);
  }
  // Shapes: W fully static (its dims are the kernel); X rank 3..5.
  const Shape& xs = d.inputShapes[0];
  const Shape& ws = d.inputShapes[1];
  auto wd = staticDims(ws);
  if (!xs.rankKnown() || xs.rank() < 3 || xs.rank() > 5)
    return Unsupported("{}: cuDNN runs 1-D to 3-D convolutions (input shape {})", op, xs.toString());
  if (!wd || wd->rank() != xs.rank())
    return Unsupported("{}: the weights' shape {} must be static, of the input's rank", op, ws.toString());
  c.wDims = *wd;
  if (c.group < 1 || c.wDims[0] % c.group != 0)
    return InvalidArgument("{}: {} output channels are not divisible by group {}", op, c.wDims[0], c.group);
  if (c.hasBias && d.inputShapes[2].isStatic() && d.inputShapes[2].numelDim().isStatic() &&
      d.inputShapes[2].numel().value_or(-1) != c.wDims[0])
    return InvalidArgument("{}: bias shape {} for {} output channels", op, d.inputShapes[2].toString(), c.wDims[0]);
  if (d.constInputs.size() > 1 && d.constInputs[1]) c.constW = *d.constInputs[1];
  auto xd = staticDims(xs);
  auto yd = d.outputShapes.empty() ? std::nullopt : staticDims(d.outputShapes[0]);
  c.staticShapes = xd && yd;
  if (c.staticShapes) {
    c.xDims = logicalDims(*xd, c.channelsLast);
    c.yDims = logicalDims(*yd, c.channelsLast);
    KILN_ASSIGN_OR_RETURN(c.prob, resolveProblem(ConvKind::kForward, a, c.dtype, c.channelsLast, c.xDims, c.wDims,
                                                 c.yDims, c.allowTf32, /*allowScratch=*/true));
  } else {
    if (!paddingShapeIndependent(ConvKind::kForward, a, Dims(c.wDims.begin() + 2, c.wDims.end())))
      return Unsupported("{}: asymmetric paddings (or SAME padding with strides/even kernels) need static input "
                         "shapes on cuDNN",
                         op);
  }
  return c;
}

size_t FwdConfig::packedWBytes() const {
  // Channels-last layers with non-constant weights relay them into the workspace at each run.
  return channelsLast && !constW.defined() ? alignUp(static_cast<size_t>(wDims.numel()) * dtypeSize(dtype)) : 0;
}

Result<std::vector<AlgoChoice>> FwdConfig::algorithms() const {
  if (!staticShapes) return std::vector<AlgoChoice>{};
  KILN_ASSIGN_OR_RETURN(QueryHandle q, queryHandle());
  Descriptors d;
  if (biasAct && act == EpAct::kNone) {
    KILN_ASSIGN_OR_RETURN(AlgoChoice a, forwardAlgo(q.handle, prob, d, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM));
    return std::vector<AlgoChoice>{a};
  }
  return listAlgos(q.handle, ConvKind::kForward, prob, d);
}

ConvKernel::ConvKernel(FwdConfig cfg, AlgoChoice algo, size_t cudnnWorkspace)
    : cfg_(std::move(cfg)), algo_(algo), cudnnWs_(cudnnWorkspace) {
  prePadOffset_ = alignUp(cudnnWs_);
  packedWOffset_ = prePadOffset_ + (cfg_.staticShapes ? alignUp(cfg_.prob.scratchBytes()) : 0);
  workspace_ = packedWOffset_ + cfg_.packedWBytes();
}

Result<std::unique_ptr<GpuKernelState>> ConvKernel::createState(const GpuResources& res) const {
  auto st = std::make_unique<ConvState>();
  const int64_t m = cfg_.wDims[0];
  if (cfg_.staticShapes) {
    KILN_ASSIGN_OR_RETURN(auto e, newShapeEntry(cfg_));
    KILN_RETURN_IF_ERROR(e->d.set(cfg_.prob, algo_.math, cfg_.biasAct ? m : 0));
    e->prob = cfg_.prob;
    e->algo = algo_;
    st->cur = e.get();
    st->shapes.push_back(std::move(e));
  }
  if (cfg_.biasAct) {
    if (!cfg_.hasBias) {
      const size_t bytes = static_cast<size_t>(m) * dtypeSize(cfg_.dtype);
      KILN_RETURN_IF_ERROR(st->zeroBias.allocate(bytes));
      KILN_CUDA_RETURN_IF_ERROR(cudaMemset(st->zeroBias.ptr, 0, bytes));
    }
  }
  if (cfg_.channelsLast && cfg_.constW.defined()) {
    if (cfg_.constW.dims() != cfg_.wDims || cfg_.constW.dtype() != cfg_.dtype)
      return InternalError("FusedConv: constant weights {} do not match the layer", cfg_.constW.describe());
    Tensor packed = filterToChannelsLastHost(cfg_.constW);
    KILN_RETURN_IF_ERROR(st->packedW.allocate(packed.nbytes()));
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(st->packedW.ptr, packed.raw(), packed.nbytes(), cudaMemcpyHostToDevice));
  }
  (void)res;
  return std::unique_ptr<GpuKernelState>(std::move(st));
}

Status ConvKernel::enqueue(const GpuKernelContext& ctx) const {
  const char* op = cfg_.fused ? "FusedConv" : "Conv";
  auto* st = static_cast<ConvState*>(ctx.state);
  if (!st) return InternalError("{}: the cuDNN kernel runs without its state", op);
  if (ctx.numInputs() < 2 || !ctx.hasInput(0) || !ctx.hasInput(1) || !ctx.hasOutput(0))
    return InvalidArgument("{}: X, W and Y are required", op);
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  const Tensor* b = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  const Tensor* z = cfg_.fused && ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  Tensor& y = ctx.out(0);
  if ((b != nullptr) != cfg_.hasBias || (z != nullptr) != cfg_.hasResidual)
    return InvalidArgument("{}: the bias/residual inputs differ from the layer the kernel was built for", op);
  for (const Tensor* t : {&x, &w, b, z, static_cast<const Tensor*>(&y)})
    if (t && t->dtype() != cfg_.dtype) return InvalidArgument("{}: tensor {} is not {}", op, t->describe(), dtypeName(cfg_.dtype));
  if (x.rank() < 3 || x.rank() > 5 || y.rank() != x.rank() || w.dims() != cfg_.wDims)
    return InvalidArgument("{}: input {}, weights {}, output {} do not match the layer (weights {})", op,
                           x.dims().toString(), w.dims().toString(), y.dims().toString(), cfg_.wDims.toString());
  if (z && z->dims() != y.dims())
    return InvalidArgument("{}: residual {} does not match the output {}", op, z->dims().toString(), y.dims().toString());
  const int64_t m = cfg_.wDims[0];
  if (b && b->numel() != m) return InvalidArgument("{}: bias has {} values; expected {}", op, b->numel(), m);
  if (y.numel() == 0) return Status::OK();
  if (x.numel() == 0) return Unsupported("{}: empty input {} with a non-empty output", op, x.dims().toString());
  const Dims xd = logicalDims(x.dims(), cfg_.channelsLast), yd = logicalDims(y.dims(), cfg_.channelsLast);

  if (cfg_.staticShapes) {
    if (xd != cfg_.xDims || yd != cfg_.yDims)
      return InvalidArgument("{}: run-time dims {} -> {} differ from the static dims {} -> {} of the layer", op,
                             xd.toString(), yd.toString(), cfg_.xDims.toString(), cfg_.yDims.toString());
  } else {
    Dims key = xd;
    for (int64_t v : yd) key.push_back(v);
    if (!st->cur || st->cur->key != key) {
      st->cur = nullptr;
      for (auto& e : st->shapes)
        if (e->key == key) st->cur = e.get();
    }
    if (!st->cur) {
      KILN_ASSIGN_OR_RETURN(auto e, newShapeEntry(cfg_));
      KILN_ASSIGN_OR_RETURN(ConvProblem p, resolveProblem(ConvKind::kForward, cfg_.attrs, cfg_.dtype, cfg_.channelsLast,
                                                          xd, cfg_.wDims, yd, cfg_.allowTf32, /*allowScratch=*/false));
      std::vector<AlgoChoice> algos;
      if (cfg_.biasAct && cfg_.act == EpAct::kNone) {
        KILN_ASSIGN_OR_RETURN(AlgoChoice a,
                              forwardAlgo(ctx.res.cudnn, p, e->d, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM));
        algos.push_back(a);
      } else {
        KILN_ASSIGN_OR_RETURN(algos, listAlgos(ctx.res.cudnn, ConvKind::kForward, p, e->d));
      }
      const AlgoChoice* pick = nullptr;
      for (const AlgoChoice& a : algos)
        if (a.workspace <= cudnnWs_) {
          pick = &a;
          break;
        }
      if (!pick)
        return Unsupported("{}: no cuDNN algorithm for {} -> {} fits the {}-byte workspace", op, xd.toString(),
                           yd.toString(), cudnnWs_);
      KILN_RETURN_IF_ERROR(e->d.set(p, pick->math, cfg_.biasAct ? m : 0));
      e->prob = p;
      e->algo = *pick;
      e->key = key;
      if (st->shapes.size() >= kMaxShapes) st->shapes.erase(st->shapes.begin());  // the oldest
      st->cur = e.get();
      st->shapes.push_back(std::move(e));
    }
  }
  ShapeEntry& cur = *st->cur;
  if (workspace_ > ctx.workspaceSize || (workspace_ && !ctx.workspace))
    return InternalError("{}: needs {} bytes of workspace; the context has {}", op, workspace_, ctx.workspaceSize);
  char* ws = static_cast<char*>(ctx.workspace);

  // Filter in the layout of the descriptors.
  const void* wPtr = w.raw();
  if (cfg_.channelsLast) {
    if (st->packedW.ptr) {
      wPtr = st->packedW.ptr;
    } else {
      void* dst = ws + packedWOffset_;
      const int64_t spatial = cfg_.wDims.numel() / (cfg_.wDims[0] * cfg_.wDims[1]);
      KILN_CUDA_RETURN_IF_ERROR(launchFilterToChannelsLast(w.raw(), dst, cfg_.wDims[0], cfg_.wDims[1], spatial,
                                                           static_cast<int>(dtypeSize(cfg_.dtype)), ctx.stream));
      wPtr = dst;
    }
  }
  // Input, zero-padded first when the paddings have no symmetric cuDNN equivalent.
  const void* xPtr = x.raw();
  const ConvProblem& p = cur.prob;
  if (p.prePad) {
    PadArgs pa;
    pa.x = x.raw();
    pa.y = ws + prePadOffset_;
    pa.rank = xd.rank();
    for (int i = 0; i < xd.rank(); ++i) pa.dims[i] = xd[i];
    for (int i = 0; i < p.layerSpatial; ++i) {
      pa.padBegin[i] = p.padBegin[i];
      pa.padEnd[i] = p.padEnd[i];
    }
    pa.channelsLast = cfg_.channelsLast;
    pa.elemSize = static_cast<int>(dtypeSize(cfg_.dtype));
    pa.smCount = ctx.res.smCount;
    KILN_CUDA_RETURN_IF_ERROR(launchZeroPad(pa, ctx.stream));
    xPtr = pa.y;
  }

  const float f1 = 1.f, f0 = 0.f;
  const double d1 = 1.0, d0 = 0.0;
  const bool dbl = cfg_.dtype == DType::kFloat64;
  const void* one = dbl ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1);
  const void* zero = dbl ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0);
  void* cudnnWs = cur.algo.workspace ? ws : nullptr;
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(cur.algo.algo);
  std::unique_lock<std::mutex> planLock(cudnnPlanMutex(), std::defer_lock);
  if (!cur.ran) planLock.lock();
  cur.ran = true;
  if (cfg_.biasAct) {
    // y = act(conv(x) + alpha2 * z + bias); without a residual z is y itself with alpha2 = 0.
    const void* zPtr = z ? z->raw() : y.raw();
    const void* bPtr = b ? b->raw() : st->zeroBias.ptr;
    KILN_CUDNN_RETURN_IF_ERROR(cudnnConvolutionBiasActivationForward(
        ctx.res.cudnn, one, cur.d.in, xPtr, cur.d.filter, wPtr, cur.d.conv, algo, cudnnWs, cur.algo.workspace,
        z ? one : zero, cur.d.out, zPtr, cur.d.bias, bPtr, cur.d.act, cur.d.out, y.raw()));
    return Status::OK();
  }
  KILN_CUDNN_RETURN_IF_ERROR(cudnnConvolutionForward(ctx.res.cudnn, one, cur.d.in, xPtr, cur.d.filter, wPtr,
                                                     cur.d.conv, algo, cudnnWs, cur.algo.workspace, zero, cur.d.out,
                                                     y.raw()));
  if (planLock.owns_lock()) planLock.unlock();
  if (!b && !z && cfg_.act == EpAct::kNone) return Status::OK();
  EpilogueArgs ea;
  ea.dtype = cfg_.dtype;
  ea.y = y.raw();
  ea.bias = b ? b->raw() : nullptr;
  ea.residual = z ? z->raw() : nullptr;
  ea.numel = y.numel();
  ea.channels = m;
  ea.inner = cfg_.channelsLast ? 1 : y.numel() / (yd[0] * m);
  ea.act = cfg_.act;
  ea.alpha = cfg_.alpha;
  ea.beta = cfg_.beta;
  ea.smCount = ctx.res.smCount;
  KILN_CUDA_RETURN_IF_ERROR(launchEpilogue(ea, ctx.stream));
  return Status::OK();
}

// ---- registration helpers ----------------------------------------------------------------------

bool supportsForward(const LayerDesc& d, bool fused, bool biasAct) { return FwdConfig::fromDesc(d, fused, biasAct).ok(); }

int forwardVariants(const LayerDesc& d, bool fused, bool biasAct) {
  auto cfg = FwdConfig::fromDesc(d, fused, biasAct);
  if (!cfg.ok() || !cfg->staticShapes) return 1;
  auto algos = cfg->algorithms();
  // On a query failure one variant remains, and create() reports the error.
  if (!algos.ok()) return 1;
  return static_cast<int>(algos->size());
}

Result<std::unique_ptr<GpuKernel>> createForward(const LayerDesc& d, bool fused, bool biasAct, int variant,
                                                 size_t workspaceLimit) {
  KILN_ASSIGN_OR_RETURN(FwdConfig cfg, FwdConfig::fromDesc(d, fused, biasAct));
  if (!cfg.staticShapes) {
    if (variant != 0) return InvalidArgument("cuDNN convolution with dynamic shapes has one variant (got {})", variant);
    const size_t extra = cfg.packedWBytes();
    const size_t budget = workspaceLimit > extra ? std::min(kDynamicCudnnWorkspace, workspaceLimit - extra) : 0;
    return std::unique_ptr<GpuKernel>(std::make_unique<ConvKernel>(std::move(cfg), AlgoChoice{}, budget));
  }
  KILN_ASSIGN_OR_RETURN(auto algos, cfg.algorithms());
  if (variant < 0 || variant >= static_cast<int>(algos.size()))
    return InvalidArgument("cuDNN convolution variant {} does not exist ({} algorithms for this layer)", variant,
                           algos.size());
  const AlgoChoice a = algos[variant];
  return std::unique_ptr<GpuKernel>(std::make_unique<ConvKernel>(std::move(cfg), a, a.workspace));
}

}  // namespace kiln::cuda::dnn
