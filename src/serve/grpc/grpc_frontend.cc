// The gRPC frontend: inference.GRPCInferenceService on gRPC's callback API.
//
// Why the callback API: ModelInfer hands the request to InferenceServer::infer, which queues it
// and answers later from a scheduler thread; the call is finished from that completion callback,
// so no gRPC thread waits while a request sits in the dynamic batcher. Metadata calls answer
// inline (they only read server state). gRPC runs the handlers on its own thread pool, sized by
// gRPC; FrontendOptions::threads does not apply to this frontend.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <climits>
#include <thread>

#include "serve/frontend.h"
#include "serve/grpc/grpc_convert.h"
#include "serve/grpc/grpc_internal.h"

namespace kiln::serve {

namespace grpcfe {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

grpc::Status checkAuth(const CallbackServerContext* ctx, const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end())
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata");
  std::string_view v(it->second.data(), it->second.size());
  constexpr std::string_view kScheme = "bearer ";
  bool scheme = v.size() >= kScheme.size() &&
                std::equal(kScheme.begin(), kScheme.end(), v.begin(),
                           [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
  if (!scheme)
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "authorization metadata must be 'Bearer <token>'");
  v.remove_prefix(kScheme.size());
  // Compare without an early exit so the time taken does not reveal how much of the token matched.
  unsigned char diff = v.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < v.size(); ++i) diff |= static_cast<unsigned char>(v[i] ^ token[i % token.size()]);
  if (diff != 0) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid bearer token");
  return grpc::Status::OK;
}

namespace {

grpc::Status notSupported(std::string_view what) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      fmt::format("{} is not supported by kiln serve", what));
}

class Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  Service(InferenceServer& server, const FrontendOptions& opts) : server_(server), opts_(opts) {}
  StreamRegistry& streams() { return streams_; }
  void beginStop() { stopping_ = true; }

