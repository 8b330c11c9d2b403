// CUDA engines end to end on small models: placement of shape arithmetic on the host, uploads of
// host values, model outputs computed on the host, CUDA graph replay after a shape change, the
// device arena and errors. Kernel families have their own tests; these use only copy kernels and
// the few ops every build has.
#include <gtest/gtest.h>

#include <cstring>

#include "gpu_test_util.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"
#include "plan/plan.h"

namespace kiln::testing {
namespace {

Result<std::shared_ptr<Engine>> buildCuda(const std::string& onnx, BuildConfig cfg = {}) {
  cfg.target = Target::kCUDA;
  cfg.tf32 = false;
  KILN_ASSIGN_OR_RETURN(std::string bytes, buildEngineFromBytes(onnx, "", "test", cfg));
  return Engine::loadBytes(std::move(bytes), "test engine");
}

// y = Reshape(x, Concat(Shape(x)[0:1], [-1])) (then negated when `negate`): the target shape is
// shape arithmetic; x is [batch, 3, 5].
std::string reshapeByShapeModel(bool negate) {
  ModelBuilder mb(17);
  mb.input("x", {"batch", "3", "5"});
  mb.initializer("minus1", Tensor::fromVector<int64_t>({-1}, Dims{1}));
  mb.initializer("s0", Tensor::fromVector<int64_t>({0}, Dims{1}));
  mb.initializer("s1", Tensor::fromVector<int64_t>({1}, Dims{1}));
  mb.node("Shape", {"x"}, {"shape"});
  mb.node("Slice", {"shape", "s0", "s1"}, {"batch"});
  auto& c = mb.node("Concat", {"batch", "minus1"}, {"target"});
  ModelBuilder::attr(c, "axis", int64_t{0});
  mb.node("Reshape", {"x", "target"}, {negate ? "r" : "y"});
  if (negate) mb.node("Neg", {"r"}, {"y"});
  mb.output("y");
  return mb.bytes();
}

TEST(CudaEngine, ReshapeTargetComputedOnHostFromShapes) {
  KILN_REQUIRE_GPU();
  BuildConfig cfg;
  OptimizationProfile prof;
  ASSERT_TRUE(prof.set("x", Dims{1, 3, 5}, Dims{2, 3, 5}, Dims{4, 3, 5}).ok());
  cfg.profiles = {prof};
  cfg.passes = {"none"};  // keep the shape arithmetic as layers
  auto engine = buildCuda(reshapeByShapeModel(false), cfg);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  int host = 0, gpu = 0;
  for (const auto& l : (*engine)->layers()) (l.placement == "host" ? host : gpu)++;
  EXPECT_EQ(host, 3) << (*engine)->summary();  // Shape, Slice, Concat
  EXPECT_EQ(gpu, 1);
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::mt19937 rng(7);
  for (int64_t b : {2, 4, 1, 4}) {  // shape changes re-run host layers and re-capture the graph
    Tensor x = randomTensor(DType::kFloat32, Dims{b, 3, 5}, rng);
    std::vector<ExecutionContext::Named> outs;
    ASSERT_TRUE((*ctx)->run({{"x", x}}, &outs).ok());
    ASSERT_EQ(outs.size(), 1u);
    EXPECT_EQ(outs[0].tensor.dims(), (Dims{b, 15}));
    EXPECT_EQ(std::memcmp(outs[0].tensor.raw(), x.raw(), x.nbytes()), 0) << "batch " << b;
  }
}

TEST(CudaEngine, ModelOutputComputedOnHostIsUploaded) {
  KILN_REQUIRE_GPU();
  ModelBuilder mb(17);
  mb.input("x", {"n", "7"});
  mb.node("Shape", {"x"}, {"s"});
  mb.node("Identity", {"x"}, {"y"});
  mb.output("s");
  mb.output("y");
  BuildConfig cfg;
  OptimizationProfile prof;
  ASSERT_TRUE(prof.set("x", Dims{1, 7}, Dims{3, 7}, Dims{9, 7}).ok());
  cfg.profiles = {prof};
  cfg.passes = {"none"};
  auto engine = buildCuda(mb.bytes(), cfg);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::mt19937 rng(3);
  for (int64_t n : {3, 9}) {
    Tensor x = randomTensor(DType::kFloat32, Dims{n, 7}, rng);
    std::vector<ExecutionContext::Named> outs;
    ASSERT_TRUE((*ctx)->run({{"x", x}}, &outs).ok());
    ASSERT_EQ(outs.size(), 2u);
    ASSERT_EQ(outs[0].tensor.numel(), 2);
    EXPECT_EQ(outs[0].tensor.data<int64_t>()[0], n);
    EXPECT_EQ(outs[0].tensor.data<int64_t>()[1], 7);
    EXPECT_EQ(std::memcmp(outs[1].tensor.raw(), x.raw(), x.nbytes()), 0);
  }
}

TEST(CudaEngine, HostReadOfTensorDataIsRefusedWithReason) {
  KILN_REQUIRE_GPU();
  // Pad's constant value is read on the host, but here it is a model input's data: the engine
  // could only get it by reading device memory mid-run, so the build refuses, naming the input.
  ModelBuilder mb(18);
  mb.input("x", {"6"});
  mb.input("value", {}, ::onnx::TensorProto::FLOAT);
  mb.initializer("pads", Tensor::fromVector<int64_t>({1, 2}, Dims{2}));
  mb.node("Pad", {"x", "pads", "value"}, {"y"});
  mb.output("y");
  BuildConfig cfg;
  cfg.passes = {"none"};
  auto engine = buildCuda(mb.bytes(), cfg);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("model input 'value'"), std::string::npos) << engine.status().toString();
}

TEST(CudaEngine, CudaGraphAndEagerAgreeAndContextsAreIndependent) {
  KILN_REQUIRE_GPU();
  ModelBuilder mb(17);
  mb.input("x", {"4", "5"});
  mb.node("Identity", {"x"}, {"t"});
  mb.node("Flatten", {"t"}, {"y"});
  mb.output("y");
  BuildConfig cfg;
  cfg.passes = {"none"};
  auto engine = buildCuda(mb.bytes(), cfg);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto a = (*engine)->createExecutionContext();
  auto b = (*engine)->createExecutionContext();
  ASSERT_TRUE(a.ok() && b.ok());
  (*b)->setCudaGraphs(false);
  EXPECT_FALSE((*b)->cudaGraphs());
  std::mt19937 rng(5);
  for (int r = 0; r < 3; ++r) {
    Tensor x = randomTensor(DType::kFloat32, Dims{4, 5}, rng);
    Tensor x2 = randomTensor(DType::kFloat32, Dims{4, 5}, rng);
    std::vector<ExecutionContext::Named> oa, ob;
    ASSERT_TRUE((*a)->run({{"x", x}}, &oa).ok());
    ASSERT_TRUE((*b)->run({{"x", x2}}, &ob).ok());
    EXPECT_EQ(std::memcmp(oa[0].tensor.raw(), x.raw(), x.nbytes()), 0);
    EXPECT_EQ(std::memcmp(ob[0].tensor.raw(), x2.raw(), x2.nbytes()), 0);
  }
}

// A dynamic batcher alternates shapes: each launch key (dims, I/O addresses) gets its own graph
// after one eager run, and switching back replays the earlier graph with that shape's values.
TEST(CudaEngine, GraphPerLaunchKeyReplaysAfterSwitching) {
  KILN_REQUIRE_GPU();
  BuildConfig cfg;
  OptimizationProfile prof;
  ASSERT_TRUE(prof.set("x", Dims{1, 3, 5}, Dims{2, 3, 5}, Dims{4, 3, 5}).ok());
  cfg.profiles = {prof};
  auto engine = buildCuda(reshapeByShapeModel(true), cfg);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::mt19937 rng(9);
  for (int64_t b : {2, 3, 2, 3, 2, 3, 4, 1, 4, 2, 2, 3}) {  // eager, capture and replay per batch
    Tensor x = randomTensor(DType::kFloat32, Dims{b, 3, 5}, rng);
    std::vector<ExecutionContext::Named> outs;
    ASSERT_TRUE((*ctx)->run({{"x", x}}, &outs).ok());
    ASSERT_EQ(outs[0].tensor.dims(), (Dims{b, 15}));
    for (int64_t i = 0; i < x.numel(); ++i)
      ASSERT_EQ(outs[0].tensor.data<float>()[i], -x.data<float>()[i]) << "batch " << b << " element " << i;
  }
}

TEST(CudaEngine, EngineRecordsDeviceAndLibraries) {
  KILN_REQUIRE_GPU();
  ModelBuilder mb(17);
  mb.input("x", {"2"});
  mb.node("Identity", {"x"}, {"y"});
  mb.output("y");
  auto engine = buildCuda(mb.bytes());
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  EXPECT_TRUE((*engine)->isCuda());
  const auto& t = (*engine)->plan().target;
  EXPECT_EQ(t.kind, "cuda");
  EXPECT_EQ(t.arch.rfind("sm_", 0), 0u) << t.arch;
  bool hasCudart = false;
  for (const auto& [name, version] : t.libraries) hasCudart |= name == "cudart" && !version.empty();
  EXPECT_TRUE(hasCudart) << (*engine)->summary();
}

TEST(CudaEngine, WithoutGpuTheBuildSaysWhy) {
  if (gpuAvailable()) GTEST_SKIP() << "SKIP: this machine has a GPU (the test covers machines without one)";
  ModelBuilder mb(17);
  mb.input("x", {"2"});
  mb.node("Identity", {"x"}, {"y"});
  mb.output("y");
  auto engine = buildCuda(mb.bytes());
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("GPU"), std::string::npos) << engine.status().toString();
}

}  // namespace
}  // namespace kiln::testing
