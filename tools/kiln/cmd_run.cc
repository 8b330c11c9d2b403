// `kiln run`: runs an engine (or an ONNX model, built in memory) on .npy inputs and writes or
// prints the outputs.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cli_common.h"
#include "commands.h"
#include "core/npy.h"

namespace kiln::cli {

namespace {
std::string preview(const Tensor& t, int n = 6) {
  std::string s;
  int64_t k = std::min<int64_t>(n, t.numel());
  for (int64_t i = 0; i < k; ++i) {
    if (i) s += ", ";
    if (t.dtype() == DType::kString) s += "\"" + t.data<std::string>()[i] + "\"";
    else if (isFloat(t.dtype())) s += fmt::format("{:.6g}", t.doubleAt(i));
    else s += std::to_string(t.intAt(i));
  }
  return "[" + s + (t.numel() > k ? ", ...]" : "]");
}
}  // namespace

void addRunCommand(CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("run", "Run an engine or ONNX model on .npy inputs");
  struct Opts {
    std::string model, outputDir;
    std::vector<std::string> inputs;
    ShapeOptions shapes;
    TargetOptions target;
    bool randomInputs = false, verbose = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "Engine file, or ONNX model (built in memory)")->required();
  cmd->add_option("-i,--input", o->inputs, "name=file.npy (repeat for each input)");
  cmd->add_option("--output-dir", o->outputDir, "Write each output to DIR/<output name>.npy");
  cmd->add_flag("--random-inputs", o->randomInputs, "Fill inputs not given with deterministic random data");
  cmd->add_option("--shapes", o->shapes.shapes, "Input shapes for random inputs or for building an ONNX model");
  o->target.addTo(cmd);
  cmd->add_flag("-v,--verbose", o->verbose, "Show build progress");
  cmd->callback([o, &exitCode] {
    auto inputs = readInputs(o->inputs);
    if (!inputs.ok()) {
      exitCode = fail("run", inputs.status());
      return;
    }
    std::map<std::string, Dims> given;
    for (const auto& in : *inputs) given[in.name] = in.tensor.dims();
    auto engine = loadOrBuild(o->model, [&] { BuildConfig c; (void)o->target.apply(c); return c; }(), o->shapes, o->shapes.empty() ? given : std::map<std::string, Dims>{},
                              o->verbose);
    if (!engine.ok()) {
      exitCode = fail("run", engine.status());
      return;
    }
    const Engine& e = **engine;
    if (!o->shapes.shapes.empty()) {
      auto s = parseShapeList(o->shapes.shapes);
      if (s.ok())
        for (const auto& [n, d] : *s) given.emplace(n, d);
    }
    uint32_t seed = 1;
    for (const auto& io : e.ioTensors()) {
      if (!io.isInput) continue;
      bool have = false;
      for (auto& in : *inputs) {
        if (in.name != io.name) continue;
        have = true;
        if (in.tensor.dtype() != io.dtype) {
          exitCode = fail("run", InvalidArgument("input '{}' is {} in its .npy file, but the engine expects {}{}",
                                                 io.name, dtypeName(in.tensor.dtype()), dtypeName(io.dtype),
                                                 io.shape.toString()));
          return;
        }
      }
      if (have) continue;
      if (!o->randomInputs) {
        exitCode = fail("run", InvalidArgument("input '{}' ({}{}) is not given: pass --input {}=file.npy or "
                                               "--random-inputs", io.name, dtypeName(io.dtype), io.shape.toString(), io.name));
        return;
      }
      auto dims = chooseInputDims(e, given);
      if (!dims.ok()) {
        exitCode = fail("run", dims.status());
        return;
      }
      inputs->push_back({io.name, randomInput(io.dtype, dims->at(io.name), seed++)});
    }
    auto ctx = e.createExecutionContext();
    if (!ctx.ok()) {
      exitCode = fail("run", ctx.status());
      return;
    }
    std::vector<ExecutionContext::Named> outputs;
    Status st = (*ctx)->run(*inputs, &outputs);
    if (!st.ok()) {
      exitCode = fail("run", st);
      return;
    }
    if (!o->outputDir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(o->outputDir, ec);
    }
    for (const auto& out : outputs) {
      fmt::print("{}: {}{} {}\n", out.name, dtypeName(out.tensor.dtype()), out.tensor.dims().toString(), preview(out.tensor));
      if (o->outputDir.empty()) continue;
      std::string path = (std::filesystem::path(o->outputDir) / (safeFileName(out.name) + ".npy")).string();
      Status w = writeNpy(path, out.tensor);
      if (!w.ok()) {
        exitCode = fail("run", w);
        return;
      }
    }
  });
}

}  // namespace kiln::cli
