// cuDNN ConvTranspose: the data gradient of the forward convolution that maps Y to X
// (cudnnConvolutionBackwardData with W [C, M/group, k...] as the forward filter), then the bias
// through the dnn epilogue kernel. One tactic, cuda_dnn_conv_transpose, with one variant per
// algorithm of cudnnGetConvolutionBackwardDataAlgorithm_v7 (static shapes) or one variant picking
// the best algorithm within a workspace budget whenever the input dims change (dynamic shapes).
// NC... layout only (ONNX's), 1-D to 3-D, groups, dilations, output_padding, output_shape and
// auto_pad as the CPU kernel resolves them (cpu::makeGeom).
#include <cuda_runtime_api.h>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/dnn_conv.h"

namespace kiln::cuda::dnn {

namespace {

constexpr size_t kDynamicCudnnWorkspace = size_t{64} << 20;

struct TransposeConfig {
  DType dtype = DType::kFloat32;
  bool hasBias = false;
  bool allowTf32 = false;
  AttrMap attrs;
  Dims wDims;  // [C, M/group, k...]
  bool staticShapes = false;
  Dims xDims, yDims;
  ConvProblem prob;

  static Result<TransposeConfig> fromDesc(const LayerDesc& d) {
    TransposeConfig c;
    if (d.inputTypes.size() < 2 || d.inputTypes.size() > 3 || d.outputTypes.empty())
      return InvalidArgument("ConvTranspose: needs X, W, optional B and one output");
    c.dtype = d.inputTypes[0];
    if (c.dtype != DType::kFloat32 && c.dtype != DType::kFloat16 && c.dtype != DType::kBFloat16 &&
        c.dtype != DType::kFloat64)
      return unsupportedGpuType("ConvTranspose", c.dtype);
    for (DType t : d.inputTypes)
      if (t != DType::kUndefined && t != c.dtype) return InvalidArgument("ConvTranspose: inputs mix types");
    if (d.outputTypes[0] != c.dtype) return InvalidArgument("ConvTranspose: output type differs from the input's");
    c.hasBias = d.inputTypes.size() > 2 && d.inputTypes[2] != DType::kUndefined;
    c.attrs = *d.attrs;
    c.allowTf32 = d.allowTf32;
    const Shape& xs = d.inputShapes[0];
    auto wd = staticDims(d.inputShapes[1]);
    if (!xs.rankKnown() || xs.rank() < 3 || xs.rank() > 5)
      return Unsupported("ConvTranspose: cuDNN runs 1-D to 3-D convolutions (input shape {})", xs.toString());
    if (!wd || wd->rank() != xs.rank())
      return Unsupported("ConvTranspose: the weights' shape {} must be static, of the input's rank",
                         d.inputShapes[1].toString());
    c.wDims = *wd;
    const int64_t group = c.attrs.getInt("group", 1);
    if (group < 1 || c.wDims[0] % group != 0)
      return InvalidArgument("ConvTranspose: {} input channels are not divisible by group {}", c.wDims[0], group);
    auto xd = staticDims(xs);
    auto yd = d.outputShapes.empty() ? std::nullopt : staticDims(d.outputShapes[0]);
    c.staticShapes = xd && yd;
    if (c.staticShapes) {
      c.xDims = *xd;
      c.yDims = *yd;
      KILN_ASSIGN_OR_RETURN(c.prob, resolveProblem(ConvKind::kTranspose, c.attrs, c.dtype, false, c.xDims, c.wDims,
                                                   c.yDims, c.allowTf32, /*allowScratch=*/true));
    } else if (!paddingShapeIndependent(ConvKind::kTranspose, c.attrs, Dims(c.wDims.begin() + 2, c.wDims.end()))) {
      return Unsupported("ConvTranspose: these paddings/output_shape need static shapes on cuDNN");
    }
    return c;
  }

