// The timing cache: measured tactic times keyed by (layer signature, device, library versions),
// so a rebuild on the same machine skips timing. Stored as JSON; load, merge and save are
// explicit. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "kiln/status.h"

namespace kiln::build {

struct TimingEntry {
  std::string tactic;  // the winner
  double microseconds = 0;
};

class TimingCache {
 public:
  // `deviceKey` identifies the device and library versions ("cpu:x86_64:<model>:onednn-2.6.3").
  explicit TimingCache(std::string deviceKey) : deviceKey_(std::move(deviceKey)) {}

  // Loads entries from a file written by save(); entries of other devices are kept but unused.
  // A missing file is not an error (an empty cache); a damaged one is.
  Status load(const std::string& path);
  Status save(const std::string& path) const;
  // Adds the other cache's entries (theirs win on conflicts).
  void merge(const TimingCache& other);

  std::optional<TimingEntry> find(const std::string& layerKey) const;
  void insert(const std::string& layerKey, TimingEntry e);
  size_t size() const;
  int hits() const { return hits_; }
  int misses() const { return misses_; }
  const std::string& deviceKey() const { return deviceKey_; }

 private:
  std::string deviceKey_;
  mutable std::mutex mu_;
  // device key -> layer key -> entry
  std::map<std::string, std::map<std::string, TimingEntry>> entries_;
  mutable int hits_ = 0, misses_ = 0;
};

}  // namespace kiln::build
