// Scaled dot-product attention from its decomposed form (BERT/GPT exports) into one ONNX
// Attention layer (opset 23 semantics, 4-D inputs [batch, heads, seq, head_dim]):
//   scores = (Q @ K^T) * scale   (Div by a constant, Mul by a constant, or none)
//   scores = scores + mask       (optional, broadcastable to [B, H, Sq, Skv])
//   Y      = Softmax(scores, axis=-1) @ V
// K^T is Transpose(K, [0,1,3,2]), or Transpose(K', [0,2,3,1]) of the [B, S, H, D] projection, in
// which case K = Transpose(K', [0,2,1,3]) is made for the fused layer, or (PyTorch 2.x exports)
// Reshape(Transpose(Reshape(K, [B*H, S, D]), [0,2,1]), [B, H, D, S]). PyTorch 2.x's SDPA export
// also scales Q and K^T by sqrt(scale) each, and guards the probabilities with
// Where(IsNaN(P), 0, P) (fully masked rows): the Attention op gives zeros there too.
#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

bool isPerm(const ir::Node* t, std::initializer_list<int64_t> p) {
  if (!t) return false;
  auto perm = t->attrs().getInts("perm", {});
  return perm == std::vector<int64_t>(p);
}

bool rank4(const ir::Value* v) { return v && v->shape().rankKnown() && v->shape().rank() == 4; }

bool sameDim(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return a.value() == b.value();
  return a.isSymbolic() && b.isSymbolic() && a.symbolName() == b.symbolName();
}

// K for K^T = Reshape(Transpose(Reshape(K, [B*H, S, D]), [0,2,1]), [B, H, D, S]), else nullptr.
ir::Value* keyOfReshapedTranspose(const ir::Value* kt) {
  ir::Node* r2 = producerOf(kt, "Reshape");
  if (!r2 || !rank4(kt)) return nullptr;
  ir::Node* t = producerOf(r2->input(0), "Transpose");
  if (!t || !isPerm(t, {0, 2, 1})) return nullptr;
  ir::Node* r1 = producerOf(t->input(0), "Reshape");
  if (!r1) return nullptr;
  ir::Value* k = r1->input(0);
  if (!rank4(k)) return nullptr;
  const Shape& ks = k->shape();
  const Shape& ts = kt->shape();
  // [B, H, S, D] -> [B, H, D, S]
  if (!sameDim(ks[0], ts[0]) || !sameDim(ks[1], ts[1]) || !sameDim(ks[2], ts[3]) || !sameDim(ks[3], ts[2]))
    return nullptr;
  return k;
}

// The probabilities P if `v` is Where(IsNaN(P), 0, P), else nullptr.
ir::Value* unguardedProbabilities(const ir::Graph& g, const ir::Value* v, std::vector<const ir::Node*>* nodes) {
  ir::Node* w = producerOf(v, "Where");
  if (!w) return nullptr;
  ir::Value* p = w->input(2);
  ir::Node* isnan = producerOf(w->input(0), "IsNaN");
  auto zero = scalarValue(w->input(1));
  if (!isnan || isnan->input(0) != p || !zero || *zero != 0.0 || !singleUse(g, w->input(0))) return nullptr;
  if (p->uses().size() != 2) return nullptr;  // only the IsNaN and the Where read P
  nodes->push_back(w);
  nodes->push_back(isnan);
  return p;
}

