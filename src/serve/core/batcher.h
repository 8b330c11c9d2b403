// The dynamic batcher's decisions, without threads: a queue of pending requests per priority
// level and the rule that turns its head into a batch. The scheduler (scheduler.h) owns one,
// locks it, and asks next() whenever an instance is free or a timer fires.
//
// Rules (Triton's dynamic batcher, simplified where noted):
// - Levels are served in order (level 0 = priority 1, the highest); within a level, requests that
//   have not timed out come first, then those whose timeout passed with timeout_action DELAY.
//   Timed-out requests with REJECT are handed back for rejection.
// - A batch is a prefix of that order whose requests have the same non-batch shapes (signature)
//   and whose batch sizes sum to at most max_batch_size. The prefix stops at the first
//   incompatible request, which then heads the next batch (order is never overtaken).
// - It runs at once when it reaches the largest preferred batch size (max_batch_size when none
//   is given), when the whole queue forms exactly a preferred size, when the next request would not fit, when an incompatible request waits behind
//   it, when max_queue_delay is 0, or when its oldest request has waited max_queue_delay.
//   Otherwise the batcher waits for more requests until that delay. (Triton would also cut a
//   delayed batch back to a preferred size; Kiln runs what it has.)
// - Without dynamic batching, each request runs alone.
// - push() refuses a request when its level already holds max_queue_size requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "kiln/status.h"
#include "serve/core/request_check.h"
#include "serve/inference_server.h"

namespace kiln::serve {

using Clock = std::chrono::steady_clock;

struct Pending {
  std::unique_ptr<InferRequest> req;
  CheckedRequest info;
  Clock::time_point enqueued{};
  Clock::time_point deadline = Clock::time_point::max();  // enqueued + timeout
  uint64_t seq = 0;  // arrival order (for preserve_ordering)
};

struct BatcherOptions {
  int maxBatchSize = 0;  // the model's; 0 = requests do not batch
  bool dynamic = false;
  std::vector<int> preferred;  // ascending
  uint64_t maxDelayUs = 0;
  std::vector<uint32_t> maxQueueSize = {0};  // per level (size = number of levels); 0 = unbounded
};

class BatchQueue {
 public:
  explicit BatchQueue(BatcherOptions opts);

  // Queues `p` (moved from on success). Unavailable when its level is full; `p` stays intact.
  Status push(Pending& p);

  struct Decision {
    std::vector<Pending> batch;    // to run now (empty: nothing to run)
    std::vector<Pending> expired;  // timed out with REJECT: answer with an error
    std::optional<Clock::time_point> wakeAt;  // nothing to run yet: look again by then
  };
  // `flush`: run whatever is there without waiting (shutdown drain).
  Decision next(Clock::time_point now, bool flush);

  std::vector<Pending> takeAll();
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  struct Level {
    std::deque<Pending> normal, delayed;
  };
  void expire(Clock::time_point now, std::vector<Pending>& expired);
  BatcherOptions opts_;
  std::vector<Level> levels_;
  size_t size_ = 0;
  Clock::time_point nextDeadline_ = Clock::time_point::max();
};

}  // namespace kiln::serve