  Result<std::vector<AlgoChoice>> algorithms() const {
    if (!staticShapes) return std::vector<AlgoChoice>{};
    KILN_ASSIGN_OR_RETURN(QueryHandle q, queryHandle());
    Descriptors d;
    return listAlgos(q.handle, ConvKind::kTranspose, prob, d);
  }
};

struct TransposeState final : GpuKernelState {
  Descriptors d;
  bool configured = false;
  Dims key;
  ConvProblem prob;
  AlgoChoice algo;
  bool ran = false;  // these descriptors made their first cuDNN call
};

class TransposeKernel final : public GpuKernel {
 public:
  // ws: the algorithm's need (static layers) or the cuDNN budget (dynamic layers); the
  // post-crop scratch (static layers) follows it in the workspace.
  TransposeKernel(TransposeConfig cfg, AlgoChoice algo, size_t ws) : cfg_(std::move(cfg)), algo_(algo), ws_(ws) {
    tmpOffset_ = alignUp(ws_);
    total_ = cfg_.staticShapes && cfg_.prob.postCrop ? tmpOffset_ + cfg_.prob.scratchBytes() : ws_;
  }
  size_t workspaceBytes() const override { return total_; }

  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources&) const override {
    auto st = std::make_unique<TransposeState>();
    KILN_RETURN_IF_ERROR(st->d.create());
    if (cfg_.staticShapes) {
      KILN_RETURN_IF_ERROR(st->d.set(cfg_.prob, algo_.math, 0));
      st->prob = cfg_.prob;
      st->algo = algo_;
      st->configured = true;
    }
    return std::unique_ptr<GpuKernelState>(std::move(st));
  }

  Status enqueue(const GpuKernelContext& ctx) const override {
    auto* st = static_cast<TransposeState*>(ctx.state);
    if (!st) return InternalError("ConvTranspose: the cuDNN kernel runs without its state");
    if (!ctx.hasInput(0) || !ctx.hasInput(1) || !ctx.hasOutput(0))
      return InvalidArgument("ConvTranspose: X, W and Y are required");
    const Tensor &x = ctx.in(0), &w = ctx.in(1);
    const Tensor* b = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
    Tensor& y = ctx.out(0);
    if ((b != nullptr) != cfg_.hasBias)
      return InvalidArgument("ConvTranspose: the bias input differs from the layer the kernel was built for");
    for (const Tensor* t : {&x, &w, b, static_cast<const Tensor*>(&y)})
      if (t && t->dtype() != cfg_.dtype)
        return InvalidArgument("ConvTranspose: tensor {} is not {}", t->describe(), dtypeName(cfg_.dtype));
    if (x.rank() < 3 || x.rank() > 5 || y.rank() != x.rank() || w.dims() != cfg_.wDims)
      return InvalidArgument("ConvTranspose: input {}, weights {}, output {} do not match the layer (weights {})",
                             x.dims().toString(), w.dims().toString(), y.dims().toString(), cfg_.wDims.toString());
    const int64_t m = y.dims()[1];
    if (b && b->numel() != m) return InvalidArgument("ConvTranspose: bias has {} values; expected {}", b->numel(), m);
    if (y.numel() == 0) return Status::OK();
    if (x.numel() == 0)
      return Unsupported("ConvTranspose: empty input {} with a non-empty output", x.dims().toString());
    if (cfg_.staticShapes) {
      if (x.dims() != cfg_.xDims || y.dims() != cfg_.yDims)
        return InvalidArgument("ConvTranspose: run-time dims {} -> {} differ from the static dims {} -> {}",
                               x.dims().toString(), y.dims().toString(), cfg_.xDims.toString(), cfg_.yDims.toString());
    } else {
      Dims key = x.dims();
      for (int64_t v : y.dims()) key.push_back(v);
      if (!st->configured || key != st->key) {
        st->configured = false;
        KILN_ASSIGN_OR_RETURN(ConvProblem p, resolveProblem(ConvKind::kTranspose, cfg_.attrs, cfg_.dtype, false,
                                                            x.dims(), cfg_.wDims, y.dims(), cfg_.allowTf32, false));
        KILN_ASSIGN_OR_RETURN(auto algos, listAlgos(ctx.res.cudnn, ConvKind::kTranspose, p, st->d));
        const AlgoChoice* pick = nullptr;
        for (const AlgoChoice& a : algos)
          if (a.workspace <= ws_) {
            pick = &a;
            break;
          }
        if (!pick)
          return Unsupported("ConvTranspose: no cuDNN algorithm for {} -> {} fits the {}-byte workspace",
                             x.dims().toString(), y.dims().toString(), ws_);
        KILN_RETURN_IF_ERROR(st->d.set(p, pick->math, 0));
        st->prob = p;
        st->algo = *pick;
        st->key = key;
        st->configured = true;
        st->ran = false;
      }
    }
    const ConvProblem& p = st->prob;
    const size_t need = p.postCrop ? tmpOffset_ + p.scratchBytes() : st->algo.workspace;
    if (need > ctx.workspaceSize || (need && !ctx.workspace))
      return InternalError("ConvTranspose: needs {} bytes of workspace; the context has {}", need, ctx.workspaceSize);
    void* dx = p.postCrop ? static_cast<char*>(ctx.workspace) + tmpOffset_ : y.raw();
    const float f1 = 1.f, f0 = 0.f;
    const double d1 = 1.0, d0 = 0.0;
    const bool dbl = cfg_.dtype == DType::kFloat64;
    const void* one = dbl ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1);
    const void* zero = dbl ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0);
    // Forward terms: dy = the layer's X (descriptor `out`), dx = the layer's Y (descriptor `in`).
    // Fresh descriptors resolve cuDNN's plan on their first call: under cudnnPlanMutex().
    std::unique_lock<std::mutex> planLock(cudnnPlanMutex(), std::defer_lock);
    if (!st->ran) planLock.lock();
    st->ran = true;
    KILN_CUDNN_RETURN_IF_ERROR(cudnnConvolutionBackwardData(
        ctx.res.cudnn, one, st->d.filter, w.raw(), st->d.out, x.raw(), st->d.conv,
        static_cast<cudnnConvolutionBwdDataAlgo_t>(st->algo.algo), st->algo.workspace ? ctx.workspace : nullptr,
        st->algo.workspace, zero, st->d.in, dx));
    if (p.postCrop) {
      // Y = dx' shifted/cropped per spatial dim, zeros where dx' has no position.
      PadArgs pa;
      pa.x = dx;
      pa.y = y.raw();
      pa.rank = y.rank();
      for (int i = 0; i < y.rank(); ++i) pa.dims[i] = p.tmpDims[i];
      for (int i = 0; i < p.layerSpatial; ++i) {
        pa.padBegin[i] = p.cropBegin[i];
        pa.padEnd[i] = p.cropEnd[i];
      }
      pa.elemSize = static_cast<int>(dtypeSize(cfg_.dtype));
      pa.smCount = ctx.res.smCount;
      KILN_CUDA_RETURN_IF_ERROR(launchZeroPad(pa, ctx.stream));
    }
    if (!b) return Status::OK();
    EpilogueArgs ea;
    ea.dtype = cfg_.dtype;
    ea.y = y.raw();
    ea.bias = b->raw();
    ea.numel = y.numel();
    ea.channels = m;
    ea.inner = y.numel() / (y.dims()[0] * m);
    ea.smCount = ctx.res.smCount;
    KILN_CUDA_RETURN_IF_ERROR(launchEpilogue(ea, ctx.stream));
    return Status::OK();
  }

 private:
  TransposeConfig cfg_;
  AlgoChoice algo_;
  size_t ws_ = 0, tmpOffset_ = 0, total_ = 0;
};

}  // namespace

