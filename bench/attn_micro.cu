// Attention kernel microbenchmark and check (built standalone on the GPU machine, where nvcc is):
//   nvcc -std=c++17 -O3 -arch=sm_90a -Isrc -Iinclude bench/attn_micro.cu \
//     src/backends/cuda/kernels/attention_resident.cu src/backends/cuda/kernels/attention_flash.cu \
//     src/backends/cuda/sm90/attention_wgmma.cu -o attn_micro && ./attn_micro   (or: ./attn_micro profile, for ncu)
// Checks the resident (mma.sync) and wgmma kernels against a float32 reference kernel on random
// inputs at BERT's shape and at odd ones (masks, causal, Skv < 128, Sq not a multiple of 64), then
// times both at BERT-base batch 64 (packed QKV, fp16 additive mask), rotating over three input sets
// (113 MB, over the 50 MB L2) and on one set (L2-warm, as after the QKV GEMM), median and p99 of
// event-timed batches.
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
#define KILN_MICRO_ATTENTION_REFERENCE
#include "micro_check.cuh"

using namespace kiln;
using namespace kiln::cuda;

struct Problem {
  int B, H, Sq, Skv;
  int maskMode;  // 0 none, 1 [B,1,1,S], 2 [B,1,Sq,Skv]
  bool causal;
};

struct Buffers {
  __half* qkv = nullptr;  // packed [B, S, 3 H D] when Sq == Skv, else separate [B, S, H D] tensors
  __half* q = nullptr;
  __half* k = nullptr;
  __half* v = nullptr;
  __half* y = nullptr;
  __half* mask = nullptr;
};

AttnParams makeParams(const Problem& pr, const Buffers& bu) {
  AttnParams p;
  const int D = 64, H = pr.H;
  p.B = pr.B; p.Hq = H; p.Hkv = H; p.Sq = pr.Sq; p.Skv = pr.Skv; p.D = D; p.Dv = D;
  p.q = bu.q; p.k = bu.k; p.v = bu.v; p.y = bu.y;
  if (pr.Sq == pr.Skv) {  // packed QKV, BERT's layout
    const int64_t row = 3 * H * D;
    p.q = bu.qkv; p.k = bu.qkv + H * D; p.v = bu.qkv + 2 * H * D;
    p.qB = p.kB = p.vB = pr.Sq * row; p.qH = p.kH = p.vH = D; p.qS = p.kS = p.vS = row;
  } else {
    p.qB = int64_t(pr.Sq) * H * D; p.qH = D; p.qS = H * D;
    p.kB = p.vB = int64_t(pr.Skv) * H * D; p.kH = p.vH = D; p.kS = p.vS = H * D;
  }
  p.yB = int64_t(pr.Sq) * H * D; p.yH = D; p.yS = H * D;
  p.scale = 0.125f;
  p.causal = pr.causal;
  if (pr.maskMode) {
    p.mask = bu.mask; p.maskKind = AttnMaskKind::kFloat16; p.maskLen = pr.Skv; p.mJ = 1;
    if (pr.maskMode == 1) { p.mB = pr.Skv; p.mH = 0; p.mS = 0; }
    else { p.mB = int64_t(pr.Sq) * pr.Skv; p.mH = 0; p.mS = pr.Skv; }
  }
  p.pdl = false;
  return p;
}

void fillRandom(__half* d, size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<__half> h(n);
  for (auto& x : h) x = __float2half(u(rng));
  CK(cudaMemcpy(d, h.data(), n * 2, cudaMemcpyHostToDevice));
}

Buffers allocate(const Problem& pr, std::mt19937& rng) {
  Buffers bu;
  const size_t D = 64, H = pr.H;
  if (pr.Sq == pr.Skv) {
    const size_t n = size_t(pr.B) * pr.Sq * 3 * H * D;
    CK(cudaMalloc(&bu.qkv, n * 2));
    fillRandom(bu.qkv, n, rng, -2.f, 2.f);
  } else {
    const size_t nq = size_t(pr.B) * pr.Sq * H * D, nk = size_t(pr.B) * pr.Skv * H * D;
    CK(cudaMalloc(&bu.q, nq * 2)); CK(cudaMalloc(&bu.k, nk * 2)); CK(cudaMalloc(&bu.v, nk * 2));
    fillRandom(bu.q, nq, rng, -2.f, 2.f); fillRandom(bu.k, nk, rng, -2.f, 2.f); fillRandom(bu.v, nk, rng, -2.f, 2.f);
  }
  CK(cudaMalloc(&bu.y, size_t(pr.B) * pr.Sq * H * D * 2));
  const size_t nm = size_t(pr.B) * pr.Sq * pr.Skv;
  CK(cudaMalloc(&bu.mask, nm * 2));
  std::vector<__half> m(nm);
  std::uniform_real_distribution<float> u(0, 1);
  for (auto& x : m) x = __float2half(u(rng) < 0.2f ? -10000.0f : (u(rng) - 0.5f));
  CK(cudaMemcpy(bu.mask, m.data(), nm * 2, cudaMemcpyHostToDevice));
  return bu;
}

