// NonMaxSuppression on the GPU, matching the CPU reference (core/misc_select.h) box for box:
// each (batch, class) is sorted by score with CUB's segmented sort of 64-bit keys (the score's bits
// mapped to a descending unsigned order above, the box index below, so equal scores keep the lower
// box index first without relying on a stable sort, and -0 ties +0 as in the reference), then one block per (batch, class) walks the sorted boxes
// and keeps a box unless a kept one suppresses it (IoU > threshold, in the reference's operation
// order with explicitly rounded arithmetic), up to max_output_boxes_per_class. NaN scores and
// scores not above score_threshold are skipped. Kept counts are prefix-summed on the device; the
// host reads the total (select_ops.cc), fits the output and the write kernel fills it in order.
#include <cub/device/device_scan.cuh>
#include <cub/device/device_segmented_sort.cuh>

#include <cmath>

#include "backends/cuda/kernels/exact_math.cuh"
#include "backends/cuda/kernels/select_launch.h"
#include "backends/cuda/kernels/select_scratch.cuh"

namespace kiln::cuda::sel {

namespace {

constexpr int kThreads = 256;

struct NmsLayout {
  uint64_t* keysIn;   // (descending score order << 32) | box index, segments * boxes
  uint64_t* keysOut;  // the same, sorted within each segment
  int64_t* offsets;   // segment starts, segments + 1
  int32_t* kept;      // segments * keepCap
  int64_t* counts;    // segments, and a zero after them (so the scan's last output is the total)
  int64_t* starts;    // exclusive prefix sums of counts, segments + 1 (the last: the total)
  void* sortTemp;
  size_t sortTempBytes;
  void* scanTemp;
  size_t scanTempBytes;
  size_t bytes;
};

int64_t keepCap(const NmsArgs& a) { return a.maxPerClass < a.boxes_ ? a.maxPerClass : a.boxes_; }

NmsLayout layoutOf(const NmsArgs& a, void* base) {
  const int64_t segs = a.batches * a.classes, items = segs * a.boxes_;
  NmsLayout l{};
  ScratchCarver c(base);
  l.keysIn = c.take<uint64_t>(items * sizeof(uint64_t));
  l.keysOut = c.take<uint64_t>(items * sizeof(uint64_t));
  l.offsets = c.take<int64_t>((segs + 1) * sizeof(int64_t));
  l.kept = c.take<int32_t>(segs * keepCap(a) * sizeof(int32_t));
  l.counts = c.take<int64_t>((segs + 1) * sizeof(int64_t));
  l.starts = c.take<int64_t>((segs + 1) * sizeof(int64_t));
  cub::DeviceSegmentedSort::SortKeys(nullptr, l.sortTempBytes, static_cast<const uint64_t*>(nullptr),
                                      static_cast<uint64_t*>(nullptr), items, segs, static_cast<const int64_t*>(nullptr),
                                      static_cast<const int64_t*>(nullptr));
  l.sortTemp = c.take(l.sortTempBytes);
  cub::DeviceScan::ExclusiveSum(nullptr, l.scanTempBytes, static_cast<const int64_t*>(nullptr),
                                static_cast<int64_t*>(nullptr), segs + 1);
  l.scanTemp = c.take(l.scanTempBytes);
  l.bytes = c.used();
  return l;
}

// Unsigned order that sorts scores descending (-0 as +0; NaNs are skipped later, wherever they land).
__device__ __forceinline__ uint32_t descendingOrder(float f) {
  const uint32_t u = f == 0.0f ? 0u : __float_as_uint(f);
  const uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ascending;
}

__global__ void nmsPrepareKernel(const float* scores, uint64_t* keys, int64_t* offsets, int64_t* counts, int64_t segs,
                                 int64_t boxes) {
  const int64_t items = segs * boxes;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < items; t += int64_t(gridDim.x) * blockDim.x)
    keys[t] = (uint64_t(descendingOrder(scores[t])) << 32) | uint64_t(t % boxes);
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t <= segs; t += int64_t(gridDim.x) * blockDim.x) {
    offsets[t] = t * boxes;
    counts[t] = 0;
  }
}

// std::min / std::max as the reference evaluates them (NaN operands included).
__device__ __forceinline__ float smin(float a, float b) { return b < a ? b : a; }
__device__ __forceinline__ float smax(float a, float b) { return a < b ? b : a; }

