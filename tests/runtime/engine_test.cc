// Engines end to end: build -> save -> load -> run equals the reference interpreter bit for bit;
// dynamic shapes across a profile; profile and input errors; concurrent contexts; streams.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"
#include "onnx/importer.h"
#include "op_test_util.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

// A small dynamic-batch model exercising shape arithmetic: x[batch,6] -> reshape to
// [batch,2,3] -> transpose -> relu(x*w + b) -> concat with itself -> flatten back.
std::string dynamicModel() {
  testing::ModelBuilder mb(17);
  mb.input("x", {"batch", "6"});
  mb.initializer("w", Tensor::fromVector<float>({0.5f, -1.f, 2.f}, {3}));
  mb.initializer("b", Tensor::fromVector<float>({0.1f, 0.2f, -0.3f}, {3}));
  mb.initializer("shape3", Tensor::fromVector<int64_t>({0, 2, 3}, {3}));
  mb.node("Reshape", {"x", "shape3"}, {"r"});
  auto& t = mb.node("Transpose", {"r"}, {"t"});
  testing::ModelBuilder::attr(t, "perm", std::vector<int64_t>{0, 2, 1});
  auto& t2 = mb.node("Transpose", {"t"}, {"t2"});
  testing::ModelBuilder::attr(t2, "perm", std::vector<int64_t>{0, 2, 1});
  mb.node("Mul", {"t2", "w"}, {"m"});
  mb.node("Add", {"m", "b"}, {"a"});
  mb.node("Relu", {"a"}, {"y0"});
  auto& c = mb.node("Concat", {"y0", "a"}, {"cat"});
  testing::ModelBuilder::attr(c, "axis", int64_t{1});
  mb.node("Shape", {"x"}, {"xs"});
  mb.node("Flatten", {"cat"}, {"y"});
  mb.node("Sigmoid", {"y"}, {"z"});
  mb.output("y").output("z").output("xs");
  return mb.bytes();
}

BuildConfig dynamicConfig(int64_t maxBatch = 16) {
  BuildConfig cfg;
  OptimizationProfile p;
  EXPECT_TRUE(p.set("x", {1, 6}, {4, 6}, {maxBatch, 6}).ok());
  cfg.profiles.push_back(p);
  return cfg;
}

std::vector<runtime::NamedTensor> interpret(const std::string& model, const std::vector<runtime::NamedTensor>& in) {
  auto out = testing::interpretModel(model, in);
  EXPECT_TRUE(out.ok()) << out.status().toString();
  return out.ok() ? std::move(out).value() : std::vector<runtime::NamedTensor>{};
}

void expectBitEqual(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  ASSERT_EQ(a.dims(), b.dims()) << what;
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << what;
}

TEST(Engine, SaveLoadRunEqualsInterpreterBitForBit) {
  std::string model = dynamicModel();
  BuildReport report;
  auto bytes = buildEngineFromBytes(model, "", "dyn", dynamicConfig(), &report);
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  fs::path path = fs::temp_directory_path() / "kiln_dyn.engine";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  }
  auto engine = Engine::loadFile(path.string());
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  std::mt19937 rng(11);
  for (int64_t batch : {1, 3, 4, 9, 16}) {  // min, in between, opt, in between, max
    Tensor x = testing::randomTensor(DType::kFloat32, {batch, 6}, rng);
    std::vector<ExecutionContext::Named> outs;
    Status st = (*ctx)->run({{"x", x}}, &outs);
    ASSERT_TRUE(st.ok()) << st.toString();
    auto ref = interpret(model, {{"x", x}});
    ASSERT_EQ(outs.size(), ref.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      EXPECT_EQ(outs[i].name, ref[i].name);
      expectBitEqual(outs[i].tensor, ref[i].tensor, outs[i].name + " batch " + std::to_string(batch));
    }
    EXPECT_EQ(outs[0].tensor.dims(), (Dims{batch, 12}));
  }
  fs::remove(path);
}

TEST(Engine, MemoryPlanReusesBuffers) {
  BuildReport report;
  auto bytes = buildEngineFromBytes(dynamicModel(), "", "dyn", dynamicConfig(), &report);
  ASSERT_TRUE(bytes.ok());
  EXPECT_GT(report.arenaBytes, 0u);
  EXPECT_LT(report.arenaBytes, report.naiveBytes);
  EXPECT_GE(report.arenaBytes, report.peakLiveBytes);
}

