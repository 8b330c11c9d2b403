// Checks an inference request against the model before it is queued: every input present once
// with the model's data type and an admissible shape, data of the right size, requested outputs
// that exist, a batch size within max_batch_size. Errors are the client's (InvalidArgument) and
// say which tensor is wrong and what was expected, in Triton's wording where Triton has one.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/status.h"
#include "serve/core/model_spec.h"
#include "serve/inference_server.h"

namespace kiln::serve {

struct CheckedRequest {
  int64_t batchSize = 1;  // the first dim when the model batches, else 1
  // Requests batch together only when their signatures are equal: the non-batch dims of every
  // input.
  std::string signature;
  uint32_t priorityLevel = 0;  // 0-based index into the scheduler's levels
  uint64_t timeoutUs = 0;      // effective timeout, 0 = none
  bool delayOnTimeout = false;
};

// Also reorders req.inputs into the model's input order, so executors index them by position.
Result<CheckedRequest> checkRequest(const ModelSpec& spec, InferRequest& req);

}  // namespace kiln::serve
