// The GEMM convolution tactic (see dnn_conv_gemm.h).
//
// Row-major trick as in blas_matmul.cc: the row-major [rows, cols] matrices are column-major
// [cols, rows] ones. Y^T [K, M] = Wp [K, Kp] x col^T [Kp, M]: cuBLASLt's A is the packed filter
// (stored column-major Kp x K, op T), its B the column matrix (Kp x M, op N), D = Y (K x M, ld K),
// C = the residual in Y's layout. The bias epilogue adds a vector over D's rows: the K channels.
#include "backends/cuda/kernels/dnn_conv_gemm.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstring>
#include <mutex>

#include "backends/cpu/kernels/conv_pool_geom.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/dnn_conv_util.h"
#include "core/activation.h"

namespace kiln::cuda::dnn {

namespace {

constexpr int kHeuristicRequests = 8;
constexpr size_t kLtWorkspaceCap = size_t{32} << 20;
// The im2col matrix may take at most this much workspace; larger layers (big batches at high
// resolution) are left to cuDNN, which needs no such copy.
constexpr size_t kColLimit = size_t{64} << 20;

struct GemmConfig {
  DType dtype = DType::kFloat32;
  bool tf32 = false;
  bool hasBias = false, hasResidual = false;
  EpAct act = EpAct::kNone;
  float alpha = 0.f, beta = 0.f;
  Dims wDims;    // [K, C, R, S]
  Tensor constW;
  cpu::SpatialGeom g;  // logical geometry (batch, channels, spatial dims, strides, pads...)
  int64_t M = 0, K = 0, Kd = 0, Kp = 0;  // pixels, out channels, R*S*C, padded row length
  bool direct = false;                   // 1x1, stride 1, no padding: X is the column matrix
  size_t es = 4;

  size_t colBytes() const { return direct ? 0 : alignUp(static_cast<size_t>(M * Kp) * es); }
  // cuBLASLt's epilogue: bias and ReLU fuse; other activations run in our epilogue kernel after.
  int ltEpilogue() const {
    if (act == EpAct::kRelu) return hasBias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    return hasBias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  }
  bool postActivation() const { return act != EpAct::kNone && act != EpAct::kRelu; }

