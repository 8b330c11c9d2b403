// PassManager: runs passes in order, validating the graph after each.
#include "passes/pass_manager.h"

#include <chrono>

#include <fmt/format.h>

#include "ir/infer.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/passes.h"

namespace kiln::passes {

PassManager PassManager::standard() {
  PassManager pm;
  for (auto& p : makeStandardPasses()) pm.add(std::move(p));
  return pm;
}

std::vector<std::string> PassManager::standardNames() {
  std::vector<std::string> names;
  for (auto& p : makeStandardPasses()) names.push_back(p->name());
  return names;
}

Result<std::vector<PassReport>> PassManager::run(ir::Graph& g, const PassContext& ctx,
                                                 const PipelineOptions& opts) const {
  for (const auto& n : opts.only) {
    bool known = false;
    for (const auto& p : passes_) known |= n == p->name();
    if (!known) return InvalidArgument("unknown pass '{}' (known: {})", n, fmt::join(standardNames(), ", "));
  }
  for (const auto& n : opts.disabled) {
    bool known = false;
    for (const auto& p : passes_) known |= n == p->name();
    if (!known) return InvalidArgument("unknown pass '{}' (known: {})", n, fmt::join(standardNames(), ", "));
  }
  std::vector<PassReport> reports;
  for (const auto& p : passes_) {
    if (opts.disabled.count(p->name())) continue;
    if (!opts.only.empty() && std::find(opts.only.begin(), opts.only.end(), p->name()) == opts.only.end()) continue;
    PassReport rep;
    rep.pass = p->name();
    rep.nodesBefore = g.numNodes();
    auto t0 = std::chrono::steady_clock::now();
    auto r = p->run(g, ctx);
    if (!r.ok()) return std::move(r).takeStatus().withContext(fmt::format("pass {}", p->name()));
    g.removeDeadNodes();
    KILN_RETURN_IF_ERROR_CTX(g.topoSort(), fmt::format("after pass {}", p->name()));
    KILN_RETURN_IF_ERROR_CTX(ir::inferGraph(g), fmt::format("after pass {}", p->name()));
    KILN_RETURN_IF_ERROR_CTX(ir::verifyGraph(g), fmt::format("after pass {}", p->name()));
    rep.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    rep.nodesAfter = g.numNodes();
    rep.changes = r->changes;
    rep.detail = r->detail;
    reports.push_back(rep);
    if (opts.dumpAfter == p->name() && opts.dumpTo)
      opts.dumpTo(fmt::format("=== graph after pass {} ===\n{}", p->name(), ir::printGraph(g)));
  }
  return reports;
}

}  // namespace kiln::passes
