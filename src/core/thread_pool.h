// A fixed pool of worker threads for data-parallel CPU kernels. parallelFor splits [0, n) into
// chunks; the calling thread works too, so nested or concurrent calls from several execution
// contexts make progress without deadlock. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {

class ThreadPool {
 public:
  explicit ThreadPool(int numThreads);  // total threads including the caller; >= 1
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int numThreads() const { return numWorkers_ + 1; }

  // Runs fn(begin, end) over disjoint ranges covering [0, n). `grain` is the smallest range worth
  // a task (work below grain*2 runs inline on the caller).
  void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // The process-wide pool used by CPU kernels; size from KILN_NUM_THREADS or the core count.
  static ThreadPool& global();
  // Replaces the global pool's size (not while kernels run).
  static void setGlobalThreads(int numThreads);

 private:
  struct Job;
  void workerLoop();

  int numWorkers_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
};

// Convenience: ThreadPool::global().parallelFor(...).
inline void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  ThreadPool::global().parallelFor(n, grain, fn);
}

}  // namespace kiln
