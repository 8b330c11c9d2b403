// CPU identification from uname, /proc/cpuinfo and the linked oneDNN.
#include "backends/cpu/cpu_info.h"

#include <sys/utsname.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/thread_pool.h"

namespace kiln::cpu {

const CpuInfo& cpuInfo() {
  static const CpuInfo info = [] {
    CpuInfo c;
    struct utsname u {};
    c.arch = uname(&u) == 0 ? u.machine : "unknown";
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    std::set<std::string> flags;
    while (std::getline(f, line)) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
      std::string val = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
      if (key == "model name" && c.model.empty()) c.model = val;
      if ((key == "flags" || key == "Features") && flags.empty()) {
        std::istringstream ss(val);
        std::string fl;
        while (ss >> fl) flags.insert(fl);
      }
    }
    for (const char* fl : {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "asimd", "sve"})
      if (flags.count(fl)) c.features += (c.features.empty() ? "" : " ") + std::string(fl);
    c.cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const dnnl_version_t* v = dnnl_version();
    c.libraries.emplace_back("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
    return c;
  }();
  return info;
}

void setNumThreads(int n) {
  if (n <= 0) return;
  ThreadPool::setGlobalThreads(n);
  omp_set_num_threads(n);
}

}  // namespace kiln::cpu
