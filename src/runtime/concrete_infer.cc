// InferContext over concrete tensors.
#include "runtime/concrete_infer.h"

#include <fmt/format.h>

namespace kiln::runtime {

namespace {
class ConcreteInferContext final : public ir::InferContext {
 public:
  ConcreteInferContext(const AttrMap& attrs, int opset, std::span<const Tensor* const> inputs,
                       int numOutputs)
      : attrs_(attrs), opset_(opset), inputs_(inputs), shapes_(inputs.size()),
        outTypes_(numOutputs, DType::kUndefined), outShapes_(numOutputs) {
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i]) shapes_[i] = Shape(inputs[i]->dims());
  }
  int numInputs() const override { return static_cast<int>(inputs_.size()); }
  bool hasInput(int i) const override { return i < numInputs() && inputs_[i] != nullptr; }
  DType inputType(int i) const override { return inputs_[i]->dtype(); }
  const Shape& inputShape(int i) const override { return shapes_[i]; }
  const Tensor* inputValue(int i) const override { return hasInput(i) ? inputs_[i] : nullptr; }
  const AttrMap& attrs() const override { return attrs_; }
  int opsetVersion() const override { return opset_; }
  int numOutputs() const override { return static_cast<int>(outTypes_.size()); }
  void setOutput(int i, DType t, Shape s) override {
    if (i >= numOutputs()) return;
    outTypes_[i] = t;
    outShapes_[i] = std::move(s);
  }
  Dim newSymbol(const std::string& hint, const Dim&) override { return Dim::symbol(hint); }
  bool concrete() const override { return true; }

  DType outType(int i) const { return outTypes_[i]; }
  const Shape& outShape(int i) const { return outShapes_[i]; }

 private:
  const AttrMap& attrs_;
  int opset_;
  std::span<const Tensor* const> inputs_;
  std::vector<Shape> shapes_;
  std::vector<DType> outTypes_;
  std::vector<Shape> outShapes_;
};
}  // namespace

Status inferConcrete(const ir::OpDef& def, const AttrMap& attrs, int opset,
                     std::span<const Tensor* const> inputs, int numOutputs,
                     std::vector<ConcreteOutput>* outputs) {
  ConcreteInferContext ctx(attrs, opset, inputs, numOutputs);
  KILN_RETURN_IF_ERROR(def.infer(ctx));
  outputs->resize(numOutputs);
  for (int i = 0; i < numOutputs; ++i) {
    auto d = ctx.outShape(i).toDims();
    if (!d) return InternalError("output {} has no static shape at run time ({})", i, ctx.outShape(i).toString());
    for (int64_t x : *d)
      if (x < 0) return InvalidArgument("output {} would have a negative dimension {}", i, d->toString());
    (*outputs)[i] = {ctx.outType(i), *d};
  }
  return Status::OK();
}

}  // namespace kiln::runtime
