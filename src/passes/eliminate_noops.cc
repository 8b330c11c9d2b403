// Removes nodes that compute their input unchanged: Identity, inference-mode Dropout (mask
// unused), Cast to the same type, Reshape/Flatten/Squeeze/Unsqueeze/Expand to the same shape,
// identity Transpose, Add/Sub of zero and Mul/Div by one when broadcasting keeps the shape.
// A node whose output is a graph output stays (the output's name is part of the model's contract).
#include <fmt/format.h>

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

// The input that passes through unchanged, or nullptr.
ir::Value* passthrough(const ir::Node* n) {
  const std::string& op = n->opType();
  if (!n->domain().empty() || n->numOutputs() < 1) return nullptr;
  ir::Value* x = n->input(0);
  ir::Value* y = n->output(0);
  if (!x || x->dtype() != y->dtype()) return nullptr;
  if (op == "Identity") return x;
  if (op == "Dropout") {
    if (n->numOutputs() > 1 && !n->output(1)->uses().empty()) return nullptr;
    if (n->input(2)) {  // training_mode must be a constant false
      auto t = scalarValue(n->input(2));
      if (!t || *t != 0) return nullptr;
    }
    return x;
  }
  if (op == "Cast" || op == "CastLike") return x;  // dtypes checked above
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Expand")
    return sameShape(x->shape(), y->shape()) ? x : nullptr;
  if (op == "Transpose") {
    std::vector<int64_t> perm = n->attrs().getInts("perm", {});
    if (perm.empty()) return x->shape().rankKnown() && x->shape().rank() <= 1 ? x : nullptr;
    for (size_t i = 0; i < perm.size(); ++i)
      if (perm[i] != static_cast<int64_t>(i)) return nullptr;
    return x;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    double neutral = (op == "Mul" || op == "Div") ? 1.0 : 0.0;
    // x op c with c neutral (for Sub/Div only on the right).
    ir::Value* a = n->input(0);
    ir::Value* b = n->input(1);
    if (isScalar(b, neutral, 0) && sameShape(a->shape(), y->shape())) return a;
    if ((op == "Add" || op == "Mul") && isScalar(a, neutral, 0) && sameShape(b->shape(), y->shape())) return b;
  }
  return nullptr;
}

class EliminateNoOps final : public Pass {
 public:
  const char* name() const override { return "eliminate-noops"; }
  const char* description() const override {
    return "remove Identity, inference Dropout, no-op Cast/Reshape/Transpose and neutral arithmetic";
  }
  Result<PassResult> run(ir::Graph& g, const PassContext&) override {
    int removed = 0;
    for (ir::Node* n : g.nodes()) {
      ir::Value* x = passthrough(n);
      if (!x) continue;
      ir::Value* y = n->output(0);
      if (g.isGraphOutput(y)) continue;
      g.replaceAllUses(y, x);
      ++removed;
    }
    return PassResult{removed, fmt::format("removed {} no-op nodes", removed)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeEliminateNoOps() { return std::make_unique<EliminateNoOps>(); }

}  // namespace kiln::passes