  static Result<GemmConfig> fromDesc(const LayerDesc& d);
};

Result<GemmConfig> GemmConfig::fromDesc(const LayerDesc& d) {
  GemmConfig c;
  if (d.inputTypes.size() < 2 || d.outputTypes.size() != 1) return InvalidArgument("FusedConv: needs X, W and Y");
  c.dtype = d.inputTypes[0];
  if (c.dtype != DType::kFloat32 && c.dtype != DType::kFloat16 && c.dtype != DType::kBFloat16)
    return Unsupported("FusedConv GEMM: float32/float16/bfloat16 only, not {}", dtypeName(c.dtype));
  for (DType t : d.inputTypes)
    if (t != DType::kUndefined && t != c.dtype) return InvalidArgument("FusedConv: inputs of mixed types");
  if (d.outputTypes[0] != c.dtype) return InvalidArgument("FusedConv: output type differs from the input's");
  if (d.inputTypes.size() > 4) return InvalidArgument("FusedConv: too many inputs");
  c.es = dtypeSize(c.dtype);
  c.tf32 = d.allowTf32;
  c.hasBias = d.inputTypes.size() > 2 && d.inputTypes[2] != DType::kUndefined;
  c.hasResidual = d.inputTypes.size() > 3 && d.inputTypes[3] != DType::kUndefined;
  const AttrMap& a = *d.attrs;
  if (a.getInt("channels_last", 0) == 0) return Unsupported("FusedConv GEMM: channels-last layers only");
  if (a.getInt("group", 1) != 1) return Unsupported("FusedConv GEMM: group 1 only");
  Activation act = Activation::kNone;
  if (!parseActivation(a.getString("activation", ""), &act))
    return InvalidArgument("FusedConv: unknown activation '{}'", a.getString("activation", ""));
  c.act = static_cast<EpAct>(static_cast<int>(act));
  c.alpha = a.getFloat("activation_alpha", 0.f);
  c.beta = a.getFloat("activation_beta", 0.f);
  if (d.constInputs.size() < 2 || !d.constInputs[1] || !d.constInputs[1]->defined())
    return Unsupported("FusedConv GEMM: constant weights only");
  c.constW = *d.constInputs[1];
  auto xd = staticDims(d.inputShapes[0]);
  auto yd = d.outputShapes.empty() ? std::nullopt : staticDims(d.outputShapes[0]);
  if (!xd || !yd) return Unsupported("FusedConv GEMM: static shapes only");
  if (xd->rank() != 4) return Unsupported("FusedConv GEMM: 2-D convolutions only");
  c.wDims = c.constW.dims();
  if (c.wDims.rank() != 4 || c.constW.dtype() != c.dtype)
    return InvalidArgument("FusedConv: weights {} do not fit the layer", c.constW.describe());
  const Dims x = logicalDims(*xd, true), y = logicalDims(*yd, true);
  if (x[1] != c.wDims[1] || y[1] != c.wDims[0] || y[0] != x[0])
    return InvalidArgument("FusedConv: input {} and output {} do not match weights {}", x.toString(), y.toString(),
                           c.wDims.toString());
  KILN_RETURN_IF_ERROR(cpu::makeGeom(a, x, Dims{c.wDims[2], c.wDims[3]}, y, cpu::PadMode::kConv, &c.g));
  c.M = y[0] * y[2] * y[3];
  c.K = c.wDims[0];
  c.Kd = c.wDims[1] * c.wDims[2] * c.wDims[3];
  const int64_t vec = 16 / static_cast<int64_t>(c.es);
  c.direct = c.wDims[2] == 1 && c.wDims[3] == 1 && c.g.strides[0] == 1 && c.g.strides[1] == 1 &&
             c.g.padBegin[0] == 0 && c.g.padBegin[1] == 0 && y[2] == x[2] && y[3] == x[3];
  c.Kp = c.direct ? c.Kd : (c.Kd + vec - 1) / vec * vec;
  if (c.M <= 0 || c.K <= 0 || c.Kd <= 0) return Unsupported("FusedConv GEMM: empty problem");
  if (c.colBytes() > kColLimit)
    return Unsupported("FusedConv GEMM: the im2col matrix would take {} bytes (limit {})", c.colBytes(), kColLimit);
  return c;
}

bool ltTypes(DType t, bool tf32, cudaDataType_t* data, cublasComputeType_t* compute) {
  switch (t) {
    case DType::kFloat32: *data = CUDA_R_32F, *compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F; return true;
    case DType::kFloat16: *data = CUDA_R_16F, *compute = CUBLAS_COMPUTE_32F; return true;
    case DType::kBFloat16: *data = CUDA_R_16BF, *compute = CUBLAS_COMPUTE_32F; return true;
    default: return false;
  }
}

// The cuBLASLt descriptors of one layer (owned).
struct LtDescs {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  LtDescs() = default;
  LtDescs(const LtDescs&) = delete;
  LtDescs& operator=(const LtDescs&) = delete;
  ~LtDescs() {
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
  Status build(const GemmConfig& c) {
    cudaDataType_t data;
    cublasComputeType_t compute;
    if (!ltTypes(c.dtype, c.tf32, &data, &compute)) return InternalError("FusedConv GEMM: no cuBLASLt type");
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F));
    const cublasOperation_t opA = CUBLAS_OP_T, opB = CUBLAS_OP_N;
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)));
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)));
    const cublasLtEpilogue_t epi = static_cast<cublasLtEpilogue_t>(c.ltEpilogue());
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    const uint64_t kp = static_cast<uint64_t>(c.Kp), k = static_cast<uint64_t>(c.K), m = static_cast<uint64_t>(c.M);
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&la, data, kp, k, static_cast<int64_t>(kp)));
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&lb, data, kp, m, static_cast<int64_t>(kp)));
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&ld, data, k, m, static_cast<int64_t>(k)));
    return Status::OK();
  }
};

// A process-wide handle for the build-time heuristic queries (no context exists yet).
Result<cublasLtHandle_t> queryLt(std::unique_lock<std::mutex>* lock) {
  static std::mutex mu;
  static cublasLtHandle_t h = [] {
    cublasLtHandle_t x = nullptr;
    if (cublasLtCreate(&x) != CUBLAS_STATUS_SUCCESS) x = nullptr;
    return x;
  }();
  *lock = std::unique_lock<std::mutex>(mu);
  if (!h) return Unavailable("cuBLASLt could not be initialized");
  return h;
}

