// Unique on the GPU, matching the CPU reference (core/misc_select.h's computeUnique) item for item.
// An item is one element (no axis) or one slice x[:, a, :] (with an axis), compared
// lexicographically with the reference's total order (NaN after every number, all NaNs equal,
// -0 == +0). Phase 1 (launchUniqueGroup): CUB's stable merge sort of the item indices, a flag where
// the sorted run changes, an inclusive scan of the flags = each sorted item's group number; the
// last of them is the unique count, which the host reads back (select_ops.cc). Phase 2
// (launchUniqueWrite): each group's first occurrence (the first of its run: the sort is stable) and
// size; for sorted=0 the groups are ranked by first occurrence with one more scan over the input
// positions (a marked first occurrence counts the groups before it), no second sort.
#include <cub/device/device_merge_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "backends/cuda/kernels/select_launch.h"
#include "backends/cuda/kernels/select_scratch.cuh"

namespace kiln::cuda::sel {

namespace {

constexpr int kThreads = 256;

unsigned gridOf(int64_t n) {
  const int64_t g = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(g < 65535 * 32 ? (g < 1 ? 1 : g) : 65535 * 32);
}

#define KILN_GRID_LOOP(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// detail::compareElem of core/misc_select.h: -1, 0 or 1.
template <typename T>
__device__ __forceinline__ int compareElem(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return a < b ? -1 : (b < a ? 1 : 0);
  } else {
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    C x, y;
    if constexpr (std::is_same_v<T, __half>) x = __half2float(a), y = __half2float(b);
    else if constexpr (std::is_same_v<T, __nv_bfloat16>) x = __bfloat162float(a), y = __bfloat162float(b);
    else x = a, y = b;
    const bool nx = isnan(x), ny = isnan(y);
    if (nx || ny) return nx == ny ? 0 : (nx ? 1 : -1);
    return x < y ? -1 : (y < x ? 1 : 0);
  }
}

// Items of x viewed as (outer, n, inner): item a is x[:, a, :].
template <typename T>
struct ItemOrder {
  const T* x;
  int64_t outer, n, inner;
  __device__ int compare(int64_t a, int64_t b) const {
    for (int64_t o = 0; o < outer; ++o) {
      const T* pa = x + (o * n + a) * inner;
      const T* pb = x + (o * n + b) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        const int c = compareElem(pa[i], pb[i]);
        if (c) return c;
      }
    }
    return 0;
  }
  __device__ bool operator()(int64_t a, int64_t b) const { return compare(a, b) < 0; }
};

// The scratch: n int64 per array (u <= n of the per-group ones), then CUB's temporaries.
struct UniqueLayout {
  int64_t* order;  // item indices in sorted order
  int64_t* flags;  // 1 where a sorted run starts; later reused as the first-occurrence marks
  int64_t* group;  // inclusive scan of flags: 1-based group of each sorted position
  int64_t* first;  // per group (sorted order): first occurrence
  int64_t* start;  // per group: sorted position of its run
  int64_t* rank;   // per input position: exclusive scan of the marks (sorted=0)
  int64_t* pos;    // per group: its place in the output
  int64_t* firstOut;  // per output place: first occurrence (output 1 when it is absent)
  void* sortTemp;
  size_t sortTempBytes;
  void* scanTemp;
  size_t scanTempBytes;
  size_t bytes;
};

template <typename T>
UniqueLayout layoutOf(int64_t n, void* base) {
  UniqueLayout l{};
  ScratchCarver c(base);
  int64_t** arrays[] = {&l.order, &l.flags, &l.group, &l.first, &l.start, &l.rank, &l.pos, &l.firstOut};
  for (int64_t** a : arrays) *a = c.take<int64_t>(n * sizeof(int64_t));
  cub::DeviceMergeSort::StableSortKeys(nullptr, l.sortTempBytes, static_cast<int64_t*>(nullptr), n, ItemOrder<T>{});
  l.sortTemp = c.take(l.sortTempBytes);
  size_t inclusive = 0, exclusive = 0;
  cub::DeviceScan::InclusiveSum(nullptr, inclusive, static_cast<const int64_t*>(nullptr),
                                static_cast<int64_t*>(nullptr), n);
  cub::DeviceScan::ExclusiveSum(nullptr, exclusive, static_cast<const int64_t*>(nullptr),
                                static_cast<int64_t*>(nullptr), n);
  l.scanTempBytes = inclusive > exclusive ? inclusive : exclusive;
  l.scanTemp = c.take(l.scanTempBytes);
  l.bytes = c.used();
  return l;
}

__global__ void iotaKernel(int64_t* v, int64_t n) {
  KILN_GRID_LOOP(i, n) v[i] = i;
}

template <typename T>
__global__ void runStartKernel(ItemOrder<T> ord, const int64_t* __restrict__ order, int64_t* __restrict__ flags) {
  KILN_GRID_LOOP(k, ord.n) flags[k] = (k == 0 || ord.compare(order[k - 1], order[k]) != 0) ? 1 : 0;
}

// For each run start k: its group's first occurrence and sorted start.
__global__ void groupsKernel(const int64_t* __restrict__ order, const int64_t* __restrict__ flags,
                             const int64_t* __restrict__ group, int64_t n, int64_t* __restrict__ first,
                             int64_t* __restrict__ start) {
  KILN_GRID_LOOP(k, n) {
    if (!flags[k]) continue;
    const int64_t g = group[k] - 1;
    first[g] = order[k];
    start[g] = k;
  }
}

__global__ void markFirstKernel(const int64_t* __restrict__ first, int64_t u, int64_t* __restrict__ marks) {
  KILN_GRID_LOOP(g, u) marks[first[g]] = 1;
}

