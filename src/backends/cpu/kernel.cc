// KernelRegistry storage.
#include "backends/cpu/kernel.h"

#include <algorithm>

namespace kiln::cpu {

namespace {
class FnKernel final : public Kernel {
 public:
  FnKernel(KernelFn fn, std::function<std::unique_ptr<KernelState>()> makeState)
      : fn_(fn), makeState_(std::move(makeState)) {}
  Status run(const KernelContext& ctx) const override { return fn_(ctx); }
  std::unique_ptr<KernelState> createState() const override { return makeState_ ? makeState_() : nullptr; }

 private:
  KernelFn fn_;
  std::function<std::unique_ptr<KernelState>()> makeState_;
};
}  // namespace

void KernelRegistry::add(KernelDef def) {
  KILN_CHECK(findTactic(def.tactic) == nullptr);
  auto& list = defs_[{def.domain, def.op}];
  list.push_back(std::make_unique<KernelDef>(std::move(def)));
  std::stable_sort(list.begin(), list.end(),
                   [](const auto& a, const auto& b) { return a->priority > b->priority; });
}

void KernelRegistry::addFn(const std::string& op, const std::string& tactic, KernelFn fn,
                           int priority, const std::string& domain,
                           std::function<std::unique_ptr<KernelState>()> makeState) {
  KernelDef d;
  d.domain = domain;
  d.op = op;
  d.tactic = tactic;
  d.priority = priority;
  d.create = [fn, makeState](const LayerDesc&) -> Result<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(std::make_unique<FnKernel>(fn, makeState));
  };
  add(std::move(d));
}

std::vector<const KernelDef*> KernelRegistry::candidates(const std::string& domain,
                                                         const std::string& op) const {
  std::vector<const KernelDef*> out;
  auto it = defs_.find({domain, op});
  if (it != defs_.end())
    for (const auto& d : it->second) out.push_back(d.get());
  return out;
}

const KernelDef* KernelRegistry::findTactic(const std::string& tactic) const {
  for (const auto& [k, list] : defs_)
    for (const auto& d : list)
      if (d->tactic == tactic) return d.get();
  return nullptr;
}

std::vector<const KernelDef*> KernelRegistry::all() const {
  std::vector<const KernelDef*> out;
  for (const auto& [k, list] : defs_)
    for (const auto& d : list) out.push_back(d.get());
  return out;
}

const KernelRegistry& KernelRegistry::global() {
  static const KernelRegistry* reg = [] {
    auto* r = new KernelRegistry();
    RegisterAllCpuKernels(*r);
    return r;
  }();
  return *reg;
}

Status unsupportedType(std::string_view op, DType t) {
  return Unsupported("{} has no CPU kernel for element type {}", op, dtypeName(t));
}

}  // namespace kiln::cpu
