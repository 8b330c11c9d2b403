// Tactic selection and timing on the CPU.
#include "build/tactic_timer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "backends/cpu/kernel.h"
#include "plan/checksum.h"
#include "runtime/layer_desc.h"

namespace kiln::build {

namespace {

constexpr double kSelfCheckTolerance = 1e-3;  // relative L2 against the reference kernel

bool isReference(const std::string& tactic) { return tactic.rfind("cpu_ref_", 0) == 0; }

double relL2(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.doubleAt(i), y = b.doubleAt(i);
    num += (x - y) * (x - y);
    den += y * y;
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

}  // namespace

std::string layerKey(const plan::Plan& p, const plan::LayerInfo& l, const std::vector<Dims>& dims,
                     const std::vector<std::string>& candidates) {
  std::string k = l.domain.empty() ? l.op : l.domain + ":" + l.op;
  for (int32_t id : l.inputs) {
    if (id < 0) {
      k += "|-";
      continue;
    }
    const auto& t = p.tensors[id];
    k += fmt::format("|{}{}{}", dtypeName(t.dtype), dims[id].toString(), t.kind == plan::TensorKind::kConstant ? "c" : "");
  }
  std::string attrs;
  for (const auto& [n, v] : l.attrs.entries()) attrs += n + "=" + v.toString() + ";";
  k += fmt::format("|a{:016x}|", plan::xxhash64(attrs));
  for (const auto& c : candidates) k += c + ",";
  return k;
}

Result<TacticChoice> TacticTimer::choose(const plan::Plan& p, const plan::LayerInfo& l, const std::vector<Dims>& dims) {
  const auto& reg = cpu::KernelRegistry::global();
  cpu::LayerDesc desc = runtime::describeLayer(p, l);
  std::vector<const cpu::KernelDef*> cands;
  for (const cpu::KernelDef* d : reg.candidates(l.domain, l.op)) {
    bool disabled = false;
    for (const auto& prefix : cfg_.disabledTactics) disabled |= d->tactic.rfind(prefix, 0) == 0;
    if (!disabled && (!d->supports || d->supports(desc))) cands.push_back(d);
  }
  if (cands.empty()) {
    std::vector<std::string> types;
    for (DType t : desc.inputTypes) types.emplace_back(t == DType::kUndefined ? "-" : dtypeName(t));
    return Unsupported("layer '{}' ({}): no CPU kernel supports it (input types {})", l.name, l.op, fmt::join(types, ", "));
  }
  TacticChoice choice{cands[0]->tactic};
  // Timing needs real choices and inputs we can make up: float data (indices or shape tensors
  // filled with noise would be invalid).
  std::vector<const cpu::KernelDef*> timeable;
  for (const cpu::KernelDef* d : cands) timeable.push_back(d);
  bool floatInputs = true;
  for (size_t i = 0; i < l.inputs.size(); ++i) {
    int32_t id = l.inputs[i];
    if (id >= 0 && p.tensors[id].kind != plan::TensorKind::kConstant && !isFloat(p.tensors[id].dtype)) floatInputs = false;
  }
  if (cfg_.optimizationLevel < 3 || timeable.size() < 2 || !floatInputs) return choice;

  std::vector<std::string> names;
  for (const auto* d : timeable) names.push_back(d->tactic);
  std::string key = layerKey(p, l, dims, names);
  if (cache_) {
    if (auto hit = cache_->find(key); hit && std::find(names.begin(), names.end(), hit->tactic) != names.end()) {
      choice.tactic = hit->tactic;
      choice.microseconds = hit->microseconds;
      choice.fromCache = true;
      return choice;
    }
  }

  // Random inputs (constants stay real) and outputs at the opt shapes.
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<Tensor> inStore, outStore;
  std::vector<const Tensor*> ins;
  for (int32_t id : l.inputs) {
    if (id < 0) {
      ins.push_back(nullptr);
      continue;
    }
    const auto& t = p.tensors[id];
    if (t.kind == plan::TensorKind::kConstant) {
      ins.push_back(&t.constant);
      continue;
    }
    Tensor x = Tensor::allocate(t.dtype, dims[id]);
    dispatchType<FloatTypes>(t.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t i = 0; i < x.numel(); ++i) x.data<T>()[i] = convertValue<T>(u(rng));
    });
    inStore.push_back(std::move(x));
    ins.push_back(nullptr);  // pointed at inStore below, once the vector stops moving
  }
  {
    size_t k = 0;
    for (size_t i = 0; i < l.inputs.size(); ++i)
      if (l.inputs[i] >= 0 && p.tensors[l.inputs[i]].kind != plan::TensorKind::kConstant) ins[i] = &inStore[k++];
  }
  auto makeOutputs = [&](std::vector<Tensor>& store, std::vector<Tensor*>& outs) {
    store.clear();
    outs.clear();
    store.reserve(l.outputs.size());
    for (int32_t id : l.outputs) {
      store.push_back(id >= 0 ? Tensor::allocate(p.tensors[id].dtype, dims[id]) : Tensor());
      outs.push_back(id >= 0 ? &store.back() : nullptr);
    }
  };

