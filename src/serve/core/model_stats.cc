// Model statistics and metrics.
#include "serve/core/model_stats.h"

#include <chrono>

namespace kiln::serve {

namespace {
uint64_t nowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}
void add(DurationStat& d, uint64_t ns) {
  d.count++;
  d.ns += ns;
}
}  // namespace

ModelStats::ModelStats(MetricsRegistry& r, const std::string& model, const std::string& version)
    : registry_(r), model_(model), version_(version) {
  stats_.name = model;
  stats_.version = version;
  Labels l = {{"model", model}, {"version", version}};
  auto failure = [&](const char* reason) {
    return r.counter("nv_inference_request_failure", "Number of failed inference requests, all batch sizes",
                     {{"model", model}, {"reason", reason}, {"version", version}});
  };
  success_ = r.counter("nv_inference_request_success", "Number of successful inference requests, all batch sizes", l);
  failRejected_ = failure("REJECTED");
  failCanceled_ = failure("CANCELED");
  failBackend_ = failure("BACKEND");
  failOther_ = failure("OTHER");
  inferCount_ = r.counter("nv_inference_count", "Number of inferences performed (does not include cached requests)", l);
  execCount_ = r.counter("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)", l);
  requestUs_ = r.counter("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds (includes cached requests)", l);
  queueUs_ = r.counter("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds (includes cached requests)", l);
  inputUs_ = r.counter("nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds (does not include cached requests)", l);
  inferUs_ = r.counter("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds (does not include cached requests)", l);
  outputUs_ = r.counter("nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds (does not include cached requests)", l);
  pending_ = r.gauge("nv_inference_pending_request_count", "Instantaneous number of pending requests awaiting execution per-model.", l);
  loadSecs_ = r.gauge("nv_model_load_duration_secs", "Model load time in seconds", l);
  auto buckets = MetricsRegistry::latencyBucketsUs();
  requestHist_ = r.histogram("nv_inference_request_duration_histogram_us",
                             "Histogram of successful inference request durations in microseconds (arrival to response)", l, buckets);
  queueHist_ = r.histogram("nv_inference_queue_duration_histogram_us",
                           "Histogram of queuing durations of successful requests in microseconds", l, buckets);
  inferHist_ = r.histogram("nv_inference_compute_infer_duration_histogram_us",
                           "Histogram of model execution durations in microseconds, per execution", l, buckets);
}

ModelStats::~ModelStats() = default;

void ModelStats::recordSuccess(const RequestTimes& t) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto& s = stats_.inferenceStats;
    add(s.success, t.totalNs);
    add(s.queue, t.queueNs);
    add(s.computeInput, t.inputNs);
    add(s.computeInfer, t.inferNs);
    add(s.computeOutput, t.outputNs);
    stats_.lastInferenceMs = nowMs();
  }
  success_->add();
  requestUs_->add(t.totalNs / 1000.0);
  queueUs_->add(t.queueNs / 1000.0);
  inputUs_->add(t.inputNs / 1000.0);
  inferUs_->add(t.inferNs / 1000.0);
  outputUs_->add(t.outputNs / 1000.0);
  requestHist_->observe(t.totalNs / 1000.0);
  queueHist_->observe(t.queueNs / 1000.0);
}

void ModelStats::recordFailure(FailureReason reason, uint64_t totalNs) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    add(stats_.inferenceStats.fail, totalNs);
    stats_.lastInferenceMs = nowMs();
  }
  switch (reason) {
    case FailureReason::kRejected: failRejected_->add(); break;
    case FailureReason::kCanceled: failCanceled_->add(); break;
    case FailureReason::kBackend: failBackend_->add(); break;
    case FailureReason::kOther: failOther_->add(); break;
  }
}

void ModelStats::recordExecution(uint64_t batchSize, uint64_t inputNs, uint64_t inferNs, uint64_t outputNs) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.inferenceCount += batchSize;
    stats_.executionCount += 1;
    auto& b = batches_[batchSize];
    b.batchSize = batchSize;
    add(b.computeInput, inputNs);
    add(b.computeInfer, inferNs);
    add(b.computeOutput, outputNs);
  }
  inferCount_->add(static_cast<double>(batchSize));
  execCount_->add();
  inferHist_->observe(inferNs / 1000.0);
}

void ModelStats::pendingAdd(int64_t delta) { pending_->add(static_cast<double>(delta)); }
void ModelStats::setLoadSeconds(double s) { loadSecs_->set(s); }

ModelStatistics ModelStats::snapshot() const {
  std::lock_guard<std::mutex> lk(mu_);
  ModelStatistics s = stats_;
  for (const auto& [size, b] : batches_) s.batchStats.push_back(b);
  return s;
}

}  // namespace kiln::serve
