// The IR's InferContext: reads symbolic shapes and known values off the graph.
#include "ir/infer.h"

namespace kiln::ir {

std::optional<std::vector<Dim>> InferContext::inputSymbolicValue(int i) const {
  if (!hasInput(i)) return std::nullopt;
  const Tensor* t = inputValue(i);
  if (!t || t->rank() > 1 || !(isInteger(t->dtype())) || t->numel() > 64) return std::nullopt;
  std::vector<Dim> v;
  for (int64_t k = 0; k < t->numel(); ++k) v.emplace_back(t->intAt(k));
  return v;
}

namespace {
class GraphInferContext final : public InferContext {
 public:
  GraphInferContext(Graph& g, Node& n) : g_(g), n_(n) {}
  int numInputs() const override { return n_.numInputs(); }
  bool hasInput(int i) const override { return i < n_.numInputs() && n_.input(i) != nullptr; }
  ValueKind inputKind(int i) const override { return hasInput(i) ? n_.input(i)->kind() : ValueKind::kTensor; }
  DType inputType(int i) const override { return n_.input(i)->dtype(); }
  const Shape& inputShape(int i) const override { return n_.input(i)->shape(); }
  const Tensor* inputValue(int i) const override {
    if (!hasInput(i)) return nullptr;
    const Value* v = n_.input(i);
    return v->isConstant() ? &v->constant() : nullptr;
  }
  std::optional<std::vector<Dim>> inputSymbolicValue(int i) const override {
    if (!hasInput(i)) return std::nullopt;
    if (n_.input(i)->symbolicValue()) return n_.input(i)->symbolicValue();
    return InferContext::inputSymbolicValue(i);
  }
  const AttrMap& attrs() const override { return n_.attrs(); }
  int opsetVersion() const override { return n_.opsetVersion(); }
  int numOutputs() const override { return n_.numOutputs(); }
  void setOutput(int i, DType t, Shape s) override {
    if (i >= n_.numOutputs()) return;
    n_.output(i)->setType(t);
    n_.output(i)->setShape(std::move(s));
  }
  void setOutputKind(int i, ValueKind k) override {
    if (i < n_.numOutputs()) n_.output(i)->setKind(k);
  }
  void setOutputSymbolicValue(int i, std::vector<Dim> v) override {
    if (i < n_.numOutputs()) n_.output(i)->setSymbolicValue(std::move(v));
  }
  Dim newSymbol(const std::string& hint, const Dim& bound) override {
    Dim d = Dim::symbol(g_.newSymbolName(hint));
    if (!bound.isUnknown()) g_.setSymbolBound(d.symbolName(), bound);
    return d;
  }
  bool concrete() const override { return false; }

 private:
  Graph& g_;
  Node& n_;
};
}  // namespace

Status inferNode(Graph& g, Node& n) {
  KILN_CHECK(n.def() != nullptr);
  const bool nonTensor = n.def()->has(kTraitNonTensor);
  for (int i = 0; i < n.numInputs(); ++i) {
    const Value* v = n.input(i);
    if (v && v->dtype() == DType::kUndefined)
      return InvalidArgument("{}: input {} ('{}') has no known type", n.describe(), i, v->name());
    if (v && !nonTensor && !v->isTensor())
      return InvalidArgument("{}: input {} ('{}') is {}; this op takes tensors only", n.describe(), i,
                             v->name(), valueTypeName(v->kind(), v->dtype()));
  }
  for (Value* o : n.outputs()) {
    o->setSymbolicValue(std::nullopt);
    o->setKind(ValueKind::kTensor);
  }
  GraphInferContext ctx(g, n);
  KILN_RETURN_IF_ERROR_CTX(n.def()->infer(ctx), n.describe());
  for (int i = 0; i < n.numOutputs(); ++i) {
    if (n.output(i)->dtype() == DType::kUndefined && !n.output(i)->uses().empty())
      return InternalError("{}: inference left output {} without a type", n.describe(), i);
  }
  return Status::OK();
}

Status inferGraph(Graph& g) {
  for (Node* n : g.nodes()) KILN_RETURN_IF_ERROR(inferNode(g, *n));
  return Status::OK();
}

}  // namespace kiln::ir
