// Each optimization pass: a before/after graph check (what it rewrote) and an output-equality
// check (optimized engine vs the unoptimized engine vs the reference interpreter) on random
// inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ir/printer.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include <onnx/onnx_pb.h>

#include "model_builder.h"
#include "onnx/importer.h"
#include "op_test_util.h"
#include "passes/pass_manager.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

using testing::ModelBuilder;

struct Built {
  std::shared_ptr<Engine> engine;
  BuildReport report;
};

Built build(const std::string& model, std::vector<std::string> passes, const std::map<std::string, Dims>& shapes) {
  BuildConfig cfg;
  cfg.passes = std::move(passes);
  cfg.optimizationLevel = 0;
  if (!shapes.empty()) {
    OptimizationProfile p;
    for (const auto& [n, d] : shapes) EXPECT_TRUE(p.set(n, d, d, d).ok());
    cfg.profiles = {p};
  }
  Built b;
  auto bytes = buildEngineFromBytes(model, "", "test", cfg, &b.report);
  EXPECT_TRUE(bytes.ok()) << bytes.status().toString();
  if (!bytes.ok()) return b;
  auto e = Engine::loadBytes(*bytes);
  EXPECT_TRUE(e.ok()) << e.status().toString();
  if (e.ok()) b.engine = *e;
  return b;
}

std::vector<Tensor> runEngine(const Engine& e, const std::vector<ExecutionContext::Named>& in) {
  auto ctx = e.createExecutionContext();
  std::vector<ExecutionContext::Named> out;
  Status st = (*ctx)->run(in, &out);
  EXPECT_TRUE(st.ok()) << st.toString();
  std::vector<Tensor> t;
  for (auto& o : out) t.push_back(o.tensor);
  return t;
}

// Builds with `passes` and with none, runs both and the interpreter, compares; returns the
// optimized engine's layer ops.
std::vector<std::string> checkPass(const std::string& model, std::vector<std::string> passes,
                                   const std::vector<ExecutionContext::Named>& inputs, double tol = 1e-5,
                                   std::vector<LayerSummary>* layers = nullptr) {
  std::map<std::string, Dims> shapes;
  for (const auto& in : inputs) shapes[in.name] = in.tensor.dims();
  Built opt = build(model, passes, shapes), ref = build(model, {"none"}, shapes);
  if (!opt.engine || !ref.engine) return {};
  auto a = runEngine(*opt.engine, inputs), b = runEngine(*ref.engine, inputs);
  auto g = onnx_import::importModelBytes(model, "");
  auto interp = runtime::Interpreter::create(std::shared_ptr<const ir::Graph>(std::move(g).value()));
  std::vector<runtime::NamedTensor> feeds, outs;
  for (const auto& in : inputs) feeds.push_back({in.name, in.tensor});
  Status st = (*interp)->run(feeds, &outs);
  if (!st.ok()) {
    ADD_FAILURE() << "interpreter: " << st.toString();
    return {};
  }
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.size(), outs.size());
  for (size_t i = 0; i < a.size() && i < b.size() && i < outs.size(); ++i) {
    EXPECT_EQ(a[i].dims(), b[i].dims());
    EXPECT_LE(testing::relativeL2(a[i], b[i]), tol) << "output " << i << " optimized vs unoptimized";
    EXPECT_LE(testing::relativeL2(a[i], outs[i].tensor), tol) << "output " << i << " optimized vs interpreter";
  }
  std::vector<std::string> ops;
  for (const auto& l : opt.engine->layers()) ops.push_back(l.op);
  if (layers) *layers = opt.engine->layers();
  return ops;
}

int count(const std::vector<std::string>& v, const std::string& x) { return static_cast<int>(std::count(v.begin(), v.end(), x)); }

// The attention core the fusion matches: y = Softmax((q @ kt) <scaleOp> scale + mask) @ v, with
// scaleOp "Div" or "Mul" and "scale" an initializer the caller adds.
void attentionCore(ModelBuilder& mb, const std::string& q, const std::string& kt, const std::string& v,
                   const char* scaleOp, const std::string& mask, const std::string& y) {
  mb.node("MatMul", {q, kt}, {y + "_qk"});
  mb.node(scaleOp, {y + "_qk", "scale"}, {y + "_s"});
  mb.node("Add", {y + "_s", mask}, {y + "_sm"});
  auto& sm = mb.node("Softmax", {y + "_sm"}, {y + "_p"});
  ModelBuilder::attr(sm, "axis", int64_t{-1});
  mb.node("MatMul", {y + "_p", v}, {y});
}

TEST(Passes, EliminateNoOps) {
  ModelBuilder mb;
  mb.input("x", {"2", "3"});
  mb.initializer("one", Tensor::scalar<float>(1.0f));
  mb.initializer("same", Tensor::fromVector<int64_t>({2, 3}, {2}));
  mb.node("Identity", {"x"}, {"a"});
  mb.node("Mul", {"a", "one"}, {"b"});
  mb.node("Reshape", {"b", "same"}, {"c"});
  auto& cast = mb.node("Cast", {"c"}, {"d"});
  ModelBuilder::attr(cast, "to", int64_t{1});
  mb.node("Relu", {"d"}, {"y"});
  mb.output("y");
  std::mt19937 rng(1);
  auto ops = checkPass(mb.bytes(), {"eliminate-noops"}, {{"x", testing::randomTensor(DType::kFloat32, {2, 3}, rng)}});
  EXPECT_EQ(ops, (std::vector<std::string>{"Relu"}));
}

TEST(Passes, ConstantFoldingIncludingShapeArithmetic) {
  ModelBuilder mb;
  mb.input("x", {"4", "6"});
  mb.initializer("c1", Tensor::fromVector<float>({1, 2, 3, 4, 5, 6}, {6}));
  mb.initializer("c2", Tensor::fromVector<float>({2, 2, 2, 2, 2, 2}, {6}));
  mb.node("Mul", {"c1", "c2"}, {"c"});      // constant subgraph
  mb.node("Exp", {"c"}, {"ec"});
  mb.node("Add", {"x", "ec"}, {"s"});
  mb.node("Shape", {"x"}, {"shp"});          // shape arithmetic on a static shape
  auto& rp = mb.node("ReduceProd", {"shp"}, {"n"});
  ModelBuilder::attr(rp, "keepdims", int64_t{0});
  mb.node("Unsqueeze", {"n", "ax"}, {"n1"});
  mb.initializer("ax", Tensor::fromVector<int64_t>({0}, {1}));
  mb.node("Reshape", {"s", "n1"}, {"y"});
  mb.output("y");
  std::mt19937 rng(2);
  auto ops = checkPass(mb.bytes(), {"fold-constants"}, {{"x", testing::randomTensor(DType::kFloat32, {4, 6}, rng)}});
  EXPECT_EQ(ops, (std::vector<std::string>{"Add", "Reshape"}));
}

