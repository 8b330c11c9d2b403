// MatMul and kiln:FusedMatMul as CUTLASS 3 Hopper GEMMs (sm90/cutlass_gemm.cu): fp16, A [..., K]
// (its batches folded into rows) times a 2-D B [K, N]; FusedMatMul's optional bias and residual,
// no activation or the exact (erf) GELU. Tactics "cuda_cutlass_matmul" and
// "cuda_cutlass_fused_matmul", whose variants are the tile/cluster configurations; the builder
// times them against cuBLASLt's and keeps whichever is faster (and matches the reference). Only on
// compute capability 9.0, and only in builds that found CUTLASS's headers.
#include "backends/cuda/kernels/blas_cutlass.h"
#include "backends/cuda/kernels/families.h"

#ifdef KILN_HAVE_CUTLASS

#include <cstring>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/sm90/cutlass_gemm.h"
#include "backends/cuda/sm90/cutlass_gemm_layernorm.h"
#include "core/activation.h"

namespace kiln::cuda {

namespace {

bool present(const LayerDesc& d, size_t i) { return i < d.inputTypes.size() && d.inputTypes[i] != DType::kUndefined; }

bool knownMultipleOf8(const Dim& d) { return d.isStatic() && d.value() > 0 && d.value() % 8 == 0; }

bool epilogueOf(const AttrMap& a, sm90::GemmEpilogue* e) {
  Activation act = Activation::kNone;
  if (!parseActivation(a.getString("activation", ""), &act)) return false;
  if (act == Activation::kNone) *e = sm90::GemmEpilogue::kLinear;
  else if (act == Activation::kGeluErf) *e = sm90::GemmEpilogue::kGeluErf;
  else return false;
  return true;
}

// fp16 everywhere, A of rank >= 2, B 2-D with static K and N multiples of 8, bias [N].
bool supportsShapes(const LayerDesc& d) {
  for (size_t i = 0; i < d.inputTypes.size(); ++i)
    if (present(d, i) && d.inputTypes[i] != DType::kFloat16) return false;
  if (d.outputTypes.size() != 1 || d.outputTypes[0] != DType::kFloat16) return false;
  const Shape &a = d.inputShapes[0], &b = d.inputShapes[1];
  if (!a.rankKnown() || a.rank() < 2 || !b.rankKnown() || b.rank() != 2) return false;
  if (!knownMultipleOf8(b[0]) || !knownMultipleOf8(b[1])) return false;
  return !present(d, 2) || (d.inputShapes[2].rankKnown() && d.inputShapes[2].rank() == 1);
}

bool supportsMatMul(const LayerDesc& d) {
  return d.inputTypes.size() == 2 && present(d, 0) && present(d, 1) && supportsShapes(d);
}

bool supportsFused(const LayerDesc& d) {
  sm90::GemmEpilogue e;
  return d.attrs && d.inputTypes.size() >= 2 && d.inputTypes.size() <= 4 && present(d, 0) && present(d, 1) &&
         epilogueOf(*d.attrs, &e) && supportsShapes(d);
}

// Per context: the prepared kernel parameters of the last problem (pointers included: an engine's
// tensors keep their addresses, so this is built once per shape set).
struct CutlassState final : GpuKernelState {
  std::vector<unsigned char> params = std::vector<unsigned char>(sm90::gemmParamsBytes());
  sm90::GemmArgs key;
  bool valid = false;
};

bool sameProblem(const sm90::GemmArgs& x, const sm90::GemmArgs& y) {
  return x.M == y.M && x.N == y.N && x.K == y.K && x.a == y.a && x.b == y.b && x.bias == y.bias &&
         x.residual == y.residual && x.d == y.d && x.epilogue == y.epilogue && x.smCount == y.smCount;
}

class CutlassMatmulKernel final : public GpuKernel {
 public:
  CutlassMatmulKernel(const LayerDesc& d, bool fused, int config) : fused_(fused), config_(config) {
    if (fused) epilogueOf(*d.attrs, &epilogue_);
  }

  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources&) const override {
    return std::unique_ptr<GpuKernelState>(std::make_unique<CutlassState>());
  }

