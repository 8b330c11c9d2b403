// cuBLASLt matmuls: MatMul (numpy batch broadcasting, 1-D operands), Gemm (transA/transB, alpha,
// beta, C broadcast) and kiln:FusedMatMul (bias + activation in cuBLASLt's epilogue where one
// matches exactly, else an element-wise pass of ours after the matmul).
//
// Row-major trick: Kiln's tensors are row-major, cuBLASLt is column-major. A row-major [R, C]
// matrix is the column-major [C, R] matrix with the same bytes, so Y = A B (row-major) is computed
// as the column-major Y^T = B^T A^T: cuBLASLt's "A" is our B, its "B" is our A, and its D is [N, M]
// with ld N. The bias epilogue adds a vector over D's rows, i.e. over our N: exactly the per-column
// bias of FusedMatMul and of Gemm with C = [N].
//
// Variants: the algorithms of cublasLtMatmulAlgoGetHeuristic (up to kHeuristicRequests, in the
// library's order). Variant v is "the v-th heuristic algorithm for the shape being run" (clamped to
// the last one when a shape has fewer), so the builder times v at the opt shape and every run
// shape gets the library's v-th choice for itself. Descriptors, layouts and the algorithm live in
// the per-context state and are rebuilt only when the problem (dims, alignment) changes.
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/blas_kernels.h"
#include "backends/cuda/kernels/blas_matmul.h"
#include "core/activation.h"

namespace kiln::cuda {

namespace {

constexpr int kHeuristicRequests = 8;
constexpr size_t kWorkspaceCap = size_t{32} << 20;  // cuBLAS's recommendation for Hopper
constexpr int kMaxBatchRank = 10;
constexpr int64_t kSymbolicDim = 256;  // stands for an unknown dim when counting variants

struct LtTypes {
  cudaDataType_t data;
  cublasComputeType_t compute;
  cudaDataType_t scale;
};

bool ltTypesOf(DType t, bool tf32, LtTypes* out) {
  switch (t) {
    case DType::kFloat32:
      *out = {CUDA_R_32F, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F};
      return true;
    case DType::kFloat16: *out = {CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F}; return true;
    case DType::kBFloat16: *out = {CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F}; return true;
    case DType::kFloat64: *out = {CUDA_R_64F, CUBLAS_COMPUTE_64F, CUDA_R_64F}; return true;
    default: return false;
  }
}

// The problem one enqueue runs, in Kiln's row-major terms.
struct MmShape {
  int64_t M = 0, N = 0, K = 0;
  bool transA = false, transB = false;
  int64_t batch = 1;  // output matrices
  // kSingle: one GEMM (batch 1, or A's batches folded into M); kStrided: cuBLASLt strided batch
  // (stride 0 = operand shared by every batch); kLoop: one call per output matrix (general numpy
  // broadcasting, rare).
  enum Mode { kSingle, kStrided, kLoop } mode = kSingle;
  int64_t strideA = 0, strideB = 0;  // elements (kStrided)
  int batchRank = 0;                 // kLoop: output batch dims and matrix-index strides of A and B
  int64_t outBatch[kMaxBatchRank] = {}, aStr[kMaxBatchRank] = {}, bStr[kMaxBatchRank] = {};
};

// numpy matmul of dims a x b (1-D operands promoted like numpy); checks y when given.
Status planMatMul(const int64_t* a, int ra, const int64_t* b, int rb, MmShape* s) {
  if (ra < 1 || rb < 1) return InvalidArgument("MatMul operands must have rank >= 1");
  s->M = ra >= 2 ? a[ra - 2] : 1;
  s->K = a[ra - 1];
  const int64_t kb = rb >= 2 ? b[rb - 2] : b[0];
  s->N = rb >= 2 ? b[rb - 1] : 1;
  if (s->K != kb) return InvalidArgument("MatMul inner dimensions differ ({} and {})", s->K, kb);
  const int na = std::max(ra - 2, 0), nb = std::max(rb - 2, 0);
  const int r = std::max(na, nb);
  if (r > kMaxBatchRank) return Unsupported("MatMul with {} batch dimensions (at most {})", r, kMaxBatchRank);
  int64_t aCount = 1, bCount = 1, out = 1;
  int64_t sa = 1, sb = 1;
  s->batchRank = r;
  for (int i = r - 1; i >= 0; --i) {
    const int ia = i - (r - na), ib = i - (r - nb);
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return InvalidArgument("MatMul batch dimensions {} and {} cannot be broadcast", da, db);
    s->outBatch[i] = da == 1 ? db : da;
    s->aStr[i] = da == 1 ? 0 : sa;
    s->bStr[i] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
    aCount *= da;
    bCount *= db;
    out *= s->outBatch[i];
  }
  s->batch = out;
  if (bCount == 1) {
    // B is one matrix: A's (contiguous) batches are rows of one tall GEMM.
    s->mode = MmShape::kSingle;
    s->M *= aCount;
    s->batch = 1;
  } else if (bCount == out && (aCount == out || aCount == 1)) {
    s->mode = MmShape::kStrided;
    s->strideA = aCount == 1 ? 0 : s->M * s->K;
    s->strideB = s->K * s->N;
  } else {
    s->mode = MmShape::kLoop;
  }
  return Status::OK();
}

Status planMatMulDims(const Dims& a, const Dims& b, MmShape* s) {
  return planMatMul(a.data(), a.rank(), b.data(), b.rank(), s);
}

// Known dims of a build-time shape, symbolic ones replaced by kSymbolicDim.
std::vector<int64_t> representative(const Shape& s) {
  std::vector<int64_t> d;
  for (int i = 0; i < s.rank(); ++i) d.push_back(s[i].isStatic() ? s[i].value() : kSymbolicDim);
  return d;
}

uint32_t alignmentOf(const void* p, int64_t strideBytes) {
  uint64_t v = reinterpret_cast<uintptr_t>(p) | static_cast<uint64_t>(strideBytes) | 256u;
  return static_cast<uint32_t>(v & (~v + 1));
}

// Everything that determines the cuBLASLt descriptors and the algorithm list.
struct LtKey {
  int64_t M = 0, N = 0, K = 0, batch = 1, strideA = 0, strideB = 0;
  int epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  uint32_t alignA = 256, alignB = 256, alignC = 256, alignD = 256;
  uint64_t workspace = 0;
  bool operator==(const LtKey& o) const { return std::memcmp(this, &o, sizeof(LtKey)) == 0; }
};

// Descriptors of one problem (owned).
struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  LtPlan() = default;
  LtPlan(const LtPlan&) = delete;
  LtPlan& operator=(const LtPlan&) = delete;
  ~LtPlan() { reset(); }
  void reset() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (desc) cublasLtMatmulDescDestroy(desc);
    pref = nullptr, ld = lb = la = nullptr, desc = nullptr;
  }

