// Host (/proc) and GPU (NVML, loaded at run time) gauges for /metrics.
#include "serve/system_metrics.h"

#include <dlfcn.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "serve/system_metrics_parse.h"

namespace kiln::serve {

namespace sysmetrics {

namespace {
// Reads the unsigned decimal number that starts at `s` after skipping blanks; advances `s`.
std::optional<uint64_t> nextNumber(std::string_view& s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data() + i) return std::nullopt;
  s.remove_prefix(static_cast<size_t>(p - s.data()));
  return v;
}

std::string_view lineStartingWith(std::string_view text, std::string_view prefix) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.starts_with(prefix)) return line.substr(prefix.size());
    pos = end + 1;
  }
  return {};
}
}  // namespace

std::optional<CpuTimes> parseProcStat(std::string_view text) {
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"; guest time is already
  // included in user/nice, so it is not added again. Old kernels have only the first 4-7 fields.
  std::string_view line = lineStartingWith(text, "cpu ");
  if (line.empty()) return std::nullopt;
  uint64_t f[8] = {};
  int n = 0;
  for (; n < 8; ++n) {
    auto v = nextNumber(line);
    if (!v) break;
    f[n] = *v;
  }
  if (n < 4) return std::nullopt;
  CpuTimes t;
  for (int i = 0; i < n; ++i) t.total += f[i];
  t.idle = f[3] + f[4];
  return t;
}

double cpuUtilization(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total || after.idle < before.idle) return 0.0;
  double total = static_cast<double>(after.total - before.total);
  double idle = static_cast<double>(after.idle - before.idle);
  return std::clamp(1.0 - idle / total, 0.0, 1.0);
}

std::optional<MemInfo> parseMeminfo(std::string_view text) {
  auto field = [&](std::string_view key) -> std::optional<uint64_t> {
    std::string_view line = lineStartingWith(text, key);
    if (line.empty()) return std::nullopt;
    auto v = nextNumber(line);
    if (!v) return std::nullopt;
    // Values are in kB ("MemTotal:  16318420 kB"); a line without the unit is bytes.
    return line.find("kB") != std::string_view::npos ? *v * 1024 : *v;
  };
  auto total = field("MemTotal:");
  if (!total) return std::nullopt;
  MemInfo m;
  m.totalBytes = *total;
  uint64_t available = 0;
  if (auto a = field("MemAvailable:")) {
    available = *a;
  } else {
    available = field("MemFree:").value_or(0) + field("Buffers:").value_or(0) + field("Cached:").value_or(0);
  }
  m.usedBytes = available >= m.totalBytes ? 0 : m.totalBytes - available;
  return m;
}

}  // namespace sysmetrics

namespace {

std::optional<std::string> readFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The slice of the NVML C API used here, declared locally so that NVML is never a build or link
// dependency: the library is opened with dlopen and missing it just means no GPU series.
// Layouts and values per nvml.h (NVML_SUCCESS = 0; nvmlDevice_t is an opaque pointer).
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlUtilization_t {
  unsigned int gpu;     // percent of time a kernel was running over the last sample period
  unsigned int memory;
};
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr unsigned kNvmlUuidBufferSize = 96;  // NVML_DEVICE_UUID_V2_BUFFER_SIZE

class Nvml {
 public:
  // Null when libnvidia-ml is absent or fails to initialize (no driver, no device access).
  static std::unique_ptr<Nvml> open() {
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return nullptr;
    auto n = std::unique_ptr<Nvml>(new Nvml(lib));
    if (!n->resolve() || n->init_() != 0) return nullptr;  // ~Nvml dlcloses
    n->initialized_ = true;
    unsigned count = 0;
    if (n->getCount_(&count) != 0) return nullptr;
    for (unsigned i = 0; i < count; ++i) {
      nvmlDevice_t d = nullptr;
      char uuid[kNvmlUuidBufferSize] = {};
      if (n->getHandle_(i, &d) != 0 || n->getUuid_(d, uuid, sizeof uuid) != 0) continue;
      n->devices_.push_back({d, std::string(uuid, strnlen(uuid, sizeof uuid))});
    }
    return n;
  }
  ~Nvml() {
    if (initialized_) shutdown_();
    dlclose(lib_);
  }

  struct Device {
    nvmlDevice_t handle;
    std::string uuid;
  };
  const std::vector<Device>& devices() const { return devices_; }

  // Each returns false where the device does not report it (e.g. power on some boards).
  bool utilization(nvmlDevice_t d, double* frac) {
    nvmlUtilization_t u{};
    if (getUtil_(d, &u) != 0) return false;
    *frac = u.gpu / 100.0;
    return true;
  }
  bool memory(nvmlDevice_t d, uint64_t* total, uint64_t* used) {
    nvmlMemory_t m{};
    if (getMem_(d, &m) != 0) return false;
    *total = m.total;
    *used = m.used;
    return true;
  }
  bool powerWatts(nvmlDevice_t d, double* watts) {
    unsigned mw = 0;
    if (getPower_(d, &mw) != 0) return false;
    *watts = mw / 1000.0;
    return true;
  }

