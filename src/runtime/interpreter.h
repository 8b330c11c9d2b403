// The reference executor: runs an ir::Graph node by node on the CPU, computing shapes from the
// actual inputs and allocating every intermediate. It is the semantic baseline that engines are
// compared against (and what `kiln run model.onnx` used before engines existed). It also runs
// graphs with sequence and optional values (core/value.h), which engines refuse: nodes that touch
// them run value kernels (backends/cpu/value_kernel.h) instead of tensor kernels.
#pragma once

#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpu/kernel.h"
#include "backends/cpu/value_kernel.h"
#include "core/value.h"
#include "ir/graph.h"

namespace kiln::runtime {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// A tensor, a sequence or an optional, by name (for graphs with sequence/optional inputs or
// outputs).
struct NamedValue {
  std::string name;
  RuntimeValue value;
};

struct InterpreterOptions {
  // Op type -> tactic name to use instead of the default choice (tests compare tactics this way).
  // Nodes that run value kernels (sequences, optionals) have one implementation and ignore it.
  std::map<std::string, std::string> tacticOverrides;
  // Fill outputs with garbage (0xFF bytes: NaN for floats) before each kernel runs, so a kernel
  // that leaves elements unwritten fails its test instead of passing on zeroed memory.
  bool poisonOutputs = false;
};

class Interpreter {
 public:
  // Picks the highest-priority CPU kernel supporting each node (or the override). Fails
  // (Unsupported) naming the first node without one.
  static Result<std::unique_ptr<Interpreter>> create(std::shared_ptr<const ir::Graph> graph,
                                                     const InterpreterOptions& opts = {});

  // Runs the graph. Inputs are matched by name; each must be given exactly once with the graph
  // input's dtype and a shape compatible with its declared dims. Outputs come in graph order.
  // Fails when a graph input or output is a sequence or an optional: those need runValues().
  Status run(const std::vector<NamedTensor>& inputs, std::vector<NamedTensor>* outputs) const;
  // Runs a graph whose inputs and outputs may be sequences or optionals (tensors too). Outputs
  // never share memory with inputs or constants.
  Status runValues(const std::vector<NamedValue>& inputs, std::vector<NamedValue>* outputs) const;

  const ir::Graph& graph() const { return *graph_; }
  // The tactic chosen for each node, in execution order.
  std::vector<std::pair<const ir::Node*, std::string>> tactics() const;

 private:
  struct Step {
    const ir::Node* node;
    const cpu::KernelDef* def;                  // a tensor kernel, or
    const cpu::ValueKernelDef* valueDef;        // a value kernel (sequences, optionals)
    std::unique_ptr<cpu::Kernel> kernel;
    std::vector<const ir::Value*> freeAfter;
    std::unique_ptr<cpu::KernelState> state;  // the interpreter runs one thread: one state
    std::unique_ptr<std::mutex> mu;           // guards `state` if run() is called concurrently
  };
  std::shared_ptr<const ir::Graph> graph_;
  std::vector<Step> steps_;
  InterpreterOptions opts_;
};

// Checks a tensor against a declared input (dtype, rank, static dims); error names the input.
Status checkInputAgainst(const ir::Value& declared, const Tensor& t);
// The same for any value: kind, element type, and every element's shape.
Status checkInputAgainst(const ir::Value& declared, const RuntimeValue& v);

}  // namespace kiln::runtime
