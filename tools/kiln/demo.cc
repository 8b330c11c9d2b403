// The demo (no subcommand): build an engine from the bundled model, save it, load it back and
// run it on a deterministic random batch, printing each step.
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli_common.h"
#include "commands.h"
#include "plan/plan.h"

namespace kiln::cli {

int runDemo(const std::string& model) {
  namespace fs = std::filesystem;
  fmt::print("kiln {}: building an engine from {}\n", KILN_VERSION_STRING, model);
  BuildConfig cfg;
  // The bundled model has a dynamic batch: one profile for batch 1..8, tuned for 1.
  OptimizationProfile prof;
  (void)prof.set("image", {1, 3, 32, 32}, {1, 3, 32, 32}, {8, 3, 32, 32});
  cfg.profiles = {prof};
  BuildReport rep;
  auto bytes = buildEngineFromFile(model, cfg, &rep);
  if (!bytes.ok()) return fail("demo", bytes.status());
  fs::path path = fs::temp_directory_path() / "kiln-demo.engine";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    if (!f) return fail("demo", NotFound("cannot write {}", path.string()));
  }
  fmt::print("built {} layers in {:.3f} s; saved {} ({})\n", rep.layers, rep.seconds, path.string(),
             formatBytes(bytes->size()));
  auto engine = Engine::loadFile(path.string());
  if (!engine.ok()) return fail("demo", engine.status());
  fmt::print("reloaded the engine; arena {} for intermediates\n", formatBytes((*engine)->plan().memory.arenaBytes));
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx.ok()) return fail("demo", ctx.status());
  Tensor image = randomInput(DType::kFloat32, {2, 3, 32, 32}, 7);
  std::vector<ExecutionContext::Named> outs;
  Status st = (*ctx)->run({{"image", image}}, &outs);
  if (!st.ok()) return fail("demo", st);
  for (const auto& o : outs) {
    fmt::print("output '{}': {}{}\n", o.name, dtypeName(o.tensor.dtype()), o.tensor.dims().toString());
    const int64_t classes = o.tensor.dims().back();
    for (int64_t b = 0; b < o.tensor.dims()[0]; ++b) {
      const float* row = o.tensor.data<float>() + b * classes;
      int64_t best = std::max_element(row, row + classes) - row;
      fmt::print("  image {}: class {} (p = {:.4f}); probabilities [{:.4f}]\n", b, best, row[best],
                 fmt::join(row, row + classes, ", "));
    }
  }
  fs::remove(path);
  return 0;
}

}  // namespace kiln::cli
