// Statistics of one model version, kept two ways at once: cumulative counters in Triton's
// statistics-extension shape (GET .../stats, gRPC ModelStatistics) and Prometheus series with
// Triton's metric names and labels (model, version) on /metrics, plus latency histograms so
// p50/p99 can be graphed.
//
// Semantics (as Triton's): a request's success duration runs from its arrival to its response;
// queue is arrival to the start of its batch; compute input/infer/output are the durations of the
// batch it ran in (each request of a batch is charged the whole batch's durations).
// inference_count counts batch elements, execution_count model executions.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "serve/inference_server.h"
#include "serve/metrics.h"

namespace kiln::serve {

enum class FailureReason { kRejected, kCanceled, kBackend, kOther };

class ModelStats {
 public:
  ModelStats(MetricsRegistry& registry, const std::string& model, const std::string& version);
  ~ModelStats();

  struct RequestTimes {
    uint64_t totalNs = 0, queueNs = 0, inputNs = 0, inferNs = 0, outputNs = 0;
  };
  void recordSuccess(const RequestTimes& t);
  void recordFailure(FailureReason reason, uint64_t totalNs);
  void recordExecution(uint64_t batchSize, uint64_t inputNs, uint64_t inferNs, uint64_t outputNs);
  void pendingAdd(int64_t delta);
  void setLoadSeconds(double s);

  ModelStatistics snapshot() const;

 private:
  MetricsRegistry& registry_;
  std::string model_, version_;
  mutable std::mutex mu_;
  ModelStatistics stats_;
  std::map<uint64_t, BatchStatistics> batches_;
  // Prometheus series (stable pointers owned by the registry).
  Counter *success_, *failRejected_, *failCanceled_, *failBackend_, *failOther_, *inferCount_, *execCount_;
  Counter *requestUs_, *queueUs_, *inputUs_, *inferUs_, *outputUs_;
  Gauge *pending_, *loadSecs_;
  Histogram *requestHist_, *queueHist_, *inferHist_;
};

}  // namespace kiln::serve