  Status enqueue(const GpuKernelContext& c) const override {
    const char* op = fused_ ? "FusedMatMul" : "MatMul";
    if (c.res.computeCapability != 90)
      return Unsupported("{}: the CUTLASS Hopper GEMM needs compute capability 9.0, this device has {}.{}", op,
                         c.res.computeCapability / 10, c.res.computeCapability % 10);
    const Tensor &a = c.in(0), &b = c.in(1);
    Tensor& y = c.out(0);
    if (a.rank() < 2 || b.rank() != 2 || a.dims()[a.rank() - 1] != b.dims()[0])
      return InvalidArgument("{}: A {} and B {} do not multiply", op, a.dims().toString(), b.dims().toString());
    const int64_t K = b.dims()[0], N = b.dims()[1], M = a.numel() / K;
    if (y.numel() != M * N)
      return InvalidArgument("{}: output {} does not match {} x {}", op, y.dims().toString(), a.dims().toString(),
                             b.dims().toString());
    if (y.numel() == 0) return Status::OK();
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
      return Unsupported("{} of {} x {} x {} in the CUTLASS GEMM (int32 extents)", op, M, N, K);
    sm90::GemmArgs g;
    g.M = static_cast<int>(M), g.N = static_cast<int>(N), g.K = static_cast<int>(K);
    g.a = a.raw(), g.b = b.raw(), g.d = y.raw();
    if (fused_ && c.hasInput(2)) {
      if (c.in(2).numel() != N)
        return InvalidArgument("FusedMatMul: bias {} for an output of {} columns", c.in(2).dims().toString(), N);
      g.bias = c.in(2).raw();
    }
    if (fused_ && c.hasInput(3)) {
      const Tensor& r = c.in(3);
      if (r.dims() != y.dims())
        return InvalidArgument("FusedMatMul: residual {} for output {}", r.dims().toString(), y.dims().toString());
      g.residual = r.raw();
    }
    g.epilogue = epilogue_;
    g.smCount = c.res.smCount;
    if (!sm90::gemmFits(g))
      return Unsupported("{} {} x {}: the CUTLASS GEMM needs 16-byte aligned operands and K, N multiples of 8", op,
                         a.dims().toString(), b.dims().toString());
    auto* st = static_cast<CutlassState*>(c.state);
    if (!st->valid || !sameProblem(st->key, g)) {
      st->valid = false;
      KILN_CUDA_RETURN_IF_ERROR(sm90::prepareGemm(g, config_, st->params.data()));
      st->key = g;
      st->valid = true;
    }
    KILN_CUDA_RETURN_IF_ERROR(sm90::launchGemm(st->params.data(), config_, epilogue_, c.stream));
    return Status::OK();
  }

 private:
  bool fused_;
  int config_;
  sm90::GemmEpilogue epilogue_ = sm90::GemmEpilogue::kLinear;
};

void addCutlass(GpuKernelRegistry& r, const char* domain, const char* op, const char* tactic, bool fused,
                bool (*supports)(const LayerDesc&)) {
  GpuKernelDef def;
  def.domain = domain;
  def.op = op;
  def.tactic = tactic;
  def.priority = 40;  // below cuBLASLt: chosen by timing, never by default
  def.supports = supports;
  def.variants = [](const LayerDesc&, size_t) { return sm90::kGemmConfigs; };
  def.create = [fused](const LayerDesc& d, int variant, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    if (fused && !d.attrs) return InternalError("CUTLASS matmul created without attributes");
    if (variant < 0 || variant >= sm90::kGemmConfigs)
      return InvalidArgument("CUTLASS matmul variant {} (0..{})", variant, sm90::kGemmConfigs - 1);
    return std::unique_ptr<GpuKernel>(std::make_unique<CutlassMatmulKernel>(d, fused, variant));
  };
  r.add(std::move(def));
}

// kiln:MatMulLayerNorm: fp16, B 2-D [K, N] with K a multiple of 8 and N a width the cluster
// kernel has (cutlass_gemm_layernorm.h), bias / scale / beta [N].
bool supportsMatMulLayerNorm(const LayerDesc& d) {
  if (d.inputTypes.size() < 5 || !present(d, 0) || !present(d, 1) || !present(d, 4)) return false;
  for (size_t i = 0; i < d.inputTypes.size(); ++i)
    if (present(d, i) && d.inputTypes[i] != DType::kFloat16) return false;
  if (d.outputTypes.size() != 1 || d.outputTypes[0] != DType::kFloat16) return false;
  const Shape &a = d.inputShapes[0], &b = d.inputShapes[1];
  if (!a.rankKnown() || a.rank() < 2 || !b.rankKnown() || b.rank() != 2) return false;
  if (!knownMultipleOf8(b[0]) || !b[1].isStatic() || !sm90::layerNormGemmSupportsWidth(static_cast<int>(b[1].value())))
    return false;
  for (size_t i : {size_t{2}, size_t{4}, size_t{5}})
    if (present(d, i) && (!d.inputShapes[i].rankKnown() || d.inputShapes[i].rank() != 1)) return false;
  return true;
}

struct LayerNormGemmState final : GpuKernelState {
  std::vector<unsigned char> params = std::vector<unsigned char>(sm90::layerNormGemmParamsBytes());
  sm90::LayerNormGemmArgs key;
  bool valid = false;
};

bool sameProblem(const sm90::LayerNormGemmArgs& x, const sm90::LayerNormGemmArgs& y) {
  return x.M == y.M && x.N == y.N && x.K == y.K && x.a == y.a && x.b == y.b && x.bias == y.bias &&
         x.residual == y.residual && x.gamma == y.gamma && x.beta == y.beta && x.d == y.d &&
         x.epsilon == y.epsilon && x.smCount == y.smCount;
}

class CutlassMatMulLayerNormKernel final : public GpuKernel {
 public:
  explicit CutlassMatMulLayerNormKernel(const LayerDesc& d) : epsilon_(d.attrs ? d.attrs->getFloat("epsilon", 1e-5f) : 1e-5f) {}

  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources&) const override {
    return std::unique_ptr<GpuKernelState>(std::make_unique<LayerNormGemmState>());
  }