bool supportsTranspose(const LayerDesc& d) { return TransposeConfig::fromDesc(d).ok(); }

int transposeVariants(const LayerDesc& d) {
  auto cfg = TransposeConfig::fromDesc(d);
  if (!cfg.ok() || !cfg->staticShapes) return 1;
  auto algos = cfg->algorithms();
  if (!algos.ok()) return 1;  // create() reports the error
  return static_cast<int>(algos->size());
}

Result<std::unique_ptr<GpuKernel>> createTranspose(const LayerDesc& d, int variant, size_t workspaceLimit) {
  KILN_ASSIGN_OR_RETURN(TransposeConfig cfg, TransposeConfig::fromDesc(d));
  if (!cfg.staticShapes) {
    if (variant != 0) return InvalidArgument("ConvTranspose with dynamic shapes has one variant (got {})", variant);
    const size_t budget = std::min(kDynamicCudnnWorkspace, workspaceLimit);
    return std::unique_ptr<GpuKernel>(std::make_unique<TransposeKernel>(std::move(cfg), AlgoChoice{}, budget));
  }
  KILN_ASSIGN_OR_RETURN(auto algos, cfg.algorithms());
  if (variant < 0 || variant >= static_cast<int>(algos.size()))
    return InvalidArgument("ConvTranspose variant {} does not exist ({} algorithms for this layer)", variant,
                           algos.size());
  const AlgoChoice a = algos[variant];
  return std::unique_ptr<GpuKernel>(std::make_unique<TransposeKernel>(std::move(cfg), a, a.workspace));
}

}  // namespace kiln::cuda::dnn
