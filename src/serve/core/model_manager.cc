// Model management.
#include "serve/core/model_manager.h"

#include <algorithm>

#include "serve/core/datatype.h"
#include "serve/core/log.h"
#include "serve/core/names.h"

namespace kiln::serve {

namespace {
const char* kReady = "READY";
const char* kUnavailable = "UNAVAILABLE";
const char* kLoading = "LOADING";
const char* kUnloading = "UNLOADING";
}  // namespace

ModelManager::ModelManager(const ServerOptions& opts, MetricsRegistry& metrics) : opts_(opts), metrics_(metrics) {
  loadOpts_.engineCacheDir = opts.engineCacheDir;
  loadOpts_.defaultQueueBound = opts.maxBatchRequests;
  loadOpts_.maxTensorBytes = opts.maxTensorBytes;
  loadOpts_.metrics = &metrics;
}

ModelManager::~ModelManager() { shutdown(Clock::now()); }

void ModelManager::start() {
  std::vector<ModelSource> toLoad;
  bool all = opts_.controlMode != ModelControlMode::kExplicit ||
             std::find(opts_.startupModels.begin(), opts_.startupModels.end(), "*") != opts_.startupModels.end();
  if (all) {
    auto scan = scanRepositories(opts_.repositories);
    if (!scan.ok()) {
      log::error("{}", scan.status().message());
    } else {
      for (const auto& w : scan->warnings) log::warn("{}", w);
      std::unique_lock<std::shared_mutex> lk(mu_);
      for (const auto& [name, why] : scan->errors) {
        log::error("model '{}': {}", name, why);
        entries_[name].reason = why;
        entries_[name].source.name = name;
      }
      lk.unlock();
      for (auto& [name, src] : scan->models) toLoad.push_back(src);
    }
  } else {
    for (const auto& name : opts_.startupModels) {
      auto src = findModel(opts_.repositories, name);
      if (!src.ok()) {
        log::error("--load-model {}: {}", name, src.status().message());
        std::unique_lock<std::shared_mutex> lk(mu_);
        entries_[name].reason = src.status().message();
        entries_[name].source.name = name;
        continue;
      }
      toLoad.push_back(std::move(*src));
    }
  }
  for (const auto& src : toLoad) {
    if (stopRequested_) break;
    std::lock_guard<std::mutex> lk(loadMu_);
    Status st = loadLocked(src, std::nullopt);
    if (!st.ok()) log::error("model '{}' failed to load: {}", src.name, st.message());
  }
  startupDone_ = true;
  if (opts_.controlMode == ModelControlMode::kPoll && !stopRequested_) pollThread_ = std::thread([this] { pollLoop(); });
}

bool ModelManager::allReady() const {
  if (!startupDone_) return false;
  std::shared_lock<std::shared_mutex> lk(mu_);
  for (const auto& [name, e] : entries_) {
    if (!e.wanted) continue;
    if (!e.reason.empty()) return false;
    bool any = false;
    for (const auto& [v, slot] : e.versions) {
      if (slot.state != kReady) return false;
      any = true;
    }
    if (!any) return false;
  }
  return true;
}

Status ModelManager::load(const std::string& name, const std::optional<std::string>& configJson) {
  if (opts_.controlMode != ModelControlMode::kExplicit)
    return Unavailable("explicit model load / unload is not allowed: the server runs with --model-control-mode={}",
                       opts_.controlMode == ModelControlMode::kPoll ? "poll" : "none");
  KILN_RETURN_IF_ERROR(validateModelName(name));
  std::lock_guard<std::mutex> lk(loadMu_);
  if (shutDown_) return Unavailable("the server is shutting down");
  KILN_ASSIGN_OR_RETURN(ModelSource src, findModel(opts_.repositories, name));
  return loadLocked(src, configJson);
}

Status ModelManager::unload(const std::string& name) {
  if (opts_.controlMode != ModelControlMode::kExplicit)
    return Unavailable("explicit model load / unload is not allowed: the server runs with --model-control-mode={}",
                       opts_.controlMode == ModelControlMode::kPoll ? "poll" : "none");
  KILN_RETURN_IF_ERROR(validateModelName(name));
  std::vector<std::shared_ptr<ModelVersion>> retired;
  std::lock_guard<std::mutex> lk(loadMu_);
  KILN_RETURN_IF_ERROR(unloadLocked(name, &retired));
  retire(std::move(retired));
  return Status::OK();
}

Status ModelManager::loadLocked(const ModelSource& src, const std::optional<std::string>& configJson) {
  log::info("loading model '{}' from {}", src.name, src.dir);
  auto plan = planModel(src, configJson);
  if (!plan.ok()) {
    std::unique_lock<std::shared_mutex> lk(mu_);
    Entry& e = entries_[src.name];
    bool serving = false;
    for (const auto& [v, slot] : e.versions) serving |= slot.state == kReady;
    if (!serving) {  // a failed reload keeps the versions that serve
      e.source = src;
      e.reason = plan.status().message();
      e.wanted = true;
    }
    e.fingerprint = src.fingerprint;
    return plan.status();
  }
  {
    std::unique_lock<std::shared_mutex> lk(mu_);
    Entry& e = entries_[src.name];
    e.wanted = true;
    for (int64_t v : plan->versions) {
      auto& slot = e.versions[v];
      if (!slot.model) {
        slot.state = kLoading;
        slot.reason.clear();
      }
    }
  }
  std::map<int64_t, Result<std::shared_ptr<ModelVersion>>> loaded;
  for (int64_t v : plan->versions) {
    auto r = loadModelVersion(src, *plan, v, loadOpts_);
    if (!r.ok()) log::error("model '{}' version {} failed to load: {}", src.name, v, r.status().message());
    else log::info("model '{}' version {} is READY ({:.3f} s)", src.name, v, (*r)->loadSeconds);
    loaded.emplace(v, std::move(r));
  }
  std::vector<std::shared_ptr<ModelVersion>> retired;
  std::string failures;
  {
    std::unique_lock<std::shared_mutex> lk(mu_);
    Entry& e = entries_[src.name];
    e.source = src;
    e.fingerprint = src.fingerprint;
    // The config describes what serves: a reload whose every version failed (the old versions
    // keep serving) keeps the old config.
    bool anyLoaded = false, oldServing = false;
    for (const auto& [v, r] : loaded) anyLoaded |= r.ok();
    for (const auto& [v, slot] : e.versions) oldServing |= slot.model != nullptr;
    if (anyLoaded || !oldServing || !e.planned) e.config = plan->config;
    e.planned = true;
    e.reason.clear();
    std::map<int64_t, VersionSlot> next;
    for (auto& [v, r] : loaded) {
      VersionSlot slot;
      auto old = e.versions.find(v);
      if (r.ok()) {
        slot.state = kReady;
        slot.model = std::move(*r);
        if (old != e.versions.end() && old->second.model) retired.push_back(old->second.model);
      } else {
        failures += fmt::format("{}version {}: {}", failures.empty() ? "" : "; ", v, r.status().message());
        if (old != e.versions.end() && old->second.model) {
          slot = old->second;  // the old version keeps serving
        } else {
          slot.state = kUnavailable;
          slot.reason = r.status().message();
        }
      }
      next[v] = std::move(slot);
    }
    for (auto& [v, slot] : e.versions)
      if (!next.count(v) && slot.model) retired.push_back(slot.model);
    e.versions = std::move(next);
  }
  retire(std::move(retired));
  if (!failures.empty()) return InvalidArgument("failed to load '{}': {}", src.name, failures);
  return Status::OK();
}

Status ModelManager::unloadLocked(const std::string& name, std::vector<std::shared_ptr<ModelVersion>>* retired) {
  std::unique_lock<std::shared_mutex> lk(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    // Unloading a model that is not loaded succeeds (as in Triton), if the name exists at all.
    lk.unlock();
    KILN_RETURN_IF_ERROR(findModel(opts_.repositories, name).status());
    return Status::OK();
  }
  Entry& e = it->second;
  e.wanted = false;
  e.reason.clear();
  for (auto& [v, slot] : e.versions) {
    if (slot.model) retired->push_back(std::move(slot.model));
    slot.state = kUnavailable;
    slot.reason = "unloaded";
  }
  log::info("unloaded model '{}'", name);
  return Status::OK();
}

void ModelManager::retire(std::vector<std::shared_ptr<ModelVersion>> old) {
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(opts_.exitTimeoutSeconds * 1000));
  for (auto& m : old)
    if (m && m->scheduler) m->scheduler->stop(deadline);
}