class FuseAttention final : public Pass {
 public:
  const char* name() const override { return "fuse-attention"; }
  const char* description() const override { return "scaled dot-product attention (with or without mask) into Attention"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (ctx.supportsOp && !ctx.supportsOp("", "Attention")) return PassResult{0, "no Attention kernel on this target"};
    int fused = 0;
    for (ir::Node* pv : g.nodes()) {
      if (pv->opType() != "MatMul" || !pv->domain().empty()) continue;
      std::vector<const ir::Node*> guard;
      ir::Value* probs = pv->input(0);
      if (ir::Value* p = unguardedProbabilities(g, probs, &guard)) probs = p;
      ir::Node* sm = producerOf(probs, "Softmax");
      ir::Value* v = pv->input(1);
      if (!sm || (guard.empty() && !singleUse(g, sm->output(0))) || !rank4(v) || !rank4(pv->output(0))) continue;
      int64_t axis = sm->attrs().getInt("axis", -1);
      if (axis != -1 && axis != 3) continue;
      std::vector<const ir::Node*> nodes = {sm, pv};
      nodes.insert(nodes.end(), guard.begin(), guard.end());
      ir::Value* s = sm->input(0);
      ir::Value* mask = nullptr;
      // GPT-style masking: Where(keep, scores, -large) keeps where the boolean mask is true.
      if (ir::Node* w = producerOf(s, "Where"); w && singleUse(g, s) && w->input(0)->dtype() == DType::kBool) {
        auto fill = scalarValue(w->input(2));
        ir::Node* p = w->input(1)->producer();
        if (fill && *fill <= -1e4 && p && p->domain().empty() &&
            (p->opType() == "MatMul" || p->opType() == "Div" || p->opType() == "Mul")) {
          s = w->input(1);
          mask = w->input(0);
          nodes.push_back(w);
        } else {
          continue;
        }
      } else if (ir::Node* add = producerOf(s, "Add"); add && singleUse(g, s)) {
        // Which side is the scores: the one produced by the (scaled) QK^T MatMul.
        for (int i = 0; i < 2; ++i) {
          ir::Value* cand = add->input(i);
          ir::Node* p = cand->producer();
          if (p && p->domain().empty() && (p->opType() == "MatMul" || p->opType() == "Div" || p->opType() == "Mul")) {
            s = cand;
            mask = add->input(1 - i);
            break;
          }
        }
        if (!mask) continue;
        nodes.push_back(add);
      }
      double scale = 1.0;
      if (ir::Node* d = producerOf(s, "Div"); d && singleUse(g, s)) {
        auto c = scalarValue(d->input(1));
        if (!c || *c == 0) continue;
        scale = 1.0 / *c;
        s = d->input(0);
        nodes.push_back(d);
      } else if (ir::Node* m = producerOf(s, "Mul"); m && singleUse(g, s)) {
        auto c0 = scalarValue(m->input(0)), c1 = scalarValue(m->input(1));
        if (c1) scale = *c1, s = m->input(0);
        else if (c0) scale = *c0, s = m->input(1);
        else continue;
        nodes.push_back(m);
      }
      ir::Node* qk = producerOf(s, "MatMul");
      if (!qk || !singleUse(g, s)) continue;
      nodes.push_back(qk);
      ir::Value* q = qk->input(0);
      ir::Value* ktVal = qk->input(1);
      // sqrt(scale) on each side (PyTorch 2.x): Mul(Q, c) @ Mul(K^T, c').
      {
        ir::Node* mq = producerOf(q, "Mul");
        ir::Node* mk = producerOf(ktVal, "Mul");
        auto factor = [](ir::Node* m, ir::Value** x) -> std::optional<double> {
          if (!m) return std::nullopt;
          if (auto c = scalarValue(m->input(1))) return *x = m->input(0), c;
          if (auto c = scalarValue(m->input(0))) return *x = m->input(1), c;
          return std::nullopt;
        };
        ir::Value *qIn = nullptr, *kIn = nullptr;
        auto fq = factor(mq, &qIn), fk = factor(mk, &kIn);
        if (fq && fk && singleUse(g, q) && singleUse(g, ktVal) && scale == 1.0) {
          scale = *fq * *fk;
          nodes.push_back(mq);
          nodes.push_back(mk);
          q = qIn;
          ktVal = kIn;
        }
      }
      ir::Node* kt = producerOf(ktVal, "Transpose");
      ir::Value* reshapedKey = kt ? nullptr : keyOfReshapedTranspose(ktVal);
      if (!rank4(q) || (!kt && !reshapedKey)) continue;
      ir::Value* k = nullptr;
      if (reshapedKey) {
        k = reshapedKey;
      } else if (isPerm(kt, {0, 1, 3, 2})) {
        k = kt->input(0);
      } else if (isPerm(kt, {0, 2, 3, 1})) {
        AttrMap a;
        a.set("perm", AttrValue(std::vector<int64_t>{0, 2, 1, 3}));
        KILN_ASSIGN_OR_RETURN(ir::Node * kn, addOp(g, "Transpose", "", defaultOpset(g), kt->name() + "/bhsd",
                                                   {kt->input(0)}, a, 1, fusedNames({kt})));
        k = kn->output(0);
      } else {
        continue;
      }
      if (kt && singleUse(g, ktVal)) nodes.push_back(kt);
      if (!rank4(k) || (mask && !isFloat(mask->dtype()) && mask->dtype() != DType::kBool)) continue;
      if (q->dtype() != k->dtype() || q->dtype() != v->dtype() || (mask && isFloat(mask->dtype()) && mask->dtype() != q->dtype()))
        continue;
      AttrMap a;
      a.set("scale", AttrValue(static_cast<float>(scale)));
      std::vector<ir::Value*> ins = {q, k, v};
      if (mask) ins.push_back(mask);
      KILN_ASSIGN_OR_RETURN(ir::Node * att, addOp(g, "Attention", "", std::max(23, defaultOpset(g)),
                                                  pv->name() + "/attention", ins, a, 1, fusedNames(nodes)));
      if (!att->output(0)->shape().rankKnown()) continue;
      g.takeOver(pv->output(0), att, 0);
      ++fused;
    }
    return PassResult{fused, fmt::format("fused {} attention blocks", fused)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFuseAttention() { return std::make_unique<FuseAttention>(); }

}  // namespace kiln::passes
