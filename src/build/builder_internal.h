// Internal builder entry points (the public API is include/kiln/builder.h).
#pragma once

#include <memory>
#include <string>

#include "build/timing_cache.h"
#include "ir/graph.h"
#include "kiln/builder.h"
#include "plan/plan.h"

namespace kiln::build {

// Builds a plan from an imported graph (which it may specialize and re-infer).
Result<std::unique_ptr<plan::Plan>> buildPlan(ir::Graph& g, const BuildConfig& cfg, const std::string& modelName,
                                              uint64_t modelHash, TimingCache* cache, BuildReport* report);

// The timing cache key of this machine's CPU and libraries.
std::string cpuDeviceKey();

}  // namespace kiln::build
