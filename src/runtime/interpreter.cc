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
    interp->steps_.push_back(Step{n, chosen, std::move(k).value(), {}, std::move(state), std::make_unique<std::mutex>()});
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
  for (const Step& s : steps_) out.emplace_back(s.node, s.def->tactic);
  return out;
}

Status checkInputAgainst(const ir::Value& declared, const Tensor& t) {
  if (t.dtype() != declared.dtype())
    return InvalidArgument("input '{}' has type {} but the model expects {}", declared.name(),
                           dtypeName(t.dtype()), dtypeName(declared.dtype()));
  const Shape& s = declared.shape();
  if (!s.rankKnown()) return Status::OK();
  if (t.rank() != s.rank())
    return InvalidArgument("input '{}' has shape {} but the model expects {} (rank {})",
                           declared.name(), t.dims().toString(), s.toString(), s.rank());
  for (int i = 0; i < s.rank(); ++i)
    if (s[i].isStatic() && s[i].value() != t.dims()[i])
      return InvalidArgument("input '{}' has shape {} but the model expects {} (dim {} must be {})",
                             declared.name(), t.dims().toString(), s.toString(), i, s[i].value());
  return Status::OK();
}

Status Interpreter::run(const std::vector<NamedTensor>& inputs, std::vector<NamedTensor>* outputs) const {
  std::unordered_map<const ir::Value*, Tensor> vals;
  for (const ir::Value* c : graph_->constants()) vals[c] = c->constant();
  std::unordered_map<std::string, const Tensor*> given;
  for (const NamedTensor& nt : inputs) {
    if (!given.emplace(nt.name, &nt.tensor).second)
      return InvalidArgument("input '{}' is given more than once", nt.name);
  }
  for (const ir::Value* in : graph_->inputs()) {
    auto it = given.find(in->name());
    if (it == given.end()) return InvalidArgument("input '{}' is missing", in->name());
    KILN_RETURN_IF_ERROR(checkInputAgainst(*in, *it->second));
    if (it->second->memoryKind() != MemoryKind::kHost)
      return InvalidArgument("input '{}' is in device memory; the CPU interpreter needs host memory", in->name());
    vals[in] = *it->second;
    given.erase(it);
  }
  if (!given.empty()) return InvalidArgument("'{}' is not an input of the model", given.begin()->first);

  std::vector<const Tensor*> ins;
  std::vector<Tensor*> outs;
  std::vector<ConcreteOutput> shapes;
  std::vector<Tensor> outStorage;
  for (const Step& step : steps_) {
    const ir::Node& n = *step.node;
    ins.assign(n.numInputs(), nullptr);
    for (int i = 0; i < n.numInputs(); ++i) {
      if (!n.input(i)) continue;
      auto it = vals.find(n.input(i));
      if (it == vals.end()) return InternalError("{}: input {} was not computed", n.describe(), i);
      ins[i] = &it->second;
    }
    Status st = inferConcrete(*n.def(), n.attrs(), n.opsetVersion(), ins, n.numOutputs(), &shapes);
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
    for (int i = 0; i < n.numOutputs(); ++i) vals[n.output(i)] = std::move(outStorage[i]);
    for (const ir::Value* v : step.freeAfter) vals.erase(v);
  }
  outputs->clear();
  for (const ir::Value* o : graph_->outputs()) {
    auto it = vals.find(o);
    if (it == vals.end()) return InternalError("output '{}' was not computed", o->name());
    Tensor t = it->second;
    if (!t.ownsMemory() || o->isConstant() || o->isGraphInput()) t = t.clone();
    outputs->push_back(NamedTensor{o->name(), std::move(t)});
  }
  return Status::OK();
}

}  // namespace kiln::runtime
