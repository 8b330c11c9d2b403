// Single-op test harness.
#include "op_test_util.h"

#include <cmath>

#include <fmt/format.h>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "onnx/importer.h"
#include "runtime/interpreter.h"

namespace kiln::testing {

Result<std::vector<Tensor>> runOp(const OpSpec& spec, const std::string& tactic) {
  auto g = std::make_shared<ir::Graph>();
  g->setOpset(spec.domain, spec.opset);
  const ir::OpDef* def = ir::OpRegistry::global().find(spec.domain, spec.op);
  if (!def) return NotFound("op {} is not registered", spec.op);
  std::vector<ir::Value*> ins;
  std::vector<runtime::NamedTensor> feeds;
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    const Tensor& t = spec.inputs[i];
    if (!t.defined()) {
      ins.push_back(nullptr);
      continue;
    }
    std::string name = fmt::format("in{}", i);
    bool isConst = i < spec.constInputs.size() && spec.constInputs[i];
    if (isConst) {
      ins.push_back(g->addConstant(name, t));
    } else {
      ins.push_back(g->addInput(name, t.dtype(), Shape(t.dims())));
      feeds.push_back({name, t});
    }
  }
  std::vector<std::string> outs;
  for (int i = 0; i < spec.numOutputs; ++i) outs.push_back(fmt::format("out{}", i));
  AttrMap attrs = spec.attrs;
  KILN_RETURN_IF_ERROR(ir::checkAndFillAttributes(*def, attrs));
  ir::Node* n = g->addNode(spec.op, spec.domain, spec.opset, "node", ins, outs, std::move(attrs));
  g->setNodeDef(n, def);
  KILN_RETURN_IF_ERROR(ir::inferNode(*g, *n));
  for (int i = 0; i < spec.numOutputs; ++i) g->addOutput(n->output(i));
  runtime::InterpreterOptions opts;
  opts.poisonOutputs = true;
  if (!tactic.empty()) opts.tacticOverrides[spec.op] = tactic;
  KILN_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::create(g, opts));
  std::vector<runtime::NamedTensor> results;
  KILN_RETURN_IF_ERROR(interp->run(feeds, &results));
  std::vector<Tensor> out;
  for (auto& r : results) out.push_back(std::move(r.tensor));
  return out;
}

Tensor randomTensor(DType t, const Dims& d, std::mt19937& rng, double lo, double hi) {
  Tensor x = Tensor::allocate(t, d);
  std::uniform_real_distribution<double> u(lo, hi);
  bool ok = dispatchType<AllPodTypes>(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = u(rng);
      if constexpr (std::is_integral_v<T>) v = std::round(v);
      x.data<T>()[i] = convertValue<T>(v);
    }
  });
  KILN_CHECK(ok);
  return x;
}

double relativeL2(const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.numel() == b.numel());
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.doubleAt(i), y = b.doubleAt(i);
    num += (x - y) * (x - y);
    den += y * y;
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

double maxAbsDiff(const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.numel() == b.numel());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double d = std::fabs(a.doubleAt(i) - b.doubleAt(i));
    if (!(d <= m)) m = d;
  }
  return m;
}

Result<std::vector<runtime::NamedTensor>> interpretModel(const std::string& modelBytes,
                                                         const std::vector<runtime::NamedTensor>& inputs) {
  KILN_ASSIGN_OR_RETURN(auto g, onnx_import::importModelBytes(modelBytes, ""));
  KILN_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::create(std::shared_ptr<const ir::Graph>(std::move(g))));
  std::vector<runtime::NamedTensor> out;
  KILN_RETURN_IF_ERROR(interp->run(inputs, &out));
  return out;
}

}  // namespace kiln::testing