// A value folded earlier in the same pass decides a later node's shape (the expanded ONNX
// LayerNormalization: ConstantOfShape(Neg(axis)) builds the statistics' shape): the pass infers
// that node again before folding it, so the engine knows every shape at build time.
TEST(Passes, ConstantFoldingInfersShapesDecidedByFoldedValues) {
  ModelBuilder mb;
  mb.input("x", {"3", "4"});
  mb.initializer("axis", Tensor::fromVector<int64_t>({-1}, {1}));
  mb.initializer("zero", Tensor::fromVector<int64_t>({0}, {1}));
  mb.node("Neg", {"axis"}, {"n"});
  mb.initializer("one", Tensor::fromVector<int64_t>({1}, {1}));
  mb.node("ConstantOfShape", {"n"}, {"zeros"});  // float 0s, as many as -axis
  auto& cast = mb.node("Cast", {"zeros"}, {"izeros"});
  ModelBuilder::attr(cast, "to", int64_t{7});
  mb.node("Add", {"izeros", "one"}, {"ones"});
  mb.node("Shape", {"x"}, {"shp"});
  mb.node("Slice", {"shp", "zero", "axis"}, {"prefix"});
  auto& cat = mb.node("Concat", {"prefix", "ones"}, {"target"});
  ModelBuilder::attr(cat, "axis", int64_t{0});
  auto& rm = mb.node("ReduceMean", {"x"}, {"m"});
  ModelBuilder::attr(rm, "axes", std::vector<int64_t>{1});
  mb.node("Reshape", {"m", "target"}, {"y"});
  mb.output("y");
  Built b = build(mb.bytes(), {"fold-constants"}, {{"x", Dims{3, 4}}});
  ASSERT_TRUE(b.engine);
  std::vector<std::string> ops;
  for (const auto& l : b.engine->layers()) ops.push_back(l.op);
  EXPECT_EQ(ops, (std::vector<std::string>{"ReduceMean", "Reshape"}));
  std::mt19937 rng(5);
  const Tensor x = testing::randomTensor(DType::kFloat32, {3, 4}, rng);
  auto out = runEngine(*b.engine, {{"x", x}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dims(), (Dims{3, 1}));
  for (int64_t r = 0; r < 3; ++r) {
    double mean = 0;
    for (int64_t k = 0; k < 4; ++k) mean += x.data<float>()[r * 4 + k] / 4.0;
    EXPECT_NEAR(out[0].data<float>()[r], mean, 1e-6);
  }
}

TEST(Passes, CommonSubexpressions) {
  ModelBuilder mb;
  mb.input("x", {"3", "5"});
  mb.node("Sigmoid", {"x"}, {"a"});
  mb.node("Sigmoid", {"x"}, {"b"});
  mb.node("Add", {"a", "b"}, {"y"});
  mb.output("y");
  std::mt19937 rng(3);
  auto ops = checkPass(mb.bytes(), {"cse"}, {{"x", testing::randomTensor(DType::kFloat32, {3, 5}, rng)}});
  EXPECT_EQ(count(ops, "Sigmoid"), 1);
}

TEST(Passes, TransposeAndReshapeChains) {
  ModelBuilder mb;
  mb.input("x", {"2", "3", "4"});
  auto& t1 = mb.node("Transpose", {"x"}, {"t1"});
  ModelBuilder::attr(t1, "perm", std::vector<int64_t>{1, 2, 0});
  auto& t2 = mb.node("Transpose", {"t1"}, {"t2"});
  ModelBuilder::attr(t2, "perm", std::vector<int64_t>{2, 0, 1});  // composes to the identity
  mb.initializer("s1", Tensor::fromVector<int64_t>({6, 4}, {2}));
  mb.initializer("ax", Tensor::fromVector<int64_t>({0}, {1}));
  mb.node("Reshape", {"t2", "s1"}, {"r1"});
  mb.node("Unsqueeze", {"r1", "ax"}, {"r2"});
  mb.node("Relu", {"r2"}, {"y"});
  mb.output("y");
  std::mt19937 rng(4);
  auto ops = checkPass(mb.bytes(), {"simplify-chains"}, {{"x", testing::randomTensor(DType::kFloat32, {2, 3, 4}, rng)}});
  EXPECT_EQ(ops, (std::vector<std::string>{"Reshape", "Relu"}));
}

std::string convBnModel(bool withMulAdd) {
  ModelBuilder mb;
  std::mt19937 rng(5);
  mb.input("x", {"2", "3", "9", "7"});
  mb.initializer("w", testing::randomTensor(DType::kFloat32, {5, 3, 3, 3}, rng));
  mb.initializer("b", testing::randomTensor(DType::kFloat32, {5}, rng));
  mb.initializer("scale", testing::randomTensor(DType::kFloat32, {5}, rng, 0.5, 1.5));
  mb.initializer("bias", testing::randomTensor(DType::kFloat32, {5}, rng));
  mb.initializer("mean", testing::randomTensor(DType::kFloat32, {5}, rng));
  mb.initializer("var", testing::randomTensor(DType::kFloat32, {5}, rng, 0.5, 2.0));
  mb.initializer("m", testing::randomTensor(DType::kFloat32, {5, 1, 1}, rng, 0.5, 2.0));
  mb.initializer("a", testing::randomTensor(DType::kFloat32, {1, 5, 1, 1}, rng));
  auto& c = mb.node("Conv", {"x", "w", "b"}, {"c"});
  ModelBuilder::attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("BatchNormalization", {"c", "scale", "bias", "mean", "var"}, {withMulAdd ? "bn" : "y"});
  if (withMulAdd) {
    mb.node("Mul", {"bn", "m"}, {"mm"});
    mb.node("Add", {"mm", "a"}, {"y"});
  }
  mb.output("y");
  return mb.bytes();
}

TEST(Passes, BatchNormAndMulAddFoldIntoConv) {
  std::mt19937 rng(6);
  auto x = testing::randomTensor(DType::kFloat32, {2, 3, 9, 7}, rng);
  EXPECT_EQ(checkPass(convBnModel(false), {"fold-batchnorm"}, {{"x", x}}), (std::vector<std::string>{"Conv"}));
  EXPECT_EQ(checkPass(convBnModel(true), {"fold-batchnorm", "fold-conv-mul-add"}, {{"x", x}}),
            (std::vector<std::string>{"Conv"}));
}

TEST(Passes, ConvResidualActivationFusion) {
  ModelBuilder mb;
  std::mt19937 rng(7);
  mb.input("x", {"1", "4", "7", "5"});
  mb.initializer("w", testing::randomTensor(DType::kFloat32, {4, 4, 3, 3}, rng));
  mb.initializer("b", testing::randomTensor(DType::kFloat32, {4}, rng));
  auto& c = mb.node("Conv", {"x", "w", "b"}, {"c"});
  ModelBuilder::attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("Add", {"c", "x"}, {"s"});  // ResNet's shortcut
  mb.node("Relu", {"s"}, {"r"});
  auto& c2 = mb.node("Conv", {"r", "w"}, {"c2"});
  ModelBuilder::attr(c2, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("HardSwish", {"c2"}, {"y"});
  mb.output("y");
  auto ops = checkPass(mb.bytes(), {"fuse-conv"}, {{"x", testing::randomTensor(DType::kFloat32, {1, 4, 7, 5}, rng)}});
  EXPECT_EQ(ops, (std::vector<std::string>{"FusedConv", "FusedConv"}));
}

TEST(Passes, GeluSiluAndMatMulEpilogue) {
  ModelBuilder mb;
  std::mt19937 rng(8);
  mb.input("x", {"3", "5", "16"});
  mb.initializer("w", testing::randomTensor(DType::kFloat32, {16, 24}, rng));
  mb.initializer("bias", testing::randomTensor(DType::kFloat32, {24}, rng));
  mb.initializer("sqrt2", Tensor::scalar<float>(1.4142135f));
  mb.initializer("one", Tensor::scalar<float>(1.0f));
  mb.initializer("half", Tensor::scalar<float>(0.5f));
  mb.node("MatMul", {"x", "w"}, {"h0"});
  mb.node("Add", {"bias", "h0"}, {"h"});
  mb.node("Div", {"h", "sqrt2"}, {"d"});
  mb.node("Erf", {"d"}, {"e"});
  mb.node("Add", {"e", "one"}, {"e1"});
  mb.node("Mul", {"h", "e1"}, {"he"});
  mb.node("Mul", {"he", "half"}, {"g"});
  mb.node("Sigmoid", {"g"}, {"sg"});
  mb.node("Mul", {"g", "sg"}, {"y"});
  mb.output("y");
  auto x = testing::randomTensor(DType::kFloat32, {3, 5, 16}, rng);
  auto gelu = checkPass(mb.bytes(), {"fuse-gelu", "fuse-silu"}, {{"x", x}});
  EXPECT_EQ(count(gelu, "Gelu"), 1);
  EXPECT_EQ(count(gelu, "Swish"), 1);
  EXPECT_EQ(count(gelu, "Erf"), 0);
  auto all = checkPass(mb.bytes(), {"fuse-gelu", "fuse-silu", "fuse-matmul"}, {{"x", x}});
  EXPECT_EQ(all, (std::vector<std::string>{"FusedMatMul", "Swish"}));
}

TEST(Passes, LayerNormAndRmsNormFusion) {
  ModelBuilder mb(14);
  std::mt19937 rng(9);
  mb.input("x", {"2", "7", "12"});
  mb.initializer("ax", Tensor::fromVector<int64_t>({-1}, {1}));
  mb.initializer("two", Tensor::scalar<float>(2.0f));
  mb.initializer("eps", Tensor::scalar<float>(1e-5f));
  mb.initializer("gamma", testing::randomTensor(DType::kFloat32, {12}, rng));
  mb.initializer("beta", testing::randomTensor(DType::kFloat32, {12}, rng));
  auto mean = [&](const char* in, const char* out) {
    auto& n = mb.node("ReduceMean", {in}, {out});
    ModelBuilder::attr(n, "axes", std::vector<int64_t>{-1});
  };
  mean("x", "mu");
  mb.node("Sub", {"x", "mu"}, {"d"});
  mb.node("Pow", {"d", "two"}, {"d2"});
  mean("d2", "var");
  mb.node("Add", {"var", "eps"}, {"ve"});
  mb.node("Sqrt", {"ve"}, {"sd"});
  mb.node("Div", {"d", "sd"}, {"n"});
  mb.node("Mul", {"n", "gamma"}, {"ng"});
  mb.node("Add", {"ng", "beta"}, {"ln"});
  // RMSNorm of the LayerNorm output.
  mb.node("Pow", {"ln", "two"}, {"q2"});
  mean("q2", "ms");
  mb.node("Add", {"ms", "eps"}, {"mse"});
  mb.node("Sqrt", {"mse"}, {"rms"});
  mb.node("Reciprocal", {"rms"}, {"inv"});
  mb.node("Mul", {"ln", "inv"}, {"r"});
  mb.node("Mul", {"r", "gamma"}, {"y"});
  mb.output("y");
  auto ops = checkPass(mb.bytes(), {"fuse-layernorm"}, {{"x", testing::randomTensor(DType::kFloat32, {2, 7, 12}, rng)}}, 1e-5);
  EXPECT_EQ(ops, (std::vector<std::string>{"LayerNormalization", "RMSNormalization"}));
}

// BERT's embeddings: word and token-type Gathers plus position embeddings, then LayerNorm.
std::string embeddingModel(std::mt19937& rng, bool positionsAsGather, bool wordAlsoOutput) {
  ModelBuilder mb(17);
  mb.input("ids", {"2", "9"}, ::onnx::TensorProto::INT64);
  mb.input("types", {"2", "9"}, ::onnx::TensorProto::INT64);
  mb.initializer("word", testing::randomTensor(DType::kFloat32, {50, 16}, rng));
  mb.initializer("type", testing::randomTensor(DType::kFloat32, {2, 16}, rng));
  mb.initializer("gamma", testing::randomTensor(DType::kFloat32, {16}, rng));
  mb.initializer("beta", testing::randomTensor(DType::kFloat32, {16}, rng));
  mb.node("Gather", {"word", "ids"}, {"we"});
  mb.node("Gather", {"type", "types"}, {"te"});
  mb.node("Add", {"we", "te"}, {"wt"});
  if (positionsAsGather) {  // Gather(pos_table, constant position ids): constant folding makes it [1, 9, 16]
    mb.initializer("pos", testing::randomTensor(DType::kFloat32, {12, 16}, rng));
    mb.initializer("pos_ids", Tensor::fromVector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 9}));
    mb.node("Gather", {"pos", "pos_ids"}, {"pe"});
  } else {
    mb.initializer("pe", testing::randomTensor(DType::kFloat32, {9, 16}, rng));
  }
  mb.node("Add", {"pe", "wt"}, {"x"});
  auto& ln = mb.node("LayerNormalization", {"x", "gamma", "beta"}, {"y"});
  ModelBuilder::attr(ln, "epsilon", 1e-6f);
  mb.output("y");
  if (wordAlsoOutput) mb.output("we");
  return mb.bytes();
}

