// CUDA engines end to end on small models: placement of shape arithmetic on the host, uploads of
// host values, model outputs computed on the host, CUDA graph replay after a shape change, the
// device arena and errors. Kernel families have their own tests; these use only copy kernels and
// the few ops every build has.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <algorithm>
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

// y = Pad(x[6], pads [1, 2], value): Pad reads its constant value on the host; `valueDims` is the
// value input's shape ({}: a scalar).
std::string padByValueModel(std::vector<std::string> valueDims) {
  ModelBuilder mb(18);
  mb.input("x", {"6"});
  mb.input("value", std::move(valueDims), ::onnx::TensorProto::FLOAT);
  mb.initializer("pads", Tensor::fromVector<int64_t>({1, 2}, Dims{2}));
  mb.node("Pad", {"x", "pads", "value"}, {"y"});
  mb.output("y");
  return mb.bytes();
}

BuildConfig noPasses() {
  BuildConfig cfg;
  cfg.passes = {"none"};
  return cfg;
}

TEST(CudaEngine, HostReadOfTensorDataIsRefusedWithReason) {
  KILN_REQUIRE_GPU();
  // Pad's constant value is read on the host; here it is a model input of rank 2, not a small
  // shape-like value a host input may be: the engine could only get it by reading device memory
  // mid-run (or by moving model data to the CPU), so the build refuses, naming the input.
  auto engine = buildCuda(padByValueModel({"1", "1"}), noPasses());
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("model input 'value'"), std::string::npos) << engine.status().toString();
  EXPECT_NE(engine.status().message().find("host input"), std::string::npos) << engine.status().toString();
}

// Host inputs (TensorRT's shape tensors): a small model input a kernel reads on the host is passed
// in host memory and read when the run is enqueued.
TEST(CudaEngine, PadValueFromAHostInput) {
  KILN_REQUIRE_GPU();
  auto engine = buildCuda(padByValueModel({}), noPasses());
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  ASSERT_NE((*engine)->findIO("value"), nullptr);
  EXPECT_TRUE((*engine)->findIO("value")->hostMemory);
  EXPECT_FALSE((*engine)->findIO("x")->hostMemory);
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::mt19937 rng(11);
  Tensor x = randomTensor(DType::kFloat32, Dims{6}, rng);
  for (float v : {2.5f, -1.0f, 2.5f, 7.0f}) {  // graphs are kept per host-input value
    std::vector<ExecutionContext::Named> outs;
    ASSERT_TRUE((*ctx)->run({{"x", x}, {"value", Tensor::fromVector<float>({v}, Dims{})}}, &outs).ok());
    ASSERT_EQ(outs[0].tensor.dims(), (Dims{9}));
    const float* y = outs[0].tensor.data<float>();
    EXPECT_EQ(y[0], v);
    EXPECT_EQ(y[7], v);
    EXPECT_EQ(y[8], v);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(y[1 + i], x.data<float>()[i]);
  }
}

// setTensorAddress refuses memory of the wrong kind before a kernel touches it: pageable host
// memory for a device input or output (a kernel reading it would fault, and a fault poisons every
// context of the process), device memory for a host input (read on the host).
TEST(CudaEngine, AddressesOfTheWrongMemoryKindAreRefused) {
  KILN_REQUIRE_GPU();
  auto engine = buildCuda(padByValueModel({}), noPasses());
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::vector<float> pageable(16, 1.0f);
  Status st = (*ctx)->setTensorAddress("x", pageable.data());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("host memory the GPU cannot address"), std::string::npos) << st.toString();
  st = (*ctx)->setTensorAddress("y", pageable.data());
  ASSERT_FALSE(st.ok());
  void* dev = nullptr;
  ASSERT_EQ(cudaMalloc(&dev, 64), cudaSuccess);
  st = (*ctx)->setTensorAddress("value", dev);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("must be host memory"), std::string::npos) << st.toString();
  // The right kinds work: device x and y, host value.
  void* devY = nullptr;
  ASSERT_EQ(cudaMalloc(&devY, 64), cudaSuccess);
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  ASSERT_EQ(cudaMemcpy(dev, x.data(), 24, cudaMemcpyHostToDevice), cudaSuccess);
  float value = -3.0f;
  EXPECT_TRUE((*ctx)->setTensorAddress("x", dev).ok());
  EXPECT_TRUE((*ctx)->setTensorAddress("y", devY).ok());
  EXPECT_TRUE((*ctx)->setTensorAddress("value", &value).ok());
  st = (*ctx)->execute();
  EXPECT_TRUE(st.ok()) << st.toString();
  std::vector<float> y(9);
  ASSERT_EQ(cudaMemcpy(y.data(), devY, 36, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(y, (std::vector<float>{-3, 1, 2, 3, 4, 5, 6, -3, -3}));
  cudaFree(dev);
  cudaFree(devY);
}

// The reference TopK of each row of x [rows, n] (largest first, lower index first on ties).
void referenceTopK(const Tensor& x, int64_t k, std::vector<float>* values, std::vector<int64_t>* indices) {
  const int64_t rows = x.dims()[0], n = x.dims()[1];
  values->clear();
  indices->clear();
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int64_t> order(n);
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    const float* row = x.data<float>() + r * n;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
    for (int64_t i = 0; i < k; ++i) {
      values->push_back(row[order[i]]);
      indices->push_back(order[i]);
    }
  }
}

