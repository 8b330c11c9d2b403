// Epilogue fusions into kiln:FusedConv and kiln:FusedMatMul (float32):
//   Conv(x, W, b) [+ Z] [-> act]            ->  FusedConv(x, W, b, Z) {activation}
//   MatMul(A, B) [+ bias[N]] [-> act]       ->  FusedMatMul(A, B, bias) {activation}
//   MatMul(A, B[K,N]) [+ bias[N]] + R        ->  FusedMatMul(A, B, bias, R)   (R: residual, Y's shape)
//   Gemm(A, B, C) (alpha = beta = 1, no transA, transB only with constant B) -> FusedMatMul
// Z is a residual of the conv output's shape (ResNet's shortcut Add). Activations: Relu,
// LeakyRelu, Clip (constant bounds), Sigmoid, Tanh, HardSwish, Swish(alpha=1) as SiLU, Gelu.
#include <fmt/format.h>

#include "core/activation.h"
#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

bool sameShape(const Shape& a, const Shape& b) {
  if (!a.rankKnown() || !b.rankKnown() || a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i)
    if (!a[i].sameAs(b[i])) return false;
  return true;
}

// The activation a node computes on its first input, with its parameters.
bool activationOf(const ir::Node* n, Activation* act, float* alpha, float* beta) {
  if (!n || !n->domain().empty()) return false;
  const std::string& op = n->opType();
  *alpha = *beta = 0;
  if (op == "Relu") *act = Activation::kRelu;
  else if (op == "LeakyRelu") *act = Activation::kLeakyRelu, *alpha = n->attrs().getFloat("alpha", 0.01f);
  else if (op == "Sigmoid") *act = Activation::kSigmoid;
  else if (op == "Tanh") *act = Activation::kTanh;
  else if (op == "HardSwish") *act = Activation::kHardSwish;
  else if (op == "Swish" && n->attrs().getFloat("alpha", 1.0f) == 1.0f) *act = Activation::kSilu;
  else if (op == "Gelu") *act = n->attrs().getString("approximate", "none") == "tanh" ? Activation::kGeluTanh : Activation::kGeluErf;
  else if (op == "Clip") {
    auto lo = n->input(1) ? scalarValue(n->input(1)) : std::optional<double>(-3.4e38);
    auto hi = n->input(2) ? scalarValue(n->input(2)) : std::optional<double>(3.4e38);
    if (!lo || !hi) return false;
    *act = Activation::kClip, *alpha = static_cast<float>(*lo), *beta = static_cast<float>(*hi);
  } else {
    return false;
  }
  return true;
}

// Follows `out` into a single-use activation; returns the new output and fills act.
ir::Value* takeActivation(ir::Graph& g, ir::Value* out, AttrMap& attrs, std::vector<const ir::Node*>& nodes) {
  ir::Node* a = soleConsumer(g, out);
  Activation act;
  float alpha, beta;
  if (!a || a->input(0) != out || !activationOf(a, &act, &alpha, &beta)) return out;
  attrs.set("activation", AttrValue(activationName(act)));
  attrs.set("activation_alpha", AttrValue(alpha));
  attrs.set("activation_beta", AttrValue(beta));
  nodes.push_back(a);
  return a->output(0);
}

class FuseConvActivation final : public Pass {
 public:
  const char* name() const override { return "fuse-conv"; }
  const char* description() const override { return "Conv + bias + residual Add + activation into FusedConv"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (ctx.supportsOp && !ctx.supportsOp("kiln", "FusedConv")) return PassResult{0, "no FusedConv kernel on this target"};
    int fused = 0;
    for (ir::Node* conv : g.nodes()) {
      if (conv->opType() != "Conv" || !conv->domain().empty() || conv->input(0)->dtype() != DType::kFloat32) continue;
      ir::Value* out = conv->output(0);
      std::vector<const ir::Node*> nodes = {conv};
      ir::Value* residual = nullptr;
      if (ir::Node* add = soleConsumer(g, out); add && add->opType() == "Add" && add->domain().empty()) {
        ir::Value* z = otherInput(add, out);
        if (z && !z->isConstant() && z != out && z->dtype() == DType::kFloat32 && sameShape(z->shape(), out->shape())) {
          residual = z;
          out = add->output(0);
          nodes.push_back(add);
        }
      }
      AttrMap attrs = conv->attrs();
      out = takeActivation(g, out, attrs, nodes);
      if (nodes.size() == 1) continue;  // nothing to fuse
      std::vector<ir::Value*> ins = {conv->input(0), conv->input(1), conv->input(2)};
      if (residual) ins.push_back(residual);
      while (!ins.empty() && ins.back() == nullptr) ins.pop_back();
      if (residual && ins.size() < 4) ins.insert(ins.begin() + 2, nullptr);
      KILN_ASSIGN_OR_RETURN(ir::Node * f, addOp(g, "FusedConv", "kiln", 1, conv->name() + "/fused", ins, attrs, 1,
                                                fusedNames(nodes)));
      g.takeOver(out, f, 0);
      ++fused;
    }
    return PassResult{fused, fmt::format("fused {} convolutions with their epilogues", fused)};
  }
};

