// The ONNX importer. Walks the graph in dependency order, maps names to IR values, converts
// attributes, runs each op's import hook, checks attributes against the OpDef and infers shapes.
// Model-local functions are inlined with their attribute references substituted.
#include "onnx/importer.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>

#include "ir/infer.h"
#include "ir/op_registry.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

namespace fs = std::filesystem;
using NameMap = std::unordered_map<std::string, ir::Value*>;
using OpsetMap = std::map<std::string, int>;

Status parseModelProto(const std::string& bytes, ::onnx::ModelProto* out) {
  if (bytes.empty()) return InvalidArgument("the model is empty (0 bytes)");
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return InvalidArgument("the model is larger than 2 GiB; store its weights as external data");
  google::protobuf::io::ArrayInputStream ais(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream cis(&ais);
  cis.SetTotalBytesLimit(std::numeric_limits<int>::max());
  if (!out->ParseFromCodedStream(&cis) || !cis.ConsumedEntireMessage())
    return InvalidArgument(
        "not a valid ONNX model: protobuf parsing failed after {} of {} bytes (truncated or not an "
        "ONNX file?)", cis.CurrentPosition(), bytes.size());
  return Status::OK();
}

namespace {

std::string shortDomain(const std::string& d) { return d.empty() ? "ai.onnx" : d; }

// The kind, element type and element shape a TypeProto declares. Unnamed dynamic dims of a tensor
// get the symbol `<symbolPrefix>_dim<i>`; in a sequence's elements (which may differ in shape)
// they are unknown.
struct DeclaredType {
  ValueKind kind = ValueKind::kTensor;
  DType dtype = DType::kUndefined;
  Shape shape = Shape::unknownRank();
};

Result<DeclaredType> declaredType(const ::onnx::TypeProto& tp, const std::string& symbolPrefix) {
  using TP = ::onnx::TypeProto;
  DeclaredType out;
  const TP* t = &tp;
  if (t->value_case() == TP::kOptionalType) {
    if (!t->optional_type().has_elem_type()) return InvalidArgument("the optional type has no element type");
    out.kind = ValueKind::kOptionalTensor;
    t = &t->optional_type().elem_type();
  }
  if (t->value_case() == TP::kSequenceType) {
    if (!t->sequence_type().has_elem_type()) return InvalidArgument("the sequence type has no element type");
    out.kind = out.kind == ValueKind::kOptionalTensor ? ValueKind::kOptionalSequence : ValueKind::kSequence;
    t = &t->sequence_type().elem_type();
  }
  switch (t->value_case()) {
    case TP::kTensorType: break;
    case TP::kSequenceType: return Unsupported("sequences of sequences are not supported");
    case TP::kOptionalType: return Unsupported("optionals inside sequences or optionals are not supported");
    case TP::kMapType: return Unsupported("maps are not supported");
    case TP::kSparseTensorType: return Unsupported("sparse tensors are not supported");
    default: return InvalidArgument("the type is not set");
  }
  const auto& tt = t->tensor_type();
  KILN_ASSIGN_OR_RETURN(out.dtype, dtypeFromOnnx(tt.elem_type()));
  if (tt.has_shape()) {
    if (tt.shape().dim_size() > kMaxRank)
      return Unsupported("rank {} exceeds Kiln's maximum {}", tt.shape().dim_size(), kMaxRank);
    const bool perElement = out.kind == ValueKind::kSequence || out.kind == ValueKind::kOptionalSequence;
    std::vector<Dim> dims;
    for (int i = 0; i < tt.shape().dim_size(); ++i) {
      const auto& d = tt.shape().dim(i);
      if (d.has_dim_value() && d.dim_value() >= 0) dims.emplace_back(d.dim_value());
      else if (d.has_dim_param() && !d.dim_param().empty()) dims.push_back(Dim::symbol(d.dim_param()));
      else if (perElement) dims.emplace_back();
      else dims.push_back(Dim::symbol(fmt::format("{}_dim{}", symbolPrefix, i)));
    }
    out.shape = Shape(std::move(dims));
  }
  return out;
}

// Topological order of node protos by name dependencies (ONNX requires sorted graphs; some
// exporters write them unsorted). `known` are names available before any node runs.
Result<std::vector<int>> dependencyOrder(
    const google::protobuf::RepeatedPtrField<::onnx::NodeProto>& nodes,
    const std::set<std::string>& known) {
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].output())
      if (!o.empty()) producer.emplace(o, i);
  std::vector<int> order, state(nodes.size(), 0);  // 0 new, 1 visiting, 2 done
  for (int root = 0; root < nodes.size(); ++root) {
    if (state[root]) continue;
    std::vector<std::pair<int, int>> stack{{root, 0}};
    state[root] = 1;
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      const auto& in = nodes[n].input();
      if (next < in.size()) {
        const std::string& name = in[next++];
        if (name.empty() || known.count(name)) continue;
        auto it = producer.find(name);
        if (it == producer.end()) continue;  // reported as a missing input at import
        int p = it->second;
        if (state[p] == 1)
          return InvalidArgument("the graph has a cycle through value '{}'", name);
        if (state[p] == 0) {
          state[p] = 1;
          stack.emplace_back(p, 0);
        }
        continue;
      }
      state[n] = 2;
      order.push_back(n);
      stack.pop_back();
    }
  }
  return order;
}

