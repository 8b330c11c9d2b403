// Device discovery through the CUDA runtime.
#include "backends/cuda/device.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <fmt/format.h>

namespace kiln::cuda {

std::vector<DeviceInfo> listDevices() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return {};
  }
  std::vector<DeviceInfo> out;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.index = i;
    d.name = p.name;
    std::string uuid = "GPU-";
    for (int k = 0; k < 16; ++k) {
      uuid += fmt::format("{:02x}", static_cast<unsigned char>(p.uuid.bytes[k]));
      if (k == 3 || k == 5 || k == 7 || k == 9) uuid += "-";
    }
    d.uuid = uuid;
    d.major = p.major;
    d.minor = p.minor;
    d.multiprocessors = p.multiProcessorCount;
    d.totalMemory = p.totalGlobalMem;
    d.l2CacheBytes = static_cast<size_t>(p.l2CacheSize);
    d.sharedMemPerBlockOptin = p.sharedMemPerBlockOptin;
    out.push_back(d);
  }
  return out;
}

std::string noDeviceReason() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return fmt::format("no usable CUDA device ({})", cudaGetErrorString(e));
  }
  return n == 0 ? "no CUDA device" : "";
}

std::string archName(const DeviceInfo& d) { return fmt::format("sm_{}{}", d.major, d.minor); }

std::vector<std::pair<std::string, std::string>> libraryVersions() {
  int rt = 0;
  cudaRuntimeGetVersion(&rt);
  size_t lt = cublasLtGetVersion();
  size_t dnn = cudnnGetVersion();
  // cudart: 13000 -> 13.0; cuBLASLt: 130100 -> 13.1.0 (major*10000 + minor*100 + patch);
  // cuDNN 9: 91400 -> 9.14.0 (major*10000 + minor*100 + patch).
  return {{"cudart", fmt::format("{}.{}", rt / 1000, rt % 1000 / 10)},
          {"cublasLt", fmt::format("{}.{}.{}", lt / 10000, lt % 10000 / 100, lt % 100)},
          {"cudnn", fmt::format("{}.{}.{}", dnn / 10000, dnn % 10000 / 100, dnn % 100)}};
}

std::string driverVersion() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return "none";
  }
  return fmt::format("{}.{}", v / 1000, v % 1000 / 10);
}

}  // namespace kiln::cuda
