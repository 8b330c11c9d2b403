// ThreadPool: every index runs exactly once, under concurrent and nested callers.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace kiln {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  ThreadPool pool(4);
  for (int64_t n : {1, 7, 100, 4097, 100000}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallelFor(n, 3, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ThreadPool, ConcurrentAndNestedCallers) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep) {
        pool.parallelFor(64, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            // Nested parallelism must not deadlock even when every worker is busy.
            pool.parallelFor(10, 1, [&](int64_t bb, int64_t ee) { total += ee - bb; });
          }
        });
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(total.load(), 4 * 50 * 64 * 10);
}

}  // namespace
}  // namespace kiln
