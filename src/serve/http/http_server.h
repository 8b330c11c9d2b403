// A small HTTP/1.1 server on Boost.Beast, shared by the KServe v2 frontend and the metrics
// endpoint. It owns the listening socket and a pool of I/O threads; the frontends only see a
// request (body already decompressed and size-checked, bearer token already checked) and a
// Responder they answer through exactly once, from any thread.
//
// Per connection: keep-alive, one request at a time (the next is read after the response is
// written), an idle timeout, a body limit (413 before the body is read when Content-Length says
// it is too large), gzip/deflate request bodies (Content-Encoding), and a 400 with a JSON error for
// anything unparsable. stop() closes the listener; connections finish the request in flight.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/status.h"

namespace kiln::serve::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded segments are the router's business; no query string
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;    // decoded (Content-Encoding removed)
  const std::string* header(std::string_view lowerName) const;
};

struct Response {
  unsigned status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": "<message>"} with `status`.
Response errorResponse(unsigned status, std::string_view message);
// Triton's mapping of error codes to HTTP statuses (400 for the client's errors, 404 not found,
// 501 unsupported, 503 unavailable, 500 internal).
unsigned httpStatusFor(const Status& st);
Response statusResponse(const Status& st);

class Session;

// Answers one request. Exactly one send: later calls are ignored; a Responder dropped without
// sending answers 500 (a bug, but the client is never left waiting).
class Responder {
 public:
  explicit Responder(std::shared_ptr<Session> s) : session_(std::move(s)) {}
  ~Responder();
  void send(Response r);
  // Builds the response on the connection's I/O thread (e.g. encoding large outputs off the
  // scheduler thread that completed the request).
  void sendLater(std::function<Response()> make);

 private:
  std::shared_ptr<Session> session_;
  std::atomic<bool> sent_{false};
};

using Handler = std::function<void(Request&&, std::shared_ptr<Responder>)>;

struct ServerOptions {
  std::string name = "HTTP";  // for log lines and errors
  std::string address = "127.0.0.1";
  int port = 0;
  int threads = 2;
  uint64_t maxBodyBytes = 256ull << 20;  // after decompression too
  std::string bearerToken;                // "" = none
  int idleTimeoutSeconds = 120;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> start(const ServerOptions& opts, Handler handler);
  virtual ~Server() = default;
  virtual int port() const = 0;
  virtual void stop() = 0;
};

}  // namespace kiln::serve::http