TEST(CudaEngine, TopKWithKFromAHostInput) {
  KILN_REQUIRE_GPU();
  ModelBuilder mb(13);
  mb.input("x", {"rows", "37"});
  mb.input("k", {"1"}, ::onnx::TensorProto::INT64);
  auto& n = mb.node("TopK", {"x", "k"}, {"values", "indices"});
  ModelBuilder::attr(n, "axis", int64_t{1});
  mb.output("values");
  mb.output("indices");
  BuildConfig cfg;
  OptimizationProfile prof;
  ASSERT_TRUE(prof.set("x", Dims{1, 37}, Dims{5, 37}, Dims{8, 37}).ok());
  cfg.profiles = {prof};
  auto engine = buildCuda(mb.bytes(), cfg);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  EXPECT_TRUE((*engine)->findIO("k")->hostMemory);
  for (const auto& l : (*engine)->layers())
    if (l.op == "TopK") EXPECT_EQ(l.placement, "gpu") << (*engine)->summary();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::mt19937 rng(13);
  for (auto [rows, k] : std::vector<std::pair<int64_t, int64_t>>{{5, 3}, {5, 37}, {8, 1}, {5, 3}, {2, 0}, {7, 20}}) {
    Tensor x = randomTensor(DType::kFloat32, Dims{rows, 37}, rng);
    std::vector<ExecutionContext::Named> outs;
    Status st = (*ctx)->run({{"x", x}, {"k", Tensor::fromVector<int64_t>({k}, Dims{1})}}, &outs);
    ASSERT_TRUE(st.ok()) << "k " << k << ": " << st.toString();
    ASSERT_EQ(outs.size(), 2u);
    ASSERT_EQ(outs[0].tensor.dims(), (Dims{rows, k}));
    ASSERT_EQ(outs[1].tensor.dims(), (Dims{rows, k}));
    std::vector<float> v;
    std::vector<int64_t> ix;
    referenceTopK(x, k, &v, &ix);
    for (size_t i = 0; i < v.size(); ++i) {
      EXPECT_EQ(outs[0].tensor.data<float>()[i], v[i]) << "k " << k << " element " << i;
      EXPECT_EQ(outs[1].tensor.data<int64_t>()[i], ix[i]) << "k " << k << " element " << i;
    }
  }
  // K beyond the axis: an error that says so, and the context still runs afterwards.
  std::vector<ExecutionContext::Named> outs;
  Tensor x = randomTensor(DType::kFloat32, Dims{2, 37}, rng);
  Status st = (*ctx)->run({{"x", x}, {"k", Tensor::fromVector<int64_t>({38}, Dims{1})}}, &outs);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("K = 38"), std::string::npos) << st.toString();
  ASSERT_TRUE((*ctx)->run({{"x", x}, {"k", Tensor::fromVector<int64_t>({4}, Dims{1})}}, &outs).ok());
  EXPECT_EQ(outs[0].tensor.dims(), (Dims{2, 4}));
}

// A host input that host layers compute with (k + 1) and that a device layer also reads as data:
// the host layers run again when its value changes, the device layer gets an upload, and each
// value gets its own CUDA graph (Trilu's k is a kernel argument baked into a capture).
TEST(CudaEngine, HostInputComputedWithOnHostAndUploaded) {
  KILN_REQUIRE_GPU();
  ModelBuilder mb(17);
  mb.input("x", {"4", "6"});
  mb.input("k", {}, ::onnx::TensorProto::INT64);
  mb.initializer("one", Tensor::fromVector<int64_t>({1}, Dims{}));
  mb.node("Add", {"k", "one"}, {"k1"});
  mb.node("Trilu", {"x", "k1"}, {"y"});
  auto& cast = mb.node("Cast", {"k"}, {"kf"});
  ModelBuilder::attr(cast, "to", int64_t{::onnx::TensorProto::FLOAT});
  mb.node("Mul", {"y", "kf"}, {"z"});  // k as device data too
  mb.output("z");
  BuildConfig cfg;
  cfg.passes = {"none"};
  auto engine = buildCuda(mb.bytes(), cfg);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  int host = 0, uploads = 0;
  for (const auto& l : (*engine)->layers()) {
    host += l.placement == "host";
    uploads += l.op == "HostToDevice";
  }
  EXPECT_EQ(host, 1) << (*engine)->summary();  // Add
  EXPECT_EQ(uploads, 1) << (*engine)->summary();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  std::mt19937 rng(17);
  Tensor x = randomTensor(DType::kFloat32, Dims{4, 6}, rng);
  for (int64_t k : {0, 2, -2, 2, 0, -2, 3}) {  // eager, capture and replay per value
    std::vector<ExecutionContext::Named> outs;
    ASSERT_TRUE((*ctx)->run({{"x", x}, {"k", Tensor::fromVector<int64_t>({k}, Dims{})}}, &outs).ok());
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 6; ++j) {
        // Trilu keeps the upper part: j - i >= k + 1.
        const float want = j - i >= k + 1 ? x.data<float>()[i * 6 + j] * static_cast<float>(k) : 0.0f;
        EXPECT_EQ(outs[0].tensor.data<float>()[i * 6 + j], want) << "k " << k << " at " << i << "," << j;
      }
  }
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
