// ThreadPool: a task queue drained by workers and by the caller of parallelFor.
#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>

#include "kiln/status.h"

namespace kiln {

ThreadPool::ThreadPool(int numThreads) : numWorkers_(std::max(1, numThreads) - 1) {
  for (int i = 0; i < numWorkers_; ++i) workers_.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::workerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stop_ || !tasks_.empty(); });
      if (stop_ && tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t maxChunks = std::min<int64_t>(numThreads(), (n + grain - 1) / grain);
  if (maxChunks <= 1 || numWorkers_ == 0) {
    fn(0, n);
    return;
  }
  // Chunks are claimed through a shared counter, so the caller can finish all of them itself if
  // the workers are busy with another context's work.
  struct Shared {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    std::mutex mu;
    std::condition_variable cv;
  };
  auto shared = std::make_shared<Shared>();
  const int64_t chunks = maxChunks * 4 <= n ? maxChunks * 4 : maxChunks;
  const int64_t per = (n + chunks - 1) / chunks;
  auto runChunks = [shared, chunks, per, n, &fn] {
    for (;;) {
      int64_t c = shared->next.fetch_add(1);
      if (c >= chunks) return;
      int64_t b = c * per, e = std::min(n, b + per);
      if (b < e) fn(b, e);
      if (shared->done.fetch_add(1) + 1 == chunks) {
        std::lock_guard<std::mutex> lk(shared->mu);
        shared->cv.notify_all();
      }
    }
  };
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (int64_t i = 0; i < maxChunks - 1; ++i) tasks_.emplace_back(runChunks);
  }
  cv_.notify_all();
  runChunks();
  std::unique_lock<std::mutex> lk(shared->mu);
  shared->cv.wait(lk, [&] { return shared->done.load() >= chunks; });
}

namespace {
std::unique_ptr<ThreadPool>& globalSlot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
int defaultThreads() {
  if (const char* env = std::getenv("KILN_NUM_THREADS")) {
    int v = std::atoi(env);
    if (v > 0) return v;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}
std::mutex& globalMu() {
  static std::mutex mu;
  return mu;
}
}  // namespace

ThreadPool& ThreadPool::global() {
  std::lock_guard<std::mutex> lk(globalMu());
  auto& slot = globalSlot();
  if (!slot) slot = std::make_unique<ThreadPool>(defaultThreads());
  return *slot;
}

void ThreadPool::setGlobalThreads(int numThreads) {
  std::lock_guard<std::mutex> lk(globalMu());
  globalSlot() = std::make_unique<ThreadPool>(numThreads);
}

}  // namespace kiln
