// NumPy .npy files (format 1.0-3.0) <-> Tensor: the I/O format of `kiln run`.
#pragma once

#include <string>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// Reads little-endian C-order arrays of bool, (u)int8..64, float16/32/64. Refuses Fortran order,
// big-endian data, object arrays and truncated files with a message naming the file.
Result<Tensor> readNpy(const std::string& path);
Result<Tensor> parseNpy(const std::string& bytes, const std::string& what);
// Writes a tensor (bfloat16 and fp8 as their bit patterns: uint16/uint8, since NumPy lacks them).
Status writeNpy(const std::string& path, const Tensor& t);
std::string serializeNpy(const Tensor& t);

}  // namespace kiln
