// Merges the three projections that feed a self-attention layer into one GEMM:
//   Attention(X @ Wq [+ bq], X @ Wk [+ bk], X @ Wv [+ bv], mask)   (3-D form, q/kv_num_heads)
// becomes PackedAttention(X @ [Wq | Wk | Wv] [+ [bq | bk | bv]], mask), whose kernels read Q, K
// and V as column blocks of the merged result. One wider GEMM instead of three (BERT-base: 36 -> 12
// GEMMs), and no copies: the attention kernels take the row stride.
#include <algorithm>

#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

struct Projection {
  ir::Value* x = nullptr;       // the shared input
  const Tensor* w = nullptr;    // [K, N] float32
  const Tensor* bias = nullptr; // [N] (any shape with N elements), or null
  std::vector<const ir::Node*> nodes;
};

// v = X @ W [+ b] with constant W [K, N] and, if present, a constant bias of N values; every link
// single-use (only the attention reads v).
bool projectionOf(const ir::Graph& g, ir::Value* v, Projection* p) {
  if (!singleUse(g, v) || v->dtype() != DType::kFloat32) return false;
  ir::Node* n = v->producer();
  if (!n || !n->domain().empty()) return false;
  if (n->opType() == "Add") {
    for (int i = 0; i < 2; ++i) {
      ir::Node* mm = producerOf(n->input(i), "MatMul");
      ir::Value* b = n->input(1 - i);
      if (!mm || !singleUse(g, n->input(i)) || !b->isConstant() || b->dtype() != DType::kFloat32) continue;
      p->bias = &b->constant();
      p->nodes.push_back(n);
      n = mm;
      break;
    }
    if (n->opType() != "MatMul") return false;
  }
  if (n->opType() != "MatMul") return false;
  ir::Value* w = n->input(1);
  if (!w->isConstant() || w->dtype() != DType::kFloat32 || w->constant().rank() != 2) return false;
  p->x = n->input(0);
  p->w = &w->constant();
  p->nodes.push_back(n);
  const int64_t cols = p->w->dims()[1];
  // A bias that could raise the rank ([1, 1, 1, N]) would change the attention's form: only [N]
  // or [.., 1, N] of rank <= 3.
  return !p->bias || (p->bias->numel() == cols && p->bias->dims().back() == cols && p->bias->rank() <= 3);
}

class PackQkv final : public Pass {
 public:
  const char* name() const override { return "pack-qkv"; }
  const char* description() const override { return "Q/K/V projections of self-attention into one GEMM"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (ctx.supportsOp && !ctx.supportsOp("kiln", "PackedAttention"))
      return PassResult{0, "no PackedAttention kernel on this target"};
    int packed = 0;
    for (ir::Node* att : g.nodes()) {
      if (att->opType() != "Attention" || !att->domain().empty() || att->numInputs() < 3 || att->numInputs() > 4 ||
          !att->attrs().has("q_num_heads") || !att->attrs().has("kv_num_heads"))
        continue;
      bool extraOutputsUsed = false;
      for (int o = 1; o < att->numOutputs(); ++o)
        extraOutputsUsed |= att->output(o) && (!att->output(o)->uses().empty() || g.isGraphOutput(att->output(o)));
      if (extraOutputsUsed || att->attrs().getInt("qk_matmul_output_mode", 0) != 0) continue;
      // The 3-D form only: Q, K, V and the shared X of rank 3 (opset 23/24 also allow the heads
      // attributes on 4-D inputs).
      auto rank3 = [](const ir::Value* v) { return v && v->shape().rankKnown() && v->shape().rank() == 3; };
      if (!rank3(att->input(0)) || !rank3(att->input(1)) || !rank3(att->input(2))) continue;
      Projection pr[3];
      bool ok = true;
      for (int i = 0; i < 3 && ok; ++i) ok = projectionOf(g, att->input(i), &pr[i]);
      if (!ok || pr[1].x != pr[0].x || pr[2].x != pr[0].x || !rank3(pr[0].x)) continue;
      const int64_t k = pr[0].w->dims()[0];
      const int64_t hq = att->attrs().getInt("q_num_heads"), hkv = att->attrs().getInt("kv_num_heads");
      const int64_t nq = pr[0].w->dims()[1], nk = pr[1].w->dims()[1], nv = pr[2].w->dims()[1];
      if (hq <= 0 || hkv <= 0 || nq % hq != 0 || pr[1].w->dims()[0] != k || pr[2].w->dims()[0] != k) continue;
      const int64_t d = nq / hq;
      if (nk != hkv * d || nv != hkv * d) continue;  // one head size for Q, K and V
      // [Wq | Wk | Wv] and the biases alongside (zeros where a projection has none).
      const int64_t n = nq + nk + nv;
      Tensor w = Tensor::allocate(DType::kFloat32, Dims{k, n});
      Tensor b = Tensor::allocate(DType::kFloat32, Dims{n});
      bool anyBias = false;
      int64_t col = 0;
      for (const Projection& p : pr) {
        const int64_t c = p.w->dims()[1];
        for (int64_t r = 0; r < k; ++r)
          std::copy_n(p.w->data<float>() + r * c, c, w.data<float>() + r * n + col);
        if (p.bias) std::copy_n(p.bias->data<float>(), c, b.data<float>() + col);
        else std::fill_n(b.data<float>() + col, c, 0.0f);
        anyBias |= p.bias != nullptr;
        col += c;
      }
      std::vector<const ir::Node*> nodes = {att};
      for (const Projection& p : pr) nodes.insert(nodes.end(), p.nodes.begin(), p.nodes.end());
      ir::Value* wv = g.addConstant(att->name() + "/qkv_weight", std::move(w));
      KILN_ASSIGN_OR_RETURN(ir::Node * mm, addOp(g, "MatMul", "", defaultOpset(g), att->name() + "/qkv", {pr[0].x, wv},
                                                 {}, 1, fusedNames({pr[0].nodes.back(), pr[1].nodes.back(),
                                                                    pr[2].nodes.back()})));
      ir::Value* qkv = mm->output(0);
      if (anyBias) {
        ir::Value* bv = g.addConstant(att->name() + "/qkv_bias", std::move(b));
        KILN_ASSIGN_OR_RETURN(ir::Node * add, addOp(g, "Add", "", defaultOpset(g), att->name() + "/qkv_bias_add",
                                                    {qkv, bv}, {}, 1, fusedNames(nodes)));
        qkv = add->output(0);
      }
      std::vector<ir::Value*> ins = {qkv};
      if (att->numInputs() == 4 && att->input(3)) ins.push_back(att->input(3));
      KILN_ASSIGN_OR_RETURN(ir::Node * pa, addOp(g, "PackedAttention", "kiln", 1, att->name() + "/packed", ins,
                                                 att->attrs(), 1, fusedNames(nodes)));
      g.takeOver(att->output(0), pa, 0);
      ++packed;
    }
    return PassResult{packed, fmt::format("merged the Q/K/V projections of {} attention layers", packed)};
  }
};

}  // namespace

std::unique_ptr<Pass> makePackQkv() { return std::make_unique<PackQkv>(); }

}  // namespace kiln::passes