class FuseMatMulEpilogue final : public Pass {
 public:
  const char* name() const override { return "fuse-matmul"; }
  const char* description() const override { return "MatMul/Gemm + bias + activation into FusedMatMul"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (ctx.supportsOp && !ctx.supportsOp("kiln", "FusedMatMul")) return PassResult{0, "no FusedMatMul kernel on this target"};
    int fused = 0;
    for (ir::Node* mm : g.nodes()) {
      bool gemm = mm->opType() == "Gemm";
      if ((mm->opType() != "MatMul" && !gemm) || !mm->domain().empty() || mm->input(0)->dtype() != DType::kFloat32) continue;
      ir::Value* a = mm->input(0);
      ir::Value* b = mm->input(1);
      ir::Value* bias = nullptr;
      std::vector<const ir::Node*> nodes = {mm};
      if (gemm) {
        const AttrMap& at = mm->attrs();
        if (at.getInt("transA", 0) || at.getFloat("alpha", 1) != 1.0f || (mm->input(2) && at.getFloat("beta", 1) != 1.0f))
          continue;
        if (at.getInt("transB", 0)) {
          if (!b->isConstant() || b->constant().rank() != 2) continue;
          const Tensor& w = b->constant();  // [N, K] -> [K, N]
          const int64_t n = w.dims()[0], k = w.dims()[1];
          Tensor t = Tensor::allocate(w.dtype(), Dims{k, n});
          for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < k; ++j) t.data<float>()[j * n + i] = w.data<float>()[i * k + j];
          b = g.addConstant(b->name() + "_t", std::move(t));
        }
        if (ir::Value* c = mm->input(2)) {
          if (!c->isConstant() || c->constant().rank() > 2 || (c->constant().rank() == 2 && c->constant().dims()[0] != 1))
            continue;
          bias = c;
        }
      }
      ir::Value* out = mm->output(0);
      const int64_t n = out->shape().rankKnown() && out->shape().rank() > 0 && out->shape()[out->shape().rank() - 1].isStatic()
                            ? out->shape()[out->shape().rank() - 1].value() : -1;
      if (!bias) {
        if (ir::Node* add = soleConsumer(g, out); add && add->opType() == "Add" && add->domain().empty()) {
          ir::Value* c = otherInput(add, out);
          if (c && c->isConstant() && c->dtype() == DType::kFloat32 && n > 0 && c->constant().numel() == n &&
              c->constant().dims().back() == n) {
            bias = c;
            out = add->output(0);
            nodes.push_back(add);
          }
        }
      }
      if (bias && bias->constant().rank() != 1) {
        bias = g.addConstant(bias->name() + "_vec", bias->constant().clone().reshaped(Dims{bias->constant().numel()}));
      }
      // A residual Add of the output's shape (transformers: x + Linear(h)) becomes the GEMM's C,
      // one kernel instead of two. Only behind a 2-D weight (one GEMM, or a strided batch, on
      // the GPU); no activation is taken after it. `out` has this Add as its only consumer, so
      // the residual cannot depend on the MatMul.
      ir::Value* residual = nullptr;
      if (!gemm && b->shape().rankKnown() && b->shape().rank() == 2) {
        if (ir::Node* add = soleConsumer(g, out); add && add->opType() == "Add" && add->domain().empty()) {
          ir::Value* r = otherInput(add, out);
          if (r && r != out && !r->isConstant() && r->dtype() == DType::kFloat32 && sameShape(r->shape(), out->shape()) &&
              sameShape(add->output(0)->shape(), out->shape())) {
            residual = r;
            out = add->output(0);
            nodes.push_back(add);
          }
        }
      }
      AttrMap attrs;
      if (!residual) out = takeActivation(g, out, attrs, nodes);
      if (nodes.size() == 1 && !gemm) continue;  // a plain MatMul stays a MatMul
      std::vector<ir::Value*> ins = {a, b};
      if (bias || residual) ins.push_back(bias);
      if (residual) ins.push_back(residual);
      KILN_ASSIGN_OR_RETURN(ir::Node * f, addOp(g, "FusedMatMul", "kiln", 1, mm->name() + "/fused", ins, attrs, 1,
                                                fusedNames(nodes)));
      g.takeOver(out, f, 0);
      ++fused;
    }
    return PassResult{fused, fmt::format("fused {} matmuls with their epilogues", fused)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFuseConvActivation() { return std::make_unique<FuseConvActivation>(); }
std::unique_ptr<Pass> makeFuseMatMulEpilogue() { return std::make_unique<FuseMatMulEpilogue>(); }

}  // namespace kiln::passes