  Status build(const LtKey& k, const LtTypes& ty, bool transA, bool transB) {
    reset();
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&desc, ty.compute, ty.scale));
    // cuBLASLt's A is our B, its B is our A (see the top of the file).
    const cublasOperation_t opA = transB ? CUBLAS_OP_T : CUBLAS_OP_N, opB = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)));
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)));
    const cublasLtEpilogue_t epi = static_cast<cublasLtEpilogue_t>(k.epilogue);
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    // Stored shapes: our B is [K, N] (or [N, K] when transposed), our A [M, K] (or [K, M]).
    const uint64_t aRows = transB ? k.K : k.N, aCols = transB ? k.N : k.K;
    const uint64_t bRows = transA ? k.M : k.K, bCols = transA ? k.K : k.M;
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&la, ty.data, aRows, aCols, static_cast<int64_t>(aRows)));
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&lb, ty.data, bRows, bCols, static_cast<int64_t>(bRows)));
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&ld, ty.data, k.N, k.M, k.N));
    if (k.batch > 1) {
      const int32_t count = static_cast<int32_t>(k.batch);
      const int64_t sd = k.M * k.N;
      for (auto [l, stride] : {std::pair{la, k.strideB}, std::pair{lb, k.strideA}, std::pair{ld, sd}}) {
        KILN_CUBLAS_RETURN_IF_ERROR(
            cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
        KILN_CUBLAS_RETURN_IF_ERROR(
            cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
      }
    }
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                                     &k.workspace, sizeof(k.workspace)));
    // cuBLASLt's A/B are our B/A.
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, k.alignB},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, k.alignA},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, k.alignC},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, k.alignD}};
    for (const auto& [attr, v] : aligns)
      KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(pref, attr, &v, sizeof(v)));
    return Status::OK();
  }

  // The library's candidates for this problem, in its order (successful ones only).
  Status heuristics(cublasLtHandle_t h, std::vector<cublasLtMatmulHeuristicResult_t>* out) {
    cublasLtMatmulHeuristicResult_t res[kHeuristicRequests];
    std::memset(res, 0, sizeof(res));
    int n = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, ld, ld, pref, kHeuristicRequests, res, &n);
    out->clear();
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) return Status::OK();
    KILN_CUBLAS_RETURN_IF_ERROR(st);
    for (int i = 0; i < n; ++i)
      if (res[i].state == CUBLAS_STATUS_SUCCESS) out->push_back(res[i]);
    return Status::OK();
  }
};

