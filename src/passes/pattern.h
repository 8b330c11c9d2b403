// Small helpers shared by rewrites: matching producers and constants, and building replacement
// nodes. Matching never mutates; rewrites use the builders below.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/op_registry.h"

namespace kiln::passes {

// The node producing `v` if it is an `op` of `domain` ("" = ai.onnx), else nullptr.
ir::Node* producerOf(const ir::Value* v, const char* op, const char* domain = "");
// True if `v` has exactly one consumer and is not a graph output (safe to fold into its user).
bool singleUse(const ir::Graph& g, const ir::Value* v);
// The only consumer of `v` (nullptr unless singleUse).
ir::Node* soleConsumer(const ir::Graph& g, const ir::Value* v);
// The value of a constant whose elements are all equal (a scalar or a broadcast scalar).
std::optional<double> scalarValue(const ir::Value* v);
// True if `v` is a constant scalar equal to `x` within `tol`.
bool isScalar(const ir::Value* v, double x, double tol = 1e-6);
// The other input of a binary node (`known` is one of its two inputs).
ir::Value* otherInput(const ir::Node* n, const ir::Value* known);

// Adds a node of a registered op (defaults filled, outputs inferred), with `fusedFrom` naming the
// original nodes it replaces. New nodes go to the end; the pass manager re-sorts.
Result<ir::Node*> addOp(ir::Graph& g, const std::string& op, const std::string& domain, int opset,
                        const std::string& name, const std::vector<ir::Value*>& inputs, AttrMap attrs,
                        int numOutputs = 1, std::vector<std::string> fusedFrom = {});
// Union of the fused-from lists of `nodes` (in order, without repeats).
std::vector<std::string> fusedNames(const std::vector<const ir::Node*>& nodes);
// Replaces every use of `oldValue` by `newValue` and removes `dead` nodes (consumers first). A
// graph output keeps its name (newValue's producer takes it over) when only `dead` uses newValue.
void replaceAndRemove(ir::Graph& g, ir::Value* oldValue, ir::Value* newValue, const std::vector<ir::Node*>& dead);

// The default-domain opset the graph imports (for new nodes).
int defaultOpset(const ir::Graph& g);

}  // namespace kiln::passes