// detail::suppressByIou of core/misc_select.h, operation for operation.
__device__ bool suppressByIou(const float* a, const float* b, bool center, float threshold) {
  using namespace exact;
  float ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
  if (!center) {
    ax0 = smin(a[1], a[3]), ax1 = smax(a[1], a[3]), ay0 = smin(a[0], a[2]), ay1 = smax(a[0], a[2]);
    bx0 = smin(b[1], b[3]), bx1 = smax(b[1], b[3]), by0 = smin(b[0], b[2]), by1 = smax(b[0], b[2]);
  } else {
    ax0 = sub(a[0], dvd(a[2], 2.0f)), ax1 = add(a[0], dvd(a[2], 2.0f));
    ay0 = sub(a[1], dvd(a[3], 2.0f)), ay1 = add(a[1], dvd(a[3], 2.0f));
    bx0 = sub(b[0], dvd(b[2], 2.0f)), bx1 = add(b[0], dvd(b[2], 2.0f));
    by0 = sub(b[1], dvd(b[3], 2.0f)), by1 = add(b[1], dvd(b[3], 2.0f));
  }
  const float ix0 = smax(ax0, bx0), ix1 = smin(ax1, bx1);
  if (ix1 <= ix0) return false;
  const float iy0 = smax(ay0, by0), iy1 = smin(ay1, by1);
  if (iy1 <= iy0) return false;
  const float inter = mul(sub(ix1, ix0), sub(iy1, iy0));
  if (inter <= 0) return false;
  const float areaA = mul(sub(ax1, ax0), sub(ay1, ay0)), areaB = mul(sub(bx1, bx0), sub(by1, by0));
  const float uni = sub(add(areaA, areaB), inter);
  if (areaA <= 0 || areaB <= 0 || uni <= 0) return false;
  return dvd(inter, uni) > threshold;
}

__global__ void __launch_bounds__(kThreads) nmsGreedyKernel(NmsArgs a, NmsLayout l, int64_t cap) {
  const int64_t seg = blockIdx.x, b = seg / a.classes;
  const float* sc = a.scores + seg * a.boxes_;
  const uint64_t* order = l.keysOut + seg * a.boxes_;
  const float* bb = a.boxes + b * a.boxes_ * 4;
  int32_t* kept = l.kept + seg * cap;
  __shared__ int64_t nKept;
  if (threadIdx.x == 0) nKept = 0;
  __syncthreads();
  for (int64_t s = 0; s < a.boxes_; ++s) {
    const int32_t i = static_cast<int32_t>(order[s] & 0xffffffffu);
    const float score = sc[i];
    if (isnan(score) || (a.hasScoreThreshold && !(score > a.scoreThreshold))) continue;
    const int64_t n = nKept;
    if (n >= cap) break;
    int sup = 0;
    for (int64_t k = threadIdx.x; k < n && !sup; k += kThreads)
      sup = suppressByIou(bb + int64_t(i) * 4, bb + int64_t(kept[k]) * 4, a.centerPointBox, a.iouThreshold);
    sup = __syncthreads_or(sup);
    if (!sup && threadIdx.x == 0) {
      kept[n] = i;
      nKept = n + 1;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) l.counts[seg] = nKept;
}

__global__ void nmsWriteKernel(NmsArgs a, NmsLayout l, int64_t cap, int64_t* y) {
  const int64_t seg = blockIdx.x, b = seg / a.classes, c = seg % a.classes;
  const int64_t start = l.starts[seg], n = l.counts[seg];
  for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
    int64_t* o = y + (start + k) * 3;
    o[0] = b;
    o[1] = c;
    o[2] = l.kept[seg * cap + k];
  }
}

}  // namespace

size_t nmsScratchBytes(const NmsArgs& a) { return layoutOf(a, nullptr).bytes; }

cudaError_t launchNmsSelect(const NmsArgs& a, void* scratch, size_t scratchBytes, NmsResult* out, cudaStream_t s) {
  const int64_t segs = a.batches * a.classes, items = segs * a.boxes_;
  if (segs <= 0 || a.boxes_ <= 0 || a.maxPerClass <= 0 || a.boxes_ > 0x7fffffff || segs > 0x7fffffff)
    return cudaErrorInvalidValue;
  NmsLayout l = layoutOf(a, scratch);
  if (l.bytes > scratchBytes) return cudaErrorInvalidValue;
  const int64_t blocks = (items + kThreads - 1) / kThreads;
  nmsPrepareKernel<<<static_cast<unsigned>(blocks < 65535 ? (blocks < 1 ? 1 : blocks) : 65535), kThreads, 0, s>>>(
      a.scores, l.keysIn, l.offsets, l.counts, segs, a.boxes_);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  size_t bytes = l.sortTempBytes;
  e = cub::DeviceSegmentedSort::SortKeys(l.sortTemp, bytes, l.keysIn, l.keysOut, items, segs, l.offsets,
                                         l.offsets + 1, s);
  if (e != cudaSuccess) return e;
  nmsGreedyKernel<<<static_cast<unsigned>(segs), kThreads, 0, s>>>(a, l, keepCap(a));
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  bytes = l.scanTempBytes;
  e = cub::DeviceScan::ExclusiveSum(l.scanTemp, bytes, l.counts, l.starts, segs + 1, s);
  out->total = l.starts + segs;
  return e;
}

cudaError_t launchNmsWrite(const NmsArgs& a, void* scratch, int64_t total, int64_t* y, cudaStream_t s) {
  if (total == 0) return cudaSuccess;
  NmsLayout l = layoutOf(a, scratch);
  nmsWriteKernel<<<static_cast<unsigned>(a.batches * a.classes), 128, 0, s>>>(a, l, keepCap(a), y);
  return cudaGetLastError();
}

}  // namespace kiln::cuda::sel
