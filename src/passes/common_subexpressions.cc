// Common-subexpression elimination: two nodes with the same op, attributes and inputs compute the
// same values; later ones are replaced by the first. Walks in topological order, so whole duplicate
// chains (exporters repeat Shape->Gather->Unsqueeze for every layer) collapse in one pass. Constants
// with identical contents are merged first, so duplicated weights or shape constants don't hide
// duplicates.
#include <map>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "passes/passes.h"
#include "passes/pattern.h"
#include "plan/checksum.h"

namespace kiln::passes {

namespace {

std::string constantKey(const Tensor& t) {
  if (t.dtype() == DType::kString || t.nbytes() > (1u << 20)) return "";
  return fmt::format("{}{}#{:016x}", dtypeName(t.dtype()), t.dims().toString(), plan::xxhash64(t.raw(), t.nbytes()));
}

class CommonSubexpressions final : public Pass {
 public:
  const char* name() const override { return "cse"; }
  const char* description() const override { return "merge identical constants and identical nodes"; }
  Result<PassResult> run(ir::Graph& g, const PassContext&) override {
    int merged = 0;
    // Identical small constants.
    std::map<std::string, ir::Value*> consts;
    for (ir::Value* c : g.constants()) {
      if (c->uses().empty() || g.isGraphOutput(c)) continue;
      std::string k = constantKey(c->constant());
      if (k.empty()) continue;
      auto [it, fresh] = consts.emplace(k, c);
      if (fresh) continue;
      if (std::memcmp(it->second->constant().raw(), c->constant().raw(), c->constant().nbytes()) != 0) continue;
      g.replaceAllUses(c, it->second);
      ++merged;
    }
    // Identical nodes.
    std::map<std::string, ir::Node*> seen;
    for (ir::Node* n : g.nodes()) {
      if (n->def() && n->def()->has(ir::kTraitRandom)) continue;
      std::string key = n->domain() + ":" + n->opType() + "(";
      for (const ir::Value* in : n->inputs()) key += fmt::format("{},", static_cast<const void*>(in));
      key += ")";
      for (const auto& [k, v] : n->attrs().entries()) key += k + "=" + v.toString() + ";";
      key += fmt::format("#{}", n->numOutputs());
      auto [it, fresh] = seen.emplace(key, n);
      if (fresh) continue;
      bool output = false;
      for (ir::Value* o : n->outputs()) output |= g.isGraphOutput(o);
      if (output) continue;
      for (int i = 0; i < n->numOutputs(); ++i) g.replaceAllUses(n->output(i), it->second->output(i));
      ++merged;
    }
    return PassResult{merged, fmt::format("merged {} duplicate constants and nodes", merged)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeCommonSubexpressions() { return std::make_unique<CommonSubexpressions>(); }

}  // namespace kiln::passes