void freeBuffers(Buffers& b) {
  cudaFree(b.qkv); cudaFree(b.q); cudaFree(b.k); cudaFree(b.v); cudaFree(b.y); cudaFree(b.mask);
}

using Launch = cudaError_t (*)(const AttnParams&, DType, cudaStream_t);

// Relative L2 error and max abs error of the kernel's output against the float32 reference; the
// output is poisoned (NaN) first, so an unwritten element fails.
bool check(const char* name, Launch fn, const Problem& pr, const Buffers& bu, const float* ref) {
  const AttnParams p = makeParams(pr, bu);
  const size_t n = size_t(pr.B) * pr.H * pr.Sq * 64;
  CK(cudaMemset(bu.y, 0xFF, n * 2));
  CK(fn(p, DType::kFloat16, 0));
  CK(cudaDeviceSynchronize());
  std::vector<__half> y(n);
  CK(cudaMemcpy(y.data(), bu.y, n * 2, cudaMemcpyDeviceToHost));
  const auto [rel, maxAbs] = attentionError(y, ref, pr.B, pr.H, pr.Sq);
  const bool ok = rel < 2e-3 && maxAbs < 2e-2;
  std::printf("  %-9s B=%d H=%d Sq=%d Skv=%d mask=%d causal=%d: rel L2 %.2e, max abs %.2e %s\n", name, pr.B, pr.H,
              pr.Sq, pr.Skv, pr.maskMode, int(pr.causal), rel, maxAbs, ok ? "ok" : "FAIL");
  return ok;
}

int main(int argc, char** argv) {
  std::mt19937 rng(1234);
  bool allOk = true;
  if (argc > 1 && std::string(argv[1]) == "profile") {  // one BERT-base b64 launch of each kernel, for ncu
    const Problem bert{64, 12, 128, 128, 1, false};
    Buffers bu = allocate(bert, rng);
    CK(launchAttentionResident(makeParams(bert, bu), DType::kFloat16, 0));
    CK(launchAttentionWgmma(makeParams(bert, bu), DType::kFloat16, 0));
    CK(cudaDeviceSynchronize());
    return 0;
  }
  const Problem checks[] = {
      {64, 12, 128, 128, 1, false}, {3, 5, 77, 77, 1, false}, {2, 3, 130, 128, 2, false}, {2, 4, 200, 96, 0, false},
      {3, 2, 128, 128, 0, true},    {1, 7, 50, 33, 2, true},  {2, 2, 64, 128, 1, false},
  };
  std::printf("check against float32 reference:\n");
  for (const Problem& pr : checks) {
    Buffers bu = allocate(pr, rng);
    const AttnParams p = makeParams(pr, bu);
    const size_t n = size_t(pr.B) * pr.H * pr.Sq * 64;
    float* ref;
    CK(cudaMalloc(&ref, n * 4));
    const int64_t rows = int64_t(pr.B) * pr.H * pr.Sq;
    refAttentionKernel<<<unsigned((rows + 127) / 128), 128>>>(p, ref);
    CK(cudaGetLastError());
    std::vector<float> href(n);
    CK(cudaMemcpy(href.data(), ref, n * 4, cudaMemcpyDeviceToHost));
    allOk &= check("resident", launchAttentionResident, pr, bu, href.data());
    allOk &= check("wgmma", launchAttentionWgmma, pr, bu, href.data());
    cudaFree(ref);
    freeBuffers(bu);
  }

  // Timing: BERT-base batch 64.
  const Problem bert{64, 12, 128, 128, 1, false};
  constexpr int kSets = 3;
  Buffers sets[kSets];
  for (auto& s : sets) s = allocate(bert, rng);
  struct K { const char* name; Launch fn; } kernels[] = {{"resident", launchAttentionResident}, {"wgmma", launchAttentionWgmma}};
  std::printf("\nBERT-base b64 (us per launch; batches of 30 launches, 60 batches):\n");
  for (int warm = 0; warm < 2; ++warm) {
    for (const K& k : kernels) {
      const std::vector<float> per =
          timeBatches([&](int i) { CK(k.fn(makeParams(bert, sets[warm ? 0 : i % kSets]), DType::kFloat16, 0)); });
      std::printf("  %-9s %-12s median %.2f  p99 %.2f  min %.2f\n", k.name, warm ? "L2-warm" : "rotating",
                  per[per.size() / 2], per[per.size() * 99 / 100], per[0]);
    }
  }
  std::printf("%s\n", allOk ? "ALL CHECKS PASSED" : "SOME CHECKS FAILED");
  return allOk ? 0 : 1;
}