  struct Result1 {
    const cpu::KernelDef* def;
    double us;
    std::vector<Tensor> outputs;
    bool ok = true;  // float outputs within kSelfCheckTolerance of the reference's
  };
  std::vector<Result1> results;
  Status firstFailure;
  for (const cpu::KernelDef* d : timeable) {
    auto k = d->create(desc);
    if (!k.ok()) {
      if (firstFailure.ok()) firstFailure = std::move(k).takeStatus().withContext(d->tactic);
      continue;
    }
    std::vector<Tensor> store;
    std::vector<Tensor*> outs;
    makeOutputs(store, outs);
    auto state = (*k)->createState();
    cpu::KernelContext ctx{l.attrs, ins, outs, state.get()};
    if (Status st = (*k)->run(ctx); !st.ok()) {  // a candidate that fails here is not a candidate
      if (firstFailure.ok()) firstFailure = std::move(st).withContext(d->tactic);
      continue;
    }
    std::vector<double> times;
    auto start = std::chrono::steady_clock::now();
    const int maxRuns = cfg_.optimizationLevel >= 4 ? 15 : 7;
    while (static_cast<int>(times.size()) < maxRuns) {
      auto a = std::chrono::steady_clock::now();
      (void)(*k)->run(ctx);
      auto b = std::chrono::steady_clock::now();
      times.push_back(std::chrono::duration<double, std::micro>(b - a).count());
      if (std::chrono::duration<double>(b - start).count() > 0.25) break;
    }
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    results.push_back({d, times[times.size() / 2], std::move(store)});
  }
  if (results.empty())
    return std::move(firstFailure).withContext(fmt::format("layer '{}' ({}): every candidate tactic failed", l.name, l.op));
  // The reference kernel (or the first candidate) is the numerical yardstick.
  const Result1* ref = &results[0];
  for (const auto& r : results)
    if (isReference(r.def->tactic)) ref = &r;
  const Result1* best = nullptr;
  for (auto& r : results) {
    for (size_t o = 0; o < r.outputs.size() && r.ok; ++o) {
      if (!r.outputs[o].defined() || !isFloat(r.outputs[o].dtype())) continue;
      r.ok = relL2(r.outputs[o], ref->outputs[o]) <= kSelfCheckTolerance;
    }
    if (r.ok && (!best || r.us < best->us)) best = &r;
  }
  if (!best) best = ref;
  choice.tactic = best->def->tactic;
  choice.microseconds = best->us;
  choice.timed = true;
  for (const auto& r : results) choice.candidates.push_back({r.def->tactic, r.us, r.ok});
  if (cache_) cache_->insert(key, TimingEntry{choice.tactic, choice.microseconds});
  return choice;
}

}  // namespace kiln::build
