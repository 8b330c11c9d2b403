// `kiln compare model.onnx`: runs Kiln and ONNX Runtime (the Python package, through the
// project's venv) on the same inputs and reports per-output errors against tolerances.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "core/npy.h"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOrtScript = R"PY(
import json, sys
import numpy as np
import onnxruntime as ort
manifest = json.load(open(sys.argv[1]))
so = ort.SessionOptions()
so.intra_op_num_threads = int(manifest["threads"])
sess = ort.InferenceSession(manifest["model"], so, providers=["CPUExecutionProvider"])
feeds = {name: np.load(path) for name, path in manifest["inputs"].items()}
outs = sess.run(None, feeds)
names = []
for i, (o, v) in enumerate(zip(sess.get_outputs(), outs)):
    np.save(f"{manifest['outdir']}/out_{i}.npy", np.ascontiguousarray(v))
    names.append(o.name)
json.dump(names, open(f"{manifest['outdir']}/names.json", "w"))
)PY";

std::string findPython(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("KILN_PYTHON")) return env;
  fs::path venv = fs::path(KILN_SOURCE_DIR_STRING) / ".venv" / "bin" / "python";
  if (fs::exists(venv)) return venv.string();
  return "python3";
}

Status runProcess(const std::vector<std::string>& argv, const std::string& logPath) {
  pid_t pid = fork();
  if (pid < 0) return InternalError("fork failed");
  if (pid == 0) {
    FILE* log = std::fopen(logPath.c_str(), "w");
    if (log) {
      dup2(fileno(log), 1);
      dup2(fileno(log), 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream f(logPath);
    std::string log((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (log.size() > 2000) log = "..." + log.substr(log.size() - 2000);
    return Unavailable("ONNX Runtime ({}) failed{}:\n{}", argv[0],
                       WIFEXITED(status) && WEXITSTATUS(status) == 127 ? " to start" : "", log);
  }
  return Status::OK();
}

}  // namespace

void addCompareCommand(CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("compare", "Run Kiln and ONNX Runtime on the same inputs and compare the outputs");
  struct Opts {
    std::string model, python;
    std::vector<std::string> inputs;
    ShapeOptions shapes;
    double rtol = 1e-3, atol = 1e-4, relL2 = 1e-5;
    int threads = 0;
    uint32_t seed = 1;
    TargetOptions target;
    bool verbose = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("model", o->model, "ONNX model")->required();
  cmd->add_option("-i,--input", o->inputs, "name=file.npy (others get deterministic random data)");
  cmd->add_option("--shapes", o->shapes.shapes, "Input shapes for random inputs");
  cmd->add_option("--rtol", o->rtol, "Relative tolerance per element (pass needs |kiln-ort| <= atol + rtol*|ort| everywhere)");
  cmd->add_option("--atol", o->atol, "Absolute tolerance per element");
  cmd->add_option("--rel-l2", o->relL2, "Largest relative L2 error ||kiln-ort|| / ||ort|| of an output that passes");
  cmd->add_option("--seed", o->seed, "Seed of the random inputs");
  cmd->add_option("--threads", o->threads, "ONNX Runtime intra-op threads (default: all cores)");
  cmd->add_option("--python", o->python, "Python with onnxruntime (default: $KILN_PYTHON, the project venv, python3)");
  o->target.addTo(cmd);
  cmd->add_flag("-v,--verbose", o->verbose, "Show build progress");
  cmd->callback([o, &exitCode] {
    auto given = readInputs(o->inputs);
    if (!given.ok()) {
      exitCode = fail("compare", given.status());
      return;
    }
    std::map<std::string, Dims> dimsGiven;
    for (const auto& g : *given) dimsGiven[g.name] = g.tensor.dims();
    if (!o->shapes.shapes.empty()) {
      auto s = parseShapeList(o->shapes.shapes);
      if (!s.ok()) {
        exitCode = fail("compare", s.status());
        return;
      }
      for (const auto& [n, d] : *s) dimsGiven.emplace(n, d);
    }
    ShapeOptions none;
    auto engine = loadOrBuild(o->model, [&] { BuildConfig c; (void)o->target.apply(c); return c; }(), none, dimsGiven, o->verbose);
    if (!engine.ok() && !dimsGiven.empty()) {
      exitCode = fail("compare", engine.status());
      return;
    }
    if (!engine.ok()) {
      exitCode = fail("compare", engine.status());
      return;
    }
    auto dims = chooseInputDims(**engine, dimsGiven);
    if (!dims.ok()) {
      exitCode = fail("compare", dims.status());
      return;
    }
    std::vector<ExecutionContext::Named> inputs = *given;
    uint32_t seed = o->seed;
    for (const auto& io : (*engine)->ioTensors()) {
      if (!io.isInput) continue;
      bool have = false;
      for (const auto& g : inputs) have |= g.name == io.name;
      if (!have) inputs.push_back({io.name, randomInput(io.dtype, dims->at(io.name), seed++)});
    }
    auto ctx = (*engine)->createExecutionContext();
    std::vector<ExecutionContext::Named> ours;
    Status st = ctx.ok() ? (*ctx)->run(inputs, &ours) : ctx.status();
    if (!st.ok()) {
      exitCode = fail("compare", st);
      return;
    }
    // ONNX Runtime in a child process, fed the very same arrays.
    fs::path dir = fs::temp_directory_path() / fmt::format("kiln-compare-{}", getpid());
    fs::create_directories(dir);
    nlohmann::json manifest;
    manifest["model"] = fs::absolute(o->model).string();
    manifest["outdir"] = dir.string();
    manifest["threads"] = o->threads;
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::string p = (dir / fmt::format("in_{}.npy", i)).string();
      st = writeNpy(p, inputs[i].tensor);
      if (!st.ok()) break;
      manifest["inputs"][inputs[i].name] = p;
    }
    std::ofstream((dir / "manifest.json").string()) << manifest.dump();
    std::ofstream((dir / "ort_run.py").string()) << kOrtScript;
    if (st.ok())
      st = runProcess({findPython(o->python), (dir / "ort_run.py").string(), (dir / "manifest.json").string()},
                      (dir / "ort.log").string());
    if (!st.ok()) {
      fs::remove_all(dir);
      exitCode = fail("compare", st);
      return;
    }
    bool allPass = true;
    fmt::print("{:30} {:>14} {:>12} {:>12}  {}\n", "output", "shape", "max abs err", "rel L2 err", "result");
    for (size_t i = 0; i < ours.size(); ++i) {
      auto theirs = readNpy((dir / fmt::format("out_{}.npy", i)).string());
      const Tensor& a = ours[i].tensor;
      if (!theirs.ok()) {
        fmt::print("{:30} ONNX Runtime gave no output ({})\n", ours[i].name, theirs.status().message());
        allPass = false;
        continue;
      }
      const Tensor& b = *theirs;
      if (a.dims() != b.dims()) {
        fmt::print("{:30} shape {} vs ONNX Runtime {}: FAIL\n", ours[i].name, a.dims().toString(), b.dims().toString());
        allPass = false;
        continue;
      }
      double maxAbs = 0, num = 0, den = 0;
      bool pass = true;
      for (int64_t k = 0; k < a.numel(); ++k) {
        double x = a.dtype() == DType::kString ? 0 : a.doubleAt(k), y = b.dtype() == DType::kString ? 0 : b.doubleAt(k);
        if (std::isnan(x) && std::isnan(y)) continue;
        double d = std::fabs(x - y);
        maxAbs = std::max(maxAbs, d);
        num += d * d;
        den += y * y;
        if (!(d <= o->atol + o->rtol * std::fabs(y))) pass = false;
      }
      double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
      pass = pass && rel <= o->relL2;
      allPass &= pass;
      fmt::print("{:30} {:>14} {:>12.3e} {:>12.3e}  {}\n", ours[i].name, a.dims().toString(), maxAbs, rel, pass ? "PASS" : "FAIL");
    }
    fs::remove_all(dir);
    fmt::print("{} (rtol {}, atol {}, relative L2 {})\n",
               allPass ? "PASS: Kiln matches ONNX Runtime" : "FAIL: outputs differ beyond tolerance", o->rtol, o->atol, o->relL2);
    exitCode = allPass ? 0 : 1;
  });
}

}  // namespace kiln::cli
