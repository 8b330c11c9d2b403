// Strided copies: the engine of Transpose, Slice, Expand, Tile, DepthToSpace/SpaceToDepth (one
// gather through per-axis strides), the pitched 2-D copy of Concat/Split, and a pattern fill.
//
// The host part collapses the view first (size-1 axes dropped, axes merged where the input is
// contiguous across them), then widens elements to 16/8/4-byte words when the contiguous inner
// run allows it, so most layers become a rank-1..3 copy of 16-byte words. A view whose input
// contiguous axis differs from the output's (a real transpose) goes through a 32x32 shared-memory
// tile so that both the reads and the writes are coalesced.
#include <cstdint>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/data_launch.h"

namespace kiln::cuda::data {

namespace {

template <int Bytes> struct WordOf;
template <> struct WordOf<1> { using type = uint8_t; };
template <> struct WordOf<2> { using type = uint16_t; };
template <> struct WordOf<4> { using type = uint32_t; };
template <> struct WordOf<8> { using type = uint64_t; };
template <> struct WordOf<16> { using type = uint4; };

// Index arithmetic in I (int32 when every offset fits, else int64). Division of the output index
// by each dim is done in the unsigned type of I (it is never negative), which is cheaper.
template <typename I>
struct ViewI {
  int rank;
  I dims[kMaxDims];
  I strides[kMaxDims];
  I base;
};

template <typename W, typename I>
__global__ void stridedCopyKernel(const W* __restrict__ src, W* __restrict__ dst, I n, ViewI<I> v) {
  using U = std::make_unsigned_t<I>;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<I>(blockDim.x) * gridDim.x) {
    U rem = static_cast<U>(i);
    I off = v.base;
#pragma unroll
    for (int a = kMaxDims - 1; a >= 1; --a) {
      if (a >= v.rank) continue;
      const U d = static_cast<U>(v.dims[a]);
      const U q = rem / d;
      off += static_cast<I>(rem - q * d) * v.strides[a];
      rem = q;
    }
    off += static_cast<I>(rem) * v.strides[0];
    dst[i] = src[off];
  }
}

// Tiled transpose: the output's contiguous axis is `l` (= rank-1, input stride sL) and the input's
// contiguous axis is `q` (output stride oQ). The remaining axes form a batch, decomposed once per
// block. 32x32 tile, 32x8 threads, each moving 4 elements per phase.
constexpr int kTile = 32;
constexpr int kTileRows = 8;
struct TileArgs {
  int64_t dimQ, dimL, sL, oQ;
  int batchRank;
  int64_t bDims[kMaxDims];
  int64_t bIn[kMaxDims];
  int64_t bOut[kMaxDims];
  int64_t base;
  int64_t tilesQ, tilesL, blocks;
};

template <typename W>
__global__ void __launch_bounds__(kTile * kTileRows) tiledTransposeKernel(const W* __restrict__ src, W* __restrict__ dst, TileArgs t) {
  __shared__ W tile[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t blk = blockIdx.x; blk < t.blocks; blk += gridDim.x) {
    const int64_t tl = blk % t.tilesL;
    const int64_t rest = blk / t.tilesL;
    const int64_t tq = rest % t.tilesQ;
    int64_t b = rest / t.tilesQ;
    int64_t inBase = t.base, outBase = 0;
    for (int a = t.batchRank - 1; a >= 0; --a) {
      const int64_t c = b % t.bDims[a];
      b /= t.bDims[a];
      inBase += c * t.bIn[a];
      outBase += c * t.bOut[a];
    }
    const int64_t q0 = tq * kTile, l0 = tl * kTile;
    // Read along the input's contiguous axis q.
    {
      const int64_t q = q0 + tx;
#pragma unroll
      for (int j = 0; j < kTile; j += kTileRows) {
        const int64_t l = l0 + ty + j;
        if (q < t.dimQ && l < t.dimL) tile[ty + j][tx] = src[inBase + q + l * t.sL];
      }
    }
    __syncthreads();
    // Write along the output's contiguous axis l.
    {
      const int64_t l = l0 + tx;
#pragma unroll
      for (int j = 0; j < kTile; j += kTileRows) {
        const int64_t q = q0 + ty + j;
        if (q < t.dimQ && l < t.dimL) dst[outBase + l + q * t.oQ] = tile[tx][ty + j];
      }
    }
    __syncthreads();
  }
}

template <typename W, typename I>
__global__ void copy2DKernel(const W* __restrict__ src, I srcPitch, W* __restrict__ dst, I dstPitch, I cols, I n) {
  using U = std::make_unsigned_t<I>;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<I>(blockDim.x) * gridDim.x) {
    const U r = static_cast<U>(i) / static_cast<U>(cols);
    const I c = i - static_cast<I>(r) * cols;
    dst[static_cast<I>(r) * dstPitch + c] = src[static_cast<I>(r) * srcPitch + c];
  }
}

template <typename W>
__global__ void fillKernel(W* __restrict__ dst, int64_t n, W value) {
  KILN_GRID_STRIDE_LOOP(i, n) dst[i] = value;
}

