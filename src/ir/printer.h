// A readable text form of a graph, for `kiln inspect`, debugging and before/after pass tests.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::ir {

struct PrintOptions {
  bool showConstants = false;  // list every constant (weights) with its type
  int maxAttrLength = 60;      // longer attribute values are elided
};

std::string printGraph(const Graph& g, const PrintOptions& opts = {});
// One node: "%y: float32[1,64] = Gemm(%x, %w) {transB=1}  # name".
std::string printNode(const Node& n, const PrintOptions& opts = {});
std::string describeValue(const Value& v);  // "%x: float32[N,3]", "%s: seq(float32[N,3])"

}  // namespace kiln::ir
