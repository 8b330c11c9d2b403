// The op registry: every op is declared once as an OpDef (inputs, attributes with defaults,
// traits, type/shape inference, and an import hook that turns older opset forms into the
// canonical one). Inference works on core types only, so the same function serves symbolic
// inference at import/build time and concrete shape computation at run time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/attributes.h"
#include "core/value.h"
#include "kiln/shape.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::ir {

class Graph;
class Node;
class Value;

enum Trait : uint32_t {
  kTraitNone = 0,
  kTraitElementwise = 1u << 0,   // output[i] depends only on input[i] (after broadcasting)
  kTraitBroadcast = 1u << 1,     // numpy-style multidirectional broadcasting of inputs
  kTraitReduction = 1u << 2,
  kTraitView = 1u << 3,          // output is the input's bytes with another shape (Reshape...)
  kTraitShapeOnly = 1u << 4,     // output depends only on input shapes (Shape, Size)
  kTraitCommutative = 1u << 5,
  kTraitDataDependentShape = 1u << 6,  // output shape depends on input values (NonZero...)
  kTraitRandom = 1u << 7,        // not deterministic: never constant-folded
  // Inputs or outputs may be sequences or optionals (core/value.h): `infer` reads inputKind() and
  // sets output kinds. Ops without it take and produce tensors only (inferNode enforces this).
  kTraitNonTensor = 1u << 8,
};

struct AttrDef {
  std::string name;
  AttrKind kind;
  std::optional<AttrValue> dflt;  // filled in at import when absent
  bool required = false;
};

// The inference interface an OpDef sees: input types, shapes and known values; it sets output
// types, shapes and (when computable) values. Implemented by the IR (symbolic) and the runtime
// (concrete, with every input value on the host).
class InferContext {
 public:
  virtual ~InferContext() = default;
  virtual int numInputs() const = 0;
  virtual bool hasInput(int i) const = 0;  // present and not an omitted optional input
  // Tensor, sequence or optional; for the latter two, inputType/inputShape describe the elements.
  // Only ops with kTraitNonTensor ever see a kind other than kTensor.
  virtual ValueKind inputKind(int i) const { (void)i; return ValueKind::kTensor; }
  virtual DType inputType(int i) const = 0;
  virtual const Shape& inputShape(int i) const = 0;
  // The full value when known (constant at build time; always at run time for shape inputs).
  virtual const Tensor* inputValue(int i) const = 0;
  // Elements of a small integer tensor when known, possibly symbolic.
  virtual std::optional<std::vector<Dim>> inputSymbolicValue(int i) const;
  virtual const AttrMap& attrs() const = 0;
  virtual int opsetVersion() const = 0;

  virtual int numOutputs() const = 0;
  virtual void setOutput(int i, DType t, Shape s) = 0;
  // Outputs are tensors unless an op (with kTraitNonTensor) sets another kind; setOutput then
  // gives the element type and shape.
  virtual void setOutputKind(int i, ValueKind k) { (void)i; (void)k; }
  virtual void setOutputSymbolicValue(int i, std::vector<Dim> v) { (void)i; (void)v; }
  // A fresh symbol for a dimension that only the data determines. `bound`, where known, is the
  // largest value it can take as a function of the input shapes (NonZero: the element count);
  // engines size such tensors for it and read the actual size after the producing layer runs.
  virtual Dim newSymbol(const std::string& hint, const Dim& bound) = 0;
  Dim newSymbol(const std::string& hint) { return newSymbol(hint, Dim::unknown()); }
  // True when inference runs with concrete shapes (run time); ops may then compute data-dependent
  // output sizes from inputValue().
  virtual bool concrete() const = 0;

  // Convenience
  int64_t rankOf(int i) const { return inputShape(i).rank(); }
  bool rankKnown(int i) const { return inputShape(i).rankKnown(); }
};

using InferFn = std::function<Status(InferContext&)>;

// Import-time canonicalization: the node is already in the graph with its ONNX attributes and
// inputs (declared defaults not yet filled); the hook may rewrite attributes, add constant inputs,
// or replace the node's outputs by a constant or by values of new nodes and drop the node.
class ImportContext {
 public:
  ImportContext(Graph& g, Node& n, int opset);
  Graph& graph() { return graph_; }
  Node& node() { return node_; }
  int opset() const { return opset_; }
  // Adds a constant and wires it to input `i` (moves old attribute forms to inputs).
  void setConstantInput(int i, Tensor t);
  // Adds a node of a registered op (defaults filled, outputs inferred) before this one.
  Result<Node*> addNode(const std::string& opType, const std::vector<Value*>& inputs,
                        AttrMap attrs, int numOutputs = 1);
  // Replaces output i by a constant / another value; the importer then drops the node.
  void replaceOutputWithConstant(int i, Tensor t);
  void replaceOutput(int i, Value* v);

  // Read by the importer after the hook ran.
  bool nodeReplaced() const { return replaced_; }
  const std::vector<Value*>& replacementValues() const { return replacementValues_; }
  const std::vector<std::optional<Tensor>>& replacementConstants() const { return replacementConstants_; }

 private:
  Graph& graph_;
  Node& node_;
  int opset_;
  bool replaced_ = false;
  std::vector<Value*> replacementValues_;
  std::vector<std::optional<Tensor>> replacementConstants_;
  int added_ = 0;
};
using ImportFn = std::function<Status(ImportContext&)>;

struct OpDef {
  std::string domain;  // "" = ai.onnx
  std::string name;
  int minOpset = 1;    // oldest opset version this definition accepts
  int minInputs = 0, maxInputs = 0;    // maxInputs < 0: variadic
  int minOutputs = 1, maxOutputs = 1;
  std::vector<AttrDef> attrs;
  uint32_t traits = kTraitNone;
  // Inputs whose values decide output shapes (Reshape's shape, Expand's shape...): a backend
  // computes them on the host.
  std::vector<int> shapeInputs;
  InferFn infer;
  ImportFn import;  // optional

  bool has(Trait t) const { return (traits & t) != 0; }
  const AttrDef* findAttr(std::string_view n) const;
};

class OpRegistry {
 public:
  // Registers a definition; aborts on a duplicate (a programming error).
  OpDef& add(OpDef def);
  // A registered definition, for a family that extends an op declared by another family (the
  // sequence family gives Identity its sequence/optional form). Aborts when absent, so the
  // extending family must register after the declaring one.
  OpDef& mutableDef(const std::string& domain, const std::string& name);
  const OpDef* find(const std::string& domain, const std::string& name) const;
  std::vector<const OpDef*> all() const;

  // The registry with every op Kiln supports (built once, immutable afterwards).
  static const OpRegistry& global();

 private:
  std::map<std::pair<std::string, std::string>, std::unique_ptr<OpDef>> defs_;
};

// One registration function per op family; RegisterAllOps calls them all (no static init).
void RegisterAllOps(OpRegistry& r);

// Validates a node's attributes against its OpDef (unknown names, kinds, required ones) and fills
// declared defaults. Ints given where floats are declared are converted.
Status checkAndFillAttributes(const OpDef& def, AttrMap& attrs);

// Normalizes a domain name ("ai.onnx" -> "").
std::string canonicalDomain(const std::string& domain);

}  // namespace kiln::ir
