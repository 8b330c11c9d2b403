// Parsers behind SystemMetrics (system_metrics.cc), separate so tests can feed them sample /proc
// text. Pure functions: no I/O, never throw; malformed text gives std::nullopt.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln::serve::sysmetrics {

// Aggregate CPU time from the "cpu " line of /proc/stat, in USER_HZ ticks.
struct CpuTimes {
  uint64_t total = 0;  // user + nice + system + idle + iowait + irq + softirq + steal
  uint64_t idle = 0;   // idle + iowait (waiting on I/O is not work)
};
std::optional<CpuTimes> parseProcStat(std::string_view text);

// Busy fraction [0, 1] between two samples; 0 when no time passed or the counters went backwards
// (a counter reset must not produce a negative or huge utilization).
double cpuUtilization(const CpuTimes& before, const CpuTimes& after);

// System memory from /proc/meminfo, in bytes. used = MemTotal - MemAvailable (memory the kernel
// could not hand to a new process without swapping); without MemAvailable (kernels before 3.14)
// it falls back to MemTotal - MemFree - Buffers - Cached.
struct MemInfo {
  uint64_t totalBytes = 0;
  uint64_t usedBytes = 0;
};
std::optional<MemInfo> parseMeminfo(std::string_view text);

}  // namespace kiln::serve::sysmetrics
