// Einsum equation parsing (einsum_equation.h).
#include "core/einsum_equation.h"

#include <cctype>

namespace kiln {

namespace {

Result<EinsumTerm> parseTerm(std::string_view t, std::string_view eq) {
  EinsumTerm s;
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '.') {
      if (t.substr(i, 3) != "..." || s.ellipsis >= 0)
        return InvalidArgument("Einsum: malformed ellipsis in equation '{}'", eq);
      s.ellipsis = static_cast<int>(s.labels.size());
      i += 2;
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      s.labels.push_back(c);
    } else {
      return InvalidArgument("Einsum: unexpected character '{}' in equation '{}'", c, eq);
    }
  }
  return s;
}

}  // namespace

Result<EinsumEquation> parseEinsumEquation(std::string_view equation) {
  EinsumEquation e;
  for (char c : equation)
    if (!std::isspace(static_cast<unsigned char>(c))) e.text.push_back(c);
  const std::string_view eq = e.text;
  const size_t arrow = eq.find("->");
  const std::string_view lhs = eq.substr(0, arrow);
  for (size_t pos = 0;;) {
    const size_t comma = lhs.find(',', pos);
    KILN_ASSIGN_OR_RETURN(EinsumTerm t, parseTerm(lhs.substr(pos, comma - pos), eq));  // npos: the rest
    e.inputs.push_back(std::move(t));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (arrow != std::string_view::npos) {
    e.explicitOutput = true;
    KILN_ASSIGN_OR_RETURN(e.output, parseTerm(eq.substr(arrow + 2), eq));
  }
  return e;
}

}  // namespace kiln
