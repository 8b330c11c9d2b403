// Repository scanning.
#include "serve/core/repository.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "plan/checksum.h"
#include "plan/plan.h"
#include "serve/core/names.h"

namespace kiln::serve {

namespace fs = std::filesystem;

namespace {

uint64_t mix(uint64_t h, std::string_view s) { return plan::xxhash64(s, h); }

// Fingerprint of a directory's regular files (recursively, bounded) by name, size and mtime.
uint64_t dirFingerprint(const fs::path& dir, uint64_t h) {
  std::error_code ec;
  std::vector<std::string> items;
  int n = 0;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator() && n < 10000; it.increment(ec), ++n) {
    std::error_code e2;
    if (!it->is_regular_file(e2)) continue;
    auto size = it->file_size(e2);
    auto mtime = fs::last_write_time(it->path(), e2).time_since_epoch().count();
    items.push_back(fmt::format("{}|{}|{}", it->path().string(), size, mtime));
  }
  std::sort(items.begin(), items.end());
  for (const auto& s : items) h = mix(h, s);
  return h;
}

Result<ModelSource> readModelDir(const std::string& repo, const std::string& name) {
  ModelSource m;
  m.name = name;
  m.repository = repo;
  m.dir = (fs::path(repo) / name).string();
  if (!pathInside(repo, m.dir))
    return InvalidArgument("model '{}': its directory resolves outside repository '{}'", name, repo);
  std::error_code ec;
  fs::path cfg = fs::path(m.dir) / "config.pbtxt";
  uint64_t h = mix(0, name);
  if (fs::is_regular_file(cfg, ec)) {
    if (!pathInside(repo, cfg.string()))
      return InvalidArgument("model '{}': config.pbtxt resolves outside the repository", name);
    m.configPath = cfg.string();
    auto bytes = readFileBytes(m.configPath, 16 << 20);
    if (bytes.ok()) h = mix(h, *bytes);
  }
  for (auto it = fs::directory_iterator(m.dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string entry = it->path().filename().string();
    std::error_code e2;
    if (!it->is_directory(e2)) continue;
    auto v = parseVersion(entry);
    if (!v.ok()) continue;  // not a version directory (Triton ignores these too)
    if (!pathInside(repo, it->path().string())) continue;
    m.versionDirs[*v] = it->path().string();
    h = mix(h, entry);
    h = dirFingerprint(it->path(), h);
  }
  m.fingerprint = h;
  return m;
}

}  // namespace

Result<std::string> readFileBytes(const std::string& path, uint64_t limit) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open '{}'", path);
  f.seekg(0, std::ios::end);
  auto size = static_cast<uint64_t>(f.tellg());
  if (size > limit) return ResourceExhausted("'{}' is {} bytes, more than the limit of {}", path, size, limit);
  f.seekg(0);
  std::string s(size, '\0');
  if (size && !f.read(s.data(), static_cast<std::streamsize>(size))) return DataLoss("cannot read '{}'", path);
  return s;
}

Result<RepositoryScan> scanRepositories(const std::vector<std::string>& repositories) {
  RepositoryScan scan;
  std::map<std::string, std::string> seenIn;
  for (const auto& repo : repositories) {
    std::error_code ec;
    if (!fs::is_directory(repo, ec)) return NotFound("model repository '{}' is not a directory", repo);
    for (auto it = fs::directory_iterator(repo, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::string name = it->path().filename().string();
      std::error_code e2;
      if (!it->is_directory(e2) || name.empty() || name[0] == '.') continue;
      if (auto st = validateModelName(name); !st.ok()) {
        scan.warnings.push_back(fmt::format("{}: skipped: {}", it->path().string(), st.message()));
        continue;
      }
      if (auto prev = seenIn.find(name); prev != seenIn.end()) {
        scan.errors[name] = fmt::format("model '{}' exists in repositories '{}' and '{}'", name, prev->second, repo);
        scan.models.erase(name);
        continue;
      }
      seenIn[name] = repo;
      auto m = readModelDir(repo, name);
      if (!m.ok()) {
        scan.errors[name] = m.status().message();
        continue;
      }
      scan.models[name] = std::move(*m);
    }
    if (ec) return NotFound("cannot list model repository '{}': {}", repo, ec.message());
  }
  return scan;
}

Result<ModelSource> findModel(const std::vector<std::string>& repositories, const std::string& name) {
  KILN_RETURN_IF_ERROR(validateModelName(name));
  std::vector<std::string> found;
  for (const auto& repo : repositories) {
    std::error_code ec;
    if (fs::is_directory(fs::path(repo) / name, ec)) found.push_back(repo);
  }
  if (found.empty()) return InvalidArgument("Request for unknown model: '{}' is not found", name);
  if (found.size() > 1)
    return InvalidArgument("model '{}' exists in repositories '{}' and '{}'", name, found[0], found[1]);
  return readModelDir(found[0], name);
}

Result<ModelFile> findModelFile(const ModelSource& src, int64_t version, const std::string& fileName) {
  auto it = src.versionDirs.find(version);
  if (it == src.versionDirs.end()) return NotFound("model '{}' has no version {}", src.name, version);
  std::vector<std::string> candidates;
  if (!fileName.empty()) {
    if (fileName.find('/') != std::string::npos || fileName.find('\\') != std::string::npos || fileName[0] == '.')
      return InvalidArgument("model '{}': default_model_filename '{}' must be a plain file name", src.name, fileName);
    candidates.push_back(fileName);
  } else {
    candidates = {"model.engine", "model.onnx"};
  }
  for (const auto& c : candidates) {
    fs::path p = fs::path(it->second) / c;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) continue;
    if (!pathInside(src.repository, p.string()))
      return InvalidArgument("model '{}' version {}: '{}' resolves outside the repository", src.name, version, c);
    ModelFile f;
    f.path = p.string();
    f.isEngine = c.size() >= 7 && c.compare(c.size() - 7, 7, ".engine") == 0;
    if (!fileName.empty() && !f.isEngine) {
      // A named file: decide by content (engine magic) rather than by extension.
      std::ifstream in(f.path, std::ios::binary);
      char magic[8] = {};
      in.read(magic, 8);
      f.isEngine = in.gcount() == 8 && std::memcmp(magic, plan::kMagic, 8) == 0;
    }
    return f;
  }
  return NotFound("model '{}' version {}: no {} in '{}'", src.name, version,
                  fileName.empty() ? "model.engine or model.onnx" : "'" + fileName + "'", it->second);
}

}  // namespace kiln::serve
