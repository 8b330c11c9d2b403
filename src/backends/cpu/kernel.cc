// KernelRegistry storage.
#include "backends/cpu/kernel.h"

#include <algorithm>

namespace kiln::cpu {

namespace {
class FnKernel final : public Kernel {
 public:
  explicit FnKernel(KernelFn fn) : fn_(fn) {}
  Status run(const KernelContext& ctx) const override { return fn_(ctx); }
 private:
  KernelFn fn_;
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
                           int priority, const std::string& domain) {
  KernelDef d;
  d.domain = domain;
  d.op = op;
  d.tactic = tactic;
  d.priority = priority;
  d.create = [fn](const LayerDesc&) -> Result<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(std::make_unique<FnKernel>(fn));
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
