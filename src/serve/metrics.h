// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4). Thread-safe; metric handles are stable pointers, so hot paths
// update them without lookups.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kiln::serve {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void add(double v = 1.0);
  double value() const { return value_.load(); }
 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v); }
  void add(double v);
  double value() const { return value_.load(); }
 private:
  std::atomic<double> value_{0};
};

// Cumulative histogram with fixed upper bounds (plus +Inf).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // non-cumulative, bounds_.size() + 1
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

class MetricsRegistry {
 public:
  // Returns the series for (name, labels), creating it (and the family's HELP/TYPE) on first use.
  Counter* counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge* gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram* histogram(const std::string& name, const std::string& help, const Labels& labels,
                       const std::vector<double>& bounds);
  // Removes every series of `name` whose labels include (key, value) (e.g. an unloaded model).
  void removeMatching(const std::string& key, const std::string& value);
  // The whole registry in Prometheus text format.
  std::string render() const;

  // Latency buckets in microseconds, 100 us to 60 s (for *_duration_us histograms).
  static std::vector<double> latencyBucketsUs();

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    std::string help;
    Type type;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(const std::string& name, const std::string& help, Type type);
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace kiln::serve
