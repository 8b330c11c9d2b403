// Compiles symbolic dims (Dim expression trees over the input dims' symbols) into the plan's
// shape program, with common subexpressions shared.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "plan/plan.h"

namespace kiln::build {

class ShapeCompiler {
 public:
  // Binds every symbolic input dim: the first occurrence of a symbol becomes an input-dim
  // instruction; later occurrences must equal it at run time (checked by the context).
  // `boundOf` gives a data-dependent symbol's upper bound (unknown: not supported); such a symbol
  // compiles to a kRuntime register sized by the bound until the producing layer has run.
  explicit ShapeCompiler(const std::vector<const ir::Value*>& inputs,
                         std::function<Dim(const std::string&)> boundOf = nullptr);

  // A plan dim for `d`; Unsupported when it depends on data or is unknown. `what` names the
  // tensor for the error.
  Result<plan::DimRef> compile(const Dim& d, const std::string& what);
  Result<std::vector<plan::DimRef>> compileShape(const Shape& s, const std::string& what);

  // The kRuntime register index (its Plan::runtimeDims position) when `d` is exactly a
  // data-dependent symbol compiled so far, else -1.
  int runtimeIndexOf(const Dim& d) const;
  int numRuntime() const { return static_cast<int>(runtimeRegs_.size()); }
  int32_t runtimeReg(int i) const { return runtimeRegs_[i]; }

  plan::ShapeProgram takeProgram() { return std::move(program_); }
  const plan::ShapeProgram& program() const { return program_; }

 private:
  Result<int32_t> emit(const Dim& d, const std::string& what);
  int32_t push(plan::ShapeInstr ins, const std::string& key);

  plan::ShapeProgram program_;
  std::map<std::string, int32_t> symbols_;  // symbol name -> register
  std::map<std::string, int32_t> cse_;      // expression text -> register
  std::function<Dim(const std::string&)> boundOf_;
  std::map<std::string, int> runtimeIndex_;  // data-dependent symbol -> its runtime dim index
  std::vector<int32_t> runtimeRegs_;         // runtime dim index -> kRuntime register
};

}  // namespace kiln::build
