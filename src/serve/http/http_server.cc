// HTTP/1.1 server: acceptor, I/O threads and per-connection sessions on Boost.Beast.
#include "serve/http/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>
#include <chrono>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "serve/core/log.h"
#include "serve/http/http_body.h"

namespace kiln::serve::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

const std::string* Request::header(std::string_view lowerName) const {
  for (const auto& [k, v] : headers)
    if (k == lowerName) return &v;
  return nullptr;
}

Response errorResponse(unsigned status, std::string_view message) {
  Response r;
  r.status = status;
  // dump() with replace: a message quoting invalid UTF-8 from a client must not throw.
  r.body = nlohmann::json{{"error", std::string(message)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

unsigned httpStatusFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kUnsupported: return 501;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kInternal:
    case StatusCode::kDataLoss: return 500;
    default: return 400;  // invalid argument, out of range, precondition, exhausted limits, ...
  }
}

Response statusResponse(const Status& st) { return errorResponse(httpStatusFor(st), st.message()); }

namespace {

struct State {
  ServerOptions opts;
  Handler handler;
  net::io_context ioc;
  std::atomic<bool> stopping{false};
  std::atomic<int> inFlight{0};  // requests handed to the handler and not yet answered
  explicit State(int threads) : ioc(threads) {}
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Compares without an early exit, so response time does not reveal how much of a token matched.
bool tokenMatches(std::string_view got, const std::string& want) {
  unsigned char diff = got.size() == want.size() ? 0 : 1;
  for (size_t i = 0; i < got.size(); ++i) diff |= static_cast<unsigned char>(got[i] ^ want[i % want.size()]);
  return diff == 0;
}

}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<State> state) : stream_(std::move(socket)), state_(std::move(state)) {}

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  net::any_io_executor executor() { return stream_.get_executor(); }

  // Runs on the connection's strand.
  void deliver(Response r) {
    state_->inFlight--;
    write(std::move(r), !keepAlive_ || state_->stopping);
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(state_->opts.maxBodyBytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(state_->opts.idleTimeoutSeconds));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::onHeader, shared_from_this()));
  }

  // The header first, so an oversized body is refused before it is read and a client that sent
  // "Expect: 100-continue" (curl does for bodies over 1 KiB) is told to go on instead of waiting.
  void onHeader(beast::error_code ec, size_t) {
    if (readFailed(ec)) return;
    auto len = parser_->content_length();
    if (len && *len > state_->opts.maxBodyBytes) {
      readFailed(bhttp::error::body_limit);
      return;
    }
    auto expect = parser_->get()[bhttp::field::expect];
    if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
      bhttp::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code ec, size_t) {
        if (ec) return self->close();
        self->readBody();
      });
      return;
    }
    readBody();
  }

  void readBody() {
    bhttp::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::onRead, shared_from_this()));
  }

  // Handles a read error (true) or does nothing (false).
  bool readFailed(beast::error_code ec) {
    if (!ec) return false;
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof) {
      close();
    } else if (ec == bhttp::error::body_limit) {
      write(errorResponse(413, fmt::format("request body is larger than the server's limit of {} bytes (--max-body-bytes)",
                                           state_->opts.maxBodyBytes)),
            true);
    } else {
      // The stream is out of sync after a parse error: answer and close.
      write(errorResponse(400, fmt::format("malformed HTTP request: {}", ec.message())), true);
    }
    return true;
  }

  void onRead(beast::error_code ec, size_t) {
    if (readFailed(ec)) return;
    auto& msg = parser_->get();
    keepAlive_ = msg.keep_alive();
    Request req;
    req.method = std::string(msg.method_string());
    std::string_view target = msg.target();
    size_t q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
    for (const auto& f : msg) req.headers.emplace_back(lower(f.name_string()), std::string(f.value()));

    if (!state_->opts.bearerToken.empty()) {
      const std::string* auth = req.header("authorization");
      std::string_view v = auth ? std::string_view(*auth) : std::string_view();
      bool ok = v.size() > 7 && lower(v.substr(0, 7)) == "bearer " && tokenMatches(v.substr(7), state_->opts.bearerToken);
      if (!ok) {
        Response r = errorResponse(401, auth ? "invalid bearer token" : "missing 'Authorization: Bearer <token>' header");
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        write(std::move(r), !keepAlive_);
        return;
      }
    }
    if (const std::string* enc = req.header("content-encoding")) {
      auto body = decodeBody(*enc, std::move(msg.body()), state_->opts.maxBodyBytes);
      if (!body.ok()) {
        unsigned code = body.status().code() == StatusCode::kResourceExhausted ? 413
                        : body.status().code() == StatusCode::kUnsupported  ? 415
                                                                             : 400;
        write(errorResponse(code, body.status().message()), !keepAlive_);
        return;
      }
      req.body = std::move(*body);
    } else {
      req.body = std::move(msg.body());
    }
    parser_.reset();
    stream_.expires_never();  // the request may wait in a queue: no timeout until the answer
    state_->inFlight++;
    try {
      state_->handler(std::move(req), std::make_shared<Responder>(shared_from_this()));
    } catch (const std::exception& e) {
      // Handlers report errors as values; this is a last resort so the connection still answers.
      log::error("{}: handler threw: {}", state_->opts.name, e.what());
    }
  }

  void write(Response r, bool closeAfter) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(r.status), 11);
    res->set(bhttp::field::server, "kiln");
    res->set(bhttp::field::content_type, r.contentType);
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(!closeAfter);
    res->prepare_payload();
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res, closeAfter](beast::error_code ec, size_t) {
      if (ec || closeAfter) {
        self->close();
        return;
      }
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  std::shared_ptr<State> state_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keepAlive_ = true;
};

