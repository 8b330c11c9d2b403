// Metrics registry and text exposition.
#include "serve/metrics.h"

#include <cmath>

#include <fmt/format.h>

namespace kiln::serve {

namespace {
void atomicAdd(std::atomic<double>& a, double v) {
  double cur = a.load();
  while (!a.compare_exchange_weak(cur, cur + v)) {
  }
}
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}
std::string labelText(const Labels& labels, const std::string& extraKey = "", const std::string& extraValue = "") {
  std::string s;
  for (const auto& [k, v] : labels) s += fmt::format("{}{}=\"{}\"", s.empty() ? "" : ",", k, escape(v));
  if (!extraKey.empty()) s += fmt::format("{}{}=\"{}\"", s.empty() ? "" : ",", extraKey, escape(extraValue));
  return s.empty() ? "" : "{" + s + "}";
}
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}
}  // namespace

void Counter::add(double v) { atomicAdd(value_, v); }
void Gauge::add(double v) { atomicAdd(value_, v); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i]++;
  atomicAdd(sum_, v);
  count_++;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load();
    s.cumulative.push_back(acc);
  }
  s.sum = sum_.load();
  s.count = acc;
  return s;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help, Type type) {
  auto& f = families_[name];
  if (f.help.empty()) {
    f.help = help;
    f.type = type;
  }
  return f;
}

Counter* MetricsRegistry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& slot = family(name, help, Type::kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* MetricsRegistry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& slot = family(name, help, Type::kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* MetricsRegistry::histogram(const std::string& name, const std::string& help, const Labels& labels,
                                      const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& slot = family(name, help, Type::kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return slot.get();
}

void MetricsRegistry::removeMatching(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lk(mu_);
  auto matches = [&](const Labels& l) {
    for (const auto& [k, v] : l)
      if (k == key && v == value) return true;
    return false;
  };
  for (auto& [name, f] : families_) {
    std::erase_if(f.counters, [&](const auto& e) { return matches(e.first); });
    std::erase_if(f.gauges, [&](const auto& e) { return matches(e.first); });
    std::erase_if(f.histograms, [&](const auto& e) { return matches(e.first); });
  }
}

std::string MetricsRegistry::render() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (f.counters.empty() && f.gauges.empty() && f.histograms.empty()) continue;
    const char* type = f.type == Type::kCounter ? "counter" : f.type == Type::kGauge ? "gauge" : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, type);
    for (const auto& [labels, c] : f.counters) out += fmt::format("{}{} {}\n", name, labelText(labels), number(c->value()));
    for (const auto& [labels, g] : f.gauges) out += fmt::format("{}{} {}\n", name, labelText(labels), number(g->value()));
    for (const auto& [labels, h] : f.histograms) {
      auto s = h->snapshot();
      for (size_t i = 0; i < s.bounds.size(); ++i)
        out += fmt::format("{}_bucket{} {}\n", name, labelText(labels, "le", number(s.bounds[i])), s.cumulative[i]);
      out += fmt::format("{}_bucket{} {}\n", name, labelText(labels, "le", "+Inf"), s.cumulative.back());
      out += fmt::format("{}_sum{} {}\n", name, labelText(labels), number(s.sum));
      out += fmt::format("{}_count{} {}\n", name, labelText(labels), s.count);
    }
  }
  return out;
}

std::vector<double> MetricsRegistry::latencyBucketsUs() {
  return {100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000, 60000000};
}

}  // namespace kiln::serve
