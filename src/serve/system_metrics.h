// Host and GPU gauges for /metrics, refreshed in the background: nv_cpu_utilization,
// nv_cpu_memory_total_bytes / nv_cpu_memory_used_bytes (from /proc), and per GPU through NVML when
// libnvidia-ml can be loaded at run time (dlopen; absent on CPU-only machines, never a link
// dependency): nv_gpu_utilization, nv_gpu_memory_total_bytes, nv_gpu_memory_used_bytes,
// nv_gpu_power_usage, with Triton's labels (gpu_uuid).
#pragma once

#include <chrono>
#include <memory>

#include "serve/metrics.h"

namespace kiln::serve {

class SystemMetrics {
 public:
  // Samples once immediately, then every `interval` on its own thread until destroyed.
  static std::unique_ptr<SystemMetrics> start(MetricsRegistry& registry, std::chrono::milliseconds interval);
  virtual ~SystemMetrics() = default;
  virtual bool haveGpuMetrics() const = 0;  // NVML found and initialized
};

}  // namespace kiln::serve