Responder::~Responder() {
  if (!sent_) send(errorResponse(500, "internal error: the request was dropped without a response"));
}

void Responder::send(Response r) {
  if (sent_.exchange(true)) return;
  net::post(session_->executor(), [s = session_, r = std::move(r)]() mutable { s->deliver(std::move(r)); });
}

void Responder::sendLater(std::function<Response()> make) {
  if (sent_.exchange(true)) return;
  net::post(session_->executor(), [s = session_, make = std::move(make)]() { s->deliver(make()); });
}

namespace {

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(std::shared_ptr<State> st) : state_(std::move(st)), acceptor_(net::make_strand(state_->ioc)) {}

  Status listen() {
    const auto& o = state_->opts;
    beast::error_code ec;
    auto addr = net::ip::make_address(o.address, ec);
    if (ec) return InvalidArgument("{}: '{}' is not an IP address", o.name, o.address);
    if (o.port < 0 || o.port > 65535) return InvalidArgument("{}: port {} is outside 0..65535", o.name, o.port);
    tcp::endpoint ep(addr, static_cast<unsigned short>(o.port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("{}: cannot listen on {}:{}: {}", o.name, o.address, o.port, ec.message());
    port_ = acceptor_.local_endpoint().port();
    accept();
    for (int i = 0; i < std::max(1, o.threads); ++i) threads_.emplace_back([this] { state_->ioc.run(); });
    return Status::OK();
  }

  ~ServerImpl() override {
    stop();
    // Answers still on their way (from scheduler threads) need the I/O threads; wait a little.
    for (int i = 0; i < 500 && state_->inFlight > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    work_.reset();
    state_->ioc.stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  int port() const override { return port_; }

  void stop() override {
    if (state_->stopping.exchange(true)) return;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
  }

 private:
  void accept() {
    acceptor_.async_accept(net::make_strand(state_->ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (!acceptor_.is_open() || state_->stopping) return;
        log::warn("{}: accept failed: {}", state_->opts.name, ec.message());
      } else {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);  // small responses must not wait for Nagle
        std::make_shared<Session>(std::move(socket), state_)->start();
      }
      if (!state_->stopping) accept();
    });
  }

  std::shared_ptr<State> state_;
  tcp::acceptor acceptor_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{state_->ioc.get_executor()};
  std::vector<std::thread> threads_;
  int port_ = 0;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& opts, Handler handler) {
  auto st = std::make_shared<State>(std::max(1, opts.threads));
  st->opts = opts;
  st->handler = std::move(handler);
  auto s = std::make_unique<ServerImpl>(st);
  KILN_RETURN_IF_ERROR(s->listen());
  return std::unique_ptr<Server>(std::move(s));
}

}  // namespace kiln::serve::http
