// Shared CLI helpers.
#include "cli_common.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/npy.h"
#include "plan/plan.h"

namespace kiln::cli {

Status ShapeOptions::apply(BuildConfig& config) const {
  if (empty()) return Status::OK();
  if (!shapes.empty() && (!minShapes.empty() || !optShapes.empty() || !maxShapes.empty()))
    return InvalidArgument("give either --shapes or --min-shapes/--opt-shapes/--max-shapes, not both");
  OptimizationProfile prof;
  if (!shapes.empty()) {
    KILN_ASSIGN_OR_RETURN(auto s, parseShapeList(shapes));
    for (const auto& [name, d] : s) KILN_RETURN_IF_ERROR(prof.set(name, d, d, d));
  } else {
    if (minShapes.empty() || optShapes.empty() || maxShapes.empty())
      return InvalidArgument("--min-shapes, --opt-shapes and --max-shapes go together");
    KILN_ASSIGN_OR_RETURN(auto mn, parseShapeList(minShapes));
    KILN_ASSIGN_OR_RETURN(auto op, parseShapeList(optShapes));
    KILN_ASSIGN_OR_RETURN(auto mx, parseShapeList(maxShapes));
    for (const auto& [name, d] : op) {
      if (!mn.count(name) || !mx.count(name))
        return InvalidArgument("input '{}' needs a min, opt and max shape", name);
      KILN_RETURN_IF_ERROR(prof.set(name, mn[name], d, mx[name]));
    }
    if (mn.size() != op.size() || mx.size() != op.size())
      return InvalidArgument("--min-shapes, --opt-shapes and --max-shapes must name the same inputs");
  }
  config.profiles = {prof};
  return Status::OK();
}

bool isEngineFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  return f.gcount() == 8 && std::memcmp(magic, plan::kMagic, 8) == 0;
}

void TargetOptions::addTo(CLI::App* cmd) {
  cmd->add_option("--target", target, "Device the engine runs on: cpu (default) or cuda (built on the GPU it targets)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--device", device, "CUDA device index (--target cuda)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--fp16", fp16, "Allow FP16 layers where accuracy allows (--target cuda; I/O keeps the model's types)");
  cmd->add_flag("--bf16", bf16, "Allow BF16 layers (--target cuda)");
  cmd->add_flag("--reduced-io", reducedIO,
                "Float32 inputs and outputs become float16 (--fp16) or bfloat16 (--bf16): callers pass and receive "
                "that type, no Casts at the edges");
  cmd->add_flag("--no-tf32", noTf32, "FP32 matmuls/convolutions without TF32 tensor cores (--target cuda)");
  cmd->add_flag("--capped-timing", cappedTiming,
                "Also time large batch-heavy layers' tactics after sustained runs, at the GPU's power cap "
                "(--target cuda; model-dependent: measure both)");
}

Status TargetOptions::apply(BuildConfig& config) const {
  config.target = target == "cuda" ? Target::kCUDA : Target::kCPU;
  config.device = device;
  config.fp16 = config.fp16 || fp16;
  config.bf16 = config.bf16 || bf16;
  config.reducedPrecisionIO = config.reducedPrecisionIO || reducedIO;
  if (noTf32) config.tf32 = false;
  if (cappedTiming) config.cappedTiming = true;
  return Status::OK();
}

Result<std::shared_ptr<Engine>> loadOrBuild(const std::string& path, BuildConfig config, const ShapeOptions& shapes,
                                            const std::map<std::string, Dims>& inputShapes, bool verbose) {
  if (isEngineFile(path)) {
    LoadOptions lo;
    lo.device = config.device;
    return Engine::loadFile(path, lo);
  }
  KILN_RETURN_IF_ERROR(shapes.apply(config));
  if (config.profiles.empty() && !inputShapes.empty()) {
    OptimizationProfile prof;
    for (const auto& [name, d] : inputShapes) KILN_RETURN_IF_ERROR(prof.set(name, d, d, d));
    config.profiles = {prof};
  }
  config.progress = progressBar(verbose);
  auto bytes = buildEngineFromFile(path, config);
  if (!bytes.ok()) {
    // Static inputs need no profile entry; retry without the entries the model fixes itself.
    return std::move(bytes).takeStatus();
  }
  LoadOptions lo;
  lo.device = config.device;
  return Engine::loadBytes(std::move(bytes).value(), path + " (built in memory)", lo);
}

