// ModelStreamInfer: a bidirectional stream of inference requests and responses.
//
// Every request read from the stream gets exactly one response message, written in the order the
// requests arrived (a reorder buffer holds responses that complete early, e.g. with several model
// instances). A request that fails is answered with error_message set and the stream stays open;
// the stream itself ends OK when the client half-closes and every response is written.
//
// Locking: gRPC may run a reaction (OnWriteDone, OnReadDone) inline inside StartWrite/StartRead/
// Finish on the calling thread, so those are never called with mu_ held. Each event decides under
// the lock what to do next (claiming the single write slot, the read slot or the finish) and
// performs it after unlocking.
#include <map>
#include <optional>

#include "serve/grpc/grpc_convert.h"
#include "serve/grpc/grpc_internal.h"

namespace kiln::serve::grpcfe {

namespace {
// Requests read but not yet answered (in flight or waiting to be written) before the stream
// stops reading: a client that sends faster than it reads must not grow server memory without
// bound. gRPC flow control then pushes back on the client.
constexpr size_t kMaxPendingPerStream = 256;
}  // namespace

class StreamCore : public std::enable_shared_from_this<StreamCore> {
 public:
  StreamCore(InferenceServer& server, StreamRegistry& registry, StreamReactor* reactor)
      : server_(server), registry_(registry), reactor_(reactor) {}

  // Called once by the reactor when the call starts.
  void start(grpc::Status auth) {
    if (!auth.ok()) {
      {
        std::lock_guard<std::mutex> lk(mu_);
        finished_ = true;
      }
      reactor_->Finish(auth);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      reading_ = true;
      ++busy_;  // a concurrent stop() must not finish before this read starts
    }
    if (!registry_.add(shared_from_this())) {
      {
        std::lock_guard<std::mutex> lk(mu_);
        finished_ = true;
      }
      reactor_->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
      return;
    }
    reactor_->StartRead(&request_);
    Actions a;
    {
      std::lock_guard<std::mutex> lk(mu_);
      --busy_;
      a = nextActionsLocked();
    }
    run(a);
  }

