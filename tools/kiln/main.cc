// The `kiln` command (placeholder until the engine issue adds subcommands): imports an ONNX
// model, runs it on the CPU interpreter with deterministic random inputs and prints the outputs.
#include <cstdio>
#include <iostream>
#include <random>

#include <fmt/format.h>

#include "onnx/importer.h"
#include "runtime/interpreter.h"

using namespace kiln;

int main(int argc, char** argv) {
  std::string path = argc > 1 ? argv[1] : KILN_DEFAULT_MODEL;
  auto g = onnx_import::importModelFile(path);
  if (!g.ok()) {
    std::cerr << "kiln: " << g.status().toString() << "\n";
    return 1;
  }
  std::shared_ptr<const ir::Graph> graph(std::move(g).value());
  std::mt19937 rng(0);
  std::vector<runtime::NamedTensor> inputs;
  for (const ir::Value* in : graph->inputs()) {
    auto d = in->shape().toDims();
    if (!d) {
      std::cerr << "kiln: input " << in->name() << " has a dynamic shape\n";
      return 1;
    }
    Tensor t = Tensor::allocate(in->dtype(), *d);
    std::uniform_real_distribution<float> u(-1, 1);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
    inputs.push_back({in->name(), t});
  }
  auto interp = runtime::Interpreter::create(graph);
  if (!interp.ok()) {
    std::cerr << "kiln: " << interp.status().toString() << "\n";
    return 1;
  }
  std::vector<runtime::NamedTensor> outs;
  Status st = (*interp)->run(inputs, &outs);
  if (!st.ok()) {
    std::cerr << "kiln: " << st.toString() << "\n";
    return 1;
  }
  for (auto& o : outs) fmt::print("{}: {}\n", o.name, o.tensor.describe());
  return 0;
}
