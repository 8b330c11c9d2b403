// `kiln serve`: a KServe v2 / Triton-compatible inference server over a model repository. Flags
// carry Triton's names where Triton has them, so a migrating user's command line works.
//
// Start-up prints one line per bound endpoint ("HTTP listening on 127.0.0.1:8000"), so scripts
// and tests that ask for port 0 learn the port. SIGTERM/SIGINT stop the listeners, answer every
// queued request (or fail it once --exit-timeout-secs passes), unload the models and exit 0; a
// second signal exits at once.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "backends/cpu/cpu_info.h"
#include "commands.h"
#include "serve/frontend.h"
#include "serve/inference_server.h"
#ifdef KILN_HAVE_SYSTEM_METRICS
#include "serve/system_metrics.h"
#endif

namespace kiln::cli {

namespace {

struct ServeOptions {
  serve::ServerOptions server;
  std::string controlMode = "none";
  std::string httpAddress = "127.0.0.1", grpcAddress = "127.0.0.1", metricsAddress = "127.0.0.1";
  int httpPort = 8000, grpcPort = 8001, metricsPort = 8002;
  bool allowHttp = true, allowGrpc = true, allowMetrics = true;
  int httpThreads = 4;
  int cpuThreads = 0;
  uint64_t maxBodyBytes = 256ull << 20;
  std::string token;
};

void printListening(const char* what, const std::string& address, int port) {
  // stdout, flushed: tests and scripts read the bound port from here.
  std::fprintf(stdout, "%s listening on %s:%d\n", what, address.c_str(), port);
  std::fflush(stdout);
}

int serve(ServeOptions& o) {
  if (o.controlMode == "none") o.server.controlMode = serve::ModelControlMode::kNone;
  else if (o.controlMode == "poll") o.server.controlMode = serve::ModelControlMode::kPoll;
  else if (o.controlMode == "explicit") o.server.controlMode = serve::ModelControlMode::kExplicit;
  else return fail("serve", InvalidArgument("--model-control-mode must be none, poll or explicit, not '{}'", o.controlMode));
  if (!o.server.startupModels.empty() && o.server.controlMode != serve::ModelControlMode::kExplicit)
    std::cerr << "kiln serve: --load-model applies only with --model-control-mode=explicit; every model is loaded\n";
  if (o.token.empty()) {
    // The token from the environment keeps it out of `ps` output.
    if (const char* t = std::getenv("KILN_SERVE_TOKEN")) o.token = t;
  }

  // Signals are taken by sigwait on this thread: block them before any thread starts, so every
  // thread inherits the mask and none is interrupted.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server

  // Before any model loads: the kernel thread pool is process-wide and not replaced while kernels run.
  if (o.cpuThreads > 0) cpu::setNumThreads(o.cpuThreads);
  auto server = serve::InferenceServer::create(o.server);
  if (!server.ok()) return fail("serve", server.status());
  serve::InferenceServer& srv = **server;
#ifdef KILN_HAVE_SYSTEM_METRICS
  auto sysMetrics = serve::SystemMetrics::start(srv.metrics(), std::chrono::seconds(2));
#endif

  std::vector<std::unique_ptr<serve::Frontend>> frontends;
  auto startOne = [&](const char* what, auto startFn, const std::string& address, int port, int threads) -> bool {
    serve::FrontendOptions fo;
    fo.address = address;
    fo.port = port;
    fo.threads = threads;
    fo.maxBodyBytes = o.maxBodyBytes;
    fo.bearerToken = o.token;
    fo.allowModelControl = o.server.controlMode == serve::ModelControlMode::kExplicit;
    auto f = startFn(srv, fo);
    if (!f.ok()) {
      fail("serve", f.status());
      return false;
    }
    printListening(what, address, (*f)->port());
    frontends.push_back(std::move(*f));
    return true;
  };
  bool ok = true;
  if (o.allowHttp) ok = ok && startOne("HTTP", serve::startHttpFrontend, o.httpAddress, o.httpPort, o.httpThreads);
#ifdef KILN_HAVE_GRPC
  if (o.allowGrpc) ok = ok && startOne("gRPC", serve::startGrpcFrontend, o.grpcAddress, o.grpcPort, o.httpThreads);
#else
  if (o.allowGrpc) std::cerr << "kiln serve: this build has no gRPC frontend; serving HTTP only\n";
#endif
  if (o.allowMetrics) ok = ok && startOne("metrics", serve::startMetricsFrontend, o.metricsAddress, o.metricsPort, 1);
  if (!ok) {
    for (auto& f : frontends) f->stop();
    frontends.clear();
    srv.shutdown(std::chrono::milliseconds(0));
    return 1;
  }

  int sig = 0;
  sigwait(&sigs, &sig);
  auto deadline = std::chrono::milliseconds(static_cast<int64_t>(o.server.exitTimeoutSeconds * 1000));
  std::fprintf(stderr, "kiln serve: %s received: draining (at most %.0f s; a second signal exits now)\n",
               sig == SIGTERM ? "SIGTERM" : "SIGINT", o.server.exitTimeoutSeconds);
  std::thread([sigs] {
    int again = 0;
    sigwait(&sigs, &again);
    std::fprintf(stderr, "kiln serve: second signal: exiting without draining\n");
    _exit(1);
  }).detach();
  // Listeners close first; connections with a request in flight still get their answers.
  for (auto& f : frontends) f->stop();
  srv.shutdown(deadline);
  frontends.clear();
  std::fprintf(stderr, "kiln serve: stopped\n");
  return 0;
}

}  // namespace

void addServeCommand(CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("serve", "Serve models over KServe v2 HTTP/REST and gRPC (Triton-compatible), with "
                                          "Prometheus metrics");
  auto o = std::make_shared<ServeOptions>();
  auto& s = o->server;
  cmd->add_option("--model-repository,--model-store", s.repositories, "Model repository (repeatable)")->required();
  cmd->add_option("--http-port", o->httpPort, "HTTP/REST port (0: any free port)")->capture_default_str();
  cmd->add_option("--grpc-port", o->grpcPort, "gRPC port (0: any free port)")->capture_default_str();
  cmd->add_option("--metrics-port", o->metricsPort, "Prometheus /metrics port (0: any free port)")->capture_default_str();
  cmd->add_option("--http-address", o->httpAddress, "Address the HTTP endpoint binds")->capture_default_str();
  cmd->add_option("--grpc-address", o->grpcAddress, "Address the gRPC endpoint binds")->capture_default_str();
  cmd->add_option("--metrics-address", o->metricsAddress, "Address the metrics endpoint binds")->capture_default_str();
  cmd->add_option("--allow-http", o->allowHttp, "Serve HTTP/REST")->capture_default_str();
  cmd->add_option("--allow-grpc", o->allowGrpc, "Serve gRPC")->capture_default_str();
  cmd->add_option("--allow-metrics", o->allowMetrics, "Serve /metrics")->capture_default_str();
  cmd->add_option("--http-thread-count", o->httpThreads, "I/O threads of the HTTP endpoint")->capture_default_str();
  cmd->add_option("--model-control-mode", o->controlMode,
                  "none: load every model at start; poll: also pick up changes every --repository-poll-secs; "
                  "explicit: load/unload through the repository API (and --load-model)")
      ->capture_default_str();
  cmd->add_option("--repository-poll-secs", s.pollSeconds, "Poll interval in poll mode")->capture_default_str();
  cmd->add_option("--load-model", s.startupModels, "Model to load at start in explicit mode (repeatable; '*' = all)");
  cmd->add_option("--log-verbose", s.logVerbose, "Verbose log level (0: off)")->capture_default_str();
  cmd->add_option("--exit-timeout-secs", s.exitTimeoutSeconds,
                  "On SIGTERM/SIGINT: how long queued requests may still run before they are failed")
      ->capture_default_str();
  cmd->add_option("--engine-cache-dir", s.engineCacheDir,
                  "Where engines built from ONNX models are cached (default: <repository>/.kiln-cache)");
  cmd->add_option("--max-body-bytes", o->maxBodyBytes, "Largest request body (HTTP, after decompression) or gRPC message")
      ->capture_default_str();
  cmd->add_option("--max-tensor-bytes", s.maxTensorBytes, "Largest input tensor")->capture_default_str();
  cmd->add_option("--default-max-queue-size", s.maxBatchRequests,
                  "Queue bound per model (and priority level) where the config sets no max_queue_size; a full queue "
                  "answers 503/UNAVAILABLE at once")
      ->capture_default_str();
  cmd->add_option("--cpu-threads", o->cpuThreads,
                  "Threads of the CPU kernels' shared pool (default: KILN_NUM_THREADS or all cores); with many "
                  "instances, fewer threads per run often serve better");
  cmd->add_option("--http-token", o->token,
                  "Require 'Authorization: Bearer <token>' on every endpoint (or set KILN_SERVE_TOKEN)");
  cmd->callback([o, &exitCode] { exitCode = serve(*o); });
}

}  // namespace kiln::cli
