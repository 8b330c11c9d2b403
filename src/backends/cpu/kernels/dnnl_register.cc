// oneDNN-backed fast paths: registration (priority above the reference tactics) with the
// `supports` predicates, and the shared oneDNN helpers declared in dnnl_common.h.
#include "backends/cpu/kernels/dnnl_common.h"
#include "backends/cpu/kernels/families.h"

namespace kiln::cpu {

namespace dnnl_util {
bool epilogueAttr(const EpilogueSpec& ep, bool sum, dnnl::primitive_attr* out) {
  *out = userScratchpad();
  dnnl::post_ops po;
  if (sum) po.append_sum(1.0f);
  dnnl::algorithm alg;
  float alpha = 0, beta = 0;
  switch (ep.act) {
    case Activation::kNone: alg = dnnl::algorithm::undef; break;
    case Activation::kRelu: alg = dnnl::algorithm::eltwise_relu; break;
    case Activation::kLeakyRelu: alg = dnnl::algorithm::eltwise_relu, alpha = ep.alpha; break;
    case Activation::kClip: alg = dnnl::algorithm::eltwise_clip_v2, alpha = ep.alpha, beta = ep.beta; break;
    case Activation::kSigmoid: alg = dnnl::algorithm::eltwise_logistic; break;
    case Activation::kTanh: alg = dnnl::algorithm::eltwise_tanh; break;
    case Activation::kHardSwish: alg = dnnl::algorithm::eltwise_hardswish; break;
    case Activation::kSilu: alg = dnnl::algorithm::eltwise_swish, alpha = 1.0f; break;
    case Activation::kGeluErf: alg = dnnl::algorithm::eltwise_gelu_erf; break;
    case Activation::kGeluTanh: alg = dnnl::algorithm::eltwise_gelu_tanh; break;
    default: return false;
  }
  if (alg != dnnl::algorithm::undef) po.append_eltwise(1.0f, alg, alpha, beta);
  out->set_post_ops(po);
  return true;
}
}  // namespace dnnl_util


namespace dnnl_util {

dnnl::engine& engine() {
  static dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

Prim makeReorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  if (from == to) return Prim{};
  dnnl::reorder::primitive_desc pd(engine(), from, engine(), to, userScratchpad());
  return Prim{dnnl::reorder(pd), pd.scratchpad_desc()};
}

Status execute(dnnl::stream& s, const BoundPrim& bp, Args args, std::string_view what) {
  if (bp.scratch) args.add(DNNL_ARG_SCRATCHPAD, bp.scratch);
  const dnnl_status_t st = dnnl_primitive_execute(bp.p->prim.get(), s.get(), args.size(), args.data());
  if (st != dnnl_success) return InternalError("{} (oneDNN): primitive execution failed (status {})", what, int(st));
  return Status::OK();
}

Result<dnnl::memory> PackedWeights::get(const dnnl::memory::desc& user, const dnnl::memory::desc& want) {
  for (const auto& [md, mem] : packed_)
    if (md == want) return mem;
  dnnl::memory src(user, engine(), const_cast<void*>(w_.raw()));
  dnnl::memory out = src;
  if (want != user) {
    out = dnnl::memory(want, engine());  // owned: lives as long as the kernel
    dnnl::stream s(engine());
    Prim r = makeReorder(user, want);
    BoundPrim b(r);
    KILN_RETURN_IF_ERROR(execute(s, b, Args().add(DNNL_ARG_FROM, src).add(DNNL_ARG_TO, out), "weights reorder"));
    s.wait();
  }
  packed_.emplace_back(want, out);
  return out;
}

}  // namespace dnnl_util

namespace {

bool allF32(const LayerDesc& d) {
  for (DType t : d.inputTypes)
    if (t != DType::kFloat32 && t != DType::kUndefined) return false;
  for (DType t : d.outputTypes)
    if (t != DType::kFloat32) return false;
  return !d.inputTypes.empty() && d.inputTypes[0] == DType::kFloat32;
}

// Known rank of input i within [lo, hi].
bool rankIn(const LayerDesc& d, int i, int lo, int hi) {
  if (static_cast<int>(d.inputShapes.size()) <= i || !d.inputShapes[i].rankKnown()) return false;
  const int r = d.inputShapes[i].rank();
  return r >= lo && r <= hi;
}

bool convSupports(const LayerDesc& d) {
  return allF32(d) && rankIn(d, 0, 3, 5) && rankIn(d, 1, 3, 5) && d.inputShapes[0].rank() == d.inputShapes[1].rank() &&
         d.attrs && d.attrs->getInt("group", 1) >= 1;
}

bool poolSupports(const LayerDesc& d) {
  return allF32(d) && d.outputTypes.size() == 1 && rankIn(d, 0, 3, 5);
}

}  // namespace

void RegisterDnnlKernels(KernelRegistry& r) {
  constexpr int kPriority = 10;
  auto add = [&](const char* op, const char* tactic, std::function<bool(const LayerDesc&)> supports,
                 std::function<Result<std::unique_ptr<Kernel>>(const LayerDesc&)> create, const char* domain = "") {
    KernelDef k;
    k.domain = domain;
    k.op = op;
    k.tactic = tactic;
    k.priority = kPriority;
    k.supports = std::move(supports);
    k.create = std::move(create);
    r.add(std::move(k));
  };
  add("Conv", "cpu_dnnl_conv", convSupports, [](const LayerDesc& d) { return createDnnlConv(d, false); });
  add("ConvTranspose", "cpu_dnnl_conv_transpose", convSupports,
      [](const LayerDesc& d) { return createDnnlConv(d, true); });
  add("MatMul", "cpu_dnnl_matmul", [](const LayerDesc& d) { return allF32(d) && rankIn(d, 0, 1, 12) && rankIn(d, 1, 1, 12); },
      [](const LayerDesc& d) { return createDnnlMatMul(d, false); });
  add("Gemm", "cpu_dnnl_gemm", [](const LayerDesc& d) { return allF32(d) && rankIn(d, 0, 2, 2) && rankIn(d, 1, 2, 2); },
      [](const LayerDesc& d) { return createDnnlMatMul(d, true); });
  add("MaxPool", "cpu_dnnl_maxpool", poolSupports,
      [](const LayerDesc& d) { return createDnnlPool(d, DnnlPoolKind::kMax); });
  add("AveragePool", "cpu_dnnl_avgpool", poolSupports,
      [](const LayerDesc& d) { return createDnnlPool(d, DnnlPoolKind::kAverage); });
  add("GlobalAveragePool", "cpu_dnnl_global_avgpool", poolSupports,
      [](const LayerDesc& d) { return createDnnlPool(d, DnnlPoolKind::kGlobalAverage); });
  add("FusedConv", "cpu_dnnl_fused_conv", convSupports, createDnnlFusedConv, "kiln");
  add("NhwcMaxPool", "cpu_dnnl_nhwc_maxpool", poolSupports,
      [](const LayerDesc& d) { return createDnnlPool(d, DnnlPoolKind::kMax); }, "kiln");
  add("NhwcAveragePool", "cpu_dnnl_nhwc_avgpool", poolSupports,
      [](const LayerDesc& d) { return createDnnlPool(d, DnnlPoolKind::kAverage); }, "kiln");
  add("NhwcGlobalAveragePool", "cpu_dnnl_nhwc_global_avgpool", poolSupports,
      [](const LayerDesc& d) { return createDnnlPool(d, DnnlPoolKind::kGlobalAverage); }, "kiln");
  add("FusedMatMul", "cpu_dnnl_fused_matmul",
      [](const LayerDesc& d) { return allF32(d) && rankIn(d, 0, 1, 12) && rankIn(d, 1, 1, 12); }, createDnnlFusedMatMul,
      "kiln");
}

}  // namespace kiln::cpu
