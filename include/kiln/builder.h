// Building engines: an ONNX model plus a BuildConfig (target, precision, optimization profiles,
// timing cache) becomes an engine file. Building is offline and may take a while; loading the
// result is fast (see engine.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/shape.h"
#include "kiln/status.h"

namespace kiln {

enum class Target { kCPU, kCUDA };

// min/opt/max dims of every dynamic input. The engine accepts any input shape within [min, max]
// (per dimension) and is tuned for opt.
struct OptimizationProfile {
  struct Range {
    Dims min, opt, max;
  };
  std::map<std::string, Range> inputs;

  // Sets the range of one input; error if min <= opt <= max does not hold per dimension.
  Status set(const std::string& input, const Dims& min, const Dims& opt, const Dims& max);
};

struct BuildProgress {
  std::string phase;   // "import", "optimize", "tactics", "memory", "serialize"
  int done = 0;        // items finished in this phase
  int total = 0;       // items in this phase (0 = unknown)
  std::string detail;  // e.g. the layer being timed
};

struct BuildConfig {
  Target target = Target::kCPU;
  int device = 0;  // CUDA device index
  // Precisions allowed besides fp32. FP16/BF16/INT8/FP8 are accepted by the API and refused with
  // an explanation until their backends exist.
  bool fp16 = false, bf16 = false, int8 = false, fp8 = false;
  bool tf32 = true;  // CUDA fp32 matmuls/convs on tensor cores (ignored on the CPU)
  // With fp16/bf16: the model's float32 inputs and outputs take the reduced type instead (callers
  // pass and receive fp16/bf16, as TensorRT's fp16 I/O formats), so no Cast runs at the edges.
  // Off by default: I/O keeps the model's types.
  bool reducedPrecisionIO = false;
  // CUDA, optimization level >= 3: also re-time large batch-heavy layers after sustained runs,
  // the card at its power cap as in a busy engine (src/build/cuda/cuda_tactics.cc). Off by
  // default: on H100 it made BERT-base batch 64 ~1% faster and ResNet-50 batch 128 2% slower.
  bool cappedTiming = false;
  // Bytes of memory the engine may use for intermediates and workspaces (0 = unlimited).
  uint64_t memoryLimit = 0;
  // 0-5: how hard the builder searches. 0-2 choose tactics by heuristics; 3+ time the candidates
  // of each layer on the target (default 3).
  int optimizationLevel = 3;
  std::vector<OptimizationProfile> profiles;
  // A timing cache file: loaded (if it exists) before the build and saved, merged, after it.
  std::string timingCachePath;
  // Tactics whose names start with one of these are never chosen ("cpu_dnnl_": reference kernels
  // only), for debugging and for comparing implementations.
  std::vector<std::string> disabledTactics;
  // Forces a tactic per op ("MatMul" -> "cuda_blas_matmul"); for tests and debugging. A layer whose
  // forced tactic does not support it is an error.
  std::map<std::string, std::string> forcedTactics;
  std::function<void(const BuildProgress&)> progress;
  // Graph optimization: the standard pass pipeline, or only the passes named here ({"none"}: no
  // optimization), minus `disabledPasses`. `dumpGraphAfter` names a pass after which the graph is
  // printed to `dumpGraph` (stderr when unset).
  std::vector<std::string> passes;
  std::vector<std::string> disabledPasses;
  std::string dumpGraphAfter;
  std::function<void(const std::string&)> dumpGraph;
};

// What one optimization pass did.
struct PassStat {
  std::string pass;
  size_t nodesBefore = 0, nodesAfter = 0;
  int changes = 0;
  std::string detail;
  double milliseconds = 0;
};

// One layer whose candidate tactics the builder timed (`kiln build --verbose` lists them).
struct TacticTiming {
  struct Candidate {
    std::string tactic;
    double microseconds = 0;
    bool passedCheck = true;  // within tolerance of the reference candidate's outputs
    // CUDA: re-timed after sustained back-to-back runs (the card at its power cap), which then
    // decides among the re-timed candidates; -1: not re-timed.
    double cappedMicroseconds = -1;
  };
  std::string layer, op, chosen;
  std::vector<Candidate> candidates;
};

// What a build produced, for `kiln build --verbose` and tests.
struct BuildReport {
  std::vector<PassStat> passes;
  int nodesImported = 0;
  int layers = 0;
  int tacticsTimed = 0;       // layers whose candidates were timed on the target
  int timingCacheHits = 0;    // layers whose choice came from the timing cache
  std::vector<TacticTiming> tacticTimings;  // the timed layers' candidates, in the order timed
  uint64_t arenaBytes = 0;
  uint64_t peakLiveBytes = 0;
  uint64_t naiveBytes = 0;
  uint64_t weightBytes = 0;
  double seconds = 0;
};

// Builds an engine from an ONNX file and returns the engine file's bytes.
Result<std::string> buildEngineFromFile(const std::string& onnxPath, const BuildConfig& config,
                                        BuildReport* report = nullptr);
// Same, from serialized ModelProto bytes (`baseDir` resolves external data).
Result<std::string> buildEngineFromBytes(const std::string& onnxBytes, const std::string& baseDir,
                                         const std::string& modelName, const BuildConfig& config,
                                         BuildReport* report = nullptr);

// Names of the optimization passes of the standard pipeline, in order.
std::vector<std::string> standardPassNames();

// Parses "name:1x3x224x224,other:1x128" into per-input dims (the --shapes syntax).
Result<std::map<std::string, Dims>> parseShapeList(const std::string& text);

}  // namespace kiln
