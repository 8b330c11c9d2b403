// Chains of data-movement ops: Transpose(Transpose(x, p), q) is one Transpose with the composed
// permutation (none if it is the identity), and a view op (Reshape, Flatten, Squeeze, Unsqueeze)
// feeding another view op is one Reshape to the final shape when that shape is static.
#include <fmt/format.h>

#include "ir/op_registry.h"
#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

bool isView(const ir::Node* n) {
  return n && n->domain().empty() &&
         (n->opType() == "Reshape" || n->opType() == "Flatten" || n->opType() == "Squeeze" || n->opType() == "Unsqueeze");
}

class SimplifyChains final : public Pass {
 public:
  const char* name() const override { return "simplify-chains"; }
  const char* description() const override { return "compose Transpose pairs and collapse Reshape/Squeeze/Unsqueeze chains"; }
  Result<PassResult> run(ir::Graph& g, const PassContext&) override {
    int changes = 0;
    for (ir::Node* outer : g.nodes()) {
      ir::Value* mid = outer->input(0);
      if (!mid) continue;
      if (outer->opType() == "Transpose" && outer->domain().empty()) {
        ir::Node* inner = producerOf(mid, "Transpose");
        if (!inner || !singleUse(g, mid)) continue;
        int r = mid->shape().rankKnown() ? mid->shape().rank() : -1;
        auto p = inner->attrs().getInts("perm", {});
        auto q = outer->attrs().getInts("perm", {});
        if (r < 0) continue;
        if (p.empty()) for (int i = r - 1; i >= 0; --i) p.push_back(i);
        if (q.empty()) for (int i = r - 1; i >= 0; --i) q.push_back(i);
        if (static_cast<int>(p.size()) != r || static_cast<int>(q.size()) != r) continue;
        // out[i] = mid[q[i]] = x[p[q[i]]]
        std::vector<int64_t> comp(r);
        bool identity = true;
        for (int i = 0; i < r; ++i) {
          comp[i] = p[q[i]];
          identity &= comp[i] == i;
        }
        ir::Value* x = inner->input(0);
        if (identity && !(g.isGraphOutput(outer->output(0)) && (x->isGraphInput() || x->isConstant()))) {
          replaceAndRemove(g, outer->output(0), x, {outer, inner});
        } else {
          outer->setInput(0, x);
          outer->attrs().set("perm", AttrValue(comp));
          outer->setFusedFrom(fusedNames({inner, outer}));
          if (mid->uses().empty()) g.removeNode(inner);
        }
        ++changes;
        continue;
      }
      if (isView(outer)) {
        ir::Node* inner = mid->producer();
        if (!isView(inner) || !singleUse(g, mid)) continue;
        auto dims = outer->output(0)->shape().toDims();
        if (!dims) continue;
        ir::Value* shape = g.addConstant(outer->name() + "_shape",
                                         Tensor::fromVector<int64_t>(dims->vec(), Dims{static_cast<int64_t>(dims->rank())}));
        AttrMap noAttrs;
        KILN_ASSIGN_OR_RETURN(ir::Node * r, addOp(g, "Reshape", "", defaultOpset(g), outer->name(), {inner->input(0), shape},
                                                  noAttrs, 1, fusedNames({inner, outer})));
        replaceAndRemove(g, outer->output(0), r->output(0), {outer, inner});
        ++changes;
      }
    }
    return PassResult{changes, fmt::format("simplified {} chains", changes)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeSimplifyChains() { return std::make_unique<SimplifyChains>(); }

}  // namespace kiln::passes