  void onReadDone(bool ok) {
    uint64_t seq = 0;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!ok || finished_) {  // the client half-closed, or the stream already ended
        reading_ = false;
        readsDone_ = true;
        ok = false;
      } else {
        seq = nextSeq_++;
        ++inflight_;
      }
    }
    // reading_ stays set while request_ is converted, so no other thread starts the next read
    // into it meanwhile.
    if (ok) submit(seq);
    Actions a;
    {
      std::lock_guard<std::mutex> lk(mu_);
      reading_ = false;
      a = nextActionsLocked();
    }
    run(a);
  }

  void onWriteDone(bool ok) {
    Actions a;
    {
      std::lock_guard<std::mutex> lk(mu_);
      writing_ = false;
      current_.reset();
      if (!ok) broken_ = true;  // the client went away: nothing more can be written
      a = nextActionsLocked();
    }
    run(a);
  }

  void onCancel() {
    Actions a;
    {
      std::lock_guard<std::mutex> lk(mu_);
      broken_ = true;
      a = nextActionsLocked();
    }
    run(a);
  }

  // The frontend is stopping: read nothing more, finish once pending responses are written.
  void stop() {
    Actions a;
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
      a = nextActionsLocked();
    }
    run(a);
  }

  void onDone() {
    registry_.remove(shared_from_this());
    std::lock_guard<std::mutex> lk(mu_);
    reactor_ = nullptr;  // deleted right after this; late completions only touch this object
  }

 private:
  struct Actions {
    inference::ModelStreamInferResponse* write = nullptr;
    bool read = false;
    std::optional<grpc::Status> finish;
  };

  // Converts the request just read and hands it to the server (or answers a bad one at once).
  void submit(uint64_t seq) {
    auto converted = fromInferRequest(request_);
    if (!converted.ok()) {
      auto msg = std::make_unique<inference::ModelStreamInferResponse>();
      msg->set_error_message(converted.status().message());
      msg->mutable_infer_response()->set_model_name(request_.model_name());
      msg->mutable_infer_response()->set_model_version(request_.model_version());
      msg->mutable_infer_response()->set_id(request_.id());
      deliver(seq, std::move(msg));
      return;
    }
    std::unique_ptr<InferRequest> req = std::move(converted).value();
    auto self = shared_from_this();
    // The request's own names go with the completion: an error response from the server may not
    // repeat them, and a stream client matches responses to requests by id.
    req->complete = [self, seq, id = req->id, model = req->model](std::unique_ptr<InferResponse> r) {
      self->onInferDone(seq, id, model, std::move(r));
    };
    server_.infer(std::move(req));
  }

  void onInferDone(uint64_t seq, const std::string& id, const std::string& model, std::unique_ptr<InferResponse> r) {
    auto msg = std::make_unique<inference::ModelStreamInferResponse>();
    auto* ir = msg->mutable_infer_response();
    if (r && r->status.ok()) {
      Status s = toInferResponse(*r, ir);
      if (!s.ok()) {
        msg->clear_infer_response();
        msg->set_error_message(s.message());
      }
    } else {
      msg->set_error_message(r ? r->status.message()
                               : "internal error: the server completed a request without a response");
      if (r) ir->set_model_version(r->version);
    }
    // Errors (and a server that leaves them empty) still name the request they answer.
    ir = msg->mutable_infer_response();
    if (ir->id().empty()) ir->set_id(id);
    if (ir->model_name().empty()) ir->set_model_name(model);
    deliver(seq, std::move(msg));
  }

  void deliver(uint64_t seq, std::unique_ptr<inference::ModelStreamInferResponse> msg) {
    Actions a;
    {
      std::lock_guard<std::mutex> lk(mu_);
      --inflight_;
      if (!finished_ && !broken_) ready_.emplace(seq, std::move(msg));
      a = nextActionsLocked();
    }
    run(a);
  }

  // Claims the next thing to do: the next in-order write, a read, or the finish. A claimed write
  // or read counts in busy_ until performed, and the finish waits for busy_ == 0: otherwise a
  // thread could call StartRead after another thread's Finish let gRPC delete the reactor.
  Actions nextActionsLocked() {
    Actions a;
    if (finished_ || reactor_ == nullptr) return a;
    if (broken_) {
      ready_.clear();
      // Finish only once no write is outstanding (its OnWriteDone must still arrive first).
      if (!writing_ && busy_ == 0) {
        finished_ = true;
        a.finish = grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
      }
      return a;
    }
    if (!writing_) {
      auto it = ready_.find(nextWrite_);
      if (it != ready_.end()) {
        current_ = std::move(it->second);
        ready_.erase(it);
        ++nextWrite_;
        writing_ = true;
        ++busy_;
        a.write = current_.get();
        return a;
      }
    }
    const bool noMoreReads = readsDone_ || stopping_;
    if (!reading_ && !noMoreReads && inflight_ + ready_.size() < kMaxPendingPerStream) {
      reading_ = true;
      ++busy_;
      a.read = true;
      return a;
    }
    // An outstanding read may remain at Finish (gRPC allows it); an outstanding write may not.
    if (noMoreReads && inflight_ == 0 && ready_.empty() && !writing_ && busy_ == 0) {
      finished_ = true;
      a.finish = readsDone_ ? grpc::Status::OK
                            : grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
    }
    return a;
  }

  // Performs claimed actions outside mu_, then claims and performs what follows until nothing is
  // left. reactor_ is read without the lock: it changes only in onDone, which gRPC calls only
  // after Finish, and Finish is claimed only while no other action is pending (busy_ == 0).
  void run(Actions a) {
    while (a.write || a.read || a.finish) {
      if (a.finish) {
        reactor_->Finish(*a.finish);
        return;
      }
      if (a.write) reactor_->StartWrite(a.write);
      if (a.read) {
        request_.Clear();
        reactor_->StartRead(&request_);
      }
      std::lock_guard<std::mutex> lk(mu_);
      --busy_;
      a = nextActionsLocked();
    }
  }

  InferenceServer& server_;
  StreamRegistry& registry_;
  StreamReactor* reactor_;
  inference::ModelInferRequest request_;  // target of the one outstanding read

  std::mutex mu_;
  uint64_t nextSeq_ = 0;    // sequence number of the next request read
  uint64_t nextWrite_ = 0;  // sequence number of the next response to write
  size_t inflight_ = 0;     // requests read and not yet answered by the server or converter
  std::map<uint64_t, std::unique_ptr<inference::ModelStreamInferResponse>> ready_;
  std::unique_ptr<inference::ModelStreamInferResponse> current_;  // being written
  bool reading_ = false, writing_ = false;
  int busy_ = 0;  // claimed StartWrite/StartRead calls not yet made
  bool readsDone_ = false, stopping_ = false, broken_ = false, finished_ = false;
};

namespace {
class Reactor final : public StreamReactor {
 public:
  Reactor(InferenceServer& server, StreamRegistry& registry)
      : core_(std::make_shared<StreamCore>(server, registry, this)) {}
  void begin(grpc::Status auth) { core_->start(std::move(auth)); }
  void OnReadDone(bool ok) override { core_->onReadDone(ok); }
  void OnWriteDone(bool ok) override { core_->onWriteDone(ok); }
  void OnCancel() override { core_->onCancel(); }
  void OnDone() override {
    core_->onDone();
    delete this;
  }

 private:
  std::shared_ptr<StreamCore> core_;
};
}  // namespace

StreamReactor* newStreamReactor(InferenceServer& server, StreamRegistry& registry, grpc::Status auth) {
  auto* r = new Reactor(server, registry);
  r->begin(std::move(auth));
  return r;
}

bool StreamRegistry::add(const std::shared_ptr<StreamCore>& s) {
  std::lock_guard<std::mutex> lk(mu_);
  if (stopped_) return false;
  streams_.insert(s);
  return true;
}

void StreamRegistry::remove(const std::shared_ptr<StreamCore>& s) {
  std::lock_guard<std::mutex> lk(mu_);
  streams_.erase(s);
}

void StreamRegistry::stopAll() {
  std::set<std::shared_ptr<StreamCore>> open;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopped_ = true;
    open = streams_;
  }
  for (const auto& s : open) s->stop();
}

}  // namespace kiln::serve::grpcfe
