// GroupNormalization / InstanceNormalization, BatchNormalization (inference), LpNormalization,
// MeanVarianceNormalization and LRN. Statistics in float (double for float64).
//  - group norm: one block per (n, group) of (C/G)*S contiguous elements, two statistics passes
//    (exact two-pass variance, as the CPU reference) and an output pass;
//  - batch norm: element-wise, y = (x - mean) * scale / sqrt(var + eps) + B per channel;
//  - Lp norm: a warp per row (innermost axis) or a thread per column;
//  - MVN: one block per statistics group over the reduced runs of a ReduceLayout;
//  - LRN: one thread per element summing squares over its channel window.
#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::rn {

namespace {

// ---- group norm -------------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(256) groupNormKernel(const T* __restrict__ x, T* __restrict__ y,
                                                       const T* __restrict__ scale, const T* __restrict__ bias,
                                                       int64_t n, int64_t c, int64_t s, int64_t groups,
                                                       bool perGroup, float eps) {
  using C = StatT<T>;
  __shared__ C smem[32];
  const int64_t cpg = c / groups, len = cpg * s;
  for (int64_t t = blockIdx.x; t < n * groups; t += gridDim.x) {  // block-uniform
    const int64_t g = t % groups;
    const T* xr = x + t * len;
    T* yr = y + t * len;
    C sum = 0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) sum += toC<C>(xr[i]);
    sum = blockReduce(sum, C(0), smem, [](C& a, const C& b) { a += b; });
    const C mean = sum / static_cast<C>(len);
    C sq = 0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const C d = toC<C>(xr[i]) - mean;
      sq += d * d;
    }
    sq = blockReduce(sq, C(0), smem, [](C& a, const C& b) { a += b; });
    const C inv = C(1) / sqrtC(sq / static_cast<C>(len) + static_cast<C>(eps));
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const int64_t pi = perGroup ? g : g * cpg + i / s;
      const C a = toC<C>(scale[pi]) * inv;
      const C b = toC<C>(bias[pi]) - mean * a;
      yr[i] = fromC<T>(toC<C>(xr[i]) * a + b);
    }
  }
}

// ---- batch norm (inference) ---------------------------------------------------------------------------
template <typename T, typename P, typename Q>
__global__ void batchNormKernel(const T* __restrict__ x, T* __restrict__ y, const P* __restrict__ scale,
                                const P* __restrict__ bias, const Q* __restrict__ mean, const Q* __restrict__ var,
                                int64_t total, int64_t c, int64_t s, bool perAct, float eps) {
  using C = StatT<T>;
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t row = i / s;
    const int64_t ch = row % c;
    const int64_t k = perAct ? ch * s + (i - row * s) : ch;
    const C a = toC<C>(scale[k]) / sqrtC(toC<C>(var[k]) + static_cast<C>(eps));
    const C b = toC<C>(bias[k]) - toC<C>(mean[k]) * a;
    y[i] = fromC<T>(toC<C>(x[i]) * a + b);
  }
}

// ---- Lp norm --------------------------------------------------------------------------------------------
template <typename C>
__device__ __forceinline__ C lpScale(C acc, int p) {
  const C norm = p == 1 ? acc : sqrtC(acc);
  return norm == C(0) ? C(0) : C(1) / norm;
}

template <typename T>
__global__ void __launch_bounds__(256) lpNormRowsKernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                                        int64_t n, int p) {
  using C = StatT<T>;
  const int lane = threadIdx.x & 31;
  const int64_t step = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); row < rows;
       row += step) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    C acc = 0;
    for (int64_t i = lane; i < n; i += 32) {
      const C v = toC<C>(xr[i]);
      acc += p == 1 ? fabsC(v) : v * v;
    }
    acc = groupReduce(acc, 32, [](C& a, const C& b) { a += b; });
    const C sc = lpScale(acc, p);
    for (int64_t i = lane; i < n; i += 32) yr[i] = fromC<T>(toC<C>(xr[i]) * sc);
  }
}

