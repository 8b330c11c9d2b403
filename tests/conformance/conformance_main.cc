// ONNX conformance runner: imports each test model, feeds test_data_set_0 inputs, runs the CPU
// interpreter and compares with the stored outputs (integers/bool exactly, floats with the ONNX
// runner's rtol/atol; sequences and optionals element by element). Tests not listed in the expected-unsupported file must pass; listed tests
// that now pass are reported as stale so the list only shrinks.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>

#include "onnx/importer.h"
#include "onnx/tensor_proto.h"
#include "onnx/value_proto.h"
#include "backends/host_inputs.h"
#include "build/builder_internal.h"
#include "build/cuda_target.h"
#include "kiln/engine.h"
#include "plan/plan.h"
#include "runtime/interpreter.h"

namespace fs = std::filesystem;
using namespace kiln;

namespace {

enum class Outcome { kPass, kFail, kUnsupported };

struct TestResult {
  std::string id;  // "onnx-1.23/node/test_abs"
  Outcome outcome;
  std::string detail;
  std::vector<std::string> ops;
  bool noDeviceLayer = false;  // --target cuda: constant folding computed every output at build time
  bool hostInputs = false;     // the engine took host-read inputs as host inputs (not as constants)
};

struct Options {
  std::string root;
  std::vector<std::string> suites;
  std::vector<std::string> expectedFiles;  // --expected, repeatable: the union of the lists
  std::string reportFile;
  std::string filter;
  bool verbose = false;
  bool cuda = false;  // --target cuda: build a CUDA engine per test (GPU machine)
  // --target cpu-engine: the same engine path on the CPU target, to tell engine-level limits
  // (sequences, strings, data-dependent shapes) from what the CUDA backend lacks.
  bool cpuEngine = false;
  double rtol = 1e-3, atol = 1e-7;
};

std::vector<std::string> modelOps(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ::onnx::ModelProto m;
  std::set<std::string> ops;
  if (onnx_import::parseModelProto(bytes, &m).ok()) {
    for (const auto& n : m.graph().node())
      ops.insert(n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type() : n.domain() + ":" + n.op_type());
  }
  return {ops.begin(), ops.end()};
}

std::string compareTensors(const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (got.dtype() != want.dtype())
    return fmt::format("dtype {} != expected {}", dtypeName(got.dtype()), dtypeName(want.dtype()));
  if (got.dims() != want.dims())
    return fmt::format("shape {} != expected {}", got.dims().toString(), want.dims().toString());
  const int64_t n = got.numel();
  if (got.dtype() == DType::kString) {
    for (int64_t i = 0; i < n; ++i)
      if (got.data<std::string>()[i] != want.data<std::string>()[i])
        return fmt::format("element {} differs", i);
    return "";
  }
  if (!isFloat(got.dtype())) {
    if (std::memcmp(got.raw(), want.raw(), got.nbytes()) != 0) {
      for (int64_t i = 0; i < n; ++i)
        if (got.intAt(i) != want.intAt(i))
          return fmt::format("element {}: {} != expected {}", i, got.intAt(i), want.intAt(i));
      return "bytes differ";
    }
    return "";
  }
  int64_t bad = 0, firstBad = -1;
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    double g = got.doubleAt(i), w = want.doubleAt(i);
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    double err = std::fabs(g - w);
    if (!(err <= atol + rtol * std::fabs(w))) {
      if (firstBad < 0) firstBad = i;
      ++bad;
      if (!(err <= worst)) worst = err;
    }
  }
  if (bad) {
    return fmt::format("{} of {} elements outside tolerance (first at {}: {} vs expected {}; max abs err {})",
                       bad, n, firstBad, got.doubleAt(firstBad), want.doubleAt(firstBad), worst);
  }
  return "";
}

