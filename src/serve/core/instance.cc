// Batched execution.
#include "serve/core/instance.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace kiln::serve {

namespace {

using SteadyClock = std::chrono::steady_clock;

uint64_t nsBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

Dims withBatch(int64_t batch, const std::vector<int64_t>& rest, bool batched) {
  Dims d;
  if (batched) d.push_back(batch);
  for (int64_t x : rest) d.push_back(x);
  return d;
}

}  // namespace

Result<std::unique_ptr<Instance>> Instance::create(std::shared_ptr<Engine> engine, std::shared_ptr<const ModelSpec> spec,
                                                   std::string name) {
  std::unique_ptr<Instance> inst(new Instance());
  KILN_ASSIGN_OR_RETURN(inst->ctx_, engine->createExecutionContext(0));
  for (const auto& io : engine->ioTensors())
    if (!io.isInput) inst->engineOutputs_.push_back(io.name);
  inst->engine_ = std::move(engine);
  inst->spec_ = std::move(spec);
  inst->name_ = std::move(name);
  return inst;
}

Status Instance::run(const std::vector<InferRequest*>& batch, int64_t total,
                     std::vector<std::vector<InferTensor>>* outputs, Timing* timing) {
  const ModelSpec& spec = *spec_;
  const bool batched = spec.maxBatchSize > 0;
  auto t0 = SteadyClock::now();

  // Inputs: a lone request's tensors are used in place; several are concatenated along the batch
  // dim (same signature, so only the batch dim differs). An engine whose profile starts above the
  // batch gets zero rows after the real ones (rows are independent, so results don't change).
  const int64_t rows = batched ? std::max<int64_t>(total, spec.minEngineBatch) : total;
  std::vector<Tensor> gathered(spec.inputs.size());
  for (size_t k = 0; k < spec.inputs.size(); ++k) {
    const TensorSpec& ts = spec.inputs[k];
    const InferTensor& first = batch[0]->inputs[k];
    Dims engineDims = ts.reshaped ? withBatch(rows, ts.engineDims, batched) : first.shape;
    if (batched) engineDims[0] = rows;
    if (batch.size() == 1 && rows == total) {
      gathered[k] = first.data.reshaped(engineDims);
    } else {
      Tensor t = Tensor::allocate(ts.dtype, engineDims);
      if (rows > total && ts.dtype != DType::kString) std::memset(t.raw(), 0, t.nbytes());
      if (ts.dtype == DType::kString) {
        int64_t at = 0;
        for (const InferRequest* r : batch)
          for (const auto& s : r->inputs[k].data.span<std::string>()) t.data<std::string>()[at++] = s;
      } else {
        auto* dst = static_cast<uint8_t*>(t.raw());
        for (const InferRequest* r : batch) {
          size_t n = r->inputs[k].data.nbytes();
          std::memcpy(dst, r->inputs[k].data.raw(), n);
          dst += n;
        }
      }
      gathered[k] = std::move(t);
    }
    if (!engine_->isCuda()) {
      KILN_RETURN_IF_ERROR_CTX(ctx_->setInputShape(ts.name, gathered[k].dims()), fmt::format("input '{}'", ts.name));
      KILN_RETURN_IF_ERROR(ctx_->setTensorAddress(ts.name, gathered[k].raw()));
    }
  }
  std::vector<std::shared_ptr<Tensor>> results(engineOutputs_.size());
  Status st;
  SteadyClock::time_point t1, t2;
  if (engine_->isCuda()) {
    // A GPU engine's I/O addresses are device memory: run() stages the host tensors through its
    // own device buffers and returns host outputs.
    std::vector<ExecutionContext::Named> ins, outs;
    for (size_t k = 0; k < spec.inputs.size(); ++k) ins.push_back({spec.inputs[k].name, gathered[k]});
    t1 = SteadyClock::now();
    st = ctx_->run(ins, &outs);
    t2 = SteadyClock::now();
    if (!st.ok()) return st;
    for (auto& o : outs) {
      size_t i = std::find(engineOutputs_.begin(), engineOutputs_.end(), o.name) - engineOutputs_.begin();
      if (i < results.size()) results[i] = std::make_shared<Tensor>(std::move(o.tensor));
    }
    for (size_t o = 0; o < results.size(); ++o)
      if (!results[o]) return InternalError("the engine returned no output '{}'", engineOutputs_[o]);
  } else {
    // Every engine output needs memory, also those nobody asked for.
    for (size_t o = 0; o < engineOutputs_.size(); ++o) {
      KILN_ASSIGN_OR_RETURN(Dims d, ctx_->getTensorShape(engineOutputs_[o]));
      const IOTensorInfo* io = engine_->findIO(engineOutputs_[o]);
      results[o] = std::make_shared<Tensor>(Tensor::allocate(io->dtype, d));
      KILN_RETURN_IF_ERROR(ctx_->setTensorAddress(engineOutputs_[o], results[o]->raw()));
    }
    t1 = SteadyClock::now();
    st = ctx_->execute();
    t2 = SteadyClock::now();
    // Outputs of data-dependent size (NonZero, Unique, ...) were allocated for their upper bound:
    // keep what the run wrote, in the shape it reports now.
    for (size_t o = 0; o < engineOutputs_.size() && st.ok(); ++o) {
      KILN_ASSIGN_OR_RETURN(Dims d, ctx_->getTensorShape(engineOutputs_[o]));
      if (d == results[o]->dims()) continue;
      auto trimmed = std::make_shared<Tensor>(Tensor::allocate(results[o]->dtype(), d));
      if (d.numel() > results[o]->numel()) return InternalError("output '{}' grew after the run", engineOutputs_[o]);
      if (trimmed->dtype() == DType::kString) {
        std::copy_n(results[o]->data<std::string>(), trimmed->numel(), trimmed->data<std::string>());
      } else {
        std::memcpy(trimmed->raw(), results[o]->raw(), trimmed->nbytes());
      }
      results[o] = std::move(trimmed);
    }
  }
  if (spec.executeDelayMs > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(spec.executeDelayMs));
    t2 = SteadyClock::now();
  }
  if (!st.ok()) return st;

  // Outputs: each request gets views of its rows of the batched result (sharing its buffer).
  outputs->assign(batch.size(), {});
  for (size_t i = 0; i < batch.size(); ++i) {
    const InferRequest& r = *batch[i];
    std::vector<int> wanted;
    if (r.outputs.empty()) {
      for (size_t o = 0; o < spec.outputs.size(); ++o) wanted.push_back(static_cast<int>(o));
    } else {
      for (const auto& ro : r.outputs) wanted.push_back(spec.outputIndex(ro.name));
    }
    (*outputs)[i].reserve(wanted.size());
    for (int w : wanted) {
      const TensorSpec& os = spec.outputs[w];
      size_t eo = std::find(engineOutputs_.begin(), engineOutputs_.end(), os.name) - engineOutputs_.begin();
      if (eo == engineOutputs_.size()) return InternalError("engine has no output '{}'", os.name);
      const std::shared_ptr<Tensor>& full = results[eo];
      InferTensor out;
      out.name = os.name;
      out.dtype = full->dtype();
      if (!batched) {
        out.shape = os.reshaped ? Dims(os.dims) : full->dims();
        out.data = full->reshaped(out.shape);
      } else {
        const Dims& fd = full->dims();
        if (fd.rank() == 0 || fd[0] != rows)
          return InternalError("output '{}' has shape {} but the batch has {} rows", os.name, fd.toString(), rows);
        int64_t rowElems = rows ? full->numel() / rows : 0;
        int64_t start = 0;
        for (size_t j = 0; j < i; ++j) start += batch[j]->inputs.empty() ? 0 : batch[j]->inputs[0].shape[0];
        int64_t rows = r.inputs[0].shape[0];
        Dims sd = fd;
        sd[0] = rows;
        if (os.reshaped) sd = withBatch(rows, os.dims, true);
        auto* base = static_cast<uint8_t*>(full->raw()) + static_cast<size_t>(start * rowElems) * dtypeSize(full->dtype());
        out.shape = sd;
        out.data = Tensor::wrap(full->dtype(), sd, base, full);
      }
      (*outputs)[i].push_back(std::move(out));
    }
  }
  auto t3 = SteadyClock::now();
  timing->inputNs = nsBetween(t0, t1);
  timing->inferNs = nsBetween(t1, t2);
  timing->outputNs = nsBetween(t2, t3);
  return Status::OK();
}

}  // namespace kiln::serve
