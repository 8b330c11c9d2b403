// ThreadPool: jobs on the callers' stacks, linked into a list that workers drain chunk by chunk.
// A caller returns only once every chunk ran and no worker still references its job.
#include "core/thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

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

void ThreadPool::runChunks(Job& job) {
  for (;;) {
    int64_t c = job.next.fetch_add(1, std::memory_order_relaxed);
    if (c >= job.chunks) return;
    int64_t b = c * job.per, e = std::min(job.n, b + job.per);
    if (b < e) job.fn(b, e);
    job.done.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::workerLoop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || jobs_ != nullptr; });
    if (stop_) return;
    Job* job = jobs_;
    // Unlink jobs whose chunks are all claimed; they finish with the threads already inside.
    if (job->next.load(std::memory_order_relaxed) >= job->chunks) {
      jobs_ = job->link;
      continue;
    }
    ++job->workers;
    lk.unlock();
    runChunks(*job);
    lk.lock();
    --job->workers;
    if (jobs_ == job && job->next.load(std::memory_order_relaxed) >= job->chunks) jobs_ = job->link;
    doneCv_.notify_all();
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t maxChunks = std::min<int64_t>(numThreads(), (n + grain - 1) / grain);
  if (maxChunks <= 1 || numWorkers_ == 0) {
    fn(0, n);
    return;
  }
  // A few chunks per thread balances uneven work without much claiming overhead.
  const int64_t chunks = std::min<int64_t>(maxChunks * 4, (n + grain - 1) / grain);
  Job job{fn, n, chunks, (n + chunks - 1) / chunks};
  {
    std::lock_guard<std::mutex> lk(mu_);
    job.link = jobs_;
    jobs_ = &job;
  }
  cv_.notify_all();
  runChunks(job);
  std::unique_lock<std::mutex> lk(mu_);
  // Unlink our job if no worker did, then wait for the workers still inside it.
  for (Job** p = &jobs_; *p; p = &(*p)->link) {
    if (*p == &job) {
      *p = job.link;
      break;
    }
  }
  doneCv_.wait(lk, [&] { return job.done.load(std::memory_order_acquire) >= job.chunks && job.workers == 0; });
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
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
std::once_flag& initFlag() {
  static std::once_flag f;
  return f;
}
}  // namespace

ThreadPool& ThreadPool::global() {
  std::call_once(initFlag(), [] { globalSlot() = std::make_unique<ThreadPool>(defaultThreads()); });
  return *globalSlot();
}

void ThreadPool::setGlobalThreads(int numThreads) {
  std::call_once(initFlag(), [] {});
  globalSlot() = std::make_unique<ThreadPool>(numThreads);
}

}  // namespace kiln
