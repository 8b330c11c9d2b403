// --reduced-io (BuildConfig::reducedPrecisionIO) on the GPU: an fp16 engine whose float32 input and
// outputs become float16 computes what the float32 CPU engine computes on the same (fp16-exact)
// input, takes and returns float16, and refuses a float32 input with a message naming the type.
#include <random>

#include <gtest/gtest.h>

#include "gpu_test_util.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"
#include "op_test_util.h"

namespace kiln::testing {
namespace {

// y = LayerNorm(x W + b) (lowered to fp16); z = ReduceSumSquare(x) (kept in float32 for range, so
// its output needs a Cast to float16); n = Shape(x) (int64, unchanged).
std::string model() {
  std::mt19937 rng(23);
  ModelBuilder mb(17);
  mb.input("x", {"3", "24"});
  mb.initializer("W", randomTensor(DType::kFloat32, Dims{24, 40}, rng, -0.3, 0.3));
  mb.initializer("b", randomTensor(DType::kFloat32, Dims{40}, rng));
  mb.initializer("g", randomTensor(DType::kFloat32, Dims{40}, rng, 0.5, 1.5));
  mb.initializer("beta", randomTensor(DType::kFloat32, Dims{40}, rng));
  mb.node("MatMul", {"x", "W"}, {"mm"});
  mb.node("Add", {"mm", "b"}, {"h"});
  auto& ln = mb.node("LayerNormalization", {"h", "g", "beta"}, {"y"});
  ModelBuilder::attr(ln, "axis", int64_t{-1});
  auto& rss = mb.node("ReduceSumSquare", {"x"}, {"z"});
  ModelBuilder::attr(rss, "axes", std::vector<int64_t>{1});
  mb.node("Shape", {"x"}, {"n"});
  mb.output("y");
  mb.output("z");
  mb.output("n");
  return mb.bytes();
}

TEST(ReducedIo, Fp16EngineTakesAndReturnsFloat16AndMatchesTheCpu) {
  KILN_REQUIRE_GPU();
  BuildConfig gpu;
  gpu.target = Target::kCUDA;
  gpu.fp16 = true;
  gpu.reducedPrecisionIO = true;
  auto gb = buildEngineFromBytes(model(), ".", "reduced_io", gpu);
  ASSERT_TRUE(gb.ok()) << gb.status().toString();
  auto ge = Engine::loadBytes(std::move(*gb), "gpu");
  ASSERT_TRUE(ge.ok()) << ge.status().toString();
  const IOTensorInfo* x = (*ge)->findIO("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->dtype, DType::kFloat16);
  EXPECT_EQ((*ge)->findIO("y")->dtype, DType::kFloat16);
  EXPECT_EQ((*ge)->findIO("z")->dtype, DType::kFloat16);
  EXPECT_EQ((*ge)->findIO("n")->dtype, DType::kInt64);

  auto cb = buildEngineFromBytes(model(), ".", "reduced_io_cpu", BuildConfig{});
  ASSERT_TRUE(cb.ok()) << cb.status().toString();
  auto ce = Engine::loadBytes(std::move(*cb), "cpu");
  ASSERT_TRUE(ce.ok());

  std::mt19937 rng(5);
  const Tensor x16 = randomTensor(DType::kFloat16, Dims{3, 24}, rng);
  Tensor x32 = Tensor::allocate(DType::kFloat32, x16.dims());
  for (int64_t i = 0; i < x16.numel(); ++i) x32.data<float>()[i] = static_cast<float>(x16.doubleAt(i));
  auto gc = (*ge)->createExecutionContext();
  auto cc = (*ce)->createExecutionContext();
  ASSERT_TRUE(gc.ok() && cc.ok());
  std::vector<ExecutionContext::Named> got, ref;
  Status st = (*gc)->run({{"x", x16}}, &got);
  ASSERT_TRUE(st.ok()) << st.toString();
  ASSERT_TRUE((*cc)->run({{"x", x32}}, &ref).ok());
  ASSERT_EQ(got.size(), 3u);
  ASSERT_EQ(ref.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i].tensor.dtype(), DType::kFloat16) << got[i].name;
    EXPECT_LE(relativeL2(got[i].tensor, ref[i].tensor), 5e-3) << got[i].name;
  }
  EXPECT_EQ(maxAbsDiff(got[2].tensor, ref[2].tensor), 0.0);

  // The model's float32 is no longer what the engine takes.
  std::vector<ExecutionContext::Named> bad;
  Status wrong = (*gc)->run({{"x", x32}}, &bad);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("float16"), std::string::npos) << wrong.toString();
}

}  // namespace
}  // namespace kiln::testing