// int32 indexing below this many elements (leaves room for the grid-stride increment).
constexpr int64_t kI32Limit = (int64_t{1} << 31) - (int64_t{1} << 24);

unsigned gridFor(int64_t n, int smCount, int threads = kThreads) {
  const int64_t cap = static_cast<int64_t>(smCount > 0 ? smCount : 132) * 16;
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < cap ? b : cap);
}

int64_t absv(int64_t v) { return v < 0 ? -v : v; }

// Drops size-1 axes and merges axis a into a+1 where the input is contiguous across them.
void collapse(StridedView& v) {
  StridedView o;
  o.base = v.base;
  for (int a = 0; a < v.rank; ++a) {
    if (v.dims[a] == 1) continue;
    if (o.rank > 0) {
      // Merge with the previous kept axis p when stride_p == stride_a * dim_a.
      const int p = o.rank - 1;
      if (o.strides[p] == v.strides[a] * v.dims[a]) {
        o.dims[p] *= v.dims[a];
        o.strides[p] = v.strides[a];
        continue;
      }
    }
    o.dims[o.rank] = v.dims[a];
    o.strides[o.rank] = v.strides[a];
    ++o.rank;
  }
  v = o;
}

template <typename W, typename I>
cudaError_t runStrided(const void* src, void* dst, int64_t n, const StridedView& v, int smCount, cudaStream_t s) {
  ViewI<I> vi;
  vi.rank = v.rank;
  for (int a = 0; a < kMaxDims; ++a) {
    vi.dims[a] = static_cast<I>(a < v.rank ? v.dims[a] : 1);
    vi.strides[a] = static_cast<I>(a < v.rank ? v.strides[a] : 0);
  }
  vi.base = static_cast<I>(v.base);
  stridedCopyKernel<W, I><<<gridFor(n, smCount), kThreads, 0, s>>>(static_cast<const W*>(src), static_cast<W*>(dst),
                                                                   static_cast<I>(n), vi);
  return cudaGetLastError();
}

template <typename W>
cudaError_t runStridedW(const void* src, int64_t srcNumel, void* dst, int64_t n, const StridedView& v, int smCount,
                        cudaStream_t s) {
  if (srcNumel < kI32Limit && n < kI32Limit) return runStrided<W, int32_t>(src, dst, n, v, smCount, s);
  return runStrided<W, int64_t>(src, dst, n, v, smCount, s);
}

template <typename W>
cudaError_t runTiled(const void* src, void* dst, const StridedView& v, int q, int smCount, cudaStream_t s) {
  const int r = v.rank;
  const int l = r - 1;
  int64_t outStride[kMaxDims];
  int64_t acc = 1;
  for (int a = r - 1; a >= 0; --a) {
    outStride[a] = acc;
    acc *= v.dims[a];
  }
  TileArgs t{};
  t.dimQ = v.dims[q];
  t.dimL = v.dims[l];
  t.sL = v.strides[l];
  t.oQ = outStride[q];
  t.base = v.base;
  int64_t batch = 1;
  for (int a = 0; a < r; ++a) {
    if (a == q || a == l) continue;
    t.bDims[t.batchRank] = v.dims[a];
    t.bIn[t.batchRank] = v.strides[a];
    t.bOut[t.batchRank] = outStride[a];
    ++t.batchRank;
    batch *= v.dims[a];
  }
  t.tilesQ = (t.dimQ + kTile - 1) / kTile;
  t.tilesL = (t.dimL + kTile - 1) / kTile;
  t.blocks = t.tilesQ * t.tilesL * batch;
  const int64_t cap = static_cast<int64_t>(smCount > 0 ? smCount : 132) * 64;
  const unsigned grid = static_cast<unsigned>(t.blocks < cap ? t.blocks : cap);
  tiledTransposeKernel<W><<<grid, dim3(kTile, kTileRows), 0, s>>>(static_cast<const W*>(src), static_cast<W*>(dst), t);
  return cudaGetLastError();
}

template <typename F>
cudaError_t bySize(int bytes, F&& f) {
  switch (bytes) {
    case 1: return f(WordOf<1>{});
    case 2: return f(WordOf<2>{});
    case 4: return f(WordOf<4>{});
    case 8: return f(WordOf<8>{});
    case 16: return f(WordOf<16>{});
    default: return cudaErrorInvalidValue;
  }
}

bool aligned(const void* p, int64_t bytes) { return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) == 0; }

}  // namespace

