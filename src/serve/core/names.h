// Validation of the names clients send (model names, version strings) and of paths derived from
// them, so that nothing a request says can reach outside a model repository.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln::serve {

// A model name is a single directory name: 1-255 bytes, no '/', '\\', NUL or control characters,
// not starting with '.' (which also rules out "." and ".."; dot-directories such as the engine
// cache are never models).
Status validateModelName(std::string_view name);

// A version is a positive decimal integer without sign or leading zeros (Triton ignores other
// version directories); at most 18 digits so it fits an int64. Returns the number.
Result<int64_t> parseVersion(std::string_view version);

// True when `path`, with symlinks resolved, lies inside `root` (also resolved). A missing path is
// judged by its nearest existing parent.
bool pathInside(const std::string& root, const std::string& path);

// Quotes a client-supplied string for an error message: printable ASCII kept, others escaped,
// cut at 200 bytes, so messages stay one readable line whatever was sent.
std::string quoteForMessage(std::string_view s);

}  // namespace kiln::serve