class Importer {
 public:
  Importer(const ::onnx::ModelProto& m, std::string baseDir, const ImportOptions& opts, ir::Graph& g)
      : model_(m), baseDir_(std::move(baseDir)), opts_(opts), g_(g) {}

  Status run();

 private:
  // Attribute substitution inside an inlined function body: formal name -> caller's value.
  using AttrSubst = std::map<std::string, const ::onnx::AttributeProto*>;

  Status importInitializers(const ::onnx::GraphProto& gp);
  Status importInputs(const ::onnx::GraphProto& gp);
  Status importNodes(const google::protobuf::RepeatedPtrField<::onnx::NodeProto>& nodes,
                     NameMap& names, const OpsetMap& opsets, const std::string& prefix,
                     const AttrSubst* subst, int depth);
  Status importNode(const ::onnx::NodeProto& np, NameMap& names, const OpsetMap& opsets,
                    const std::string& prefix, const AttrSubst* subst, int depth);
  Status inlineFunction(const ::onnx::FunctionProto& fn, const ::onnx::NodeProto& call,
                        const std::string& callName, NameMap& names, const std::string& prefix,
                        const AttrSubst* subst, int depth);
  Result<AttrValue> convertAttribute(const ::onnx::AttributeProto& a);
  Status importOutputs(const ::onnx::GraphProto& gp);

  const ::onnx::ModelProto& model_;
  std::string baseDir_;
  const ImportOptions& opts_;
  ir::Graph& g_;
  NameMap names_;
  OpsetMap opsets_;
  std::map<std::pair<std::string, std::string>, const ::onnx::FunctionProto*> functions_;
  int unnamed_ = 0;
};

Status Importer::run() {
  if (!model_.has_ir_version() || model_.ir_version() <= 0)
    return InvalidArgument("not an ONNX model: ir_version is missing");
  if (model_.ir_version() > kMaxIrVersion)
    return Unsupported("the model has IR version {}; Kiln reads IR versions up to {}",
                       model_.ir_version(), kMaxIrVersion);
  if (!model_.has_graph()) return InvalidArgument("not an ONNX model: it has no graph");

  for (const auto& os : model_.opset_import()) {
    std::string d = ir::canonicalDomain(os.domain());
    if (os.version() <= 0)
      return InvalidArgument("opset import for domain {} has version {}", shortDomain(d), os.version());
    opsets_[d] = static_cast<int>(os.version());
  }
  if (model_.opset_import_size() == 0) opsets_[""] = 1;  // IR < 3 models
  if (opsets_.count("") && opsets_[""] > kMaxOnnxOpset)
    return Unsupported("the model imports opset {} of ai.onnx; Kiln supports opsets up to {}",
                       opsets_[""], kMaxOnnxOpset);
  for (const auto& [d, v] : opsets_) g_.setOpset(d, v);
  for (const auto& f : model_.functions())
    functions_[{ir::canonicalDomain(f.domain()), f.name()}] = &f;

  const auto& gp = model_.graph();
  g_.setName(gp.name());
  if (gp.sparse_initializer_size() > 0)
    return Unsupported("sparse initializers ('{}') are not supported", gp.sparse_initializer(0).values().name());
  KILN_RETURN_IF_ERROR(importInitializers(gp));
  KILN_RETURN_IF_ERROR(importInputs(gp));
  KILN_RETURN_IF_ERROR(importNodes(gp.node(), names_, opsets_, "", nullptr, 0));
  KILN_RETURN_IF_ERROR(importOutputs(gp));
  KILN_RETURN_IF_ERROR(g_.topoSort());
  return Status::OK();
}