void ModelManager::pollOnce() {
  auto scan = scanRepositories(opts_.repositories);
  if (!scan.ok()) {
    log::error("repository poll: {}", scan.status().message());
    return;
  }
  std::vector<ModelSource> changed;
  std::vector<std::string> removed;
  {
    std::shared_lock<std::shared_mutex> lk(mu_);
    for (const auto& [name, src] : scan->models) {
      auto it = entries_.find(name);
      if (it == entries_.end() || it->second.fingerprint != src.fingerprint) changed.push_back(src);
    }
    for (const auto& [name, e] : entries_)
      if (!scan->models.count(name) && !scan->errors.count(name)) removed.push_back(name);
  }
  for (const auto& src : changed) {
    std::lock_guard<std::mutex> lk(loadMu_);
    if (shutDown_) return;
    Status st = loadLocked(src, std::nullopt);
    if (!st.ok()) log::error("model '{}' failed to load: {}", src.name, st.message());
  }
  for (const auto& name : removed) {
    std::vector<std::shared_ptr<ModelVersion>> retired;
    std::lock_guard<std::mutex> lk(loadMu_);
    if (shutDown_) return;
    (void)unloadLocked(name, &retired);
    {
      std::unique_lock<std::shared_mutex> w(mu_);
      entries_.erase(name);  // gone from the repository: forget it
    }
    retire(std::move(retired));
  }
}

