// What the CPU target is: architecture, model name, ISA extensions, library versions. Engines
// record it; loading checks the architecture.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kiln::cpu {

struct CpuInfo {
  std::string arch;      // "x86_64", "aarch64"
  std::string model;     // /proc/cpuinfo "model name"
  std::string features;  // "avx2 avx512f avx512_bf16 amx_tile" (those that matter to kernels)
  int cores = 1;
  std::vector<std::pair<std::string, std::string>> libraries;  // {"onednn", "2.6.3"}
};

const CpuInfo& cpuInfo();

// Threads for CPU kernels: Kiln's pool and oneDNN's OpenMP runtime. Call before running engines
// (benchmarks match ONNX Runtime's intra-op thread count with it).
void setNumThreads(int n);

}  // namespace kiln::cpu
