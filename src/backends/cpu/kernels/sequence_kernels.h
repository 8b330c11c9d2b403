// Helpers shared by the sequence kernel files (sequence.cc, sequence_split_concat.cc).
#pragma once

#include "backends/cpu/value_kernel.h"

namespace kiln::cpu {

// Checks that input i is of kind `k` (the interpreter feeds what the IR inferred, so a mismatch
// means a graph input of the wrong kind or an internal error; either way a clear error).
Status expectValueKind(const ValueKernelContext& c, int i, ValueKind k, const char* op);

// Copies `outer` blocks of `block` elements (bytes or strings): block o goes from element
// o*srcStride + srcOff of src to element o*dstStride + dstOff of dst. Same dtype.
void copyBlocks(const Tensor& src, int64_t srcStride, int64_t srcOff, Tensor& dst, int64_t dstStride,
                int64_t dstOff, int64_t outer, int64_t block);

void RegisterSplitConcatKernels(ValueKernelRegistry& r);

}  // namespace kiln::cpu
