// OpRegistry storage and the global registry built from RegisterAllOps.
#include "ir/op_registry.h"

#include <fmt/format.h>

#include "ir/graph.h"
#include "ir/infer.h"

namespace kiln::ir {

const AttrDef* OpDef::findAttr(std::string_view n) const {
  for (const AttrDef& a : attrs)
    if (a.name == n) return &a;
  return nullptr;
}

OpDef& OpRegistry::add(OpDef def) {
  def.domain = canonicalDomain(def.domain);
  auto key = std::make_pair(def.domain, def.name);
  if (defs_.count(key)) {
    fmt::print(stderr, "kiln: op {} registered twice\n", def.name);
    KILN_CHECK(false && "duplicate op registration");
  }
  auto p = std::make_unique<OpDef>(std::move(def));
  OpDef& ref = *p;
  defs_[key] = std::move(p);
  return ref;
}

OpDef& OpRegistry::mutableDef(const std::string& domain, const std::string& name) {
  auto it = defs_.find({canonicalDomain(domain), name});
  if (it == defs_.end()) {
    fmt::print(stderr, "kiln: op {} is extended before it is registered\n", name);
    KILN_CHECK(false && "extending an unregistered op");
  }
  return *it->second;
}

const OpDef* OpRegistry::find(const std::string& domain, const std::string& name) const {
  auto it = defs_.find({canonicalDomain(domain), name});
  return it == defs_.end() ? nullptr : it->second.get();
}

std::vector<const OpDef*> OpRegistry::all() const {
  std::vector<const OpDef*> out;
  for (const auto& [k, v] : defs_) out.push_back(v.get());
  return out;
}

const OpRegistry& OpRegistry::global() {
  static const OpRegistry* reg = [] {
    auto* r = new OpRegistry();
    RegisterAllOps(*r);
    return r;
  }();
  return *reg;
}

std::string canonicalDomain(const std::string& domain) {
  return domain == "ai.onnx" ? std::string() : domain;
}

ImportContext::ImportContext(Graph& g, Node& n, int opset)
    : graph_(g), node_(n), opset_(opset),
      replacementValues_(n.numOutputs(), nullptr),
      replacementConstants_(n.numOutputs()) {}

void ImportContext::setConstantInput(int i, Tensor t) {
  Value* c = graph_.addConstant(fmt::format("{}_in{}", node_.name(), i), std::move(t));
  node_.setInput(i, c);
}

Result<Node*> ImportContext::addNode(const std::string& opType, const std::vector<Value*>& inputs,
                                     AttrMap attrs, int numOutputs) {
  const OpDef* def = OpRegistry::global().find(node_.domain(), opType);
  KILN_CHECK(def != nullptr);
  KILN_RETURN_IF_ERROR(checkAndFillAttributes(*def, attrs));
  std::string name = fmt::format("{}/{}_{}", node_.name(), opType, added_++);
  Node* n = graph_.addNode(opType, node_.domain(), node_.opsetVersion(), name, inputs,
                           std::vector<std::string>(numOutputs, ""), std::move(attrs));
  graph_.setNodeDef(n, def);
  n->setFusedFrom({node_.name()});
  KILN_RETURN_IF_ERROR(inferNode(graph_, *n));
  return n;
}

void ImportContext::replaceOutputWithConstant(int i, Tensor t) {
  replaced_ = true;
  replacementConstants_[i] = std::move(t);
}

void ImportContext::replaceOutput(int i, Value* v) {
  replaced_ = true;
  replacementValues_[i] = v;
}

Status checkAndFillAttributes(const OpDef& def, AttrMap& attrs) {
  std::vector<std::pair<std::string, AttrValue>> converted;
  for (const auto& [name, v] : attrs.entries()) {
    const AttrDef* ad = def.findAttr(name);
    if (!ad) return Unsupported("attribute '{}' is not supported", name);
    if (v.kind() == ad->kind) continue;
    if (ad->kind == AttrKind::kFloat && v.kind() == AttrKind::kInt) {
      converted.emplace_back(name, AttrValue(static_cast<float>(v.i())));
    } else if (ad->kind == AttrKind::kFloats && v.kind() == AttrKind::kInts) {
      std::vector<float> f(v.ints().begin(), v.ints().end());
      converted.emplace_back(name, AttrValue(std::move(f)));
    } else if (ad->kind == AttrKind::kInt && v.kind() == AttrKind::kFloat &&
               v.f() == static_cast<float>(static_cast<int64_t>(v.f()))) {
      converted.emplace_back(name, AttrValue(static_cast<int64_t>(v.f())));
    } else {
      return InvalidArgument("attribute '{}' must be of kind {} but is {}", name,
                             attrKindName(ad->kind), attrKindName(v.kind()));
    }
  }
  for (auto& [n, v] : converted) attrs.set(n, std::move(v));
  for (const AttrDef& ad : def.attrs) {
    if (attrs.has(ad.name)) continue;
    if (ad.required) return InvalidArgument("required attribute '{}' is missing", ad.name);
    if (ad.dflt) attrs.set(ad.name, *ad.dflt);
  }
  return Status::OK();
}

}  // namespace kiln::ir
