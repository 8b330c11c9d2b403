// Fused QKV-projection + attention kernel (sm90/qkv_attention_wgmma.cu): check and timing, built
// standalone on the GPU machine (where nvcc is):
//   nvcc -std=c++17 -O3 -arch=sm_90a -Isrc -Iinclude bench/qkv_attn_micro.cu \
//     src/backends/cuda/sm90/qkv_attention_wgmma.cu src/backends/cuda/sm90/attention_wgmma.cu \
//     src/backends/cuda/kernels/attention_resident.cu src/backends/cuda/kernels/attention_flash.cu \
//     -lcublas -o qkv_attn_micro && ./qkv_attn_micro   (or: ./qkv_attn_micro profile, for ncu)
// Checks the fused kernel against a float32 reference (the projection rounded to float16 as the
// unfused graph stores it, then float32 attention) on random inputs at BERT-base's shape and odd
// ones (S < 128 and not a multiple of 16, hidden 64/320, few heads, per-key and general masks,
// bias or none); then times it at BERT-base batch 64 against what it replaces, cuBLAS's QKV GEMM
// followed by the wgmma attention kernel, median and p99 of event-timed batches.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/kernels/attention_kernels.h"
#include "backends/cuda/sm90/attention_wgmma.h"
#include "backends/cuda/sm90/qkv_attention_wgmma.h"
#define KILN_MICRO_ATTENTION_REFERENCE
#include "micro_check.cuh"

using namespace kiln;
using namespace kiln::cuda;

// QKV[r][n] = sum_k X[r][k] W[k][n] + bias[n], float32, rounded to float16.
__global__ void refGemm(const __half* X, const __half* W, const __half* bias, __half* QKV, int rows, int K, int N) {
  const int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (idx >= int64_t(rows) * N) return;
  const int64_t r = idx / N, n = idx % N;
  float acc = bias ? __half2float(bias[n]) : 0.0f;
  for (int k = 0; k < K; ++k) acc += __half2float(X[r * K + k]) * __half2float(W[int64_t(k) * N + n]);
  QKV[idx] = __float2half(acc);
}

struct Problem {
  int B, H, S, hidden;
  int maskMode;  // 0 none, 1 [B,1,1,S], 2 [B,1,S,S]
  bool bias;
};

struct Buffers {
  __half *x = nullptr, *w = nullptr, *bias = nullptr, *wPacked = nullptr, *biasPacked = nullptr;
  __half *qkv = nullptr, *y = nullptr, *mask = nullptr;
};

std::vector<__half> randomHalf(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<__half> h(n);
  for (auto& v : h) v = __float2half(u(rng));
  return h;
}