Status Importer::importInitializers(const ::onnx::GraphProto& gp) {
  for (const auto& init : gp.initializer()) {
    if (init.name().empty()) return InvalidArgument("an initializer has no name");
    if (names_.count(init.name())) return InvalidArgument("initializer '{}' is defined twice", init.name());
    auto t = tensorFromProto(init, baseDir_);
    if (!t.ok()) return std::move(t).takeStatus().withContext(fmt::format("initializer '{}'", init.name()));
    names_[init.name()] = g_.addConstant(init.name(), std::move(t).value());
  }
  return Status::OK();
}

Status Importer::importInputs(const ::onnx::GraphProto& gp) {
  for (const auto& in : gp.input()) {
    // IR < 4 lists initializers among the inputs too; they stay constants.
    if (names_.count(in.name())) {
      if (names_[in.name()]->isConstant()) continue;
      return InvalidArgument("graph input '{}' is declared twice", in.name());
    }
    std::string ctx = fmt::format("graph input '{}'", in.name());
    if (in.name().empty()) return InvalidArgument("a graph input has no name");
    auto type = declaredType(in.type(), in.name());
    if (!type.ok()) return std::move(type).takeStatus().withContext(ctx);
    names_[in.name()] = g_.addInput(in.name(), type->dtype, std::move(type->shape), type->kind);
  }
  return Status::OK();
}

Status Importer::importNodes(const google::protobuf::RepeatedPtrField<::onnx::NodeProto>& nodes,
                             NameMap& names, const OpsetMap& opsets, const std::string& prefix,
                             const AttrSubst* subst, int depth) {
  std::set<std::string> known;
  for (const auto& [n, v] : names) known.insert(n);
  KILN_ASSIGN_OR_RETURN(std::vector<int> order, dependencyOrder(nodes, known));
  for (int i : order) KILN_RETURN_IF_ERROR(importNode(nodes[i], names, opsets, prefix, subst, depth));
  return Status::OK();
}

