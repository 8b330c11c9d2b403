// Graph editing, topological sort, dead-node removal, verifier, printer, and symbolic inference
// through shape arithmetic with dynamic dims.
#include <gtest/gtest.h>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace kiln::ir {
namespace {

// Adds a registered op with defaults filled and outputs inferred.
Node* add(Graph& g, const std::string& op, std::vector<Value*> ins, AttrMap attrs = {}, int nout = 1) {
  const OpDef* def = OpRegistry::global().find("", op);
  EXPECT_NE(def, nullptr) << op;
  EXPECT_TRUE(checkAndFillAttributes(*def, attrs).ok());
  static int k = 0;
  Node* n = g.addNode(op, "", 17, op + std::to_string(k++), ins, std::vector<std::string>(nout, ""), attrs);
  g.setNodeDef(n, def);
  Status st = inferNode(g, *n);
  EXPECT_TRUE(st.ok()) << st.toString();
  return n;
}

Value* ints(Graph& g, std::vector<int64_t> v) {
  return g.addConstant("c", Tensor::fromVector<int64_t>(v, Dims{static_cast<int64_t>(v.size())}));
}

TEST(Graph, SymbolicShapeArithmeticResolvesReshape) {
  // x: [N, S, 768] -> reshape to Concat(Shape(x)[0:2], [12, 64]) = [N, S, 12, 64].
  Graph g;
  Value* x = g.addInput("x", DType::kFloat32, Shape{Dim::symbol("N"), Dim::symbol("S"), Dim(768)});
  Node* shape = add(g, "Shape", {x});
  ASSERT_TRUE(shape->output(0)->symbolicValue().has_value());
  Node* head = add(g, "Slice", {shape->output(0), ints(g, {0}), ints(g, {2})});
  Node* cat = add(g, "Concat", {head->output(0), ints(g, {12, 64})}, [] {
    AttrMap a;
    a.set("axis", AttrValue(int64_t{0}));
    return a;
  }());
  Node* r = add(g, "Reshape", {x, cat->output(0)});
  EXPECT_EQ(r->output(0)->shape().toString(), "[N,S,12,64]");
  // [-1, 768] flattens the symbolic leading dims into one expression.
  Node* flat = add(g, "Reshape", {x, ints(g, {-1, 768})});
  EXPECT_EQ(flat->output(0)->shape().toString(), "[N*S,768]");
  // Arithmetic on symbolic values: Shape(x)[2] * 2.
  Node* last = add(g, "Slice", {shape->output(0), ints(g, {2}), ints(g, {3})});
  Node* twice = add(g, "Mul", {last->output(0), ints(g, {2})});
  ASSERT_TRUE(twice->output(0)->symbolicValue().has_value());
  EXPECT_EQ((*twice->output(0)->symbolicValue())[0].value(), 1536);
  g.addOutput(r->output(0));
  EXPECT_TRUE(verifyGraph(g).ok());
}

TEST(Graph, RangeOverAShapeDimKeepsItsSymbol) {
  // PyTorch 2.x position ids: Range(0, Squeeze(Shape(x)[1:2]), 1) is [S], not data-dependent.
  Graph g;
  Value* x = g.addInput("x", DType::kInt64, Shape{Dim::symbol("N"), Dim::symbol("S")});
  Node* shape = add(g, "Shape", {x});
  Node* s = add(g, "Slice", {shape->output(0), ints(g, {1}), ints(g, {2})});
  Node* n = add(g, "Squeeze", {s->output(0), ints(g, {0})});
  Value* zero = g.addConstant("zero", Tensor::scalar<int64_t>(0));
  Value* one = g.addConstant("one", Tensor::scalar<int64_t>(1));
  Node* r = add(g, "Range", {zero, n->output(0), one});
  EXPECT_EQ(r->output(0)->shape().toString(), "[S]");
  // S - 3 may be negative (an empty Range): not taken as the length.
  Node* less = add(g, "Sub", {n->output(0), g.addConstant("three", Tensor::scalar<int64_t>(3))});
  Node* r3 = add(g, "Range", {zero, less->output(0), one});
  EXPECT_EQ(r3->output(0)->shape().toString().rfind("[range_len", 0), 0u) << r3->output(0)->shape().toString();
  // Another start or step than 0 and 1 still gets a fresh symbol (no affine lengths yet).
  Value* two = g.addConstant("two", Tensor::scalar<int64_t>(2));
  Node* r2 = add(g, "Range", {zero, n->output(0), two});
  EXPECT_EQ(r2->output(0)->shape().toString().rfind("[range_len", 0), 0u) << r2->output(0)->shape().toString();
}

TEST(Graph, ReshapeErrorsNameTheProblem) {
  Graph g;
  Value* x = g.addInput("x", DType::kFloat32, Shape{Dim(2), Dim(3)});
  const OpDef* def = OpRegistry::global().find("", "Reshape");
  AttrMap a;
  ASSERT_TRUE(checkAndFillAttributes(*def, a).ok());
  Node* n = g.addNode("Reshape", "", 17, "bad_reshape", {x, ints(g, {4, -1})}, {"y"}, a);
  g.setNodeDef(n, def);
  Status st = inferNode(g, *n);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("node 'bad_reshape' (Reshape, domain ai.onnx, opset 17)"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("cannot infer -1"), std::string::npos) << st.message();
}

TEST(Graph, TopoSortRemovesDeadAndVerifies) {
  Graph g;
  Value* x = g.addInput("x", DType::kFloat32, Shape{Dim(4)});
  Node* a = add(g, "Relu", {x});
  Node* b = add(g, "Neg", {a->output(0)});
  Node* dead = add(g, "Exp", {a->output(0)});
  (void)dead;
  g.addOutput(b->output(0));
  EXPECT_EQ(g.removeDeadNodes(), 1);
  ASSERT_TRUE(g.topoSort().ok());
  EXPECT_EQ(g.numNodes(), 2u);
  EXPECT_TRUE(verifyGraph(g).ok());
  std::string text = printGraph(g);
  EXPECT_NE(text.find("= Relu(%x)"), std::string::npos) << text;
  EXPECT_NE(text.find("float32[4]"), std::string::npos) << text;
}

TEST(Graph, ReplaceAllUsesRewires) {
  Graph g;
  Value* x = g.addInput("x", DType::kFloat32, Shape{Dim(4)});
  Node* a = add(g, "Relu", {x});
  Node* b = add(g, "Neg", {a->output(0)});
  g.addOutput(b->output(0));
  g.replaceAllUses(a->output(0), x);
  EXPECT_EQ(b->input(0), x);
  EXPECT_TRUE(a->output(0)->uses().empty());
  EXPECT_EQ(g.removeDeadNodes(), 1);
  EXPECT_TRUE(verifyGraph(g).ok());
}

TEST(Graph, BroadcastInferenceKeepsSymbols) {
  Graph g;
  Value* a = g.addInput("a", DType::kFloat32, Shape{Dim::symbol("B"), Dim(1), Dim(5)});
  Value* b = g.addInput("b", DType::kFloat32, Shape{Dim(7), Dim(1)});
  Node* n = add(g, "Add", {a, b});
  EXPECT_EQ(n->output(0)->shape().toString(), "[B,7,5]");
}

}  // namespace
}  // namespace kiln::ir