// The build report lists every layer whose candidates were timed, with each candidate's time;
// the chosen tactic is the fastest candidate that passed the self-check.
TEST(Engine, BuildReportListsTimedCandidates) {
  testing::ModelBuilder mb(17);
  mb.input("x", {"batch", "64"});
  std::mt19937 rng(5);
  mb.initializer("w", testing::randomTensor(DType::kFloat32, {64, 96}, rng));
  mb.node("MatMul", {"x", "w"}, {"y"});
  mb.output("y");
  BuildConfig cfg;
  OptimizationProfile p;
  ASSERT_TRUE(p.set("x", {1, 64}, {32, 64}, {64, 64}).ok());
  cfg.profiles.push_back(p);
  cfg.optimizationLevel = 3;
  BuildReport report;
  auto bytes = buildEngineFromBytes(mb.bytes(), "", "timed", cfg, &report);
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  ASSERT_GT(report.tacticsTimed, 0);
  ASSERT_EQ(report.tacticTimings.size(), static_cast<size_t>(report.tacticsTimed));
  for (const auto& t : report.tacticTimings) {
    SCOPED_TRACE(t.layer);
    EXPECT_EQ(t.op, "MatMul");
    ASSERT_GE(t.candidates.size(), 2u);
    const TacticTiming::Candidate* chosen = nullptr;
    for (const auto& c : t.candidates) {
      EXPECT_GT(c.microseconds, 0.0) << c.tactic;
      if (c.tactic == t.chosen) chosen = &c;
    }
    ASSERT_NE(chosen, nullptr) << "the chosen tactic " << t.chosen << " is not among the candidates";
    for (const auto& c : t.candidates)
      if (c.passedCheck) EXPECT_LE(chosen->microseconds, c.microseconds) << c.tactic;
  }
}

TEST(Engine, ShapesOutsideTheProfileAreRefused) {
  auto bytes = buildEngineFromBytes(dynamicModel(), "", "dyn", dynamicConfig(8));
  ASSERT_TRUE(bytes.ok());
  auto engine = Engine::loadBytes(*bytes);
  ASSERT_TRUE(engine.ok());
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  Status st = (*ctx)->setInputShape("x", {9, 6});
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.message().find("input 'x'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("[1, 8]"), std::string::npos) << st.message();
  st = (*ctx)->setInputShape("x", {2, 5});
  EXPECT_NE(st.message().find("dim 1 must be 6"), std::string::npos) << st.message();
  st = (*ctx)->setInputShape("nope", {2, 6});
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  // Running without a shape or a buffer says what is missing.
  st = (*ctx)->execute();
  EXPECT_NE(st.message().find("shape of input 'x' is not set"), std::string::npos) << st.message();
  ASSERT_TRUE((*ctx)->setInputShape("x", {2, 6}).ok());
  st = (*ctx)->execute();
  EXPECT_NE(st.message().find("input 'x' has no buffer"), std::string::npos) << st.message();
  auto ys = (*ctx)->getTensorShape("y");
  ASSERT_TRUE(ys.ok());
  EXPECT_EQ(*ys, (Dims{2, 12}));
}

TEST(Engine, BuildErrorsExplainThemselves) {
  BuildConfig noProfile;
  auto e = buildEngineFromBytes(dynamicModel(), "", "dyn", noProfile);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("optimization profile"), std::string::npos) << e.status().toString();
  BuildConfig fp16 = dynamicConfig();
  fp16.fp16 = true;
  auto f = buildEngineFromBytes(dynamicModel(), "", "dyn", fp16);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(f.status().message().find("--fp16"), std::string::npos) << f.status().toString();
  BuildConfig reducedIo = dynamicConfig();  // reduced I/O without a reduced precision to take
  reducedIo.reducedPrecisionIO = true;
  auto r = buildEngineFromBytes(dynamicModel(), "", "dyn", reducedIo);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--reduced-io needs --fp16 or --bf16"), std::string::npos) << r.status().toString();
  BuildConfig bad;
  OptimizationProfile p;
  p.inputs["x"] = {{1, 6}, {4, 6}, {2, 6}};  // opt > max
  bad.profiles.push_back(p);
  auto b = buildEngineFromBytes(dynamicModel(), "", "dyn", bad);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("min <= opt <= max"), std::string::npos) << b.status().toString();
  OptimizationProfile q;
  EXPECT_FALSE(q.set("x", {1, 6}, {4, 6}, {2, 6}).ok());
  BuildConfig tight = dynamicConfig();
  tight.memoryLimit = 16;
  auto t = buildEngineFromBytes(dynamicModel(), "", "dyn", tight);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kResourceExhausted);
}

