// Plan layer -> LayerDesc.
#include "runtime/layer_desc.h"

#include <fmt/format.h>

namespace kiln::runtime {

namespace {
Shape shapeOf(const plan::TensorInfo& t) {
  std::vector<Dim> dims;
  for (const auto& x : t.dims) dims.push_back(x.isStatic() ? Dim(x.value) : Dim::symbol(fmt::format("r{}", x.reg)));
  return Shape(std::move(dims));
}
}  // namespace

cpu::LayerDesc describeLayer(const plan::Plan& p, const plan::LayerInfo& l) {
  cpu::LayerDesc d;
  d.op = l.op;
  d.domain = l.domain;
  d.attrs = &l.attrs;
  d.allowTf32 = p.build.tf32;
  for (int32_t id : l.inputs) {
    if (id < 0) {
      d.inputTypes.push_back(DType::kUndefined);
      d.inputShapes.emplace_back();
      d.constInputs.push_back(nullptr);
      continue;
    }
    const auto& t = p.tensors[id];
    d.inputTypes.push_back(t.dtype);
    d.inputShapes.push_back(shapeOf(t));
    d.constInputs.push_back(t.kind == plan::TensorKind::kConstant ? &t.constant : nullptr);
  }
  for (int32_t id : l.outputs) {
    d.outputTypes.push_back(id >= 0 ? p.tensors[id].dtype : DType::kUndefined);
    d.outputShapes.push_back(id >= 0 ? shapeOf(p.tensors[id]) : Shape());
  }
  return d;
}

}  // namespace kiln::runtime