// cuBLASLt's candidates for the layer, best first (16-byte aligned operands). The workspace cap is
// a constant, not the caller's limit: a variant is an index into this list, and the engine loads
// with a smaller limit (the workspace its layers use) than the builder's, which listed fewer
// algorithms and shifted (or ran out of) indices.
Result<std::vector<cublasLtMatmulHeuristicResult_t>> heuristics(const GemmConfig& c) {
  std::unique_lock<std::mutex> lock;
  KILN_ASSIGN_OR_RETURN(cublasLtHandle_t h, queryLt(&lock));
  LtDescs d;
  KILN_RETURN_IF_ERROR(d.build(c));
  cublasLtMatmulPreference_t pref = nullptr;
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
  std::unique_ptr<void, void (*)(void*)> guard(pref, [](void* p) {
    cublasLtMatmulPreferenceDestroy(static_cast<cublasLtMatmulPreference_t>(p));
  });
  const uint64_t ws = kLtWorkspaceCap;
  KILN_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const uint32_t align = 16;
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof(align)));
  cublasLtMatmulHeuristicResult_t res[kHeuristicRequests];
  std::memset(res, 0, sizeof(res));
  int n = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(h, d.desc, d.la, d.lb, d.ld, d.ld, pref, kHeuristicRequests, res, &n);
  std::vector<cublasLtMatmulHeuristicResult_t> out;
  if (st == CUBLAS_STATUS_NOT_SUPPORTED) return out;
  KILN_CUBLAS_RETURN_IF_ERROR(st);
  for (int i = 0; i < n; ++i)
    if (res[i].state == CUBLAS_STATUS_SUCCESS) out.push_back(res[i]);
  return out;
}

struct GemmState final : GpuKernelState {
  cublasLtHandle_t handle = nullptr;
  LtDescs lt;
  DeviceMem packedW;  // [K, Kp]: KRSC rows, zero-padded to Kp
};

class ConvGemmKernel final : public GpuKernel {
 public:
  ConvGemmKernel(GemmConfig cfg, cublasLtMatmulAlgo_t algo, size_t ltWs)
      : cfg_(std::move(cfg)), algo_(algo), ltWs_(ltWs) {}

  size_t workspaceBytes() const override { return cfg_.colBytes() + ltWs_; }

  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources& res) const override {
    auto st = std::make_unique<GemmState>();
    st->handle = res.cublasLt;
    if (!st->handle) return InternalError("FusedConv GEMM: no cuBLASLt handle in the execution context");
    KILN_RETURN_IF_ERROR(st->lt.build(cfg_));
    // KCRS -> KRSC on the host, each row zero-padded from Kd to Kp elements.
    const Tensor krsc = filterToChannelsLastHost(cfg_.constW);
    std::vector<char> packed(static_cast<size_t>(cfg_.K * cfg_.Kp) * cfg_.es, 0);
    for (int64_t k = 0; k < cfg_.K; ++k)
      std::memcpy(packed.data() + static_cast<size_t>(k * cfg_.Kp) * cfg_.es,
                  static_cast<const char*>(krsc.raw()) + static_cast<size_t>(k * cfg_.Kd) * cfg_.es,
                  static_cast<size_t>(cfg_.Kd) * cfg_.es);
    KILN_RETURN_IF_ERROR(st->packedW.allocate(packed.size()));
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(st->packedW.ptr, packed.data(), packed.size(), cudaMemcpyHostToDevice));
    return std::unique_ptr<GpuKernelState>(std::move(st));
  }

  Status enqueue(const GpuKernelContext& ctx) const override {
    auto* st = static_cast<GemmState*>(ctx.state);
    if (!st) return InternalError("FusedConv GEMM: runs without its state");
    if (!ctx.hasInput(0) || !ctx.hasOutput(0)) return InvalidArgument("FusedConv: X and Y are required");
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.out(0);
    const Tensor* b = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
    const Tensor* z = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
    if ((b != nullptr) != cfg_.hasBias || (z != nullptr) != cfg_.hasResidual)
      return InvalidArgument("FusedConv: the bias/residual inputs differ from the layer the kernel was built for");
    const cpu::SpatialGeom& g = cfg_.g;
    const Dims xExpect{g.batch, g.in[0], g.in[1], g.inC}, yExpect{g.batch, g.out[0], g.out[1], cfg_.K};
    if (x.dims() != xExpect || y.dims() != yExpect || (z && z->dims() != yExpect))
      return InvalidArgument("FusedConv: run-time dims {} -> {} differ from the layer's static {} -> {}",
                             x.dims().toString(), y.dims().toString(), xExpect.toString(), yExpect.toString());
    if (b && b->numel() != cfg_.K) return InvalidArgument("FusedConv: bias has {} values; expected {}", b->numel(), cfg_.K);
    for (const void* p : {x.raw(), static_cast<const void*>(y.raw()), z ? z->raw() : nullptr, b ? b->raw() : nullptr})
      if (p && (reinterpret_cast<uintptr_t>(p) & 15) != 0)
        return Unsupported("FusedConv GEMM: a tensor is not 16-byte aligned (cuBLASLt algorithm chosen for 16)");
    if (workspaceBytes() > ctx.workspaceSize || (workspaceBytes() && !ctx.workspace))
      return InternalError("FusedConv GEMM: needs {} bytes of workspace; the context has {}", workspaceBytes(),
                           ctx.workspaceSize);
    char* ws = static_cast<char*>(ctx.workspace);
    const void* col = x.raw();
    if (!cfg_.direct) {
      Im2colArgs a;
      a.x = x.raw();
      a.col = ws;
      a.elemSize = static_cast<int>(cfg_.es);
      a.n = g.batch, a.h = g.in[0], a.w = g.in[1], a.c = g.inC;
      a.outH = g.out[0], a.outW = g.out[1];
      a.kH = g.kernel[0], a.kW = g.kernel[1];
      a.strideH = g.strides[0], a.strideW = g.strides[1];
      a.padH = g.padBegin[0], a.padW = g.padBegin[1];
      a.dilH = g.dilations[0], a.dilW = g.dilations[1];
      a.rowElems = cfg_.Kp;
      a.smCount = ctx.res.smCount;
      KILN_CUDA_RETURN_IF_ERROR(launchIm2colNhwc(a, ctx.stream));
      col = ws;
    }
    if (b) {
      // The bias may be a non-constant input whose address differs between shape sets.
      const void* bp = b->raw();
      KILN_CUBLAS_RETURN_IF_ERROR(
          cublasLtMatmulDescSetAttribute(st->lt.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)));
    }
    const float one = 1.f, betaF = z ? 1.f : 0.f;
    const void* cPtr = z ? z->raw() : y.raw();
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(st->handle, st->lt.desc, &one, st->packedW.ptr, st->lt.la, col,
                                               st->lt.lb, &betaF, cPtr, st->lt.ld, y.raw(), st->lt.ld, &algo_,
                                               ltWs_ ? ws + cfg_.colBytes() : nullptr, ltWs_, ctx.stream));
    if (cfg_.postActivation()) {
      EpilogueArgs ea;
      ea.dtype = cfg_.dtype;
      ea.y = y.raw();
      ea.numel = y.numel();
      ea.channels = cfg_.K;
      ea.inner = 1;
      ea.act = cfg_.act;
      ea.alpha = cfg_.alpha;
      ea.beta = cfg_.beta;
      ea.smCount = ctx.res.smCount;
      KILN_CUDA_RETURN_IF_ERROR(launchEpilogue(ea, ctx.stream));
    }
    return Status::OK();
  }

 private:
  GemmConfig cfg_;
  cublasLtMatmulAlgo_t algo_;
  size_t ltWs_;
};

}  // namespace

