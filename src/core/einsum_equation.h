// Einsum equations ("bij,bjk->bik", "...ii->...i"): the one parser the IR's shape inference, the
// CPU kernel and the CUDA kernel share, so the three read an equation the same way.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln {

// One operand's subscripts: letters, with at most one ellipsis at position `ellipsis` in labels.
struct EinsumTerm {
  std::string labels;
  int ellipsis = -1;
};

struct EinsumEquation {
  std::string text;                // the equation without whitespace (for messages)
  std::vector<EinsumTerm> inputs;  // one per operand, in order
  bool explicitOutput = false;     // "->" given
  EinsumTerm output;               // when explicitOutput
};

// Splits on ',' and "->"; letters only, '...' at most once per term.
Result<EinsumEquation> parseEinsumEquation(std::string_view equation);

}  // namespace kiln
