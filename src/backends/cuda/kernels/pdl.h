// Programmatic dependent launch (PDL): the host-side switch, for launchers compiled as C++
// (pdl.cuh holds the device side and the launch, and says what PDL buys and what it requires).
#pragma once

#include <cstdlib>
#include <cstring>

namespace kiln::cuda {

// Whether kernels on a device of this compute capability (major * 10 + minor) launch with PDL:
// from 9.0 on, unless the environment sets KILN_DISABLE_PDL (to rule PDL out when chasing a
// timing or ordering question; engines and results are the same either way). Read once, like the
// runtime's other switches: unset, empty, "0", "false" and "off" leave PDL on.
inline bool pdlEnabled(int computeCapability) {
  static const bool disabled = [] {
    const char* v = std::getenv("KILN_DISABLE_PDL");
    if (v == nullptr || v[0] == '\0') return false;
    return !(std::strcmp(v, "0") == 0 || std::strcmp(v, "false") == 0 || std::strcmp(v, "off") == 0);
  }();
  return computeCapability >= 90 && !disabled;
}

}  // namespace kiln::cuda