Result<AttrValue> Importer::convertAttribute(const ::onnx::AttributeProto& a) {
  using AP = ::onnx::AttributeProto;
  AP::AttributeType type = a.type();
  if (type == AP::UNDEFINED) {  // old models leave the type out: infer from the field set
    if (a.has_f()) type = AP::FLOAT;
    else if (a.has_i()) type = AP::INT;
    else if (a.has_s()) type = AP::STRING;
    else if (a.has_t()) type = AP::TENSOR;
    else if (a.has_g()) type = AP::GRAPH;
    else if (a.has_tp()) type = AP::TYPE_PROTO;
    else if (a.floats_size()) type = AP::FLOATS;
    else if (a.ints_size()) type = AP::INTS;
    else if (a.strings_size()) type = AP::STRINGS;
    else return InvalidArgument("attribute '{}' has no type and no value", a.name());
  }
  switch (type) {
    case AP::FLOAT: return AttrValue(a.f());
    case AP::INT: return AttrValue(static_cast<int64_t>(a.i()));
    case AP::STRING: return AttrValue(a.s());
    case AP::TENSOR: {
      auto t = tensorFromProto(a.t(), baseDir_);
      if (!t.ok()) return std::move(t).takeStatus().withContext(fmt::format("attribute '{}'", a.name()));
      return AttrValue(std::move(t).value());
    }
    case AP::FLOATS: return AttrValue(std::vector<float>(a.floats().begin(), a.floats().end()));
    case AP::INTS: return AttrValue(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
    case AP::STRINGS: return AttrValue(std::vector<std::string>(a.strings().begin(), a.strings().end()));
    case AP::GRAPH:
    case AP::GRAPHS:
      return Unsupported("attribute '{}' holds a subgraph; ops with subgraphs (If, Loop, Scan, SequenceMap) are "
                         "not supported yet", a.name());
    case AP::SPARSE_TENSOR:
    case AP::SPARSE_TENSORS: return Unsupported("attribute '{}' holds a sparse tensor", a.name());
    case AP::TYPE_PROTO: {
      // Kept as its type name ("float32", "seq(int64)"; core/value.h), without the element shape.
      auto t = declaredType(a.tp(), a.name());
      if (!t.ok()) return std::move(t).takeStatus().withContext(fmt::format("attribute '{}'", a.name()));
      return AttrValue(valueTypeName(t->kind, t->dtype));
    }
    case AP::TYPE_PROTOS: return Unsupported("attribute '{}' holds a list of type protos", a.name());
    case AP::TENSORS: return Unsupported("attribute '{}' holds a list of tensors", a.name());
    default: return InvalidArgument("attribute '{}' has unknown type {}", a.name(), static_cast<int>(type));
  }
}

Status Importer::importNode(const ::onnx::NodeProto& np, NameMap& names, const OpsetMap& opsets,
                            const std::string& prefix, const AttrSubst* subst, int depth) {
  const std::string domain = ir::canonicalDomain(np.domain());
  std::string name = np.name().empty() ? fmt::format("{}_{}", np.op_type(), unnamed_++) : np.name();
  name = prefix + name;
  auto opsetIt = opsets.find(domain);
  const int opset = opsetIt == opsets.end() ? 0 : opsetIt->second;
  auto frame = [&] {
    return fmt::format("node '{}' ({}, domain {}, opset {})", name, np.op_type(), shortDomain(domain), opset);
  };
  if (np.op_type().empty()) return InvalidArgument("{}: the node has no op_type", frame());

  // Attributes (with function attribute references resolved).
  AttrMap attrs;
  for (const auto& a : np.attribute()) {
    const ::onnx::AttributeProto* src = &a;
    if (!a.ref_attr_name().empty()) {
      if (!subst) return InvalidArgument("{}: attribute '{}' refers to '{}' outside a function", frame(), a.name(), a.ref_attr_name());
      auto it = subst->find(a.ref_attr_name());
      if (it == subst->end()) continue;  // the caller did not set it: the op's default applies
      src = it->second;
    }
    auto v = convertAttribute(*src);
    if (!v.ok()) return std::move(v).takeStatus().withContext(frame());
    if (attrs.has(a.name())) return InvalidArgument("{}: attribute '{}' appears twice", frame(), a.name());
    attrs.set(a.name(), std::move(v).value());
  }

  // Model-local functions shadow nothing in ai.onnx but can define ops in any domain.
  auto fnIt = functions_.find({domain, np.op_type()});
  const ir::OpDef* def = ir::OpRegistry::global().find(domain, np.op_type());
  if (fnIt != functions_.end() && (!def || !domain.empty())) {
    if (depth > 32) return InvalidArgument("{}: functions nest more than 32 deep (recursive?)", frame());
    return inlineFunction(*fnIt->second, np, name, names, prefix, subst, depth);
  }
  if (opsetIt == opsets.end())
    return InvalidArgument("{}: the model does not import domain {}", frame(), shortDomain(domain));
  if (!def) {
    return Unsupported("{}: op {} of domain {} is not supported", frame(), np.op_type(), shortDomain(domain));
  }
  if (opset < def->minOpset)
    return Unsupported("{}: this op is supported from opset {} on", frame(), def->minOpset);

  std::vector<ir::Value*> inputs;
  for (const auto& in : np.input()) {
    if (in.empty()) {
      inputs.push_back(nullptr);
      continue;
    }
    auto it = names.find(in);
    if (it == names.end())
      return InvalidArgument("{}: input '{}' is not a graph input, an initializer, or an output of another node",
                             frame(), in);
    inputs.push_back(it->second);
  }
  while (!inputs.empty() && inputs.back() == nullptr) inputs.pop_back();
  int nOut = np.output_size();
  if (nOut < def->minOutputs || (def->maxOutputs >= 0 && nOut > def->maxOutputs))
    return InvalidArgument("{}: has {} outputs; the op produces {} to {}", frame(), nOut, def->minOutputs, def->maxOutputs);

  std::vector<std::string> outNames;
  for (const auto& o : np.output()) {
    if (o.empty()) {
      outNames.push_back("");
      continue;
    }
    if (names.count(o)) return InvalidArgument("{}: output '{}' is already defined elsewhere in the graph", frame(), o);
    outNames.push_back(o);  // function bodies arrive with their names already prefixed
  }
  ir::Node* node = g_.addNode(np.op_type(), domain, opset, name, inputs, outNames, std::move(attrs));
  g_.setNodeDef(node, def);

  if (def->import) {
    ir::ImportContext ictx(g_, *node, opset);
    KILN_RETURN_IF_ERROR_CTX(def->import(ictx), frame());
    if (ictx.nodeReplaced()) {
      std::vector<ir::Value*> finals(node->numOutputs());
      for (int i = 0; i < node->numOutputs(); ++i) {
        if (ictx.replacementConstants()[i]) {
          finals[i] = nullptr;  // created after the node is gone, so it can take the name
        } else {
          finals[i] = ictx.replacementValues()[i];
          if (!finals[i] && !np.output(i).empty())
            return InternalError("{}: import hook left output {} without a replacement", frame(), i);
        }
      }
      std::vector<ir::Value*> olds = node->outputs();
      g_.removeNode(node);
      for (int i = 0; i < static_cast<int>(olds.size()); ++i) {
        if (np.output(i).empty()) continue;
        g_.eraseValueName(olds[i]);
        if (ictx.replacementConstants()[i]) finals[i] = g_.addConstant(outNames[i], *ictx.replacementConstants()[i]);
        names[np.output(i)] = finals[i];
      }
      return Status::OK();
    }
  }
  // Arity is checked after the hook: older forms (Slice < 10) carry attributes instead of inputs.
  while (node->numInputs() > 0 && node->input(node->numInputs() - 1) == nullptr) node->removeTrailingInputs(1);
  {
    const int nIn = node->numInputs();
    if (nIn < def->minInputs || (def->maxInputs >= 0 && nIn > def->maxInputs)) {
      std::string range = def->maxInputs < 0 ? fmt::format("at least {}", def->minInputs)
                          : def->minInputs == def->maxInputs ? std::to_string(def->minInputs)
                          : fmt::format("{} to {}", def->minInputs, def->maxInputs);
      return InvalidArgument("{}: has {} inputs; the op takes {}", frame(), nIn, range);
    }
    for (int i = 0; i < def->minInputs; ++i)
      if (!node->input(i)) return InvalidArgument("{}: required input {} is empty", frame(), i);
  }
  KILN_RETURN_IF_ERROR_CTX(ir::checkAndFillAttributes(*def, node->attrs()), frame());
  for (int i = 0; i < nOut; ++i)
    if (!np.output(i).empty()) names[np.output(i)] = node->output(i);
  if (opts_.inferShapes) KILN_RETURN_IF_ERROR(ir::inferNode(g_, *node));
  return Status::OK();
}

Status Importer::inlineFunction(const ::onnx::FunctionProto& fn, const ::onnx::NodeProto& call,
                                const std::string& callName, NameMap& names,
                                const std::string& prefix, const AttrSubst* outerSubst, int depth) {
  (void)prefix;
  // The body sees the caller's actual inputs under the function's formal names.
  NameMap local;
  for (int i = 0; i < fn.input_size(); ++i) {
    if (i < call.input_size() && !call.input(i).empty()) {
      auto it = names.find(call.input(i));
      if (it == names.end())
        return InvalidArgument("node '{}' (function {}): input '{}' is not defined", callName, fn.name(), call.input(i));
      local[fn.input(i)] = it->second;
    }
  }
  AttrSubst subst;
  for (const auto& a : call.attribute()) {
    if (!a.ref_attr_name().empty() && outerSubst) {
      auto it = outerSubst->find(a.ref_attr_name());
      if (it != outerSubst->end()) subst[a.name()] = it->second;
    } else {
      subst[a.name()] = &a;
    }
  }
  OpsetMap fnOpsets = opsets_;
  for (const auto& os : fn.opset_import()) fnOpsets[ir::canonicalDomain(os.domain())] = static_cast<int>(os.version());
  std::string innerPrefix = callName + "/";
  // Inner value names are prefixed so they never collide with the caller's.
  ::google::protobuf::RepeatedPtrField<::onnx::NodeProto> body;
  for (const auto& n : fn.node()) {
    ::onnx::NodeProto* c = body.Add();
    *c = n;
    for (auto& in : *c->mutable_input())
      if (!in.empty() && !local.count(in)) in = innerPrefix + in;
    for (auto& out : *c->mutable_output())
      if (!out.empty()) out = innerPrefix + out;
  }
  NameMap scope = local;
  KILN_RETURN_IF_ERROR(importNodes(body, scope, fnOpsets, innerPrefix, &subst, depth + 1));
  for (int i = 0; i < call.output_size() && i < fn.output_size(); ++i) {
    if (call.output(i).empty()) continue;
    auto it = scope.find(innerPrefix + fn.output(i));
    if (it == scope.end()) it = scope.find(fn.output(i));  // an output that is an input
    if (it == scope.end())
      return InvalidArgument("node '{}' (function {}): output '{}' is never produced", callName, fn.name(), fn.output(i));
    if (names.count(call.output(i)))
      return InvalidArgument("node '{}': output '{}' is already defined", callName, call.output(i));
    names[call.output(i)] = it->second;
  }
  return Status::OK();
}

Status Importer::importOutputs(const ::onnx::GraphProto& gp) {
  if (gp.output_size() == 0) return InvalidArgument("the graph has no outputs");
  for (const auto& out : gp.output()) {
    auto it = names_.find(out.name());
    if (it == names_.end())
      return InvalidArgument("graph output '{}' is not produced by any node, input or initializer", out.name());
    ir::Value* v = it->second;
    // The declared type fills in what inference left open (it is not required to be complete or
    // even valid: such declarations are ignored); a declared kind must match the computed one.
    if (auto declared = declaredType(out.type(), out.name()); declared.ok()) {
      if (v->dtype() == DType::kUndefined) {
        v->setKind(declared->kind);
        v->setType(declared->dtype);
      } else if (declared->kind != v->kind()) {
        return InvalidArgument("graph output '{}' is declared as {} but the graph computes {}", out.name(),
                               valueTypeName(declared->kind, declared->dtype), valueTypeName(v->kind(), v->dtype()));
      }
    }
    g_.addOutput(v);
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<ir::Graph>> importModel(const ::onnx::ModelProto& model,
                                               const std::string& baseDir,
                                               const ImportOptions& opts) {
  auto g = std::make_unique<ir::Graph>();
  Importer imp(model, baseDir, opts, *g);
  KILN_RETURN_IF_ERROR(imp.run());
  return g;
}

Result<std::unique_ptr<ir::Graph>> importModelBytes(const std::string& bytes,
                                                    const std::string& baseDir,
                                                    const ImportOptions& opts) {
  ::onnx::ModelProto model;
  KILN_RETURN_IF_ERROR(parseModelProto(bytes, &model));
  return importModel(model, baseDir, opts);
}

Result<std::unique_ptr<ir::Graph>> importModelFile(const std::string& path,
                                                   const ImportOptions& opts) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound("model file '{}' does not exist", path);
  if (fs::is_directory(path, ec)) return InvalidArgument("'{}' is a directory, not a model file", path);
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open model file '{}'", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto r = importModelBytes(bytes, fs::path(path).parent_path().string(), opts);
  if (!r.ok()) return std::move(r).takeStatus().withContext(path);
  return r;
}

}  // namespace kiln::onnx_import
