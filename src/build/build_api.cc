// The public building API: profiles, --shapes parsing, and build from ONNX file or bytes (with
// the timing cache loaded before and saved after).
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "build/builder_internal.h"
#include "build/cuda_target.h"
#include "kiln/builder.h"
#include "onnx/importer.h"
#include "passes/pass_manager.h"
#include "plan/checksum.h"

namespace kiln {

Status OptimizationProfile::set(const std::string& input, const Dims& min, const Dims& opt, const Dims& max) {
  if (min.rank() != opt.rank() || opt.rank() != max.rank())
    return InvalidArgument("profile for '{}': min {}, opt {} and max {} differ in rank", input, min.toString(),
                           opt.toString(), max.toString());
  for (int i = 0; i < min.rank(); ++i)
    if (min[i] < 0 || min[i] > opt[i] || opt[i] > max[i])
      return InvalidArgument("profile for '{}': dim {} needs 0 <= min <= opt <= max (got {}, {}, {})", input, i,
                             min[i], opt[i], max[i]);
  inputs[input] = Range{min, opt, max};
  return Status::OK();
}

std::vector<std::string> standardPassNames() { return passes::PassManager::standardNames(); }

Result<std::map<std::string, Dims>> parseShapeList(const std::string& text) {
  std::map<std::string, Dims> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? text.size() : comma + 1;
    if (item.empty()) continue;
    size_t colon = item.rfind(':');  // names may contain ':' (tf2onnx "input:0")
    if (colon == std::string::npos || colon == 0)
      return InvalidArgument("shape '{}' must look like name:1x3x224x224", item);
    std::string name = item.substr(0, colon), dims = item.substr(colon + 1);
    Dims d;
    size_t p = 0;
    while (p < dims.size()) {
      size_t x = dims.find('x', p);
      std::string num = dims.substr(p, x == std::string::npos ? std::string::npos : x - p);
      if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos)
        return InvalidArgument("shape '{}': '{}' is not a dimension (use 1x3x224x224)", item, num);
      if (d.rank() >= kMaxRank) return InvalidArgument("shape '{}' has more than {} dims", item, kMaxRank);
      d.push_back(std::stoll(num));
      p = x == std::string::npos ? dims.size() : x + 1;
    }
    if (out.count(name)) return InvalidArgument("input '{}' is given twice", name);
    out[name] = d;
  }
  return out;
}

Result<std::string> buildEngineFromBytes(const std::string& onnxBytes, const std::string& baseDir,
                                         const std::string& modelName, const BuildConfig& config,
                                         BuildReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  if (config.progress) config.progress(BuildProgress{"import", 0, 1, modelName});
  auto g = onnx_import::importModelBytes(onnxBytes, baseDir);
  if (!g.ok()) return std::move(g).takeStatus().withContext(modelName);
  // Timings are only valid for the device they were measured on.
  const std::string deviceKey =
      config.target == Target::kCUDA ? build::cudaDeviceKey(config.device) : build::cpuDeviceKey();
  build::TimingCache cache(deviceKey);
  if (!config.timingCachePath.empty()) KILN_RETURN_IF_ERROR(cache.load(config.timingCachePath));
  auto plan = build::buildPlan(**g, config, modelName, plan::xxhash64(onnxBytes), &cache, report);
  if (!plan.ok()) return std::move(plan).takeStatus().withContext(modelName);
  if (!config.timingCachePath.empty()) {
    // Merge with whatever the file holds now (another build may have written it meanwhile).
    build::TimingCache onDisk(deviceKey);
    KILN_RETURN_IF_ERROR(onDisk.load(config.timingCachePath));
    onDisk.merge(cache);
    KILN_RETURN_IF_ERROR(onDisk.save(config.timingCachePath));
  }
  if (config.progress) config.progress(BuildProgress{"serialize", 0, 1, ""});
  (*plan)->build.buildSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string bytes = plan::serializePlan(**plan);
  if (report) report->seconds = (*plan)->build.buildSeconds;
  if (config.progress) config.progress(BuildProgress{"serialize", 1, 1, ""});
  return bytes;
}

Result<std::string> buildEngineFromFile(const std::string& onnxPath, const BuildConfig& config, BuildReport* report) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(onnxPath, ec)) return NotFound("model file '{}' does not exist", onnxPath);
  std::ifstream f(onnxPath, std::ios::binary);
  if (!f) return NotFound("cannot open model file '{}'", onnxPath);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return buildEngineFromBytes(bytes, std::filesystem::path(onnxPath).parent_path().string(), onnxPath, config, report);
}

}  // namespace kiln