void ModelManager::pollLoop() {
  std::unique_lock<std::mutex> lk(pollMu_);
  while (!stopPolling_) {
    pollCv_.wait_for(lk, std::chrono::seconds(std::max(1, opts_.pollSeconds)), [&] { return stopPolling_; });
    if (stopPolling_) break;
    lk.unlock();
    pollOnce();
    lk.lock();
  }
}

Result<std::shared_ptr<ModelVersion>> ModelManager::findLocked(const std::string& name, const std::string& version) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return InvalidArgument("Request for unknown model: {} is not found", quoteForMessage(name));
  const Entry& e = it->second;
  if (version.empty()) {
    for (auto v = e.versions.rbegin(); v != e.versions.rend(); ++v)
      if (v->second.state == kReady && v->second.model) return v->second.model;
    return Unavailable("Request for unknown model: '{}' has no available versions{}", name,
                       e.reason.empty() ? "" : " (" + e.reason + ")");
  }
  KILN_ASSIGN_OR_RETURN(int64_t v, parseVersion(version));
  auto s = e.versions.find(v);
  if (s == e.versions.end()) return InvalidArgument("Request for unknown model: '{}' version {} is not found", name, v);
  if (s->second.state != kReady || !s->second.model)
    return Unavailable("model '{}' version {} is not ready: {}{}", name, v, s->second.state,
                       s->second.reason.empty() ? "" : " (" + s->second.reason + ")");
  return s->second.model;
}

Result<std::shared_ptr<ModelVersion>> ModelManager::find(const std::string& name, const std::string& version) const {
  std::shared_lock<std::shared_mutex> lk(mu_);
  return findLocked(name, version);
}

bool ModelManager::ready(const std::string& name, const std::string& version) const { return find(name, version).ok(); }

Result<inference::ModelConfig> ModelManager::config(const std::string& name, const std::string& version) const {
  std::shared_lock<std::shared_mutex> lk(mu_);
  KILN_RETURN_IF_ERROR(findLocked(name, version).status());
  return entries_.at(name).config;
}