#define KILN_UNARY(Name)                                                                              \
  ServerUnaryReactor* Name(CallbackServerContext* ctx, const inference::Name##Request* req,           \
                           inference::Name##Response* resp) override {                                \
    auto* reactor = ctx->DefaultReactor();                                                            \
    grpc::Status auth = checkAuth(ctx, opts_.bearerToken);                                            \
    reactor->Finish(auth.ok() ? handle##Name(*req, resp) : auth);                                      \
    return reactor;                                                                                   \
  }
  KILN_UNARY(ServerLive)
  KILN_UNARY(ServerReady)
  KILN_UNARY(ModelReady)
  KILN_UNARY(ServerMetadata)
  KILN_UNARY(ModelMetadata)
  KILN_UNARY(ModelConfig)
  KILN_UNARY(ModelStatistics)
  KILN_UNARY(RepositoryIndex)
  KILN_UNARY(RepositoryModelLoad)
  KILN_UNARY(RepositoryModelUnload)
  KILN_UNARY(SystemSharedMemoryStatus)
  KILN_UNARY(SystemSharedMemoryRegister)
  KILN_UNARY(SystemSharedMemoryUnregister)
  KILN_UNARY(CudaSharedMemoryStatus)
  KILN_UNARY(CudaSharedMemoryRegister)
  KILN_UNARY(CudaSharedMemoryUnregister)
  KILN_UNARY(TraceSetting)
  KILN_UNARY(LogSettings)
#undef KILN_UNARY

  ServerUnaryReactor* ModelInfer(CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                 inference::ModelInferResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    grpc::Status auth = checkAuth(ctx, opts_.bearerToken);
    if (!auth.ok() || stopping_) {
      reactor->Finish(auth.ok() ? shuttingDown() : auth);
      return reactor;
    }
    // The request message belongs to this call and is not const storage (gRPC allocates it for
    // the handler); moving the raw tensor bytes out of it makes the input tensors zero-copy.
    auto converted = fromInferRequest(const_cast<inference::ModelInferRequest&>(*req));
    if (!converted.ok()) {
      reactor->Finish(toGrpcStatus(converted.status()));
      return reactor;
    }
    std::unique_ptr<InferRequest> r = std::move(converted).value();
    // `resp` and `reactor` stay valid until Finish: gRPC calls OnDone (and frees them) only after.
    r->complete = [reactor, resp](std::unique_ptr<InferResponse> out) {
      if (!out) {
        reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "the server completed a request without a response"));
      } else if (!out->status.ok()) {
        reactor->Finish(toGrpcStatus(out->status));
      } else {
        Status s = toInferResponse(*out, resp);
        reactor->Finish(s.ok() ? grpc::Status::OK : toGrpcStatus(s));
      }
    };
    server_.infer(std::move(r));
    return reactor;
  }

  StreamReactor* ModelStreamInfer(CallbackServerContext* ctx) override {
    grpc::Status auth = checkAuth(ctx, opts_.bearerToken);
    return newStreamReactor(server_, streams_, auth.ok() && stopping_ ? shuttingDown() : auth);
  }

 private:
  grpc::Status handleServerLive(const inference::ServerLiveRequest&, inference::ServerLiveResponse* r) {
    r->set_live(server_.live());
    return grpc::Status::OK;
  }
  grpc::Status handleServerReady(const inference::ServerReadyRequest&, inference::ServerReadyResponse* r) {
    r->set_ready(server_.ready());
    return grpc::Status::OK;
  }
  grpc::Status handleModelReady(const inference::ModelReadyRequest& q, inference::ModelReadyResponse* r) {
    r->set_ready(server_.modelReady(q.name(), q.version()));
    return grpc::Status::OK;
  }
  grpc::Status handleServerMetadata(const inference::ServerMetadataRequest&, inference::ServerMetadataResponse* r) {
    serve::ServerMetadata m = server_.metadata();
    r->set_name(m.name);
    r->set_version(m.version);
    for (const auto& e : m.extensions) r->add_extensions(e);
    return grpc::Status::OK;
  }
  grpc::Status handleModelMetadata(const inference::ModelMetadataRequest& q, inference::ModelMetadataResponse* r) {
    auto m = server_.modelMetadata(q.name(), q.version());
    if (!m.ok()) return toGrpcStatus(m.status());
    r->set_name(m->name);
    for (const auto& v : m->versions) r->add_versions(v);
    r->set_platform(m->platform);
    auto fill = [](const TensorMetadata& t, inference::ModelMetadataResponse::TensorMetadata* out) {
      out->set_name(t.name);
      out->set_datatype(t.datatype);
      for (int64_t d : t.shape) out->add_shape(d);
    };
    for (const auto& t : m->inputs) fill(t, r->add_inputs());
    for (const auto& t : m->outputs) fill(t, r->add_outputs());
    return grpc::Status::OK;
  }
  grpc::Status handleModelConfig(const inference::ModelConfigRequest& q, inference::ModelConfigResponse* r) {
    auto bytes = server_.modelConfigProto(q.name(), q.version());
    if (!bytes.ok()) return toGrpcStatus(bytes.status());
    if (!r->mutable_config()->ParseFromString(*bytes))
      return grpc::Status(grpc::StatusCode::INTERNAL, "the server produced an unreadable model configuration");
    return grpc::Status::OK;
  }
  grpc::Status handleModelStatistics(const inference::ModelStatisticsRequest& q,
                                     inference::ModelStatisticsResponse* r) {
    auto stats = server_.statistics(q.name(), q.version());
    if (!stats.ok()) return toGrpcStatus(stats.status());
    for (const auto& s : *stats) toModelStatistics(s, r->add_model_stats());
    return grpc::Status::OK;
  }
  grpc::Status handleRepositoryIndex(const inference::RepositoryIndexRequest& q,
                                     inference::RepositoryIndexResponse* r) {
    if (!q.repository_name().empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "repository_name is not supported: all model repositories form one index");
    for (const auto& e : server_.repositoryIndex(q.ready())) {
      auto* m = r->add_models();
      m->set_name(e.name);
      m->set_version(e.version);
      m->set_state(e.state);
      m->set_reason(e.reason);
    }
    return grpc::Status::OK;
  }
  grpc::Status handleRepositoryModelLoad(const inference::RepositoryModelLoadRequest& q,
                                         inference::RepositoryModelLoadResponse*) {
    if (!opts_.allowModelControl) return modelControlOff();
    if (!q.repository_name().empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "repository_name is not supported");
    std::optional<std::string> config;
    for (const auto& [key, p] : q.parameters()) {
      if (key == "config" && p.parameter_choice_case() == inference::ModelRepositoryParameter::kStringParam) {
        config = p.string_param();
      } else if (key.starts_with("file:")) {
        return notSupported("loading a model from files sent in the request ('file:' parameters)");
      } else {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            fmt::format("unknown load parameter '{}' (supported: 'config', a JSON string)", key));
      }
    }
    return toGrpcStatus(server_.loadModel(q.model_name(), config));
  }
  grpc::Status handleRepositoryModelUnload(const inference::RepositoryModelUnloadRequest& q,
                                           inference::RepositoryModelUnloadResponse*) {
    if (!opts_.allowModelControl) return modelControlOff();
    if (!q.repository_name().empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "repository_name is not supported");
    bool dependents = false;
    for (const auto& [key, p] : q.parameters()) {
      if (key == "unload_dependents" && p.parameter_choice_case() == inference::ModelRepositoryParameter::kBoolParam)
        dependents = p.bool_param();
      else
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            fmt::format("unknown unload parameter '{}' (supported: 'unload_dependents', a bool)", key));
    }
    return toGrpcStatus(server_.unloadModel(q.model_name(), dependents));
  }
  static grpc::Status shuttingDown() {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
  }
  static grpc::Status modelControlOff() {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "explicit model load / unload is not allowed: model control is disabled (start kiln serve "
                        "with --model-control-mode explicit)");
  }

  // System shared memory: the registry is the server's; "" names every region (status, unregister).
  grpc::Status handleSystemSharedMemoryStatus(const inference::SystemSharedMemoryStatusRequest& q,
                                              inference::SystemSharedMemoryStatusResponse* r) {
    auto regions = server_.systemSharedMemoryStatus(q.name());
    if (!regions.ok()) return toGrpcStatus(regions.status());
    for (const auto& s : *regions) {
      auto& out = (*r->mutable_regions())[s.name];
      out.set_name(s.name);
      out.set_key(s.key);
      out.set_offset(s.offset);
      out.set_byte_size(s.byteSize);
    }
    return grpc::Status::OK;
  }
  grpc::Status handleSystemSharedMemoryRegister(const inference::SystemSharedMemoryRegisterRequest& q,
                                                inference::SystemSharedMemoryRegisterResponse*) {
    return toGrpcStatus(server_.registerSystemSharedMemory(q.name(), q.key(), q.offset(), q.byte_size()));
  }
  grpc::Status handleSystemSharedMemoryUnregister(const inference::SystemSharedMemoryUnregisterRequest& q,
                                                  inference::SystemSharedMemoryUnregisterResponse*) {
    return toGrpcStatus(server_.unregisterSystemSharedMemory(q.name()));
  }

  // Extensions Kiln does not have: a clear status instead of a silent empty answer.
  static grpc::Status cudaShm() {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "CUDA shared memory is not supported by kiln serve; use system shared memory "
                        "(SystemSharedMemoryRegister) or send tensors in the request");
  }
  grpc::Status handleCudaSharedMemoryStatus(const auto&, auto*) { return cudaShm(); }
  grpc::Status handleCudaSharedMemoryRegister(const auto&, auto*) { return cudaShm(); }
  // Nothing can be registered, so unregistering succeeds (as on Triton built without GPUs):
  // perf_analyzer --shared-memory system unregisters CUDA regions too when it exits.
  grpc::Status handleCudaSharedMemoryUnregister(const auto&, auto*) { return grpc::Status::OK; }
  grpc::Status handleTraceSetting(const auto&, auto*) { return notSupported("the trace extension"); }
  grpc::Status handleLogSettings(const auto&, auto*) { return notSupported("the logging extension"); }

  InferenceServer& server_;
  FrontendOptions opts_;
  StreamRegistry streams_;
  std::atomic<bool> stopping_{false};
};

