// Helpers shared by the `kiln` subcommands: loading an engine or building one from an ONNX file,
// shape options, .npy inputs, random inputs, progress display.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/builder.h"
#include "kiln/engine.h"

namespace CLI {
class App;
}

namespace kiln::cli {

// Target options shared by build/run/bench/compare: where the engine runs and its precisions.
struct TargetOptions {
  std::string target = "cpu";  // cpu | cuda
  int device = 0;
  bool fp16 = false, bf16 = false, reducedIO = false, noTf32 = false, cappedTiming = false;
  // Adds --target, --device, --fp16, --bf16, --reduced-io, --no-tf32, --capped-timing to `cmd`.
  void addTo(CLI::App* cmd);
  Status apply(BuildConfig& config) const;
};

// Shape options shared by build/run/bench/compare.
struct ShapeOptions {
  std::string shapes, minShapes, optShapes, maxShapes;
  // Fills config.profiles from the options (empty options leave them empty).
  Status apply(BuildConfig& config) const;
  bool empty() const { return shapes.empty() && minShapes.empty() && optShapes.empty() && maxShapes.empty(); }
};

// True if the file starts with the engine magic.
bool isEngineFile(const std::string& path);

// Loads `path` as an engine, or builds one in memory from an ONNX model. `inputShapes` (from
// given inputs) form a fixed profile when no shape options were given.
Result<std::shared_ptr<Engine>> loadOrBuild(const std::string& path, BuildConfig config, const ShapeOptions& shapes,
                                            const std::map<std::string, Dims>& inputShapes = {},
                                            bool verbose = false);

// "name=file.npy" items -> named tensors.
Result<std::vector<ExecutionContext::Named>> readInputs(const std::vector<std::string>& items);

// Deterministic random data for `dims` of `dtype` (floats in [-1, 1), ints in {0, 1}, bools).
Tensor randomInput(DType dtype, const Dims& dims, uint32_t seed);
// An input of `dims` filled from "v1,v2,..." (kiln bench --value); an error says what is wrong.
Result<Tensor> parseInputValues(DType dtype, const Dims& dims, const std::string& text);

// Dims for each input: the given shapes, else the engine's static dims or profile 0's opt.
Result<std::map<std::string, Dims>> chooseInputDims(const Engine& e, const std::map<std::string, Dims>& given);

// A file-name-safe version of a tensor name ("a/b:0" -> "a_b_0").
std::string safeFileName(const std::string& name);

// Progress callback drawing a one-line bar on stderr.
std::function<void(const BuildProgress&)> progressBar(bool enabled);

std::string formatBytes(uint64_t b);

}  // namespace kiln::cli