std::vector<ExecutionContext::Named> embeddingInputs(std::mt19937& rng) {
  Tensor ids = Tensor::allocate(DType::kInt64, {2, 9}), types = Tensor::allocate(DType::kInt64, {2, 9});
  std::uniform_int_distribution<int64_t> w(-50, 49), t(0, 1);  // negative ids count from the end
  for (int i = 0; i < 18; ++i) ids.data<int64_t>()[i] = w(rng), types.data<int64_t>()[i] = t(rng);
  return {{"ids", ids}, {"types", types}};
}

TEST(Passes, EmbeddingGathersAddsAndLayerNormFuse) {
  std::mt19937 rng(31);
  for (bool positionsAsGather : {false, true}) {
    SCOPED_TRACE(positionsAsGather ? "positions gathered" : "positions constant");
    const std::string model = embeddingModel(rng, positionsAsGather, false);
    auto ops = checkPass(model, {"fold-constants", "fuse-embed-layernorm"}, embeddingInputs(rng), 1e-5);
    EXPECT_EQ(ops, (std::vector<std::string>{"EmbedLayerNorm"}));
  }
  // A gathered embedding also used elsewhere stays a Gather; nothing is fused.
  auto ops = checkPass(embeddingModel(rng, false, true), {"fuse-embed-layernorm"}, embeddingInputs(rng), 1e-5);
  EXPECT_EQ(count(ops, "EmbedLayerNorm"), 0);
  EXPECT_EQ(count(ops, "LayerNormalization"), 1);
  // Nor when LayerNorm's Mean is a graph output (the fused layer has no statistics outputs).
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(embeddingModel(rng, false, false)));
  auto* ln = m.mutable_graph()->mutable_node(m.graph().node_size() - 1);
  ASSERT_EQ(ln->op_type(), "LayerNormalization");
  ln->add_output("mean");
  m.mutable_graph()->add_output()->set_name("mean");
  ops = checkPass(m.SerializeAsString(), {"fuse-embed-layernorm"}, embeddingInputs(rng), 1e-5);
  EXPECT_EQ(count(ops, "EmbedLayerNorm"), 0);
}