template <typename T>
__global__ void lpNormColsKernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n,
                                 int64_t inner, int p) {
  using C = StatT<T>;
  KILN_GRID_STRIDE_LOOP(col, outer * inner) {
    const int64_t o = col / inner, j = col - o * inner;
    const int64_t base = o * n * inner + j;
    C acc = 0;
    for (int64_t i = 0; i < n; ++i) {
      const C v = toC<C>(x[base + i * inner]);
      acc += p == 1 ? fabsC(v) : v * v;
    }
    const C sc = lpScale(acc, p);
    for (int64_t i = 0; i < n; ++i) y[base + i * inner] = fromC<T>(toC<C>(x[base + i * inner]) * sc);
  }
}

// ---- MVN ---------------------------------------------------------------------------------------------------
struct MvnPlan {
  int nOut = 0, nRed = 0;
  int64_t outDim[kMaxRuns] = {}, outStride[kMaxRuns] = {};
  int64_t redDim[kMaxRuns] = {}, redStride[kMaxRuns] = {};
  int64_t outCount = 1, redCount = 1;
};

__device__ __forceinline__ int64_t mvnOffset(int64_t k, int n, const int64_t* dim, const int64_t* stride) {
  int64_t off = 0;
  for (int i = n - 1; i >= 0; --i) {
    const int64_t q = k / dim[i];
    off += (k - q * dim[i]) * stride[i];
    k = q;
  }
  return off;
}

template <typename T>
__global__ void __launch_bounds__(256) mvnKernel(const T* __restrict__ x, T* __restrict__ y, MvnPlan p) {
  using C = StatT<T>;
  __shared__ C smem[32];
  for (int64_t o = blockIdx.x; o < p.outCount; o += gridDim.x) {  // block-uniform
    const int64_t base = mvnOffset(o, p.nOut, p.outDim, p.outStride);
    C sum = 0;
    for (int64_t r = threadIdx.x; r < p.redCount; r += blockDim.x)
      sum += toC<C>(x[base + mvnOffset(r, p.nRed, p.redDim, p.redStride)]);
    sum = blockReduce(sum, C(0), smem, [](C& a, const C& b) { a += b; });
    const C mean = sum / static_cast<C>(p.redCount);
    C sq = 0;
    for (int64_t r = threadIdx.x; r < p.redCount; r += blockDim.x) {
      const C d = toC<C>(x[base + mvnOffset(r, p.nRed, p.redDim, p.redStride)]) - mean;
      sq += d * d;
    }
    sq = blockReduce(sq, C(0), smem, [](C& a, const C& b) { a += b; });
    const C inv = C(1) / (sqrtC(sq / static_cast<C>(p.redCount)) + C(1e-9));
    for (int64_t r = threadIdx.x; r < p.redCount; r += blockDim.x) {
      const int64_t off = base + mvnOffset(r, p.nRed, p.redDim, p.redStride);
      y[off] = fromC<T>((toC<C>(x[off]) - mean) * inv);
    }
  }
}

// ---- LRN ----------------------------------------------------------------------------------------------------
template <typename T>
__global__ void lrnKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, int64_t c, int64_t s,
                          int64_t size, float alpha, float beta, float bias) {
  using C = StatT<T>;
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  const C a = static_cast<C>(static_cast<double>(alpha) / static_cast<double>(size));
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t row = i / s, j = i - row * s;
    const int64_t ch = row % c, n = row / c;
    const int64_t c0 = ch - before > 0 ? ch - before : 0;
    const int64_t c1 = ch + after < c - 1 ? ch + after : c - 1;
    C sum = 0;
    for (int64_t k = c0; k <= c1; ++k) {
      const C v = toC<C>(x[(n * c + k) * s + j]);
      sum += v * v;
    }
    y[i] = fromC<T>(toC<C>(x[i]) / powC(static_cast<C>(bias) + a * sum, static_cast<C>(beta)));
  }
}