Result<std::vector<ExecutionContext::Named>> readInputs(const std::vector<std::string>& items) {
  std::vector<ExecutionContext::Named> out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return InvalidArgument("--input '{}' must look like name=file.npy", item);
    std::string name = item.substr(0, eq), file = item.substr(eq + 1);
    auto t = readNpy(file);
    if (!t.ok()) return std::move(t).takeStatus().withContext(fmt::format("input '{}'", name));
    for (const auto& o : out)
      if (o.name == name) return InvalidArgument("input '{}' is given twice", name);
    out.push_back({name, std::move(t).value()});
  }
  return out;
}

Tensor randomInput(DType dtype, const Dims& dims, uint32_t seed) {
  Tensor t = Tensor::allocate(dtype, dims);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  if (dtype == DType::kBool) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<bool>()[i] = rng() & 1;
    return t;
  }
  dispatchType<NumericTypes>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < t.numel(); ++i) {
      if constexpr (std::is_integral_v<T>) t.data<T>()[i] = static_cast<T>(rng() % 2);  // valid indices of any axis
      else t.data<T>()[i] = convertValue<T>(u(rng));
    }
  });
  return t;
}

Result<Tensor> parseInputValues(DType dtype, const Dims& dims, const std::string& text) {
  std::vector<double> vals;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t c = text.find(',', pos);
    std::string item = text.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
    pos = c == std::string::npos ? text.size() + 1 : c + 1;
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || errno == ERANGE)
      return InvalidArgument("'{}' is not a number", item);
    vals.push_back(v);
  }
  if (static_cast<int64_t>(vals.size()) != dims.numel())
    return InvalidArgument("{} value(s) given, but the input's shape {} holds {}", vals.size(), dims.toString(), dims.numel());
  if (dtype == DType::kString) return Unsupported("string inputs take no --value");
  Tensor t = Tensor::allocate(dtype, dims);
  if (dtype == DType::kBool) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<bool>()[i] = vals[i] != 0;
    return t;
  }
  Status st;
  dispatchType<NumericTypes>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < t.numel(); ++i) {
      if constexpr (std::is_integral_v<T>) {
        if (vals[i] != std::floor(vals[i])) st = InvalidArgument("{} is not an integer ({} input)", vals[i], dtypeName(dtype));
        t.data<T>()[i] = static_cast<T>(vals[i]);
      } else {
        t.data<T>()[i] = convertValue<T>(static_cast<float>(vals[i]));
      }
    }
  });
  if (!st.ok()) return st;
  return t;
}

Result<std::map<std::string, Dims>> chooseInputDims(const Engine& e, const std::map<std::string, Dims>& given) {
  std::map<std::string, Dims> out;
  for (const auto& io : e.ioTensors()) {
    if (!io.isInput) continue;
    if (auto it = given.find(io.name); it != given.end()) {
      out[io.name] = it->second;
      continue;
    }
    if (auto d = io.shape.toDims()) {
      out[io.name] = *d;
      continue;
    }
    Dims mn, opt, mx;
    if (!e.profileRange(0, io.name, &mn, &opt, &mx))
      return InvalidArgument("input '{}' has dynamic shape {}; give its shape with --shapes", io.name, io.shape.toString());
    out[io.name] = opt;
  }
  for (const auto& [name, d] : given)
    if (!e.findIO(name)) return NotFound("the model has no input '{}'", name);
  return out;
}

std::string safeFileName(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

std::function<void(const BuildProgress&)> progressBar(bool enabled) {
  bool tty = isatty(fileno(stderr));
  if (!enabled && !tty) return nullptr;
  return [tty](const BuildProgress& p) {
    if (p.total > 0) {
      int width = 30;
      int fill = static_cast<int>(static_cast<double>(p.done) / p.total * width);
      std::string bar = std::string(fill, '#') + std::string(width - fill, '.');
      std::string detail = p.detail.size() > 40 ? "..." + p.detail.substr(p.detail.size() - 37) : p.detail;
      fmt::print(stderr, "{}{:9} [{}] {}/{} {:40}{}", tty ? "\r" : "", p.phase, bar, p.done, p.total, detail,
                 tty ? "" : "\n");
      if (tty && p.done == p.total) fmt::print(stderr, "\n");
    } else if (!tty || p.done == 0) {
      fmt::print(stderr, "{} {}\n", p.phase, p.detail);
    }
    std::fflush(stderr);
  };
}

std::string formatBytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", b / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.2f} MiB", b / double(1ull << 20));
  if (b >= 1024) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{} B", b);
}

}  // namespace kiln::cli
