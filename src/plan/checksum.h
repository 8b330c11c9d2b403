// XXH64 (Yann Collet's xxHash, 64-bit variant), written from the published algorithm: a fast
// checksum over engine bodies and a hash for model bytes and timing-cache keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kiln::plan {

uint64_t xxhash64(const void* data, size_t len, uint64_t seed = 0);
inline uint64_t xxhash64(std::string_view s, uint64_t seed = 0) { return xxhash64(s.data(), s.size(), seed); }

}  // namespace kiln::plan
