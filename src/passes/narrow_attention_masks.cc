// Attention masks in their narrowest broadcast form. The Attention layer broadcasts its mask over
// [B, H, Sq, Skv], so a mask that was only widened on the way there (And with a tensor that is all
// true, Expand) can be replaced by the tensor before the widening. PyTorch 2.x exports of BERT
// build the padding mask as
//   Where(And(allTrue[1, 1, S, 1], paddingMask[B, 1, 1, S]), 0, -max)   -> [B, 1, S, S]
// where allTrue = (Range(0, S, 1) >= 0) (or that constant-folded): narrowed, the mask is
// [B, 1, 1, S], which the kernels read once per key instead of once per score, and the And and
// the S-times-wider Where are gone.
//
// All-true is proven, never assumed: a constant whose elements are all true, And/Or of all-true
// tensors, views of one, or a comparison x >= c / x > c where a lower bound of x (from Range with a
// constant start and a positive constant step, constants, views, Max) decides it.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

bool isOp(const ir::Node* n, const char* op) { return n && n->domain().empty() && n->opType() == op; }

// Ops whose output holds exactly the values of input 0 (rearranged or repeated).
bool isValuePreservingView(const ir::Node* n) {
  return isOp(n, "Unsqueeze") || isOp(n, "Squeeze") || isOp(n, "Reshape") || isOp(n, "Flatten") ||
         isOp(n, "Expand") || isOp(n, "Identity") || isOp(n, "Transpose");
}

// A lower bound of every element of `v`, when one can be shown.
std::optional<double> lowerBound(const ir::Value* v, int depth = 0) {
  if (!v || depth > 16) return std::nullopt;
  if (v->isConstant()) {
    const Tensor& t = v->constant();
    if (t.numel() < 1 || t.dtype() == DType::kString) return std::nullopt;
    double lo = t.doubleAt(0);
    for (int64_t i = 1; i < t.numel(); ++i) lo = std::min(lo, t.doubleAt(i));
    return lo;
  }
  const ir::Node* n = v->producer();
  if (!n) return std::nullopt;
  if (isValuePreservingView(n)) return lowerBound(n->input(0), depth + 1);
  if (isOp(n, "Range")) {
    // Range(start, limit, delta) = start, start + delta, ... : start is the least when delta > 0.
    auto start = scalarValue(n->input(0)), delta = scalarValue(n->input(2));
    if (start && delta && *delta > 0) return start;
    return std::nullopt;
  }
  if (isOp(n, "Max")) {
    std::optional<double> best;
    for (const ir::Value* in : n->inputs())
      if (auto b = lowerBound(in, depth + 1)) best = best ? std::max(*best, *b) : *b;
    return best;
  }
  return std::nullopt;
}

// True if every element of the bool tensor `v` is provably true.
bool allTrue(const ir::Value* v, int depth = 0) {
  if (!v || v->dtype() != DType::kBool || depth > 16) return false;
  if (v->isConstant()) {
    auto s = scalarValue(v);
    return s && *s != 0;
  }
  const ir::Node* n = v->producer();
  if (!n) return false;
  if (isValuePreservingView(n)) return allTrue(n->input(0), depth + 1);
  if (isOp(n, "And")) return allTrue(n->input(0), depth + 1) && allTrue(n->input(1), depth + 1);
  if (isOp(n, "Or")) return allTrue(n->input(0), depth + 1) || allTrue(n->input(1), depth + 1);
  const bool ge = isOp(n, "GreaterOrEqual"), gt = isOp(n, "Greater");
  const bool le = isOp(n, "LessOrEqual"), lt = isOp(n, "Less");
  if (ge || gt || le || lt) {
    // x >= c, x > c, c <= x, c < x
    const ir::Value* x = (ge || gt) ? n->input(0) : n->input(1);
    const ir::Value* c = (ge || gt) ? n->input(1) : n->input(0);
    auto bound = scalarValue(c);
    auto lo = lowerBound(x);
    if (!bound || !lo) return false;
    return (ge || le) ? *lo >= *bound : *lo > *bound;
  }
  return false;
}

