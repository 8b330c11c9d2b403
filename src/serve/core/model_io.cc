// Model I/O descriptions.
#include "serve/core/model_io.h"

#include "onnx/importer.h"

namespace kiln::serve {

namespace {
std::vector<int64_t> dimsOf(const Shape& s) {
  std::vector<int64_t> d;
  for (const Dim& x : s.dims()) d.push_back(x.isStatic() ? x.value() : -1);
  return d;
}
}  // namespace

const TensorDesc* ModelIODesc::findInput(const std::string& name) const {
  for (const auto& t : inputs)
    if (t.name == name) return &t;
  return nullptr;
}
const TensorDesc* ModelIODesc::findOutput(const std::string& name) const {
  for (const auto& t : outputs)
    if (t.name == name) return &t;
  return nullptr;
}

Result<ModelIODesc> describeOnnxModel(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(auto graph, onnx_import::importModelFile(path));
  ModelIODesc d;
  for (const ir::Value* v : graph->inputs()) {
    if (!v->isTensor()) return Unsupported("{}: input '{}' is not a tensor (sequences/optionals cannot be served)", path, v->name());
    if (!v->shape().rankKnown()) return Unsupported("{}: input '{}' has an unknown rank; give it a shape", path, v->name());
    d.inputs.push_back({v->name(), v->dtype(), dimsOf(v->shape())});
  }
  for (const ir::Value* v : graph->outputs()) {
    if (!v->isTensor()) return Unsupported("{}: output '{}' is not a tensor", path, v->name());
    // An output of unknown rank is described as rank 0 with no dims; the config cannot express
    // it, so validation asks for explicit output dims.
    d.outputs.push_back({v->name(), v->dtype(), v->shape().rankKnown() ? dimsOf(v->shape()) : std::vector<int64_t>{}});
  }
  return d;
}

ModelIODesc describeEngine(const Engine& engine) {
  ModelIODesc d;
  for (const auto& io : engine.ioTensors()) (io.isInput ? d.inputs : d.outputs).push_back({io.name, io.dtype, dimsOf(io.shape)});
  return d;
}

}  // namespace kiln::serve
