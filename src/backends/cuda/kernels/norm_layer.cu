// LayerNormalization and RMSNormalization over rows of d contiguous elements (X viewed as
// [rows, d], d = prod(dims[axis:])). Scale/B are one value per row element (kRow) or one scalar.
//  - d <= 1024:
//    one warp per row, the row in registers (16-byte loads when d % V == 0 and pointers are
//    aligned), exact two-pass statistics over the registers, one read and one write of X;
//  - larger rows: one block per row, statistics and output passes over global memory (L2).
// (cuda_norm_packed_layernorm: 16-bit rows held as packed words, for occupancy; see below.)
// Statistics in float (double for float64). The kernels read rows through a source: X itself, or
// (kiln:EmbedLayerNorm) the sum of gathered embedding-table rows and a broadcast addend, so the
// fused embedding layer is this LayerNorm with another loader.
#include "backends/cuda/kernels/device_check.cuh"
#include "backends/cuda/kernels/pdl.cuh"
#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::rn {

namespace {

constexpr int kWarpBlock = 128;
constexpr int kRowBlock = 512;

struct LnParams {
  const void* scale;
  const void* bias;
  bool scaleScalar, biasScalar;
  void* mean;
  void* invStd;
  bool statDouble;
  float eps;
  bool discardX;  // packed kernel: drop X's rows from L2 once read (whole 128-byte lines only)
};

template <typename C>
__device__ __forceinline__ void storeStat(void* p, bool dbl, int64_t row, C v) {
  if (dbl) static_cast<double*>(p)[row] = static_cast<double>(v);
  else static_cast<float*>(p)[row] = static_cast<float>(v);
}

template <typename T, typename C, int V>
__device__ __forceinline__ void loadParam(const T* p, bool scalar, int64_t idx, C (&out)[V]) {
  if (scalar) {
    const C v = toC<C>(p[0]);
#pragma unroll
    for (int k = 0; k < V; ++k) out[k] = v;
  } else {
    const Vec<T, V> t = loadVec<T, V>(p + idx);
#pragma unroll
    for (int k = 0; k < V; ++k) out[k] = toC<C>(t.v[k]);
  }
}

// Rows of X [rows, d].
template <typename T>
struct PlainRows {
  const T* x;
  int64_t d;
  struct Row {
    const T* p;
    template <int V, typename C>
    __device__ __forceinline__ void load(int64_t base, C (&v)[V]) const {
      const Vec<T, V> t = loadVec<T, V>(p + base);
#pragma unroll
      for (int k = 0; k < V; ++k) v[k] = toC<C>(t.v[k]);
    }
  };
  __device__ __forceinline__ Row row(int64_t r) const { return Row{x + r * d}; }
};

// EmbedLayerNorm's rows: table0[ids0[r]] + table1[ids1[r]] + addend[addend row of r], summed in C.
// An id out of range contributes zeros and is reported (device_check.h), as Gather's.
template <typename T>
struct EmbedRows {
  EmbedSource s;
  struct Row {
    const T *r0, *r1, *ra;
    template <int V, typename C>
    __device__ __forceinline__ void load(int64_t base, C (&v)[V]) const {
#pragma unroll
      for (int k = 0; k < V; ++k) v[k] = C(0);
      auto add = [&](const T* q) {
        if (!q) return;
        const Vec<T, V> t = loadVec<T, V>(q + base);
#pragma unroll
        for (int k = 0; k < V; ++k) v[k] += toC<C>(t.v[k]);
      };
      add(r0);
      add(r1);
      add(ra);
    }
  };
  __device__ __forceinline__ int64_t rowOf(const void* ids, bool i64, int64_t r, int64_t vocab, int input) const {
    const int64_t raw = i64 ? static_cast<const int64_t*>(ids)[r] : static_cast<const int32_t*>(ids)[r];
    const int64_t id = raw < 0 ? raw + vocab : raw;
    if (id >= 0 && id < vocab) return id;
    reportOutOfRange(s.check, input, raw, r, vocab);
    return -1;
  }
  __device__ __forceinline__ Row row(int64_t r) const {
    const T* t0 = static_cast<const T*>(s.table0);
    const T* t1 = static_cast<const T*>(s.table1);
    const int64_t i0 = rowOf(s.ids0, s.ids0Is64, r, s.vocab0, 0);
    const int64_t i1 = t1 ? rowOf(s.ids1, s.ids1Is64, r, s.vocab1, 4) : -1;
    const T* ra = nullptr;
    if (s.addend) {
      int64_t off = 0, rem = r;
      for (int i = s.rank - 1; i >= 0; --i) {
        off += (rem % s.idsDims[i]) * s.addendStride[i];
        rem /= s.idsDims[i];
      }
      ra = static_cast<const T*>(s.addend) + off * s.d;
    }
    return Row{i0 >= 0 ? t0 + i0 * s.d : nullptr, i1 >= 0 ? t1 + i1 * s.d : nullptr, ra};
  }
};

// Calls f(row) for each row the calling warp owns in the warp-per-row kernels: one per warp of
// the grid, then strided by the grid's warps (the grid is capped).
template <class F>
__device__ __forceinline__ void forEachWarpRow(int64_t rows, F&& f) {
  const int64_t warpsPerBlock = blockDim.x >> 5;
  const int64_t step = static_cast<int64_t>(gridDim.x) * warpsPerBlock;
  for (int64_t row = blockIdx.x * warpsPerBlock + (threadIdx.x >> 5); row < rows; row += step) f(row);
}

template <typename T, int V, int kIters, bool kRms, typename Src>
__global__ void __launch_bounds__(kWarpBlock) layerNormWarpKernel(Src src, T* __restrict__ y, int64_t rows, int d,
                                                                   LnParams p) {
  using C = StatT<T>;
  const int lane = threadIdx.x & 31;
  const T* scale = static_cast<const T*>(p.scale);
  const T* bias = static_cast<const T*>(p.bias);
  forEachWarpRow(rows, [&](int64_t row) {
    const auto xr = src.row(row);
    T* yr = y + row * d;
    C v[kIters][V];
    C sum = 0;
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      const int base = (i * 32 + lane) * V;
      if (base < d) {
        xr.template load<V, C>(base, v[i]);
#pragma unroll
        for (int k = 0; k < V; ++k) sum += v[i][k];
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) v[i][k] = C(0);
      }
    }
    C mean = C(0);
    if (!kRms) {
      sum = groupReduce(sum, 32, [](C& a, const C& b) { a += b; });
      mean = sum / static_cast<C>(d);
    }
    C sq = 0;
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      if ((i * 32 + lane) * V < d) {
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const C t = v[i][k] - mean;
          sq += t * t;
        }
      }
    }
    sq = groupReduce(sq, 32, [](C& a, const C& b) { a += b; });
    const C inv = C(1) / sqrtC(sq / static_cast<C>(d) + static_cast<C>(p.eps));
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      const int base = (i * 32 + lane) * V;
      if (base < d) {
        C g[V], b[V];
        loadParam<T, C, V>(scale, p.scaleScalar, base, g);
        if (bias) {
          loadParam<T, C, V>(bias, p.biasScalar, base, b);
        } else {
#pragma unroll
          for (int k = 0; k < V; ++k) b[k] = C(0);
        }
        Vec<T, V> o;
#pragma unroll
        for (int k = 0; k < V; ++k) o.v[k] = fromC<T>((v[i][k] - mean) * inv * g[k] + b[k]);
        storeVec<T, V>(yr + base, o);
      }
    }
    if (lane == 0) {
      if (p.mean) storeStat(p.mean, p.statDouble, row, mean);
      if (p.invStd) storeStat(p.invStd, p.statDouble, row, inv);
    }
  });
}

