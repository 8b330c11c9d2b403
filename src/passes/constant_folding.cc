// Constant folding: a node whose inputs are all constants is evaluated once at build time by the
// target's kernels, and its outputs become constants. Shape arithmetic folds too: an output whose
// value inference knows completely (Shape of a static tensor, Gather/Concat of such) becomes a
// constant even when its inputs are not constants. Random ops never fold; outputs larger than
// PassContext::maxFoldedBytes stay computed.
#include <fmt/format.h>

#include "ir/infer.h"
#include "ir/op_registry.h"
#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

std::optional<Tensor> fromSymbolicValue(const ir::Value* v) {
  const auto& sv = v->symbolicValue();
  if (!sv || v->dtype() != DType::kInt64 || !v->shape().isStatic()) return std::nullopt;
  auto dims = v->shape().toDims();
  if (!dims || dims->numel() != static_cast<int64_t>(sv->size())) return std::nullopt;
  std::vector<int64_t> vals;
  for (const Dim& d : *sv) {
    if (!d.isStatic()) return std::nullopt;
    vals.push_back(d.value());
  }
  return Tensor::fromVector<int64_t>(vals, *dims);
}

class ConstantFolding final : public Pass {
 public:
  const char* name() const override { return "fold-constants"; }
  const char* description() const override { return "evaluate constant subgraphs and shape arithmetic at build time"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    int folded = 0;
    for (ir::Node* n : g.nodes()) {
      if (n->def() && n->def()->has(ir::kTraitRandom)) continue;
      // Shape arithmetic with a fully known value.
      if (n->numOutputs() == 1 && !n->output(0)->isConstant()) {
        if (auto t = fromSymbolicValue(n->output(0))) {
          g.makeConstant(n->output(0), std::move(*t));
          ++folded;
          continue;
        }
      }
      bool allConst = n->numInputs() > 0 || n->opType() == "Constant";
      std::vector<const Tensor*> ins;
      for (const ir::Value* in : n->inputs()) {
        if (in && !in->isConstant()) allConst = false;
        ins.push_back(in ? &in->constant() : nullptr);
      }
      if (!allConst || !ctx.evaluate) continue;
      // An input folded earlier in this pass may decide this node's output shape (ConstantOfShape
      // of a folded Neg): infer again now that the values are known.
      for (const ir::Value* o : n->outputs())
        if (o && !o->shape().numel()) {
          (void)ir::inferNode(g, *n);
          break;
        }
      bool tooBig = false;
      for (const ir::Value* o : n->outputs()) {
        auto numel = o->shape().numel();
        if (!numel || static_cast<uint64_t>(*numel) * dtypeSize(o->dtype()) > ctx.maxFoldedBytes) tooBig = true;
      }
      if (tooBig) continue;
      auto outs = ctx.evaluate(*n, ins);
      if (!outs.ok()) continue;  // a kernel that cannot run here keeps the node (it runs at run time)
      for (int i = 0; i < n->numOutputs(); ++i) g.makeConstant(n->output(i), std::move((*outs)[i]));
      ++folded;
    }
    return PassResult{folded, fmt::format("folded {} nodes into constants", folded)};
  }
};

class DeadNodeElimination final : public Pass {
 public:
  const char* name() const override { return "dead-nodes"; }
  const char* description() const override { return "remove nodes whose outputs reach no graph output"; }
  Result<PassResult> run(ir::Graph& g, const PassContext&) override {
    int removed = g.removeDeadNodes();
    return PassResult{removed, fmt::format("removed {} dead nodes", removed)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeConstantFolding() { return std::make_unique<ConstantFolding>(); }
std::unique_ptr<Pass> makeDeadNodeElimination() { return std::make_unique<DeadNodeElimination>(); }

}  // namespace kiln::passes