// Per-context state: the descriptors and algorithm of the last problem run.
struct LtState final : GpuKernelState {
  cublasLtHandle_t handle = nullptr;
  bool valid = false;
  LtKey key;
  LtPlan plan;
  cublasLtMatmulAlgo_t algo{};
};

// A process-wide handle for counting variants at build time (no context exists yet).
cublasLtHandle_t variantHandle(std::mutex** mu) {
  static std::mutex m;
  static cublasLtHandle_t h = [] {
    cublasLtHandle_t x = nullptr;
    if (cublasLtCreate(&x) != CUBLAS_STATUS_SUCCESS) x = nullptr;
    return x;
  }();
  *mu = &m;
  return h;
}

}  // namespace

// ---- the kernel -------------------------------------------------------------------------------

MatmulKernel::MatmulKernel(const LayerDesc& d, MmOp op, int variant, bool tanhGelu) : op_(op), variant_(variant) {
  dtype_ = d.inputTypes.empty() ? DType::kUndefined : d.inputTypes[0];
  tf32_ = d.allowTf32;
  const AttrMap& a = *d.attrs;
  if (op == MmOp::kGemm) {
    transA_ = a.getInt("transA", 0) != 0;
    transB_ = a.getInt("transB", 0) != 0;
    alpha_ = a.getFloat("alpha", 1.0f);
    beta_ = a.getFloat("beta", 1.0f);
  }
  if (op == MmOp::kFused) {
    Activation act = Activation::kNone;
    parseActivation(a.getString("activation", ""), &act);
    if (tanhGelu && act == Activation::kGeluErf) act = Activation::kGeluTanh;
    act_ = static_cast<int>(act);
    actAlpha_ = a.getFloat("activation_alpha", 0.0f);
    actBeta_ = a.getFloat("activation_beta", 0.0f);
  }
}

size_t MatmulKernel::workspaceBytes() const { return std::min(wsLimit_, kWorkspaceCap); }

Result<std::unique_ptr<GpuKernelState>> MatmulKernel::createState(const GpuResources& res) const {
  auto s = std::make_unique<LtState>();
  s->handle = res.cublasLt;
  if (!s->handle) return InternalError("{}: no cuBLASLt handle in the execution context", opName());
  return std::unique_ptr<GpuKernelState>(std::move(s));
}

const char* MatmulKernel::opName() const {
  return op_ == MmOp::kGemm ? "Gemm" : op_ == MmOp::kFused ? "FusedMatMul" : "MatMul";
}

// Epilogue for the fused activation: cuBLASLt's RELU and GELU (tanh approximation) match exactly;
// other activations run as a separate pass (*post = true).
static int fusedEpilogue(Activation act, bool bias, bool* post) {
  *post = false;
  if (act == Activation::kRelu) return bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
  if (act == Activation::kGeluTanh) return bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  *post = act != Activation::kNone;
  return bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
}