// Two 16-bit values of a packed word as floats (x: the lower address), and back.
__device__ __forceinline__ float2 unpack2(uint32_t w, __half) {
  return __half22float2(*reinterpret_cast<const __half2*>(&w));
}
__device__ __forceinline__ float2 unpack2(uint32_t w, __nv_bfloat16) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w));
}
__device__ __forceinline__ uint32_t pack2(float x, float y, __half) {
  const __half2 h = __floats2half2_rn(x, y);
  return *reinterpret_cast<const uint32_t*>(&h);
}
__device__ __forceinline__ uint32_t pack2(float x, float y, __nv_bfloat16) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// The warp-per-row kernel for 16-bit rows of X itself (LayerNormalization's common case: BERT's
// 768 fp16 values a row), holding the row as packed 16-byte words rather than floats: 3 x 4
// registers a lane instead of 24, so at BERT's width the kernel fits 32 registers and 16 blocks
// (64 warps) share an SM. Why: ncu of the float-holding kernel at BERT-base batch 64 on H100
// (8192 rows) showed 55 registers, 9 blocks an SM (1.7 waves of one row a warp), the warps
// stalled on their loads (62% of cycles) and DRAM 32% busy: latency-bound, not bandwidth-bound.
// At full occupancy all 8192 rows are in flight in one wave (BERT-base batch 64 on H100: 11.2 ->
// 8.5 us a layer timed alone, 12.0 -> 10.5 us in the graph's profile). Statistics as the float kernel's: exact two passes over the held
// row, in float. Scale/B are one value per row element (scalars take the other kernel).
//
// Tried (H100, BERT-base b64, 2026-11-26): 256- and 512-thread blocks and two rows a warp (loads
// of both issued before either is reduced) left the engine's median unchanged within 1%.
//
// Drops a row of `bytes` (a multiple of 128, 128-byte aligned) from L2 without writing it back:
// discard.global.L2 leaves the lines' contents undefined, so only for data nobody reads again.
// Why: kiln:MatMulLayerNorm's GEMM writes its intermediate Z (BERT-base batch 64: 12.6 MB, 24
// times an inference) into L2, this kernel reads it once, and without the discard every dirty
// line is later written back to DRAM for nothing, costing bandwidth and, at the board's power
// cap, clock speed.
__device__ __forceinline__ void discardRow(const void* row, int bytes, int lane) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  for (int off = lane * 128; off < bytes; off += 32 * 128)
    asm volatile("discard.global.L2 [%0], 128;" ::"l"(static_cast<const char*>(row) + off) : "memory");
