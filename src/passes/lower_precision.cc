// Precision lowering for --fp16 / --bf16: float32 layers whose target kernel exists in the reduced
// type run in it; the model's inputs and outputs keep their types (Casts at the edges), constants
// are converted once at build time, and everything the target can't run in the reduced type (or
// that numerics forbid) stays float32 behind Casts. Kernels accumulate in fp32 and keep
// Softmax/LayerNorm statistics in fp32, so lowering a layer changes its storage type, not its
// arithmetic. Shape arithmetic (values read on the host) is never lowered.
#include <map>
#include <set>

#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

// Ops whose output type comes from an attribute, not the inputs: lowering them would not change
// what they produce.
const std::set<std::string>& fixedTypeOps() {
  static const std::set<std::string> s = {"ConstantOfShape", "EyeLike", "RandomNormal", "RandomUniform",
                                          "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial",
                                          "Shape", "Size"};
  return s;
}

// Ops kept in float32 for range or accuracy: products and sums of squares overflow fp16 easily,
// exponentials of unnormalized values too, and index/position arithmetic needs the mantissa.
const std::set<std::string>& keepFp32Ops() {
  static const std::set<std::string> s = {"Range", "CumSum", "CumProd", "ReduceProd", "ReduceSumSquare", "ReduceL2",
                                          "ReduceLogSum", "ReduceLogSumExp", "Pow", "Exp", "Det", "Einsum",
                                          "NonMaxSuppression", "RoiAlign", "GridSample", "AffineGrid", "DFT", "STFT",
                                          "LpNormalization", "LRN"};
  return s;
}

// Shape and Size read their input's dims, never its values: any element type will do.
bool readsOnlyShape(const ir::Node* n) {
  return n->domain().empty() && (n->opType() == "Shape" || n->opType() == "Size");
}

bool isHostSlot(const PassContext& ctx, const ir::Node* n, int i) {
  if (!ctx.hostInputs) return false;
  const auto& h = ctx.hostInputs(n->domain(), n->opType());
  return std::find(h.begin(), h.end(), i) != h.end();
}

Tensor convertConstant(const Tensor& src, DType to) {
  Tensor out = Tensor::allocate(to, src.dims());
  const float* s = src.data<float>();
  if (to == DType::kFloat16) {
    auto* d = out.data<Float16>();
    for (int64_t i = 0; i < src.numel(); ++i) d[i] = Float16(s[i]);
  } else {
    auto* d = out.data<BFloat16>();
    for (int64_t i = 0; i < src.numel(); ++i) d[i] = BFloat16(s[i]);
  }
  return out;
}

class LowerPrecision final : public Pass {
 public:
  const char* name() const override { return "lower-precision"; }
  const char* description() const override {
    return "run float32 layers in fp16/bf16 where the target has kernels (--fp16/--bf16); Casts at the edges";
  }

  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    const DType low = ctx.lowPrecision;
    if (low == DType::kUndefined || !ctx.supportsLowered) return PassResult{0, "off"};
    std::vector<ir::Node*> nodes = g.nodes();

