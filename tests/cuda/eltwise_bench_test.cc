// Bandwidth of the element-wise kernels on typical BERT/ResNet shapes, launched directly through
// the launch functions (no engine). Disabled by default: run with
//   kiln_gpu_tests --gtest_also_run_disabled_tests --gtest_filter='*EltwiseBench*'
#include <cuda_runtime_api.h>

#include <cstdio>
#include <functional>

#include "backends/cuda/kernels/eltwise_launch.h"
#include "gpu_test_util.h"

namespace kiln::testing {
namespace {

namespace ew = cuda::eltwise;

// Milliseconds per launch (median-free mean over `iters` after warm-up).
double timeIt(const std::function<cudaError_t()>& launch, int iters = 100) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(launch(), cudaSuccess);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a);
  for (int i = 0; i < iters; ++i) launch();
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / iters;
}

void report(const char* what, double ms, double bytes) {
  std::printf("%-48s %8.2f us %8.1f GB/s\n", what, ms * 1e3, bytes / (ms * 1e-3) / 1e9);
}

int smCount() {
  int sm = 0;
  cudaDeviceGetAttribute(&sm, cudaDevAttrMultiProcessorCount, 0);
  return sm;
}

void* dalloc(size_t bytes) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess);
  cudaMemset(p, 0, bytes);
  return p;
}

// Rank-1 period geometry: slots of the output's size, scalars or trailing vectors of length m.
ew::ChainParams flat(int64_t n, std::initializer_list<std::pair<void*, int64_t>> slots, void* out) {
  ew::ChainParams p;
  p.n = n;
  p.out = out;
  p.maxBlocks = smCount() * 8;
  int k = 0;
  for (auto [ptr, m] : slots) {
    p.in[k] = ptr;
    p.period[k] = m;
    ++k;
  }
  p.numSlots = k;
  // General-path geometry [n/m, m] with the largest period (the bench uses one period at most).
  int64_t m = 1;
  for (auto [ptr, mm] : slots) m = std::max(m, mm == n ? 1 : mm);
  p.rank = 2;
  p.dims[0] = n / m;
  p.dims[1] = m;
  k = 0;
  for (auto [ptr, mm] : slots) {
    p.strides[k][0] = mm == n ? m : 0;
    p.strides[k][1] = mm == 1 ? 0 : 1;
    ++k;
  }
  return p;
}

TEST(CudaEltwiseBench, DISABLED_Bandwidth) {
  KILN_REQUIRE_GPU();
  const int64_t rows = 32 * 128, h = 768, n = rows * h;  // BERT-base activations, batch 32
  void* x = dalloc(n * 4);
  void* y = dalloc(n * 4);
  void* z = dalloc(n * 4);
  void* bias = dalloc(h * 4);
  {
    ew::ChainParams p = flat(n, {{x, n}, {bias, h}}, y);
    p.numSteps = 1;
    p.steps[0] = {ew::kAdd, 1, 0, 0, 0};
    report("Add fp16 [4096,768]+[768]", timeIt([&] { return ew::launchChainFloat(p, DType::kFloat16, DType::kFloat16, nullptr); }),
           2.0 * n * 2);
    report("Add fp32 [4096,768]+[768]", timeIt([&] { return ew::launchChainFloat(p, DType::kFloat32, DType::kFloat32, nullptr); }),
           2.0 * n * 4);
    p.numSteps = 2;
    p.steps[1] = {ew::kGelu, -1, 0, 0, 0};
    report("Chain fp16 bias+Gelu [4096,768]",
           timeIt([&] { return ew::launchChainFloat(p, DType::kFloat16, DType::kFloat16, nullptr); }), 2.0 * n * 2);
    report("Chain fp32 bias+Gelu [4096,768]",
           timeIt([&] { return ew::launchChainFloat(p, DType::kFloat32, DType::kFloat32, nullptr); }), 2.0 * n * 4);
  }
  {
    ew::ChainParams p = flat(n, {{x, n}, {z, n}}, y);
    p.numSteps = 1;
    p.steps[0] = {ew::kAdd, 1, 0, 0, 0};
    report("Add fp16 residual [4096,768]x2", timeIt([&] { return ew::launchChainFloat(p, DType::kFloat16, DType::kFloat16, nullptr); }),
           3.0 * n * 2);
    report("Add fp32 residual [4096,768]x2", timeIt([&] { return ew::launchChainFloat(p, DType::kFloat32, DType::kFloat32, nullptr); }),
           3.0 * n * 4);
    p.period[1] = 0;  // force the general path
    report("Add fp32 residual, general path", timeIt([&] { return ew::launchChainFloat(p, DType::kFloat32, DType::kFloat32, nullptr); }),
           3.0 * n * 4);
  }
  {
    // Attention-mask add [8,1,1,128] + [8,12,128,128] (general path).
    const int64_t b = 8, heads = 12, s = 128, m = b * heads * s * s;
    ew::ChainParams p;
    p.n = m;
    p.out = y;
    p.maxBlocks = smCount() * 8;
    p.numSlots = 2;
    p.in[0] = x;
    p.in[1] = bias;
    p.period[0] = m;
    p.period[1] = 0;
    p.rank = 3;
    p.dims[0] = b;
    p.dims[1] = heads * s;
    p.dims[2] = s;
    p.strides[0][0] = heads * s * s;
    p.strides[0][1] = s;
    p.strides[0][2] = 1;
    p.strides[1][0] = s;
    p.strides[1][1] = 0;
    p.strides[1][2] = 1;
    p.numSteps = 1;
    p.steps[0] = {ew::kAdd, 1, 0, 0, 0};
    report("Mask add fp32 [8,12,128,128]+[8,1,1,128]",
           timeIt([&] { return ew::launchChainFloat(p, DType::kFloat32, DType::kFloat32, nullptr); }), 2.0 * m * 4);
    report("Mask add fp16 [8,12,128,128]+[8,1,1,128]",
           timeIt([&] { return ew::launchChainFloat(p, DType::kFloat16, DType::kFloat16, nullptr); }), 2.0 * m * 2);
  }
  report("Cast fp32->fp16 [4096,768]",
         timeIt([&] { return ew::launchCast(x, DType::kFloat32, y, DType::kFloat16, n, smCount() * 8, nullptr); }), 6.0 * n);
  report("Cast fp16->fp32 [4096,768]",
         timeIt([&] { return ew::launchCast(x, DType::kFloat16, y, DType::kFloat32, n, smCount() * 8, nullptr); }), 6.0 * n);
  report("memcpy D2D fp32 [4096,768]", timeIt([&] { return cudaMemcpyAsync(y, x, n * 4, cudaMemcpyDeviceToDevice, nullptr); }),
         2.0 * n * 4);
  cudaFree(x);
  cudaFree(y);
  cudaFree(z);
  cudaFree(bias);
}

}  // namespace
}  // namespace kiln::testing
