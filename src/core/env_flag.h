// Boolean switches from the environment (KILN_CUDA_GRAPHS, KILN_DISABLE_PDL, ...), read one way
// everywhere: unset or empty gives the default; "0", "false" and "off" are false; anything else true.
#pragma once

#include <cstdlib>
#include <cstring>

namespace kiln {

inline bool envFlag(const char* name, bool dflt) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return dflt;
  return !(std::strcmp(v, "0") == 0 || std::strcmp(v, "false") == 0 || std::strcmp(v, "off") == 0);
}

}  // namespace kiln