TEST(Engine, ContextsRunConcurrently) {
  std::string model = dynamicModel();
  auto bytes = buildEngineFromBytes(model, "", "dyn", dynamicConfig());
  ASSERT_TRUE(bytes.ok());
  auto engine = Engine::loadBytes(*bytes);
  ASSERT_TRUE(engine.ok());
  std::shared_ptr<Engine> e = *engine;
  const int kThreads = 4;
  std::vector<Tensor> inputs;
  std::vector<std::vector<runtime::NamedTensor>> expected;
  std::mt19937 rng(3);
  for (int t = 0; t < kThreads; ++t) {
    inputs.push_back(testing::randomTensor(DType::kFloat32, {1 + 3 * t, 6}, rng));
    expected.push_back(interpret(model, {{"x", inputs.back()}}));
  }
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto ctx = e->createExecutionContext();
      if (!ctx.ok()) {
        failures[t] = 1000;
        return;
      }
      for (int it = 0; it < 50; ++it) {
        std::vector<ExecutionContext::Named> outs;
        if (!(*ctx)->run({{"x", inputs[t]}}, &outs).ok()) {
          ++failures[t];
          continue;
        }
        for (size_t i = 0; i < outs.size(); ++i)
          if (std::memcmp(outs[i].tensor.raw(), expected[t][i].tensor.raw(), outs[i].tensor.nbytes()) != 0) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

TEST(Engine, EnqueueOnStreamsZeroCopy) {
  std::string model = dynamicModel();
  auto bytes = buildEngineFromBytes(model, "", "dyn", dynamicConfig());
  ASSERT_TRUE(bytes.ok());
  auto engine = Engine::loadBytes(*bytes);
  ASSERT_TRUE(engine.ok());
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  std::mt19937 rng(9);
  Tensor x = testing::randomTensor(DType::kFloat32, {5, 6}, rng);
  ASSERT_TRUE((*ctx)->setInputShape("x", {5, 6}).ok());
  ASSERT_TRUE((*ctx)->setTensorAddress("x", x.raw()).ok());
  std::vector<Tensor> outs;
  for (const auto& io : (*engine)->ioTensors()) {
    if (io.isInput) continue;
    auto d = (*ctx)->getTensorShape(io.name);
    ASSERT_TRUE(d.ok());
    outs.push_back(Tensor::allocate(io.dtype, *d));
    ASSERT_TRUE((*ctx)->setTensorAddress(io.name, outs.back().raw()).ok());
  }
  Stream stream;
  ASSERT_TRUE((*ctx)->enqueue(stream).ok());
  ASSERT_TRUE(stream.synchronize().ok());
  auto ref = interpret(model, {{"x", x}});
  for (size_t i = 0; i < outs.size(); ++i) expectBitEqual(outs[i], ref[i].tensor, ref[i].name);
}

TEST(Engine, ShapesThatBreakBuildTimeAssumptionsAreErrors) {
  // x[n] + c[5]: inference assumes n broadcasts to 5; n = 3 must be refused at run time.
  testing::ModelBuilder mb;
  mb.input("x", {"n"});
  mb.initializer("c", Tensor::fromVector<float>({1, 2, 3, 4, 5}, {5}));
  mb.node("Add", {"x", "c"}, {"y"});
  mb.output("y");
  BuildConfig cfg;
  OptimizationProfile p;
  ASSERT_TRUE(p.set("x", {1}, {5}, {8}).ok());
  cfg.profiles = {p};
  auto bytes = buildEngineFromBytes(mb.bytes(), "", "bcast", cfg);
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  auto engine = Engine::loadBytes(*bytes);
  ASSERT_TRUE(engine.ok());
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  std::vector<ExecutionContext::Named> outs;
  Status st = (*ctx)->run({{"x", Tensor::fromVector<float>({1, 2, 3}, {3})}}, &outs);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not broadcast"), std::string::npos) << st.message();
  ASSERT_TRUE((*ctx)->run({{"x", Tensor::fromVector<float>({10}, {1})}}, &outs).ok());
  EXPECT_EQ(outs[0].tensor.data<float>()[4], 15.f);
}

TEST(Engine, StaticModelNeedsNoProfile) {
  testing::ModelBuilder mb;
  mb.input("a", {"2", "3"});
  mb.node("Neg", {"a"}, {"b"});
  mb.output("b").output("a");  // an input that is also an output
  auto bytes = buildEngineFromBytes(mb.bytes(), "", "static", BuildConfig{});
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  auto engine = Engine::loadBytes(*bytes);
  ASSERT_TRUE(engine.ok());
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  Tensor a = Tensor::fromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  std::vector<ExecutionContext::Named> outs;
  ASSERT_TRUE((*ctx)->run({{"a", a}}, &outs).ok());
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].tensor.data<float>()[5], -6.f);
  EXPECT_EQ(outs[1].tensor.data<float>()[5], 6.f);
  EXPECT_NE(outs[1].tensor.raw(), a.raw());
}

}  // namespace
}  // namespace kiln
