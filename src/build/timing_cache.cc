// Timing cache (JSON: {"format": "kiln-timing-cache", "version": 1, "devices": {dev: {key: {...}}}}).
#include "build/timing_cache.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace kiln::build {

namespace {
constexpr const char* kFormat = "kiln-timing-cache";
constexpr int kVersion = 1;
}  // namespace

Status TimingCache::load(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::OK();
  std::ifstream f(path);
  if (!f) return NotFound("cannot read timing cache '{}'", path);
  nlohmann::json j;
  try {
    f >> j;
  } catch (const std::exception& e) {
    return DataLoss("timing cache '{}' is not valid JSON ({})", path, e.what());
  }
  if (!j.is_object() || j.value("format", "") != kFormat)
    return InvalidArgument("'{}' is not a Kiln timing cache", path);
  if (j.value("version", 0) > kVersion)
    return Unsupported("timing cache '{}' has version {}; this Kiln reads up to {}", path, j.value("version", 0), kVersion);
  std::lock_guard<std::mutex> lk(mu_);
  try {
    for (const auto& [dev, entries] : j.at("devices").items()) {
      for (const auto& [key, e] : entries.items())
        entries_[dev][key] = TimingEntry{e.at("tactic").get<std::string>(), e.at("us").get<double>()};
    }
  } catch (const std::exception& e) {
    return DataLoss("timing cache '{}' is malformed ({})", path, e.what());
  }
  return Status::OK();
}

Status TimingCache::save(const std::string& path) const {
  nlohmann::json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["devices"] = nlohmann::json::object();
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& [dev, entries] : entries_)
      for (const auto& [key, e] : entries) j["devices"][dev][key] = {{"tactic", e.tactic}, {"us", e.microseconds}};
  }
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    if (!f) return NotFound("cannot write timing cache '{}'", path);
    f << j.dump(1) << "\n";
    if (!f) return DataLoss("writing timing cache '{}' failed", path);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return InternalError("cannot rename '{}'", tmp);
  return Status::OK();
}

void TimingCache::merge(const TimingCache& other) {
  if (&other == this) return;
  std::scoped_lock lk(mu_, other.mu_);
  for (const auto& [dev, entries] : other.entries_)
    for (const auto& [key, e] : entries) entries_[dev][key] = e;
}

std::optional<TimingEntry> TimingCache::find(const std::string& layerKey) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto d = entries_.find(deviceKey_);
  if (d != entries_.end()) {
    auto it = d->second.find(layerKey);
    if (it != d->second.end()) {
      ++hits_;
      return it->second;
    }
  }
  ++misses_;
  return std::nullopt;
}

void TimingCache::insert(const std::string& layerKey, TimingEntry e) {
  std::lock_guard<std::mutex> lk(mu_);
  entries_[deviceKey_][layerKey] = std::move(e);
}

size_t TimingCache::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  size_t n = 0;
  for (const auto& [d, e] : entries_) n += e.size();
  return n;
}

}  // namespace kiln::build
