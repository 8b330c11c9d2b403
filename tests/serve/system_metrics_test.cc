// System metrics: the /proc parsers on sample text (old and new kernels, malformed input), and the
// gauges a started SystemMetrics puts in the registry on this machine.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "serve/system_metrics.h"
#include "serve/system_metrics_parse.h"

namespace kiln::serve::sysmetrics {
namespace {

TEST(SystemMetricsParse, ProcStat) {
  const char* text =
      "cpu  100 5 50 800 40 3 2 0 7 0\n"
      "cpu0 50 2 25 400 20 1 1 0 0 0\n"
      "intr 12345\n";
  auto t = parseProcStat(text);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->total, 100u + 5 + 50 + 800 + 40 + 3 + 2 + 0);  // guest time is inside user
  EXPECT_EQ(t->idle, 840u);

  auto old = parseProcStat("cpu 10 0 10 80\n");  // 2.4-era kernels: four fields
  ASSERT_TRUE(old);
  EXPECT_EQ(old->total, 100u);
  EXPECT_EQ(old->idle, 80u);

  EXPECT_FALSE(parseProcStat(""));
  EXPECT_FALSE(parseProcStat("cpu0 1 2 3 4\n"));  // per-core line only
  EXPECT_FALSE(parseProcStat("cpu  1 2 x\n"));
  EXPECT_FALSE(parseProcStat("cpu  99999999999999999999999 1 1 1\n"));  // overflow
}

TEST(SystemMetricsParse, Utilization) {
  CpuTimes a{1000, 800}, b{1100, 825};
  EXPECT_DOUBLE_EQ(cpuUtilization(a, b), 0.75);
  EXPECT_EQ(cpuUtilization(a, a), 0.0);   // no time passed
  EXPECT_EQ(cpuUtilization(b, a), 0.0);   // counters went backwards
  EXPECT_EQ(cpuUtilization({0, 0}, {100, 100}), 0.0);
  EXPECT_EQ(cpuUtilization({0, 0}, {100, 0}), 1.0);
}

TEST(SystemMetricsParse, Meminfo) {
  const char* text =
      "MemTotal:       16000000 kB\n"
      "MemFree:         2000000 kB\n"
      "MemAvailable:   12000000 kB\n"
      "Buffers:          500000 kB\n"
      "Cached:          6000000 kB\n";
  auto m = parseMeminfo(text);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->totalBytes, 16000000ull * 1024);
  EXPECT_EQ(m->usedBytes, 4000000ull * 1024);

  // Without MemAvailable: free + buffers + cached count as available.
  auto old = parseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->usedBytes, 600ull * 1024);

  EXPECT_FALSE(parseMeminfo("MemFree: 1 kB\n"));
  EXPECT_FALSE(parseMeminfo("MemTotal: lots\n"));
  auto clamp = parseMeminfo("MemTotal: 10 kB\nMemAvailable: 20 kB\n");
  ASSERT_TRUE(clamp);
  EXPECT_EQ(clamp->usedBytes, 0u);
}

TEST(SystemMetrics, GaugesAppearInTheRegistry) {
  MetricsRegistry reg;
  auto sm = SystemMetrics::start(reg, std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string text = reg.render();
  EXPECT_NE(text.find("# TYPE nv_cpu_utilization gauge"), std::string::npos) << text;
  EXPECT_NE(text.find("nv_cpu_memory_total_bytes "), std::string::npos);
  EXPECT_NE(text.find("nv_cpu_memory_used_bytes "), std::string::npos);
  if (!sm->haveGpuMetrics()) EXPECT_EQ(text.find("nv_gpu_"), std::string::npos);
  double total = reg.gauge("nv_cpu_memory_total_bytes", "")->value();
  double used = reg.gauge("nv_cpu_memory_used_bytes", "")->value();
  EXPECT_GT(total, 0);
  EXPECT_GT(used, 0);
  EXPECT_LE(used, total);
  double util = reg.gauge("nv_cpu_utilization", "")->value();
  EXPECT_GE(util, 0.0);
  EXPECT_LE(util, 1.0);
  sm.reset();  // stops its thread promptly
}

// The NVML path, against tests/serve/fake_nvml (three devices; the third reports no power). Runs
// only in the ctest that puts the fake library on LD_LIBRARY_PATH (system_metrics_fake_nvml).
TEST(SystemMetricsNvml, OneSeriesPerGpuLabelledByUuid) {
  const char* fake = std::getenv("KILN_TEST_FAKE_NVML");
  if (!fake || std::string(fake) != "1") GTEST_SKIP() << "needs the fake NVML (ctest system_metrics_fake_nvml)";
  MetricsRegistry reg;
  auto sm = SystemMetrics::start(reg, std::chrono::milliseconds(20));
  ASSERT_TRUE(sm->haveGpuMetrics());
  const std::string text = reg.render();
  for (int i = 0; i < 3; ++i) {
    const Labels l{{"gpu_uuid", "GPU-00000000-0000-0000-0000-00000000000" + std::to_string(i)}};
    EXPECT_DOUBLE_EQ(reg.gauge("nv_gpu_utilization", "", l)->value(), 0.1 * (i + 1)) << i;  // percent -> [0, 1]
    EXPECT_DOUBLE_EQ(reg.gauge("nv_gpu_memory_total_bytes", "", l)->value(), 80.0 * (1ull << 30)) << i;
    EXPECT_DOUBLE_EQ(reg.gauge("nv_gpu_memory_used_bytes", "", l)->value(), (i + 1.0) * (1ull << 30)) << i;
  }
  EXPECT_NE(text.find("nv_gpu_power_usage{gpu_uuid=\"GPU-00000000-0000-0000-0000-000000000001\"} 101"),
            std::string::npos)
      << text;
  // Exactly three GPUs: no series for a device that does not exist.
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find("nv_gpu_memory_used_bytes{", pos)) != std::string::npos; ++pos) ++n;
  EXPECT_EQ(n, 3u) << text;
}

}  // namespace
}  // namespace kiln::serve::sysmetrics
