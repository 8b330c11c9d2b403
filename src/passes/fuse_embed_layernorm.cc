// Transformer embeddings into one kiln:EmbedLayerNorm layer:
//   LayerNormalization(Gather(T0, ids0) [+ Gather(T1, ids1)] [+ addend], gamma, beta)
// over the last axis, the Adds in any order and nesting, T0/T1 constant [vocab, H] tables gathered
// on axis 0, the addend anything that broadcasts to the output with H last (BERT's position
// embeddings [1, S, H] once constant folding has evaluated their Gather). Unfused this is two
// gathers, an add chain and a LayerNorm, four passes over [B, S, H] (BERT-base batch 64 on H100:
// ~58 us); fused it reads each table row once and writes Y once.
#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

struct Terms {
  std::vector<ir::Node*> gathers;
  std::vector<ir::Value*> others;
  std::vector<const ir::Node*> adds;
};

// The leaves of the Add tree under v; interior values must be used only inside the tree.
void collect(const ir::Graph& g, ir::Value* v, bool root, Terms* t) {
  ir::Node* add = producerOf(v, "Add");
  if (add && (root || singleUse(g, v))) {
    t->adds.push_back(add);
    collect(g, add->input(0), false, t);
    collect(g, add->input(1), false, t);
    return;
  }
  ir::Node* gather = producerOf(v, "Gather");
  if (gather && singleUse(g, v) && gather->attrs().getInt("axis", 0) == 0 && gather->input(0)->isConstant() &&
      gather->input(0)->constant().rank() == 2 &&
      (gather->input(1)->dtype() == DType::kInt64 || gather->input(1)->dtype() == DType::kInt32)) {
    t->gathers.push_back(gather);
    return;
  }
  t->others.push_back(v);
}

bool sameKnownShape(const Shape& a, const Shape& b) {
  if (!a.rankKnown() || !b.rankKnown() || a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i)
    if (!(a[i] == b[i])) return false;
  return true;
}

// A LayerNorm parameter holding exactly H values (any shape of H elements).
bool holdsH(const ir::Value* v, int64_t h) {
  if (!v) return true;
  auto d = v->shape().toDims();
  return d && d->numel() == h;
}

class FuseEmbedLayerNorm final : public Pass {
 public:
  const char* name() const override { return "fuse-embed-layernorm"; }
  const char* description() const override {
    return "embedding gathers + adds + LayerNormalization into one EmbedLayerNorm layer";
  }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (ctx.supportsOp && !ctx.supportsOp("kiln", "EmbedLayerNorm")) return PassResult{0, "no kernel on this target"};
    int fused = 0;
    for (ir::Node* ln : g.nodes()) {
      if (ln->opType() != "LayerNormalization" || !ln->domain().empty()) continue;
      if (ln->attrs().getInt("stash_type", 1) != 1) continue;  // float statistics only
      bool statsUsed = false;
      for (int o = 1; o < ln->numOutputs(); ++o)
        statsUsed |= ln->output(o) && (!ln->output(o)->uses().empty() || g.isGraphOutput(ln->output(o)));
      if (statsUsed) continue;
      ir::Value* x = ln->input(0);
      const Shape& xs = x->shape();
      if (!xs.rankKnown() || xs.rank() < 2 || !xs[xs.rank() - 1].isStatic()) continue;
      const int64_t axis = ln->attrs().getInt("axis", -1);
      if (axis != -1 && axis != xs.rank() - 1) continue;
      const int64_t h = xs[xs.rank() - 1].value();
      if (!producerOf(x, "Add") || !singleUse(g, x)) continue;
      Terms t;
      collect(g, x, true, &t);
      if (t.gathers.empty() || t.gathers.size() > 2 || t.others.size() > 1) continue;
      // Every gather yields [ids..., H] with the same ids shape; the output has that shape too.
      bool ok = true;
      const Shape& ids = t.gathers[0]->input(1)->shape();
      for (ir::Node* gt : t.gathers) {
        const Tensor& table = gt->input(0)->constant();
        ok = ok && table.dims()[1] == h && table.dtype() == x->dtype() &&
             sameKnownShape(gt->input(1)->shape(), ids) && sameKnownShape(gt->output(0)->shape(), xs);
      }
      if (!ok || ids.rank() + 1 != xs.rank()) continue;
      ir::Value* addend = t.others.empty() ? nullptr : t.others[0];
      if (addend) {
        const Shape& as = addend->shape();
        ok = addend->dtype() == x->dtype() && as.rankKnown() && as.rank() >= 1 && as.rank() <= xs.rank() &&
             as[as.rank() - 1].isStatic() && as[as.rank() - 1].value() == h;
        for (int i = 0; ok && i + 1 < as.rank(); ++i) {
          const Dim& d = as[i];
          const Dim& o = xs[i + xs.rank() - as.rank()];
          ok = (d.isStatic() && d.value() == 1) || d == o;
        }
        if (!ok) continue;
      }
      ir::Value* gamma = ln->input(1);
      ir::Value* beta = ln->numInputs() > 2 ? ln->input(2) : nullptr;
      if (!holdsH(gamma, h) || !holdsH(beta, h)) continue;
      ir::Node* g0 = t.gathers[0];
      ir::Node* g1 = t.gathers.size() > 1 ? t.gathers[1] : nullptr;
      AttrMap a;
      a.set("epsilon", AttrValue(ln->attrs().getFloat("epsilon", 1e-5f)));
      std::vector<const ir::Node*> from(t.adds.begin(), t.adds.end());
      for (ir::Node* gt : t.gathers) from.push_back(gt);
      from.push_back(ln);
      auto el = addOp(g, "EmbedLayerNorm", "kiln", 1, ln->name() + "/embed",
                      {g0->input(1), g0->input(0), gamma, beta, g1 ? g1->input(1) : nullptr,
                       g1 ? g1->input(0) : nullptr, addend},
                      std::move(a), 1, fusedNames(from));
      if (!el.ok()) continue;
      g.takeOver(ln->output(0), *el, 0);
      ++fused;
    }
    return PassResult{fused, fused ? std::to_string(fused) + " embedding LayerNorms fused" : ""};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFuseEmbedLayerNorm() { return std::make_unique<FuseEmbedLayerNorm>(); }

}  // namespace kiln::passes
