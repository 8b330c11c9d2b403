// Shape program compilation.
#include "build/shape_compiler.h"

#include <fmt/format.h>

namespace kiln::build {

ShapeCompiler::ShapeCompiler(const std::vector<const ir::Value*>& inputs, std::function<Dim(const std::string&)> boundOf)
    : boundOf_(std::move(boundOf)) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& s = inputs[i]->shape();
    for (int a = 0; a < s.rank(); ++a) {
      const Dim& d = s[a];
      if (!d.isSymbolic() || d.expr()->op != DimExpr::Op::kSymbol) continue;
      if (symbols_.count(d.symbolName())) continue;
      plan::ShapeInstr ins{plan::ShapeInstr::kInputDim, static_cast<int32_t>(i), a, 0};
      symbols_[d.symbolName()] = push(ins, "");
    }
  }
}

int32_t ShapeCompiler::push(plan::ShapeInstr ins, const std::string& key) {
  program_.instrs.push_back(ins);
  int32_t reg = static_cast<int32_t>(program_.instrs.size() - 1);
  if (!key.empty()) cse_[key] = reg;
  return reg;
}

Result<int32_t> ShapeCompiler::emit(const Dim& d, const std::string& what) {
  if (d.isStatic()) {
    std::string key = "#" + std::to_string(d.value());
    auto it = cse_.find(key);
    if (it != cse_.end()) return it->second;
    return push({plan::ShapeInstr::kConst, -1, -1, d.value()}, key);
  }
  if (d.isUnknown())
    return Unsupported("{} has a dimension Kiln could not infer at build time; engines need every shape to "
                       "follow from the input shapes", what);
  const DimExpr& e = *d.expr();
  auto it = cse_.find(e.text);
  if (it != cse_.end()) return it->second;
  if (e.op == DimExpr::Op::kSymbol) {
    auto s = symbols_.find(e.name);
    if (s != symbols_.end()) return s->second;
    const Dim bound = boundOf_ ? boundOf_(e.name) : Dim::unknown();
    if (bound.isUnknown())
      return Unsupported("{} has a data-dependent dimension '{}' (its size depends on tensor values, not on "
                         "the input shapes) with no upper bound Kiln can derive from the input shapes", what, e.name);
    // Sized by the bound until the producing layer has run (ShapeInstr::kRuntime).
    KILN_ASSIGN_OR_RETURN(int32_t boundReg, emit(bound, what));
    const int index = static_cast<int>(runtimeRegs_.size());
    const int32_t reg = push({plan::ShapeInstr::kRuntime, boundReg, index, 0}, e.text);
    runtimeRegs_.push_back(reg);
    runtimeIndex_[e.name] = index;
    symbols_[e.name] = reg;
    return reg;
  }
  if (e.op == DimExpr::Op::kProduct) {
    KILN_ASSIGN_OR_RETURN(int32_t acc, emit(Dim(e.coef), what));
    for (const Dim& f : e.args) {
      KILN_ASSIGN_OR_RETURN(int32_t r, emit(f, what));
      acc = push({plan::ShapeInstr::kMul, acc, r, 0}, "");
    }
    cse_[e.text] = acc;
    return acc;
  }
  KILN_ASSIGN_OR_RETURN(int32_t a, emit(e.args[0], what));
  KILN_ASSIGN_OR_RETURN(int32_t b, emit(e.args[1], what));
  plan::ShapeInstr::Op op;
  switch (e.op) {
    case DimExpr::Op::kAdd: op = plan::ShapeInstr::kAdd; break;
    case DimExpr::Op::kSub: op = plan::ShapeInstr::kSub; break;
    case DimExpr::Op::kFloorDiv: op = plan::ShapeInstr::kFloorDiv; break;
    case DimExpr::Op::kCeilDiv: op = plan::ShapeInstr::kCeilDiv; break;
    case DimExpr::Op::kMax: op = plan::ShapeInstr::kMax; break;
    case DimExpr::Op::kMin: op = plan::ShapeInstr::kMin; break;
    default: return InternalError("unknown dim expression in {}", what);
  }
  return push({op, a, b, 0}, e.text);
}

int ShapeCompiler::runtimeIndexOf(const Dim& d) const {
  if (!d.isSymbolic() || d.expr()->op != DimExpr::Op::kSymbol) return -1;
  auto it = runtimeIndex_.find(d.symbolName());
  return it == runtimeIndex_.end() ? -1 : it->second;
}

Result<plan::DimRef> ShapeCompiler::compile(const Dim& d, const std::string& what) {
  if (d.isStatic()) return plan::DimRef{d.value(), -1};
  KILN_ASSIGN_OR_RETURN(int32_t reg, emit(d, what));
  return plan::DimRef{0, reg};
}

Result<std::vector<plan::DimRef>> ShapeCompiler::compileShape(const Shape& s, const std::string& what) {
  if (!s.rankKnown())
    return Unsupported("{} has an unknown rank at build time; engines need every shape to follow from the "
                       "input shapes", what);
  std::vector<plan::DimRef> out;
  for (int i = 0; i < s.rank(); ++i) {
    KILN_ASSIGN_OR_RETURN(plan::DimRef r, compile(s[i], what));
    out.push_back(r);
  }
  return out;
}

}  // namespace kiln::build