#endif
}

// Blocks an SM the register budget is set for, the most that compile without spilling: float16
// rows of up to 768 values fit 32 registers, its 1024-value rows 40; bfloat16, whose rounding
// takes more registers, 32 up to 256 values, 48 up to 768 and 64 past.
template <typename T, int K>
constexpr int kPackedBlocksPerSm = std::is_same_v<T, __half> ? (K <= 3 ? 16 : 12) : (K <= 1 ? 16 : K <= 3 ? 10 : 8);

// Sources of the packed kernel's rows, 8 16-bit values (one 16-byte word) at a time.
// X itself:
template <typename T>
struct PackedRows {
  const T* x;
  int d;
  struct Row {
    const T* p;
    __device__ __forceinline__ uint4 load(int base) const { return *reinterpret_cast<const uint4*>(p + base); }
    __device__ __forceinline__ void discard(int bytes, int lane) const { discardRow(p, bytes, lane); }
  };
  __device__ __forceinline__ Row row(int64_t r) const { return Row{x + r * d}; }
};

// kiln:EmbedLayerNorm's gathered rows (EmbedRows), summed in float and rounded once to T: the
// value an unfused graph's Adds would store in T (they round after each Add), held packed like X.
template <typename T>
struct PackedEmbedRows {
  EmbedRows<T> e;
  struct Row {
    typename EmbedRows<T>::Row r;
    __device__ __forceinline__ uint4 load(int base) const {
      float2 acc[4] = {};
      auto add = [&](const T* q) {
        if (!q) return;
        const uint4 t = *reinterpret_cast<const uint4*>(q + base);
        const uint32_t w[4] = {t.x, t.y, t.z, t.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const float2 f = unpack2(w[k], T());
          acc[k].x += f.x;
          acc[k].y += f.y;
        }
      };
      add(r.r0);
      add(r.r1);
      add(r.ra);
      return make_uint4(pack2(acc[0].x, acc[0].y, T()), pack2(acc[1].x, acc[1].y, T()), pack2(acc[2].x, acc[2].y, T()),
                        pack2(acc[3].x, acc[3].y, T()));
    }
    __device__ __forceinline__ void discard(int, int) const {}  // the tables are weights
  };
  __device__ __forceinline__ Row row(int64_t r) const { return Row{e.row(r)}; }
};

// The embedding source keeps three row pointers live and sums in float: a few more registers,
// without which its loads spill.
template <typename T, int K, typename Src>
constexpr int kPackedBlocksFor = std::is_same_v<Src, PackedRows<T>> ? kPackedBlocksPerSm<T, K>
                                 : std::is_same_v<T, __half>        ? (K <= 2 ? 12 : 10)
                                                                    : (K <= 1 ? 12 : K <= 3 ? 10 : 8);

