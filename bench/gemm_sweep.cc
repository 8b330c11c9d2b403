// gemm_sweep: how far cuBLASLt's heuristic choice is from the best configuration it can run.
//
// For each of BERT-base's four fp16 GEMM shapes at a given token count (QKV, attention output,
// FFN-up + GELU, FFN-down; the last two of the four with the residual as C, beta 1, as Kiln's
// FusedMatMul runs them) it times
//   - every algorithm cublasLtMatmulAlgoGetHeuristic returns (up to 64), and
//   - every configuration of every algorithm id cublasLtMatmulAlgoGetIds lists: tile x stages x
//     CTA swizzle x cluster shape, where cublasLtMatmulAlgoCheck accepts it within the workspace,
// checks each result against the heuristic's first choice, and prints the fastest with TFLOP/s.
// A research tool for choosing what the builder should search; not used by Kiln itself.
//
// Build: g++ -O2 -std=c++17 bench/gemm_sweep.cc -I/usr/local/cuda/include -L/usr/local/cuda/lib64 \
//          -lcublasLt -lcudart -o gemm_sweep
// Run:   gemm_sweep [tokens=8192] [reps=20] [max_configs_per_shape=4000] [shape names, comma-separated]
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#define CK(x)                                                                           \
  do {                                                                                  \
    cudaError_t e_ = (x);                                                               \
    if (e_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)
#define LK(x)                                                                      \
  do {                                                                             \
    cublasStatus_t s_ = (x);                                                       \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                             \
      std::fprintf(stderr, "%s:%d %s: status %d\n", __FILE__, __LINE__, #x, int(s_)); \
      std::exit(1);                                                                \
    }                                                                              \
  } while (0)

namespace {

constexpr size_t kWorkspace = size_t{32} << 20;

struct Shape {
  const char* name;
  int64_t M, N, K;  // row-major Y[M, N] = X[M, K] W[K, N]
  cublasLtEpilogue_t epi;
  bool residual;
};

struct Candidate {
  cublasLtMatmulAlgo_t algo;
  std::string label;
  float us = 0;
  double err = 0;
};

struct Problem {
  cublasLtHandle_t h;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, ld;
  cublasLtMatmulPreference_t pref;
  const void *W, *X, *C, *bias;
  void *D, *ws;
  float beta;
  cudaStream_t stream;
};

cublasStatus_t runOnce(const Problem& p, const cublasLtMatmulAlgo_t& algo) {
  const float alpha = 1.0f;
  return cublasLtMatmul(p.h, p.desc, &alpha, p.W, p.la, p.X, p.lb, &p.beta, p.C, p.ld, p.D, p.ld, &algo, p.ws,
                        kWorkspace, p.stream);
}

// Median of `reps` timed launches of 10 back-to-back calls each, in microseconds per call.
float timeAlgo(const Problem& p, const cublasLtMatmulAlgo_t& algo, int reps) {
  for (int i = 0; i < 5; ++i)
    if (runOnce(p, algo) != CUBLAS_STATUS_SUCCESS) return -1;
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<float> t;
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(a, p.stream));
    for (int i = 0; i < 10; ++i) runOnce(p, algo);
    CK(cudaEventRecord(b, p.stream));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 100.0f);  // ms per 10 calls -> us per call
  }
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::vector<__half> download(const void* d, size_t n) {
  std::vector<__half> h(n);
  CK(cudaMemcpy(h.data(), d, n * sizeof(__half), cudaMemcpyDeviceToHost));
  return h;
}

double maxRelDiff(const std::vector<__half>& a, const std::vector<__half>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = __half2float(a[i]), y = __half2float(b[i]);
    m = std::max(m, std::fabs(x - y) / (1.0 + std::fabs(y)));
  }
  return m;
}

std::string describe(const cublasLtMatmulAlgo_t& algo) {
  int id = 0;
  uint32_t tile = 0, stages = 0, swz = 0, splitk = 0;
  uint16_t cluster = 0;
  size_t w = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &w);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &w);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages), &w);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swz, sizeof(swz), &w);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &w);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &cluster, sizeof(cluster), &w);
  char buf[160];
  std::snprintf(buf, sizeof(buf), "algo %d tile %u stages %u swizzle %u splitk %u cluster %u", id, tile, stages, swz,
                splitk, unsigned(cluster));
  return buf;
}

