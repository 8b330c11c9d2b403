// fold-layernorm-matmul: which LayerNormalizations fold into the GEMM before them (the fp16 layer,
// the only use of an activation-free FusedMatMul, over the last axis), which stay, that the pass
// does nothing unless the target says it has the kernel, and how the fused layer is wired. (The
// fused layer's arithmetic is checked against FusedMatMul + LayerNormalization in
// tests/cpu and, for the CUDA kernel, tests/cuda/matmul_layernorm_test.cc.)
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "backends/host_inputs.h"
#include "model_builder.h"
#include "onnx/importer.h"
#include "op_test_util.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

using testing::ModelBuilder;

// Rows of 384 (a width the fused kernel has). y = LayerNorm(x W + b + r) (folds); v = LayerNorm(x W4)
// (a plain MatMul: folds); z = LayerNorm(x W2)
// whose GEMM output is also a graph output (stays); u = LayerNorm(Relu(x W3)) (an activation
// between: stays).
std::string residualLayerNormModel(const std::string& batch = "2") {
  ModelBuilder mb(17);
  mb.input("x", {batch, "5", "8"});
  mb.input("r", {batch, "5", "384"});
  std::mt19937 rng(3);
  for (const char* w : {"W", "W2", "W3", "W4", "W5", "W6", "W7", "W8"})
    mb.initializer(w, testing::randomTensor(DType::kFloat32, Dims{8, 384}, rng));
  mb.initializer("scale2d", testing::randomTensor(DType::kFloat32, Dims{5, 384}, rng, 0.5, 1.5));
  mb.input("gscale", {"384"});
  // A row width the fused kernel does not have.
  mb.initializer("W9", testing::randomTensor(DType::kFloat32, Dims{8, 16}, rng));
  mb.initializer("scale16", testing::randomTensor(DType::kFloat32, Dims{16}, rng, 0.5, 1.5));
  mb.node("MatMul", {"x", "W9"}, {"mm9"});
  mb.node("LayerNormalization", {"mm9", "scale16"}, {"s5"});
  for (const char* k : {"5", "6", "7", "8"}) mb.node("MatMul", {"x", std::string("W") + k}, {std::string("mm") + k});
  mb.initializer("b", testing::randomTensor(DType::kFloat32, Dims{384}, rng));
  mb.initializer("scale", testing::randomTensor(DType::kFloat32, Dims{384}, rng, 0.5, 1.5));
  mb.initializer("shift", testing::randomTensor(DType::kFloat32, Dims{384}, rng));
  mb.node("MatMul", {"x", "W"}, {"mm"});
  mb.node("Add", {"mm", "b"}, {"mmb"});
  mb.node("Add", {"mmb", "r"}, {"pre"});
  ModelBuilder::attr(mb.node("LayerNormalization", {"pre", "scale", "shift"}, {"y"}), "epsilon", 1e-5f);
  mb.node("MatMul", {"x", "W2"}, {"mm2"});
  mb.node("LayerNormalization", {"mm2", "scale"}, {"z"});
  mb.node("MatMul", {"x", "W3"}, {"mm3"});
  mb.node("Relu", {"mm3"}, {"act3"});
  mb.node("LayerNormalization", {"act3", "scale", "shift"}, {"u"});
  mb.node("MatMul", {"x", "W4"}, {"mm4"});
  mb.node("LayerNormalization", {"mm4", "scale", "shift"}, {"v"});
  // Stay: normalized over the last two axes; a scale that is a graph input; a GEMM output that
  // another node reads too; a LayerNorm whose Mean output is a graph output.
  ModelBuilder::attr(mb.node("LayerNormalization", {"mm5", "scale2d"}, {"s1"}), "axis", int64_t{1});
  mb.node("LayerNormalization", {"mm6", "gscale"}, {"s2"});
  mb.node("LayerNormalization", {"mm7", "scale"}, {"s3"});
  mb.node("Relu", {"mm7"}, {"s3r"});
  mb.node("LayerNormalization", {"mm8", "scale"}, {"s4", "s4mean"});
  mb.output("y");
  mb.output("z");
  mb.output("mm2");
  mb.output("u");
  mb.output("v");
  for (const char* o : {"s1", "s2", "s3", "s3r", "s4", "s4mean", "s5"}) mb.output(o);
  return mb.bytes();
}