 private:
  explicit Nvml(void* lib) : lib_(lib) {}
  template <typename F>
  bool sym(F& f, const char* name) {
    f = reinterpret_cast<F>(dlsym(lib_, name));
    return f != nullptr;
  }
  bool resolve() {
    return sym(init_, "nvmlInit_v2") && sym(shutdown_, "nvmlShutdown") && sym(getCount_, "nvmlDeviceGetCount_v2") &&
           sym(getHandle_, "nvmlDeviceGetHandleByIndex_v2") && sym(getUuid_, "nvmlDeviceGetUUID") &&
           sym(getUtil_, "nvmlDeviceGetUtilizationRates") && sym(getMem_, "nvmlDeviceGetMemoryInfo") &&
           sym(getPower_, "nvmlDeviceGetPowerUsage");
  }

  void* lib_;
  bool initialized_ = false;
  nvmlReturn_t (*init_)() = nullptr;
  nvmlReturn_t (*shutdown_)() = nullptr;
  nvmlReturn_t (*getCount_)(unsigned*) = nullptr;
  nvmlReturn_t (*getHandle_)(unsigned, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*getUuid_)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*getUtil_)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  nvmlReturn_t (*getMem_)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*getPower_)(nvmlDevice_t, unsigned*) = nullptr;
  std::vector<Device> devices_;
};

class SystemMetricsImpl final : public SystemMetrics {
 public:
  SystemMetricsImpl(MetricsRegistry& reg, std::chrono::milliseconds interval)
      : interval_(std::max(interval, std::chrono::milliseconds(10))), nvml_(Nvml::open()) {
    // Help texts follow Triton's wording; the series are created up front so that a scrape right
    // after start already shows them.
    cpuUtil_ = reg.gauge("nv_cpu_utilization", "CPU utilization rate [0.0 - 1.0]");
    memTotal_ = reg.gauge("nv_cpu_memory_total_bytes", "CPU total memory (RAM), in bytes");
    memUsed_ = reg.gauge("nv_cpu_memory_used_bytes", "CPU used memory (RAM), in bytes");
    if (nvml_) {
      for (const auto& d : nvml_->devices()) {
        Labels l{{"gpu_uuid", d.uuid}};
        gpus_.push_back({d.handle, reg.gauge("nv_gpu_utilization", "GPU utilization rate [0.0 - 1.0)", l),
                         reg.gauge("nv_gpu_memory_total_bytes", "GPU total memory, in bytes", l),
                         reg.gauge("nv_gpu_memory_used_bytes", "GPU used memory, in bytes", l),
                         reg.gauge("nv_gpu_power_usage", "GPU power usage in watts", l)});
      }
    }
    sample();
    thread_ = std::thread([this] { loop(); });
  }
  ~SystemMetricsImpl() override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool haveGpuMetrics() const override { return nvml_ != nullptr; }

 private:
  struct Gpu {
    nvmlDevice_t handle;
    Gauge *util, *memTotal, *memUsed, *power;
  };

  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!cv_.wait_for(lk, interval_, [this] { return stop_; })) {
      lk.unlock();
      sample();
      lk.lock();
    }
  }

  void sample() {
    // Utilization needs two readings: the first sample only records the baseline (reported as 0).
    if (auto text = readFile("/proc/stat")) {
      if (auto t = sysmetrics::parseProcStat(*text)) {
        if (havePrevCpu_) cpuUtil_->set(sysmetrics::cpuUtilization(prevCpu_, *t));
        prevCpu_ = *t;
        havePrevCpu_ = true;
      }
    }
    if (auto text = readFile("/proc/meminfo")) {
      if (auto m = sysmetrics::parseMeminfo(*text)) {
        memTotal_->set(static_cast<double>(m->totalBytes));
        memUsed_->set(static_cast<double>(m->usedBytes));
      }
    }
    for (auto& g : gpus_) {
      double v = 0;
      uint64_t total = 0, used = 0;
      if (nvml_->utilization(g.handle, &v)) g.util->set(v);
      if (nvml_->memory(g.handle, &total, &used)) {
        g.memTotal->set(static_cast<double>(total));
        g.memUsed->set(static_cast<double>(used));
      }
      if (nvml_->powerWatts(g.handle, &v)) g.power->set(v);
    }
  }

  std::chrono::milliseconds interval_;
  std::unique_ptr<Nvml> nvml_;
  Gauge *cpuUtil_, *memTotal_, *memUsed_;
  std::vector<Gpu> gpus_;
  sysmetrics::CpuTimes prevCpu_;
  bool havePrevCpu_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<SystemMetrics> SystemMetrics::start(MetricsRegistry& registry, std::chrono::milliseconds interval) {
  return std::make_unique<SystemMetricsImpl>(registry, interval);
}

}  // namespace kiln::serve