Status MatmulKernel::enqueue(const GpuKernelContext& ctx) const {
  auto* st = dynamic_cast<LtState*>(ctx.state);
  if (!st) return InternalError("{}: missing cuBLASLt state", opName());
  if (ctx.numInputs() < 2 || !ctx.hasInput(0) || !ctx.hasInput(1) || !ctx.hasOutput(0))
    return InvalidArgument("{} needs inputs A and B and output Y", opName());
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  LtTypes ty;
  if (a.dtype() != dtype_ || b.dtype() != dtype_ || y.dtype() != dtype_ || !ltTypesOf(dtype_, tf32_, &ty))
    return InvalidArgument("{}: element types {} x {} -> {} do not match the layer's {}", opName(), dtypeName(a.dtype()),
                           dtypeName(b.dtype()), dtypeName(y.dtype()), dtypeName(dtype_));
  const Tensor* extra = ctx.hasInput(2) ? &ctx.in(2) : nullptr;  // Gemm's C or FusedMatMul's bias
  if (extra && extra->dtype() != dtype_)
    return InvalidArgument("{}: input 2 has type {}, expected {}", opName(), dtypeName(extra->dtype()), dtypeName(dtype_));

  MmShape s;
  if (op_ == MmOp::kGemm) {
    if (a.rank() != 2 || b.rank() != 2) return InvalidArgument("Gemm: A and B must be 2-D, got {} and {}", a.dims().toString(), b.dims().toString());
    s.transA = transA_, s.transB = transB_;
    s.M = transA_ ? a.dims()[1] : a.dims()[0];
    s.K = transA_ ? a.dims()[0] : a.dims()[1];
    s.N = transB_ ? b.dims()[0] : b.dims()[1];
    const int64_t kb = transB_ ? b.dims()[1] : b.dims()[0];
    if (s.K != kb) return InvalidArgument("Gemm: A {} and B {} do not multiply", a.dims().toString(), b.dims().toString());
  } else {
    KILN_RETURN_IF_ERROR(planMatMulDims(a.dims(), b.dims(), &s));
  }
  const int64_t outRows = (s.mode == MmShape::kSingle ? s.M : s.batch * s.M);
  if (y.numel() != outRows * s.N)
    return InvalidArgument("{}: output {} does not match {} x {}", opName(), y.dims().toString(), a.dims().toString(),
                           b.dims().toString());
  if (y.numel() == 0) return Status::OK();
  const size_t es = dtypeSize(dtype_);

  // Epilogue: bias vector, C operand, post-pass activation.
  const Tensor* bias = nullptr;
  const void* cPtr = y.raw();
  double beta = 0.0;
  bool post = false;
  int epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  // Gemm's C broadcast: strides of C over [M, N] (0 on broadcast axes).
  int64_t cRs = 0, cCs = 0;
  bool cBroadcast = false;
  if (op_ == MmOp::kFused) {
    if (extra) {
      if (y.rank() == 0 || extra->numel() != s.N)
        return InvalidArgument("FusedMatMul: bias of {} values for an output of shape {}", extra->numel(), y.dims().toString());
      bias = extra;
    }
    epilogue = fusedEpilogue(static_cast<Activation>(act_), bias != nullptr, &post);
    if (ctx.hasInput(3)) {
      // The residual is cuBLASLt's C (beta 1), which shares D's layout: act(A B + C + bias).
      const Tensor& r = ctx.in(3);
      if (r.dtype() != dtype_ || r.dims() != y.dims() || s.mode == MmShape::kLoop)
        return Unsupported("FusedMatMul: residual {} for output {} ({} batching)", r.describe(), y.describe(),
                           s.mode == MmShape::kLoop ? "looped" : "single/strided");
      cPtr = r.raw();
      beta = 1.0;
    }
  } else if (op_ == MmOp::kGemm && extra && beta_ != 0.0f) {
    const Dims& cd = extra->dims();
    bool ok = cd.rank() <= 2;
    for (int i = 0; ok && i < cd.rank(); ++i) ok = cd[i] == 1 || cd[i] == (i == cd.rank() - 1 ? s.N : s.M);
    if (!ok) return InvalidArgument("Gemm: C of shape {} cannot be broadcast to [{}, {}]", cd.toString(), s.M, s.N);
    const int64_t cRows = cd.rank() == 2 ? cd[0] : 1, cCols = cd.rank() >= 1 ? cd[cd.rank() - 1] : 1;
    if (cRows == s.M && cCols == s.N) {
      cPtr = extra->raw();
      beta = beta_;
    } else if (beta_ == 1.0f && cRows == 1 && cCols == s.N && dtype_ != DType::kFloat64) {
      bias = extra;  // alpha * A B + C[N]: the bias epilogue
      epilogue = CUBLASLT_EPILOGUE_BIAS;
    } else {
      cBroadcast = true;
      cRs = cRows == 1 ? 0 : cCols;
      cCs = cCols == 1 ? 0 : 1;
      beta = beta_;
    }
  }

  const int64_t rowsY = y.numel() / s.N;
  if (s.K == 0) {
    // A zero-length product: Y is the epilogue of zeros.
    if (op_ == MmOp::kFused && ctx.hasInput(3))
      return Unsupported("FusedMatMul: a residual with an empty product (K = 0) is not supported on the GPU");
    if (op_ == MmOp::kGemm && extra && beta_ != 0.0f) {
      const int64_t cRows = extra->rank() == 2 ? extra->dims()[0] : 1;
      const int64_t cCols = extra->rank() >= 1 ? extra->dims()[extra->rank() - 1] : 1;
      KILN_CUDA_RETURN_IF_ERROR(launchBlasBroadcastFill(y.raw(), extra->raw(), dtype_, s.M, s.N, cRows == 1 ? 0 : cCols,
                                                        cCols == 1 ? 0 : 1, beta_, ctx.res.smCount, ctx.stream));
    } else if (bias) {
      KILN_CUDA_RETURN_IF_ERROR(launchBlasBroadcastFill(y.raw(), bias->raw(), dtype_, rowsY, s.N, 0, 1, 1.0,
                                                        ctx.res.smCount, ctx.stream));
    } else {
      KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.raw(), 0, y.nbytes(), ctx.stream));
    }
    if (op_ == MmOp::kFused)
      KILN_CUDA_RETURN_IF_ERROR(launchBlasActivation(y.raw(), dtype_, y.numel(), static_cast<BlasAct>(act_), actAlpha_,
                                                     actBeta_, ctx.res.smCount, ctx.stream));
    return Status::OK();
  }
  if (cBroadcast)
    KILN_CUDA_RETURN_IF_ERROR(launchBlasBroadcastFill(y.raw(), extra->raw(), dtype_, s.M, s.N, cRs, cCs, 1.0,
                                                      ctx.res.smCount, ctx.stream));

  // The problem's key; descriptors and algorithm are rebuilt when it changes.
  LtKey k;
  k.M = s.M, k.N = s.N, k.K = s.K;
  k.batch = s.mode == MmShape::kStrided ? s.batch : 1;
  k.strideA = s.mode == MmShape::kStrided ? s.strideA : 0;
  k.strideB = s.mode == MmShape::kStrided ? s.strideB : 0;
  k.epilogue = epilogue;
  const bool loop = s.mode == MmShape::kLoop;
  k.alignA = alignmentOf(a.raw(), loop ? s.M * s.K * int64_t(es) : 0);
  k.alignB = alignmentOf(b.raw(), loop ? s.K * s.N * int64_t(es) : 0);
  k.alignD = alignmentOf(y.raw(), loop ? s.M * s.N * int64_t(es) : 0);
  k.alignC = cPtr == y.raw() ? k.alignD : alignmentOf(cPtr, 0);
  k.workspace = std::min<uint64_t>(ctx.workspaceSize, workspaceBytes());
  if (!st->valid || !(st->key == k)) {
    st->valid = false;
    KILN_RETURN_IF_ERROR(st->plan.build(k, ty, s.transA, s.transB));
    if (bias) {
      const void* bp = bias->raw();
      KILN_CUBLAS_RETURN_IF_ERROR(
          cublasLtMatmulDescSetAttribute(st->plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)));
    }
    std::vector<cublasLtMatmulHeuristicResult_t> algos;
    KILN_RETURN_IF_ERROR(st->plan.heuristics(st->handle, &algos));
    if (algos.empty())
      return Unsupported("{}: cuBLASLt has no algorithm for {} x {} ({}, epilogue {})", opName(), a.dims().toString(),
                         b.dims().toString(), dtypeName(dtype_), epilogue);
    st->algo = algos[std::min<size_t>(static_cast<size_t>(variant_), algos.size() - 1)].algo;
    st->key = k;
    st->valid = true;
  }
  if (bias) {
    // The bias may be a non-constant input whose address changes between shape sets.
    const void* bp = bias->raw();
    KILN_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(st->plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)));
  }

  const float alphaF = op_ == MmOp::kGemm ? alpha_ : 1.0f, betaF = static_cast<float>(beta);
  const double alphaD = alphaF, betaD = beta;
  const void* alphaP = dtype_ == DType::kFloat64 ? static_cast<const void*>(&alphaD) : &alphaF;
  const void* betaP = dtype_ == DType::kFloat64 ? static_cast<const void*>(&betaD) : &betaF;
  const char* pa = static_cast<const char*>(a.raw());
  const char* pb = static_cast<const char*>(b.raw());
  char* py = static_cast<char*>(y.raw());
  auto call = [&](const char* A, const char* B, const void* C, char* D) -> Status {
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(st->handle, st->plan.desc, alphaP, B, st->plan.la, A, st->plan.lb, betaP,
                                               C, st->plan.ld, D, st->plan.ld, &st->algo, ctx.workspace,
                                               static_cast<size_t>(k.workspace), ctx.stream));
    return Status::OK();
  };
  if (!loop) {
    KILN_RETURN_IF_ERROR(call(pa, pb, cPtr, py));
  } else {
    for (int64_t t = 0; t < s.batch; ++t) {
      int64_t ia = 0, ib = 0, rem = t;
      for (int i = s.batchRank - 1; i >= 0; --i) {
        const int64_t idx = rem % s.outBatch[i];
        rem /= s.outBatch[i];
        ia += idx * s.aStr[i];
        ib += idx * s.bStr[i];
      }
      char* d = py + t * s.M * s.N * int64_t(es);
      KILN_RETURN_IF_ERROR(call(pa + ia * s.M * s.K * int64_t(es), pb + ib * s.K * s.N * int64_t(es), d, d));
    }
  }
  if (post)
    KILN_CUDA_RETURN_IF_ERROR(launchBlasActivation(y.raw(), dtype_, y.numel(), static_cast<BlasAct>(act_), actAlpha_,
                                                   actBeta_, ctx.res.smCount, ctx.stream));
  return Status::OK();
}

