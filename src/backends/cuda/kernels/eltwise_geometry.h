// Host-side geometry of element-wise launches: how each slot is read for an output element
// (period for the vector path, collapsed broadcast strides for the general path).
#pragma once

#include <span>
#include <string_view>

#include "backends/cuda/kernels/eltwise_launch.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cuda::eltwise {

// How a slot relates to the output.
enum class SlotMode {
  kBroadcast,  // numpy (right-aligned) broadcasting to the output's dims
  kScalar,     // element 0 everywhere (Clip bounds: the CPU reads element 0)
  kPeriodic,   // element i % numel (ElementwiseChain operands: a vector of the output's trailing dims)
};

struct SlotRef {
  const Tensor* t = nullptr;
  SlotMode mode = SlotMode::kBroadcast;
};

// Fills p.in, p.numSlots, p.n, p.period, p.rank, p.dims, p.strides and p.out for `slots` read
// against output `out`. InvalidArgument (naming `op`) when a slot does not broadcast to the
// output; Unsupported when the collapsed geometry has more than kMaxGeoRank axes.
Status fillGeometry(std::string_view op, std::span<const SlotRef> slots, Tensor& out, int smCount, ChainParams* p);

}  // namespace kiln::cuda::eltwise
