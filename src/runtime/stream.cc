// The CPU Stream: one worker thread draining a fixed ring of queued contexts in order. Queuing
// allocates nothing; a full ring makes enqueue wait.
#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "kiln/engine.h"
#include "runtime/engine_impl.h"

namespace kiln {

struct Stream::Impl {
  static constexpr size_t kCapacity = 64;
  std::array<ExecutionContext*, kCapacity> ring{};
  size_t head = 0, tail = 0;  // head: next to run; tail: next free slot
  size_t queued = 0;
  bool running = false;  // the worker is executing a run
  bool stop = false;
  Status firstError;
  std::mutex mu;
  std::condition_variable cv;
  std::thread worker;
  void* cudaStream = nullptr;  // created on first use by a CUDA engine's context
  int cudaDevice = -1;

  void loop() {
    for (;;) {
      ExecutionContext* ctx;
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return stop || queued > 0; });
        if (queued == 0) return;
        ctx = ring[head];
        head = (head + 1) % kCapacity;
        --queued;
        running = true;
      }
      cv.notify_all();  // a slot is free
      Status st = ctx->execute();
      {
        std::lock_guard<std::mutex> lk(mu);
        running = false;
        if (!st.ok() && firstError.ok()) firstError = std::move(st);
      }
      cv.notify_all();
    }
  }
};

Stream::Stream() : impl_(std::make_unique<Impl>()) {
  impl_->worker = std::thread([this] { impl_->loop(); });
}

Stream::~Stream() {
  (void)synchronize();
  runtime::destroyCudaStream(impl_->cudaStream);
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  impl_->worker.join();
}

Status Stream::push(ExecutionContext* ctx) {
  std::unique_lock<std::mutex> lk(impl_->mu);
  impl_->cv.wait(lk, [&] { return impl_->queued < Impl::kCapacity; });
  impl_->ring[impl_->tail] = ctx;
  impl_->tail = (impl_->tail + 1) % Impl::kCapacity;
  ++impl_->queued;
  lk.unlock();
  impl_->cv.notify_all();
  return Status::OK();
}

Status Stream::synchronize() {
  std::unique_lock<std::mutex> lk(impl_->mu);
  impl_->cv.wait(lk, [&] { return impl_->queued == 0 && !impl_->running; });
  Status st = std::move(impl_->firstError);
  impl_->firstError = Status::OK();
  if (impl_->cudaStream) {
    Status c = runtime::synchronizeCudaStream(impl_->cudaStream);
    if (st.ok() && !c.ok()) st = std::move(c).withContext("the GPU failed while running a queued engine run");
  }
  return st;
}

Result<void*> Stream::cudaStream(int device) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  if (!impl_->cudaStream) {
    KILN_ASSIGN_OR_RETURN(impl_->cudaStream, runtime::createCudaStream(device));
    impl_->cudaDevice = device;
  } else if (impl_->cudaDevice != device) {
    return InvalidArgument("this Stream belongs to CUDA device {}; the engine runs on device {}", impl_->cudaDevice,
                           device);
  }
  return impl_->cudaStream;
}

Status ExecutionContext::enqueue(Stream& stream) {
  // Shapes are resolved now so shape errors surface at the call, not at synchronize().
  KILN_RETURN_IF_ERROR(prepare());
  if (engine_->isCuda()) {
    KILN_ASSIGN_OR_RETURN(void* s, stream.cudaStream(engine_->impl_->cuda->device()));
    return enqueueOn(s);
  }
  return stream.push(this);
}

}  // namespace kiln
