// Folds the head split and merge around an Attention layer into the layer itself, using ONNX
// Attention's 3-D form ([batch, seq, heads * head_dim] with q_num_heads / kv_num_heads):
//   Q4 = Transpose(Reshape(Xq, [B, S, H, D]), [0,2,1,3])        (likewise K4 from Xk, V4 from Xv)
//   Y  = Reshape(Transpose(Attention(Q4, K4, V4, mask), [0,2,1,3]), [B, S, H * Dv])
// becomes Y = Attention(Xq, Xk, Xv, mask) {q_num_heads = H, kv_num_heads = Hkv}.
// Transformer exports (BERT, GPT) spell every attention block this way; on the GPU the split and
// merge were 8 copy kernels per block (96 of BERT-base's 255 layers), while the attention kernels
// read the 3-D layout through strides at no cost.
#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

bool isPerm0213(const ir::Node* t) {
  return t && t->attrs().getInts("perm", {}) == std::vector<int64_t>{0, 2, 1, 3};
}

bool sameDim(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return a.value() == b.value();
  return a.isSymbolic() && b.isSymbolic() && a.symbolName() == b.symbolName();
}

bool hasRank(const ir::Value* v, int r) { return v && v->shape().rankKnown() && v->shape().rank() == r; }

// For in = Transpose(Reshape(X, [B, S, H, D]), [0,2,1,3]) with X = [B, S, H*D] and single-use
// links: X, with *heads = H. Else nullptr.
ir::Value* splitSource(const ir::Graph& g, ir::Value* in, int64_t* heads, std::vector<const ir::Node*>* nodes) {
  ir::Node* t = producerOf(in, "Transpose");
  if (!isPerm0213(t) || !singleUse(g, in)) return nullptr;
  ir::Node* r = producerOf(t->input(0), "Reshape");
  if (!r || !singleUse(g, t->input(0))) return nullptr;
  ir::Value* x = r->input(0);
  const ir::Value* split = r->output(0);
  if (!hasRank(x, 3) || !hasRank(split, 4)) return nullptr;
  const Shape &xs = x->shape(), &ss = split->shape();
  if (!sameDim(xs[0], ss[0]) || !sameDim(xs[1], ss[1]) || !xs[2].isStatic() || !ss[2].isStatic() ||
      !ss[3].isStatic() || xs[2].value() != ss[2].value() * ss[3].value())
    return nullptr;
  *heads = ss[2].value();
  nodes->push_back(t);
  nodes->push_back(r);
  return x;
}

class FoldAttentionHeads final : public Pass {
 public:
  const char* name() const override { return "fold-attention-heads"; }
  const char* description() const override {
    return "head split/merge Reshape+Transpose around Attention into its 3-D form";
  }
  Result<PassResult> run(ir::Graph& g, const PassContext&) override {
    int folded = 0;
    for (ir::Node* att : g.nodes()) {
      if (att->opType() != "Attention" || !att->domain().empty() || att->numInputs() < 3 || att->numInputs() > 4)
        continue;
      bool extraOutputsUsed = false;
      for (int o = 1; o < att->numOutputs(); ++o)
        extraOutputsUsed |= att->output(o) && (!att->output(o)->uses().empty() || g.isGraphOutput(att->output(o)));
      if (extraOutputsUsed || att->attrs().has("q_num_heads")) continue;
      std::vector<const ir::Node*> nodes = {att};
      int64_t hq = 0, hk = 0, hv = 0;
      ir::Value* xq = splitSource(g, att->input(0), &hq, &nodes);
      ir::Value* xk = xq ? splitSource(g, att->input(1), &hk, &nodes) : nullptr;
      ir::Value* xv = xk ? splitSource(g, att->input(2), &hv, &nodes) : nullptr;
      if (!xv || hk != hv) continue;
      // The merge: Reshape(Transpose(Y, [0,2,1,3]), [B, S, Hq * Dv]).
      ir::Value* y = att->output(0);
      ir::Node* t = soleConsumer(g, y);
      if (!t || t->opType() != "Transpose" || !t->domain().empty() || !isPerm0213(t)) continue;
      ir::Node* r = soleConsumer(g, t->output(0));
      if (!r || r->opType() != "Reshape" || !r->domain().empty() || r->input(0) != t->output(0)) continue;
      const ir::Value* merged = r->output(0);
      if (!hasRank(y, 4) || !hasRank(merged, 3)) continue;
      const Shape &ys = y->shape(), &ms = merged->shape();
      if (!sameDim(ys[0], ms[0]) || !sameDim(ys[2], ms[1]) || !ys[1].isStatic() || !ys[3].isStatic() ||
          !ms[2].isStatic() || ys[1].value() != hq || ms[2].value() != hq * ys[3].value())
        continue;
      nodes.push_back(t);
      nodes.push_back(r);
      AttrMap a = att->attrs();
      a.set("q_num_heads", AttrValue(hq));
      a.set("kv_num_heads", AttrValue(hk));
      std::vector<ir::Value*> ins = {xq, xk, xv};
      if (att->numInputs() == 4 && att->input(3)) ins.push_back(att->input(3));
      KILN_ASSIGN_OR_RETURN(ir::Node * n, addOp(g, "Attention", "", att->opsetVersion(), att->name() + "/3d", ins,
                                                std::move(a), 1, fusedNames(nodes)));
      if (!hasRank(n->output(0), 3)) continue;  // the pass manager removes the unused node
      g.takeOver(r->output(0), n, 0);
      ++folded;
    }
    return PassResult{folded, fmt::format("folded the head split/merge of {} attention layers", folded)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFoldAttentionHeads() { return std::make_unique<FoldAttentionHeads>(); }

}  // namespace kiln::passes