template <typename T, int K, bool kRms, typename Src>
__global__ void __launch_bounds__(kWarpBlock, (kPackedBlocksFor<T, K, Src>))
    layerNormPackedKernel(Src src, T* __restrict__ y, int64_t rows, int d, LnParams p) {
  // Launched with PDL (pdl.cuh): nothing global is touched before the previous kernel is done.
  // Triggering right away lets the next kernel launch once this one's last block has started
  // (at BERT's widths all blocks are resident in one wave), overlapping that launch with the rows.
  pdlWait();
  pdlTrigger();
  const int lane = threadIdx.x & 31;
  const T* scale = static_cast<const T*>(p.scale);
  const T* bias = static_cast<const T*>(p.bias);
  forEachWarpRow(rows, [&](int64_t row) {
    const auto xr = src.row(row);
    uint4 v[K];
#pragma unroll
    for (int i = 0; i < K; ++i) {
      const int base = (i * 32 + lane) * 8;
      v[i] = base < d ? xr.load(base) : make_uint4(0, 0, 0, 0);  // zeros add nothing
    }
    float mean = 0.0f;
    if (!kRms) {
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < K; ++i) {
        const uint32_t w[4] = {v[i].x, v[i].y, v[i].z, v[i].w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const float2 f = unpack2(w[k], T());
          sum += f.x + f.y;
        }
      }
      sum = groupReduce(sum, 32, [](float& a, const float& b) { a += b; });
      mean = sum / static_cast<float>(d);
    }
    float sq = 0.0f;
#pragma unroll
    for (int i = 0; i < K; ++i) {
      if ((i * 32 + lane) * 8 < d) {
        const uint32_t w[4] = {v[i].x, v[i].y, v[i].z, v[i].w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const float2 f = unpack2(w[k], T());
          const float a = f.x - mean, b = f.y - mean;
          sq += a * a + b * b;
        }
      }
    }
    sq = groupReduce(sq, 32, [](float& a, const float& b) { a += b; });
    if (p.discardX) xr.discard(d * static_cast<int>(sizeof(T)), lane);  // the row is in registers now
    const float inv = 1.0f / sqrtf(sq / static_cast<float>(d) + p.eps);
#pragma unroll
    for (int i = 0; i < K; ++i) {
      const int base = (i * 32 + lane) * 8;
      if (base < d) {
        const uint4 g = *reinterpret_cast<const uint4*>(scale + base);
        const uint4 b = bias ? *reinterpret_cast<const uint4*>(bias + base) : make_uint4(0, 0, 0, 0);
        const uint32_t w[4] = {v[i].x, v[i].y, v[i].z, v[i].w};
        const uint32_t gw[4] = {g.x, g.y, g.z, g.w}, bw[4] = {b.x, b.y, b.z, b.w};
        uint32_t o[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const float2 f = unpack2(w[k], T()), gf = unpack2(gw[k], T()), bf = unpack2(bw[k], T());
          o[k] = pack2((f.x - mean) * inv * gf.x + bf.x, (f.y - mean) * inv * gf.y + bf.y, T());
        }
        *reinterpret_cast<uint4*>(y + row * d + base) = make_uint4(o[0], o[1], o[2], o[3]);
      }
    }
    if (lane == 0) {
      if (p.mean) storeStat(p.mean, p.statDouble, row, mean);
      if (p.invStd) storeStat(p.invStd, p.statDouble, row, inv);
    }
  });
}

template <typename T, int V, bool kRms, typename Src>
__global__ void __launch_bounds__(kRowBlock) layerNormBlockKernel(Src src, T* __restrict__ y, int64_t rows, int64_t d,
                                                                   LnParams p) {
  using C = StatT<T>;
  __shared__ C smem[32];
  const int64_t nv = d / V;
  const T* scale = static_cast<const T*>(p.scale);
  const T* bias = static_cast<const T*>(p.bias);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const auto xr = src.row(row);
    T* yr = y + row * d;
    C mean = C(0);
    if (!kRms) {
      C sum = 0;
      for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
        C t[V];
        xr.template load<V, C>(i * V, t);
#pragma unroll
        for (int k = 0; k < V; ++k) sum += t[k];
      }
      sum = blockReduce(sum, C(0), smem, [](C& a, const C& b) { a += b; });
      mean = sum / static_cast<C>(d);
    }
    C sq = 0;
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
      C t[V];
      xr.template load<V, C>(i * V, t);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const C c = t[k] - mean;
        sq += c * c;
      }
    }
    sq = blockReduce(sq, C(0), smem, [](C& a, const C& b) { a += b; });
    const C inv = C(1) / sqrtC(sq / static_cast<C>(d) + static_cast<C>(p.eps));
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
      C t[V];
      xr.template load<V, C>(i * V, t);
      C g[V], b[V];
      loadParam<T, C, V>(scale, p.scaleScalar, i * V, g);
      if (bias) {
        loadParam<T, C, V>(bias, p.biasScalar, i * V, b);
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) b[k] = C(0);
      }
      Vec<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k) o.v[k] = fromC<T>((t[k] - mean) * inv * g[k] + b[k]);
      storeVec<T, V>(yr + i * V, o);
    }
    if (threadIdx.x == 0) {
      if (p.mean) storeStat(p.mean, p.statDouble, row, mean);
      if (p.invStd) storeStat(p.invStd, p.statDouble, row, inv);
    }
  }
}

