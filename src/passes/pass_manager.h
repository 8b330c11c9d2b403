// The ordered optimization pipeline. After each pass the graph is re-sorted, re-inferred and
// verified, so a broken rewrite is caught at the pass that made it.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "passes/pass.h"

namespace kiln::passes {

struct PassReport {
  std::string pass;
  size_t nodesBefore = 0, nodesAfter = 0;
  int changes = 0;
  std::string detail;
  double milliseconds = 0;
};

struct PipelineOptions {
  std::vector<std::string> only;         // run only these passes (in pipeline order); empty = all
  std::set<std::string> disabled;        // skip these
  std::string dumpAfter;                 // print the graph after this pass to `dumpTo`
  std::function<void(const std::string& text)> dumpTo;
};

class PassManager {
 public:
  // The default pipeline, in order.
  static PassManager standard();
  // Names of the standard pipeline's passes (for --help and validation).
  static std::vector<std::string> standardNames();

  void add(std::unique_ptr<Pass> p) { passes_.push_back(std::move(p)); }
  Result<std::vector<PassReport>> run(ir::Graph& g, const PassContext& ctx, const PipelineOptions& opts = {}) const;

 private:
  std::vector<std::unique_ptr<Pass>> passes_;
};

}  // namespace kiln::passes
