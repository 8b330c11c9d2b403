// Chains of data-movement ops: Transpose(Transpose(x, p), q) is one Transpose with the composed
// permutation (none if it is the identity), a view op (Reshape, Flatten, Squeeze, Unsqueeze)
// feeding another view op is one Reshape to the final shape when that shape is static, and a
// GatherND whose constant indices enumerate its data in order (PyTorch 2.x's BERT mask export,
// mask[b, k] gathered into [B, 1, 1, S]) is a Reshape.
#include <fmt/format.h>

#include "ir/op_registry.h"
#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

bool isView(const ir::Node* n) {
  return n && n->domain().empty() &&
         (n->opType() == "Reshape" || n->opType() == "Flatten" || n->opType() == "Squeeze" || n->opType() == "Unsqueeze");
}

// A Transpose that keeps the order of every dim larger than 1 moves no data: it is a Reshape.
bool transposeIsReshape(ir::Graph& g, ir::Node* t) {
  const Shape& in = t->input(0)->shape();
  auto out = t->output(0)->shape().toDims();
  auto perm = t->attrs().getInts("perm", {});
  if (!out || !in.rankKnown() || perm.size() != static_cast<size_t>(in.rank())) return false;
  int last = -1;
  for (int64_t p : perm) {
    const Dim& d = in[static_cast<int>(p)];
    if (!d.isStatic()) return false;
    if (d.value() == 1) continue;
    if (p < last) return false;
    last = static_cast<int>(p);
  }
  ir::Value* shape = g.addConstant(t->name() + "_shape", Tensor::fromVector<int64_t>(out->vec(), Dims{out->rank()}));
  auto r = addOp(g, "Reshape", "", defaultOpset(g), t->name() + "/reshape", {t->input(0), shape}, {}, 1, t->fusedFrom());
  if (!r.ok()) return false;
  g.takeOver(t->output(0), *r, 0);
  return true;
}

// GatherND(data, indices) with batch_dims 0 and constant indices that list every element of data
// once in row-major order moves no data: it is a Reshape to indices.shape[:-1].
bool gatherNdIsReshape(ir::Graph& g, ir::Node* n) {
  if (n->attrs().getInt("batch_dims", 0) != 0 || !n->input(1) || !n->input(1)->isConstant()) return false;
  auto data = n->input(0)->shape().toDims();
  const Tensor& idx = n->input(1)->constant();
  auto out = n->output(0)->shape().toDims();
  if (!data || !out || idx.dims().rank() < 1) return false;
  const int64_t r = data->rank();
  const int64_t numel = Shape(*data).numel().value_or(-1);
  if (r < 1 || idx.dims()[idx.dims().rank() - 1] != r || idx.numel() != numel * r) return false;
  std::vector<int64_t> pos(static_cast<size_t>(r), 0);  // the expected index, row-major
  for (int64_t e = 0; e < numel; ++e) {
    for (int64_t j = 0; j < r; ++j)
      if (static_cast<int64_t>(idx.doubleAt(e * r + j)) != pos[static_cast<size_t>(j)]) return false;
    for (int64_t j = r - 1; j >= 0; --j) {
      if (++pos[static_cast<size_t>(j)] < (*data)[static_cast<int>(j)]) break;
      pos[static_cast<size_t>(j)] = 0;
    }
  }
  ir::Value* shape = g.addConstant(n->name() + "_shape", Tensor::fromVector<int64_t>(out->vec(), Dims{out->rank()}));
  auto rs = addOp(g, "Reshape", "", defaultOpset(g), n->name() + "/reshape", {n->input(0), shape}, {}, 1, n->fusedFrom());
  if (!rs.ok()) return false;
  g.takeOver(n->output(0), *rs, 0);
  return true;
}

class SimplifyChains final : public Pass {
 public:
  const char* name() const override { return "simplify-chains"; }
  const char* description() const override { return "compose Transpose pairs and collapse Reshape/Squeeze/Unsqueeze chains"; }
  Result<PassResult> run(ir::Graph& g, const PassContext&) override {
    int changes = 0;
    for (ir::Node* outer : g.nodes()) {
      ir::Value* mid = outer->input(0);
      if (!mid) continue;
      if (outer->opType() == "GatherND" && outer->domain().empty()) {
        if (gatherNdIsReshape(g, outer)) ++changes;
        continue;
      }
      if (outer->opType() == "Transpose" && outer->domain().empty()) {
        if (transposeIsReshape(g, outer)) {
          ++changes;
          continue;
        }
        ir::Node* inner = producerOf(mid, "Transpose");
        if (!inner) continue;
        int r = mid->shape().rankKnown() ? mid->shape().rank() : -1;
        auto p = inner->attrs().getInts("perm", {});
        auto q = outer->attrs().getInts("perm", {});
        if (r < 0) continue;
        if (p.empty()) for (int i = r - 1; i >= 0; --i) p.push_back(i);
        if (q.empty()) for (int i = r - 1; i >= 0; --i) q.push_back(i);
        if (static_cast<int>(p.size()) != r || static_cast<int>(q.size()) != r) continue;
        // out[i] = mid[q[i]] = x[p[q[i]]]
        std::vector<int64_t> comp(r);
        bool identity = true;
        for (int i = 0; i < r; ++i) {
          comp[i] = p[q[i]];
          identity &= comp[i] == i;
        }
        ir::Value* x = inner->input(0);
        if (identity && !(g.isGraphOutput(outer->output(0)) && (x->isGraphInput() || x->isConstant()))) {
          // A pair that cancels: consumers read x directly (the inner Transpose may stay for
          // other consumers).
          std::vector<ir::Node*> dead = {outer};
          if (singleUse(g, mid)) dead.push_back(inner);
          replaceAndRemove(g, outer->output(0), x, dead);
        } else if (!singleUse(g, mid)) {
          continue;  // composing would compute the inner transpose twice
        } else {
          outer->setInput(0, x);
          outer->attrs().set("perm", AttrValue(comp));
          outer->setFusedFrom(fusedNames({inner, outer}));
          if (mid->uses().empty()) g.removeNode(inner);
        }
        ++changes;
        continue;
      }
      if (isView(outer)) {
        ir::Node* inner = mid->producer();
        if (!isView(inner) || !singleUse(g, mid)) continue;
        auto dims = outer->output(0)->shape().toDims();
        if (!dims) continue;
        ir::Value* shape = g.addConstant(outer->name() + "_shape",
                                         Tensor::fromVector<int64_t>(dims->vec(), Dims{static_cast<int64_t>(dims->rank())}));
        AttrMap noAttrs;
        KILN_ASSIGN_OR_RETURN(ir::Node * r, addOp(g, "Reshape", "", defaultOpset(g), outer->name(), {inner->input(0), shape},
                                                  noAttrs, 1, fusedNames({inner, outer})));
        replaceAndRemove(g, outer->output(0), r->output(0), {outer, inner});
        ++changes;
      }
    }
    return PassResult{changes, fmt::format("simplified {} chains", changes)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeSimplifyChains() { return std::make_unique<SimplifyChains>(); }

}  // namespace kiln::passes
