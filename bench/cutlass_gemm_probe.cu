// cutlass_gemm_probe: CUTLASS 3 Hopper GEMMs (warp-specialized ping-pong / cooperative, stream-K)
// against cuBLASLt's first heuristic choice on BERT-base's fp16 GEMM shapes with a bias + residual
// epilogue (Y = X W + bias + residual, row-major). The research tool behind the
// cuda_cutlass_* tactics (src/backends/cuda/sm90/); one variant per process so that a hanging
// kernel (stream-K at K = 3072 did) costs one timeout. Each output is checked against cuBLASLt's.
// Results: bench/results/cutlass-gemm-probe-h100-2026-11-26.md.
//
// Build: nvcc -O3 -std=c++17 -DNDEBUG -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr \
//          -I src -I third_party/cutlass/include bench/cutlass_gemm_probe.cu -lcublasLt -o cutlass_gemm_probe
// Run:   for v in 1 2 3 4 5 6 7; do timeout 12 ./cutlass_gemm_probe 8192 768 768 $v; done
#include <cublasLt.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "backends/cuda/sm90/cutlass_common.cuh"  // packed strides, shared with the tactics
#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"

#include "micro_check.cuh"

using namespace cute;

namespace {

using Half = cutlass::half_t;
using LayoutA = cutlass::layout::RowMajor;  // X [M, K]
using LayoutB = cutlass::layout::RowMajor;  // W [K, N]
using LayoutC = cutlass::layout::RowMajor;  // residual / Y [M, N]
constexpr int kAlign = 8;

template <class TileShape, class ClusterShape, class KernelSchedule, class EpilogueSchedule, class Scheduler>
struct Config {
  using Fusion = cutlass::epilogue::fusion::LinCombPerColBias<Half, float, Half, Half, float>;
  using Epilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, Half, LayoutC, kAlign, Half, LayoutC, kAlign,
      EpilogueSchedule, Fusion>::CollectiveOp;
  using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Half, LayoutA, kAlign, Half, LayoutB, kAlign, float,
      TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epilogue::SharedStorage))>,
      KernelSchedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Mainloop, Epilogue, Scheduler>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
};

using PP128x128 = Config<Shape<_128, _128, _64>, Shape<_1, _1, _1>, cutlass::gemm::KernelTmaWarpSpecializedPingpong,
                          cutlass::epilogue::TmaWarpSpecialized, void>;
using PP128x128c2 = Config<Shape<_128, _128, _64>, Shape<_2, _1, _1>, cutlass::gemm::KernelTmaWarpSpecializedPingpong,
                            cutlass::epilogue::TmaWarpSpecialized, void>;
using PP128x192 = Config<Shape<_128, _192, _64>, Shape<_1, _1, _1>, cutlass::gemm::KernelTmaWarpSpecializedPingpong,
                          cutlass::epilogue::TmaWarpSpecialized, void>;
using PP128x256 = Config<Shape<_128, _256, _64>, Shape<_1, _1, _1>, cutlass::gemm::KernelTmaWarpSpecializedPingpong,
                          cutlass::epilogue::TmaWarpSpecialized, void>;
using Coop256x128 = Config<Shape<_256, _128, _64>, Shape<_1, _1, _1>, cutlass::gemm::KernelTmaWarpSpecializedCooperative,
                           cutlass::epilogue::TmaWarpSpecializedCooperative, void>;
using Coop256x128c2 = Config<Shape<_256, _128, _64>, Shape<_2, _1, _1>, cutlass::gemm::KernelTmaWarpSpecializedCooperative,
                           cutlass::epilogue::TmaWarpSpecializedCooperative, void>;
using Coop256x128SK =
    Config<Shape<_256, _128, _64>, Shape<_1, _1, _1>, cutlass::gemm::KernelTmaWarpSpecializedCooperative,
           cutlass::epilogue::TmaWarpSpecializedCooperative, cutlass::gemm::StreamKScheduler>;

using kiln::cuda::sm90::nMajor;
using kiln::cuda::sm90::rowMajor;

struct Problem {
  int M, N, K;
  Half *X, *W, *R, *bias, *Y;
  void* ws;
  size_t wsBytes;
  cudaStream_t stream;
};