  Status enqueue(const GpuKernelContext& c) const override {
    if (c.res.computeCapability != 90)
      return Unsupported("MatMulLayerNorm: the cluster GEMM needs compute capability 9.0, this device has {}.{}",
                         c.res.computeCapability / 10, c.res.computeCapability % 10);
    const Tensor &a = c.in(0), &b = c.in(1), &gamma = c.in(4);
    Tensor& y = c.out(0);
    if (a.rank() < 2 || b.rank() != 2 || a.dims()[a.rank() - 1] != b.dims()[0])
      return InvalidArgument("MatMulLayerNorm: A {} and B {} do not multiply", a.dims().toString(), b.dims().toString());
    const int64_t K = b.dims()[0], N = b.dims()[1], M = a.numel() / K;
    if (y.numel() != M * N)
      return InvalidArgument("MatMulLayerNorm: output {} does not match {} x {}", y.dims().toString(),
                             a.dims().toString(), b.dims().toString());
    if (y.numel() == 0) return Status::OK();
    if (M > INT32_MAX || K > INT32_MAX) return Unsupported("MatMulLayerNorm of {} x {} x {} (int32 extents)", M, N, K);
    sm90::LayerNormGemmArgs g;
    g.M = static_cast<int>(M), g.N = static_cast<int>(N), g.K = static_cast<int>(K);
    g.a = a.raw(), g.b = b.raw(), g.d = y.raw(), g.gamma = gamma.raw();
    g.epsilon = epsilon_;
    if (gamma.numel() != N) return InvalidArgument("MatMulLayerNorm: scale {} for rows of {}", gamma.dims().toString(), N);
    for (int i : {2, 5}) {
      if (!c.hasInput(i)) continue;
      if (c.in(i).numel() != N)
        return InvalidArgument("MatMulLayerNorm: {} {} for rows of {}", i == 2 ? "bias" : "LayerNorm bias",
                               c.in(i).dims().toString(), N);
      (i == 2 ? g.bias : g.beta) = c.in(i).raw();
    }
    if (c.hasInput(3)) {
      if (c.in(3).dims() != y.dims())
        return InvalidArgument("MatMulLayerNorm: residual {} for output {}", c.in(3).dims().toString(),
                               y.dims().toString());
      g.residual = c.in(3).raw();
    }
    g.smCount = c.res.smCount;
    if (!sm90::layerNormGemmFits(g))
      return Unsupported("MatMulLayerNorm {} x {}: the cluster GEMM needs 16-byte aligned operands, K a multiple of 8 "
                         "and rows of 384, 768 or 1024",
                         a.dims().toString(), b.dims().toString());
    auto* st = static_cast<LayerNormGemmState*>(c.state);
    if (!st->valid || !sameProblem(st->key, g)) {
      st->valid = false;
      KILN_CUDA_RETURN_IF_ERROR(sm90::prepareLayerNormGemm(g, st->params.data()));
      st->key = g;
      st->valid = true;
    }
    KILN_CUDA_RETURN_IF_ERROR(sm90::launchLayerNormGemm(st->params.data(), g.N, c.stream));
    return Status::OK();
  }

 private:
  float epsilon_;
};

}  // namespace

int cutlassFusedMatMulConfigs(const LayerDesc& d) { return supportsFused(d) ? sm90::kGemmConfigs : 0; }

Result<std::unique_ptr<GpuKernel>> makeCutlassFusedMatMul(const LayerDesc& d, int config) {
  if (!supportsFused(d) || config < 0 || config >= sm90::kGemmConfigs)
    return Unsupported("the CUTLASS GEMM does not run this FusedMatMul (configuration {})", config);
  return std::unique_ptr<GpuKernel>(std::make_unique<CutlassMatmulKernel>(d, true, config));
}

void registerCutlassKernels(GpuKernelRegistry& r) {
  addCutlass(r, "", "MatMul", "cuda_cutlass_matmul", false, &supportsMatMul);
  addCutlass(r, "kiln", "FusedMatMul", "cuda_cutlass_fused_matmul", true, &supportsFused);
  GpuKernelDef ln;
  ln.domain = "kiln";
  ln.op = "MatMulLayerNorm";
  ln.tactic = "cuda_cutlass_matmul_layernorm";
  ln.priority = 40;  // below the unfused reference (matmul_layernorm.cc): chosen by timing
  ln.supports = &supportsMatMulLayerNorm;
  ln.create = [](const LayerDesc& d, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<CutlassMatMulLayerNormKernel>(d));
  };
  r.add(std::move(ln));
}

}  // namespace kiln::cuda

#else  // no CUTLASS headers at configure time: the tactic does not exist in this build

namespace kiln::cuda {
void registerCutlassKernels(GpuKernelRegistry&) {}
int cutlassFusedMatMulConfigs(const LayerDesc&) { return 0; }
Result<std::unique_ptr<GpuKernel>> makeCutlassFusedMatMul(const LayerDesc&, int) {
  return Unsupported("this build has no CUTLASS GEMMs");
}
}  // namespace kiln::cuda

#endif
