// The KServe v2 HTTP/REST frontend (port 8000): routes each endpoint of the protocol (and
// Triton's repository, configuration and statistics extensions) to InferenceServer.
//
//   GET  /v2                                   server metadata
//   GET  /v2/health/live | /v2/health/ready    200, or 400 when not ready (as Triton)
//   GET  /v2/models/M[/versions/V]             model metadata
//   GET  /v2/models/M[/versions/V]/ready       200 or 400
//   GET  /v2/models/M[/versions/V]/config      the completed model configuration (JSON)
//   POST /v2/models/M[/versions/V]/infer       inference (JSON, binary tensor data extension)
//   GET  /v2/models[/M[/versions/V]]/stats     statistics extension
//   POST /v2/repository/index                  {"ready": bool}
//   POST /v2/repository/models/M/load|unload   model control (403 unless enabled)
//   /v2/systemsharedmemory/...                 system shared memory extension (http_shared_memory.h)
//   /v2/cudasharedmemory/...                   501, not supported (unregister: a no-op 200)
#include <nlohmann/json.hpp>

#include "serve/core/log.h"
#include "serve/frontend.h"
#include "serve/http/http_infer.h"
#include "serve/http/http_json.h"
#include "serve/http/http_server.h"
#include "serve/http/http_shared_memory.h"