template <typename T, typename P>
cudaError_t batchNormP(const BatchNormArgs& a, cudaStream_t s) {
  const int64_t total = a.n * a.c * a.s;
  const unsigned grid = gridFor(total, kThreads, a.smCount, 16);
  cudaError_t err = cudaErrorInvalidValue;
  auto go = [&](auto qtag) {
    using Q = KILN_RN_TYPE(qtag);
    batchNormKernel<T, P, Q><<<grid, kThreads, 0, s>>>(
        static_cast<const T*>(a.x), static_cast<T*>(a.y), static_cast<const P*>(a.scale),
        static_cast<const P*>(a.bias), static_cast<const Q*>(a.mean), static_cast<const Q*>(a.var), total, a.c, a.s,
        a.perActivation, a.epsilon);
    err = cudaGetLastError();
  };
  if (a.statDtype == a.dtype) go(Tag<T>{});
  else if (a.statDtype == DType::kFloat32) go(Tag<float>{});
  return err;
}

// Training mode, one block per channel (a rare layer; exported training graphs): population mean
// and variance of the channel over N and the spatial dims in the stat type (two passes, as the
// CPU reference), the running statistics, then y = x * a + b with the batch statistics.
template <typename T, typename P, typename Q>
__global__ void __launch_bounds__(256) batchNormTrainKernel(const T* __restrict__ x, T* __restrict__ y,
                                                            const P* scale, const P* bias, const Q* mean,
                                                            const Q* var, Q* runMean, Q* runVar, int64_t n,
                                                            int64_t c, int64_t sp, float eps, float momentum) {
  using C = StatT<T>;
  __shared__ C red[32];
  const int64_t ch = blockIdx.x;
  const int64_t count = n * sp;
  auto blockSum = [&](C v) {
    for (int off = 16; off > 0; off >>= 1) v += shflXor(v, off);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    C t = 0;
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) t += red[w];  // same order in every thread
    __syncthreads();
    return t;
  };
  C acc = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const int64_t k = i / sp, j = i - k * sp;
    acc += toC<C>(x[(k * c + ch) * sp + j]);
  }
  const C m = count ? blockSum(acc) / static_cast<C>(count) : C(0);
  acc = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const int64_t k = i / sp, j = i - k * sp;
    const C t = toC<C>(x[(k * c + ch) * sp + j]) - m;
    acc += t * t;
  }
  const C v = count ? blockSum(acc) / static_cast<C>(count) : C(0);
  if (threadIdx.x == 0) {
    const C mom = static_cast<C>(momentum);
    if (runMean) runMean[ch] = fromC<Q>(toC<C>(mean[ch]) * mom + m * (C(1) - mom));
    if (runVar) runVar[ch] = fromC<Q>(toC<C>(var[ch]) * mom + v * (C(1) - mom));
  }
  const C a = toC<C>(scale[ch]) / sqrtC(v + static_cast<C>(eps));
  const C b = toC<C>(bias[ch]) - m * a;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const int64_t k = i / sp, j = i - k * sp;
    const int64_t off = (k * c + ch) * sp + j;
    y[off] = fromC<T>(toC<C>(x[off]) * a + b);
  }
}

template <typename T, typename P>
cudaError_t batchNormTrainP(const BatchNormArgs& a, cudaStream_t s) {
  cudaError_t err = cudaErrorInvalidValue;
  auto go = [&](auto qtag) {
    using Q = KILN_RN_TYPE(qtag);
    batchNormTrainKernel<T, P, Q><<<static_cast<unsigned>(a.c), 256, 0, s>>>(
        static_cast<const T*>(a.x), static_cast<T*>(a.y), static_cast<const P*>(a.scale),
        static_cast<const P*>(a.bias), static_cast<const Q*>(a.mean), static_cast<const Q*>(a.var),
        static_cast<Q*>(a.runMean), static_cast<Q*>(a.runVar), a.n, a.c, a.s, a.epsilon, a.momentum);
    err = cudaGetLastError();
  };
  if (a.statDtype == a.dtype) go(Tag<T>{});
  else if (a.statDtype == DType::kFloat32) go(Tag<float>{});
  return err;
}

}  // namespace

