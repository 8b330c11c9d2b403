// CPU engines with data-dependent output shapes: NonZero / Unique / Compress sized for their
// upper bound before a run, the actual sizes read after the deciding layer, downstream layers
// (GatherND, Mul) running at those sizes, and outputs trimmed to what was written. Compared with
// the reference interpreter bit for bit over inputs whose counts differ run to run (none, some,
// all nonzero), through a saved and reloaded engine file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"
#include "op_test_util.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

// x[batch, 5] -> NonZero -> Transpose -> GatherND(x) -> *2 = y; Unique(x) = u (and its counts);
// Compress(x, x[0] > 0 along axis 1) = c.
std::string model() {
  testing::ModelBuilder mb(17);
  mb.input("x", {"batch", "5"});
  mb.input("keep", {"5"}, ::onnx::TensorProto::BOOL);
  mb.initializer("two", Tensor::fromVector<float>({2.0f}, {1}));
  mb.node("NonZero", {"x"}, {"nz"});
  auto& t = mb.node("Transpose", {"nz"}, {"idx"});
  testing::ModelBuilder::attr(t, "perm", std::vector<int64_t>{1, 0});
  mb.node("GatherND", {"x", "idx"}, {"vals"});
  mb.node("Mul", {"vals", "two"}, {"y"});
  mb.node("Unique", {"x"}, {"u", "", "inv", "cnt"});
  auto& c = mb.node("Compress", {"x", "keep"}, {"c"});
  testing::ModelBuilder::attr(c, "axis", int64_t{1});
  mb.output("nz").output("y").output("u").output("inv").output("cnt").output("c");
  return mb.bytes();
}

BuildConfig config() {
  BuildConfig cfg;
  OptimizationProfile p;
  EXPECT_TRUE(p.set("x", {1, 5}, {3, 5}, {4, 5}).ok());
  cfg.profiles.push_back(p);
  return cfg;
}

std::vector<runtime::NamedTensor> interpret(const std::string& model, const std::vector<runtime::NamedTensor>& in) {
  auto out = testing::interpretModel(model, in);
  EXPECT_TRUE(out.ok()) << out.status().toString();
  return out.ok() ? std::move(out).value() : std::vector<runtime::NamedTensor>{};
}

// Values drawn from {0, 1, 2, 3} with a chance `zeros` of 0 (repeats make Unique interesting).
Tensor input(int64_t batch, double zeros, std::mt19937& rng) {
  Tensor x = Tensor::allocate(DType::kFloat32, {batch, 5});
  std::bernoulli_distribution z(zeros);
  std::uniform_int_distribution<int> v(1, 3);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = z(rng) ? 0.0f : static_cast<float>(v(rng));
  return x;
}

TEST(DataDependentEngine, CpuEngineMatchesInterpreterAcrossRuns) {
  const std::string m = model();
  BuildReport report;
  auto bytes = buildEngineFromBytes(m, "", "dd", config(), &report);
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  const fs::path path = fs::temp_directory_path() / "kiln_data_dependent.engine";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  }
  auto engine = Engine::loadFile(path.string());
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();

  // Before a run: the upper bounds (every element nonzero / unique / kept).
  ASSERT_TRUE((*ctx)->setInputShape("x", {3, 5}).ok());
  ASSERT_TRUE((*ctx)->setInputShape("keep", {5}).ok());
  auto nzShape = (*ctx)->getTensorShape("nz");
  ASSERT_TRUE(nzShape.ok()) << nzShape.status().toString();
  EXPECT_EQ(*nzShape, (Dims{2, 15}));
  EXPECT_EQ(*(*ctx)->getTensorShape("u"), (Dims{15}));
  EXPECT_EQ(*(*ctx)->getTensorShape("c"), (Dims{3, 5}));

  std::mt19937 rng(5);
  struct Case {
    int64_t batch;
    double zeros;
  };
  for (const Case& c : {Case{3, 0.4}, Case{3, 1.0}, Case{3, 0.0}, Case{4, 0.3}, Case{1, 0.5}, Case{3, 0.4}}) {
    SCOPED_TRACE("batch " + std::to_string(c.batch) + " zeros " + std::to_string(c.zeros));
    Tensor x = input(c.batch, c.zeros, rng);
    Tensor keep = Tensor::allocate(DType::kBool, {5});
    for (int i = 0; i < 5; ++i) keep.data<bool>()[i] = x.data<float>()[i] != 0.0f;
    const auto want = interpret(m, {{"x", x}, {"keep", keep}});
    std::vector<ExecutionContext::Named> got;
    Status st = (*ctx)->run({{"x", x}, {"keep", keep}}, &got);
    ASSERT_TRUE(st.ok()) << st.toString();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE(got[i].name);
      ASSERT_EQ(got[i].tensor.dims(), want[i].tensor.dims());
      ASSERT_EQ(got[i].tensor.dtype(), want[i].tensor.dtype());
      EXPECT_EQ(std::memcmp(got[i].tensor.raw(), want[i].tensor.raw(), got[i].tensor.nbytes()), 0);
      // After the run the context reports the sizes written.
      EXPECT_EQ(*(*ctx)->getTensorShape(got[i].name), got[i].tensor.dims());
    }
  }
  // Setting the shapes again goes back to the bounds (what a caller allocates for).
  ASSERT_TRUE((*ctx)->setInputShape("x", {2, 5}).ok());
  EXPECT_EQ(*(*ctx)->getTensorShape("nz"), (Dims{2, 10}));
  fs::remove(path);
}