// Sequences and optionals: same kind, both empty or both holding a value, same length, and every
// element equal under compareTensors.
std::string compareValues(const RuntimeValue& got, const RuntimeValue& want, double rtol, double atol) {
  if (got.kind() != want.kind())
    return fmt::format("{} != expected {}", valueTypeName(got.kind(), got.elemType()),
                       valueTypeName(want.kind(), want.elemType()));
  if (got.isTensor()) return compareTensors(got.tensor(), want.tensor(), rtol, atol);
  if (got.elemType() != want.elemType())
    return fmt::format("element type {} != expected {}", dtypeName(got.elemType()), dtypeName(want.elemType()));
  if (got.hasValue() != want.hasValue())
    return fmt::format("optional is {} but expected {}", got.hasValue() ? "set" : "empty", want.hasValue() ? "set" : "empty");
  if (!got.hasValue()) return "";
  if (!got.holdsSequence()) return compareTensors(got.tensor(), want.tensor(), rtol, atol);
  if (got.elements().size() != want.elements().size())
    return fmt::format("sequence of {} tensors != expected {}", got.elements().size(), want.elements().size());
  for (size_t i = 0; i < got.elements().size(); ++i) {
    std::string d = compareTensors(got.elements()[i], want.elements()[i], rtol, atol);
    if (!d.empty()) return fmt::format("element {}: {}", i, d);
  }
  return "";
}

// The test through an engine (CUDA, or the CPU target with --target cpu-engine). Inputs a kernel
// reads on the host (shape-like values), directly or through shape arithmetic, are first given as
// they are: a CUDA engine takes them as host inputs (TopK's K). Where the build refuses that (a
// Reshape target from an input decides shapes, which engines need from input shapes alone), they
// become constants with the test's data, as a user would fix them (`asConstants`). Of the
// optimization passes only constant folding
// runs (the kernels are under test, fusions would replace them), so that shape arithmetic over the
// static input shapes (Shape -> Size -> Sub -> ConstantOfShape -> Reshape in the expanded function
// tests) is known at build time as `kiln build` would know it. A test whose every output folds
// runs no device layer; the report counts those. No tactic timing, TF32 off.
TestResult runAsEngine(TestResult r, ir::Graph& g, const std::vector<runtime::NamedValue>& inputs, const fs::path& dir,
                     const Options& opt, bool asConstants) {
  auto fail = [&](Outcome o, std::string d) {
    r.outcome = o;
    r.detail = std::move(d);
    return r;
  };
  std::vector<ExecutionContext::Named> feeds;
  // Values whose contents reach a host-read input slot, directly or through other nodes (a window
  // length that feeds Range, a crop shape that becomes Pad's pads): shape tensors, which an engine
  // needs as constants. Shape and Size read only dims, so the walk stops there.
  std::set<const ir::Value*> hostValues;
  std::vector<const ir::Value*> work;
  for (ir::Node* n : g.nodes())
    for (int i = 0; i < n->numInputs(); ++i)
      if (n->input(i) && cuda::isHostInput(n->domain(), n->opType(), static_cast<size_t>(i))) work.push_back(n->input(i));
  while (!work.empty()) {
    const ir::Value* v = work.back();
    work.pop_back();
    if (!hostValues.insert(v).second) continue;
    const ir::Node* p = v->producer();
    if (!p || p->opType() == "Shape" || p->opType() == "Size") continue;
    for (const ir::Value* in : p->inputs())
      if (in) work.push_back(in);
  }
  for (const auto& in : inputs) {
    if (!in.value.isTensor()) return fail(Outcome::kUnsupported, "engines take tensors only (sequence/optional input)");
    ir::Value* v = g.findValue(in.name);
    const bool hostRead = hostValues.count(v) > 0;
    r.hostInputs |= hostRead && !asConstants;
    if (hostRead && asConstants) {
      g.replaceAllUses(v, g.addConstant(in.name + "/const", in.value.tensor()));
      g.removeInput(v);  // the engine would still ask for it (every graph input is an engine input)
      continue;
    }
    feeds.push_back({in.name, in.value.tensor()});
  }
  BuildConfig cfg;
  cfg.target = opt.cuda ? Target::kCUDA : Target::kCPU;
  cfg.passes = {"fold-constants", "dead-nodes"};
  cfg.tf32 = false;
  cfg.optimizationLevel = 0;
  OptimizationProfile prof;
  for (const auto& f : feeds) (void)prof.set(f.name, f.tensor.dims(), f.tensor.dims(), f.tensor.dims());
  cfg.profiles = {prof};
  build::TimingCache cache("conformance");
  auto plan = build::buildPlan(g, cfg, r.id, 0, &cache, nullptr);
  if (!plan.ok())
    return fail(plan.status().code() == StatusCode::kUnsupported ? Outcome::kUnsupported : Outcome::kFail,
                "build: " + plan.status().toString());
  r.noDeviceLayer = std::none_of((*plan)->layers.begin(), (*plan)->layers.end(),
                                 [](const plan::LayerInfo& l) { return l.placement == plan::Placement::kTarget; });
  auto engine = Engine::loadBytes(plan::serializePlan(**plan), "engine");
  if (!engine.ok()) return fail(Outcome::kFail, "load: " + engine.status().toString());
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx.ok()) return fail(Outcome::kFail, "context: " + ctx.status().toString());
  std::vector<ExecutionContext::Named> outs;
  // Twice: the second run replays the captured CUDA graph.
  for (int run = 0; run < 2; ++run) {
    Status st = (*ctx)->run(feeds, &outs);
    if (!st.ok())
      return fail(st.code() == StatusCode::kUnsupported ? Outcome::kUnsupported : Outcome::kFail,
                  fmt::format("run {}: {}", run, st.toString()));
  }
  fs::path data = dir / "test_data_set_0";
  for (size_t i = 0; i < outs.size(); ++i) {
    auto want = onnx_import::readValueProtoFile((data / fmt::format("output_{}.pb", i)).string(), ValueKind::kTensor,
                                                DType::kUndefined);
    if (!want.ok()) return fail(Outcome::kFail, "expected data: " + want.status().toString());
    Tensor expect = want->tensor();
    if (expect.dtype() == DType::kUInt16 && outs[i].tensor.dtype() == DType::kBFloat16) expect = expect.viewAs(DType::kBFloat16);
    std::string diff = compareTensors(outs[i].tensor, expect, opt.rtol, opt.atol);
    if (!diff.empty()) return fail(Outcome::kFail, fmt::format("output {} ('{}'): {}", i, outs[i].name, diff));
  }
  r.outcome = Outcome::kPass;
  return r;
}

