// RotaryEmbedding, SwiGLU, TensorScatter, CausalConvWithState and LinearAttention on the GPU,
// mirroring the CPU reference (cpu/kernels/attention_llm.cc) operation for operation: 16-bit
// floats compute in float and round to their storage type where the reference does, sums run in
// the reference's order, and products and sums use explicitly rounded operations (__fmul_rn,
// __fadd_rn, ...) so that nvcc cannot contract them into FMAs the host code does not use. Only
// exp differs from the host's libm by an ulp or two. No atomics: every output element is written
// by one thread, so results are deterministic.
#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/exact_math.cuh"
#include "backends/cuda/kernels/llm_launch.h"

namespace kiln::cuda::llm {

namespace {

template <typename T>
struct Tag {
  using type = T;
};

// Calls f(Tag<T>{}) for the device type of t; false for a type outside `allowDouble`'s set.
template <typename F>
bool dispatchFloat(LlmType t, bool allowDouble, F&& f) {
  switch (t) {
    case LlmType::kF32: f(Tag<float>{}); return true;
    case LlmType::kF16: f(Tag<__half>{}); return true;
    case LlmType::kBF16: f(Tag<__nv_bfloat16>{}); return true;
    case LlmType::kF64:
      if (!allowDouble) return false;
      f(Tag<double>{});
      return true;
  }
  return false;
}

using exact::add;
using exact::dvd;
using exact::mul;
using exact::sub;
__device__ __forceinline__ float expOf(float x) { return expf(x); }
__device__ __forceinline__ double expOf(double x) { return exp(x); }

template <typename T>
__device__ __forceinline__ float toF(T v) {
  return convertTo<float>(v);
}

// Rounds a compute value to T's precision (identity for float and double), like the reference's rt<T>.
template <typename T, typename C>
__device__ __forceinline__ C rt(C x) {
  if constexpr (IsHalfLike<T>::value) return convertTo<float>(convertTo<T>(x));
  else return x;
}

// ---- RotaryEmbedding ----------------------------------------------------------------------------

template <typename T>
__global__ void rotaryKernel(RotaryArgs a, int64_t n) {
  const T* x = static_cast<const T*>(a.x);
  const T* cs = static_cast<const T*>(a.cosCache);
  const T* sn = static_cast<const T*>(a.sinCache);
  T* y = static_cast<T*>(a.y);
  const int64_t hd = a.headDim, half = a.rotDim / 2, S = a.seq, H = a.heads;
  KILN_GRID_STRIDE_LOOP(idx, n) {
    const int64_t j = idx % hd, rest = idx / hd;
    int64_t b, s;
    if (a.is4d) {
      s = rest % S;
      b = rest / S / H;
    } else {
      const int64_t r = rest / H;
      s = r % S;
      b = r / S;
    }
    if (j >= a.rotDim) {
      y[idx] = x[idx];
      continue;
    }
    const int64_t bs = b * S + s;
    int64_t row = bs;
    if (a.pos) {
      row = a.pos[bs];
      if (row < -a.maxPos || row >= a.maxPos) {  // refused by the CPU: leave unrotated
        y[idx] = x[idx];
        continue;
      }
      if (row < 0) row += a.maxPos;
    }
    int64_t i;
    bool first;
    if (a.interleaved) {
      i = j / 2;
      first = (j % 2) == 0;
    } else {
      first = j < half;
      i = first ? j : j - half;
    }
    const int64_t base = idx - j;
    const int64_t i1 = a.interleaved ? 2 * i : i, i2 = a.interleaved ? 2 * i + 1 : i + half;
    const float x1 = toF(x[base + i1]), x2 = toF(x[base + i2]);
    const float cv = toF(cs[row * half + i]), sv = toF(sn[row * half + i]);
    const float r = first ? rt<T>(sub(rt<T>(mul(cv, x1)), rt<T>(mul(sv, x2))))
                          : rt<T>(add(rt<T>(mul(sv, x1)), rt<T>(mul(cv, x2))));
    y[idx] = convertTo<T>(r);
  }
}

// ---- SwiGLU -------------------------------------------------------------------------------------

template <typename T>
__global__ void swiGluKernel(const T* pa, const T* pb, T* py, int64_t n, float alpha) {
  using C = typename ComputeTypeOf<T>::type;
  const C al = static_cast<C>(alpha);
  KILN_GRID_STRIDE_LOOP(i, n) {
    const C x = convertTo<C>(pa[i]);
    const C sig = rt<T>(dvd(C(1), add(C(1), expOf(mul(-al, x)))));
    py[i] = convertTo<T>(rt<T>(mul(rt<T>(mul(x, sig)), convertTo<C>(pb[i]))));
  }
}

// ---- TensorScatter ------------------------------------------------------------------------------

template <typename E>
__global__ void tensorScatterKernel(TensorScatterArgs a, int64_t n) {
  const E* src = static_cast<const E*>(a.update);
  E* dst = static_cast<E*>(a.out);
  KILN_GRID_STRIDE_LOOP(idx, n) {
    const int64_t e = idx % a.inner, r = idx / a.inner;
    const int64_t s = r % a.len, o = r / a.len;
    const int64_t b = o / a.perBatch;
    int64_t w = a.writeIndices ? a.writeIndices[b] : 0;
    if (a.circular) {
      w %= a.maxLen;
      if (w < 0) w += a.maxLen;
    } else if (w < 0 || w > a.maxLen - a.len) {
      continue;  // refused by the CPU: this batch keeps its cache rows
    }
    int64_t at = w + s;
    if (a.circular && at >= a.maxLen) at -= a.maxLen;
    dst[(o * a.maxLen + at) * a.inner + e] = src[idx];
  }
}

// ---- CausalConvWithState ------------------------------------------------------------------------

// Element p of the reference's padded row [past (K-1 values, zeros without past) | x (L values)].
template <typename T>
__device__ __forceinline__ float paddedAt(const CausalConvArgs& a, int64_t bc, int64_t p) {
  const int64_t km1 = a.kernel - 1;
  if (p < km1) return a.past ? toF(static_cast<const T*>(a.past)[bc * km1 + p]) : 0.0f;
  return toF(static_cast<const T*>(a.x)[bc * a.length + (p - km1)]);
}

// Indices [0, B*C*L) compute outputs; [B*C*L, B*C*(L+K-1)) copy the present state.
template <typename T>
__global__ void causalConvKernel(CausalConvArgs a, int64_t nOut, int64_t n) {
  const T* w = static_cast<const T*>(a.weight);
  const T* bias = static_cast<const T*>(a.bias);
  const int64_t L = a.length, K = a.kernel, km1 = K - 1;
  KILN_GRID_STRIDE_LOOP(idx, n) {
    if (idx < nOut) {
      const int64_t bc = idx / L, t = idx % L, c = bc % a.channels;
      const T* wc = w + c * K;
      float acc = 0.0f;
      for (int64_t i = 0; i < K; ++i) acc = add(acc, mul(toF(wc[i]), paddedAt<T>(a, bc, t + i)));
      const float b0 = bias ? toF(bias[c]) : 0.0f;
      float o = rt<T>(add(acc, b0));
      if (a.silu) o = dvd(o, add(1.0f, expf(-o)));
      static_cast<T*>(a.y)[idx] = convertTo<T>(o);
    } else {
      const int64_t j = idx - nOut, bc = j / km1, i = j % km1;
      static_cast<T*>(a.present)[j] = convertTo<T>(paddedAt<T>(a, bc, L + i));
    }
  }
}

// ---- LinearAttention ----------------------------------------------------------------------------

constexpr int kLaMaxColumns = 256;
constexpr int64_t kLaSmemFloats = 48 * 1024 / 4;  // the default per-block limit, no opt-in needed

// Shared memory floats besides the state: k and exp(decay) rows (dk each), the group's queries.
int64_t laFixedFloats(int64_t dk, int64_t group) { return (2 + group) * dk; }

template <typename T, typename S>
__global__ void linearAttentionKernel(LinearAttentionArgs a, int cols) {
  extern __shared__ float smem[];
  const int64_t dk = a.dk, dv = a.dv, hkv = a.kvHeads, hq = a.qHeads, group = hq / hkv, nT = a.seq;
  float* st = smem;         // [dk][cols]: column c is this thread's state column
  float* kS = st + dk * cols;  // [dk]
  float* gS = kS + dk;         // [dk]
  float* qS = gS + dk;         // [group][dk]
  const T* q = static_cast<const T*>(a.q);
  const T* k = static_cast<const T*>(a.k);
  const T* v = static_cast<const T*>(a.v);
  const T* g = static_cast<const T*>(a.decay);
  const T* be = static_cast<const T*>(a.beta);
  const S* ps = static_cast<const S*>(a.past);
  T* out = static_cast<T*>(a.out);
  const int64_t bh = blockIdx.x, b = bh / hkv, h = bh % hkv;
  const int c = threadIdx.x;
  const int64_t m = static_cast<int64_t>(blockIdx.y) * cols + c;
  const bool active = c < cols && m < dv;
  const bool perHeadDecay = a.decayLast == hkv;
  if (active)
    for (int64_t d = 0; d < dk; ++d) st[d * cols + c] = ps ? toF(ps[(bh * dk + d) * dv + m]) : 0.0f;
  for (int64_t t = 0; t < nT; ++t) {
    const int64_t bt = b * nT + t;
    __syncthreads();  // the previous step's readers are done with kS/gS/qS
    for (int64_t i = threadIdx.x; i < dk; i += blockDim.x) {
      kS[i] = toF(k[(bt * hkv + h) * dk + i]);
      if (a.gating) gS[i] = expf(toF(g[perHeadDecay ? bt * hkv + h : (bt * hkv + h) * dk + i]));
    }
    for (int64_t i = threadIdx.x; i < group * dk; i += blockDim.x) qS[i] = toF(q[(bt * hq + h * group) * dk + i]);
    __syncthreads();
    if (!active) continue;
    float vt = toF(v[(bt * hkv + h) * dv + m]);
    if (a.gating)
      for (int64_t d = 0; d < dk; ++d) st[d * cols + c] = mul(st[d * cols + c], gS[d]);
    if (a.delta) {
      const float bv = toF(be[bt * a.betaLast + (a.betaLast == 1 ? 0 : h)]);
      float r = 0.0f;
      for (int64_t d = 0; d < dk; ++d) r = add(r, mul(st[d * cols + c], kS[d]));
      vt = mul(bv, sub(vt, r));
    }
    for (int64_t d = 0; d < dk; ++d) st[d * cols + c] = add(st[d * cols + c], mul(kS[d], vt));
    for (int64_t gi = 0; gi < group; ++gi) {
      const float* qt = qS + gi * dk;
      float acc = 0.0f;
      for (int64_t d = 0; d < dk; ++d) acc = add(acc, mul(qt[d], st[d * cols + c]));
      out[(bt * hq + h * group + gi) * dv + m] = convertTo<T>(mul(a.scale, acc));
    }
  }
  if (active && a.present) {
    S* pr = static_cast<S*>(a.present);
    for (int64_t d = 0; d < dk; ++d) pr[(bh * dk + d) * dv + m] = convertTo<S>(st[d * cols + c]);
  }
}

}  // namespace

cudaError_t launchRotary(const RotaryArgs& a, cudaStream_t s) {
  if (a.headDim <= 0 || a.heads <= 0 || a.rotDim < 0 || a.rotDim > a.headDim || a.rotDim % 2 != 0)
    return cudaErrorInvalidValue;
  const int64_t n = a.batch * a.seq * a.heads * a.headDim;
  if (n == 0) return cudaSuccess;
  const bool ok = dispatchFloat(a.type, false, [&](auto tag) {
    using T = typename decltype(tag)::type;
    rotaryKernel<T><<<blocksFor(n), kThreads, 0, s>>>(a, n);
  });
  return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchSwiGlu(const SwiGluArgs& a, cudaStream_t s) {
  if (a.n == 0) return cudaSuccess;
  const bool ok = dispatchFloat(a.type, true, [&](auto tag) {
    using T = typename decltype(tag)::type;
    swiGluKernel<T><<<blocksFor(a.n), kThreads, 0, s>>>(static_cast<const T*>(a.a), static_cast<const T*>(a.b),
                                                        static_cast<T*>(a.y), a.n, a.alpha);
  });
  return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

cudaError_t launchTensorScatter(const TensorScatterArgs& a, cudaStream_t s) {
  const int64_t outer = a.batch * a.perBatch;
  if (a.out != a.cache && outer * a.maxLen * a.inner > 0) {
    const cudaError_t e = cudaMemcpyAsync(a.out, a.cache, static_cast<size_t>(outer * a.maxLen * a.inner) * a.elemSize,
                                          cudaMemcpyDeviceToDevice, s);
    if (e != cudaSuccess) return e;
  }
  const int64_t n = outer * a.len * a.inner;
  if (n == 0) return cudaSuccess;
  if (a.perBatch <= 0 || a.len > a.maxLen) return cudaErrorInvalidValue;
  const unsigned grid = blocksFor(n);
  switch (a.elemSize) {
    case 1: tensorScatterKernel<uint8_t><<<grid, kThreads, 0, s>>>(a, n); break;
    case 2: tensorScatterKernel<uint16_t><<<grid, kThreads, 0, s>>>(a, n); break;
    case 4: tensorScatterKernel<uint32_t><<<grid, kThreads, 0, s>>>(a, n); break;
    case 8: tensorScatterKernel<uint64_t><<<grid, kThreads, 0, s>>>(a, n); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchCausalConv(const CausalConvArgs& a, cudaStream_t s) {
  if (a.kernel < 1) return cudaErrorInvalidValue;
  const int64_t rows = a.batch * a.channels;
  const int64_t nOut = rows * a.length;
  const int64_t n = nOut + (a.present ? rows * (a.kernel - 1) : 0);
  if (n == 0) return cudaSuccess;
  const bool ok = dispatchFloat(a.type, false, [&](auto tag) {
    using T = typename decltype(tag)::type;
    causalConvKernel<T><<<blocksFor(n), kThreads, 0, s>>>(a, nOut, n);
  });
  return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

int linearAttentionColumns(int64_t dk, int64_t dv, int64_t group) {
  if (dv <= 0) return 1;
  int64_t cols = dv < kLaMaxColumns ? dv : kLaMaxColumns;
  if (dk > 0) {
    const int64_t room = (kLaSmemFloats - laFixedFloats(dk, group)) / dk;
    if (room < cols) cols = room;
  }
  return cols < 1 ? 0 : static_cast<int>(cols);
}

cudaError_t launchLinearAttention(const LinearAttentionArgs& a, cudaStream_t s) {
  if (a.kvHeads <= 0 || a.qHeads <= 0 || a.qHeads % a.kvHeads != 0) return cudaErrorInvalidValue;
  const int64_t group = a.qHeads / a.kvHeads;
  const int cols = linearAttentionColumns(a.dk, a.dv, group);
  if (cols == 0) return cudaErrorInvalidValue;
  if (a.batch == 0 || a.dv == 0) return cudaSuccess;  // nothing to write
  const int threads = ((cols + 31) / 32) * 32;
  const size_t smem = static_cast<size_t>(a.dk * cols + laFixedFloats(a.dk, group)) * sizeof(float);
  const int64_t slices = (a.dv + cols - 1) / cols;
  if (a.batch * a.kvHeads > 0x7fffffffLL || slices > 65535) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(a.batch * a.kvHeads), static_cast<unsigned>(slices));
  bool ok = false;
  dispatchFloat(a.type, false, [&](auto tt) {
    using T = typename decltype(tt)::type;
    ok = dispatchFloat(a.stateType, false, [&](auto ts) {
      using S = typename decltype(ts)::type;
      linearAttentionKernel<T, S><<<grid, threads, smem, s>>>(a, cols);
    });
  });
  return ok ? cudaGetLastError() : cudaErrorInvalidValue;
}

}  // namespace kiln::cuda::llm
