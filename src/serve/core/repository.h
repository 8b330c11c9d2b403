// Model repositories in Triton's layout:
//   <repository>/<model>/config.pbtxt            (optional: auto-completed from the model)
//   <repository>/<model>/<version>/model.onnx    (built into an engine at load time)
//   <repository>/<model>/<version>/model.engine  (a prebuilt Kiln engine, used as is)
// Versions are positive integers. Entries starting with '.' are skipped (the engine cache lives
// in <repository>/.kiln-cache). Nothing outside a repository is ever read: model directories,
// version directories and files reached through symlinks must resolve inside the repository.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::serve {

struct ModelSource {
  std::string name;
  std::string repository;  // the repository root that holds it
  std::string dir;         // <repository>/<name>
  std::string configPath;  // "" when there is no config.pbtxt
  std::map<int64_t, std::string> versionDirs;  // version -> directory
  // Changes whenever config.pbtxt or any file of a version directory changes (name, size, mtime):
  // what poll mode compares to decide on a reload.
  uint64_t fingerprint = 0;
};

struct RepositoryScan {
  std::map<std::string, ModelSource> models;
  std::vector<std::string> warnings;  // skipped entries and why
  // Models found in more than one repository: not loadable (which one is meant is ambiguous).
  std::map<std::string, std::string> errors;
};

// Scans every repository. A missing or unreadable repository is an error.
Result<RepositoryScan> scanRepositories(const std::vector<std::string>& repositories);

// Looks up one model by (validated) name without scanning everything.
Result<ModelSource> findModel(const std::vector<std::string>& repositories, const std::string& name);

// The model file of one version: `fileName` when the config names one (default_model_filename),
// else model.engine, else model.onnx. The path is checked to stay inside the repository.
struct ModelFile {
  std::string path;
  bool isEngine = false;
};
Result<ModelFile> findModelFile(const ModelSource& src, int64_t version, const std::string& fileName);

// Reads a whole file (at most `limit` bytes; larger files are refused).
Result<std::string> readFileBytes(const std::string& path, uint64_t limit = 4ull << 30);

}  // namespace kiln::serve
