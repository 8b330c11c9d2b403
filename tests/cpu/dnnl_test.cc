// The oneDNN tactics against the reference tactics on random inputs at odd sizes (relative L2
// <= 1e-5): Conv / ConvTranspose (1-D/2-D/3-D, groups, dilations, strides, asymmetric and auto
// padding, bias, constant and run-time weights), MatMul / Gemm (batching, broadcasting, 1-D,
// transposes, alpha/beta, constant B), MaxPool / AveragePool / GlobalAveragePool. Also: the oneDNN
// tactic is the default for float32, per-shape primitive caching, and concurrent runs.
#include <gtest/gtest.h>

#include <thread>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "op_test_util.h"
#include "runtime/interpreter.h"

namespace kiln::testing {
namespace {

AttrValue ints(std::vector<int64_t> v) { return AttrValue(std::move(v)); }

void expectSameAsReference(const OpSpec& s, const std::string& ref, const std::string& fast, const std::string& what,
                           double tol = 1e-5) {
  auto want = runOp(s, ref);
  ASSERT_TRUE(want.ok()) << what << ": " << want.status().toString();
  auto got = runOp(s, fast);
  ASSERT_TRUE(got.ok()) << what << ": " << got.status().toString();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < got->size(); ++i) {
    ASSERT_EQ((*got)[i].dims(), (*want)[i].dims()) << what;
    EXPECT_LE(relativeL2((*got)[i], (*want)[i]), tol) << what;
  }
}

struct ConvCase {
  Dims x;
  int64_t m, group;
  Dims k, s, d;
  std::vector<int64_t> pads;  // empty: auto_pad
  std::string autoPad = "NOTSET";
};

std::vector<ConvCase> convCases() {
  return {
      {{2, 3, 7, 7}, 5, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {{2, 5, 11, 11}, 4, 1, {5, 5}, {2, 2}, {1, 1}, {2, 1, 0, 2}},
      {{2, 3, 11, 7}, 6, 3, {3, 3}, {1, 2}, {2, 2}, {2, 2, 2, 2}},
      {{2, 5, 7, 11}, 5, 5, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},   // depthwise
      {{2, 5, 7, 7}, 3, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},    // 1x1
      {{2, 3, 11, 11}, 5, 1, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}},  // 1x1 strided
      {{2, 3, 11, 7}, 4, 1, {3, 3}, {2, 2}, {1, 1}, {}, "SAME_UPPER"},
      {{2, 3, 11, 7}, 4, 1, {4, 4}, {2, 2}, {1, 1}, {}, "SAME_LOWER"},
      {{2, 3, 11, 7}, 4, 1, {3, 3}, {2, 1}, {1, 1}, {}, "VALID"},
      {{2, 3, 13}, 4, 1, {5}, {2}, {2}, {3, 1}},                        // 1-D
      {{2, 4, 5, 7, 6}, 6, 2, {3, 3, 3}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 1, 2, 0}},  // 3-D
      {{1, 64, 14, 14}, 64, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},   // blocked layouts
  };
}

OpSpec convSpec(const ConvCase& c, std::mt19937& rng, bool bias, bool constW, bool transpose) {
  const Tensor x = randomTensor(DType::kFloat32, c.x, rng);
  Dims wd = transpose ? Dims{c.x[1], c.m / c.group} : Dims{c.m, c.x[1] / c.group};
  for (int64_t v : c.k) wd.push_back(v);
  OpSpec s{.op = transpose ? "ConvTranspose" : "Conv", .inputs = {x, randomTensor(DType::kFloat32, wd, rng)}};
  if (bias) s.inputs.push_back(randomTensor(DType::kFloat32, {transpose ? c.m : c.m}, rng));
  s.constInputs = {false, constW, constW};
  s.attrs.set("group", AttrValue(c.group));
  s.attrs.set("strides", ints(c.s.vec()));
  s.attrs.set("dilations", ints(c.d.vec()));
  s.attrs.set("auto_pad", AttrValue(c.autoPad));
  if (!c.pads.empty()) s.attrs.set("pads", ints(c.pads));
  return s;
}