cudaError_t launchStridedCopy(const void* src, int64_t srcNumel, void* dst, int elemSize, StridedView v, int smCount,
                              cudaStream_t s) {
  if (v.rank < 0 || v.rank > kMaxDims) return cudaErrorInvalidValue;
  int64_t n = 1;
  for (int a = 0; a < v.rank; ++a) n *= v.dims[a];
  if (n == 0) return cudaSuccess;
  collapse(v);
  if (v.rank == 0) {  // a single element
    v.rank = 1;
    v.dims[0] = 1;
    v.strides[0] = 1;
  }
  const int last = v.rank - 1;
  // A plain contiguous copy goes to the copy engine.
  if (v.rank == 1 && v.strides[0] == 1)
    return cudaMemcpyAsync(dst, static_cast<const char*>(src) + v.base * elemSize, static_cast<size_t>(n) * elemSize,
                           cudaMemcpyDeviceToDevice, s);
  // Real transpose: the input's unit-stride axis q is not the output's last axis. Tiles pay off
  // when both tiled extents fill a good part of a 32-wide tile.
  if (v.strides[last] != 1) {
    int q = -1;
    for (int a = 0; a < last; ++a)
      if (v.strides[a] == 1) q = a;
    bool permutation = q >= 0;
    for (int a = 0; a < v.rank && permutation; ++a) permutation = v.strides[a] > 0;
    if (permutation && v.dims[q] >= 8 && v.dims[last] >= 8)
      return bySize(elemSize, [&](auto tag) {
        return runTiled<typename decltype(tag)::type>(src, dst, v, q, smCount, s);
      });
  }
  // Widen: with a unit-stride inner axis, treat `w` consecutive bytes as one word when the inner
  // extent, every other stride, the base and both pointers are multiples of w.
  int word = elemSize;
  if (v.strides[last] == 1) {
    for (int w = 16; w > elemSize; w /= 2) {
      bool ok = (v.dims[last] * elemSize) % w == 0 && (v.base * elemSize) % w == 0 && aligned(src, w) && aligned(dst, w);
      for (int a = 0; a < last && ok; ++a) ok = (absv(v.strides[a]) * elemSize) % w == 0;
      if (ok) {
        word = w;
        break;
      }
    }
    if (word != elemSize) {
      const int64_t f = word / elemSize;
      v.dims[last] /= f;
      for (int a = 0; a < last; ++a) v.strides[a] /= f;
      v.base /= f;
      n /= f;
      srcNumel /= f;
    }
  }
  return bySize(word, [&](auto tag) {
    return runStridedW<typename decltype(tag)::type>(src, srcNumel + 1, dst, n, v, smCount, s);
  });
}

cudaError_t launchCopy2D(const void* src, int64_t srcPitch, void* dst, int64_t dstPitch, int64_t rows, int64_t cols,
                         int elemSize, int smCount, cudaStream_t s) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (rows == 1 || (cols == srcPitch && cols == dstPitch))
    return cudaMemcpyAsync(dst, src, static_cast<size_t>(rows * cols) * elemSize, cudaMemcpyDeviceToDevice, s);
  int word = elemSize;
  for (int w = 16; w > elemSize; w /= 2) {
    if ((cols * elemSize) % w == 0 && (srcPitch * elemSize) % w == 0 && (dstPitch * elemSize) % w == 0 &&
        aligned(src, w) && aligned(dst, w)) {
      word = w;
      break;
    }
  }
  const int64_t f = word / elemSize;
  cols /= f;
  srcPitch /= f;
  dstPitch /= f;
  const int64_t n = rows * cols;
  const int64_t span = (rows - 1) * (srcPitch > dstPitch ? srcPitch : dstPitch) + cols;
  return bySize(word, [&](auto tag) -> cudaError_t {
    using W = typename decltype(tag)::type;
    if (span < kI32Limit && n < kI32Limit)
      copy2DKernel<W, int32_t><<<gridFor(n, smCount), kThreads, 0, s>>>(
          static_cast<const W*>(src), static_cast<int32_t>(srcPitch), static_cast<W*>(dst),
          static_cast<int32_t>(dstPitch), static_cast<int32_t>(cols), static_cast<int32_t>(n));
    else
      copy2DKernel<W, int64_t><<<gridFor(n, smCount), kThreads, 0, s>>>(static_cast<const W*>(src), srcPitch,
                                                                       static_cast<W*>(dst), dstPitch, cols, n);
    return cudaGetLastError();
  });
}

cudaError_t launchFill(void* dst, int64_t n, int elemSize, uint64_t pattern, int smCount, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  // Zero bits (the common case) and repeated bytes go through memset.
  const uint64_t mask = elemSize == 8 ? ~uint64_t{0} : ((uint64_t{1} << (8 * elemSize)) - 1);
  pattern &= mask;
  bool byteRepeat = true;
  for (int b = 1; b < elemSize; ++b) byteRepeat = byteRepeat && ((pattern >> (8 * b)) & 0xff) == (pattern & 0xff);
  if (byteRepeat) return cudaMemsetAsync(dst, static_cast<int>(pattern & 0xff), static_cast<size_t>(n) * elemSize, s);
  switch (elemSize) {
    case 2:
      fillKernel<uint16_t><<<gridFor(n, smCount), kThreads, 0, s>>>(static_cast<uint16_t*>(dst), n, static_cast<uint16_t>(pattern));
      break;
    case 4:
      fillKernel<uint32_t><<<gridFor(n, smCount), kThreads, 0, s>>>(static_cast<uint32_t*>(dst), n, static_cast<uint32_t>(pattern));
      break;
    case 8:
      fillKernel<uint64_t><<<gridFor(n, smCount), kThreads, 0, s>>>(static_cast<uint64_t*>(dst), n, pattern);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda::data
