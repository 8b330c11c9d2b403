// Scheduler threads.
#include "serve/core/scheduler.h"

#include "serve/core/log.h"

namespace kiln::serve {

namespace {
uint64_t nsBetween(Clock::time_point a, Clock::time_point b) {
  return b <= a ? 0 : static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

BatcherOptions batcherOptions(const ModelSpec& spec, uint32_t defaultBound) {
  BatcherOptions o;
  o.maxBatchSize = spec.maxBatchSize;
  o.dynamic = spec.dynamicBatching;
  o.preferred = spec.preferredBatchSizes;
  o.maxDelayUs = spec.maxQueueDelayUs;
  uint32_t levels = std::max<uint32_t>(1, spec.priorityLevels);
  o.maxQueueSize.assign(levels, 0);
  for (uint32_t l = 0; l < levels; ++l) {
    const QueuePolicy* p = &spec.defaultQueuePolicy;
    if (auto it = spec.priorityQueuePolicy.find(l + 1); it != spec.priorityQueuePolicy.end()) p = &it->second;
    o.maxQueueSize[l] = p->maxQueueSize > 0 ? p->maxQueueSize : defaultBound;
  }
  return o;
}
}  // namespace

Scheduler::Scheduler(std::shared_ptr<const ModelSpec> spec, std::vector<std::unique_ptr<Instance>> instances,
                     std::shared_ptr<ModelStats> stats, uint32_t defaultQueueBound)
    : spec_(std::move(spec)),
      instances_(std::move(instances)),
      stats_(std::move(stats)),
      queue_(batcherOptions(*spec_, defaultQueueBound)) {
  for (auto& inst : instances_) threads_.emplace_back([this, i = inst.get()] { worker(i); });
}

Scheduler::~Scheduler() { stop(Clock::now()); }

size_t Scheduler::queued() const {
  std::lock_guard<std::mutex> lk(mu_);
  return queue_.size();
}

void Scheduler::enqueue(std::unique_ptr<InferRequest> req, const CheckedRequest& info) {
  Pending p;
  p.info = info;
  p.enqueued = Clock::now();
  if (info.timeoutUs > 0) p.deadline = p.enqueued + std::chrono::microseconds(info.timeoutUs);
  p.req = std::move(req);
  Status st;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) {
      st = Unavailable("model '{}' version {} is unloading; not accepting requests", spec_->name, spec_->versionString);
    } else {
      p.seq = nextSeq_;
      st = queue_.push(p);
      if (st.ok()) {
        ++nextSeq_;
        stats_->pendingAdd(1);  // before a worker can answer it
      }
    }
  }
  if (!st.ok()) {
    // Rejected on arrival: answered inline, outside the ordering (it was never accepted).
    stats_->recordFailure(FailureReason::kRejected, nsBetween(p.req->received, Clock::now()));
    auto resp = std::make_unique<InferResponse>();
    resp->status = std::move(st);
    resp->model = spec_->name;
    resp->version = spec_->versionString;
    resp->id = p.req->id;
    auto cb = std::move(p.req->complete);
    if (cb) cb(std::move(resp));
    return;
  }
  cv_.notify_one();
}

void Scheduler::worker(Instance* inst) {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    auto d = queue_.next(Clock::now(), stopping_);
    if (!d.expired.empty() || !d.batch.empty()) {
      const bool ran = !d.batch.empty();  // d.batch is moved from below
      if (ran) ++running_;
      lk.unlock();
      for (auto& p : d.expired) fail(std::move(p), Unavailable("Request timeout expired"), FailureReason::kRejected);
      if (ran) runBatch(inst, std::move(d.batch));
      lk.lock();
      if (ran) --running_;
      // A waiting batch may be complete now that a batch left; let another worker look too.
      cv_.notify_one();
      idleCv_.notify_all();
      continue;
    }
    if (stopping_ && queue_.empty()) break;
    if (d.wakeAt) cv_.wait_until(lk, *d.wakeAt);
    else cv_.wait(lk);
  }
}