TEST(Dnnl, ConvMatchesReference) {
  std::mt19937 rng(41);
  const auto cases = convCases();
  for (size_t i = 0; i < cases.size(); ++i)
    for (int bias = 0; bias < 2; ++bias)
      for (int constW = 0; constW < 2; ++constW)
        expectSameAsReference(convSpec(cases[i], rng, bias, constW, false), "cpu_ref_Conv", "cpu_dnnl_conv",
                              fmt::format("conv case {} bias={} constW={}", i, bias, constW));
}

TEST(Dnnl, ConvTransposeMatchesReference) {
  std::mt19937 rng(42);
  std::vector<ConvCase> cases = {
      {{2, 3, 5, 7}, 4, 1, {3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {{2, 4, 5, 6}, 6, 2, {3, 2}, {2, 3}, {1, 1}, {1, 0, 0, 1}},
      {{2, 3, 7, 5}, 5, 1, {3, 3}, {2, 2}, {2, 1}, {2, 1, 1, 2}},
      {{2, 5, 4, 4}, 5, 5, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {{2, 3, 9}, 2, 1, {5}, {3}, {2}, {2, 1}},
      {{1, 4, 3, 4, 3}, 4, 2, {2, 3, 2}, {2, 1, 2}, {1, 2, 1}, {0, 1, 0, 1, 0, 1}},
      {{2, 3, 5, 6}, 4, 1, {3, 3}, {2, 2}, {1, 1}, {}, "SAME_UPPER"},
  };
  for (size_t i = 0; i < cases.size(); ++i)
    for (int bias = 0; bias < 2; ++bias)
      for (int constW = 0; constW < 2; ++constW)
        expectSameAsReference(convSpec(cases[i], rng, bias, constW, true), "cpu_ref_ConvTranspose",
                              "cpu_dnnl_conv_transpose", fmt::format("convT case {} bias={} constW={}", i, bias, constW));
  // output_padding (oneDNN sees a smaller end padding).
  OpSpec s = convSpec(cases[1], rng, true, true, true);
  s.attrs.set("output_padding", ints({1, 2}));
  expectSameAsReference(s, "cpu_ref_ConvTranspose", "cpu_dnnl_conv_transpose", "convT output_padding");
  OpSpec os = convSpec(cases[0], rng, true, false, true);
  os.attrs.set("output_shape", ints({8, 10}));
  expectSameAsReference(os, "cpu_ref_ConvTranspose", "cpu_dnnl_conv_transpose", "convT output_shape");
}

TEST(Dnnl, MatMulMatchesReference) {
  std::mt19937 rng(43);
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{5, 7}, {7, 3}},       {{7}, {7, 3}},        {{5, 7}, {7}},           {{7}, {7}},
      {{2, 5, 7}, {7, 3}},    {{7}, {4, 7, 3}},     {{2, 1, 5, 7}, {3, 7, 4}}, {{3, 5, 7}, {3, 7, 2}},
      {{1, 5, 7}, {6, 7, 2}}, {{4, 5, 7}, {7}},     {{2, 13, 96}, {96, 80}}, {{3, 2, 9, 33}, {3, 2, 33, 17}}};
  for (const auto& [da, db] : cases)
    for (int constB = 0; constB < 2; ++constB) {
      OpSpec s{.op = "MatMul", .inputs = {randomTensor(DType::kFloat32, da, rng), randomTensor(DType::kFloat32, db, rng)},
               .constInputs = {false, static_cast<bool>(constB)}};
      expectSameAsReference(s, "cpu_ref_MatMul", "cpu_dnnl_matmul",
                            fmt::format("{} x {} constB={}", da.toString(), db.toString(), constB));
    }
}

TEST(Dnnl, GemmMatchesReference) {
  std::mt19937 rng(44);
  const int64_t M = 13, N = 9, K = 22;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Dims& cd : std::vector<Dims>{{}, {N}, {1, N}, {M, 1}, {M, N}, {0}})
        for (auto [alpha, beta] : std::vector<std::pair<float, float>>{{1.f, 1.f}, {0.5f, -2.f}})
          for (int constB = 0; constB < 2; ++constB) {
            OpSpec s{.op = "Gemm",
                     .inputs = {randomTensor(DType::kFloat32, ta ? Dims{K, M} : Dims{M, K}, rng),
                                randomTensor(DType::kFloat32, tb ? Dims{N, K} : Dims{K, N}, rng)},
                     .constInputs = {false, static_cast<bool>(constB), false}};
            const bool noC = cd.rank() == 1 && cd[0] == 0;
            if (!noC) s.inputs.push_back(randomTensor(DType::kFloat32, cd, rng));
            s.attrs.set("transA", AttrValue(int64_t{ta}));
            s.attrs.set("transB", AttrValue(int64_t{tb}));
            s.attrs.set("alpha", AttrValue(alpha));
            s.attrs.set("beta", AttrValue(beta));
            expectSameAsReference(s, "cpu_ref_Gemm", "cpu_dnnl_gemm",
                                  fmt::format("transA={} transB={} C={} alpha={} constB={}", ta, tb,
                                              noC ? "none" : cd.toString(), alpha, constB));
          }
}