class GrpcFrontend final : public Frontend {
 public:
  GrpcFrontend(std::unique_ptr<Service> service, std::unique_ptr<grpc::Server> server, int port)
      : service_(std::move(service)), server_(std::move(server)), port_(port) {}
  ~GrpcFrontend() override {
    stop();
    if (shutdown_.joinable()) shutdown_.join();
    server_->Wait();
  }
  int port() const override { return port_; }

  // Returns at once. grpc::Server::Shutdown blocks until every call in flight is finished, and
  // those finish only when InferenceServer answers their requests, which `kiln serve` drains
  // (InferenceServer::shutdown, bounded by --exit-timeout-secs) after stopping the frontends. So
  // Shutdown runs on its own thread and the destructor waits for it.
  void stop() override {
    std::call_once(stopped_, [this] {
      service_->beginStop();  // new inference calls and streams are refused from here on
      // Streams first, so that Shutdown does not wait for clients that keep theirs open.
      service_->streams().stopAll();
      shutdown_ = std::thread([this] {
        // The deadline only bounds a server that never answers (InferenceServer always does);
        // past it gRPC cancels what is left.
        server_->Shutdown(std::chrono::system_clock::now() + std::chrono::minutes(5));
      });
    });
  }

 private:
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_;
  std::once_flag stopped_;
  std::thread shutdown_;
};

}  // namespace
}  // namespace grpcfe

Result<std::unique_ptr<Frontend>> startGrpcFrontend(InferenceServer& server, const FrontendOptions& opts) {
  if (opts.port < 0 || opts.port > 65535) return InvalidArgument("gRPC port {} is out of range", opts.port);
  auto service = std::make_unique<grpcfe::Service>(server, opts);
  const bool ipv6 = opts.address.find(':') != std::string::npos;
  const std::string hostPort = ipv6 ? fmt::format("[{}]:{}", opts.address, opts.port)
                                    : fmt::format("{}:{}", opts.address, opts.port);
  const int limit = static_cast<int>(std::min<uint64_t>(opts.maxBodyBytes, INT_MAX));
  int bound = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(hostPort, grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(service.get());
  builder.SetMaxReceiveMessageSize(limit);
  builder.SetMaxSendMessageSize(limit);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind a port already in use and
  // silently share its traffic; a busy port must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::unique_ptr<grpc::Server> grpcServer = builder.BuildAndStart();
  if (!grpcServer || bound == 0) {
    if (grpcServer) grpcServer->Shutdown();
    return Unavailable("gRPC frontend: cannot listen on {} (address in use, or not an address of this host)",
                       hostPort);
  }
  return std::unique_ptr<Frontend>(new grpcfe::GrpcFrontend(std::move(service), std::move(grpcServer), bound));
}

}  // namespace kiln::serve
