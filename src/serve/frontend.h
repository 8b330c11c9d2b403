// Protocol frontends of `kiln serve`: KServe v2 HTTP/REST (port 8000), Prometheus metrics
// (port 8002) and gRPC inference.GRPCInferenceService (port 8001). Each translates its wire format
// to the protocol-free InferenceServer API (inference_server.h) and owns its own threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kiln/status.h"
#include "serve/inference_server.h"

namespace kiln::serve {

class Frontend {
 public:
  virtual ~Frontend() = default;
  // The port actually bound (useful with port 0 in tests).
  virtual int port() const = 0;
  // Stops accepting connections; in-flight requests still get their responses.
  virtual void stop() = 0;
};

struct FrontendOptions {
  std::string address = "127.0.0.1";  // secure default: loopback only
  int port = 0;
  int threads = 4;
  uint64_t maxBodyBytes = 256ull << 20;  // HTTP body / gRPC message limit
  std::string bearerToken;              // "" = no authentication
  bool allowModelControl = false;       // repository load/unload endpoints
};

// Each starts serving before it returns; an error says which address/port could not be bound.
Result<std::unique_ptr<Frontend>> startHttpFrontend(InferenceServer& server, const FrontendOptions& opts);
Result<std::unique_ptr<Frontend>> startMetricsFrontend(InferenceServer& server, const FrontendOptions& opts);
Result<std::unique_ptr<Frontend>> startGrpcFrontend(InferenceServer& server, const FrontendOptions& opts);

}  // namespace kiln::serve
