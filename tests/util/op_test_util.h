// Test helpers: run one op through the importer's path (attribute defaults, inference) and the
// CPU interpreter with a chosen tactic; random tensors; closeness checks.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "core/attributes.h"
#include "kiln/tensor.h"
#include "runtime/interpreter.h"

namespace kiln::testing {

struct OpSpec {
  std::string op;
  AttrMap attrs;
  std::vector<Tensor> inputs;      // an undefined Tensor = omitted optional input
  std::vector<bool> constInputs;   // true = pass input i as a constant (weights); default: none
  int numOutputs = 1;
  int opset = 21;
  std::string domain;
};

// Runs the op; `tactic` forces a kernel ("" = the default choice).
Result<std::vector<Tensor>> runOp(const OpSpec& spec, const std::string& tactic = "");

// Imports an ONNX model from its bytes and runs it in the reference interpreter (what engines
// are compared with).
Result<std::vector<runtime::NamedTensor>> interpretModel(const std::string& modelBytes,
                                                         const std::vector<runtime::NamedTensor>& inputs);

// Uniform random values in [lo, hi) (integers: rounded), any numeric dtype.
Tensor randomTensor(DType t, const Dims& d, std::mt19937& rng, double lo = -1.0, double hi = 1.0);

// ||a-b|| / ||b|| over all elements (as doubles).
double relativeL2(const Tensor& a, const Tensor& b);
// Max |a-b|.
double maxAbsDiff(const Tensor& a, const Tensor& b);

}  // namespace kiln::testing
