#include "fake_server.h"

namespace kiln::serve::testing {

namespace {
std::unique_ptr<InferResponse> addOne(const InferRequest& req) {
  auto r = std::make_unique<InferResponse>();
  r->model = req.model;
  r->version = "1";
  r->id = req.id;
  if (req.inputs.size() != 1 || req.inputs[0].dtype != DType::kFloat32) {
    r->status = InvalidArgument("model '{}' expects one FP32 input INPUT0", req.model);
    return r;
  }
  const Tensor& x = req.inputs[0].data;
  Tensor y0 = Tensor::allocate(DType::kFloat32, x.dims());
  Tensor y1 = Tensor::allocate(DType::kFloat32, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) {
    y0.data<float>()[i] = x.data<float>()[i] + 1;
    y1.data<float>()[i] = x.data<float>()[i] * 2;
  }
  bool want0 = req.outputs.empty(), want1 = req.outputs.empty();
  for (const auto& o : req.outputs) {
    if (o.name == "OUTPUT0") want0 = true;
    else if (o.name == "OUTPUT1") want1 = true;
    else {
      r->status = InvalidArgument("unknown output '{}'", o.name);
      return r;
    }
  }
  if (want0) r->outputs.push_back({"OUTPUT0", DType::kFloat32, x.dims(), y0, {}});
  if (want1) r->outputs.push_back({"OUTPUT1", DType::kFloat32, x.dims(), y1, {}});
  r->parameters["fake"] = true;
  return r;
}
}  // namespace

void FakeServer::infer(std::unique_ptr<InferRequest> req) {
  ++inferCalls;
  {
    std::lock_guard<std::mutex> lk(mu_);
    lastRequest.model = req->model;
    lastRequest.version = req->version;
    lastRequest.id = req->id;
    lastRequest.inputs = req->inputs;
    lastRequest.outputs = req->outputs;
    lastRequest.parameters = req->parameters;
    lastRequest.priority = req->priority;
    lastRequest.timeoutUs = req->timeoutUs;
  }
  if (req->model == "add_one") {
    auto r = addOne(*req);
    req->complete(std::move(r));
  } else if (req->model == "echo") {
    auto r = std::make_unique<InferResponse>();
    r->model = req->model;
    r->version = "1";
    r->id = req->id;
    for (const auto& in : req->inputs) r->outputs.push_back({"OUTPUT0", in.dtype, in.shape, in.data, {}});
    req->complete(std::move(r));
  } else if (req->model == "delayed") {
    int delayMs = 0;
    if (!req->inputs.empty() && req->inputs[0].dtype == DType::kFloat32 && req->inputs[0].data.numel() > 0)
      delayMs = std::max(0, 10 - static_cast<int>(req->inputs[0].data.data<float>()[0])) * 3;
    std::lock_guard<std::mutex> lk(mu_);
    threads_.emplace_back([delayMs, req = std::shared_ptr<InferRequest>(std::move(req))] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
      auto r = addOne(*req);
      req->complete(std::move(r));
    });
  } else if (req->model == "full") {
    auto r = std::make_unique<InferResponse>();
    r->model = req->model;
    r->status = Unavailable("model '{}': the request queue is full (max_queue_size 0)", req->model);
    req->complete(std::move(r));
  } else {
    auto r = std::make_unique<InferResponse>();
    r->model = req->model;
    r->status = NotFound("Request for unknown model: '{}' is not found", req->model);
    req->complete(std::move(r));
  }
}

}  // namespace kiln::serve::testing
