// Graph printer.
#include "ir/printer.h"

#include <fmt/format.h>

namespace kiln::ir {

std::string describeValue(const Value& v) {
  return fmt::format("%{}: {}", v.name(),
                     wrapValueKind(v.kind(), fmt::format("{}{}", dtypeName(v.dtype()), v.shape().toString())));
}

std::string printNode(const Node& n, const PrintOptions& opts) {
  std::string outs;
  for (int i = 0; i < n.numOutputs(); ++i) {
    if (i) outs += ", ";
    outs += describeValue(*n.output(i));
  }
  std::string ins;
  for (int i = 0; i < n.numInputs(); ++i) {
    if (i) ins += ", ";
    ins += n.input(i) ? "%" + n.input(i)->name() : "<none>";
  }
  std::string attrs;
  for (const auto& [k, v] : n.attrs().entries()) {
    std::string s = v.toString();
    if (static_cast<int>(s.size()) > opts.maxAttrLength) s = s.substr(0, opts.maxAttrLength) + "...";
    attrs += fmt::format("{}{}={}", attrs.empty() ? "" : ", ", k, s);
  }
  std::string op = n.domain().empty() ? n.opType() : n.domain() + ":" + n.opType();
  return fmt::format("{} = {}({}){}  # {}", outs, op, ins, attrs.empty() ? "" : " {" + attrs + "}",
                     n.name());
}

std::string printGraph(const Graph& g, const PrintOptions& opts) {
  std::string s = fmt::format("graph '{}'", g.name());
  for (const auto& [d, v] : g.opsets()) s += fmt::format(" {}={}", d.empty() ? "ai.onnx" : d, v);
  s += "\n";
  for (const Value* in : g.inputs()) s += "  input " + describeValue(*in) + "\n";
  auto consts = g.constants();
  if (opts.showConstants) {
    for (const Value* c : consts) s += "  const " + describeValue(*c) + "\n";
  } else if (!consts.empty()) {
    s += fmt::format("  ({} constants)\n", consts.size());
  }
  for (const Node* n : g.nodes()) s += "  " + printNode(*n, opts) + "\n";
  for (const Value* o : g.outputs()) s += "  output %" + o->name() + "\n";
  return s;
}

}  // namespace kiln::ir
