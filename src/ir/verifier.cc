// Graph verifier.
#include "ir/verifier.h"

#include <algorithm>
#include <unordered_set>

#include "ir/op_registry.h"

namespace kiln::ir {

Status verifyGraph(const Graph& g) {
  std::unordered_set<const Value*> defined;
  for (const Value* v : g.inputs()) defined.insert(v);
  for (const Value* v : g.constants()) defined.insert(v);
  for (const Node* n : g.nodes()) {
    const std::string ctx = n->describe();
    if (!n->def()) return InternalError("{}: has no op definition", ctx);
    const OpDef& d = *n->def();
    if (n->numInputs() > d.maxInputs && d.maxInputs >= 0)
      return InternalError("{}: {} inputs, at most {} allowed", ctx, n->numInputs(), d.maxInputs);
    for (int i = 0; i < d.minInputs; ++i)
      if (!n->input(i)) return InternalError("{}: required input {} missing", ctx, i);
    for (int i = 0; i < n->numInputs(); ++i) {
      const Value* v = n->input(i);
      if (!v) continue;
      if (!defined.count(v))
        return InternalError("{}: input '{}' is used before it is defined", ctx, v->name());
      if (!v->isTensor() && !d.has(kTraitNonTensor))
        return InternalError("{}: input '{}' is {} but the op takes tensors only", ctx, v->name(),
                             valueTypeName(v->kind(), v->dtype()));
      const auto& uses = v->uses();
      if (std::find(uses.begin(), uses.end(), Use{const_cast<Node*>(n), i}) == uses.end())
        return InternalError("{}: use list of '{}' misses this node", ctx, v->name());
    }
    for (int i = 0; i < n->numOutputs(); ++i) {
      const Value* o = n->output(i);
      if (o->producer() != n || o->producerOutput() != i)
        return InternalError("{}: output {} ('{}') has another producer", ctx, i, o->name());
      if (!defined.insert(o).second) return InternalError("{}: output '{}' defined twice", ctx, o->name());
    }
  }
  for (const Value* o : g.outputs())
    if (!defined.count(o)) return InternalError("graph output '{}' is never produced", o->name());
  return Status::OK();
}

}  // namespace kiln::ir