// pos[g]: g (sorted) or the number of groups whose first occurrence comes before g's.
__global__ void placeKernel(const int64_t* __restrict__ first, const int64_t* __restrict__ rank, int64_t u,
                            int64_t* __restrict__ pos) {
  KILN_GRID_LOOP(g, u) pos[g] = rank ? rank[first[g]] : g;
}

// Per group, at its output place: first occurrence and count (either output may be absent).
__global__ void groupOutputsKernel(const int64_t* __restrict__ first, const int64_t* __restrict__ start,
                                   const int64_t* __restrict__ pos, int64_t u, int64_t n, int64_t* __restrict__ indices,
                                   int64_t* __restrict__ counts) {
  KILN_GRID_LOOP(g, u) {
    const int64_t p = pos[g];
    if (indices) indices[p] = first[g];
    if (counts) counts[p] = (g + 1 < u ? start[g + 1] : n) - start[g];
  }
}

__global__ void inverseKernel(const int64_t* __restrict__ order, const int64_t* __restrict__ group,
                              const int64_t* __restrict__ pos, int64_t n, int64_t* __restrict__ inverse) {
  KILN_GRID_LOOP(k, n) inverse[order[k]] = pos[group[k] - 1];
}

template <typename T>
cudaError_t group(const UniqueArgs& a, void* scratch, size_t scratchBytes, const int64_t** count, cudaStream_t s) {
  const UniqueLayout l = layoutOf<T>(a.n, scratch);
  if (l.bytes > scratchBytes) return cudaErrorInvalidValue;
  const ItemOrder<T> ord{static_cast<const T*>(a.x), a.outer, a.n, a.inner};
  iotaKernel<<<gridOf(a.n), kThreads, 0, s>>>(l.order, a.n);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  size_t bytes = l.sortTempBytes;
  if ((e = cub::DeviceMergeSort::StableSortKeys(l.sortTemp, bytes, l.order, a.n, ord, s)) != cudaSuccess) return e;
  runStartKernel<<<gridOf(a.n), kThreads, 0, s>>>(ord, l.order, l.flags);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  bytes = l.scanTempBytes;
  if ((e = cub::DeviceScan::InclusiveSum(l.scanTemp, bytes, l.flags, l.group, a.n, s)) != cudaSuccess) return e;
  *count = l.group + a.n - 1;
  return cudaSuccess;
}

template <typename T>
cudaError_t write(const UniqueArgs& a, void* scratch, int64_t u, const UniqueOutputs& o, cudaStream_t s) {
  const UniqueLayout l = layoutOf<T>(a.n, scratch);
  groupsKernel<<<gridOf(a.n), kThreads, 0, s>>>(l.order, l.flags, l.group, a.n, l.first, l.start);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  const int64_t* rank = nullptr;
  if (!a.sorted) {
    int64_t* marks = l.flags;  // the run flags are no longer needed
    if ((e = cudaMemsetAsync(marks, 0, a.n * sizeof(int64_t), s)) != cudaSuccess) return e;
    markFirstKernel<<<gridOf(u), kThreads, 0, s>>>(l.first, u, marks);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    size_t bytes = l.scanTempBytes;
    if ((e = cub::DeviceScan::ExclusiveSum(l.scanTemp, bytes, marks, l.rank, a.n, s)) != cudaSuccess) return e;
    rank = l.rank;
  }
  placeKernel<<<gridOf(u), kThreads, 0, s>>>(l.first, rank, u, l.pos);
  // The first occurrences in output order are needed for Y even when output 1 is absent.
  int64_t* indices = o.indices ? o.indices : l.firstOut;
  groupOutputsKernel<<<gridOf(u), kThreads, 0, s>>>(l.first, l.start, l.pos, u, a.n, indices, o.counts);
  if (o.inverse) inverseKernel<<<gridOf(a.n), kThreads, 0, s>>>(l.order, l.group, l.pos, a.n, o.inverse);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  return launchGatherSelected(a.x, o.y, a.elemBytes, a.outer, a.n, a.inner, indices, u, s);
}

template <typename Fn>
cudaError_t dispatch(DType t, Fn&& fn) {
  switch (t) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    case DType::kFloat16: return fn(__half{});
    case DType::kBFloat16: return fn(__nv_bfloat16{});
    case DType::kInt8: return fn(int8_t{});
    case DType::kUInt8: case DType::kBool: return fn(uint8_t{});
    case DType::kInt16: return fn(int16_t{});
    case DType::kUInt16: return fn(uint16_t{});
    case DType::kInt32: return fn(int32_t{});
    case DType::kUInt32: return fn(uint32_t{});
    case DType::kInt64: return fn(int64_t{});
    case DType::kUInt64: return fn(uint64_t{});
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

size_t uniqueScratchBytes(const UniqueArgs& a) {
  size_t bytes = 0;
  dispatch(a.type, [&](auto tag) {
    bytes = layoutOf<decltype(tag)>(a.n, nullptr).bytes;
    return cudaSuccess;
  });
  return bytes;
}

cudaError_t launchUniqueGroup(const UniqueArgs& a, void* scratch, size_t scratchBytes, const int64_t** count,
                              cudaStream_t s) {
  if (a.n <= 0 || a.outer < 0 || a.inner < 0) return cudaErrorInvalidValue;
  return dispatch(a.type, [&](auto tag) { return group<decltype(tag)>(a, scratch, scratchBytes, count, s); });
}

cudaError_t launchUniqueWrite(const UniqueArgs& a, void* scratch, int64_t u, const UniqueOutputs& o, cudaStream_t s) {
  if (u <= 0 || u > a.n) return cudaErrorInvalidValue;
  return dispatch(a.type, [&](auto tag) { return write<decltype(tag)>(a, scratch, u, o, s); });
}

}  // namespace kiln::cuda::sel
