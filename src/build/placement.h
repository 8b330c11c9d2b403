// Host/device placement of a CUDA plan's layers. Shape arithmetic (Shape/Size and everything that
// only computes values device kernels read on the host: Reshape targets, Slice bounds, ...) runs
// on the host once per input-shape set (and host-input values); every other layer runs on the
// GPU. Model inputs whose values are read on the host (TopK's K, NonMaxSuppression's thresholds)
// become host inputs, passed in host memory. Host values a device layer reads as data get a
// HostToDevice upload layer. A host layer that would need tensor data from the GPU (a value that
// depends on computed data, not on shapes, host inputs and constants) is refused with a message
// naming it.
#pragma once

#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"
#include "plan/plan.h"

namespace kiln::build {

// Sets layer and tensor placements of `p` (a CUDA plan in topological order), inserting upload
// layers (domain "kiln", op "HostToDevice") and their device tensors. Returns the number of host
// layers.
Result<int> placeForCuda(plan::Plan& p);

// Lays host-placed intermediates and the copies of host inputs out in the host arena (no reuse:
// they live from one shape change to the next) and sets p.memory.hostArenaBytes.
void planHostArena(plan::Plan& p);

// Runs the host layers of a placed plan (their tactics chosen) with CPU kernels at `dims` (every
// tensor's dims) and returns every tensor's host value (empty tensors where not on the host, and
// for host inputs and what is computed from them, known only at run time): the values device
// kernels read on the host, for tactic timing at the opt shapes.
Result<std::vector<Tensor>> evaluateHostLayers(const plan::Plan& p, const std::vector<Dims>& dims);

}  // namespace kiln::build