// An id out of range is an error naming the input and position (the engine runs the fused layer).
TEST(Passes, EmbedLayerNormRejectsIdsOutOfRange) {
  std::mt19937 rng(32);
  const std::string model = embeddingModel(rng, false, false);
  Built b = build(model, {"fuse-embed-layernorm"}, {{"ids", {2, 9}}, {"types", {2, 9}}});
  ASSERT_TRUE(b.engine);
  auto in = embeddingInputs(rng);
  in[0].tensor.data<int64_t>()[13] = 50;
  auto ctx = b.engine->createExecutionContext();
  std::vector<ExecutionContext::Named> out;
  Status st = (*ctx)->run(in, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.toString().find("id 50 of input 0 at position 13 is out of range [-50, 50)"), std::string::npos)
      << st.toString();
}

TEST(Passes, AttentionFusionWithMask) {
  ModelBuilder mb;
  std::mt19937 rng(10);
  mb.input("q", {"2", "3", "5", "8"});
  mb.input("k", {"2", "5", "3", "8"});  // [B, S, H, D] as a projection would give it
  mb.input("v", {"2", "3", "5", "8"});
  mb.input("mask", {"2", "1", "1", "5"});
  auto& kt = mb.node("Transpose", {"k"}, {"kt"});
  ModelBuilder::attr(kt, "perm", std::vector<int64_t>{0, 2, 3, 1});
  mb.initializer("scale", Tensor::scalar<float>(2.828427f));
  attentionCore(mb, "q", "kt", "v", "Div", "mask", "y");
  mb.output("y");
  auto mask = testing::randomTensor(DType::kFloat32, {2, 1, 1, 5}, rng, -3, 0);
  auto ops = checkPass(mb.bytes(), {"fuse-attention"},
                       {{"q", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                        {"k", testing::randomTensor(DType::kFloat32, {2, 5, 3, 8}, rng)},
                        {"v", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                        {"mask", mask}});
  EXPECT_EQ(count(ops, "Attention"), 1);
  EXPECT_EQ(count(ops, "Softmax"), 0);
  EXPECT_EQ(count(ops, "MatMul"), 0);
}

TEST(Passes, AttentionFusionOfPyTorch2SdpaExport) {
  // What torch 2.x's SDPA export gives: K^T through Reshape/Transpose/Reshape, sqrt(scale) on Q
  // and on K^T, an additive mask, and Where(IsNaN(P), 0, P) after the Softmax.
  ModelBuilder mb(17);
  std::mt19937 rng(12);
  mb.input("q", {"2", "3", "5", "8"});
  mb.input("k", {"2", "3", "5", "8"});
  mb.input("v", {"2", "3", "5", "8"});
  mb.input("mask", {"2", "1", "5", "5"});
  mb.initializer("bhsd3", Tensor::fromVector<int64_t>({6, 5, 8}, Dims{3}));
  mb.initializer("bhds4", Tensor::fromVector<int64_t>({2, 3, 8, 5}, Dims{4}));
  mb.initializer("rs", Tensor::scalar<float>(0.5946036f));  // 8^-1/4
  mb.initializer("zero", Tensor::scalar<float>(0.0f));
  mb.node("Reshape", {"k", "bhsd3"}, {"k3"});
  auto& t = mb.node("Transpose", {"k3"}, {"kt3"});
  ModelBuilder::attr(t, "perm", std::vector<int64_t>{0, 2, 1});
  mb.node("Reshape", {"kt3", "bhds4"}, {"kt"});
  mb.node("Mul", {"q", "rs"}, {"qs"});
  mb.node("Mul", {"kt", "rs"}, {"kts"});
  mb.node("MatMul", {"qs", "kts"}, {"qk"});
  mb.node("Add", {"qk", "mask"}, {"s"});
  auto& sm = mb.node("Softmax", {"s"}, {"p"});
  ModelBuilder::attr(sm, "axis", int64_t{-1});
  mb.node("IsNaN", {"p"}, {"nan"});
  mb.node("Where", {"nan", "zero", "p"}, {"pg"});
  mb.node("MatMul", {"pg", "v"}, {"y"});
  mb.output("y");
  auto ops = checkPass(mb.bytes(), {"fuse-attention"},
                       {{"q", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                        {"k", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                        {"v", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                        {"mask", testing::randomTensor(DType::kFloat32, {2, 1, 5, 5}, rng, -3, 0)}});
  EXPECT_EQ(count(ops, "Attention"), 1);
  EXPECT_EQ(count(ops, "Softmax"), 0);
  EXPECT_EQ(count(ops, "MatMul"), 0);
  EXPECT_EQ(count(ops, "Where"), 0);
  EXPECT_EQ(count(ops, "Transpose"), 0);
}

// PyTorch 2.x's BERT padding mask: Where(And(Range(0,S,1) >= 0 [1,1,S,1], pad[b, k] gathered into
// [B,1,1,S]), 0, -max) widened to [B,1,S,S]. `gathered`: pad comes through the GatherND of
// broadcast aranges the export uses (constant indices once shapes are static), else it is an input.
std::string paddingMaskAttentionModel(bool gathered) {
  ModelBuilder mb(17);
  mb.input("q", {"2", "3", "5", "8"});
  mb.input("k", {"2", "3", "5", "8"});
  mb.input("v", {"2", "3", "5", "8"});
  if (gathered) mb.input("pad", {"2", "5"}, ::onnx::TensorProto::INT64);
  else mb.input("padb", {"2", "1", "1", "5"}, ::onnx::TensorProto::BOOL);
  mb.initializer("i0", Tensor::scalar<int64_t>(0));
  mb.initializer("i1", Tensor::scalar<int64_t>(1));
  mb.initializer("nb", Tensor::scalar<int64_t>(2));
  mb.initializer("ns", Tensor::scalar<int64_t>(5));
  mb.initializer("yes", Tensor::scalar<bool>(true));
  mb.initializer("ax013", Tensor::fromVector<int64_t>({0, 1, 3}, Dims{3}));
  mb.initializer("ax012", Tensor::fromVector<int64_t>({0, 1, 2}, Dims{3}));
  mb.initializer("ax123", Tensor::fromVector<int64_t>({1, 2, 3}, Dims{3}));
  mb.initializer("axm1", Tensor::fromVector<int64_t>({-1}, Dims{1}));
  mb.initializer("zero", Tensor::scalar<float>(0.0f));
  mb.initializer("lowest", Tensor::scalar<float>(-3.4028234663852886e+38f));
  mb.initializer("scale", Tensor::scalar<float>(0.35355339f));
  mb.node("Range", {"i0", "ns", "i1"}, {"ar"});
  mb.node("Unsqueeze", {"ar", "ax013"}, {"qpos"});  // [1,1,S,1]
  mb.node("GreaterOrEqual", {"qpos", "i0"}, {"ge"});
  mb.node("And", {"yes", "ge"}, {"alltrue"});
  if (gathered) {
    mb.node("Range", {"i0", "nb", "i1"}, {"arb"});
    mb.node("Unsqueeze", {"arb", "ax123"}, {"bpos"});  // [B,1,1,1]
    mb.node("Unsqueeze", {"ar", "ax012"}, {"kpos"});   // [1,1,1,S]
    mb.node("Max", {"bpos", "kpos"}, {"mx"});
    mb.node("Shape", {"mx"}, {"shp"});
    mb.node("Expand", {"bpos", "shp"}, {"eb"});
    mb.node("Expand", {"kpos", "shp"}, {"ek"});
    mb.node("Unsqueeze", {"eb", "axm1"}, {"ub"});
    mb.node("Unsqueeze", {"ek", "axm1"}, {"uk"});
    auto& c = mb.node("Concat", {"ub", "uk"}, {"idx"});
    ModelBuilder::attr(c, "axis", int64_t{-1});
    auto& cast = mb.node("Cast", {"pad"}, {"padbool"});
    ModelBuilder::attr(cast, "to", int64_t{::onnx::TensorProto::BOOL});
    mb.node("GatherND", {"padbool", "idx"}, {"padb"});
  }
  mb.node("And", {"alltrue", "padb"}, {"keep"});  // [B,1,S,S]
  mb.node("Where", {"keep", "zero", "lowest"}, {"bias"});
  auto& t = mb.node("Transpose", {"k"}, {"kt"});
  ModelBuilder::attr(t, "perm", std::vector<int64_t>{0, 1, 3, 2});
  attentionCore(mb, "q", "kt", "v", "Mul", "bias", "y");
  mb.output("y");
  return mb.bytes();
}

std::string attentionMaskInput(const std::vector<LayerSummary>& layers) {
  for (const auto& l : layers)
    if (l.op == "Attention" && l.inputs.size() > 3) return l.inputs[3];
  return "";
}

TEST(Passes, NarrowAttentionMaskProvesAllTrueFromRange) {
  // No constant folding: the all-true operand is proven from Range(0, S, 1) >= 0.
  std::mt19937 rng(21);
  Tensor pad = Tensor::allocate(DType::kBool, Dims{2, 1, 1, 5});
  const bool bits[10] = {true, true, false, true, false, true, true, true, true, false};
  for (int i = 0; i < 10; ++i) pad.data<bool>()[i] = bits[i];
  std::vector<ExecutionContext::Named> in = {{"q", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                                             {"k", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                                             {"v", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                                             {"padb", pad}};
  std::vector<LayerSummary> layers;
  auto ops = checkPass(paddingMaskAttentionModel(false), {"fuse-attention", "narrow-attention-masks"}, in, 1e-5, &layers);
  EXPECT_EQ(count(ops, "Attention"), 1);
  EXPECT_EQ(count(ops, "And"), 0) << "the And with the all-true tensor is gone";
  EXPECT_EQ(count(ops, "GreaterOrEqual"), 0);
  EXPECT_EQ(count(ops, "Where"), 1);
  EXPECT_NE(attentionMaskInput(layers).find("[2,1,1,5]"), std::string::npos) << attentionMaskInput(layers);
  // Without the pass the mask stays [B,1,S,S].
  auto wide = checkPass(paddingMaskAttentionModel(false), {"fuse-attention"}, in, 1e-5, &layers);
  EXPECT_EQ(count(wide, "And"), 2);
  EXPECT_NE(attentionMaskInput(layers).find("[2,1,5,5]"), std::string::npos) << attentionMaskInput(layers);
}

TEST(Passes, NarrowAttentionMaskThroughExpandAndCast) {
  // mask = Cast(Expand(keep[B,1,1,S], [B,1,S,S])) reaches the attention as Cast(keep): [B,1,1,S].
  ModelBuilder mb(17);
  std::mt19937 rng(24);
  mb.input("q", {"2", "3", "5", "8"});
  mb.input("k", {"2", "3", "5", "8"});
  mb.input("v", {"2", "3", "5", "8"});
  mb.input("keep", {"2", "1", "1", "5"}, ::onnx::TensorProto::BOOL);
  mb.initializer("wide", Tensor::fromVector<int64_t>({2, 1, 5, 5}, Dims{4}));
  mb.initializer("scale", Tensor::scalar<float>(0.35355339f));
  mb.node("Expand", {"keep", "wide"}, {"keepw"});
  auto& cast = mb.node("Cast", {"keepw"}, {"mask"});
  ModelBuilder::attr(cast, "to", int64_t{::onnx::TensorProto::FLOAT});
  auto& t = mb.node("Transpose", {"k"}, {"kt"});
  ModelBuilder::attr(t, "perm", std::vector<int64_t>{0, 1, 3, 2});
  attentionCore(mb, "q", "kt", "v", "Mul", "mask", "y");
  mb.output("y");
  Tensor keep = Tensor::allocate(DType::kBool, Dims{2, 1, 1, 5});
  for (int i = 0; i < 10; ++i) keep.data<bool>()[i] = i % 3 != 1;
  std::vector<LayerSummary> layers;
  auto ops = checkPass(mb.bytes(), {"fuse-attention", "narrow-attention-masks"},
                       {{"q", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                        {"k", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                        {"v", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                        {"keep", keep}},
                       1e-5, &layers);
  EXPECT_EQ(count(ops, "Attention"), 1);
  EXPECT_EQ(count(ops, "Expand"), 0);
  EXPECT_EQ(count(ops, "Cast"), 1);
  EXPECT_NE(attentionMaskInput(layers).find("[2,1,1,5]"), std::string::npos) << attentionMaskInput(layers);
}

TEST(Passes, NarrowAttentionMaskAndGatherNdOfPyTorch2BertExport) {
  // Whole pipeline at static shapes: the gather indices fold to constants and the GatherND that
  // enumerates pad in order becomes a Reshape; the mask reaches the attention as [B,1,1,S].
  std::mt19937 rng(22);
  Tensor pad = Tensor::allocate(DType::kInt64, Dims{2, 5});
  const int64_t bits[10] = {1, 1, 1, 0, 0, 1, 0, 1, 1, 1};
  for (int i = 0; i < 10; ++i) pad.data<int64_t>()[i] = bits[i];
  std::vector<ExecutionContext::Named> in = {{"q", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                                             {"k", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                                             {"v", testing::randomTensor(DType::kFloat32, {2, 3, 5, 8}, rng)},
                                             {"pad", pad}};
  std::vector<LayerSummary> layers;
  auto ops = checkPass(paddingMaskAttentionModel(true), {}, in, 1e-5, &layers);
  EXPECT_EQ(count(ops, "Attention"), 1);
  EXPECT_EQ(count(ops, "GatherND"), 0);
  EXPECT_EQ(count(ops, "And"), 0);
  EXPECT_NE(attentionMaskInput(layers).find("[2,1,1,5]"), std::string::npos) << attentionMaskInput(layers);
}

TEST(Passes, GatherNdThatPermutesStaysAGather) {
  // Indices that visit every element but not in order are a real gather.
  ModelBuilder mb(17);
  mb.input("x", {"2", "3"});
  mb.initializer("idx", Tensor::fromVector<int64_t>({1, 0, 1, 1, 1, 2, 0, 0, 0, 1, 0, 2}, Dims{2, 3, 2}));
  mb.node("GatherND", {"x", "idx"}, {"y"});
  mb.output("y");
  std::mt19937 rng(23);
  auto ops = checkPass(mb.bytes(), {"simplify-chains"}, {{"x", testing::randomTensor(DType::kFloat32, {2, 3}, rng)}});
  EXPECT_EQ(count(ops, "GatherND"), 1);
  ModelBuilder id(17);
  id.input("x", {"2", "3"});
  id.initializer("idx", Tensor::fromVector<int64_t>({0, 0, 0, 1, 0, 2, 1, 0, 1, 1, 1, 2}, Dims{3, 2, 2}));
  id.node("GatherND", {"x", "idx"}, {"y"});
  id.output("y");
  auto idOps = checkPass(id.bytes(), {"simplify-chains"}, {{"x", testing::randomTensor(DType::kFloat32, {2, 3}, rng)}});
  EXPECT_EQ(count(idOps, "GatherND"), 0);
  EXPECT_EQ(count(idOps, "Reshape"), 1);
}

// A BERT-style block: per-head split of the projections (Reshape + Transpose) before the
// attention and the merge after it, which fold-attention-heads turns into 3-D Attention. Default
// geometry: batch 2, 5 tokens, 3 heads of 8.
struct BlockGeometry {
  int64_t batch = 2, seq = 5, heads = 3, head = 8;
};
std::string attentionBlockModel(std::mt19937& rng, bool qAlsoOutput, bool biasQV = false, BlockGeometry g = {}) {
  const int64_t hidden = g.heads * g.head;
  const std::string b = std::to_string(g.batch), s5 = std::to_string(g.seq), h = std::to_string(hidden);
  ModelBuilder mb(17);
  mb.input("x", {b, s5, h});
  mb.input("mask", {b, "1", "1", s5});
  mb.initializer("split", Tensor::fromVector<int64_t>({g.batch, g.seq, g.heads, g.head}, Dims{4}));
  mb.initializer("merge", Tensor::fromVector<int64_t>({g.batch, g.seq, hidden}, Dims{3}));
  mb.initializer("scale", Tensor::scalar<float>(std::sqrt(static_cast<float>(g.head))));
  for (const char* n : {"q", "k", "v"}) {
    const std::string s = n;
    mb.initializer("w" + s, testing::randomTensor(DType::kFloat32, {hidden, hidden}, rng, -0.3, 0.3));
    mb.node("MatMul", {"x", "w" + s}, {s + "p"});
    std::string proj = s + "p";
    if (biasQV && s != "k") {  // K without a bias: the packed bias gets zeros there
      mb.initializer("b" + s, testing::randomTensor(DType::kFloat32, {hidden}, rng));
      mb.node("Add", {proj, "b" + s}, {s + "pb"});
      proj = s + "pb";
    }
    mb.node("Reshape", {proj, "split"}, {s + "4"});
    auto& t = mb.node("Transpose", {s + "4"}, {s + "h"});
    ModelBuilder::attr(t, "perm", std::vector<int64_t>{0, 2, 1, 3});
  }
  auto& kt = mb.node("Transpose", {"kh"}, {"kt"});
  ModelBuilder::attr(kt, "perm", std::vector<int64_t>{0, 1, 3, 2});
  attentionCore(mb, "qh", "kt", "vh", "Div", "mask", "yh");
  auto& t = mb.node("Transpose", {"yh"}, {"y4"});
  ModelBuilder::attr(t, "perm", std::vector<int64_t>{0, 2, 1, 3});
  mb.node("Reshape", {"y4", "merge"}, {"y"});
  mb.output("y");
  if (qAlsoOutput) mb.output("qh");
  return mb.bytes();
}

TEST(Passes, AttentionHeadSplitAndMergeFoldIntoAttention) {
  std::mt19937 rng(31);
  const std::string model = attentionBlockModel(rng, false);
  auto ops = checkPass(model, {"fuse-attention", "fold-attention-heads"},
                       {{"x", testing::randomTensor(DType::kFloat32, {2, 5, 24}, rng)},
                        {"mask", testing::randomTensor(DType::kFloat32, {2, 1, 1, 5}, rng, -3, 0)}});
  EXPECT_EQ(count(ops, "Attention"), 1);
  EXPECT_EQ(count(ops, "Transpose"), 0);
  EXPECT_EQ(count(ops, "Reshape"), 0);
  EXPECT_EQ(count(ops, "MatMul"), 3);  // the projections
}

TEST(Passes, QkvProjectionsPackIntoOneGemm) {
  std::mt19937 rng(34);
  const std::string model = attentionBlockModel(rng, false);
  auto ops = checkPass(model, {"fuse-attention", "fold-attention-heads", "pack-qkv"},
                       {{"x", testing::randomTensor(DType::kFloat32, {2, 5, 24}, rng)},
                        {"mask", testing::randomTensor(DType::kFloat32, {2, 1, 1, 5}, rng, -3, 0)}});
  EXPECT_EQ(ops, (std::vector<std::string>{"MatMul", "PackedAttention"}));
  // Biases on Q and V only, and fuse-matmul after: one FusedMatMul with the merged bias.
  const std::string biased = attentionBlockModel(rng, false, true);
  ops = checkPass(biased, {"fuse-attention", "fold-attention-heads", "pack-qkv", "fuse-matmul"},
                  {{"x", testing::randomTensor(DType::kFloat32, {2, 5, 24}, rng)},
                   {"mask", testing::randomTensor(DType::kFloat32, {2, 1, 1, 5}, rng, -3, 0)}});
  EXPECT_EQ(ops, (std::vector<std::string>{"FusedMatMul", "PackedAttention"}));
}

// fuse-qkv-attention (CUDA fp16/bf16 on Hopper): the packed projection and its attention become
// one kiln:QkvAttention, wired (X, W, bias, mask) in fp16, only where the target has the fused
// kernel and the layer fits it (heads of 64, as many K/V heads as Q heads, at most 128 tokens,
// fixed shapes). The layer's arithmetic is checked on the GPU (tests/cuda/qkv_attention_test.cc).
std::vector<const ir::Node*> qkvAttentionNodes(const std::string& model, bool targetHasKernel,
                                               std::unique_ptr<ir::Graph>* keep) {
  auto g = onnx_import::importModelBytes(model, "");
  EXPECT_TRUE(g.ok()) << g.status().toString();
  passes::PassContext ctx;
  ctx.lowPrecision = DType::kFloat16;
  ctx.supportsLowered = [](const ir::Node&, DType) { return true; };
  ctx.fuseQkvAttention = targetHasKernel;
  passes::PipelineOptions opts;
  opts.only = {"fuse-attention", "fold-attention-heads", "pack-qkv", "fuse-matmul", "lower-precision",
               "fuse-qkv-attention", "dead-nodes"};
  auto reps = passes::PassManager::standard().run(**g, ctx, opts);
  EXPECT_TRUE(reps.ok()) << reps.status().toString();
  std::vector<const ir::Node*> found;
  for (const ir::Node* n : (*g)->nodes())
    if (n->opType() == "QkvAttention") found.push_back(n);
  *keep = std::move(g).value();
  return found;
}

TEST(Passes, QkvProjectionAndAttentionFuseForTheGpu) {
  std::mt19937 rng(35);
  std::unique_ptr<ir::Graph> g;
  auto fused = qkvAttentionNodes(attentionBlockModel(rng, false, true, {2, 16, 2, 64}), true, &g);
  ASSERT_EQ(fused.size(), 1u);
  const ir::Node* n = fused[0];
  ASSERT_EQ(n->numInputs(), 4);
  EXPECT_EQ(n->input(0)->dtype(), DType::kFloat16);
  ASSERT_TRUE(n->input(1)->isConstant());
  EXPECT_EQ(n->input(1)->constant().dims(), (Dims{128, 384}));
  EXPECT_EQ(n->input(1)->dtype(), DType::kFloat16);
  ASSERT_TRUE(n->input(2) && n->input(2)->isConstant());
  EXPECT_EQ(n->input(2)->constant().numel(), 384);
  ASSERT_TRUE(n->input(3));  // the mask
  EXPECT_EQ(n->attrs().getInt("q_num_heads"), 2);
  EXPECT_EQ(n->output(0)->dtype(), DType::kFloat16);
  for (const ir::Node* m : g->nodes()) EXPECT_NE(m->opType(), "PackedAttention") << "the pair is gone";
  // Without a bias the slot stays empty and the mask keeps its place.
  fused = qkvAttentionNodes(attentionBlockModel(rng, false, false, {2, 16, 2, 64}), true, &g);
  ASSERT_EQ(fused.size(), 1u);
  EXPECT_EQ(fused[0]->input(2), nullptr);
  EXPECT_NE(fused[0]->input(3), nullptr);
}

TEST(Passes, QkvAttentionFusesOnlyWhereTheKernelFits) {
  std::mt19937 rng(36);
  std::unique_ptr<ir::Graph> g;
  EXPECT_TRUE(qkvAttentionNodes(attentionBlockModel(rng, false, true, {2, 16, 2, 64}), false, &g).empty())
      << "no kernel on this target";
  EXPECT_TRUE(qkvAttentionNodes(attentionBlockModel(rng, false, true, {2, 16, 3, 32}), true, &g).empty())
      << "heads of 32";
  EXPECT_TRUE(qkvAttentionNodes(attentionBlockModel(rng, false, true, {2, 130, 2, 64}), true, &g).empty())
      << "130 tokens";
}

TEST(Passes, AttentionHeadsStayWhenTheSplitIsUsedElsewhere) {
  std::mt19937 rng(32);
  const std::string model = attentionBlockModel(rng, true);  // Q's split is also a graph output
  auto ops = checkPass(model, {"fuse-attention", "fold-attention-heads"},
                       {{"x", testing::randomTensor(DType::kFloat32, {2, 5, 24}, rng)},
                        {"mask", testing::randomTensor(DType::kFloat32, {2, 1, 1, 5}, rng, -3, 0)}});
  EXPECT_EQ(count(ops, "Attention"), 1);
  EXPECT_EQ(count(ops, "Transpose"), 4);  // Q, K, V splits and the merge stay
}

TEST(Passes, MatMulResidualAddBecomesFusedMatMulInput) {
  // x + Linear(h) (with and without a bias), then a LayerNorm-free consumer.
  for (bool bias : {false, true}) {
    SCOPED_TRACE(bias ? "with bias" : "no bias");
    ModelBuilder mb(17);
    std::mt19937 rng(33);
    mb.input("h", {"2", "5", "24"});
    mb.input("x", {"2", "5", "16"});
    mb.initializer("w", testing::randomTensor(DType::kFloat32, {24, 16}, rng, -0.3, 0.3));
    mb.node("MatMul", {"h", "w"}, {"p"});
    std::string lin = "p";
    if (bias) {
      mb.initializer("b", testing::randomTensor(DType::kFloat32, {16}, rng));
      mb.node("Add", {"p", "b"}, {"pb"});
      lin = "pb";
    }
    mb.node("Add", {"x", lin}, {"s"});
    mb.node("Relu", {"s"}, {"y"});
    mb.output("y");
    auto ops = checkPass(mb.bytes(), {"fuse-matmul"},
                         {{"h", testing::randomTensor(DType::kFloat32, {2, 5, 24}, rng)},
                          {"x", testing::randomTensor(DType::kFloat32, {2, 5, 16}, rng)}});
    EXPECT_EQ(ops, (std::vector<std::string>{"FusedMatMul", "Relu"}));  // no activation after a residual
  }
}

TEST(Passes, PipelineOptionsAndReport) {
  BuildConfig cfg;
  cfg.passes = {"no-such-pass"};
  auto e = buildEngineFromBytes(convBnModel(false), "", "t", cfg);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("unknown pass 'no-such-pass'"), std::string::npos) << e.status().toString();
  BuildConfig full;
  std::string dumped;
  full.dumpGraphAfter = "fold-batchnorm";
  full.dumpGraph = [&](const std::string& s) { dumped += s; };
  BuildReport rep;
  ASSERT_TRUE(buildEngineFromBytes(convBnModel(false), "", "t", full, &rep).ok());
  EXPECT_NE(dumped.find("after pass fold-batchnorm"), std::string::npos);
  EXPECT_EQ(dumped.find("BatchNormalization("), std::string::npos) << dumped;
  ASSERT_EQ(rep.passes.size(), standardPassNames().size());
  EXPECT_EQ(rep.passes.front().nodesBefore, 2u);
  EXPECT_EQ(rep.passes.back().nodesAfter, 1u);
  BuildConfig disabled;
  disabled.disabledPasses = {"fold-batchnorm"};
  BuildReport rep2;
  ASSERT_TRUE(buildEngineFromBytes(convBnModel(false), "", "t", disabled, &rep2).ok());
  EXPECT_EQ(rep2.passes.back().nodesAfter, 2u);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(Passes, ElementwiseChainFusion) {
  testing::ModelBuilder mb;
  std::mt19937 rng(11);
  mb.input("x", {"3", "4", "9"});
  mb.input("m", {"3", "4", "9"}, ::onnx::TensorProto::INT64);
  mb.initializer("row", testing::randomTensor(DType::kFloat32, {9}, rng));
  mb.initializer("one", Tensor::scalar<float>(1.0f));
  mb.initializer("neg", Tensor::scalar<float>(-100.0f));
  // Chain 1 (mask preparation): Cast -> 1 - m -> * -100.
  auto& cast = mb.node("Cast", {"m"}, {"mf"});
  testing::ModelBuilder::attr(cast, "to", int64_t{1});
  mb.node("Sub", {"one", "mf"}, {"inv"});
  mb.node("Mul", {"inv", "neg"}, {"bias"});
  // Chain 2: ((x + row) * bias) -> Tanh -> Relu
  mb.node("Add", {"x", "row"}, {"a"});
  mb.node("Mul", {"a", "bias"}, {"b"});
  mb.node("Tanh", {"b"}, {"t"});
  mb.node("Relu", {"t"}, {"y"});
  mb.output("y");
  Tensor m = Tensor::allocate(DType::kInt64, {3, 4, 9});
  for (int64_t i = 0; i < m.numel(); ++i) m.data<int64_t>()[i] = (i * 7) % 3 == 0;
  auto ops = checkPass(mb.bytes(), {"fuse-elementwise"},
                       {{"x", testing::randomTensor(DType::kFloat32, {3, 4, 9}, rng)}, {"m", m}});
  // Seven element-wise nodes become two layers (the chains may split at either Mul).
  EXPECT_EQ(ops.size(), 2u);
  EXPECT_GE(count(ops, "ElementwiseChain"), 1);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(Passes, ChannelsLastKeepsNhwcBetweenLayers) {
  // conv -> relu -> maxpool -> conv (+ residual from the pool) -> global pool: after the pipeline
  // only the boundary reformats remain (one into NHWC; the pooled [N,1,1,C] back is a Reshape).
  testing::ModelBuilder mb;
  std::mt19937 rng(12);
  mb.input("x", {"2", "3", "13", "11"});
  mb.initializer("w1", testing::randomTensor(DType::kFloat32, {8, 3, 3, 3}, rng));
  mb.initializer("w2", testing::randomTensor(DType::kFloat32, {8, 8, 3, 3}, rng));
  auto& c1 = mb.node("Conv", {"x", "w1"}, {"c1"});
  testing::ModelBuilder::attr(c1, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("Relu", {"c1"}, {"r1"});
  auto& p = mb.node("MaxPool", {"r1"}, {"p"});
  testing::ModelBuilder::attr(p, "kernel_shape", std::vector<int64_t>{2, 2});
  testing::ModelBuilder::attr(p, "strides", std::vector<int64_t>{2, 2});
  auto& c2 = mb.node("Conv", {"p", "w2"}, {"c2"});
  testing::ModelBuilder::attr(c2, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("Add", {"c2", "p"}, {"s"});
  mb.node("Relu", {"s"}, {"r2"});
  mb.node("GlobalAveragePool", {"r2"}, {"y"});
  mb.output("y");
  auto ops = checkPass(mb.bytes(), {}, {{"x", testing::randomTensor(DType::kFloat32, {2, 3, 13, 11}, rng)}});
  EXPECT_EQ(count(ops, "FusedConv"), 2);
  EXPECT_EQ(count(ops, "NhwcMaxPool"), 1);
  EXPECT_EQ(count(ops, "NhwcGlobalAveragePool"), 1);
  EXPECT_EQ(count(ops, "Transpose"), 1) << "only the input reformat should remain";
}

}  // namespace
}  // namespace kiln
