// Host-callable launchers of AffineGrid and MaxUnpool (grid_unpool.cu; validation and
// registration in grid_unpool_ops.cc). Plain data only: the nvcc / host-compiler boundary.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::gridunpool {

// AffineGrid: theta [N, r, r+1] -> grid [N, D?, H, W, r]; sizes[0..r) are the spatial sizes
// (D, H, W order), the grid's components are (x, y, z).
struct AffineGridArgs {
  DType dtype = DType::kFloat32;
  const void* theta = nullptr;
  void* grid = nullptr;
  int64_t batch = 0;
  int r = 2;
  int64_t sizes[3] = {1, 1, 1};
  bool alignCorners = false;
};
cudaError_t launchAffineGrid(const AffineGridArgs& a, int smCount, cudaStream_t s);

// MaxUnpool: y (zero-filled here) gets x[e] at flat index idx[e] of the unpooled block
// [planes, inferred...], which sits at the start of each (possibly larger) output dim.
struct MaxUnpoolArgs {
  int elemBytes = 4;  // values are moved, not computed
  const void* x = nullptr;
  const int64_t* indices = nullptr;
  void* y = nullptr;
  int64_t n = 0;        // elements of x
  int64_t yNumel = 0;
  int spatial = 2;
  int64_t inferred[3] = {1, 1, 1};  // unpooled spatial dims
  int64_t outDims[3] = {1, 1, 1};   // output spatial dims
  int64_t planes = 0;               // N * C
};
cudaError_t launchMaxUnpool(const MaxUnpoolArgs& a, int smCount, cudaStream_t s);

}  // namespace kiln::cuda::gridunpool
