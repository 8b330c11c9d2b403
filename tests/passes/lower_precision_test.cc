// The lower-precision pass (--fp16/--bf16) on the CPU: which layers it lowers for a given target
// predicate, that graph I/O keeps its types and names, that shape arithmetic stays in its types,
// and that the lowered graph computes the same function (run by the reference interpreter, whose
// fp16 kernels compute in fp32).
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "backends/host_inputs.h"
#include "ir/infer.h"
#include "model_builder.h"
#include "onnx/importer.h"
#include "op_test_util.h"
#include "passes/pass_manager.h"
#include "runtime/interpreter.h"

namespace kiln {
namespace {

using testing::ModelBuilder;

std::string mlpWithShapeArithmetic() {
  // y = Relu(x @ W + b), reshaped with a target computed from Shape(x); z = Exp(y) (kept fp32).
  ModelBuilder mb(17);
  mb.input("x", {"3", "8"});
  std::mt19937 rng(11);
  mb.initializer("W", testing::randomTensor(DType::kFloat32, Dims{8, 5}, rng));
  mb.initializer("b", testing::randomTensor(DType::kFloat32, Dims{5}, rng));
  mb.initializer("minus1", Tensor::fromVector<int64_t>({-1}, Dims{1}));
  mb.node("MatMul", {"x", "W"}, {"mm"});
  mb.node("Add", {"mm", "b"}, {"add"});
  mb.node("Relu", {"add"}, {"y0"});
  mb.node("Shape", {"x"}, {"shp"});
  mb.node("Reshape", {"y0", "minus1"}, {"y"});
  mb.node("Exp", {"y0"}, {"z"});
  mb.output("y");
  mb.output("z");
  mb.output("shp");
  return mb.bytes();
}

passes::PassContext fp16Context(std::set<std::string> runsLow) {
  passes::PassContext ctx;
  ctx.lowPrecision = DType::kFloat16;
  ctx.supportsLowered = [runsLow](const ir::Node& n, DType) { return runsLow.count(n.opType()) > 0; };
  ctx.hostInputs = [](const std::string& d, const std::string& op) -> const std::vector<int>& {
    return cuda::hostInputsOf(d, op);
  };
  return ctx;
}

// The test model after the lower-precision pass alone with `ctx`.
std::shared_ptr<ir::Graph> lowered(const passes::PassContext& ctx) {
  auto g = onnx_import::importModelBytes(mlpWithShapeArithmetic(), "");
  EXPECT_TRUE(g.ok()) << g.status().toString();
  if (!g.ok()) return nullptr;
  passes::PipelineOptions opts;
  opts.only = {"lower-precision"};
  auto reps = passes::PassManager::standard().run(**g, ctx, opts);
  EXPECT_TRUE(reps.ok()) << reps.status().toString();
  return reps.ok() ? std::shared_ptr<ir::Graph>(std::move(g).value()) : nullptr;
}

// Outputs of `graph` on input x, by the reference interpreter (fp16 kernels compute in fp32).
std::vector<runtime::NamedTensor> runGraph(std::shared_ptr<const ir::Graph> graph, const Tensor& x) {
  auto interp = runtime::Interpreter::create(std::move(graph));
  EXPECT_TRUE(interp.ok()) << interp.status().toString();
  std::vector<runtime::NamedTensor> outs;
  if (!interp.ok()) return outs;
  Status st = (*interp)->run({{"x", x}}, &outs);
  EXPECT_TRUE(st.ok()) << st.toString();
  return outs;
}

// The float32 model, unlowered.
std::shared_ptr<const ir::Graph> reference() {
  auto ref = onnx_import::importModelBytes(mlpWithShapeArithmetic(), "");
  EXPECT_TRUE(ref.ok());
  return ref.ok() ? std::shared_ptr<const ir::Graph>(std::move(ref).value()) : nullptr;
}

TEST(LowerPrecision, LowersSupportedLayersKeepsIoAndShapeArithmetic) {
  const auto g = lowered(fp16Context({"MatMul", "Add", "Relu", "Reshape", "Cast", "Exp"}));
  ASSERT_NE(g, nullptr);
  const ir::Graph& graph = *g;
  // Outputs keep their names and types.
  ASSERT_EQ(graph.outputs().size(), 3u);
  EXPECT_EQ(graph.outputs()[0]->name(), "y");
  EXPECT_EQ(graph.outputs()[0]->dtype(), DType::kFloat32);
  EXPECT_EQ(graph.outputs()[1]->name(), "z");
  EXPECT_EQ(graph.outputs()[1]->dtype(), DType::kFloat32);
  EXPECT_EQ(graph.outputs()[2]->dtype(), DType::kInt64);
  EXPECT_EQ(graph.inputs()[0]->dtype(), DType::kFloat32);
  int lowMatMul = 0, exps = 0, casts = 0;
  for (const ir::Node* n : graph.nodes()) {
    if (n->opType() == "MatMul") {
      lowMatMul += n->output(0)->dtype() == DType::kFloat16;
      // The weight was converted once at build time, not cast at run time.
      EXPECT_TRUE(n->input(1)->isConstant());
      EXPECT_EQ(n->input(1)->dtype(), DType::kFloat16);
    }
    if (n->opType() == "Exp") {
      ++exps;
      EXPECT_EQ(n->input(0)->dtype(), DType::kFloat32) << "Exp is kept in float32 (range)";
    }
    if (n->opType() == "Reshape") EXPECT_EQ(n->input(1)->dtype(), DType::kInt64) << "shape input never lowered";
    casts += n->opType() == "Cast";
  }
  EXPECT_EQ(lowMatMul, 1);
  EXPECT_EQ(exps, 1);
  EXPECT_GE(casts, 2);  // x -> fp16 at the input; fp16 -> fp32 for the outputs / Exp

  // Same function as the float32 graph (fp16 storage: ~1e-3 relative).
  std::mt19937 rng(5);
  Tensor x = testing::randomTensor(DType::kFloat32, Dims{3, 8}, rng);
  auto a = runGraph(g, x);
  auto b = runGraph(reference(), x);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(a[i].tensor.dtype(), DType::kFloat32);
    EXPECT_LE(testing::relativeL2(a[i].tensor, b[i].tensor), 5e-3) << "output " << i;
  }
  EXPECT_EQ(testing::maxAbsDiff(a[2].tensor, b[2].tensor), 0.0);
}

// --reduced-io: the float32 input and outputs take fp16; lowered layers read the input directly,
// the output a float32 layer (Exp) makes gets a Cast to fp16, and the function is unchanged.
TEST(LowerPrecision, ReducedIoGivesFloatInputsAndOutputsTheReducedType) {
  auto ctx = fp16Context({"MatMul", "Add", "Relu", "Reshape", "Cast", "Exp"});
  ctx.reducedIO = true;
  const auto g = lowered(ctx);
  ASSERT_NE(g, nullptr);
  const ir::Graph& graph = *g;
  ASSERT_EQ(graph.outputs().size(), 3u);
  EXPECT_EQ(graph.inputs()[0]->name(), "x");
  EXPECT_EQ(graph.inputs()[0]->dtype(), DType::kFloat16);
  EXPECT_EQ(graph.outputs()[0]->name(), "y");
  EXPECT_EQ(graph.outputs()[0]->dtype(), DType::kFloat16);
  EXPECT_EQ(graph.outputs()[1]->name(), "z");
  EXPECT_EQ(graph.outputs()[1]->dtype(), DType::kFloat16);
  EXPECT_EQ(graph.outputs()[2]->dtype(), DType::kInt64) << "non-float outputs keep their type";
  int casts = 0;
  for (const ir::Node* n : graph.nodes()) {
    if (n->opType() == "MatMul") EXPECT_EQ(n->input(0), graph.inputs()[0]) << "the lowered MatMul reads x as given";
    if (n->opType() == "Exp") EXPECT_EQ(n->input(0)->dtype(), DType::kFloat32);
    if (n->opType() == "Cast") {
      ++casts;
      EXPECT_NE(n->input(0), graph.inputs()[0]) << "no Cast of the input";
    }
  }
  EXPECT_EQ(casts, 2);  // fp16 -> fp32 into Exp, Exp's fp32 -> fp16 for output z

  std::mt19937 rng(7);
  const Tensor x16 = testing::randomTensor(DType::kFloat16, Dims{3, 8}, rng);
  Tensor x32 = Tensor::allocate(DType::kFloat32, x16.dims());
  for (int64_t i = 0; i < x16.numel(); ++i) x32.data<float>()[i] = static_cast<float>(x16.doubleAt(i));
  auto a = runGraph(g, x16);
  auto b = runGraph(reference(), x32);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(a[i].tensor.dtype(), DType::kFloat16) << "output " << i;
    EXPECT_LE(testing::relativeL2(a[i].tensor, b[i].tensor), 5e-3) << "output " << i;
  }
  EXPECT_EQ(testing::maxAbsDiff(a[2].tensor, b[2].tensor), 0.0);
}

