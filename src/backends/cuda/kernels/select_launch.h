// Host-callable launchers of the data-dependent selections (select.cu; validation, the size read
// back and registration in select_ops.cc): NonZero and Compress. Plain data only: the nvcc /
// host-compiler boundary.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::sel {

constexpr int kMaxRank = 8;

// Whether NonZero and Unique read elements of this type on the GPU.
bool selectReadsType(DType t);

// Device scratch for selecting among n items: n flags, n indices, the count and CUB's temporary
// storage, each 256-byte aligned.
size_t selectScratchBytes(int64_t n);

// The positions i < n (ascending) where flags[i] would be set, into `indices` (n int64 of the
// scratch), and their count into `*count` (device): of x's nonzero elements (NonZero) or of a
// bool condition's true entries (Compress).
struct Selection {
  int64_t* indices = nullptr;
  int64_t* count = nullptr;
};
cudaError_t launchSelectNonZero(const void* x, DType t, int64_t n, void* scratch, size_t scratchBytes, Selection* out,
                                cudaStream_t s);
cudaError_t launchSelectTrue(const bool* cond, int64_t n, void* scratch, size_t scratchBytes, Selection* out,
                             cudaStream_t s);

// NonZero's output: y[a * found + j] = coordinate a of flat index indices[j] in dims[0..rank).
cudaError_t launchUnravel(const int64_t* indices, int64_t found, const int64_t* dims, int rank, int64_t* y,
                          cudaStream_t s);

// Compress's output: y[(o * found + j) * inner + i] = x[(o * extent + indices[j]) * inner + i].
cudaError_t launchGatherSelected(const void* x, void* y, size_t elemBytes, int64_t outer, int64_t extent,
                                 int64_t inner, const int64_t* indices, int64_t found, cudaStream_t s);

}  // namespace kiln::cuda::sel

namespace kiln::cuda::sel {

// NonMaxSuppression: boxes [batches, boxes, 4], scores [batches, classes, boxes] (float32).
struct NmsArgs {
  const float* boxes = nullptr;
  const float* scores = nullptr;
  int64_t batches = 0, classes = 0, boxes_ = 0;
  int64_t maxPerClass = 0;  // > 0 (0 selects nothing: no launch)
  float iouThreshold = 0;
  bool hasScoreThreshold = false;
  float scoreThreshold = 0;
  bool centerPointBox = false;
};
// Scratch for the per-(batch, class) sort, the kept boxes and the counts.
size_t nmsScratchBytes(const NmsArgs& a);
// Sorts each (batch, class) by score (stable, descending) and keeps boxes greedily as the CPU
// reference does; per-segment kept counts and their exclusive prefix sums stay on the device,
// `*total` (device int64) is the number selected.
struct NmsResult {
  const int64_t* total = nullptr;
};
cudaError_t launchNmsSelect(const NmsArgs& a, void* scratch, size_t scratchBytes, NmsResult* out, cudaStream_t s);
// Writes the selected (batch, class, box) triples, `total` of them, into y [total, 3].
cudaError_t launchNmsWrite(const NmsArgs& a, void* scratch, int64_t total, int64_t* y, cudaStream_t s);

}  // namespace kiln::cuda::sel

namespace kiln::cuda::sel {

// Unique (select_unique.cu) of x viewed as (outer, n, inner): item a is x[:, a, :] (no axis: outer
// = inner = 1, n = numel); n > 0.
struct UniqueArgs {
  const void* x = nullptr;
  DType type = DType::kFloat32;
  size_t elemBytes = 0;
  int64_t outer = 1, n = 0, inner = 1;
  bool sorted = true;
};
size_t uniqueScratchBytes(const UniqueArgs& a);
// Sorts and groups the items; `*count` (device int64) is the number of unique items.
cudaError_t launchUniqueGroup(const UniqueArgs& a, void* scratch, size_t scratchBytes, const int64_t** count,
                              cudaStream_t s);
// Given the count u, writes Y [outer, u, inner] and the optional outputs (null when absent):
// indices [u], inverse [n], counts [u].
struct UniqueOutputs {
  void* y = nullptr;
  int64_t* indices = nullptr;
  int64_t* inverse = nullptr;
  int64_t* counts = nullptr;
};
cudaError_t launchUniqueWrite(const UniqueArgs& a, void* scratch, int64_t u, const UniqueOutputs& o, cudaStream_t s);

}  // namespace kiln::cuda::sel