    // Values needed on the host (shape arithmetic): consumed at a host slot, or by a node all of
    // whose outputs are host-needed (except Shape/Size, which need only their input's dims). Their
    // producers keep float32.
    std::set<const ir::Value*> hostNeeded;
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      ir::Node* n = *it;
      bool allHost = n->numOutputs() > 0 && !readsOnlyShape(n);
      for (ir::Value* o : n->outputs()) allHost &= hostNeeded.count(o) > 0;
      for (int i = 0; i < n->numInputs(); ++i)
        if (n->input(i) && (allHost || isHostSlot(ctx, n, i))) hostNeeded.insert(n->input(i));
    }

    std::set<const ir::Node*> lowered;
    for (ir::Node* n : nodes) {
      if (fixedTypeOps().count(n->opType()) || keepFp32Ops().count(n->opType())) continue;
      bool anyHostOut = false;
      for (ir::Value* o : n->outputs()) anyHostOut |= hostNeeded.count(o) > 0;
      if (anyHostOut) continue;
      if (n->opType() == "Cast" && n->domain().empty()) {
        if (n->attrs().getInt("to", 0) == static_cast<int64_t>(DType::kFloat32) && ctx.supportsLowered(*n, low))
          lowered.insert(n);
        continue;
      }
      if (n->opType() == "ElementwiseChain") {
        const auto& ops = n->attrs().getStrings("ops");
        if (!ops.empty() && ops[0] == "Cast") continue;  // its output is float32 by definition
      }
      bool hasFloat = false;
      for (int i = 0; i < n->numInputs(); ++i)
        if (n->input(i) && !isHostSlot(ctx, n, i) && n->input(i)->dtype() == DType::kFloat32) hasFloat = true;
      for (ir::Value* o : n->outputs()) hasFloat |= o->dtype() == DType::kFloat32;
      if (hasFloat && ctx.supportsLowered(*n, low)) lowered.insert(n);
    }
    // With --reduced-io the I/O changes type even so (behind Casts), as asked.
    if (lowered.empty() && !ctx.reducedIO)
      return PassResult{0, "no layer can run in " + std::string(dtypeName(low))};

    // --reduced-io: float32 graph inputs arrive in `low` (lowered layers read them directly, others
    // through a Cast to float32); those read on the host as shape values stay float32. Their type
    // changes after the rewiring below, which still sees them as float32.
    std::set<const ir::Value*> lowInputs;
    if (ctx.reducedIO)
      for (const ir::Value* in : g.inputs())
        if (in->dtype() == DType::kFloat32 && !in->isConstant() && !hostNeeded.count(in)) lowInputs.insert(in);

    const int opset = defaultOpset(g);
    std::map<const ir::Value*, ir::Value*> toLow, toHigh;  // shared conversions per value
    int casts = 0, constants = 0;
    // A float32 value a lowered node produces: it becomes `low` once types are re-inferred.
    auto producedLow = [&](const ir::Value* v) {
      return v->producer() && lowered.count(v->producer()) > 0 && v->dtype() == DType::kFloat32;
    };
    auto castTo = [&](ir::Value* v, DType t, std::map<const ir::Value*, ir::Value*>& memo) -> Result<ir::Value*> {
      if (auto it = memo.find(v); it != memo.end()) return it->second;
      AttrMap a;
      a.set("to", AttrValue(static_cast<int64_t>(t)));
      KILN_ASSIGN_OR_RETURN(ir::Node * c, addOp(g, "Cast", "", opset, g.uniqueName(v->name() + "/cast_" + std::string(dtypeName(t))),
                                                {v}, std::move(a)));
      ++casts;
      memo[v] = c->output(0);
      return c->output(0);
    };
    for (ir::Node* n : nodes) {
      const bool low_n = lowered.count(n) > 0;
      if (low_n && n->opType() == "Cast" && n->domain().empty()) {
        n->attrs().set("to", AttrValue(static_cast<int64_t>(low)));
        continue;
      }
      for (int i = 0; i < n->numInputs(); ++i) {
        ir::Value* v = n->input(i);
        if (!v || v->dtype() != DType::kFloat32) continue;
        const bool host = isHostSlot(ctx, n, i);
        const bool isLow = producedLow(v) || lowInputs.count(v) > 0;
        if (low_n && !host && !isLow && v->dtype() == DType::kFloat32) {
          if (v->isConstant()) {
            auto it = toLow.find(v);
            if (it == toLow.end()) {
              ir::Value* c = g.addConstant(g.uniqueName(v->name() + "/" + std::string(dtypeName(low))),
                                           convertConstant(v->constant(), low));
              ++constants;
              it = toLow.emplace(v, c).first;
            }
            n->setInput(i, it->second);
          } else {
            KILN_ASSIGN_OR_RETURN(ir::Value * c, castTo(v, low, toLow));
            n->setInput(i, c);
          }
        } else if ((!low_n || host) && isLow && !readsOnlyShape(n)) {
          KILN_ASSIGN_OR_RETURN(ir::Value * c, castTo(v, DType::kFloat32, toHigh));
          n->setInput(i, c);
        }
      }
    }
    // Graph outputs keep their float32 type and their names: a Cast takes over the output value
    // and reads the producer's (lowered) result under a fresh name. With --reduced-io it is the
    // other way round: lowered results are the outputs as they are, and float32 ones get a Cast.
    for (size_t k = 0; k < g.outputs().size() && ctx.reducedIO; ++k) {
      ir::Value* o = g.outputs()[k];
      if (producedLow(o) || lowInputs.count(o) || o->dtype() != DType::kFloat32 || !o->producer()) continue;
      ir::Node* prod = o->producer();
      const int slot = o->producerOutput();
      AttrMap a;
      a.set("to", AttrValue(static_cast<int64_t>(low)));
      KILN_ASSIGN_OR_RETURN(ir::Node * c, addOp(g, "Cast", "", opset,
                                                g.uniqueName(o->name() + "/cast_" + std::string(dtypeName(low))), {o},
                                                std::move(a)));
      g.takeOver(o, c, 0);
      ir::Value* highVal = prod->output(slot);
      c->setInput(0, highVal);
      ++casts;
      // Float32 consumers read the producer's result; lowered ones read the output itself, which
      // makes the Cast to `low` made for them redundant.
      auto lowCast = toLow.find(o);
      const ir::Node* lowCastNode = lowCast == toLow.end() ? nullptr : lowCast->second->producer();
      std::vector<ir::Use> uses = o->uses();
      for (const ir::Use& u : uses)
        if (u.node != c && u.node != lowCastNode) u.node->setInput(u.inputIndex, highVal);
      if (lowCastNode) g.replaceAllUses(lowCast->second, o);
    }
    for (ir::Value* in : g.inputs())
      if (lowInputs.count(in)) in->setType(low);
    for (size_t k = 0; k < g.outputs().size() && !ctx.reducedIO; ++k) {
      ir::Value* o = g.outputs()[k];
      if (!producedLow(o) || o->dtype() != DType::kFloat32) continue;
      ir::Node* prod = o->producer();
      const int slot = o->producerOutput();
      AttrMap a;
      a.set("to", AttrValue(static_cast<int64_t>(DType::kFloat32)));
      KILN_ASSIGN_OR_RETURN(ir::Node * c, addOp(g, "Cast", "", opset, g.uniqueName(o->name() + "/cast_float32"), {o},
                                                std::move(a)));
      g.takeOver(o, c, 0);
      ir::Value* lowVal = prod->output(slot);
      c->setInput(0, lowVal);
      ++casts;
      // Lowered consumers read the lowered value; the Cast back to float32 made for float32
      // consumers is now redundant (they read the output itself).
      std::vector<ir::Use> uses = o->uses();
      for (const ir::Use& u : uses) {
        if (u.node == c) continue;
        if (lowered.count(u.node) && !isHostSlot(ctx, u.node, u.inputIndex)) u.node->setInput(u.inputIndex, lowVal);
      }
      if (auto it = toHigh.find(o); it != toHigh.end()) g.replaceAllUses(it->second, o);
    }
    return PassResult{static_cast<int>(lowered.size()),
                      fmt::format("{} layers in {}, {} casts, {} constants converted", lowered.size(), dtypeName(low),
                                  casts, constants)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeLowerPrecision() { return std::make_unique<LowerPrecision>(); }

}  // namespace kiln::passes