template <class Fn>
float timeIt(Fn&& fn, cudaStream_t s) {
  for (int i = 0; i < 5; ++i) fn();
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<float> t;
  for (int r = 0; r < 15; ++r) {
    CK(cudaEventRecord(a, s));
    for (int i = 0; i < 10; ++i) fn();
    CK(cudaEventRecord(b, s));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 100.0f);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::vector<__half> download(const Half* d, size_t n) {
  std::vector<__half> h(n);
  CK(cudaMemcpy(h.data(), d, n * sizeof(__half), cudaMemcpyDeviceToHost));
  return h;
}

double relL2(const std::vector<__half>& a, const std::vector<__half>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = __half2float(a[i]), y = __half2float(b[i]);
    num += (x - y) * (x - y);
    den += y * y;
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

template <class C>
void runCutlass(const char* name, const Problem& p, const std::vector<__half>& ref) {
  using Gemm = typename C::Gemm;
  using SA = typename Gemm::GemmKernel::StrideA;
  using SB = typename Gemm::GemmKernel::StrideB;
  using SC = typename Gemm::GemmKernel::StrideC;
  using SD = typename Gemm::GemmKernel::StrideD;
  typename Gemm::Arguments args{cutlass::gemm::GemmUniversalMode::kGemm,
                                {p.M, p.N, p.K, 1},
                                {p.X, rowMajor<SA>(p.M, p.K), p.W, nMajor<SB>(p.N, p.K)},
                                {{}, p.R, rowMajor<SC>(p.M, p.N), p.Y, rowMajor<SD>(p.M, p.N)}};
  args.epilogue.thread.alpha = 1.0f;
  args.epilogue.thread.beta = 1.0f;
  args.epilogue.thread.bias_ptr = p.bias;
  std::printf("  %-24s start\n", name);
  Gemm gemm;
  const size_t ws = Gemm::get_workspace_size(args);
  if (ws > p.wsBytes || gemm.can_implement(args) != cutlass::Status::kSuccess) {
    std::printf("  %-24s cannot run (workspace %zu)\n", name, ws);
    return;
  }
  if (gemm.initialize(args, p.ws, p.stream) != cutlass::Status::kSuccess) {
    std::printf("  %-24s initialize failed\n", name);
    return;
  }
  CK(cudaMemsetAsync(p.Y, 0, size_t(p.M) * p.N * 2, p.stream));
  if (gemm.run(p.stream) != cutlass::Status::kSuccess) {
    std::printf("  %-24s run failed\n", name);
    return;
  }
  CK(cudaStreamSynchronize(p.stream));
  const double err = relL2(download(p.Y, size_t(p.M) * p.N), ref);
  const float us = timeIt([&] { gemm.run(p.stream); }, p.stream);
  std::printf("  %-24s %8.2f us %6.0f TFLOP/s  rel L2 vs cuBLASLt %.1e  workspace %zu\n", name, us,
              2.0 * p.M * p.N * p.K / us * 1e-6, err, ws);
}

void probe(int M, int N, int K, int variant, cublasLtHandle_t lt, cudaStream_t stream) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  auto make = [&](size_t n, float scale) {
    std::vector<__half> h(n);
    for (auto& x : h) x = __float2half(u(rng) * scale);
    Half* d = nullptr;
    CK(cudaMalloc(&d, n * 2));
    CK(cudaMemcpy(d, h.data(), n * 2, cudaMemcpyHostToDevice));
    return d;
  };
  Problem p{M, N, K, make(size_t(M) * K, 1), make(size_t(K) * N, 1.0f / std::sqrt(float(K))), make(size_t(M) * N, 1),
            make(N, 1), nullptr, nullptr, size_t{64} << 20, stream};
  CK(cudaMalloc(&p.Y, size_t(M) * N * 2));
  CK(cudaMalloc(&p.ws, p.wsBytes));

  // cuBLASLt, column-major view as Kiln runs it: D^T[N, M] = W^T X^T + bias + R^T.
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, ld;
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
  cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi));
  const void* bp = p.bias;
  cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp));
  cublasLtMatrixLayoutCreate(&la, CUDA_R_16F, N, K, N);
  cublasLtMatrixLayoutCreate(&lb, CUDA_R_16F, K, M, K);
  cublasLtMatrixLayoutCreate(&ld, CUDA_R_16F, N, M, N);
  cublasLtMatmulPreferenceCreate(&pref);
  const uint64_t wsb = size_t{32} << 20;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb));
  cublasLtMatmulHeuristicResult_t res{};
  int n = 0;
  cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, ld, ld, pref, 1, &res, &n);
  const float one = 1.0f;
  auto blas = [&] {
    cublasLtMatmul(lt, desc, &one, p.W, la, p.X, lb, &one, p.R, ld, p.Y, ld, &res.algo, p.ws, wsb, stream);
  };
  blas();
  CK(cudaStreamSynchronize(stream));
  const std::vector<__half> ref = download(p.Y, size_t(M) * N);
  const float us = timeIt(blas, stream);
  std::printf("\nM=%d N=%d K=%d (+ bias + residual)\n  %-24s %8.2f us %6.0f TFLOP/s\n", M, N, K, "cuBLASLt heuristic #0",
              us, 2.0 * M * N * K / us * 1e-6);
  switch (variant) {
    case 0: break;
    case 1: runCutlass<PP128x128>("pingpong 128x128", p, ref); break;
    case 2: runCutlass<PP128x128c2>("pingpong 128x128 c2x1", p, ref); break;
    case 3: runCutlass<PP128x192>("pingpong 128x192", p, ref); break;
    case 4: runCutlass<PP128x256>("pingpong 128x256", p, ref); break;
    case 5: runCutlass<Coop256x128>("coop 256x128", p, ref); break;
    case 6: runCutlass<Coop256x128c2>("coop 256x128 c2x1", p, ref); break;
    case 7: runCutlass<Coop256x128SK>("coop 256x128 stream-K", p, ref); break;
  }
  for (void* ptr : {(void*)p.X, (void*)p.W, (void*)p.R, (void*)p.bias, (void*)p.Y, p.ws}) CK(cudaFree(ptr));
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  if (argc < 5) { std::printf("usage: M N K variant\n"); return 2; }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  cublasLtHandle_t lt;
  cublasLtCreate(&lt);
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  probe(std::atoi(argv[1]), std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), lt, s);
  CK(cudaDeviceSynchronize());
  return 0;
}