template <typename V>
__half* upload(const V& h) {
  __half* d;
  CK(cudaMalloc(&d, h.size() * 2));
  CK(cudaMemcpy(d, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
  return d;
}

Buffers allocate(const Problem& pr, std::mt19937& rng) {
  Buffers bu;
  const size_t rows = size_t(pr.B) * pr.S, N = size_t(pr.H) * 192, K = pr.hidden;
  bu.x = upload(randomHalf(rows * K, rng, -1.f, 1.f));
  // Weights scaled so the projected values spread like a trained model's (|q.k| up to ~10).
  const float ws = 2.0f / std::sqrt(float(K));
  const auto w = randomHalf(K * N, rng, -ws, ws);
  bu.w = upload(w);
  std::vector<__half> wp(K * N);
  packQkvWeights(w.data(), wp.data(), K, pr.H, 2);
  bu.wPacked = upload(wp);
  if (pr.bias) {
    const auto b = randomHalf(N, rng, -0.5f, 0.5f);
    bu.bias = upload(b);
    std::vector<__half> bp(N);
    packQkvBias(b.data(), bp.data(), pr.H, 2);
    bu.biasPacked = upload(bp);
  }
  CK(cudaMalloc(&bu.qkv, rows * N * 2));
  CK(cudaMalloc(&bu.y, rows * pr.H * 64 * 2));
  const size_t nm = size_t(pr.B) * pr.S * pr.S;
  std::vector<__half> m(nm);
  std::uniform_real_distribution<float> u(0, 1);
  for (auto& v : m) v = __float2half(u(rng) < 0.2f ? -10000.0f : (u(rng) - 0.5f));
  bu.mask = upload(m);
  return bu;
}

void freeBuffers(Buffers& b) {
  for (__half* p : {b.x, b.w, b.bias, b.wPacked, b.biasPacked, b.qkv, b.y, b.mask}) cudaFree(p);
}

AttnParams attnParams(const Problem& pr, const Buffers& bu, const void* qkv) {
  AttnParams p;
  const int D = 64, H = pr.H;
  const int64_t row = 3 * H * D;
  p.B = pr.B; p.Hq = H; p.Hkv = H; p.Sq = pr.S; p.Skv = pr.S; p.D = D; p.Dv = D;
  const __half* base = static_cast<const __half*>(qkv);
  p.q = base; p.k = base + H * D; p.v = base + 2 * H * D;
  p.qB = p.kB = p.vB = pr.S * row; p.qH = p.kH = p.vH = D; p.qS = p.kS = p.vS = row;
  p.y = bu.y; p.yB = int64_t(pr.S) * H * D; p.yH = D; p.yS = H * D;
  p.scale = 0.125f;
  if (pr.maskMode) {
    p.mask = bu.mask; p.maskKind = AttnMaskKind::kFloat16; p.maskLen = pr.S; p.mJ = 1;
    if (pr.maskMode == 1) { p.mB = pr.S; p.mH = 0; p.mS = 0; }
    else { p.mB = int64_t(pr.S) * pr.S; p.mH = 0; p.mS = pr.S; }
  }
  return p;
}

QkvAttnArgs fusedArgs(const Problem& pr, const Buffers& bu) {
  QkvAttnArgs a;
  a.x = bu.x; a.ldx = pr.hidden; a.w = bu.wPacked; a.bias = bu.biasPacked; a.hidden = pr.hidden;
  a.y = bu.y; a.ldy = int64_t(pr.H) * 64;
  a.attn = attnParams(pr, bu, nullptr);
  a.attn.q = a.attn.k = a.attn.v = nullptr;
  return a;
}

// Y = X W (+ bias as a separate pass is not needed here: the timed BERT case has none).
void cublasQkv(cublasHandle_t h, const Problem& pr, const Buffers& bu) {
  const int M = pr.B * pr.S, N = pr.H * 192, K = pr.hidden;
  const float alpha = 1.0f, beta = 0.0f;
  cublasStatus_t st = cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &alpha, bu.w, CUDA_R_16F, N, bu.x, CUDA_R_16F,
                                   K, &beta, bu.qkv, CUDA_R_16F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS) { std::printf("cublasGemmEx failed: %d\n", int(st)); std::exit(1); }
}

bool check(const Problem& pr, std::mt19937& rng) {
  Buffers bu = allocate(pr, rng);
  const int rows = pr.B * pr.S, N = pr.H * 192;
  refGemm<<<unsigned((int64_t(rows) * N + 255) / 256), 256>>>(bu.x, bu.w, bu.bias, bu.qkv, rows, pr.hidden, N);
  CK(cudaGetLastError());
  const size_t n = size_t(rows) * pr.H * 64;
  float* ref;
  CK(cudaMalloc(&ref, n * 4));
  const AttnParams rp = attnParams(pr, bu, bu.qkv);
  refAttentionKernel<<<unsigned((int64_t(pr.B) * pr.H * pr.S + 127) / 128), 128>>>(rp, ref);
  CK(cudaGetLastError());
  std::vector<float> href(n);
  CK(cudaMemcpy(href.data(), ref, n * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemset(bu.y, 0xFF, n * 2));  // poisoned: an unwritten element fails
  const QkvAttnArgs a = fusedArgs(pr, bu);
  if (!qkvAttentionWgmmaHandles(a, DType::kFloat16)) { std::printf("  not handled!\n"); return false; }
  CK(launchQkvAttentionWgmma(a, DType::kFloat16, 0));
  CK(cudaDeviceSynchronize());
  std::vector<__half> y(n);
  CK(cudaMemcpy(y.data(), bu.y, n * 2, cudaMemcpyDeviceToHost));
  const auto [rel, maxAbs] = attentionError(y, href.data(), pr.B, pr.H, pr.S);
  const bool ok = rel < 3e-3 && maxAbs < 3e-2;
  std::printf("  B=%d H=%d S=%d hidden=%d mask=%d bias=%d: rel L2 %.2e, max abs %.2e %s\n", pr.B, pr.H, pr.S, pr.hidden,
              pr.maskMode, int(pr.bias), rel, maxAbs, ok ? "ok" : "FAIL");
  cudaFree(ref);
  freeBuffers(bu);
  return ok;
}

int main(int argc, char** argv) {
  std::mt19937 rng(1234);
  bool allOk = true;
  if (argc > 1 && std::string(argv[1]) == "profile") {  // BERT-base b64: the fused kernel, twice, for ncu
    const Problem bert{64, 12, 128, 768, 1, false};
    Buffers bu = allocate(bert, rng);
    for (int i = 0; i < 2; ++i) CK(launchQkvAttentionWgmma(fusedArgs(bert, bu), DType::kFloat16, 0));
    CK(cudaDeviceSynchronize());
    return 0;
  }
  std::printf("check against float32 reference:\n");
  const Problem checks[] = {{64, 12, 128, 768, 1, false}, {3, 5, 77, 320, 1, true}, {2, 4, 128, 192, 0, true},
                            {5, 2, 33, 64, 2, false},     {1, 3, 100, 768, 2, true}, {7, 1, 16, 128, 1, false}};
  for (const Problem& pr : checks) allOk &= check(pr, rng);

  const Problem bert{64, 12, 128, 768, 1, false};
  Buffers bu = allocate(bert, rng);
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return 1;
  const QkvAttnArgs fa = fusedArgs(bert, bu);
  const AttnParams ap = attnParams(bert, bu, bu.qkv);
  auto time = [&](const char* name, auto&& fn) {
    const std::vector<float> per = timeBatches([&](int) { fn(); });
    std::printf("  %-28s median %.2f  p99 %.2f  min %.2f us\n", name, per[per.size() / 2], per[per.size() * 99 / 100], per[0]);
  };
  std::printf("\nBERT-base b64 s128 (us per launch; batches of 30, 60 batches):\n");
  for (int round = 0; round < 2; ++round) {
    time("fused qkv+attention", [&] { CK(launchQkvAttentionWgmma(fa, DType::kFloat16, 0)); });
    time("cuBLAS QKV GEMM", [&] { cublasQkv(h, bert, bu); });
    time("wgmma attention", [&] { CK(launchAttentionWgmma(ap, DType::kFloat16, 0)); });
    time("cuBLAS GEMM + wgmma attention", [&] {
      cublasQkv(h, bert, bu);
      CK(launchAttentionWgmma(ap, DType::kFloat16, 0));
    });
  }
  std::printf("%s\n", allOk ? "ALL CHECKS PASSED" : "SOME CHECKS FAILED");
  return allOk ? 0 : 1;
}
