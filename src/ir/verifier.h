// Structural checks of a graph: every node has a definition and legal arity, inputs are defined
// before use, values have one producer, use lists agree, graph outputs are produced.
#pragma once

#include "ir/graph.h"

namespace kiln::ir {

Status verifyGraph(const Graph& g);

}  // namespace kiln::ir
