// The builder plans the output of a device Reshape/Flatten/Squeeze/Unsqueeze/Identity at its
// input's bytes (no copy at run time): the engine still matches the interpreter when the viewed
// tensor stays live after the view (its consumers read it later), through chains of views, with
// dynamic shapes, and a view of a graph input or onto a graph output keeps its own copy.
#include <random>

#include <gtest/gtest.h>

#include "gpu_test_util.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"
#include "op_test_util.h"
#include "plan/plan.h"

namespace kiln::testing {
namespace {

const plan::TensorInfo& tensorNamed(const plan::Plan& p, const std::string& name) {
  for (const auto& t : p.tensors)
    if (t.name == name) return t;
  ADD_FAILURE() << "no tensor " << name;
  return p.tensors.front();
}

// x [batch, 3, 4] -> a = Relu(x) -> b = Reshape(a, [-1, 4]) -> c = Sigmoid(b)
// -> d = Unsqueeze(Flatten(c)) -> e = Reshape(d, x's shape) -> y = e + a (a read after its views),
// z = Reshape(x) (a view of the graph input, also a graph output), and
// v = Reshape(Neg(x)) read by w = v + Tanh(x) after Neg's output has no other reader: without the
// lifetime of the view, Tanh's output could take Neg's bytes while v still needs them.
std::string viewModel() {
  ModelBuilder mb(17);
  mb.input("x", {"batch", "3", "4"});
  mb.initializer("flat", Tensor::fromVector<int64_t>({-1, 4}, {2}));
  mb.initializer("axes", Tensor::fromVector<int64_t>({0}, {1}));
  mb.node("Relu", {"x"}, {"a"});
  mb.node("Reshape", {"a", "flat"}, {"b"});
  mb.node("Sigmoid", {"b"}, {"c"});
  mb.node("Flatten", {"c"}, {"f"});
  mb.node("Unsqueeze", {"f", "axes"}, {"d"});
  mb.node("Shape", {"x"}, {"xs"});
  mb.node("Reshape", {"d", "xs"}, {"e"});
  mb.node("Add", {"e", "a"}, {"y"});
  mb.node("Reshape", {"x", "flat"}, {"z"});
  mb.node("Neg", {"x"}, {"n"});
  mb.node("Reshape", {"n", "flat"}, {"v"});
  mb.node("Tanh", {"x"}, {"th"});
  mb.node("Reshape", {"th", "flat"}, {"thv"});
  mb.node("Add", {"v", "thv"}, {"w"});
  mb.output("y").output("z").output("w");
  return mb.bytes();
}

TEST(CudaViewAlias, ViewsShareBytesAndResultsMatch) {
  KILN_REQUIRE_GPU();
  BuildConfig cfg;
  cfg.target = Target::kCUDA;
  OptimizationProfile prof;
  ASSERT_TRUE(prof.set("x", {1, 3, 4}, {5, 3, 4}, {9, 3, 4}).ok());
  cfg.profiles = {prof};
  // No optimization: the views stay as written (simplify-chains would merge them, fuse-elementwise
  // the layers around them).
  cfg.passes = {"none"};
  auto bytes = buildEngineFromBytes(viewModel(), "", "views", cfg);
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  auto engine = Engine::loadBytes(std::move(*bytes), "views");
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  const plan::Plan& p = (*engine)->plan();
  // b views a; e views d, which views f, which views c (a chain resolves to its first buffer).
  EXPECT_EQ(tensorNamed(p, "b").arenaOffset, tensorNamed(p, "a").arenaOffset);
  EXPECT_EQ(tensorNamed(p, "e").arenaOffset, tensorNamed(p, "c").arenaOffset);
  EXPECT_EQ(tensorNamed(p, "d").arenaOffset, tensorNamed(p, "c").arenaOffset);
  // c is live while a is (a is read by the Add after c's views): they must not overlap.
  EXPECT_NE(tensorNamed(p, "c").arenaOffset, tensorNamed(p, "a").arenaOffset);
  // v views n and is read after Tanh writes th: n's bytes stay n's until then.
  EXPECT_EQ(tensorNamed(p, "v").arenaOffset, tensorNamed(p, "n").arenaOffset);
  EXPECT_NE(tensorNamed(p, "th").arenaOffset, tensorNamed(p, "n").arenaOffset);

  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  std::mt19937 rng(3);
  for (int64_t n : {5, 1, 9, 5}) {
    SCOPED_TRACE("batch " + std::to_string(n));
    Tensor x = randomTensor(DType::kFloat32, {n, 3, 4}, rng, -2.0, 2.0);
    ASSERT_TRUE((*ctx)->setInputShape("x", x.dims()).ok());
    std::vector<ExecutionContext::Named> outs;
    Status st = (*ctx)->run({{"x", x}}, &outs);
    ASSERT_TRUE(st.ok()) << st.toString();
    auto ref = interpretModel(viewModel(), {{"x", x}});
    ASSERT_TRUE(ref.ok()) << ref.status().toString();
    ASSERT_EQ(outs.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      ASSERT_EQ(outs[i].tensor.dims(), (*ref)[i].tensor.dims()) << outs[i].name;
      EXPECT_LE(relativeL2(outs[i].tensor, (*ref)[i].tensor), 1e-6) << outs[i].name;
    }
  }
}

}  // namespace
}  // namespace kiln::testing
