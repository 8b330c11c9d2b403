// The Prometheus endpoint (port 8002): GET /metrics renders the server's MetricsRegistry in the
// text exposition format 0.0.4. It shares the HTTP server of the KServe frontend (keep-alive,
// limits, bearer token) but serves nothing else.
#include "serve/frontend.h"
#include "serve/http/http_server.h"

namespace kiln::serve {

namespace {

class MetricsFrontend final : public Frontend {
 public:
  explicit MetricsFrontend(InferenceServer& server) : server_(server) {}
  Status start(const FrontendOptions& opts) {
    http::ServerOptions so;
    so.name = "metrics";
    so.address = opts.address;
    so.port = opts.port;
    so.threads = 1;  // scrapes are rare and cheap
    so.maxBodyBytes = 64 * 1024;
    so.bearerToken = opts.bearerToken;
    KILN_ASSIGN_OR_RETURN(http_, http::Server::start(so, [this](http::Request&& r, std::shared_ptr<http::Responder> out) {
                            if (r.path != "/metrics") return out->send(http::errorResponse(404, "only /metrics is served here"));
                            if (r.method != "GET" && r.method != "HEAD")
                              return out->send(http::errorResponse(405, "/metrics needs GET"));
                            http::Response resp;
                            resp.contentType = "text/plain; version=0.0.4; charset=utf-8";
                            resp.body = server_.metrics().render();
                            out->send(std::move(resp));
                          }));
    return Status::OK();
  }
  int port() const override { return http_->port(); }
  void stop() override { http_->stop(); }

 private:
  InferenceServer& server_;
  std::unique_ptr<http::Server> http_;
};

}  // namespace

Result<std::unique_ptr<Frontend>> startMetricsFrontend(InferenceServer& server, const FrontendOptions& opts) {
  auto f = std::make_unique<MetricsFrontend>(server);
  KILN_RETURN_IF_ERROR(f->start(opts));
  return std::unique_ptr<Frontend>(std::move(f));
}

}  // namespace kiln::serve
