// What the standalone kernel microbenchmarks in bench/ share (attn_micro.cu, qkv_attn_micro.cu,
// cutlass_gemm_probe.cu): a CUDA call check that stops the program with the failing call, and (with
// attention_kernels.h included first) the float32 attention reference they check against.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CK(x)                                                                         \
  do {                                                                                \
    cudaError_t e_ = (x);                                                             \
    if (e_ != cudaSuccess) {                                                          \
      std::printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

// Per-launch times (us) of `launch(i)` on the default stream: 62 event-timed batches of 30
// launches (i = 0..29 within a batch), the first two dropped; sorted, so median, p99 and min are
// at size / 2, size * 99 / 100 and 0.
template <class Launch>
std::vector<float> timeBatches(Launch&& launch) {
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  std::vector<float> per;
  for (int rep = 0; rep < 62; ++rep) {
    CK(cudaEventRecord(e0));
    for (int i = 0; i < 30; ++i) launch(i);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    if (rep >= 2) per.push_back(ms * 1000 / 30);
  }
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
  std::sort(per.begin(), per.end());
  return per;
}

#ifdef KILN_MICRO_ATTENTION_REFERENCE
// One thread per (b, h, i): float32 softmax(scale q.k + mask) v of float16 Q/K/V (the layout the
// AttnParams strides give, grouped heads allowed), an additive float16 mask, causal; out is
// [B, Hq, Sq, Dv]. Up to 128 keys.
__global__ void refAttentionKernel(kiln::cuda::AttnParams p, float* out) {
  using kiln::cuda::AttnMaskKind;
  const int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (idx >= p.B * p.Hq * p.Sq) return;
  const int64_t i = idx % p.Sq, h = (idx / p.Sq) % p.Hq, b = idx / (p.Sq * p.Hq);
  const int64_t kh = h / (p.Hq / p.Hkv);
  const __half* q = static_cast<const __half*>(p.q) + b * p.qB + h * p.qH + i * p.qS;
  float sc[128];
  float mx = -INFINITY;
  for (int j = 0; j < p.Skv; ++j) {
    const __half* k = static_cast<const __half*>(p.k) + b * p.kB + kh * p.kH + j * p.kS;
    float d = 0;
    for (int c = 0; c < p.D; ++c) d += __half2float(q[c]) * __half2float(k[c]);
    float v = d * p.scale;
    if (p.maskKind == AttnMaskKind::kFloat16)
      v += __half2float(static_cast<const __half*>(p.mask)[b * p.mB + h * p.mH + i * p.mS + j * p.mJ]);
    if (p.causal && j > i) v = -INFINITY;
    sc[j] = v;
    mx = fmaxf(mx, v);
  }
  float l = 0;
  for (int j = 0; j < p.Skv; ++j) {
    sc[j] = mx == -INFINITY ? 0.0f : expf(sc[j] - mx);
    l += sc[j];
  }
  for (int c = 0; c < p.Dv; ++c) {
    float acc = 0;
    for (int j = 0; j < p.Skv; ++j)
      acc += sc[j] * __half2float(static_cast<const __half*>(p.v)[b * p.vB + kh * p.vH + j * p.vS + c]);
    out[((b * p.Hq + h) * p.Sq + i) * p.Dv + c] = l > 0 ? acc / l : 0.0f;
  }
}

// Relative L2 and max abs error of a kernel's attention output y [B, S, H, 64] (float16, copied
// back) against the reference [B, H, S, 64]; a NaN (an unwritten element of a poisoned output)
// counts as a huge error.
struct AttentionError {
  double rel = 0, maxAbs = 0;
};
inline AttentionError attentionError(const std::vector<__half>& y, const float* ref, int B, int H, int S) {
  double num = 0, den = 0, maxAbs = 0;
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < S; ++i)
      for (int h = 0; h < H; ++h)
        for (int c = 0; c < 64; ++c) {
          const double v = __half2float(y[((size_t(b) * S + i) * H + h) * 64 + c]);
          const double r = ref[((size_t(b) * H + h) * S + i) * 64 + c];
          const double d = std::isnan(v) ? 1e30 : v - r;
          num += d * d, den += r * r, maxAbs = std::max(maxAbs, std::fabs(d));
        }
  return {std::sqrt(num / std::max(den, 1e-30)), maxAbs};
}
#endif