void Scheduler::runBatch(Instance* inst, std::vector<Pending> batch) {
  auto start = Clock::now();
  std::vector<InferRequest*> reqs;
  int64_t total = 0;
  for (auto& p : batch) {
    reqs.push_back(p.req.get());
    total += p.info.batchSize;
  }
  std::vector<std::vector<InferTensor>> outputs;
  Instance::Timing t;
  Status st = inst->run(reqs, total, &outputs, &t);
  if (!st.ok()) {
    log::error("model '{}' version {} instance {}: execution failed: {}", spec_->name, spec_->versionString, inst->name(),
               st.toString());
    for (auto& p : batch) fail(std::move(p), st, FailureReason::kBackend);
    return;
  }
  stats_->recordExecution(static_cast<uint64_t>(total), t.inputNs, t.inferNs, t.outputNs);
  KILN_SERVE_VLOG(2, "model '{}' version {}: ran a batch of {} request(s), {} row(s), on {}", spec_->name,
                  spec_->versionString, batch.size(), total, inst->name());
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending& p = batch[i];
    auto resp = std::make_unique<InferResponse>();
    resp->model = spec_->name;
    resp->version = spec_->versionString;
    resp->id = p.req->id;
    resp->outputs = std::move(outputs[i]);
    ModelStats::RequestTimes rt;
    rt.queueNs = nsBetween(p.enqueued, start);
    rt.inputNs = t.inputNs;
    rt.inferNs = t.inferNs;
    rt.outputNs = t.outputNs;
    rt.totalNs = nsBetween(p.req->received, Clock::now());
    stats_->recordSuccess(rt);
    deliver(p.seq, std::move(p.req), std::move(resp));
  }
}

void Scheduler::fail(Pending p, Status st, FailureReason reason) {
  stats_->recordFailure(reason, nsBetween(p.req->received, Clock::now()));
  auto resp = std::make_unique<InferResponse>();
  resp->status = std::move(st);
  resp->model = spec_->name;
  resp->version = spec_->versionString;
  resp->id = p.req->id;
  deliver(p.seq, std::move(p.req), std::move(resp));
}

void Scheduler::deliver(uint64_t seq, std::unique_ptr<InferRequest> req, std::unique_ptr<InferResponse> resp) {
  stats_->pendingAdd(-1);
  if (!spec_->preserveOrdering) {
    auto cb = std::move(req->complete);
    req.reset();  // inputs are no longer needed
    if (cb) cb(std::move(resp));
    return;
  }
  // In order: deliver this one and every held successor, under orderMu_ so two threads never
  // deliver out of sequence.
  std::lock_guard<std::mutex> lk(orderMu_);
  held_.emplace(seq, std::make_pair(std::move(req), std::move(resp)));
  while (!held_.empty() && held_.begin()->first == nextToDeliver_) {
    auto node = held_.extract(held_.begin());
    auto cb = std::move(node.mapped().first->complete);
    node.mapped().first.reset();
    if (cb) cb(std::move(node.mapped().second));
    ++nextToDeliver_;
  }
}

void Scheduler::stop(Clock::time_point deadline) {
  std::vector<Pending> left;
  {
    std::unique_lock<std::mutex> lk(mu_);
    if (stopped_) return;
    stopping_ = true;
    cv_.notify_all();
    // Workers drain the queue (flushing partial batches) until the deadline.
    idleCv_.wait_until(lk, deadline, [&] { return queue_.empty() && running_ == 0; });
    left = queue_.takeAll();
    stopped_ = true;
    cv_.notify_all();
  }
  for (auto& p : left)
    fail(std::move(p), Unavailable("server is shutting down: the request was not run before the exit timeout"),
         FailureReason::kCanceled);
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

}  // namespace kiln::serve
