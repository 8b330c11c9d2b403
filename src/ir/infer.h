// Shape and type inference over the IR: runs each node's OpDef inference with the graph's
// symbolic shapes and known constant/symbolic values.
#pragma once

#include "ir/graph.h"
#include "ir/op_registry.h"

namespace kiln::ir {

// Infers the outputs of one node (its def must be set). Errors carry the node's context frame.
Status inferNode(Graph& g, Node& n);
// Infers every node in order (the graph must be topologically sorted).
Status inferGraph(Graph& g);

}  // namespace kiln::ir
