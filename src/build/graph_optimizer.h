// Runs the optimization pipeline inside a build: the pass context for the CPU target (which fused
// ops have kernels, constant evaluation by the target's own kernels) and the build config's pass
// selection.
#pragma once

#include "ir/graph.h"
#include "kiln/builder.h"

namespace kiln::build {

Status optimizeGraph(ir::Graph& g, const BuildConfig& cfg, BuildReport* report);

}  // namespace kiln::build
