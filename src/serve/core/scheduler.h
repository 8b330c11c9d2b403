// The scheduler of one model version: a BatchQueue (batcher.h) fed by infer(), drained by one
// worker thread per instance. Each worker waits for a batch the batcher releases, runs it on its
// own instance, and answers every request of the batch. Requests rejected on arrival (queue
// full, shutting down) are answered inline; timed-out ones by the worker that notices.
//
// Guarantees: every request accepted by enqueue() is answered exactly once (the callback runs
// once, also on shutdown: queued requests still run until the deadline passed to stop(), and
// those left then are failed with Unavailable). With preserve_ordering, responses are delivered
// in arrival order whatever instance finishes first.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "serve/core/batcher.h"
#include "serve/core/instance.h"
#include "serve/core/model_spec.h"
#include "serve/core/model_stats.h"

namespace kiln::serve {

class Scheduler {
 public:
  // `defaultQueueBound`: the per-level queue limit where the config sets none.
  Scheduler(std::shared_ptr<const ModelSpec> spec, std::vector<std::unique_ptr<Instance>> instances,
            std::shared_ptr<ModelStats> stats, uint32_t defaultQueueBound);
  ~Scheduler();  // stop(0) if not stopped

  // Takes a checked request. Its callback runs exactly once (maybe inline on rejection).
  void enqueue(std::unique_ptr<InferRequest> req, const CheckedRequest& info);

  // Stops accepting; runs what is queued until `deadline`, fails the rest, waits for running
  // batches, joins the workers. Idempotent.
  void stop(Clock::time_point deadline);

  size_t queued() const;

 private:
  void worker(Instance* inst);
  void runBatch(Instance* inst, std::vector<Pending> batch);
  void fail(Pending p, Status st, FailureReason reason);
  void deliver(uint64_t seq, std::unique_ptr<InferRequest> req, std::unique_ptr<InferResponse> resp);

  std::shared_ptr<const ModelSpec> spec_;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::shared_ptr<ModelStats> stats_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // workers: work arrived or stopping
  std::condition_variable idleCv_;   // stop(): queue drained and no batch running
  BatchQueue queue_;
  bool stopping_ = false;
  bool stopped_ = false;
  int running_ = 0;                  // batches executing now
  uint64_t nextSeq_ = 0;

  // preserve_ordering: responses wait here until every earlier one was delivered.
  std::mutex orderMu_;
  uint64_t nextToDeliver_ = 0;
  std::map<uint64_t, std::pair<std::unique_ptr<InferRequest>, std::unique_ptr<InferResponse>>> held_;

  std::vector<std::thread> threads_;
};

}  // namespace kiln::serve
