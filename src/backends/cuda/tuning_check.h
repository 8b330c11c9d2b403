// Device-side helpers for the builder's tactic timing: fill a tuning input with random values and
// compare a candidate's output with the reference candidate's, without moving either to the host.
// At large opt shapes (ResNet-50 at batch 128: 200 MB activations) the host-side fill and
// comparison cost seconds per candidate, far more than the timing itself.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

// Fills n elements of a float dtype (fp32, fp16, bf16, fp64) with values uniform in [lo, hi),
// a pure function of (seed, index). Other dtypes: cudaErrorInvalidValue.
cudaError_t fillUniform(void* data, DType dtype, int64_t n, uint64_t seed, float lo, float hi, cudaStream_t stream);

// Accumulates into sums[0..2] (device memory, zeroed by the caller) over n elements of a float
// dtype: sum (a - b)^2 and sum b^2 over positions where both are finite, and the count of
// mismatches: NaN on one side only, or an infinity the other side does not match (both NaN and
// equal infinities agree and add nothing).
cudaError_t diffNorms(const void* a, const void* b, DType dtype, int64_t n, double* sums, cudaStream_t stream);

// Reads `bytes` of device memory (16-byte aligned) so that they sit in L2 when the next kernel
// starts; writes nothing. The timer warms a layer's activations with it after flushing L2.
cudaError_t touchL2(const void* data, size_t bytes, cudaStream_t stream);

}  // namespace kiln::cuda
