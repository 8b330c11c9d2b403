// A minimal device kernel: proves the toolchain, the arch list and the launch path end to end.
// (Status wrapping is in device.cc: .cu files don't include fmt.)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace kiln::cuda {

namespace {
__global__ void fillKernel(float* p, int64_t n, float v) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  for (; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) p[i] = v;
}
}  // namespace

cudaError_t launchFill(float* deviceData, int64_t n, float value) {
  if (n <= 0) return cudaSuccess;
  int blocks = static_cast<int>(std::min<int64_t>((n + 255) / 256, 65535));
  fillKernel<<<blocks, 256>>>(deviceData, n, value);
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  return e;
}

}  // namespace kiln::cuda
