// The memory planner: no two tensors alive at once share bytes; reuse brings the arena near the
// live peak; a chain reuses two buffers.
#include <gtest/gtest.h>

#include <random>

#include "build/memory_planner.h"

namespace kiln::build {
namespace {

void expectNoOverlap(const std::vector<BufferRequest>& r, const MemoryPlan& p) {
  for (size_t i = 0; i < r.size(); ++i)
    for (size_t j = i + 1; j < r.size(); ++j) {
      bool timeOverlap = r[i].first <= r[j].last && r[j].first <= r[i].last;
      bool byteOverlap = p.offsets[i] < p.offsets[j] + r[j].bytes && p.offsets[j] < p.offsets[i] + r[i].bytes;
      EXPECT_FALSE(timeOverlap && byteOverlap && r[i].bytes && r[j].bytes) << i << " vs " << j;
    }
  for (size_t i = 0; i < r.size(); ++i) EXPECT_LE(p.offsets[i] + r[i].bytes, p.arenaBytes);
}

TEST(MemoryPlanner, ChainReusesTwoBuffers) {
  // t0 -> t1 -> t2 -> t3: each lives from its producer to its consumer.
  std::vector<BufferRequest> r = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}};
  MemoryPlan p = planMemory(r);
  expectNoOverlap(r, p);
  EXPECT_EQ(p.arenaBytes, 2 * 1024u);  // 1000 rounded up to 64-byte alignment
  EXPECT_EQ(p.naiveBytes, 4 * 1024u);
  EXPECT_EQ(p.peakLiveBytes, 2 * 1024u);
}

TEST(MemoryPlanner, RandomLifetimesNeverOverlap) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<BufferRequest> r;
    for (int i = 0; i < 60; ++i) {
      int first = static_cast<int>(rng() % 50);
      r.push_back({static_cast<uint64_t>(1 + rng() % 5000), first, first + static_cast<int>(rng() % 8)});
    }
    MemoryPlan p = planMemory(r);
    expectNoOverlap(r, p);
    EXPECT_GE(p.arenaBytes, p.peakLiveBytes);
    EXPECT_LE(p.arenaBytes, p.naiveBytes);
    EXPECT_LT(p.arenaBytes, p.peakLiveBytes * 2);  // greedy-by-size stays near the bound here
  }
}

}  // namespace
}  // namespace kiln::build
