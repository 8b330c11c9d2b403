// Graph editing: value/node creation, use lists, topological sort and dead-node removal.
#include "ir/graph.h"

#include <algorithm>
#include <unordered_set>

#include <fmt/format.h>

#include "ir/op_registry.h"

namespace kiln::ir {

void Value::setConstant(Tensor t) {
  kind_ = ValueKind::kTensor;
  dtype_ = t.dtype();
  shape_ = Shape(t.dims());
  if (t.dtype() == DType::kInt64 && t.rank() <= 1 && t.numel() <= kMaxRank * 4) {
    std::vector<Dim> v;
    for (int64_t i = 0; i < t.numel(); ++i) v.emplace_back(t.data<int64_t>()[i]);
    symbolicValue_ = std::move(v);
  }
  constant_ = std::move(t);
}

void Node::setInput(int i, Value* v) {
  if (i >= numInputs()) inputs_.resize(i + 1, nullptr);
  if (Value* old = inputs_[i]) {
    auto& u = old->uses_;
    u.erase(std::find(u.begin(), u.end(), Use{this, i}));
  }
  inputs_[i] = v;
  if (v) v->uses_.push_back(Use{this, i});
}

void Node::removeTrailingInputs(int count) {
  for (int k = 0; k < count && !inputs_.empty(); ++k) {
    setInput(numInputs() - 1, nullptr);
    inputs_.pop_back();
  }
}

std::string Node::describe() const {
  return fmt::format("node '{}' ({}, domain {}, opset {})", name_, opType_,
                     domain_.empty() ? "ai.onnx" : domain_, opset_);
}

Value* Graph::findValue(const std::string& name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : it->second;
}

Value* Graph::createValue(const std::string& name) {
  KILN_CHECK(!byName_.count(name));
  auto v = std::make_unique<Value>();
  v->name_ = name;
  Value* p = v.get();
  values_.push_back(std::move(v));
  byName_[name] = p;
  return p;
}

std::string Graph::uniqueName(const std::string& hint) {
  std::string base = hint.empty() ? "v" : hint;
  if (!byName_.count(base)) return base;
  for (;;) {
    std::string n = fmt::format("{}__{}", base, ++nameCounter_);
    if (!byName_.count(n)) return n;
  }
}

Value* Graph::addInput(const std::string& name, DType dtype, Shape shape, ValueKind kind) {
  Value* v = createValue(name);
  v->kind_ = kind;
  v->dtype_ = dtype;
  v->shape_ = std::move(shape);
  v->isInput_ = true;
  inputs_.push_back(v);
  return v;
}

void Graph::removeInput(Value* v) {
  auto it = std::find(inputs_.begin(), inputs_.end(), v);
  if (it == inputs_.end()) return;
  inputs_.erase(it);
  v->isInput_ = false;
}

Value* Graph::addConstant(const std::string& name, Tensor t) {
  Value* v = createValue(uniqueName(name));
  v->setConstant(std::move(t));
  return v;
}

void Graph::eraseValueName(Value* v) {
  KILN_CHECK(v->producer_ == nullptr && v->uses_.empty() && !v->isInput_);
  byName_.erase(v->name_);
  v->name_ += "<erased>";
}

Value* Graph::newValue(const std::string& hint) { return createValue(uniqueName(hint)); }

bool Graph::isGraphOutput(const Value* v) const {
  return std::find(outputs_.begin(), outputs_.end(), v) != outputs_.end();
}

Node* Graph::addNode(const std::string& opType, const std::string& domain, int opset,
                     const std::string& name, const std::vector<Value*>& inputs,
                     const std::vector<std::string>& outputNames, AttrMap attrs) {
  auto n = std::make_unique<Node>();
  n->opType_ = opType;
  n->domain_ = domain;
  n->opset_ = opset;
  n->name_ = name;
  n->attrs_ = std::move(attrs);
  n->fusedFrom_ = {name};
  Node* p = n.get();
  for (size_t i = 0; i < inputs.size(); ++i) p->setInput(static_cast<int>(i), inputs[i]);
  for (size_t i = 0; i < outputNames.size(); ++i) {
    std::string on = outputNames[i].empty() ? uniqueName(fmt::format("{}_out{}", name, i))
                                            : outputNames[i];
    Value* v = byName_.count(on) ? newValue(on) : createValue(on);
    v->producer_ = p;
    v->producerOutput_ = static_cast<int>(i);
    p->outputs_.push_back(v);
  }
  nodes_.push_back(std::move(n));
  return p;
}

void Graph::removeNode(Node* n) {
  for (int i = 0; i < n->numInputs(); ++i) n->setInput(i, nullptr);
  for (Value* o : n->outputs_) {
    KILN_CHECK(o->uses_.empty() && !isGraphOutput(o));
    o->producer_ = nullptr;
  }
  n->dead_ = true;
}

void Graph::makeConstant(Value* v, Tensor t) {
  if (Node* p = v->producer_) {
    Value* dummy = newValue(v->name_ + "_folded");
    dummy->producer_ = p;
    dummy->producerOutput_ = v->producerOutput_;
    dummy->kind_ = v->kind_;
    dummy->dtype_ = v->dtype_;
    dummy->shape_ = v->shape_;
    p->outputs_[v->producerOutput_] = dummy;
    v->producer_ = nullptr;
    v->producerOutput_ = -1;
  }
  v->setConstant(std::move(t));
}

void Graph::takeOver(Value* v, Node* n, int i) {
  Value* fresh = n->outputs_[i];
  KILN_CHECK(fresh->uses_.empty() && !isGraphOutput(fresh) && fresh != v);
  if (Node* p = v->producer_) {
    Value* dummy = newValue(v->name_ + "_replaced");
    dummy->producer_ = p;
    dummy->producerOutput_ = v->producerOutput_;
    dummy->kind_ = v->kind_;
    dummy->dtype_ = v->dtype_;
    dummy->shape_ = v->shape_;
    p->outputs_[v->producerOutput_] = dummy;
  }
  fresh->producer_ = nullptr;
  fresh->producerOutput_ = -1;
  n->outputs_[i] = v;
  v->producer_ = n;
  v->producerOutput_ = i;
  v->kind_ = fresh->kind_;
  v->dtype_ = fresh->dtype_;
  v->shape_ = fresh->shape_;
  v->symbolicValue_ = fresh->symbolicValue_;
}

void Graph::replaceAllUses(Value* from, Value* to) {
  auto uses = from->uses_;
  for (const Use& u : uses) u.node->setInput(u.inputIndex, to);
  for (Value*& o : outputs_)
    if (o == from) o = to;
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (const auto& n : nodes_)
    if (!n->dead_) out.push_back(n.get());
  return out;
}

size_t Graph::numNodes() const {
  size_t c = 0;
  for (const auto& n : nodes_) c += !n->dead_;
  return c;
}

std::vector<Value*> Graph::constants() const {
  std::vector<Value*> out;
  for (const auto& v : values_)
    if (v->isConstant()) out.push_back(v.get());
  return out;
}

Status Graph::topoSort() {
  // Kahn's algorithm, seeded in the current order so an already sorted graph keeps its order.
  std::vector<std::unique_ptr<Node>> live;
  for (auto& n : nodes_)
    if (!n->dead_) live.push_back(std::move(n));
  nodes_.clear();
  std::unordered_map<const Node*, int> pending;
  std::unordered_map<const Node*, size_t> index;
  for (size_t i = 0; i < live.size(); ++i) index[live[i].get()] = i;
  for (auto& n : live) {
    int cnt = 0;
    for (Value* in : n->inputs_) {
      if (!in) continue;
      if (in->producer_) {
        if (!index.count(in->producer_))
          return InvalidArgument("{}: input '{}' is produced by a removed node", n->describe(), in->name());
        ++cnt;
      } else if (!in->isInput_ && !in->isConstant()) {
        return InvalidArgument("{}: input '{}' is not a graph input, an initializer, or the output of any node",
                               n->describe(), in->name());
      }
    }
    pending[n.get()] = cnt;
  }
  std::vector<size_t> ready;
  for (size_t i = 0; i < live.size(); ++i)
    if (pending[live[i].get()] == 0) ready.push_back(i);
  std::vector<std::unique_ptr<Node>> sorted;
  // Process in index order among ready nodes (min-heap via sorted insertion keeps it stable).
  std::make_heap(ready.begin(), ready.end(), std::greater<>());
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), std::greater<>());
    size_t i = ready.back();
    ready.pop_back();
    Node* n = live[i].get();
    for (Value* o : n->outputs_) {
      for (const Use& u : o->uses_) {
        if (--pending[u.node] == 0) {
          ready.push_back(index[u.node]);
          std::push_heap(ready.begin(), ready.end(), std::greater<>());
        }
      }
    }
    sorted.push_back(std::move(live[i]));
  }
  if (sorted.size() != live.size()) {
    std::string name;
    for (auto& n : live)
      if (n) { name = n->describe(); break; }
    for (auto& n : live)
      if (n) sorted.push_back(std::move(n));
    nodes_ = std::move(sorted);
    return InvalidArgument("the graph has a cycle (through {})", name);
  }
  nodes_ = std::move(sorted);
  return Status::OK();
}

int Graph::removeDeadNodes() {
  std::unordered_set<const Node*> live;
  std::vector<const Value*> stack(outputs_.begin(), outputs_.end());
  while (!stack.empty()) {
    const Value* v = stack.back();
    stack.pop_back();
    if (!v || !v->producer_ || live.count(v->producer_)) continue;
    live.insert(v->producer_);
    for (Value* in : v->producer_->inputs_) stack.push_back(in);
  }
  int removed = 0;
  // Walk backwards so consumers go before producers.
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    Node* n = it->get();
    if (n->dead_ || live.count(n)) continue;
    for (int i = 0; i < n->numInputs(); ++i) n->setInput(i, nullptr);
    for (Value* o : n->outputs_) o->producer_ = nullptr;
    n->dead_ = true;
    ++removed;
  }
  return removed;
}

}  // namespace kiln::ir
