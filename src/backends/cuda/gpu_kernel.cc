// GpuKernelRegistry storage, the host-input table and common predicates.
#include "backends/cuda/gpu_kernel.h"

#include <algorithm>

#include <fmt/format.h>

namespace kiln::cuda {

namespace {
class FnKernel final : public GpuKernel {
 public:
  explicit FnKernel(GpuKernelFn fn) : fn_(fn) {}
  Status enqueue(const GpuKernelContext& ctx) const override { return fn_(ctx); }

 private:
  GpuKernelFn fn_;
};
}  // namespace

void GpuKernelRegistry::add(GpuKernelDef def) {
  KILN_CHECK(findTactic(def.tactic) == nullptr);
  auto& list = defs_[{def.domain, def.op}];
  list.push_back(std::make_unique<GpuKernelDef>(std::move(def)));
  std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a->priority > b->priority; });
}

void GpuKernelRegistry::addFn(const std::string& op, const std::string& tactic, GpuKernelFn fn,
                              std::function<bool(const LayerDesc&)> supports, int priority, const std::string& domain) {
  GpuKernelDef d;
  d.domain = domain;
  d.op = op;
  d.tactic = tactic;
  d.priority = priority;
  d.supports = std::move(supports);
  d.create = [fn](const LayerDesc&, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<FnKernel>(fn));
  };
  add(std::move(d));
}

std::vector<const GpuKernelDef*> GpuKernelRegistry::candidates(const std::string& domain, const std::string& op) const {
  std::vector<const GpuKernelDef*> out;
  auto it = defs_.find({domain, op});
  if (it != defs_.end())
    for (const auto& d : it->second) out.push_back(d.get());
  return out;
}

std::pair<std::string, int> splitTactic(const std::string& tactic) {
  auto colon = tactic.rfind(':');
  if (colon == std::string::npos) return {tactic, 0};
  int v = 0;
  for (size_t i = colon + 1; i < tactic.size(); ++i) {
    if (tactic[i] < '0' || tactic[i] > '9' || v > 100000) return {tactic, -1};
    v = v * 10 + (tactic[i] - '0');
  }
  if (colon + 1 == tactic.size()) return {tactic, -1};
  return {tactic.substr(0, colon), v};
}

const GpuKernelDef* GpuKernelRegistry::findTactic(const std::string& name) const {
  const std::string tactic = splitTactic(name).first;
  for (const auto& [k, list] : defs_)
    for (const auto& d : list)
      if (d->tactic == tactic) return d.get();
  return nullptr;
}

std::vector<const GpuKernelDef*> GpuKernelRegistry::all() const {
  std::vector<const GpuKernelDef*> out;
  for (const auto& [k, list] : defs_)
    for (const auto& d : list) out.push_back(d.get());
  return out;
}

const GpuKernelRegistry& GpuKernelRegistry::global() {
  static const GpuKernelRegistry* reg = [] {
    auto* r = new GpuKernelRegistry();
    registerAllGpuKernels(*r);
    return r;
  }();
  return *reg;
}

bool allTypesIn(const LayerDesc& d, std::initializer_list<DType> types) {
  auto ok = [&](DType t) { return t == DType::kUndefined || std::find(types.begin(), types.end(), t) != types.end(); };
  for (DType t : d.inputTypes)
    if (!ok(t)) return false;
  for (DType t : d.outputTypes)
    if (!ok(t)) return false;
  return true;
}

Status unsupportedGpuType(std::string_view op, DType t) {
  return Unsupported("{} has no CUDA kernel for element type {}", op, dtypeName(t));
}

}  // namespace kiln::cuda
