// Request body decoding: Content-Encoding gzip, deflate (zlib-wrapped, or raw deflate as some
// clients send it) and identity, with the decompressed size bounded so a small compressed body
// cannot expand into unbounded memory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln::serve::http {

// Unknown encodings are Unsupported; corrupt data InvalidArgument; more than `limit` bytes after
// decompression ResourceExhausted.
Result<std::string> decodeBody(std::string_view contentEncoding, std::string body, uint64_t limit);

}  // namespace kiln::serve::http
