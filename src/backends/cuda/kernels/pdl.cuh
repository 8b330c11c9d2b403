// Programmatic dependent launch (PDL, compute capability 9.0+), device side and launch: a kernel
// launched with launchMaybePdl(..., pdl = true) may be scheduled while the kernel before it in the
// stream is still finishing, so its launch latency and block rasterization overlap that kernel's
// tail (inside a CUDA graph too: capture turns the attribute into a programmatic edge). The price
// is a contract: such a kernel must call pdlWait() before it touches global memory at all, reads or
// writes (a buffer it writes may be one the kernel before still reads, once the memory plan
// reuses it). pdlWait() returns once the previous grid has completed and its writes are visible;
// it is a no-op when the kernel was launched normally. pdlTrigger() lets the next PDL-launched
// kernel be scheduled before this one ends; it only moves timing, never correctness, because the
// next kernel still waits for this one's completion in its own pdlWait().
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <utility>

#include "backends/cuda/kernels/pdl.h"

namespace kiln::cuda {

__device__ __forceinline__ void pdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdlTrigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Whether `kernel`, as the current device runs it, was compiled for compute capability 9.0 or
// newer, so that its pdlWait() is really there. A build without code for the device (say, archs
// "80;86;89;90a" on a compute capability 10.0 GPU) runs PTX JIT-compiled from an older virtual
// arch, where pdlWait() is empty: such a kernel must launch normally. Asked once per kernel and
// device. A failed query means "no" for this launch, is not remembered, and leaves no error
// pending for the launch's own cudaGetLastError().
inline bool kernelWaitsForPdl(const void* kernel) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  static std::mutex mu;
  static std::map<std::pair<const void*, int>, bool> known;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_pair(kernel, device);
  auto it = known.find(key);
  if (it != known.end()) return it->second;
  cudaFuncAttributes a{};
  if (cudaFuncGetAttributes(&a, kernel) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  const bool waits = a.ptxVersion >= 90;
  known.emplace(key, waits);
  return waits;
}

// Launches kernel<<<grid, block, smem, stream>>>(args...), with the programmatic-serialization
// attribute when pdl is set and the kernel's code has its wait. The kernel must begin with
// pdlWait() (see above).
template <typename... KArgs, typename... Args>
cudaError_t launchMaybePdl(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                           bool pdl, Args&&... args) {
  if (!pdl || !kernelWaitsForPdl(reinterpret_cast<const void*>(kernel))) {
    kernel<<<grid, block, smem, stream>>>(static_cast<KArgs>(args)...);
    return cudaGetLastError();
  }
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, kernel, static_cast<KArgs>(args)...);
}

}  // namespace kiln::cuda