TestResult runTest(const fs::path& dir, const std::string& id, const Options& opt) {
  TestResult r{id, Outcome::kFail, "", modelOps((dir / "model.onnx").string())};
  auto fail = [&](Outcome o, std::string d) {
    r.outcome = o;
    r.detail = std::move(d);
    return r;
  };
  auto graph = onnx_import::importModelFile((dir / "model.onnx").string());
  if (!graph.ok()) {
    const Status& st = graph.status();
    return fail(st.code() == StatusCode::kUnsupported ? Outcome::kUnsupported : Outcome::kFail,
                "import: " + st.toString());
  }
  std::shared_ptr<ir::Graph> g(std::move(graph).value());
  fs::path data = dir / "test_data_set_0";
  std::vector<runtime::NamedValue> inputs;
  for (size_t i = 0; i < g->inputs().size(); ++i) {
    const ir::Value& decl = *g->inputs()[i];
    fs::path p = data / fmt::format("input_{}.pb", i);
    auto t = decl.isTensor() ? onnx_import::readValueProtoFile(p.string(), ValueKind::kTensor, DType::kUndefined)
                             : onnx_import::readValueProtoFile(p.string(), decl.kind(), decl.dtype());
    if (!t.ok()) {
      return fail(t.status().code() == StatusCode::kUnsupported ? Outcome::kUnsupported : Outcome::kFail,
                  "input data: " + t.status().toString());
    }
    RuntimeValue in = std::move(t).value();
    // onnx <= 1.12 stored bfloat16 test data as uint16 bit patterns.
    if (in.isTensor() && in.elemType() == DType::kUInt16 && decl.dtype() == DType::kBFloat16)
      in = RuntimeValue(in.tensor().viewAs(DType::kBFloat16));
    inputs.push_back({decl.name(), std::move(in)});
  }
  if (opt.cuda || opt.cpuEngine) {
    TestResult given = runAsEngine(r, *g, inputs, dir, opt, false);
    if (!given.hostInputs || given.outcome != Outcome::kUnsupported || given.detail.rfind("build: ", 0) != 0)
      return given;
    auto again = onnx_import::importModelFile((dir / "model.onnx").string());  // the build changed the graph
    if (!again.ok()) return fail(Outcome::kFail, "import: " + again.status().toString());
    return runAsEngine(std::move(r), **again, inputs, dir, opt, true);
  }
  runtime::InterpreterOptions iopts;
  iopts.poisonOutputs = true;  // kernels must write every output element
  auto interp = runtime::Interpreter::create(g, iopts);
  if (!interp.ok()) {
    const Status& st = interp.status();
    return fail(st.code() == StatusCode::kUnsupported ? Outcome::kUnsupported : Outcome::kFail,
                "prepare: " + st.toString());
  }
  std::vector<runtime::NamedValue> outputs;
  Status st = (*interp)->runValues(inputs, &outputs);
  if (!st.ok())
    return fail(st.code() == StatusCode::kUnsupported ? Outcome::kUnsupported : Outcome::kFail,
                "run: " + st.toString());
  for (size_t i = 0; i < outputs.size(); ++i) {
    fs::path p = data / fmt::format("output_{}.pb", i);
    const RuntimeValue& got = outputs[i].value;
    auto want = onnx_import::readValueProtoFile(p.string(), got.kind(), got.isTensor() ? DType::kUndefined : got.elemType());
    if (!want.ok()) {
      return fail(want.status().code() == StatusCode::kUnsupported ? Outcome::kUnsupported : Outcome::kFail,
                  "expected data: " + want.status().toString());
    }
    RuntimeValue expect = std::move(want).value();
    if (expect.isTensor() && expect.elemType() == DType::kUInt16 && got.elemType() == DType::kBFloat16)
      expect = RuntimeValue(expect.tensor().viewAs(DType::kBFloat16));
    std::string diff = compareValues(got, expect, opt.rtol, opt.atol);
    if (!diff.empty()) return fail(Outcome::kFail, fmt::format("output {} ('{}'): {}", i, outputs[i].name, diff));
  }
  r.outcome = Outcome::kPass;
  return r;
}