// ---- registration helpers ----------------------------------------------------------------------

int countMatmulVariants(const LayerDesc& d, MmOp op, size_t workspaceLimit, bool tanhGelu) {
  LtTypes ty;
  if (d.inputTypes.size() < 2 || !ltTypesOf(d.inputTypes[0], d.allowTf32, &ty)) return 1;
  MmShape s;
  const std::vector<int64_t> a = representative(d.inputShapes[0]), b = representative(d.inputShapes[1]);
  const AttrMap* attrs = d.attrs;
  bool hasExtra = d.inputTypes.size() > 2 && d.inputTypes[2] != DType::kUndefined;
  int epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  if (op == MmOp::kGemm) {
    if (a.size() != 2 || b.size() != 2) return 1;
    s.transA = attrs && attrs->getInt("transA", 0) != 0;
    s.transB = attrs && attrs->getInt("transB", 0) != 0;
    s.M = s.transA ? a[1] : a[0];
    s.K = s.transA ? a[0] : a[1];
    s.N = s.transB ? b[0] : b[1];
    if (hasExtra && attrs && attrs->getFloat("beta", 1.0f) == 1.0f && d.inputShapes[2].rank() <= 1 &&
        d.inputTypes[0] != DType::kFloat64)
      epilogue = CUBLASLT_EPILOGUE_BIAS;
  } else {
    if (!planMatMul(a.data(), static_cast<int>(a.size()), b.data(), static_cast<int>(b.size()), &s).ok()) return 1;
    if (op == MmOp::kFused) {
      Activation act = Activation::kNone;
      if (attrs) parseActivation(attrs->getString("activation", ""), &act);
      if (tanhGelu && act == Activation::kGeluErf) act = Activation::kGeluTanh;
      bool post = false;
      epilogue = fusedEpilogue(act, hasExtra, &post);
    }
  }
  if (s.M <= 0 || s.N <= 0 || s.K <= 0) return 1;
  LtKey k;
  k.M = s.M, k.N = s.N, k.K = s.K;
  k.batch = s.mode == MmShape::kStrided ? s.batch : 1;
  k.strideA = s.mode == MmShape::kStrided ? s.strideA : 0;
  k.strideB = s.mode == MmShape::kStrided ? s.strideB : 0;
  k.epilogue = epilogue;
  k.workspace = std::min(workspaceLimit, kWorkspaceCap);
  std::mutex* mu = nullptr;
  cublasLtHandle_t h = variantHandle(&mu);
  if (!h) return 1;
  std::lock_guard<std::mutex> lock(*mu);
  LtPlan plan;
  if (!plan.build(k, ty, s.transA, s.transB).ok()) return 1;
  std::vector<cublasLtMatmulHeuristicResult_t> algos;
  if (!plan.heuristics(h, &algos).ok()) return 1;
  return std::max<int>(1, static_cast<int>(algos.size()));
}

}  // namespace kiln::cuda
