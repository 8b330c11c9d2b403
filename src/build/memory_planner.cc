// Greedy-by-size arena planning.
#include "build/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace kiln::build {

MemoryPlan planMemory(const std::vector<BufferRequest>& req, uint64_t alignment) {
  MemoryPlan plan;
  const size_t n = req.size();
  plan.offsets.assign(n, 0);
  auto aligned = [alignment](uint64_t b) { return (b + alignment - 1) / alignment * alignment; };
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return req[a].bytes > req[b].bytes; });
  std::vector<size_t> placed;
  for (size_t i : order) {
    plan.naiveBytes += aligned(req[i].bytes);
    if (req[i].bytes == 0) continue;
    // Intervals taken (in bytes) by placed tensors that are alive at the same time.
    std::vector<std::pair<uint64_t, uint64_t>> busy;
    for (size_t j : placed)
      if (req[j].first <= req[i].last && req[i].first <= req[j].last)
        busy.emplace_back(plan.offsets[j], plan.offsets[j] + aligned(req[j].bytes));
    std::sort(busy.begin(), busy.end());
    uint64_t need = aligned(req[i].bytes), off = 0;
    for (const auto& [b, e] : busy) {
      if (b >= off + need) break;  // fits in the gap before this interval
      off = std::max(off, e);
    }
    plan.offsets[i] = off;
    plan.arenaBytes = std::max(plan.arenaBytes, off + need);
    placed.push_back(i);
  }
  // Peak of live bytes over time.
  int steps = 0;
  for (const auto& r : req) steps = std::max(steps, r.last + 1);
  std::vector<uint64_t> live(steps + 1, 0);
  for (const auto& r : req) {
    if (r.bytes == 0) continue;
    for (int s = r.first; s <= r.last; ++s) live[s] += aligned(r.bytes);
  }
  for (uint64_t v : live) plan.peakLiveBytes = std::max(plan.peakLiveBytes, v);
  return plan;
}

}  // namespace kiln::build
