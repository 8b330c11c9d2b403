// Device discovery through the CUDA runtime.
#include "backends/cuda/device.h"

#include <cuda_runtime_api.h>
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

}  // namespace kiln::cuda
