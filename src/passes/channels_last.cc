// Channels-last layout: 2-D convolutions and pooling run on [N, H, W, C] tensors, the layout
// oneDNN's (and tensor-core) convolution kernels use natively, instead of reordering NCHW
// tensors around every layer. Each such layer is rewritten as
//   Transpose(to NHWC) -> NHWC layer -> Transpose(back to NCHW)
// and the Transposes are then pushed through element-wise ops and cancelled in pairs
// (simplify-chains), so a chain of convolutions keeps NHWC tensors end to end and only the
// model's boundaries reformat.
#include <fmt/format.h>

#include "core/layout.h"
#include "ir/op_registry.h"
#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

bool isRank4F32(const ir::Value* v) {
  return v && v->dtype() == DType::kFloat32 && v->shape().rankKnown() && v->shape().rank() == 4;
}

Result<ir::Value*> transposed(ir::Graph& g, ir::Value* v, const std::vector<int64_t>& perm, const std::string& name) {
  AttrMap a;
  a.set("perm", AttrValue(perm));
  KILN_ASSIGN_OR_RETURN(ir::Node * t, addOp(g, "Transpose", "", defaultOpset(g), name, {v}, a));
  return t->output(0);
}

// The NHWC replacement op of a node, or "" if it has none.
std::string nhwcOp(const ir::Node* n) {
  if (!n->domain().empty()) return n->domain() == "kiln" && n->opType() == "FusedConv" &&
                                            n->attrs().getInt("channels_last", 0) == 0 ? "FusedConv" : "";
  if (n->opType() == "Conv") return "FusedConv";
  if (n->numOutputs() != 1) return "";
  if (n->opType() == "MaxPool" || n->opType() == "AveragePool" || n->opType() == "GlobalAveragePool")
    return "Nhwc" + n->opType();
  return "";
}

class ChannelsLast final : public Pass {
 public:
  const char* name() const override { return "channels-last"; }
  const char* description() const override {
    return "run 2-D convolutions and pooling on NHWC tensors; push and cancel the layout Transposes";
  }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (!ctx.preferChannelsLast) return PassResult{0, "the target prefers NCHW"};
    int converted = 0;
    const auto toCl = toChannelsLastPerm(4), fromCl = fromChannelsLastPerm(4);
    // A lone layer gains nothing: the Transposes around it do the reorders its kernel would do.
    int candidates = 0;
    for (ir::Node* n : g.nodes())
      if (!nhwcOp(n).empty() && isRank4F32(n->input(0))) ++candidates;
    if (candidates < 2) return PassResult{0, "fewer than two NHWC-capable layers"};
    for (ir::Node* n : g.nodes()) {
      std::string op = nhwcOp(n);
      if (op.empty() || !isRank4F32(n->input(0)) || !isRank4F32(n->output(0))) continue;
      if (ctx.supportsOp && !ctx.supportsOp("kiln", op)) continue;
      std::vector<ir::Value*> ins;
      KILN_ASSIGN_OR_RETURN(ir::Value * x, transposed(g, n->input(0), toCl, n->name() + "/to_nhwc"));
      ins.push_back(x);
      AttrMap attrs = n->attrs();
      if (op == "FusedConv") {
        ins.push_back(n->input(1));
        ins.push_back(n->input(2));
        ir::Value* z = n->opType() == "FusedConv" ? n->input(3) : nullptr;
        if (z) {
          KILN_ASSIGN_OR_RETURN(ir::Value * zt, transposed(g, z, toCl, n->name() + "/residual_to_nhwc"));
          ins.push_back(zt);
        }
        while (!ins.empty() && !ins.back()) ins.pop_back();
        attrs.set("channels_last", AttrValue(int64_t{1}));
      }
      KILN_ASSIGN_OR_RETURN(ir::Node * cl, addOp(g, op, "kiln", 1, n->name() + "/nhwc", ins, attrs, 1, n->fusedFrom()));
      AttrMap back;
      back.set("perm", AttrValue(fromCl));
      KILN_ASSIGN_OR_RETURN(ir::Node * t, addOp(g, "Transpose", "", defaultOpset(g), n->name() + "/to_nchw",
                                                {cl->output(0)}, back));
      g.takeOver(n->output(0), t, 0);
      ++converted;
    }
    // Push layout Transposes through element-wise ops: op(T(a), T(b)) = T(op(a, b)).
    int pushed = 0;
    for (bool again = true; again;) {
      again = false;
      for (ir::Node* n : g.nodes()) {
        if (!n->def() || !n->def()->has(ir::kTraitElementwise) || n->numOutputs() != 1 || !n->domain().empty()) continue;
        std::optional<std::vector<int64_t>> perm;
        bool ok = n->numInputs() > 0;
        std::vector<ir::Value*> ins;
        for (ir::Value* in : n->inputs()) {
          if (!in) {
            ins.push_back(nullptr);
            continue;
          }
          if (in->isConstant()) {
            if (in->constant().numel() != 1 || in->constant().rank() > 0) ok = false;
            ins.push_back(in);
            continue;
          }
          ir::Node* t = producerOf(in, "Transpose");
          auto p = t ? t->attrs().getInts("perm", {}) : std::vector<int64_t>{};
          if (!t || p.empty() || (perm && *perm != p)) {
            ok = false;
            break;
          }
          perm = p;
          ins.push_back(t->input(0));
        }
        if (!ok || !perm) continue;
        KILN_ASSIGN_OR_RETURN(ir::Node * inner, addOp(g, n->opType(), "", n->opsetVersion(), n->name() + "/pushed", ins,
                                                      n->attrs(), 1, n->fusedFrom()));
        AttrMap a;
        a.set("perm", AttrValue(*perm));
        KILN_ASSIGN_OR_RETURN(ir::Node * t, addOp(g, "Transpose", "", defaultOpset(g), n->name() + "/after", {inner->output(0)}, a));
        g.takeOver(n->output(0), t, 0);
        ++pushed;
        again = true;
        break;
      }
      g.removeDeadNodes();
    }
    return PassResult{converted + pushed,
                      fmt::format("{} layers to NHWC, {} element-wise ops moved inside NHWC regions", converted, pushed)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeChannelsLast() { return std::make_unique<ChannelsLast>(); }

}  // namespace kiln::passes
