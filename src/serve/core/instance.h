// One model instance: an execution context of the model's engine, run by one scheduler worker
// thread (which is the instance's stream on the CPU: runs of one instance are in order, runs of
// different instances concurrent; a GPU engine's context runs through ExecutionContext::run,
// which stages host tensors on its own CUDA stream).
// run() executes a batch of compatible requests: it gathers their inputs into one batched tensor
// per input (a lone request's tensors are used in place), runs the engine, and hands each request
// its slice of every output (views into the batched output buffer, no copy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "kiln/status.h"
#include "serve/core/model_spec.h"
#include "serve/inference_server.h"

namespace kiln::serve {

class Instance {
 public:
  static Result<std::unique_ptr<Instance>> create(std::shared_ptr<Engine> engine, std::shared_ptr<const ModelSpec> spec,
                                                  std::string name);
  const std::string& name() const { return name_; }

  struct Timing {
    uint64_t inputNs = 0, inferNs = 0, outputNs = 0;
  };
  // `batch`: requests already checked (inputs in model order) with equal signatures; their batch
  // sizes sum to `total`. On success (*outputs)[i] holds request i's outputs: those it asked
  // for, in its order, else all of the config's outputs.
  Status run(const std::vector<InferRequest*>& batch, int64_t total, std::vector<std::vector<InferTensor>>* outputs,
             Timing* timing);

 private:
  Instance() = default;
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<const ModelSpec> spec_;
  std::unique_ptr<ExecutionContext> ctx_;
  std::string name_;
  std::vector<std::string> engineOutputs_;  // every output of the engine (each needs a buffer)
};

}  // namespace kiln::serve