bool supportsConvGemm(const LayerDesc& d) { return GemmConfig::fromDesc(d).ok(); }

int convGemmVariants(const LayerDesc& d, size_t) {
  auto c = GemmConfig::fromDesc(d);
  if (!c.ok()) return 1;
  auto algos = heuristics(*c);
  // On a query failure one variant remains, and create() reports the error.
  if (!algos.ok() || algos->empty()) return 1;
  return static_cast<int>(algos->size());
}

Result<std::unique_ptr<GpuKernel>> createConvGemm(const LayerDesc& d, int variant, size_t workspaceLimit) {
  KILN_ASSIGN_OR_RETURN(GemmConfig c, GemmConfig::fromDesc(d));
  KILN_ASSIGN_OR_RETURN(auto algos, heuristics(c));
  if (algos.empty())
    return Unsupported("FusedConv GEMM: cuBLASLt has no algorithm for [{}, {}] x [{}, {}]^T ({})", c.M, c.Kp, c.K,
                       c.Kp, dtypeName(c.dtype));
  if (variant < 0 || variant >= static_cast<int>(algos.size()))
    return InvalidArgument("FusedConv GEMM variant {} does not exist ({} cuBLASLt algorithms for this layer)", variant,
                           algos.size());
  const auto& r = algos[static_cast<size_t>(variant)];
  if (c.colBytes() + r.workspaceSize > workspaceLimit)
    return ResourceExhausted("FusedConv GEMM variant {} needs {} bytes of workspace; the limit is {}", variant,
                             c.colBytes() + r.workspaceSize, workspaceLimit);
  return std::unique_ptr<GpuKernel>(std::make_unique<ConvGemmKernel>(std::move(c), r.algo, r.workspaceSize));
}

}  // namespace kiln::cuda::dnn
