// GPU test helpers (see gpu_test_util.h). The op goes through the same path as a user's model:
// builder (CUDA target, no optimization passes so the op stays one layer), engine bytes, load,
// execution context with CUDA graphs, outputs copied back to the host.
#include "gpu_test_util.h"

#include <cstring>

#include <fmt/format.h>

#include "backends/cuda/device.h"
#include "backends/cuda/gpu_kernel.h"
#include "build/builder_internal.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "kiln/engine.h"
#include "plan/plan.h"

namespace kiln::testing {

bool gpuAvailable() {
  static const bool available = !cuda::listDevices().empty();
  return available;
}

std::string gpuSkipReason() { return "SKIP: no usable GPU (" + cuda::noDeviceReason() + ")"; }

namespace {

// The op as a one-node graph: inputs flagged constant become initializers.
Result<std::shared_ptr<ir::Graph>> singleOpGraph(const OpSpec& spec, std::vector<ExecutionContext::Named>* feeds) {
  auto g = std::make_shared<ir::Graph>();
  g->setOpset(spec.domain, spec.opset);
  if (!spec.domain.empty()) g->setOpset("", 21);
  const ir::OpDef* def = ir::OpRegistry::global().find(spec.domain, spec.op);
  if (!def) return NotFound("op {} is not registered", spec.op);
  std::vector<ir::Value*> ins;
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
      feeds->push_back({name, t});
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
  return g;
}

}  // namespace

Result<std::vector<Tensor>> runOpCuda(const OpSpec& spec, const GpuRunOptions& opts) {
  std::vector<ExecutionContext::Named> feeds;
  KILN_ASSIGN_OR_RETURN(auto g, singleOpGraph(spec, &feeds));
  BuildConfig cfg;
  cfg.target = Target::kCUDA;
  cfg.passes = {"none"};
  cfg.fp16 = opts.fp16;
  cfg.tf32 = opts.tf32;
  cfg.optimizationLevel = opts.tactic.empty() ? 3 : 0;
  if (!opts.tactic.empty()) cfg.forcedTactics[spec.op] = opts.tactic;
  build::TimingCache cache("test");
  KILN_ASSIGN_OR_RETURN(auto plan, build::buildPlan(*g, cfg, spec.op, 0, &cache, nullptr));
  KILN_ASSIGN_OR_RETURN(auto engine, Engine::loadBytes(plan::serializePlan(*plan), spec.op + " engine"));
  KILN_ASSIGN_OR_RETURN(auto ctx, engine->createExecutionContext());
  ctx->setCudaGraphs(opts.useCudaGraph);
  std::vector<ExecutionContext::Named> outputs;
  for (int r = 0; r < std::max(1, opts.runs); ++r) {
    std::vector<ExecutionContext::Named> these;
    KILN_RETURN_IF_ERROR(ctx->run(feeds, &these));
    if (r > 0) {
      for (size_t i = 0; i < these.size(); ++i)
        if (these[i].tensor.nbytes() != outputs[i].tensor.nbytes() ||
            std::memcmp(these[i].tensor.raw(), outputs[i].tensor.raw(), these[i].tensor.nbytes()) != 0)
          return InternalError("run {} of {} gave a different '{}' than run 0 (graph replay or state bug)", r,
                               spec.op, these[i].name);
    }
    outputs = std::move(these);
  }
  std::vector<Tensor> out;
  for (auto& o : outputs) out.push_back(std::move(o.tensor));
  return out;
}

std::vector<std::string> cudaTacticsFor(const std::string& op, const std::string& domain) {
  std::vector<std::string> out;
  for (const cuda::GpuKernelDef* d : cuda::GpuKernelRegistry::global().candidates(domain, op)) out.push_back(d->tactic);
  return out;
}

std::string hopperTacticSkipReason(const std::string& op, const std::string& domain, const std::string& tactic) {
  bool registered = false;
  for (const auto& t : cudaTacticsFor(op, domain)) registered |= t == tactic;
  if (!registered) return tactic + " is not in this build (built without CUTLASS headers; scripts/setup.sh fetches them)";
  const auto devices = cuda::listDevices();
  if (devices.empty() || devices[0].major != 9 || devices[0].minor != 0)
    return tactic + " needs compute capability 9.0";
  return "";
}

Tensor toFloat16(const Tensor& x) {
  Tensor y = Tensor::allocate(DType::kFloat16, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) y.data<Float16>()[i] = Float16(static_cast<float>(x.doubleAt(i)));
  return y;
}

Tensor roundTo(const Tensor& x, DType t) {
  Tensor y = Tensor::allocate(DType::kFloat32, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = static_cast<float>(x.doubleAt(i));
    y.data<float>()[i] = t == DType::kBFloat16 ? static_cast<float>(BFloat16(v)) : static_cast<float>(Float16(v));
  }
  return y;
}

Tensor toFloat32(const Tensor& x) {
  Tensor y = Tensor::allocate(DType::kFloat32, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = static_cast<float>(x.doubleAt(i));
  return y;
}

int forEachVariant(const OpSpec& spec, const std::string& tactic,
                   const std::function<void(int, const std::vector<Tensor>&)>& check, int limit) {
  int ran = 0;
  for (int v = 0; v < limit; ++v) {
    GpuRunOptions o;
    o.tactic = tactic + ":" + std::to_string(v);
    auto got = runOpCuda(spec, o);
    if (!got.ok()) {
      EXPECT_NE(got.status().toString().find("does not exist"), std::string::npos)
          << o.tactic << " failed: " << got.status().toString();
      break;
    }
    check(v, *got);
    ++ran;
  }
  return ran;
}

void expectGpuMatchesCpu(const OpSpec& spec, double tol, GpuRunOptions opts) {
  auto ref = runOp(spec);
  ASSERT_TRUE(ref.ok()) << "CPU reference of " << spec.op << ": " << ref.status().toString();
  std::vector<std::string> tactics = opts.tactic.empty() ? cudaTacticsFor(spec.op, spec.domain)
                                                         : std::vector<std::string>{opts.tactic};
  ASSERT_FALSE(tactics.empty()) << "no CUDA tactic registered for " << spec.op;
  // Which tactics support this layer is the builder's business: a forced tactic that doesn't is
  // reported as an error by the builder, so ask with the default choice too.
  tactics.push_back("");
  int ran = 0;
  for (const std::string& tactic : tactics) {
    GpuRunOptions o = opts;
    o.tactic = tactic;
    auto got = runOpCuda(spec, o);
    if (!got.ok()) {
      // A tactic that doesn't support this layer is refused by the builder; anything else fails.
      if (!tactic.empty() && got.status().code() == StatusCode::kUnsupported &&
          got.status().message().find("does not support") != std::string::npos)
        continue;
      ADD_FAILURE() << spec.op << " tactic '" << (tactic.empty() ? "<chosen>" : tactic)
                    << "': " << got.status().toString();
      continue;
    }
    ++ran;
    const std::string label = spec.op + " tactic '" + (tactic.empty() ? "<chosen>" : tactic) + "'";
    ASSERT_EQ(got->size(), ref->size()) << label;
    for (size_t i = 0; i < ref->size(); ++i) {
      const Tensor& a = (*got)[i];
      const Tensor& b = (*ref)[i];
      ASSERT_EQ(a.dtype(), b.dtype()) << label << " output " << i;
      ASSERT_EQ(a.dims(), b.dims()) << label << " output " << i;
      if (isFloat(b.dtype()) && !opts.bitExact) {
        double e = relativeL2(a, b);
        EXPECT_LE(e, tol) << label << " output " << i << " relative L2 " << e;
      } else {
        EXPECT_EQ(a.nbytes(), b.nbytes());
        EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << label << " output " << i << " differs";
      }
    }
  }
  EXPECT_GT(ran, 0) << spec.op << ": no tactic ran";
}

}  // namespace kiln::testing
