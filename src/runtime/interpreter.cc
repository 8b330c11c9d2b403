// Interpreter: kernel selection at creation, node-by-node execution with concrete inference.
#include "runtime/interpreter.h"

#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "runtime/concrete_infer.h"

namespace kiln::runtime {

Result<std::unique_ptr<Interpreter>> Interpreter::create(std::shared_ptr<const ir::Graph> graph,
                                                         const InterpreterOptions& opts) {
  auto interp = std::unique_ptr<Interpreter>(new Interpreter());
  interp->graph_ = std::move(graph);
  interp->opts_ = opts;
  const auto& reg = cpu::KernelRegistry::global();
  for (const ir::Node* n : interp->graph_->nodes()) {
    // Nodes with a sequence or optional among their values, and ops that only have a value kernel
    // (OptionalHasElement of a tensor), run a value kernel.
    bool nonTensor = false;
    for (const ir::Value* v : n->inputs()) nonTensor = nonTensor || (v && !v->isTensor());
    for (const ir::Value* v : n->outputs()) nonTensor = nonTensor || !v->isTensor();
    const cpu::ValueKernelDef* vk = cpu::ValueKernelRegistry::global().find(n->domain(), n->opType());
    if (vk && (nonTensor || reg.candidates(n->domain(), n->opType()).empty())) {
      interp->steps_.push_back(Step{n, nullptr, vk, nullptr, {}, nullptr, std::make_unique<std::mutex>()});
      continue;
    }
    if (nonTensor) return Unsupported("{}: no CPU kernel implements this op for sequences or optionals", n->describe());
    cpu::LayerDesc desc;
    desc.op = n->opType();
    desc.domain = n->domain();
    desc.attrs = &n->attrs();
    for (const ir::Value* v : n->inputs()) {
      desc.inputTypes.push_back(v ? v->dtype() : DType::kUndefined);
      desc.inputShapes.push_back(v ? v->shape() : Shape());
      desc.constInputs.push_back(v && v->isConstant() ? &v->constant() : nullptr);
    }
    for (const ir::Value* v : n->outputs()) {
      desc.outputTypes.push_back(v->dtype());
      desc.outputShapes.push_back(v->shape());
    }
    const cpu::KernelDef* chosen = nullptr;
    auto ov = opts.tacticOverrides.find(n->opType());
    if (ov != opts.tacticOverrides.end()) {
      chosen = reg.findTactic(ov->second);
      if (!chosen || chosen->op != n->opType())
        return NotFound("{}: tactic '{}' does not exist for this op", n->describe(), ov->second);
      if (chosen->supports && !chosen->supports(desc))
        return Unsupported("{}: tactic '{}' does not support this layer", n->describe(), ov->second);
    }
    for (const cpu::KernelDef* d : reg.candidates(n->domain(), n->opType())) {
      if (chosen) break;
      if (!d->supports || d->supports(desc)) {
        chosen = d;
        break;
      }
    }
    if (!chosen) return Unsupported("{}: no CPU kernel implements this op", n->describe());
    auto k = chosen->create(desc);
    if (!k.ok()) return std::move(k).takeStatus().withContext(n->describe());
    auto state = (*k)->createState();
    interp->steps_.push_back(Step{n, chosen, nullptr, std::move(k).value(), {}, std::move(state), std::make_unique<std::mutex>()});
  }
  // Free each intermediate after its last consumer (keeps peak memory near the live set).
  std::unordered_map<const ir::Value*, size_t> lastUse;
  for (size_t i = 0; i < interp->steps_.size(); ++i)
    for (const ir::Value* v : interp->steps_[i].node->inputs())
      if (v && !v->isConstant() && !v->isGraphInput()) lastUse[v] = i;
  for (const auto& [v, i] : lastUse)
    if (!interp->graph_->isGraphOutput(v)) interp->steps_[i].freeAfter.push_back(v);
  return interp;
}

std::vector<std::pair<const ir::Node*, std::string>> Interpreter::tactics() const {
  std::vector<std::pair<const ir::Node*, std::string>> out;
  for (const Step& s : steps_) out.emplace_back(s.node, s.def ? s.def->tactic : s.valueDef->tactic);
  return out;
}

namespace {

Status checkShape(const ir::Value& declared, const Tensor& t, const std::string& what) {
  const Shape& s = declared.shape();
  if (!s.rankKnown()) return Status::OK();
  if (t.rank() != s.rank())
    return InvalidArgument("{} has shape {} but the model expects {} (rank {})", what, t.dims().toString(),
                           s.toString(), s.rank());
  for (int i = 0; i < s.rank(); ++i)
    if (s[i].isStatic() && s[i].value() != t.dims()[i])
      return InvalidArgument("{} has shape {} but the model expects {} (dim {} must be {})", what,
                             t.dims().toString(), s.toString(), i, s[i].value());
  return Status::OK();
}

// Outputs own their memory: no output shares it with an input, a constant or another output.
RuntimeValue ownedOutput(const ir::Value& o, const RuntimeValue& v) {
  if (!v.isTensor()) return v.clone();
  const Tensor& t = v.tensor();
  if (!t.ownsMemory() || o.isConstant() || o.isGraphInput()) return RuntimeValue(t.clone());
  return v;
}

}  // namespace

Status checkInputAgainst(const ir::Value& declared, const Tensor& t) {
  if (!declared.isTensor())
    return InvalidArgument("input '{}' is {}; it must be given as a sequence or optional value (Interpreter::runValues)",
                           declared.name(), valueTypeName(declared.kind(), declared.dtype()));
  if (t.dtype() != declared.dtype())
    return InvalidArgument("input '{}' has type {} but the model expects {}", declared.name(),
                           dtypeName(t.dtype()), dtypeName(declared.dtype()));
  return checkShape(declared, t, fmt::format("input '{}'", declared.name()));
}

Status checkInputAgainst(const ir::Value& declared, const RuntimeValue& v) {
  if (v.isTensor() && declared.isTensor()) return checkInputAgainst(declared, v.tensor());
  if (v.kind() != declared.kind() || v.elemType() != declared.dtype())
    return InvalidArgument("input '{}' is {} but the model expects {}", declared.name(),
                           valueTypeName(v.kind(), v.elemType()), valueTypeName(declared.kind(), declared.dtype()));
  if (!v.hasValue()) return Status::OK();
  if (!v.holdsSequence()) return checkShape(declared, v.tensor(), fmt::format("input '{}'", declared.name()));
  for (size_t i = 0; i < v.elements().size(); ++i) {
    const Tensor& e = v.elements()[i];
    if (e.dtype() != declared.dtype())
      return InvalidArgument("input '{}' element {} has type {} but the sequence holds {}", declared.name(), i,
                             dtypeName(e.dtype()), dtypeName(declared.dtype()));
    KILN_RETURN_IF_ERROR(checkShape(declared, e, fmt::format("input '{}' element {}", declared.name(), i)));
  }
  return Status::OK();
}

Status Interpreter::run(const std::vector<NamedTensor>& inputs, std::vector<NamedTensor>* outputs) const {
  for (const ir::Value* o : graph_->outputs())
    if (!o->isTensor())
      return InvalidArgument("output '{}' is {}; Interpreter::runValues returns sequences and optionals", o->name(),
                             valueTypeName(o->kind(), o->dtype()));
  std::vector<NamedValue> in;
  in.reserve(inputs.size());
  for (const NamedTensor& nt : inputs) in.push_back({nt.name, RuntimeValue(nt.tensor)});
  std::vector<NamedValue> out;
  KILN_RETURN_IF_ERROR(runValues(in, &out));
  outputs->clear();
  for (NamedValue& nv : out) outputs->push_back({std::move(nv.name), nv.value.tensor()});
  return Status::OK();
}

Status Interpreter::runValues(const std::vector<NamedValue>& inputs, std::vector<NamedValue>* outputs) const {
  std::unordered_map<const ir::Value*, RuntimeValue> vals;
  for (const ir::Value* c : graph_->constants()) vals[c] = RuntimeValue(c->constant());
  std::unordered_map<std::string, const RuntimeValue*> given;
  for (const NamedValue& nv : inputs) {
    if (!given.emplace(nv.name, &nv.value).second)
      return InvalidArgument("input '{}' is given more than once", nv.name);
  }
  for (const ir::Value* in : graph_->inputs()) {
    auto it = given.find(in->name());
    if (it == given.end()) return InvalidArgument("input '{}' is missing", in->name());
    const RuntimeValue& v = *it->second;
    if (v.isTensor() && !in->isTensor())  // the tensor form's message says how to pass it
      return checkInputAgainst(*in, v.tensor());
    KILN_RETURN_IF_ERROR(checkInputAgainst(*in, v));
    bool host = v.tensor().memoryKind() == MemoryKind::kHost;
    for (const Tensor& e : v.elements()) host = host && e.memoryKind() == MemoryKind::kHost;
    if (!host)
      return InvalidArgument("input '{}' is in device memory; the CPU interpreter needs host memory", in->name());
    vals[in] = v;
    given.erase(it);
  }
  if (!given.empty()) return InvalidArgument("'{}' is not an input of the model", given.begin()->first);

  std::vector<const Tensor*> ins;
  std::vector<Tensor*> outs;
  std::vector<ConcreteOutput> shapes;
  std::vector<Tensor> outStorage;
  std::vector<const RuntimeValue*> vins;
  std::vector<RuntimeValue> vouts;
  std::vector<RuntimeValue*> voutPtrs;
  for (const Step& step : steps_) {
    const ir::Node& n = *step.node;
    Status st;
    if (step.valueDef) {
      vins.assign(n.numInputs(), nullptr);
      for (int i = 0; i < n.numInputs(); ++i) {
        if (!n.input(i)) continue;
        auto it = vals.find(n.input(i));
        if (it == vals.end()) return InternalError("{}: input {} was not computed", n.describe(), i);
        vins[i] = &it->second;
      }
      vouts.assign(n.numOutputs(), RuntimeValue());
      voutPtrs.clear();
      for (RuntimeValue& v : vouts) voutPtrs.push_back(&v);
      st = step.valueDef->fn(cpu::ValueKernelContext{n.attrs(), vins, voutPtrs});
      if (!st.ok()) return std::move(st).withContext(n.describe());
      for (int i = 0; i < n.numOutputs(); ++i) {
        const ir::Value& o = *n.output(i);
        if (vouts[i].kind() != o.kind() || (o.dtype() != DType::kUndefined && vouts[i].elemType() != o.dtype()))
          return InternalError("{}: output {} is {} but inference says {}", n.describe(), i,
                               valueTypeName(vouts[i].kind(), vouts[i].elemType()), valueTypeName(o.kind(), o.dtype()));
        vals[&o] = std::move(vouts[i]);
      }
    } else {
      ins.assign(n.numInputs(), nullptr);
      for (int i = 0; i < n.numInputs(); ++i) {
        if (!n.input(i)) continue;
        auto it = vals.find(n.input(i));
        if (it == vals.end()) return InternalError("{}: input {} was not computed", n.describe(), i);
        if (!it->second.isTensor()) return InternalError("{}: input {} is not a tensor", n.describe(), i);
        ins[i] = &it->second.tensor();
      }
      st = inferConcrete(*n.def(), n.attrs(), n.opsetVersion(), ins, n.numOutputs(), &shapes);
      if (!st.ok()) return std::move(st).withContext(n.describe());
      outStorage.clear();
      outStorage.reserve(n.numOutputs());
      outs.assign(n.numOutputs(), nullptr);
      for (int i = 0; i < n.numOutputs(); ++i) {
        outStorage.push_back(Tensor::allocate(shapes[i].dtype == DType::kUndefined ? DType::kFloat32 : shapes[i].dtype,
                                              shapes[i].dims));
        outs[i] = &outStorage.back();
        if (opts_.poisonOutputs && outStorage.back().dtype() != DType::kString && outStorage.back().dtype() != DType::kBool)
          std::memset(outStorage.back().raw(), 0xFF, outStorage.back().nbytes());
      }
      {
        std::lock_guard<std::mutex> lk(*step.mu);
        cpu::KernelContext kctx{n.attrs(), ins, outs, step.state.get()};
        st = step.kernel->run(kctx);
      }
      if (!st.ok()) return std::move(st).withContext(n.describe());
      for (int i = 0; i < n.numOutputs(); ++i) vals[n.output(i)] = RuntimeValue(std::move(outStorage[i]));
    }
    for (const ir::Value* v : step.freeAfter) vals.erase(v);
  }
  outputs->clear();
  for (const ir::Value* o : graph_->outputs()) {
    auto it = vals.find(o);
    if (it == vals.end()) return InternalError("output '{}' was not computed", o->name());
    outputs->push_back(NamedValue{o->name(), ownedOutput(*o, it->second)});
  }
  return Status::OK();
}

}  // namespace kiln::runtime