class NarrowAttentionMasks final : public Pass {
 public:
  const char* name() const override { return "narrow-attention-masks"; }
  const char* description() const override {
    return "attention masks widened by And(all-true)/Expand read in their narrow broadcast form";
  }
  Result<PassResult> run(ir::Graph& g, const PassContext&) override {
    int changes = 0;
    std::map<ir::Value*, ir::Value*> narrowed;  // one narrow mask per shared wide one
    for (ir::Node* att : g.nodes()) {
      if (!isOp(att, "Attention") || att->numInputs() < 4 || !att->input(3)) continue;
      ir::Value* mask = att->input(3);
      auto it = narrowed.find(mask);
      if (it == narrowed.end()) {
        KILN_ASSIGN_OR_RETURN(ir::Value * n, narrow(g, mask, 0));
        it = narrowed.emplace(mask, n).first;
      }
      if (!it->second) continue;
      att->setInput(3, it->second);
      ++changes;
    }
    // The wide mask's producers are dead now where nothing else reads them (dead-node elimination).
    return PassResult{changes, fmt::format("narrowed the masks of {} attention layers", changes)};
  }

 private:
  // A tensor that broadcasts to the same values as `m` wherever `m` is broadcast (every dim of the
  // result is 1 or m's), of the same rank; nullptr if none narrower is found.
  static Result<ir::Value*> narrow(ir::Graph& g, ir::Value* m, int depth) {
    if (!m || depth > 8 || !m->shape().rankKnown()) return nullptr;
    ir::Node* n = m->producer();
    if (!n) return nullptr;
    auto sameRank = [&](const ir::Value* x) {
      return x && x->shape().rankKnown() && x->shape().rank() == m->shape().rank() ? x : nullptr;
    };
    auto narrowOrSelf = [&](ir::Value* x) -> Result<ir::Value*> {
      KILN_ASSIGN_OR_RETURN(ir::Value * r, narrow(g, x, depth + 1));
      return r ? r : x;
    };
    if (isOp(n, "And")) {
      for (int i = 0; i < 2; ++i) {
        ir::Value* other = n->input(1 - i);
        if (!allTrue(n->input(i)) || !sameRank(other)) continue;
        return narrowOrSelf(other);  // And(true, y) = y, broadcast
      }
      return nullptr;
    }
    if (isOp(n, "Expand")) {
      if (!sameRank(n->input(0))) return nullptr;
      return narrowOrSelf(n->input(0));
    }
    if (isOp(n, "Where")) {
      // Where(c, a, b) with scalar a and b: element-wise in c, so it narrows with c.
      auto a = n->input(1), b = n->input(2);
      if (!scalarValue(a) || !scalarValue(b) || !a->shape().isStatic() || !b->shape().isStatic() ||
          a->shape().numel().value_or(0) != 1 || b->shape().numel().value_or(0) != 1)
        return nullptr;
      KILN_ASSIGN_OR_RETURN(ir::Value * c, narrow(g, n->input(0), depth + 1));
      if (!c || !sameRank(c)) return nullptr;
      KILN_ASSIGN_OR_RETURN(ir::Node * w, addOp(g, "Where", "", n->opsetVersion(), n->name() + "/narrow", {c, a, b},
                                                 AttrMap{}, 1, fusedNames({n})));
      return w->output(0);
    }
    if (isOp(n, "Cast")) {
      KILN_ASSIGN_OR_RETURN(ir::Value * x, narrow(g, n->input(0), depth + 1));
      if (!x) return nullptr;
      KILN_ASSIGN_OR_RETURN(ir::Node * c, addOp(g, "Cast", "", n->opsetVersion(), n->name() + "/narrow", {x},
                                                 n->attrs(), 1, fusedNames({n})));
      return c->output(0);
    }
    return nullptr;
  }
};

}  // namespace

std::unique_ptr<Pass> makeNarrowAttentionMasks() { return std::make_unique<NarrowAttentionMasks>(); }

}  // namespace kiln::passes
