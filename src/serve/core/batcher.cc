// Batch formation.
#include "serve/core/batcher.h"

#include <algorithm>

namespace kiln::serve {

BatchQueue::BatchQueue(BatcherOptions opts) : opts_(std::move(opts)) {
  if (opts_.maxQueueSize.empty()) opts_.maxQueueSize.push_back(0);
  // Constructed in place: a deque's move is not noexcept, so resize() would want to copy.
  levels_ = std::vector<Level>(opts_.maxQueueSize.size());
}

Status BatchQueue::push(Pending& p) {
  uint32_t lv = std::min<uint32_t>(p.info.priorityLevel, static_cast<uint32_t>(levels_.size() - 1));
  Level& L = levels_[lv];
  uint32_t cap = opts_.maxQueueSize[lv];
  if (cap > 0 && L.normal.size() + L.delayed.size() >= cap) return Unavailable("Exceeds maximum queue size");
  nextDeadline_ = std::min(nextDeadline_, p.deadline);
  L.normal.push_back(std::move(p));
  ++size_;
  return Status::OK();
}

void BatchQueue::expire(Clock::time_point now, std::vector<Pending>& expired) {
  if (now < nextDeadline_) return;
  nextDeadline_ = Clock::time_point::max();
  for (Level& L : levels_) {
    std::deque<Pending> keep;
    for (auto& p : L.normal) {
      if (p.deadline <= now) {
        if (p.info.delayOnTimeout) {
          p.deadline = Clock::time_point::max();  // delayed once; it runs eventually
          L.delayed.push_back(std::move(p));
        } else {
          expired.push_back(std::move(p));
          --size_;
        }
      } else {
        nextDeadline_ = std::min(nextDeadline_, p.deadline);
        keep.push_back(std::move(p));
      }
    }
    L.normal = std::move(keep);
  }
}

BatchQueue::Decision BatchQueue::next(Clock::time_point now, bool flush) {
  Decision d;
  expire(now, d.expired);
  if (size_ == 0) {
    if (nextDeadline_ != Clock::time_point::max()) d.wakeAt = nextDeadline_;
    return d;
  }
  // The candidates in serving order, as (deque, count taken) so the chosen prefix can be popped.
  std::vector<std::deque<Pending>*> order;
  for (Level& L : levels_) {
    if (!L.normal.empty()) order.push_back(&L.normal);
    if (!L.delayed.empty()) order.push_back(&L.delayed);
  }
  auto popPrefix = [&](size_t n) {
    for (auto* q : order) {
      while (n > 0 && !q->empty()) {
        d.batch.push_back(std::move(q->front()));
        q->pop_front();
        --n;
        --size_;
      }
      if (n == 0) break;
    }
  };
  if (!opts_.dynamic || opts_.maxBatchSize <= 0) {
    popPrefix(1);
    return d;
  }
  const Pending& head = order.front()->front();
  int64_t total = 0;
  size_t count = 0;
  bool full = false, blocked = false;
  Clock::time_point oldest = head.enqueued;
  for (auto* q : order) {
    for (const auto& p : *q) {
      if (p.info.signature != head.info.signature) {
        blocked = true;
        break;
      }
      if (total + p.info.batchSize > opts_.maxBatchSize) {
        full = true;
        break;
      }
      total += p.info.batchSize;
      oldest = std::min(oldest, p.enqueued);
      ++count;
    }
    if (blocked || full) break;
  }
  if (count == 0) {  // a single request larger than max_batch_size never reaches the queue
    popPrefix(1);
    return d;
  }
  int64_t target = opts_.preferred.empty() ? opts_.maxBatchSize : opts_.preferred.back();
  auto delay = std::chrono::microseconds(opts_.maxDelayUs);
  // Everything queued forms exactly a preferred size: run it now, as Triton does.
  bool preferredNow = std::find(opts_.preferred.begin(), opts_.preferred.end(), total) != opts_.preferred.end();
  if (flush || full || blocked || preferredNow || total >= target || opts_.maxDelayUs == 0 || now >= oldest + delay) {
    popPrefix(count);
    return d;
  }
  d.wakeAt = std::min(oldest + delay, nextDeadline_);
  return d;
}

std::vector<Pending> BatchQueue::takeAll() {
  std::vector<Pending> all;
  for (Level& L : levels_) {
    for (auto* q : {&L.normal, &L.delayed}) {
      for (auto& p : *q) all.push_back(std::move(p));
      q->clear();
    }
  }
  size_ = 0;
  nextDeadline_ = Clock::time_point::max();
  return all;
}

}  // namespace kiln::serve