TEST(LowerPrecision, NothingLowersWhenTheTargetHasNoReducedKernels) {
  const auto g = lowered(fp16Context({}));
  ASSERT_NE(g, nullptr);
  for (const ir::Node* n : g->nodes()) EXPECT_NE(n->opType(), "Cast") << "no casts when nothing is lowered";
}

// Shape(v) feeding shape arithmetic needs v's dims on the host, not its values: v's producer still
// lowers, and with --reduced-io the input it reads takes the reduced type.
TEST(LowerPrecision, ShapeOfAValueLeavesItsProducerLowered) {
  ModelBuilder mb(17);
  mb.input("x", {"3", "8"});
  std::mt19937 rng(13);
  mb.initializer("W", testing::randomTensor(DType::kFloat32, Dims{8, 6}, rng));
  mb.node("MatMul", {"x", "W"}, {"mm"});
  mb.node("Relu", {"mm"}, {"r"});
  mb.node("Shape", {"mm"}, {"shp"});
  mb.node("Reshape", {"r", "shp"}, {"y"});  // the shape input is read on the host
  mb.output("y");
  auto g = onnx_import::importModelBytes(mb.bytes(), "");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  passes::PipelineOptions opts;
  opts.only = {"lower-precision"};
  auto ctx = fp16Context({"MatMul", "Relu", "Reshape", "Cast"});
  ctx.reducedIO = true;
  auto reps = passes::PassManager::standard().run(**g, ctx, opts);
  ASSERT_TRUE(reps.ok()) << reps.status().toString();
  EXPECT_EQ((*g)->inputs()[0]->dtype(), DType::kFloat16);
  EXPECT_EQ((*g)->outputs()[0]->dtype(), DType::kFloat16);
  for (const ir::Node* n : (*g)->nodes()) {
    if (n->opType() == "MatMul") EXPECT_EQ(n->output(0)->dtype(), DType::kFloat16);
    EXPECT_NE(n->opType(), "Cast") << "nothing to convert: Shape reads the fp16 value's dims";
  }
}

TEST(LowerPrecision, ReducedIoHoldsEvenWhenNothingLowers) {
  // The I/O types the caller asked for, behind Casts around the float32 layers.
  auto ctx = fp16Context({});
  ctx.reducedIO = true;
  const auto g = lowered(ctx);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->inputs()[0]->dtype(), DType::kFloat16);
  EXPECT_EQ(g->outputs()[0]->dtype(), DType::kFloat16);
  EXPECT_EQ(g->outputs()[1]->dtype(), DType::kFloat16);
  EXPECT_EQ(g->outputs()[2]->dtype(), DType::kInt64);
  int casts = 0;
  for (const ir::Node* n : g->nodes()) casts += n->opType() == "Cast";
  EXPECT_EQ(casts, 3);  // x to float32 for MatMul; y and z to float16
}

}  // namespace
}  // namespace kiln
