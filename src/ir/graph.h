// The graph IR: a Graph owns Nodes and Values. Values are SSA (one producer); a Value is a graph
// input, a constant (initializer or folded), or a node output. Nodes are kept in topological order
// (topoSort() restores it after edits). Not thread-safe; a built Graph may be read concurrently.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "core/attributes.h"
#include "core/value.h"
#include "kiln/shape.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::ir {

class Node;
struct OpDef;

struct Use {
  Node* node;
  int inputIndex;
  bool operator==(const Use& o) const { return node == o.node && inputIndex == o.inputIndex; }
};

class Value {
 public:
  const std::string& name() const { return name_; }
  // A tensor (almost always), a sequence of tensors, or an optional tensor or sequence. For
  // sequences and optionals, dtype() and shape() describe the elements: the element type, and the
  // shape every element has where known (dims that differ between elements are unknown).
  ValueKind kind() const { return kind_; }
  bool isTensor() const { return kind_ == ValueKind::kTensor; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  void setKind(ValueKind k) { kind_ = k; }
  void setType(DType t) { dtype_ = t; }
  void setShape(Shape s) { shape_ = std::move(s); }

  Node* producer() const { return producer_; }
  int producerOutput() const { return producerOutput_; }
  const std::vector<Use>& uses() const { return uses_; }

  bool isGraphInput() const { return isInput_; }
  bool isConstant() const { return constant_.defined(); }
  const Tensor& constant() const { return constant_; }
  void setConstant(Tensor t);  // also sets dtype and shape from t

  // Known contents of a small integer tensor (rank <= 1) whose elements may be symbolic:
  // what Shape/Gather/Concat chains compute from symbolic input shapes.
  const std::optional<std::vector<Dim>>& symbolicValue() const { return symbolicValue_; }
  void setSymbolicValue(std::optional<std::vector<Dim>> v) { symbolicValue_ = std::move(v); }

 private:
  friend class Graph;
  friend class Node;
  std::string name_;
  ValueKind kind_ = ValueKind::kTensor;
  DType dtype_ = DType::kUndefined;
  Shape shape_ = Shape::unknownRank();
  Node* producer_ = nullptr;
  int producerOutput_ = -1;
  std::vector<Use> uses_;
  bool isInput_ = false;
  Tensor constant_;
  std::optional<std::vector<Dim>> symbolicValue_;
};

class Node {
 public:
  const std::string& name() const { return name_; }
  const std::string& opType() const { return opType_; }
  const std::string& domain() const { return domain_; }  // "" for the default ONNX domain
  int opsetVersion() const { return opset_; }
  const OpDef* def() const { return def_; }

  int numInputs() const { return static_cast<int>(inputs_.size()); }
  int numOutputs() const { return static_cast<int>(outputs_.size()); }
  // nullptr for an omitted optional input.
  Value* input(int i) const { return i < numInputs() ? inputs_[i] : nullptr; }
  Value* output(int i) const { return outputs_[i]; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }

  void setInput(int i, Value* v);  // keeps use lists right; grows the input list as needed
  void addInput(Value* v) { setInput(numInputs(), v); }
  void removeTrailingInputs(int count);

  AttrMap& attrs() { return attrs_; }
  const AttrMap& attrs() const { return attrs_; }

  // Names of the original model nodes this node stands for (itself if not fused).
  const std::vector<std::string>& fusedFrom() const { return fusedFrom_; }
  void setFusedFrom(std::vector<std::string> v) { fusedFrom_ = std::move(v); }

  // "node 'conv1' (Conv, domain ai.onnx, opset 17)": the frame used in error messages.
  std::string describe() const;

 private:
  friend class Graph;
  std::string name_, opType_, domain_;
  int opset_ = 0;
  const OpDef* def_ = nullptr;
  std::vector<Value*> inputs_, outputs_;
  AttrMap attrs_;
  std::vector<std::string> fusedFrom_;
  bool dead_ = false;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }

  // Opset versions imported by the model, by domain ("" = default ONNX domain).
  const std::map<std::string, int>& opsets() const { return opsets_; }
  void setOpset(const std::string& domain, int version) { opsets_[domain] = version; }

  // Values. Names are unique; nullptr when absent.
  Value* findValue(const std::string& name) const;
  Value* addInput(const std::string& name, DType dtype, Shape shape, ValueKind kind = ValueKind::kTensor);
  // Drops `v` from the graph inputs (it stays as a value; for callers that fix an input's value).
  void removeInput(Value* v);
  Value* addConstant(const std::string& name, Tensor t);
  // Frees the name of a value that nothing produces or uses (so a constant can take it).
  void eraseValueName(Value* v);
  // A fresh value with a unique name derived from `hint`.
  Value* newValue(const std::string& hint);
  void addOutput(Value* v) { outputs_.push_back(v); }
  void setOutputs(std::vector<Value*> v) { outputs_ = std::move(v); }
  void replaceOutput(int i, Value* v) { outputs_[i] = v; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  bool isGraphOutput(const Value* v) const;

  // Nodes. The new node's outputs are fresh values named `outputNames` (or derived from the
  // node name when empty strings are given).
  Node* addNode(const std::string& opType, const std::string& domain, int opset,
                const std::string& name, const std::vector<Value*>& inputs,
                const std::vector<std::string>& outputNames, AttrMap attrs = {});
  void setNodeDef(Node* n, const OpDef* def) { n->def_ = def; }
  // Marks the node dead and detaches its inputs; its outputs must have no remaining uses.
  void removeNode(Node* n);
  // Turns a node output into a constant in place: the value keeps its name, uses and graph-output
  // status; its producer gets a fresh, unused value in that output slot.
  void makeConstant(Value* v, Tensor t);
  // Makes output `i` of node `n` (a fresh value nothing uses yet) be `v` instead: `v` keeps its name,
  // uses and graph-output status, and its old producer gets an unused value in that slot. This is
  // how a rewrite replaces a computation without renaming what the model calls its outputs.
  void takeOver(Value* v, Node* n, int i);
  // Redirects every use of `from` (and graph outputs) to `to`.
  void replaceAllUses(Value* from, Value* to);

  // Live nodes in the current order.
  std::vector<Node*> nodes() const;
  size_t numNodes() const;
  // Reorders nodes topologically (stable for already-ordered graphs). Fails on a cycle or an
  // input that nothing produces.
  Status topoSort();
  // Drops nodes whose outputs reach no graph output, and unreferenced constants.
  int removeDeadNodes();

  std::vector<Value*> constants() const;
  std::string uniqueName(const std::string& hint);
  // A fresh symbol name for a data-dependent dimension ("nonzero_count_3").
  std::string newSymbolName(const std::string& hint) {
    return fmt::format("{}_{}", hint.empty() ? "d" : hint, ++symbolCounter_);
  }
  // Upper bounds of data-dependent symbols (in terms of the input shapes), where an op knows one.
  void setSymbolBound(const std::string& symbol, Dim bound) { symbolBounds_[symbol] = std::move(bound); }
  Dim symbolBound(const std::string& symbol) const {
    auto it = symbolBounds_.find(symbol);
    return it == symbolBounds_.end() ? Dim::unknown() : it->second;
  }

 private:
  std::string name_;
  std::map<std::string, int> opsets_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value*> byName_;
  std::vector<Value*> inputs_, outputs_;
  int64_t nameCounter_ = 0;
  int64_t symbolCounter_ = 0;
  std::map<std::string, Dim> symbolBounds_;

  Value* createValue(const std::string& name);
};

}  // namespace kiln::ir
