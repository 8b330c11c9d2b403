// A fixed pool of worker threads for data-parallel CPU kernels. parallelFor splits [0, n) into
// chunks that the calling thread and idle workers claim; the caller works too, so concurrent calls
// from several execution contexts (and nested calls) always make progress. parallelFor allocates
// nothing: the job lives on the caller's stack and the callable is passed by reference.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "core/function_ref.h"

namespace kiln {

class ThreadPool {
 public:
  explicit ThreadPool(int numThreads);  // total threads including the caller; >= 1
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int numThreads() const { return numWorkers_ + 1; }

  // Runs fn(begin, end) over disjoint ranges covering [0, n). `grain` is the smallest range worth
  // splitting off (work below 2*grain runs inline on the caller).
  void parallelFor(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn);

  // The process-wide pool used by CPU kernels; size from KILN_NUM_THREADS or the core count.
  static ThreadPool& global();
  // Replaces the global pool (not while kernels run).
  static void setGlobalThreads(int numThreads);

 private:
  struct Job {
    FunctionRef<void(int64_t, int64_t)> fn;
    int64_t n, chunks, per;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    int workers = 0;  // workers currently inside this job (guarded by mu_)
    Job* link = nullptr;
  };
  void workerLoop();
  static void runChunks(Job& job);

  int numWorkers_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;       // workers wait for jobs
  std::condition_variable doneCv_;   // callers wait for their job
  Job* jobs_ = nullptr;              // jobs with unclaimed chunks (intrusive list)
  bool stop_ = false;
};

inline void parallelFor(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn) {
  ThreadPool::global().parallelFor(n, grain, fn);
}

}  // namespace kiln