Result<ModelMetadata> ModelManager::metadata(const std::string& name, const std::string& version) const {
  std::shared_lock<std::shared_mutex> lk(mu_);
  KILN_ASSIGN_OR_RETURN(auto mv, findLocked(name, version));
  const Entry& e = entries_.at(name);
  ModelMetadata md;
  md.name = name;
  md.platform = e.config.platform();
  for (const auto& [v, slot] : e.versions)
    if (slot.state == kReady) md.versions.push_back(std::to_string(v));
  const ModelSpec& spec = *mv->spec;
  auto tensor = [&](const TensorSpec& t) {
    TensorMetadata m;
    m.name = t.name;
    m.datatype = std::string(kserveDatatype(t.dtype));
    if (spec.maxBatchSize > 0) m.shape.push_back(-1);
    m.shape.insert(m.shape.end(), t.dims.begin(), t.dims.end());
    return m;
  };
  for (const auto& t : spec.inputs) md.inputs.push_back(tensor(t));
  for (const auto& t : spec.outputs) md.outputs.push_back(tensor(t));
  return md;
}

std::vector<RepositoryEntry> ModelManager::index(bool readyOnly) const {
  std::map<std::string, std::vector<RepositoryEntry>> rows;
  if (!readyOnly) {
    // Models in the repositories that were never loaded are listed by name only (as Triton does).
    auto scan = scanRepositories(opts_.repositories);
    if (scan.ok())
      for (const auto& [name, src] : scan->models) rows[name];
  }
  std::shared_lock<std::shared_mutex> lk(mu_);
  for (const auto& [name, e] : entries_) {
    auto& r = rows[name];
    r.clear();
    for (const auto& [v, slot] : e.versions) {
      if (readyOnly && slot.state != kReady) continue;
      r.push_back({name, std::to_string(v), slot.state, slot.reason});
    }
    if (r.empty() && !readyOnly && !e.reason.empty()) r.push_back({name, "", kUnavailable, e.reason});
  }
  std::vector<RepositoryEntry> out;
  for (auto& [name, list] : rows) {
    if (list.empty()) {
      if (!readyOnly) out.push_back({name, "", "", ""});
      continue;
    }
    for (auto& r : list) out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<ModelStatistics>> ModelManager::statistics(const std::string& name, const std::string& version) const {
  std::shared_lock<std::shared_mutex> lk(mu_);
  std::vector<ModelStatistics> out;
  if (name.empty()) {
    for (const auto& [n, e] : entries_)
      for (const auto& [v, slot] : e.versions)
        if (slot.model) out.push_back(slot.model->stats->snapshot());
    return out;
  }
  auto it = entries_.find(name);
  if (it == entries_.end()) return InvalidArgument("Request for unknown model: {} is not found", quoteForMessage(name));
  if (!version.empty()) {
    KILN_ASSIGN_OR_RETURN(auto mv, findLocked(name, version));
    out.push_back(mv->stats->snapshot());
    return out;
  }
  for (const auto& [v, slot] : it->second.versions)
    if (slot.model) out.push_back(slot.model->stats->snapshot());
  if (out.empty()) return Unavailable("model '{}' has no loaded versions", name);
  return out;
}

void ModelManager::shutdown(Clock::time_point deadline) {
  stopRequested_ = true;
  {
    std::lock_guard<std::mutex> lk(pollMu_);
    stopPolling_ = true;
  }
  pollCv_.notify_all();
  if (pollThread_.joinable()) pollThread_.join();
  std::vector<std::shared_ptr<ModelVersion>> all;
  {
    std::lock_guard<std::mutex> lk(loadMu_);
    if (shutDown_) return;
    shutDown_ = true;
    std::unique_lock<std::shared_mutex> w(mu_);
    for (auto& [name, e] : entries_)
      for (auto& [v, slot] : e.versions)
        if (slot.model) {
          all.push_back(slot.model);
          slot.state = kUnloading;
        }
  }
  // No version is READY any more, so nothing new reaches a scheduler; each keeps running its
  // queue on its own workers while we wait for them in turn (all drain side by side).
  for (auto& m : all) m->scheduler->stop(deadline);
  std::unique_lock<std::shared_mutex> w(mu_);
  for (auto& [name, e] : entries_)
    for (auto& [v, slot] : e.versions) {
      slot.model.reset();
      if (slot.state == kUnloading) {
        slot.state = kUnavailable;
        slot.reason = "unloaded";
      }
    }
}

}  // namespace kiln::serve