void sweep(cublasLtHandle_t h, const Shape& s, int reps, int maxConfigs, cudaStream_t stream) {
  // Random inputs in [-1, 1] (scaled so outputs stay O(1)).
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto make = [&](size_t n, float scale) {
    std::vector<__half> v(n);
    for (auto& x : v) x = __float2half(u(rng) * scale);
    void* d = nullptr;
    CK(cudaMalloc(&d, n * sizeof(__half)));
    CK(cudaMemcpy(d, v.data(), n * sizeof(__half), cudaMemcpyHostToDevice));
    return d;
  };
  void* X = make(size_t(s.M) * s.K, 1.0f);
  void* W = make(size_t(s.K) * s.N, 1.0f / std::sqrt(float(s.K)));
  void* C = make(size_t(s.M) * s.N, 1.0f);
  void* bias = make(size_t(s.N), 1.0f);
  void *D = nullptr, *ws = nullptr;
  CK(cudaMalloc(&D, size_t(s.M) * s.N * sizeof(__half)));
  CK(cudaMalloc(&ws, kWorkspace));

  Problem p{};
  p.h = h, p.W = W, p.X = X, p.C = s.residual ? C : D, p.bias = bias, p.D = D, p.ws = ws;
  p.beta = s.residual ? 1.0f : 0.0f;
  p.stream = stream;
  LK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opN = CUBLAS_OP_N;
  LK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opN, sizeof(opN)));
  LK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  LK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &s.epi, sizeof(s.epi)));
  if (s.epi != CUBLASLT_EPILOGUE_DEFAULT)
    LK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias, sizeof(p.bias)));
  // Column-major view: cuBLASLt's A is W ([N, K], ld N), its B is X ([K, M], ld K), D is [N, M].
  LK(cublasLtMatrixLayoutCreate(&p.la, CUDA_R_16F, s.N, s.K, s.N));
  LK(cublasLtMatrixLayoutCreate(&p.lb, CUDA_R_16F, s.K, s.M, s.K));
  LK(cublasLtMatrixLayoutCreate(&p.ld, CUDA_R_16F, s.N, s.M, s.N));
  LK(cublasLtMatmulPreferenceCreate(&p.pref));
  const uint64_t wsb = kWorkspace;
  LK(cublasLtMatmulPreferenceSetAttribute(p.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb)));

  std::vector<Candidate> cands;
  cublasLtMatmulHeuristicResult_t res[64];
  int n = 0;
  LK(cublasLtMatmulAlgoGetHeuristic(h, p.desc, p.la, p.lb, p.ld, p.ld, p.pref, 64, res, &n));
  for (int i = 0; i < n; ++i)
    if (res[i].state == CUBLAS_STATUS_SUCCESS) cands.push_back({res[i].algo, "heuristic #" + std::to_string(i)});
  if (cands.empty()) {
    std::printf("%s: no heuristic algorithm\n", s.name);
    return;
  }
  const size_t nHeur = cands.size();

  // Every configuration of every algorithm id.
  int ids[256];
  int nIds = 0;
  LK(cublasLtMatmulAlgoGetIds(h, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F, 256,
                              ids, &nIds));
  const uint16_t clusters[] = {CUBLASLT_CLUSTER_SHAPE_AUTO, CUBLASLT_CLUSTER_SHAPE_1x1x1, CUBLASLT_CLUSTER_SHAPE_2x1x1,
                               CUBLASLT_CLUSTER_SHAPE_1x2x1};
  int tried = 0;
  for (int a = 0; a < nIds && int(cands.size()) < maxConfigs; ++a) {
    cublasLtMatmulAlgo_t algo;
    if (cublasLtMatmulAlgoInit(h, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F,
                               ids[a], &algo) != CUBLAS_STATUS_SUCCESS)
      continue;
    size_t sz = 0;
    std::vector<uint32_t> tiles{CUBLASLT_MATMUL_TILE_UNDEFINED}, stages{CUBLASLT_MATMUL_STAGES_UNDEFINED};
    if (cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_TILE_IDS, nullptr, 0, &sz) == CUBLAS_STATUS_SUCCESS &&
        sz > 0) {
      tiles.resize(sz / sizeof(uint32_t));
      cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_TILE_IDS, tiles.data(), sz, &sz);
    }
    if (cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_STAGES_IDS, nullptr, 0, &sz) == CUBLAS_STATUS_SUCCESS &&
        sz > 0) {
      stages.resize(sz / sizeof(uint32_t));
      cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_STAGES_IDS, stages.data(), sz, &sz);
    }
    int32_t swzCap = 0;
    cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_CTA_SWIZZLING_SUPPORT, &swzCap, sizeof(swzCap), &sz);
    for (uint32_t tile : tiles)
      for (uint32_t st : stages)
        for (uint32_t swz = 0; swz <= (swzCap ? 1u : 0u); ++swz)
          for (uint16_t cl : clusters) {
            if (int(cands.size()) >= maxConfigs) break;
            cublasLtMatmulAlgo_t v = algo;
            cublasLtMatmulAlgoConfigSetAttribute(&v, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile));
            cublasLtMatmulAlgoConfigSetAttribute(&v, CUBLASLT_ALGO_CONFIG_STAGES_ID, &st, sizeof(st));
            cublasLtMatmulAlgoConfigSetAttribute(&v, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swz, sizeof(swz));
            if (cublasLtMatmulAlgoConfigSetAttribute(&v, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &cl, sizeof(cl)) !=
                    CUBLAS_STATUS_SUCCESS &&
                cl != CUBLASLT_CLUSTER_SHAPE_AUTO)
              continue;
            ++tried;
            cublasLtMatmulHeuristicResult_t chk{};
            if (cublasLtMatmulAlgoCheck(h, p.desc, p.la, p.lb, p.ld, p.ld, &v, &chk) != CUBLAS_STATUS_SUCCESS) continue;
            if (chk.workspaceSize > kWorkspace) continue;
            cands.push_back({v, "config"});
          }
  }

  // Reference: the heuristic's first choice.
  if (runOnce(p, cands[0].algo) != CUBLAS_STATUS_SUCCESS) {
    std::printf("%s: the first heuristic algorithm failed to run\n", s.name);
    return;
  }
  CK(cudaStreamSynchronize(stream));
  const std::vector<__half> ref = download(D, size_t(s.M) * s.N);
  for (auto& c : cands) {
    CK(cudaMemsetAsync(D, 0, size_t(s.M) * s.N * sizeof(__half), stream));
    if (s.residual) CK(cudaStreamSynchronize(stream));
    if (runOnce(p, c.algo) != CUBLAS_STATUS_SUCCESS) {
      c.us = -1;
      continue;
    }
    CK(cudaStreamSynchronize(stream));
    c.err = maxRelDiff(download(D, size_t(s.M) * s.N), ref);
    c.us = c.err < 2e-2 ? timeAlgo(p, c.algo, reps) : -1;
  }
  CK(cudaGetLastError());
  const double flop = 2.0 * s.M * s.N * s.K;
  std::printf("\n== %s: M=%lld N=%lld K=%lld epilogue %d residual %d: %zu heuristic + %zu configurations "
              "(of %d tried)\n",
              s.name, (long long)s.M, (long long)s.N, (long long)s.K, int(s.epi), int(s.residual), nHeur,
              cands.size() - nHeur, tried);
  for (size_t i = 0; i < std::min<size_t>(nHeur, 4); ++i)
    std::printf("  heuristic #%zu: %8.2f us %6.0f TFLOP/s  %s\n", i, cands[i].us, flop / cands[i].us * 1e-6,
                describe(cands[i].algo).c_str());
  std::vector<size_t> order;
  for (size_t i = 0; i < cands.size(); ++i)
    if (cands[i].us > 0) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cands[a].us < cands[b].us; });
  for (size_t r = 0; r < std::min<size_t>(order.size(), 12); ++r) {
    const Candidate& c = cands[order[r]];
    std::printf("  best %2zu: %8.2f us %6.0f TFLOP/s err %.1e  %-13s %s\n", r, c.us, flop / c.us * 1e-6, c.err,
                c.label.c_str(), describe(c.algo).c_str());
  }
  int failed = 0;
  for (auto& c : cands) failed += c.us < 0;
  std::printf("  %d candidates failed or disagreed with the reference\n", failed);
  cublasLtMatmulPreferenceDestroy(p.pref);
  cublasLtMatrixLayoutDestroy(p.la);
  cublasLtMatrixLayoutDestroy(p.lb);
  cublasLtMatrixLayoutDestroy(p.ld);
  cublasLtMatmulDescDestroy(p.desc);
  for (void* ptr : {X, W, C, bias, D, ws}) CK(cudaFree(ptr));
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t T = argc > 1 ? std::atoll(argv[1]) : 8192;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  const int maxConfigs = argc > 3 ? std::atoi(argv[3]) : 4000;
  const std::string only = argc > 4 ? std::string(",") + argv[4] + "," : "";
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs; cuBLASLt %zu; tokens %lld\n", prop.name, prop.multiProcessorCount,
              cublasLtGetVersion(), (long long)T);
  cublasLtHandle_t h;
  LK(cublasLtCreate(&h));
  cudaStream_t stream;
  CK(cudaStreamCreate(&stream));
  const Shape shapes[] = {
      {"attn-out+bias+residual", T, 768, 768, CUBLASLT_EPILOGUE_BIAS, true},
      {"ffn-down+bias+residual", T, 768, 3072, CUBLASLT_EPILOGUE_BIAS, true},
      {"qkv", T, 2304, 768, CUBLASLT_EPILOGUE_DEFAULT, false},
      {"ffn-up+bias+gelu", T, 3072, 768, CUBLASLT_EPILOGUE_GELU_BIAS, false},
      // torch_anchors' BERT-base: its zero biases fold away, so Kiln runs these two without one.
      {"ffn-up+gelu", T, 3072, 768, CUBLASLT_EPILOGUE_GELU, false},
      {"ffn-down+residual", T, 768, 3072, CUBLASLT_EPILOGUE_DEFAULT, true},
  };
  for (const Shape& s : shapes)
    if (only.empty() || only.find("," + std::string(s.name) + ",") != std::string::npos)
      sweep(h, s, reps, maxConfigs, stream);
  cublasLtDestroy(h);
  return 0;
}