// Vectors per lane: exact for 16-byte vectors (at most 32 / V steps: BERT's 768 fp16 values are
// 3 vectors a lane, not 4 with one idle: 11.8 -> 11.3 us at BERT-base batch 64 on H200), powers
// of two for narrower ones (fewer instantiations).
//
// Tried and not kept (same H200 case, ncu): a warp walking several rows with Scale/B held in
// registers and one or two rows' loads in flight took 11.7-11.8 us: fewer instructions and more
// loads in flight did not move it; the kernel is within ~3 us of a plain copy of X.
template <typename T, int V, bool kRms, int K, typename Src>
cudaError_t launchWarpIters(const LayerNormArgs& a, const LnParams& p, const Src& src, int perLane, cudaStream_t s) {
  constexpr int kNext = V >= 4 ? K + 1 : K * 2;
  if (perLane <= K || kNext * V > 32) {
    const unsigned grid = gridFor(a.rows, kWarpBlock / 32, a.smCount, 16);
    layerNormWarpKernel<T, V, K, kRms><<<grid, kWarpBlock, 0, s>>>(src, static_cast<T*>(a.y), a.rows,
                                                                    static_cast<int>(a.d), p);
    return cudaGetLastError();
  }
  if constexpr (kNext * V <= 32) return launchWarpIters<T, V, kRms, kNext>(a, p, src, perLane, s);
  return cudaErrorInvalidValue;
}

// srcAligned: every row the source reads starts 16-byte aligned when d is a multiple of the vector.
template <typename T, bool kRms, typename Src>
cudaError_t launchTyped(const LayerNormArgs& a, const LnParams& p, const Src& src, bool srcAligned, cudaStream_t s) {
  constexpr int VV = kVec<T>;
  // Vector loads of the row parameters need them aligned too (scalars are read one value).
  const bool vec = a.d % VV == 0 && srcAligned && aligned16(a.y) &&
                   (a.scale.kind == ParamView::kScalar || aligned16(a.scale.p)) &&
                   (!a.bias.p || a.bias.kind == ParamView::kScalar || aligned16(a.bias.p));
  const int64_t maxWarpRow = 32 * 32;  // 32 values per lane
  if (a.d <= maxWarpRow) {
    if (vec)
      return launchWarpIters<T, VV, kRms, 1>(a, p, src, static_cast<int>((a.d + 32 * VV - 1) / (32 * VV)), s);
    return launchWarpIters<T, 1, kRms, 1>(a, p, src, static_cast<int>((a.d + 31) / 32), s);
  }
  const unsigned grid = gridFor(a.rows, 1, a.smCount, 4);
  if (vec)
    layerNormBlockKernel<T, VV, kRms><<<grid, kRowBlock, 0, s>>>(src, static_cast<T*>(a.y), a.rows, a.d, p);
  else
    layerNormBlockKernel<T, 1, kRms><<<grid, kRowBlock, 0, s>>>(src, static_cast<T*>(a.y), a.rows, a.d, p);
  return cudaGetLastError();
}

