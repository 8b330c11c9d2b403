// Programmatic dependent launch (PDL): the host-side switch, for launchers compiled as C++
// (pdl.cuh holds the device side and the launch, and says what PDL buys and what it requires).
#pragma once

#include "core/env_flag.h"

namespace kiln::cuda {

// Whether kernels on a device of this compute capability (major * 10 + minor) launch with PDL:
// from 9.0 on, unless the environment sets KILN_DISABLE_PDL (to rule PDL out when chasing a
// timing or ordering question; engines and results are the same either way). Read once, like the
// runtime's other switches (core/env_flag.h).
inline bool pdlEnabled(int computeCapability) {
  static const bool disabled = envFlag("KILN_DISABLE_PDL", false);
  return computeCapability >= 90 && !disabled;
}

}  // namespace kiln::cuda
