// Tactic choice for one layer: the candidates the backend offers for it, timed on the target at
// the profile's opt shapes when there is a real choice (optimization level >= 3), each checked
// numerically against the reference kernel before it may win. Results go to the timing cache.
#pragma once

#include <string>
#include <vector>

#include "build/timing_cache.h"
#include "kiln/builder.h"
#include "plan/plan.h"

namespace kiln::build {

struct TacticChoice {
  std::string tactic;
  double microseconds = -1;
  bool timed = false;
  bool fromCache = false;
  // Every candidate timed for this choice (tactic, median us, passed the self-check), for the
  // build report; empty when nothing was timed.
  std::vector<TacticTiming::Candidate> candidates;
};

class TacticTimer {
 public:
  TacticTimer(const BuildConfig& cfg, TimingCache* cache) : cfg_(cfg), cache_(cache) {}
  // `dims`: every tensor's concrete dims at the opt shapes of profile 0.
  Result<TacticChoice> choose(const plan::Plan& p, const plan::LayerInfo& layer, const std::vector<Dims>& dims);

 private:
  const BuildConfig& cfg_;
  TimingCache* cache_;
};

// A stable text key of a layer for the timing cache: op, attributes, input types and opt dims,
// and the candidate tactics.
std::string layerKey(const plan::Plan& p, const plan::LayerInfo& layer, const std::vector<Dims>& dims,
                     const std::vector<std::string>& candidates);

}  // namespace kiln::build
