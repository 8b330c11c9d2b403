// Sequence and optional values in the IR: value kinds, type names, the printer, and the element
// types and shapes that inference of the sequence ops derives (static, symbolic, unknown).
#include <gtest/gtest.h>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace kiln::ir {
namespace {

// Adds a registered op (defaults filled) and infers it; returns the status of inference.
Status addOp(Graph& g, const std::string& op, std::vector<Value*> ins, AttrMap attrs, Node** out, int opset = 21) {
  const OpDef* def = OpRegistry::global().find("", op);
  EXPECT_NE(def, nullptr) << op;
  KILN_RETURN_IF_ERROR(checkAndFillAttributes(*def, attrs));
  static int k = 0;
  Node* n = g.addNode(op, "", opset, op + std::to_string(k++), ins, {""}, std::move(attrs));
  g.setNodeDef(n, def);
  *out = n;
  return inferNode(g, *n);
}

Value* addOk(Graph& g, const std::string& op, std::vector<Value*> ins, AttrMap attrs = {}, int opset = 21) {
  Node* n = nullptr;
  Status st = addOp(g, op, std::move(ins), std::move(attrs), &n, opset);
  EXPECT_TRUE(st.ok()) << st.toString();
  return n->output(0);
}

std::string addErr(Graph& g, const std::string& op, std::vector<Value*> ins, AttrMap attrs = {}, int opset = 21) {
  Node* n = nullptr;
  Status st = addOp(g, op, std::move(ins), std::move(attrs), &n, opset);
  EXPECT_FALSE(st.ok()) << op;
  return st.message();
}

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

Dim N() { return Dim::symbol("N"); }

TEST(SequenceIR, KindsAndTypeNames) {
  Graph g;
  Value* x = g.addInput("x", DType::kFloat32, Shape{N(), Dim(3)});
  Value* s = g.addInput("s", DType::kInt64, Shape{Dim(), Dim(4)}, ValueKind::kSequence);
  Value* o = g.addInput("o", DType::kBool, Shape::unknownRank(), ValueKind::kOptionalSequence);
  EXPECT_TRUE(x->isTensor());
  EXPECT_EQ(s->kind(), ValueKind::kSequence);
  EXPECT_EQ(describeValue(*x), "%x: float32[N,3]");
  EXPECT_EQ(describeValue(*s), "%s: seq(int64[?,4])");
  EXPECT_EQ(describeValue(*o), "%o: optional(seq(bool[*]))");
  Value* c = g.addConstant("c", Tensor::scalar<int64_t>(1));
  EXPECT_TRUE(c->isTensor());

  for (ValueKind k : {ValueKind::kTensor, ValueKind::kSequence, ValueKind::kOptionalTensor, ValueKind::kOptionalSequence}) {
    ValueKind pk;
    DType pt;
    ASSERT_TRUE(parseValueTypeName(valueTypeName(k, DType::kFloat16), &pk, &pt)) << valueTypeName(k, DType::kFloat16);
    EXPECT_EQ(pk, k);
    EXPECT_EQ(pt, DType::kFloat16);
  }
  ValueKind k;
  DType t;
  for (const char* bad : {"", "seq()", "seq(float32", "optional(seq(nope))", "tensor(float32)", "seq(seq(float32))"})
    EXPECT_FALSE(parseValueTypeName(bad, &k, &t)) << bad;
  EXPECT_EQ(optionalKindOf(ValueKind::kSequence), ValueKind::kOptionalSequence);
  EXPECT_EQ(optionalElementKind(ValueKind::kOptionalTensor), ValueKind::kTensor);
}

TEST(SequenceIR, ConstructAndInsertKeepWhatElementsShare) {
  Graph g;
  Value* a = g.addInput("a", DType::kFloat32, Shape{N(), Dim(3)});
  Value* b = g.addInput("b", DType::kFloat32, Shape{Dim(2), Dim(3)});
  Value* c = g.addInput("c", DType::kFloat32, Shape{N(), Dim(3)});
  Value* s = addOk(g, "SequenceConstruct", {a, c});
  EXPECT_EQ(s->kind(), ValueKind::kSequence);
  EXPECT_EQ(s->shape(), (Shape{N(), Dim(3)}));
  Value* s2 = addOk(g, "SequenceInsert", {s, b});
  EXPECT_EQ(s2->shape(), (Shape{Dim(), Dim(3)}));
  Value* at = addOk(g, "SequenceAt", {s2, g.addConstant("p", Tensor::scalar<int64_t>(0))});
  EXPECT_TRUE(at->isTensor());
  EXPECT_EQ(at->shape(), (Shape{Dim(), Dim(3)}));
  Value* len = addOk(g, "SequenceLength", {s2});
  EXPECT_TRUE(len->isTensor());
  EXPECT_EQ(len->dtype(), DType::kInt64);
  EXPECT_EQ(len->shape(), Shape{});
  Value* er = addOk(g, "SequenceErase", {s2});
  EXPECT_EQ(er->kind(), ValueKind::kSequence);
  Value* rank3 = g.addInput("r3", DType::kFloat32, Shape{Dim(1), Dim(2), Dim(3)});
  EXPECT_FALSE(addOk(g, "SequenceInsert", {s, rank3})->shape().rankKnown());
  Value* empty = addOk(g, "SequenceEmpty", {}, attrs({{"dtype", AttrValue(int64_t{7})}}));
  EXPECT_EQ(empty->dtype(), DType::kInt64);
  EXPECT_FALSE(empty->shape().rankKnown());
  EXPECT_EQ(addOk(g, "SequenceEmpty", {})->dtype(), DType::kFloat32);

  Value* i = g.addInput("i", DType::kInt32, Shape{Dim(2)});
  EXPECT_NE(addErr(g, "SequenceConstruct", {a, i}).find("same type"), std::string::npos);
  EXPECT_NE(addErr(g, "SequenceInsert", {s, i}).find("element type float32"), std::string::npos);
  EXPECT_NE(addErr(g, "SequenceAt", {s, i}).find("must be a scalar"), std::string::npos);
  EXPECT_NE(addErr(g, "SequenceAt", {s, a}).find("int32 or int64"), std::string::npos);
  EXPECT_NE(addErr(g, "SequenceLength", {a}).find("must be a sequence, not float32"), std::string::npos);
  EXPECT_NE(addErr(g, "Relu", {s}).find("is seq(float32); this op takes tensors only"), std::string::npos);
  EXPECT_NE(addErr(g, "SequenceEmpty", {}, attrs({{"dtype", AttrValue(int64_t{15})}})).find("element type"),
            std::string::npos);
}

TEST(SequenceIR, SplitToSequenceShapes) {
  Graph g;
  Value* x = g.addInput("x", DType::kFloat32, Shape{N(), Dim(6)});
  auto split = [&](Value* in, Value* sp, int64_t axis, int64_t keep = 1) {
    std::vector<Value*> ins = {in};
    if (sp) ins.push_back(sp);
    return addOk(g, "SplitToSequence", ins, attrs({{"axis", AttrValue(axis)}, {"keepdims", AttrValue(keep)}}))->shape();
  };
  auto c = [&](Tensor t) { return g.addConstant("split", std::move(t)); };
  EXPECT_EQ(split(x, nullptr, 1), (Shape{N(), Dim(1)}));
  EXPECT_EQ(split(x, nullptr, -1, 0), (Shape{N()}));
  EXPECT_EQ(split(x, nullptr, 0, 0), (Shape{Dim(6)}));
  EXPECT_EQ(split(x, c(Tensor::scalar<int64_t>(2)), 1), (Shape{N(), Dim(2)}));
  EXPECT_EQ(split(x, c(Tensor::scalar<int64_t>(4)), 1), (Shape{N(), Dim()}));  // 4 + 2
  EXPECT_EQ(split(x, c(Tensor::fromVector<int32_t>({3, 3}, {2})), 1), (Shape{N(), Dim(3)}));
  EXPECT_EQ(split(x, c(Tensor::fromVector<int64_t>({1, 5}, {2})), 1), (Shape{N(), Dim()}));
  // keepdims is ignored when split is given.
  EXPECT_EQ(split(x, c(Tensor::fromVector<int64_t>({3, 3}, {2})), 1, 0), (Shape{N(), Dim(3)}));
  // Symbolic axis: equal known chunk sizes still give a static dim; a scalar does not.
  EXPECT_EQ(split(x, c(Tensor::fromVector<int64_t>({2, 2}, {2})), 0), (Shape{Dim(2), Dim(6)}));
  EXPECT_EQ(split(x, c(Tensor::scalar<int64_t>(2)), 0), (Shape{Dim(), Dim(6)}));
  Value* dyn = g.addInput("sp", DType::kInt64, Shape{Dim(2)});
  EXPECT_EQ(split(x, dyn, 1), (Shape{N(), Dim()}));
  Value* unranked = g.addInput("u", DType::kFloat32, Shape::unknownRank());
  EXPECT_FALSE(split(unranked, nullptr, 3).rankKnown());

  auto err = [&](Value* sp, int64_t axis) {
    std::vector<Value*> ins = {x};
    if (sp) ins.push_back(sp);
    return addErr(g, "SplitToSequence", ins, attrs({{"axis", AttrValue(axis)}}));
  };
  EXPECT_NE(err(nullptr, 2).find("out of range"), std::string::npos);
  EXPECT_NE(err(c(Tensor::fromVector<int64_t>({2, 2}, {2})), 1).find("sum to 4 but the axis has size 6"), std::string::npos);
  EXPECT_NE(err(c(Tensor::scalar<int64_t>(-1)), 1).find("must be positive"), std::string::npos);
  EXPECT_NE(err(c(Tensor::fromVector<float>({3, 3}, {2})), 1).find("int32 or int64"), std::string::npos);
  EXPECT_NE(err(c(Tensor::fromVector<int64_t>({3, 3}, {1, 2})), 1).find("scalar or 1-D"), std::string::npos);
}

TEST(SequenceIR, ConcatFromSequenceShapes) {
  Graph g;
  Value* s = g.addInput("s", DType::kFloat16, Shape{N(), Dim(3)}, ValueKind::kSequence);
  auto concat = [&](int64_t axis, int64_t newAxis) {
    return addOk(g, "ConcatFromSequence", {s}, attrs({{"axis", AttrValue(axis)}, {"new_axis", AttrValue(newAxis)}}));
  };
  Value* y = concat(1, 0);
  EXPECT_TRUE(y->isTensor());
  EXPECT_EQ(y->dtype(), DType::kFloat16);
  EXPECT_EQ(y->shape(), (Shape{N(), Dim()}));
  EXPECT_EQ(concat(-2, 0)->shape(), (Shape{Dim(), Dim(3)}));
  EXPECT_EQ(concat(-1, 1)->shape(), (Shape{N(), Dim(3), Dim()}));
  EXPECT_EQ(concat(0, 1)->shape(), (Shape{Dim(), N(), Dim(3)}));
  EXPECT_NE(addErr(g, "ConcatFromSequence", {s}, attrs({{"axis", AttrValue(int64_t{2})}})).find("out of range"),
            std::string::npos);
  EXPECT_NE(addErr(g, "ConcatFromSequence", {s}, attrs({{"axis", AttrValue(int64_t{-4})}, {"new_axis", AttrValue(int64_t{1})}}))
                .find("out of range"),
            std::string::npos);
  EXPECT_NE(addErr(g, "ConcatFromSequence", {s}, attrs({{"axis", AttrValue(int64_t{0})}, {"new_axis", AttrValue(int64_t{3})}}))
                .find("new_axis must be 0 or 1"),
            std::string::npos);
  EXPECT_NE(addErr(g, "ConcatFromSequence", {s}).find("required attribute 'axis'"), std::string::npos);
}

TEST(SequenceIR, OptionalsAndIdentity) {
  Graph g;
  Value* x = g.addInput("x", DType::kInt32, Shape{Dim(4)});
  Value* s = g.addInput("s", DType::kFloat32, Shape{N()}, ValueKind::kSequence);
  Value* ox = addOk(g, "Optional", {x});
  EXPECT_EQ(ox->kind(), ValueKind::kOptionalTensor);
  EXPECT_EQ(ox->shape(), (Shape{Dim(4)}));
  Value* os = addOk(g, "Optional", {s});
  EXPECT_EQ(describeValue(*os).substr(describeValue(*os).find(':')), ": optional(seq(float32[N]))");
  Value* none = addOk(g, "Optional", {}, attrs({{"type", AttrValue("seq(uint8)")}}));
  EXPECT_EQ(none->kind(), ValueKind::kOptionalSequence);
  EXPECT_EQ(none->dtype(), DType::kUInt8);
  EXPECT_NE(addErr(g, "Optional", {}).find("needs the 'type' attribute"), std::string::npos);
  EXPECT_NE(addErr(g, "Optional", {}, attrs({{"type", AttrValue("nonsense")}})).find("not a tensor or sequence type"),
            std::string::npos);

  Value* has = addOk(g, "OptionalHasElement", {ox});
  EXPECT_EQ(has->dtype(), DType::kBool);
  EXPECT_EQ(has->shape(), Shape{});
  Value* get = addOk(g, "OptionalGetElement", {os});
  EXPECT_EQ(get->kind(), ValueKind::kSequence);
  EXPECT_EQ(get->shape(), (Shape{N()}));
  EXPECT_TRUE(addOk(g, "OptionalGetElement", {ox})->isTensor());
  EXPECT_NE(addErr(g, "OptionalGetElement", {x}, {}, 15).find("before opset 18"), std::string::npos);

  Value* id = addOk(g, "Identity", {os}, {}, 16);
  EXPECT_EQ(id->kind(), ValueKind::kOptionalSequence);
  EXPECT_EQ(id->shape(), (Shape{N()}));
  EXPECT_NE(addErr(g, "Identity", {os}, {}, 15).find("optionals from opset 16"), std::string::npos);
  EXPECT_TRUE(addOk(g, "Identity", {x}, {}, 1)->isTensor());
  EXPECT_TRUE(OpRegistry::global().find("", "Identity")->has(kTraitNonTensor));
  EXPECT_FALSE(OpRegistry::global().find("", "Relu")->has(kTraitNonTensor));
}

TEST(SequenceIR, VerifierChecksKinds) {
  Graph g;
  Value* x = g.addInput("x", DType::kFloat32, Shape{Dim(2), Dim(3)});
  Value* s = addOk(g, "SplitToSequence", {x});
  Value* y = addOk(g, "ConcatFromSequence", {s}, attrs({{"axis", AttrValue(int64_t{0})}}));
  g.addOutput(y);
  EXPECT_TRUE(verifyGraph(g).ok()) << verifyGraph(g).toString();
  // A pass that wired a sequence into a tensor op is caught.
  Node* relu = g.addNode("Relu", "", 21, "bad", {s}, {""});
  g.setNodeDef(relu, OpRegistry::global().find("", "Relu"));
  Status st = verifyGraph(g);
  EXPECT_NE(st.message().find("input 'SplitToSequence"), std::string::npos) << st.toString();
  EXPECT_NE(st.message().find("is seq(float32) but the op takes tensors only"), std::string::npos) << st.toString();
}

}  // namespace
}  // namespace kiln::ir