// The packed kernel where it applies (16-bit rows of whole 16-byte vectors, at most 1024 values,
// aligned buffers (srcAligned: the source's rows), Scale/B per row element); cudaErrorNotSupported
// otherwise, for the float-holding kernels.
template <typename T, bool kRms, typename Src>
cudaError_t launchPacked(const LayerNormArgs& a, const LnParams& p, const Src& src, bool srcAligned, cudaStream_t s) {
  if constexpr (sizeof(T) != 2) {  // float16 and bfloat16
    return cudaErrorNotSupported;
  } else {
    const bool fits = a.d % 8 == 0 && a.d <= 32 * 8 * 4 && srcAligned && aligned16(a.y) &&
                      a.scale.kind == ParamView::kRow && aligned16(a.scale.p) &&
                      (!a.bias.p || (a.bias.kind == ParamView::kRow && aligned16(a.bias.p)));
    if (!fits) return cudaErrorNotSupported;
    LnParams q = p;
    q.discardX = a.discardX && a.d * sizeof(T) % 128 == 0 && reinterpret_cast<uintptr_t>(a.x) % 128 == 0;
    const unsigned grid = gridFor(a.rows, kWarpBlock / 32, a.smCount, 16);
    T* y = static_cast<T*>(a.y);
    const int d = static_cast<int>(a.d);
    auto launch = [&](auto kernel) { return launchMaybePdl(kernel, grid, kWarpBlock, 0, s, a.pdl, src, y, a.rows, d, q); };
    switch ((d + 255) / 256) {
      case 1: return launch(layerNormPackedKernel<T, 1, kRms, Src>);
      case 2: return launch(layerNormPackedKernel<T, 2, kRms, Src>);
      case 3: return launch(layerNormPackedKernel<T, 3, kRms, Src>);
      default: return launch(layerNormPackedKernel<T, 4, kRms, Src>);
    }
  }
}

}  // namespace

bool layerNormSupportsType(DType t) { return inSet<FloatSet>(t); }
bool paramSupportsType(DType t) { return inSet<FloatSet>(t); }

cudaError_t launchLayerNorm(const LayerNormArgs& a, cudaStream_t s) {
  if (a.rows <= 0 || a.d <= 0) return cudaSuccess;
  if (a.scale.kind == ParamView::kStrided || a.bias.kind == ParamView::kStrided || !a.scale.p ||
      a.scale.dtype != a.dtype || (a.bias.p && a.bias.dtype != a.dtype))
    return cudaErrorInvalidValue;
  LnParams p{a.scale.p, a.bias.p, a.scale.kind == ParamView::kScalar, a.bias.kind == ParamView::kScalar,
             a.mean, a.invStd, a.statDtype == DType::kFloat64, a.epsilon, false};
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    if (a.packed) {
      const PackedRows<T> src{static_cast<const T*>(a.x), static_cast<int>(a.d)};
      err = a.rms ? launchPacked<T, true>(a, p, src, aligned16(a.x), s) : launchPacked<T, false>(a, p, src, aligned16(a.x), s);
      if (err != cudaErrorNotSupported) return;
    }
    const PlainRows<T> src{static_cast<const T*>(a.x), a.d};
    err = a.rms ? launchTyped<T, true>(a, p, src, aligned16(a.x), s) : launchTyped<T, false>(a, p, src, aligned16(a.x), s);
  });
  return err;
}

cudaError_t launchEmbedLayerNorm(const LayerNormArgs& a, const EmbedSource& e, cudaStream_t s) {
  if (a.rows <= 0 || a.d <= 0) return cudaSuccess;
  if (a.rms || a.scale.kind != ParamView::kRow || !a.scale.p || a.scale.dtype != a.dtype ||
      (a.bias.p && (a.bias.kind != ParamView::kRow || a.bias.dtype != a.dtype)) || e.d != a.d || !e.table0 ||
      e.rank < 0 || e.rank > EmbedSource::kMaxRank)
    return cudaErrorInvalidValue;
  LnParams p{a.scale.p, a.bias.p, false, false, nullptr, nullptr, false, a.epsilon, false};
  const bool aligned = aligned16(e.table0) && (!e.table1 || aligned16(e.table1)) && (!e.addend || aligned16(e.addend));
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    // The packed kernel (cuda_norm_packed_embed_layernorm) where the tables allow it: the float-
    // holding one holds 24 floats a lane at BERT's 768 values and fits 9 blocks an SM.
    if (a.packed) {
      err = launchPacked<T, false>(a, p, PackedEmbedRows<T>{EmbedRows<T>{e}}, aligned, s);
      if (err != cudaErrorNotSupported) return;
    }
    err = launchTyped<T, false>(a, p, EmbedRows<T>{e}, aligned, s);
  });
  return err;
}

}  // namespace kiln::cuda::rn
