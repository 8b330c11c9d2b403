// Pattern helpers.
#include "passes/pattern.h"

#include <algorithm>
#include <cmath>

#include "ir/infer.h"

namespace kiln::passes {

ir::Node* producerOf(const ir::Value* v, const char* op, const char* domain) {
  if (!v || !v->producer()) return nullptr;
  ir::Node* n = v->producer();
  return n->opType() == op && n->domain() == domain ? n : nullptr;
}

bool singleUse(const ir::Graph& g, const ir::Value* v) {
  return v && v->uses().size() == 1 && !g.isGraphOutput(v);
}

ir::Node* soleConsumer(const ir::Graph& g, const ir::Value* v) {
  return singleUse(g, v) ? v->uses()[0].node : nullptr;
}

std::optional<double> scalarValue(const ir::Value* v) {
  if (!v || !v->isConstant()) return std::nullopt;
  const Tensor& t = v->constant();
  if (t.numel() < 1 || t.dtype() == DType::kString) return std::nullopt;
  double first = t.doubleAt(0);
  for (int64_t i = 1; i < t.numel(); ++i)
    if (t.doubleAt(i) != first) return std::nullopt;
  return first;
}

bool isScalar(const ir::Value* v, double x, double tol) {
  auto s = scalarValue(v);
  return s && std::fabs(*s - x) <= tol * std::max(1.0, std::fabs(x));
}

ir::Value* otherInput(const ir::Node* n, const ir::Value* known) {
  if (n->numInputs() != 2) return nullptr;
  return n->input(0) == known ? n->input(1) : n->input(1) == known ? n->input(0) : nullptr;
}

Result<ir::Node*> addOp(ir::Graph& g, const std::string& op, const std::string& domain, int opset,
                        const std::string& name, const std::vector<ir::Value*>& inputs, AttrMap attrs,
                        int numOutputs, std::vector<std::string> fusedFrom) {
  const ir::OpDef* def = ir::OpRegistry::global().find(domain, op);
  if (!def) return InternalError("pass created unknown op {}:{}", domain, op);
  KILN_RETURN_IF_ERROR(ir::checkAndFillAttributes(*def, attrs));
  ir::Node* n = g.addNode(op, domain, opset, g.uniqueName(name), inputs, std::vector<std::string>(numOutputs, ""),
                          std::move(attrs));
  g.setNodeDef(n, def);
  if (!fusedFrom.empty()) n->setFusedFrom(std::move(fusedFrom));
  KILN_RETURN_IF_ERROR(ir::inferNode(g, *n));
  return n;
}

std::vector<std::string> fusedNames(const std::vector<const ir::Node*>& nodes) {
  std::vector<std::string> out;
  for (const ir::Node* n : nodes)
    for (const auto& s : n->fusedFrom())
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  return out;
}

void replaceAndRemove(ir::Graph& g, ir::Value* oldValue, ir::Value* newValue, const std::vector<ir::Node*>& dead) {
  // A graph output keeps its name: when only the dead nodes use newValue, its producer takes over
  // oldValue itself.
  bool onlyDeadUse = newValue->producer() && !g.isGraphOutput(newValue);
  for (const ir::Use& u : newValue->uses())
    onlyDeadUse &= std::find(dead.begin(), dead.end(), u.node) != dead.end();
  if (g.isGraphOutput(oldValue) && onlyDeadUse) {
    for (ir::Node* d : dead)
      for (int i = 0; i < d->numInputs(); ++i)
        if (d->input(i) == newValue) d->setInput(i, nullptr);
    g.takeOver(oldValue, newValue->producer(), newValue->producerOutput());
  } else {
    g.replaceAllUses(oldValue, newValue);
  }
  // Remove consumers before producers: a node can go once none of its outputs is used.
  std::vector<ir::Node*> pending = dead;
  bool progress = true;
  while (!pending.empty() && progress) {
    progress = false;
    for (auto it = pending.begin(); it != pending.end();) {
      bool used = false;
      for (ir::Value* o : (*it)->outputs()) used |= !o->uses().empty() || g.isGraphOutput(o);
      if (used) {
        ++it;
        continue;
      }
      g.removeNode(*it);
      it = pending.erase(it);
      progress = true;
    }
  }
}

int defaultOpset(const ir::Graph& g) {
  auto it = g.opsets().find("");
  return it == g.opsets().end() ? 17 : it->second;
}

}  // namespace kiln::passes