passes::PassContext foldContext(bool targetHasKernel, std::set<std::string> refused = {}) {
  passes::PassContext ctx;
  ctx.lowPrecision = DType::kFloat16;
  ctx.supportsLowered = [refused](const ir::Node& n, DType) { return refused.count(n.opType()) == 0; };
  ctx.hostInputs = [](const std::string& d, const std::string& op) -> const std::vector<int>& {
    return cuda::hostInputsOf(d, op);
  };
  ctx.fuseMatMulLayerNorm = targetHasKernel;
  return ctx;
}

std::multiset<std::string> opsAfter(const passes::PassContext& ctx, std::unique_ptr<ir::Graph>* keep = nullptr,
                                    const std::string& batch = "2") {
  auto g = onnx_import::importModelBytes(residualLayerNormModel(batch), "");
  EXPECT_TRUE(g.ok()) << g.status().toString();
  passes::PipelineOptions opts;
  opts.only = {"fuse-matmul", "lower-precision", "fold-layernorm-matmul"};
  auto reps = passes::PassManager::standard().run(**g, ctx, opts);
  EXPECT_TRUE(reps.ok()) << reps.status().toString();
  std::multiset<std::string> ops;
  for (const ir::Node* n : (*g)->nodes()) ops.insert(n->opType());
  if (keep) *keep = std::move(g).value();
  return ops;
}

TEST(FoldLayerNormMatMul, FoldsTheResidualGemmAndKeepsTheOthers) {
  std::unique_ptr<ir::Graph> g;
  auto ops = opsAfter(foldContext(true), &g);
  EXPECT_EQ(ops.count("MatMulLayerNorm"), 2u);
  EXPECT_EQ(ops.count("LayerNormalization"), 7u) << "z, u, s1, s2, s3, s4 and s5 stay";
  int seen = 0;
  for (const ir::Node* n : g->nodes()) {
    if (n->opType() != "MatMulLayerNorm") continue;
    ++seen;
    // Wired as (A, B, bias, R, scale, beta), in fp16, with the LayerNorm's epsilon; the output
    // keeps the LayerNorm's name (a graph output).
    ASSERT_EQ(n->numInputs(), 6);
    EXPECT_EQ(n->output(0)->dtype(), DType::kFloat16);
    EXPECT_FLOAT_EQ(n->attrs().getFloat("epsilon"), 1e-5f);
    const bool residual = n->input(3) != nullptr;
    ASSERT_TRUE(n->input(1)->isConstant());
    EXPECT_EQ(n->input(1)->constant().dims(), (Dims{8, 384}));
    EXPECT_EQ(n->input(1)->dtype(), DType::kFloat16);
    EXPECT_EQ(residual, n->input(2) != nullptr) << "y has bias and residual; v neither";
    ASSERT_TRUE(n->input(4)->isConstant());
    ASSERT_TRUE(n->input(5)->isConstant());
    EXPECT_EQ(n->input(4)->constant().numel(), 384);
    ASSERT_EQ(n->output(0)->uses().size(), 1u);  // the Cast back to the graph output's float32
    const ir::Node* cast = n->output(0)->uses()[0].node;
    EXPECT_EQ(cast->opType(), "Cast");
    EXPECT_EQ(cast->output(0)->name(), residual ? "y" : "v");
  }
  EXPECT_EQ(seen, 2);
}

TEST(FoldLayerNormMatMul, OnlyWhereTheTargetRunsTheFusedLayer) {
  EXPECT_EQ(opsAfter(foldContext(false)).count("MatMulLayerNorm"), 0u) << "no kernel on this target";
  auto refused = opsAfter(foldContext(true, {"MatMulLayerNorm"}));
  EXPECT_EQ(refused.count("MatMulLayerNorm"), 0u) << "the kernel refuses this layer";
  EXPECT_EQ(refused.count("LayerNormalization"), 9u);
  EXPECT_EQ(refused.count("FusedMatMul"), 2u);
  EXPECT_EQ(refused.count("MatMul"), 7u);
  // A dynamic batch: the unfused tactic needs the intermediate's size at build time.
  EXPECT_EQ(opsAfter(foldContext(true), nullptr, "batch").count("MatMulLayerNorm"), 0u) << "dynamic shapes";
}

}  // namespace
}  // namespace kiln
