// `kiln bench`: latency and throughput of an engine, trtexec-style.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backends/cpu/cpu_info.h"
#include "cli_common.h"
#include "commands.h"
#include "plan/plan.h"

namespace kiln::cli {

namespace {
double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = q * (v.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}
}  // namespace

void addBenchCommand(CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("bench", "Measure latency and throughput of an engine or ONNX model");
  struct Opts {
    std::string model, json;
    ShapeOptions shapes;
    int iterations = 50, warmup = 5, threads = 0, streams = 1;
    double duration = 2.0;
    bool verbose = false, profile = false, cudaGraph = true;
    TargetOptions target;
    std::string devices;  // "0,1": one engine copy per GPU
    std::vector<std::string> values;  // "k=5", "pads=1,2,0,0"
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "Engine file, or ONNX model (built in memory)")->required();
  cmd->add_option("--shapes", o->shapes.shapes, "Input shapes to run (default: static dims or the profile's opt)");
  cmd->add_option("--iterations", o->iterations, "Run at least this many timed iterations per stream")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o->warmup, "Untimed iterations first")->check(CLI::NonNegativeNumber);
  cmd->add_option("--duration", o->duration, "Run for at least this many seconds")->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", o->threads, "CPU threads for kernels (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--streams", o->streams, "Concurrent execution contexts, each on its own thread")->check(CLI::PositiveNumber);
  cmd->add_option("--json", o->json, "Write the results as JSON to this file");
  cmd->add_flag("--profile", o->profile, "After timing, run profiled iterations and print the slowest layers");
  cmd->add_flag("--cuda-graph,!--no-cuda-graph", o->cudaGraph,
                "CUDA engines: capture each context's launches into a CUDA graph and replay it (default on)");
  o->target.addTo(cmd);
  cmd->add_option("--devices", o->devices,
                  "GPUs to run on, e.g. 0,1: one engine copy per GPU, --streams contexts on each (CUDA engines)");
  cmd->add_option("--value", o->values,
                  "An input's values instead of random data: name=v1,v2,... (repeatable), e.g. k=5 for a TopK K "
                  "given as a host input");
  cmd->add_flag("-v,--verbose", o->verbose, "Show build progress");
  cmd->callback([o, &exitCode] {
    if (o->threads > 0) cpu::setNumThreads(o->threads);
    std::map<std::string, Dims> given;
    if (!o->shapes.shapes.empty()) {
      auto s = parseShapeList(o->shapes.shapes);
      if (!s.ok()) {
        exitCode = fail("bench", s.status());
        return;
      }
      given = *s;
    }
    std::vector<int> devices;
    for (size_t pos = 0; pos < o->devices.size();) {
      size_t c = o->devices.find(',', pos);
      std::string item = o->devices.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
      pos = c == std::string::npos ? o->devices.size() : c + 1;
      if (item.empty()) continue;
      if (item.find_first_not_of("0123456789") != std::string::npos) {
        exitCode = fail("bench", InvalidArgument("--devices '{}': '{}' is not a GPU index (use 0,1)", o->devices, item));
        return;
      }
      devices.push_back(std::stoi(item));
    }
    auto loadStart = std::chrono::steady_clock::now();
    // One engine per device (a CUDA engine is loaded on, or built for, the GPU it runs on).
    std::vector<std::shared_ptr<Engine>> engines;
    for (int d : devices.empty() ? std::vector<int>{-1} : devices) {
      BuildConfig cfg;
      (void)o->target.apply(cfg);
      if (d >= 0) {
        cfg.target = Target::kCUDA;
        cfg.device = d;
      }
      auto engine = loadOrBuild(o->model, cfg, o->shapes, {}, o->verbose);
      if (!engine.ok()) {
        exitCode = fail("bench", d >= 0 ? std::move(engine).takeStatus().withContext(fmt::format("GPU {}", d))
                                        : engine.status());
        return;
      }
      if (d >= 0 && !(*engine)->isCuda()) {
        exitCode = fail("bench", InvalidArgument("--devices needs a CUDA engine; '{}' is a CPU engine", o->model));
        return;
      }
      engines.push_back(std::move(*engine));
    }
    double loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loadStart).count();
    const Engine& e = *engines[0];
    auto dims = chooseInputDims(e, given);
    if (!dims.ok()) {
      exitCode = fail("bench", dims.status());
      return;
    }
    std::vector<ExecutionContext::Named> inputs;
    uint32_t seed = 1;
    int64_t batch = 1;
    std::map<std::string, std::string> givenValues;
    for (const auto& v : o->values) {
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) {
        exitCode = fail("bench", InvalidArgument("--value '{}': expected name=v1,v2,...", v));
        return;
      }
      givenValues[v.substr(0, eq)] = v.substr(eq + 1);
    }
    for (const auto& io : e.ioTensors()) {
      if (!io.isInput) continue;
      Dims d = dims->at(io.name);
      if (d.rank() > 0 && inputs.empty()) batch = d[0];
      const uint32_t inputSeed = seed++;  // the other inputs' data stay the same with or without --value
      auto g = givenValues.find(io.name);
      if (g == givenValues.end()) {
        inputs.push_back({io.name, randomInput(io.dtype, d, inputSeed)});
        continue;
      }
      auto t = parseInputValues(io.dtype, d, g->second);
      if (!t.ok()) {
        exitCode = fail("bench", std::move(t).takeStatus().withContext(fmt::format("--value for input '{}'", io.name)));
        return;
      }
      inputs.push_back({io.name, std::move(t).value()});
      givenValues.erase(g);
    }
    if (!givenValues.empty()) {
      exitCode = fail("bench", NotFound("--value names '{}', which is not an input of the engine", givenValues.begin()->first));
      return;
    }
    // --streams contexts per engine copy (per GPU with --devices).
    const int streams = o->streams * static_cast<int>(engines.size());
    std::vector<std::vector<double>> lat(streams);
    std::vector<Status> errors(streams);
    std::atomic<bool> go{false};
    auto worker = [&](int s) {
      auto ctx = engines[s / o->streams]->createExecutionContext();
      if (!ctx.ok()) {
        errors[s] = ctx.status();
        return;
      }
      (*ctx)->setCudaGraphs(o->cudaGraph);
      std::vector<ExecutionContext::Named> outs;
      // Binds buffers once; runs reuse them. CUDA engines keep inputs and outputs in device
      // memory between runs, so the timing is the GPU work (launch + sync), as trtexec's.
      Status st = (*ctx)->run(inputs, &outs);
      for (int i = 0; i < o->warmup && st.ok(); ++i) st = (*ctx)->execute();
      if (!st.ok()) {
        errors[s] = st;
        return;
      }
      while (!go.load()) std::this_thread::yield();
      auto start = std::chrono::steady_clock::now();
      for (int i = 0;; ++i) {
        auto a = std::chrono::steady_clock::now();
        st = (*ctx)->execute();
        auto b = std::chrono::steady_clock::now();
        if (!st.ok()) {
          errors[s] = st;
          return;
        }
        lat[s].push_back(std::chrono::duration<double, std::milli>(b - a).count());
        if (i + 1 >= o->iterations && std::chrono::duration<double>(b - start).count() >= o->duration) break;
      }
    };
    std::vector<std::thread> threads;
    for (int s = 0; s < streams; ++s) threads.emplace_back(worker, s);
    // Start timing once every context has warmed up (contexts are created inside the threads).
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto t0 = std::chrono::steady_clock::now();
    go = true;
    for (auto& t : threads) t.join();
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& err : errors)
      if (!err.ok()) {
        exitCode = fail("bench", err);
        return;
      }
    std::vector<double> all;
    for (const auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    double mean = 0;
    for (double x : all) mean += x;
    mean /= std::max<size_t>(1, all.size());
    double qps = all.size() / wall;
    const auto& p = e.plan();
    fmt::print("model: {}\ntarget: {} {} ({})\n", p.modelName, p.target.kind, p.target.arch, p.target.device);
    fmt::print("{}: {:.3f} s\n", isEngineFile(o->model) ? "engine load" : "build (in memory)", loadSeconds);
    for (const auto& in : inputs) fmt::print("input: {} {}{}\n", in.name, dtypeName(in.tensor.dtype()), in.tensor.dims().toString());
    int threadsUsed = o->threads > 0 ? o->threads : cpu::cpuInfo().cores;
    if (e.isCuda())
      fmt::print("cuda graphs = {}, I/O device-resident (no host copies timed), streams = {}, iterations = {} in {:.2f} s\n",
                 o->cudaGraph ? "on" : "off", streams, all.size(), wall);
    else
      fmt::print("threads = {}, streams = {}, iterations = {} in {:.2f} s\n", threadsUsed, streams, all.size(), wall);
    fmt::print("latency: min = {:.3f} ms, median = {:.3f} ms, mean = {:.3f} ms, p90 = {:.3f} ms, p99 = {:.3f} ms, max = {:.3f} ms\n",
               percentile(all, 0), percentile(all, 0.5), mean, percentile(all, 0.9), percentile(all, 0.99), percentile(all, 1));
    fmt::print("throughput: {:.1f} inferences/s ({:.1f} samples/s at batch {})\n", qps, qps * batch, batch);
    for (size_t d = 0; d < devices.size(); ++d) {
      size_t n = 0;
      for (int st = static_cast<int>(d) * o->streams; st < static_cast<int>(d + 1) * o->streams; ++st) n += lat[st].size();
      fmt::print("  GPU {}: {:.1f} inferences/s\n", devices[d], n / wall);
    }
    nlohmann::json profileJson = nlohmann::json::array();
    if (o->profile) {
      auto ctx = e.createExecutionContext();
      std::vector<ExecutionContext::Named> outs;
      Status st = ctx.ok() ? (*ctx)->run(inputs, &outs) : ctx.status();
      if (st.ok()) {
        (*ctx)->enableLayerProfiling(true);
        const int runs = std::max(5, o->iterations / 2);
        for (int i = 0; i < runs && st.ok(); ++i) st = (*ctx)->execute();
      }
      if (!st.ok()) {
        exitCode = fail("bench", st);
        return;
      }
      auto times = (*ctx)->layerTimes();
      double total = 0;
      std::map<std::string, double> byOp;
      for (const auto& t : times) {
        total += t.totalMs;
        byOp[t.op] += t.totalMs;
      }
      std::sort(times.begin(), times.end(), [](const auto& a, const auto& b) { return a.totalMs > b.totalMs; });
      const double runs = times.empty() ? 1 : std::max<double>(1, times[0].runs);
      fmt::print("profile ({} runs, {:.3f} ms per run in layers):\n", runs, total / runs);
      std::vector<std::pair<double, std::string>> ops;
      for (const auto& [op, ms] : byOp) ops.emplace_back(ms, op);
      std::sort(ops.rbegin(), ops.rend());
      for (const auto& [ms, op] : ops) fmt::print("  {:24} {:8.3f} ms  {:5.1f}%\n", op, ms / runs, 100 * ms / total);
      fmt::print("slowest layers:\n");
      for (size_t i = 0; i < times.size() && i < 12; ++i)
        fmt::print("  {:8.3f} ms  {:5.1f}%  {} ({}, {})\n", times[i].totalMs / runs, 100 * times[i].totalMs / total,
                   times[i].name, times[i].op, times[i].tactic);
      for (const auto& t : times)
        profileJson.push_back({{"layer", t.name}, {"op", t.op}, {"tactic", t.tactic}, {"ms_per_run", t.totalMs / runs}});
    }
    if (!o->json.empty()) {
      nlohmann::json j;
      if (o->profile) j["profile"] = profileJson;
      j["model"] = p.modelName;
      j["target"] = {{"kind", p.target.kind}, {"arch", p.target.arch}, {"device", p.target.device}};
      for (const auto& in : inputs) j["inputs"][in.name] = in.tensor.dims().vec();
      j["threads"] = threadsUsed;
      if (e.isCuda()) j["cuda_graphs"] = o->cudaGraph;
      if (!devices.empty()) j["devices"] = devices;
      j["precisions"] = p.build.precisions;
      j["streams"] = streams;
      j["iterations"] = all.size();
      j["seconds"] = wall;
      j[isEngineFile(o->model) ? "load_seconds" : "build_seconds"] = loadSeconds;
      j["batch"] = batch;
      j["latency_ms"] = {{"min", percentile(all, 0)}, {"median", percentile(all, 0.5)}, {"mean", mean},
                         {"p90", percentile(all, 0.9)}, {"p99", percentile(all, 0.99)}, {"max", percentile(all, 1)}};
      j["throughput_per_s"] = qps;
      j["samples_per_s"] = qps * batch;
      std::ofstream f(o->json);
      f << j.dump(2) << "\n";
      if (!f) {
        exitCode = fail("bench", NotFound("cannot write '{}'", o->json));
        return;
      }
    }
  });
}

}  // namespace kiln::cli
