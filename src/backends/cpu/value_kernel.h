// Value kernels: CPU implementations of ops whose inputs or outputs are sequences or optionals
// (core/value.h). They run in the interpreter only (engines take tensors) and differ from tensor
// kernels (kernel.h) in one way: they produce their outputs themselves, because a sequence's
// length and its elements' shapes are only known when the op runs. A tensor output is fresh
// memory (never an input's); a sequence or optional output may share element tensors with its
// inputs, since values are never modified once produced.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/attributes.h"
#include "core/value.h"
#include "kiln/status.h"

namespace kiln::cpu {

struct ValueKernelContext {
  const AttrMap& attrs;
  std::span<const RuntimeValue* const> inputs;  // nullptr for an omitted optional input
  std::span<RuntimeValue* const> outputs;       // the kernel assigns each one

  int numInputs() const { return static_cast<int>(inputs.size()); }
  bool hasInput(int i) const { return i < numInputs() && inputs[i] != nullptr; }
  const RuntimeValue& in(int i) const { return *inputs[i]; }
  RuntimeValue& out(int i) const { return *outputs[i]; }
};

using ValueKernelFn = Status (*)(const ValueKernelContext& ctx);

struct ValueKernelDef {
  std::string domain;  // "" = ai.onnx
  std::string op;
  std::string tactic;  // "cpu_seq_SequenceAt": reported by Interpreter::tactics()
  ValueKernelFn fn = nullptr;
};

// One value kernel per op (no tactics to choose between). Separate from KernelRegistry, whose
// kernels engines select and time; these never reach an engine.
class ValueKernelRegistry {
 public:
  void add(const std::string& op, ValueKernelFn fn, const std::string& domain = "");
  const ValueKernelDef* find(const std::string& domain, const std::string& op) const;
  std::vector<const ValueKernelDef*> all() const;

  static const ValueKernelRegistry& global();

 private:
  std::map<std::pair<std::string, std::string>, std::unique_ptr<ValueKernelDef>> defs_;
};

// The sequence/optional kernel family (src/backends/cpu/kernels/sequence*.cc).
void RegisterSequenceKernels(ValueKernelRegistry& r);

}  // namespace kiln::cpu