// TopK with K as a model input: the outputs are sized for the whole axis, then for K.
// values, indices = TopK(x[4, cols], k) along axis 1, K a model input.
std::string topKModel(int64_t cols) {
  testing::ModelBuilder mb(17);
  mb.input("x", {"4", std::to_string(cols)});
  mb.input("k", {"1"}, ::onnx::TensorProto::INT64);
  auto& t = mb.node("TopK", {"x", "k"}, {"values", "indices"});
  testing::ModelBuilder::attr(t, "axis", int64_t{1});
  mb.output("values").output("indices");
  return mb.bytes();
}

Result<std::unique_ptr<ExecutionContext>> cpuContext(const std::string& model, std::shared_ptr<Engine>* keep) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, buildEngineFromBytes(model, "", "topk", BuildConfig{}, nullptr));
  KILN_ASSIGN_OR_RETURN(*keep, Engine::loadBytes(std::move(bytes)));
  return (*keep)->createExecutionContext();
}

TEST(DataDependentEngine, TopKWithKAsAnInput) {
  const std::string m = topKModel(6);
  std::shared_ptr<Engine> engine;
  auto ctx = cpuContext(m, &engine);
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-1, 1);
  Tensor x = Tensor::allocate(DType::kFloat32, {4, 6});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
  for (int64_t k : {2, 6, 0, 3}) {
    SCOPED_TRACE("k " + std::to_string(k));
    Tensor kt = Tensor::fromVector<int64_t>({k}, {1});
    const auto want = interpret(m, {{"x", x}, {"k", kt}});
    std::vector<ExecutionContext::Named> got;
    Status st = (*ctx)->run({{"x", x}, {"k", kt}}, &got);
    ASSERT_TRUE(st.ok()) << st.toString();
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].tensor.dims(), (Dims{4, k}));
      ASSERT_EQ(got[i].tensor.dims(), want[i].tensor.dims());
      EXPECT_EQ(std::memcmp(got[i].tensor.raw(), want[i].tensor.raw(), got[i].tensor.nbytes()), 0) << got[i].name;
    }
  }
  Tensor big = Tensor::fromVector<int64_t>({7}, {1});
  std::vector<ExecutionContext::Named> got;
  Status st = (*ctx)->run({{"x", x}, {"k", big}}, &got);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.toString().find("outside [0, 6]"), std::string::npos) << st.toString();
}

// run() hands back a data-dependent output trimmed to its size (a new buffer); execute() after it
// must keep writing into the full buffer run() bound, not into the one it freed. A same-sized
// allocation made in between (which the allocator tends to place in the freed block) must come
// through unchanged, and the engine's outputs stay readable through getTensorShape.
TEST(DataDependentEngine, ExecuteAfterRunWithTrimmedOutputsWritesItsOwnBuffer) {
  std::shared_ptr<Engine> engine;
  auto ctx = cpuContext(topKModel(64), &engine);
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-1, 1);
  Tensor x = Tensor::allocate(DType::kFloat32, {4, 64});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
  Tensor kt = Tensor::fromVector<int64_t>({3}, {1});
  std::vector<ExecutionContext::Named> got;
  ASSERT_TRUE((*ctx)->run({{"x", x}, {"k", kt}}, &got).ok());
  ASSERT_EQ(got[0].tensor.dims(), (Dims{4, 3}));
  std::vector<Tensor> probes;
  for (int i = 0; i < 4; ++i) {
    probes.push_back(Tensor::allocate(DType::kFloat32, {4, 64}));
    probes.push_back(Tensor::allocate(DType::kInt64, {4, 64}));
  }
  for (auto& p : probes) std::memset(p.raw(), 0x5A, p.nbytes());
  for (int r = 0; r < 3; ++r) ASSERT_TRUE((*ctx)->execute().ok());
  for (const auto& p : probes)
    for (size_t b = 0; b < p.nbytes(); ++b)
      ASSERT_EQ(static_cast<const unsigned char*>(p.raw())[b], 0x5A) << "byte " << b << " of a later allocation";
  auto d = (*ctx)->getTensorShape("values");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, (Dims{4, 3}));
}

// A data-dependent size must have a bound the engine can derive from the input shapes; a
// NonZero over an input of unknown rank has none, and the build says so.
TEST(DataDependentEngine, UnboundedSizeIsAClearBuildError) {
  testing::ModelBuilder mb(17);
  mb.input("x", {"n"});
  mb.initializer("shape", Tensor::fromVector<int64_t>({-1}, {1}));
  mb.node("NonZero", {"x"}, {"nz"});
  mb.node("ReduceSum", {"nz"}, {"s"});  // keepdims: [1, 1]
  mb.node("Reshape", {"x", "s"}, {"r"});  // a shape read from data: unknown dims downstream
  mb.output("r");
  BuildConfig cfg;
  OptimizationProfile p;
  ASSERT_TRUE(p.set("x", {1}, {4}, {8}).ok());
  cfg.profiles.push_back(p);
  auto bytes = buildEngineFromBytes(mb.bytes(), "", "bad", cfg, nullptr);
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), StatusCode::kUnsupported) << bytes.status().toString();
  EXPECT_NE(bytes.status().toString().find("tensor 'r'"), std::string::npos) << bytes.status().toString();
}

}  // namespace
}  // namespace kiln
