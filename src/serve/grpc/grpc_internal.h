// Pieces shared by the gRPC frontend's files (grpc_frontend.cc: the service and server;
// grpc_stream.cc: ModelStreamInfer). Not a public interface.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "grpc_service.grpc.pb.h"
#include "serve/inference_server.h"

namespace kiln::serve::grpcfe {

// OK when no token is configured or the call carries "authorization: Bearer <token>";
// UNAUTHENTICATED otherwise, saying which of the two is wrong.
grpc::Status checkAuth(const grpc::CallbackServerContext* ctx, const std::string& token);

// The open ModelStreamInfer streams, so that stopping the frontend can end them once their
// in-flight requests are answered instead of waiting for every client to hang up.
class StreamCore;
class StreamRegistry {
 public:
  // False once stopped: the stream must end at once.
  bool add(const std::shared_ptr<StreamCore>& s);
  void remove(const std::shared_ptr<StreamCore>& s);
  // Marks the registry stopped and asks every open stream to finish after its pending responses
  // are written.
  void stopAll();

 private:
  std::mutex mu_;
  bool stopped_ = false;
  std::set<std::shared_ptr<StreamCore>> streams_;
};

using StreamReactor = grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>;

// A reactor for one ModelStreamInfer call; it deletes itself when the call is done. `auth` not OK
// ends the stream with that status before anything is read.
StreamReactor* newStreamReactor(InferenceServer& server, StreamRegistry& registry, grpc::Status auth);

}  // namespace kiln::serve::grpcfe