namespace kiln::serve {

namespace {

using http::errorResponse;
using http::Response;
using http::statusResponse;
using json = nlohmann::json;

Response jsonResponse(const json& j) {
  Response r;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// Splits "/v2/models/a%2Fb/infer" into decoded segments; false on a bad escape.
bool splitPath(const std::string& path, std::vector<std::string>* out) {
  std::string cur;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '/') {
      if (!cur.empty()) out->push_back(std::move(cur));
      cur.clear();
    } else if (c == '%') {
      if (i + 2 >= path.size() || hex(path[i + 1]) < 0 || hex(path[i + 2]) < 0) return false;
      cur += static_cast<char>(hex(path[i + 1]) * 16 + hex(path[i + 2]));
      i += 2;
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out->push_back(std::move(cur));
  return true;
}

class HttpFrontend final : public Frontend {
 public:
  HttpFrontend(InferenceServer& server, const FrontendOptions& opts) : server_(server), opts_(opts) {}

  Status start() {
    http::ServerOptions so;
    so.name = "HTTP";
    so.address = opts_.address;
    so.port = opts_.port;
    so.threads = opts_.threads;
    so.maxBodyBytes = opts_.maxBodyBytes;
    so.bearerToken = opts_.bearerToken;
    KILN_ASSIGN_OR_RETURN(http_, http::Server::start(so, [this](http::Request&& r, std::shared_ptr<http::Responder> out) {
                            handle(std::move(r), std::move(out));
                          }));
    return Status::OK();
  }
  int port() const override { return http_->port(); }
  void stop() override { http_->stop(); }

 private:
  void handle(http::Request&& req, std::shared_ptr<http::Responder> out) {
    std::vector<std::string> seg;
    if (!splitPath(req.path, &seg)) return out->send(errorResponse(400, "malformed percent-escape in the URL path"));
    if (seg.empty() || seg[0] != "v2") return out->send(errorResponse(404, "unknown endpoint; the API is under /v2"));
    const bool get = req.method == "GET" || req.method == "HEAD";
    const bool post = req.method == "POST";
    auto need = [&](bool ok, const char* method) -> bool {
      if (!ok) out->send(errorResponse(405, fmt::format("{} needs {}", req.path, method)));
      return ok;
    };
    size_t n = seg.size();
    if (n == 1) {
      if (need(get, "GET")) out->send(jsonResponse(serverMetadataJson(server_.metadata())));
      return;
    }
    if (seg[1] == "health" && n == 3 && (seg[2] == "live" || seg[2] == "ready")) {
      if (!need(get, "GET")) return;
      bool ok = seg[2] == "live" ? server_.live() : server_.ready();
      Response r;
      r.status = ok ? 200 : 400;
      r.contentType = "text/plain";
      return out->send(std::move(r));
    }
    if (seg[1] == "repository") return repository(req, seg, post, out);
    if (seg[1] == "systemsharedmemory" || seg[1] == "cudasharedmemory")
      return out->send(http::sharedMemoryEndpoint(server_, req, seg));
    if (seg[1] != "models") return out->send(errorResponse(404, fmt::format("unknown endpoint '{}'", req.path)));
    // /v2/models/stats: statistics of every model.
    if (n == 3 && seg[2] == "stats") {
      if (need(get, "GET")) out->send(statsResponse("", ""));
      return;
    }
    if (n < 3) return out->send(errorResponse(404, fmt::format("unknown endpoint '{}'", req.path)));
    const std::string& model = seg[2];
    std::string version;
    size_t at = 3;
    if (n >= 5 && seg[3] == "versions") {
      version = seg[4];
      at = 5;
    }
    std::string action = at < n ? seg[at] : "";
    if (at + 1 < n || (at < n && action.empty()))
      return out->send(errorResponse(404, fmt::format("unknown endpoint '{}'", req.path)));
    if (action.empty()) {
      if (!need(get, "GET")) return;
      auto md = server_.modelMetadata(model, version);
      return out->send(md.ok() ? jsonResponse(modelMetadataJson(*md)) : statusResponse(md.status()));
    }
    if (action == "ready") {
      if (!need(get, "GET")) return;
      Response r;
      r.status = server_.modelReady(model, version) ? 200 : 400;
      r.contentType = "text/plain";
      return out->send(std::move(r));
    }
    if (action == "config") {
      if (!need(get, "GET")) return;
      auto cfg = server_.modelConfigJson(model, version);
      if (!cfg.ok()) return out->send(statusResponse(cfg.status()));
      Response r;
      r.body = std::move(*cfg);
      return out->send(std::move(r));
    }
    if (action == "stats") {
      if (need(get, "GET")) out->send(statsResponse(model, version));
      return;
    }
    if (action == "infer") {
      if (need(post, "POST")) infer(std::move(req), model, version, std::move(out));
      return;
    }
    out->send(errorResponse(404, fmt::format("unknown endpoint '{}'", req.path)));
  }

  Response statsResponse(const std::string& model, const std::string& version) {
    auto st = server_.statistics(model, version);
    return st.ok() ? jsonResponse(statisticsJson(*st)) : statusResponse(st.status());
  }

  void infer(http::Request&& req, const std::string& model, const std::string& version,
             std::shared_ptr<http::Responder> out) {
    auto body = std::make_shared<const std::string>(std::move(req.body));
    auto parsed = http::parseInferRequest(body, req.header("inference-header-content-length"));
    if (!parsed.ok()) {
      // An unknown or unavailable model is the more fundamental error: report it first.
      if (!server_.modelReady(model, version)) {
        auto md = server_.modelMetadata(model, version);
        if (!md.ok()) return out->send(statusResponse(md.status()));
      }
      return out->send(statusResponse(parsed.status()));
    }
    std::unique_ptr<InferRequest> ir = std::move(parsed->request);
    ir->model = model;
    ir->version = version;
    ir->complete = [out, enc = std::move(parsed->encoding)](std::unique_ptr<InferResponse> resp) {
      // Encoding (JSON numbers can be slow) runs on the connection's I/O thread, not on the
      // scheduler thread that would otherwise delay the next batch.
      std::shared_ptr<InferResponse> r(std::move(resp));
      out->sendLater([r, enc] { return http::encodeInferResponse(*r, enc); });
    };
    server_.infer(std::move(ir));
  }

  void repository(const http::Request& req, const std::vector<std::string>& seg, bool post,
                  const std::shared_ptr<http::Responder>& out) {
    size_t n = seg.size();
    auto body = [&]() -> Result<json> {
      if (req.body.empty()) return json::object();
      json j = json::parse(req.body, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return InvalidArgument("the request body must be a JSON object");
      return j;
    };
    if (n == 3 && seg[2] == "index") {
      if (!post) return out->send(errorResponse(405, "/v2/repository/index needs POST"));
      auto j = body();
      if (!j.ok()) return out->send(statusResponse(j.status()));
      bool readyOnly = false;
      if (j->contains("ready")) {
        if (!(*j)["ready"].is_boolean()) return out->send(errorResponse(400, "'ready' must be a boolean"));
        readyOnly = (*j)["ready"].get<bool>();
      }
      return out->send(jsonResponse(repositoryIndexJson(server_.repositoryIndex(readyOnly))));
    }
    if (n == 5 && seg[2] == "models" && (seg[4] == "load" || seg[4] == "unload")) {
      if (!post) return out->send(errorResponse(405, fmt::format("{} needs POST", req.path)));
      if (!opts_.allowModelControl)
        return out->send(errorResponse(403, "model control is disabled: start the server with --model-control-mode=explicit"));
      auto j = body();
      if (!j.ok()) return out->send(statusResponse(j.status()));
      json params = j->value("parameters", json::object());
      if (!params.is_object()) return out->send(errorResponse(400, "'parameters' must be an object"));
      Status st;
      if (seg[4] == "load") {
        std::optional<std::string> config;
        for (auto& [k, v] : params.items()) {
          if (k == "config") {
            if (!v.is_string()) return out->send(errorResponse(400, "parameter 'config' must be a string holding JSON"));
            config = v.get<std::string>();
          } else if (k.rfind("file:", 0) == 0) {
            return out->send(errorResponse(501, "loading model files from the request ('file:' parameters) is not supported"));
          }
        }
        log::info("HTTP: load request for model '{}'", seg[3]);
        st = server_.loadModel(seg[3], config);
      } else {
        bool dependents = params.value("unload_dependents", false);
        log::info("HTTP: unload request for model '{}'", seg[3]);
        st = server_.unloadModel(seg[3], dependents);
      }
      if (!st.ok()) return out->send(statusResponse(st));
      return out->send(Response{});
    }
    out->send(errorResponse(404, fmt::format("unknown endpoint '{}'", req.path)));
  }

  InferenceServer& server_;
  FrontendOptions opts_;
  std::unique_ptr<http::Server> http_;
};

}  // namespace

Result<std::unique_ptr<Frontend>> startHttpFrontend(InferenceServer& server, const FrontendOptions& opts) {
  auto f = std::make_unique<HttpFrontend>(server, opts);
  KILN_RETURN_IF_ERROR(f->start());
  return std::unique_ptr<Frontend>(std::move(f));
}

}  // namespace kiln::serve
