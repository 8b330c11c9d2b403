// `kiln inspect`: what an ONNX model imports as, or what an engine contains.
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "ir/printer.h"
#include "onnx/importer.h"
#include "plan/plan.h"

namespace kiln::cli {

namespace {
int inspectEngine(const std::string& path, bool json) {
  auto e = Engine::loadFile(path);
  if (!e.ok()) return fail("inspect", e.status());
  const Engine& eng = **e;
  auto layers = eng.layers();
  if (json) {
    nlohmann::json j;
    const auto& p = eng.plan();
    j["model"] = p.modelName;
    j["kiln_version"] = p.kilnVersion;
    j["target"] = {{"kind", p.target.kind}, {"arch", p.target.arch}, {"device", p.target.device}, {"features", p.target.features}};
    for (const auto& [n, v] : p.target.libraries) j["target"]["libraries"][n] = v;
    j["memory"] = {{"arena_bytes", p.memory.arenaBytes}, {"peak_live_bytes", p.memory.peakLiveBytes},
                   {"naive_bytes", p.memory.naiveBytes}, {"weight_bytes", p.memory.weightBytes}};
    for (const auto& io : eng.ioTensors()) {
      nlohmann::json item = {{"name", io.name}, {"dtype", dtypeName(io.dtype)}, {"shape", io.shape.toString()}};
      if (io.hostMemory) item["host_memory"] = true;  // a CUDA engine's host input
      j[io.isInput ? "inputs" : "outputs"].push_back(std::move(item));
    }
    for (size_t i = 0; i < p.profiles.size(); ++i)
      for (const auto& in : p.profiles[i].inputs)
        j["profiles"][i][in.name] = {{"min", in.min.vec()}, {"opt", in.opt.vec()}, {"max", in.max.vec()}};
    for (const auto& l : layers)
      j["layers"].push_back({{"name", l.name}, {"op", l.op}, {"tactic", l.tactic}, {"precision", l.precision}, {"placement", l.placement},
                             {"inputs", l.inputs}, {"outputs", l.outputs}, {"fused_from", l.fusedFrom},
                             {"measured_us", l.measuredUs}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << eng.summary();
  for (const auto& io : eng.ioTensors())
    fmt::print("{} {}: {}{}{}\n", io.isInput ? "input " : "output", io.name, dtypeName(io.dtype), io.shape.toString(),
               io.hostMemory ? " (host input: pass host memory)" : "");
  // Reformat layers: layout Transposes and precision Casts the optimizer had to keep (fewer is
  // better; the channels-last and lower-precision passes try to leave them at the boundaries).
  int transposes = 0, casts = 0;
  for (const auto& l : layers) {
    transposes += l.op == "Transpose";
    casts += l.op == "Cast";
  }
  fmt::print("{} layers ({} reformat: {} Transpose, {} Cast):\n", layers.size(), transposes + casts, transposes, casts);
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    fmt::print("  [{}] {} ({}) {}tactic={} precision={}{}\n", i, l.name, l.op,
               l.placement == "cpu" ? "" : fmt::format("on={} ", l.placement), l.tactic, l.precision,
               l.measuredUs >= 0 ? fmt::format(" timed={:.1f}us", l.measuredUs) : "");
    fmt::print("      in:  {}\n      out: {}\n", fmt::join(l.inputs, "; "), fmt::join(l.outputs, "; "));
    if (!(l.fusedFrom.size() == 1 && l.fusedFrom[0] == l.name) && !l.fusedFrom.empty())
      fmt::print("      fused from: {}\n", fmt::join(l.fusedFrom, ", "));
  }
  return 0;
}

int inspectModel(const std::string& path, bool json) {
  auto g = onnx_import::importModelFile(path);
  if (!g.ok()) return fail("inspect", g.status());
  const ir::Graph& graph = **g;
  std::map<std::string, int> opCounts;
  for (const ir::Node* n : graph.nodes()) opCounts[n->opType()]++;
  if (json) {
    nlohmann::json j;
    j["model"] = path;
    for (const auto& [d, v] : graph.opsets()) j["opsets"][d.empty() ? "ai.onnx" : d] = v;
    for (const ir::Value* v : graph.inputs())
      j["inputs"].push_back({{"name", v->name()}, {"dtype", valueTypeName(v->kind(), v->dtype())}, {"shape", v->shape().toString()}});
    for (const ir::Value* v : graph.outputs())
      j["outputs"].push_back({{"name", v->name()}, {"dtype", valueTypeName(v->kind(), v->dtype())}, {"shape", v->shape().toString()}});
    j["op_counts"] = opCounts;
    for (const ir::Node* n : graph.nodes()) {
      nlohmann::json node = {{"name", n->name()}, {"op", n->opType()}};
      for (const ir::Value* in : n->inputs()) node["inputs"].push_back(in ? ir::describeValue(*in) : "<none>");
      for (const ir::Value* out : n->outputs()) node["outputs"].push_back(ir::describeValue(*out));
      j["nodes"].push_back(node);
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << ir::printGraph(graph);
  fmt::print("{} nodes:", graph.numNodes());
  for (const auto& [op, c] : opCounts) fmt::print(" {}={}", op, c);
  fmt::print("\n");
  return 0;
}
}  // namespace

void addInspectCommand(CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("inspect", "Show an ONNX model's imported graph or an engine's layers and tactics");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("file", *path, "ONNX model or engine file")->required();
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([path, json, &exitCode] {
    exitCode = isEngineFile(*path) ? inspectEngine(*path, *json) : inspectModel(*path, *json);
  });
}

}  // namespace kiln::cli