TEST(Dnnl, PoolingMatchesReference) {
  std::mt19937 rng(45);
  struct PoolCase {
    Dims x, k, s, d;
    std::vector<int64_t> pads;
    std::string autoPad = "NOTSET";
    bool ceil = false;
  };
  const std::vector<PoolCase> cases = {
      {{2, 3, 7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {{2, 5, 11, 11}, {3, 3}, {2, 2}, {1, 1}, {1, 0, 1, 0}},
      {{2, 3, 11, 7}, {2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}, "NOTSET", true},
      {{2, 3, 11, 7}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, "NOTSET", true},
      {{2, 3, 11, 9}, {3, 2}, {2, 1}, {2, 2}, {2, 1, 1, 0}},
      {{2, 3, 11, 7}, {3, 3}, {2, 2}, {1, 1}, {}, "SAME_UPPER"},
      {{2, 3, 10, 7}, {2, 2}, {2, 2}, {1, 1}, {}, "SAME_LOWER"},
      {{2, 3, 13}, {4}, {3}, {1}, {2, 1}},
      {{1, 2, 5, 7, 6}, {2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 1, 1, 0, 0}},
      {{1, 64, 28, 28}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const PoolCase& c = cases[i];
    OpSpec s{.inputs = {randomTensor(DType::kFloat32, c.x, rng, -3, 3)}};
    s.attrs.set("kernel_shape", ints(c.k.vec()));
    s.attrs.set("strides", ints(c.s.vec()));
    s.attrs.set("dilations", ints(c.d.vec()));
    s.attrs.set("auto_pad", AttrValue(c.autoPad));
    s.attrs.set("ceil_mode", AttrValue(int64_t{c.ceil}));
    if (!c.pads.empty()) s.attrs.set("pads", ints(c.pads));
    s.op = "MaxPool";
    expectSameAsReference(s, "cpu_ref_MaxPool", "cpu_dnnl_maxpool", fmt::format("maxpool case {}", i));
    s.op = "AveragePool";
    for (int64_t include : {0, 1}) {
      s.attrs.set("count_include_pad", AttrValue(include));
      expectSameAsReference(s, "cpu_ref_AveragePool", "cpu_dnnl_avgpool",
                            fmt::format("avgpool case {} include_pad={}", i, include));
    }
  }
  for (Dims d : {Dims{2, 3, 7, 7}, Dims{1, 5, 13}, Dims{2, 3, 3, 4, 5}, Dims{1, 2048, 7, 7}}) {
    OpSpec s{.op = "GlobalAveragePool", .inputs = {randomTensor(DType::kFloat32, d, rng)}};
    expectSameAsReference(s, "cpu_ref_GlobalAveragePool", "cpu_dnnl_global_avgpool", d.toString());
  }
}

// A one-Conv graph whose batch dim is symbolic, with constant weights.
struct ConvGraph {
  std::shared_ptr<ir::Graph> g;
  std::unique_ptr<runtime::Interpreter> interp;
};

ConvGraph makeConvGraph(const Tensor& w, std::mt19937&) {
  ConvGraph cg;
  cg.g = std::make_shared<ir::Graph>();
  cg.g->setOpset("", 21);
  ir::Value* x = cg.g->addInput("x", DType::kFloat32, Shape{Dim::symbol("N"), Dim(w.dims()[1]), Dim(9), Dim(11)});
  ir::Value* wv = cg.g->addConstant("w", w);
  const ir::OpDef* def = ir::OpRegistry::global().find("", "Conv");
  AttrMap a;
  a.set("pads", ints({1, 0, 1, 2}));
  a.set("strides", ints({1, 2}));
  EXPECT_TRUE(ir::checkAndFillAttributes(*def, a).ok());
  ir::Node* n = cg.g->addNode("Conv", "", 21, "conv", {x, wv}, {"y"}, a);
  cg.g->setNodeDef(n, def);
  EXPECT_TRUE(ir::inferNode(*cg.g, *n).ok());
  cg.g->addOutput(n->output(0));
  auto interp = runtime::Interpreter::create(cg.g);
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  cg.interp = std::move(interp).value();
  return cg;
}

TEST(Dnnl, DefaultTacticCachesPerShapeAndRunsConcurrently) {
  std::mt19937 rng(46);
  Tensor w = randomTensor(DType::kFloat32, {16, 8, 3, 3}, rng);
  ConvGraph cg = makeConvGraph(w, rng);
  ASSERT_EQ(cg.interp->tactics().size(), 1u);
  EXPECT_EQ(cg.interp->tactics()[0].second, "cpu_dnnl_conv");

  // Several batch sizes (one primitive each), from several threads at once.
  std::vector<Tensor> xs, want;
  for (int64_t n : {1, 3, 2, 5}) {
    xs.push_back(randomTensor(DType::kFloat32, {n, 8, 9, 11}, rng));
    OpSpec s{.op = "Conv", .inputs = {xs.back(), w}};
    s.attrs.set("pads", ints({1, 0, 1, 2}));
    s.attrs.set("strides", ints({1, 2}));
    auto r = runOp(s, "cpu_ref_Conv");
    ASSERT_TRUE(r.ok()) << r.status().toString();
    want.push_back((*r)[0]);
  }
  std::vector<double> err(8 * xs.size(), -1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (size_t rep = 0; rep < xs.size(); ++rep) {
        const size_t i = (rep + t) % xs.size();
        std::vector<runtime::NamedTensor> out;
        Status st = cg.interp->run({{"x", xs[i]}}, &out);
        err[t * xs.size() + rep] = st.ok() && out.size() == 1 && out[0].tensor.dims() == want[i].dims()
                                       ? relativeL2(out[0].tensor, want[i])
                                       : 1e9;
      }
    });
  for (auto& th : threads) th.join();
  for (double e : err) EXPECT_LE(e, 1e-5);
}

TEST(Dnnl, Float64LayersKeepTheReferenceTactic) {
  // supports() refuses non-float32 layers, so forcing the oneDNN tactic is an error...
  std::mt19937 rng(47);
  OpSpec s{.op = "Conv", .inputs = {randomTensor(DType::kFloat64, {1, 2, 5, 5}, rng),
                                    randomTensor(DType::kFloat64, {3, 2, 3, 3}, rng)}};
  auto forced = runOp(s, "cpu_dnnl_conv");
  ASSERT_FALSE(forced.ok());
  EXPECT_EQ(forced.status().code(), StatusCode::kUnsupported);
  // ...and the default choice runs the reference kernel.
  auto r = runOp(s);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  auto ref = runOp(s, "cpu_ref_Conv");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(maxAbsDiff((*r)[0], (*ref)[0]), 0.0);
  // MaxPool with the Indices output is not a oneDNN layer either.
  OpSpec mp{.op = "MaxPool", .inputs = {randomTensor(DType::kFloat32, {1, 2, 5, 5}, rng)}, .numOutputs = 2};
  mp.attrs.set("kernel_shape", ints({2, 2}));
  auto f = runOp(mp, "cpu_dnnl_maxpool");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln::testing