std::map<std::string, std::string> readExpected(const std::string& path) {
  std::map<std::string, std::string> m;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    auto hash = line.find('#');
    std::string reason = hash == std::string::npos ? "" : line.substr(hash + 1);
    std::string id = line.substr(0, hash);
    id.erase(std::remove_if(id.begin(), id.end(), ::isspace), id.end());
    if (!id.empty()) m[id] = reason;
  }
  return m;
}

const char* outcomeName(Outcome o) {
  return o == Outcome::kPass ? "pass" : o == Outcome::kFail ? "FAIL" : "unsupported";
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--root") opt.root = next();
    else if (a == "--suite") opt.suites.push_back(next());
    else if (a == "--expected") opt.expectedFiles.push_back(next());
    else if (a == "--report") opt.reportFile = next();
    else if (a == "--filter") opt.filter = next();
    else if (a == "-v" || a == "--verbose") opt.verbose = true;
    else if (a == "--target") {
      const std::string t = next();
      opt.cuda = t == "cuda";
      opt.cpuEngine = t == "cpu-engine";
      if (!opt.cuda && !opt.cpuEngine && t != "cpu") {
        std::cerr << "--target must be cpu (the reference interpreter), cpu-engine or cuda, not '" << t << "'\n";
        return 2;
      }
    }
    else {
      std::cerr << "usage: kiln_conformance --root DIR [--suite NAME]... [--expected FILE]... "
                   "[--report FILE] [--filter SUBSTR] [--target cpu|cpu-engine|cuda] [-v]\n";
      return 2;
    }
  }
  if (opt.cuda) {
    const std::string key = build::cudaDeviceKey(0);
    if (key == "cuda:none" || key == "cuda:unavailable") {
      std::cout << "SKIP: --target cuda needs a GPU, and this machine has none usable (" << key << ")\n";
      return 77;
    }
  }
  if (opt.root.empty() || !fs::is_directory(opt.root)) {
    std::cout << "SKIP: conformance data not found at '" << opt.root
              << "' (expected ../shared/onnx-conformance beside the checkout)\n";
    return 77;  // ctest SKIP_RETURN_CODE
  }
  if (opt.suites.empty())
    opt.suites = {"onnx-1.23/node", "onnx-1.12/node", "onnx-1.12/pytorch-converted",
                  "onnx-1.12/pytorch-operator", "onnx-1.12/simple"};
  std::map<std::string, std::string> expected;
  for (const auto& f : opt.expectedFiles) {
    if (!fs::exists(f)) {
      std::cerr << "expected-unsupported list '" << f << "' does not exist\n";
      return 2;
    }
    expected.merge(readExpected(f));
  }

  std::vector<TestResult> results;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& suite : opt.suites) {
    fs::path sdir = fs::path(opt.root) / suite;
    if (!fs::is_directory(sdir)) {
      std::cout << "missing suite " << sdir << "\n";
      return 1;
    }
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(sdir))
      if (e.is_directory() && fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs) {
      std::string id = suite + "/" + d.filename().string();
      if (!opt.filter.empty() && id.find(opt.filter) == std::string::npos) continue;
      results.push_back(runTest(d, id, opt));
      const TestResult& r = results.back();
      if (opt.verbose || (r.outcome != Outcome::kPass && !expected.count(r.id)))
        std::cout << outcomeName(r.outcome) << "  " << r.id << (r.detail.empty() ? "" : "  -- " + r.detail) << "\n";
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Summary per suite, and the policy check.
  int unexpected = 0, stale = 0;
  std::map<std::string, std::array<int, 3>> perSuite;
  std::map<std::string, std::array<int, 3>> perOp;
  for (const auto& r : results) {
    std::string suite = r.id.substr(0, r.id.rfind('/'));
    perSuite[suite][static_cast<int>(r.outcome)]++;
    for (const auto& op : r.ops) perOp[op][static_cast<int>(r.outcome)]++;
    bool listed = expected.count(r.id) > 0;
    if (r.outcome != Outcome::kPass && !listed) ++unexpected;
    if (r.outcome == Outcome::kPass && listed) {
      ++stale;
      std::cout << "STALE  " << r.id << "  passes now: remove it from the expected-unsupported list\n";
    }
  }
  std::cout << "\nConformance summary (" << fmt::format("{:.1f}", secs) << " s)\n";
  for (const auto& [suite, c] : perSuite) {
    int total = c[0] + c[1] + c[2];
    std::cout << fmt::format("  {:32} {:5}/{:<5} pass ({:5.1f}%)  {:4} fail  {:4} unsupported\n", suite, c[0],
                             total, 100.0 * c[0] / std::max(1, total), c[1], c[2]);
  }
  if (!opt.reportFile.empty()) {
    std::ofstream rep(opt.reportFile);
    rep << "# Kiln ONNX conformance\n\n| suite | pass | total | rate | fail | unsupported |\n|---|---|---|---|---|---|\n";
    for (const auto& [suite, c] : perSuite) {
      int total = c[0] + c[1] + c[2];
      rep << fmt::format("| {} | {} | {} | {:.1f}% | {} | {} |\n", suite, c[0], total,
                         100.0 * c[0] / std::max(1, total), c[1], c[2]);
    }
    if (opt.cuda) {
      std::vector<std::string> folded;
      for (const auto& r : results)
        if (r.outcome == Outcome::kPass && r.noDeviceLayer) folded.push_back(r.id);
      rep << fmt::format("\n{} passing test(s) ran no device layer (every output folded at build time from host-read "
                         "inputs fixed as constants): {}\n", folded.size(), fmt::join(folded, ", "));
    }
    std::vector<std::string> hostIn;
    for (const auto& r : results)
      if (r.outcome == Outcome::kPass && r.hostInputs) hostIn.push_back(r.id);
    rep << fmt::format("\n{} passing test(s) took host-read inputs as engine inputs (not constants): {}\n",
                       hostIn.size(), fmt::join(hostIn, ", "));
    rep << "\n## Per op (tests whose model contains the op)\n\n| op | pass | fail | unsupported |\n|---|---|---|---|\n";
    for (const auto& [op, c] : perOp) rep << fmt::format("| {} | {} | {} | {} |\n", op, c[0], c[1], c[2]);
    rep << "\n## Tests not passing\n\n";
    for (const auto& r : results)
      if (r.outcome != Outcome::kPass) rep << "- " << outcomeName(r.outcome) << " `" << r.id << "`: " << r.detail << "\n";
    std::cout << "  per-op table written to " << opt.reportFile << "\n";
  }
  if (unexpected || stale) {
    std::cout << fmt::format("\n{} test(s) failed or were unsupported without being listed in {}; {} listed test(s) now pass\n",
                             unexpected, opt.expectedFiles.empty() ? "(no list)" : fmt::format("{}", fmt::join(opt.expectedFiles, " + ")), stale);
    return 1;
  }
  std::cout << "\nall tests pass or are listed as expected-unsupported\n";
  return 0;
}