cudaError_t launchGroupNorm(const GroupNormArgs& a, cudaStream_t s) {
  if (a.n * a.c * a.s == 0) return cudaSuccess;
  if (a.groups <= 0 || a.c % a.groups != 0) return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    groupNormKernel<T><<<gridFor(a.n * a.groups, 1, a.smCount, 8), 256, 0, s>>>(
        static_cast<const T*>(a.x), static_cast<T*>(a.y), static_cast<const T*>(a.scale),
        static_cast<const T*>(a.bias), a.n, a.c, a.s, a.groups, a.perGroup, a.epsilon);
    err = cudaGetLastError();
  });
  return err;
}

// Parameters: scale/B of X's type or float32 (paramDtype), mean/var likewise (statDtype).
cudaError_t launchBatchNorm(const BatchNormArgs& a, cudaStream_t s) {
  if (a.training && (a.perActivation || a.c > 0x7fffffff)) return cudaErrorInvalidValue;
  if (a.n * a.c * a.s == 0 && !a.training) return cudaSuccess;
  if (a.c == 0) return cudaSuccess;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    if (a.training) err = a.paramDtype == a.dtype ? batchNormTrainP<T, T>(a, s)
                          : a.paramDtype == DType::kFloat32 ? batchNormTrainP<T, float>(a, s) : cudaErrorInvalidValue;
    else if (a.paramDtype == a.dtype) err = batchNormP<T, T>(a, s);
    else if (a.paramDtype == DType::kFloat32) err = batchNormP<T, float>(a, s);
  });
  return err;
}

cudaError_t launchLpNorm(const LpNormArgs& a, cudaStream_t s) {
  if (a.outer * a.n * a.inner == 0) return cudaSuccess;
  if (a.p != 1 && a.p != 2) return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    const T* x = static_cast<const T*>(a.x);
    T* y = static_cast<T*>(a.y);
    if (a.inner == 1)
      lpNormRowsKernel<T><<<gridFor(a.outer, 8, a.smCount, 8), 256, 0, s>>>(x, y, a.outer, a.n, a.p);
    else
      lpNormColsKernel<T><<<gridFor(a.outer * a.inner, kThreads, a.smCount, 8), kThreads, 0, s>>>(x, y, a.outer, a.n,
                                                                                                  a.inner, a.p);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t launchMvn(const MvnArgs& a, cudaStream_t s) {
  const ReduceLayout& L = a.layout;
  if (L.rank < 1 || L.rank > kMaxRuns) return cudaErrorInvalidValue;
  MvnPlan p;
  for (int i = 0; i < L.rank; ++i) {
    if (L.red[i]) {
      p.redDim[p.nRed] = L.dim[i];
      p.redStride[p.nRed++] = L.stride[i];
    } else {
      p.outDim[p.nOut] = L.dim[i];
      p.outStride[p.nOut++] = L.stride[i];
    }
  }
  p.outCount = L.outCount;
  p.redCount = L.redCount;
  if (p.outCount * p.redCount == 0) return cudaSuccess;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    mvnKernel<T><<<gridFor(p.outCount, 1, a.smCount, 8), 256, 0, s>>>(static_cast<const T*>(a.x),
                                                                       static_cast<T*>(a.y), p);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t launchLrn(const LrnArgs& a, cudaStream_t s) {
  const int64_t total = a.n * a.c * a.s;
  if (total == 0) return cudaSuccess;
  if (a.size <= 0) return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    lrnKernel<T><<<gridFor(total, kThreads, a.smCount, 16), kThreads, 0, s>>>(
        static_cast<const T*>(a.x), static_cast<T*>(a.y), total, a.c, a.s, a.size, a.alpha, a.beta, a.bias);
    err = cudaGetLastError();
  });
  return err;
}

}  // namespace kiln::cuda::rn
