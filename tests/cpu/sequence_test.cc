// Sequence and optional ops through inference and the interpreter's value kernels:
// SplitToSequence/ConcatFromSequence against naive references at odd sizes and many dtypes, the
// positional ops with negative and out-of-range positions, optionals, Identity, and the errors
// (wrong kinds, wrong element types, empty sequences).
#include <gtest/gtest.h>

#include <random>

#include <fmt/format.h>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "op_test_util.h"
#include "runtime/interpreter.h"

namespace kiln::testing {
namespace {

struct SeqOp {
  std::string op;
  AttrMap attrs;
  std::vector<RuntimeValue> inputs;  // an undefined tensor = omitted optional input
  std::vector<bool> constInputs;     // tensor inputs given as constants (known at inference)
  int opset = 21;
};

// The declared shape of a graph input holding `v`: the shape its elements share.
Shape declaredShape(const RuntimeValue& v) {
  if (!v.hasValue()) return Shape::unknownRank();
  if (!v.holdsSequence()) return Shape(v.tensor().dims());
  if (v.elements().empty()) return Shape::unknownRank();
  Shape s(v.elements()[0].dims());
  for (const Tensor& e : v.elements()) {
    if (e.rank() != s.rank()) return Shape::unknownRank();
    for (int i = 0; i < s.rank(); ++i)
      if (!s[i].isStatic() || s[i].value() != e.dims()[i]) s[i] = Dim();
  }
  return s;
}

// Imports-like path: attributes checked and filled, inference, then the interpreter.
Result<std::vector<RuntimeValue>> runSeq(const SeqOp& spec) {
  auto g = std::make_shared<ir::Graph>();
  g->setOpset("", spec.opset);
  const ir::OpDef* def = ir::OpRegistry::global().find("", spec.op);
  if (!def) return NotFound("op {} is not registered", spec.op);
  std::vector<ir::Value*> ins;
  std::vector<runtime::NamedValue> feeds;
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    const RuntimeValue& v = spec.inputs[i];
    if (v.isTensor() && !v.tensor().defined()) {
      ins.push_back(nullptr);
      continue;
    }
    std::string name = fmt::format("in{}", i);
    if (i < spec.constInputs.size() && spec.constInputs[i]) {
      ins.push_back(g->addConstant(name, v.tensor()));
    } else {
      ins.push_back(g->addInput(name, v.elemType(), declaredShape(v), v.kind()));
      feeds.push_back({name, v});
    }
  }
  AttrMap attrs = spec.attrs;
  KILN_RETURN_IF_ERROR(ir::checkAndFillAttributes(*def, attrs));
  ir::Node* n = g->addNode(spec.op, "", spec.opset, "node", ins, {"out0"}, std::move(attrs));
  g->setNodeDef(n, def);
  KILN_RETURN_IF_ERROR(ir::inferNode(*g, *n));
  g->addOutput(n->output(0));
  KILN_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::create(g));
  std::vector<runtime::NamedValue> results;
  KILN_RETURN_IF_ERROR(interp->runValues(feeds, &results));
  std::vector<RuntimeValue> out;
  for (auto& r : results) out.push_back(std::move(r.value));
  return out;
}

Result<RuntimeValue> runSeq1(const SeqOp& spec) {
  KILN_ASSIGN_OR_RETURN(auto out, runSeq(spec));
  return out[0];
}

Tensor i64(int64_t v) { return Tensor::scalar<int64_t>(v); }
Tensor f32(std::vector<float> v, Dims d) { return Tensor::fromVector<float>(v, d); }

RuntimeValue seqOf(std::vector<Tensor> elems) {
  DType t = elems.empty() ? DType::kFloat32 : elems[0].dtype();
  return RuntimeValue::sequence(t, std::move(elems));
}

// Exact equality of two tensors (bytes, or strings).
::testing::AssertionResult sameTensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.dims() != b.dims())
    return ::testing::AssertionFailure() << a.describe() << " vs " << b.describe();
  for (int64_t i = 0; i < a.numel(); ++i) {
    bool eq = a.dtype() == DType::kString ? a.data<std::string>()[i] == b.data<std::string>()[i]
                                          : std::memcmp(static_cast<const char*>(a.raw()) + i * dtypeSize(a.dtype()),
                                                        static_cast<const char*>(b.raw()) + i * dtypeSize(b.dtype()),
                                                        dtypeSize(a.dtype())) == 0;
    if (!eq) return ::testing::AssertionFailure() << "element " << i << " differs in " << a.describe();
  }
  return ::testing::AssertionSuccess();
}

Tensor randomAny(DType t, const Dims& d, std::mt19937& rng) {
  if (t == DType::kString) {
    Tensor x = Tensor::allocate(t, d);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<std::string>()[i] = fmt::format("s{}", rng() % 1000);
    return x;
  }
  if (t == DType::kBool) {
    Tensor x = Tensor::allocate(t, d);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<bool>()[i] = rng() & 1;
    return x;
  }
  return randomTensor(t, d, rng, 0, 100);  // in range for unsigned types too
}

// Naive reference: element (index) of the slice [start, start+len) along `axis`.
Tensor naiveSlice(const Tensor& x, int axis, int64_t start, int64_t len) {
  Dims od = x.dims();
  od[axis] = len;
  Tensor y = Tensor::allocate(x.dtype(), od);
  const size_t es = dtypeSize(x.dtype());
  Dims idx = Dims::filled(od.rank(), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t r = i;
    for (int k = od.rank() - 1; k >= 0; --k) {
      idx[k] = r % od[k];
      r /= od[k];
    }
    int64_t src = 0;
    for (int k = 0; k < od.rank(); ++k) src = src * x.dims()[k] + idx[k] + (k == axis ? start : 0);
    if (x.dtype() == DType::kString) y.data<std::string>()[i] = x.data<std::string>()[src];
    else std::memcpy(static_cast<char*>(y.raw()) + i * es, static_cast<const char*>(x.raw()) + src * es, es);
  }
  return y;
}

// Naive reference: concatenation along `axis` by output index.
Tensor naiveConcat(const std::vector<Tensor>& parts, int axis) {
  Dims od = parts[0].dims();
  od[axis] = 0;
  for (const Tensor& p : parts) od[axis] += p.dims()[axis];
  Tensor y = Tensor::allocate(parts[0].dtype(), od);
  const size_t es = dtypeSize(y.dtype());
  Dims idx = Dims::filled(od.rank(), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t r = i;
    for (int k = od.rank() - 1; k >= 0; --k) {
      idx[k] = r % od[k];
      r /= od[k];
    }
    int64_t a = idx[axis];
    size_t which = 0;
    while (a >= parts[which].dims()[axis]) a -= parts[which++].dims()[axis];
    const Tensor& p = parts[which];
    int64_t src = 0;
    for (int k = 0; k < od.rank(); ++k) src = src * p.dims()[k] + (k == axis ? a : idx[k]);
    if (y.dtype() == DType::kString) y.data<std::string>()[i] = p.data<std::string>()[src];
    else std::memcpy(static_cast<char*>(y.raw()) + i * es, static_cast<const char*>(p.raw()) + src * es, es);
  }
  return y;
}

const std::vector<DType> kAllTypes = {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                                      DType::kInt8,    DType::kUInt8,   DType::kInt16,   DType::kUInt16,
                                      DType::kInt32,   DType::kUInt32,  DType::kInt64,   DType::kUInt64,
                                      DType::kBool,    DType::kString};

TEST(Sequence, SplitToSequenceMatchesNaiveSlicing) {
  std::mt19937 rng(11);
  const std::vector<Dims> shapes = {{7}, {5, 9}, {3, 1, 11}, {2, 7, 3, 5}};
  for (DType t : kAllTypes) {
    for (const Dims& d : shapes) {
      const int axis = static_cast<int>(rng() % d.rank());
      Tensor x = randomAny(t, d, rng);
      const int64_t dim = d[axis];
      // (split, expected lengths): none, a scalar that does not divide, a 1-D list with a zero.
      std::vector<std::pair<Tensor, std::vector<int64_t>>> cases;
      cases.emplace_back(Tensor(), std::vector<int64_t>(dim, 1));
      const int64_t s = dim > 2 ? dim - 2 : 1;
      std::vector<int64_t> lens(dim / s, s);
      if (dim % s) lens.push_back(dim % s);
      cases.emplace_back(Tensor::scalar<int64_t>(s), lens);
      std::vector<int64_t> list = {0, dim / 2, dim - dim / 2};
      cases.emplace_back(Tensor::fromVector<int32_t>({0, int32_t(dim / 2), int32_t(dim - dim / 2)}, {3}), list);
      for (auto& [split, want] : cases) {
        for (int64_t keep : {0, 1}) {
          SeqOp op{.op = "SplitToSequence", .inputs = {x, split}};
          op.attrs.set("axis", int64_t(axis - (rng() % 2 ? d.rank() : 0)));  // negative half the time
          op.attrs.set("keepdims", keep);
          auto r = runSeq1(op);
          ASSERT_TRUE(r.ok()) << r.status().toString();
          ASSERT_EQ(r->kind(), ValueKind::kSequence);
          ASSERT_EQ(r->elemType(), t);
          ASSERT_EQ(r->elements().size(), want.size()) << dtypeName(t) << d.toString();
          int64_t start = 0;
          for (size_t k = 0; k < want.size(); ++k) {
            Tensor ref = naiveSlice(x, axis, start, want[k]);
            start += want[k];
            if (!keep && !split.defined()) {
              Dims rd = ref.dims();
              rd.erase(axis);
              ref = ref.reshaped(rd);
            }
            EXPECT_TRUE(sameTensor(r->elements()[k], ref)) << dtypeName(t) << d.toString() << " axis " << axis << " chunk " << k;
          }
        }
      }
    }
  }
}

TEST(Sequence, ConcatFromSequenceMatchesNaive) {
  std::mt19937 rng(5);
  for (DType t : kAllTypes) {
    for (int rank : {1, 2, 3, 4}) {
      Dims base;
      for (int k = 0; k < rank; ++k) base.push_back(1 + rng() % 5);
      const int axis = static_cast<int>(rng() % rank);
      std::vector<Tensor> parts;
      for (int p = 0; p < 3; ++p) {
        Dims d = base;
        d[axis] = p == 1 ? 0 : 1 + rng() % 4;  // one empty part
        parts.push_back(randomAny(t, d, rng));
      }
      SeqOp op{.op = "ConcatFromSequence", .inputs = {seqOf(parts)}};
      op.attrs.set("axis", int64_t(axis - rank));
      auto r = runSeq1(op);
      ASSERT_TRUE(r.ok()) << r.status().toString();
      EXPECT_TRUE(sameTensor(r->tensor(), naiveConcat(parts, axis))) << dtypeName(t) << " rank " << rank;

      // Stacking: equal shapes, a new axis anywhere in [-rank-1, rank].
      std::vector<Tensor> same;
      for (int p = 0; p < 4; ++p) same.push_back(randomAny(t, base, rng));
      const int newAxis = static_cast<int>(rng() % (rank + 1));
      SeqOp st{.op = "ConcatFromSequence", .inputs = {seqOf(same)}};
      st.attrs.set("axis", int64_t(newAxis == rank ? -1 : newAxis));
      st.attrs.set("new_axis", int64_t{1});
      auto s = runSeq1(st);
      ASSERT_TRUE(s.ok()) << s.status().toString();
      std::vector<Tensor> expanded;
      for (const Tensor& e : same) {
        Dims d = e.dims();
        d.insert(newAxis, 1);
        expanded.push_back(e.reshaped(d));
      }
      EXPECT_TRUE(sameTensor(s->tensor(), naiveConcat(expanded, newAxis))) << dtypeName(t) << " stack at " << newAxis;
    }
  }
}

TEST(Sequence, SplitThenConcatRoundTripsLargeTensors) {
  std::mt19937 rng(3);
  Tensor x = randomTensor(DType::kFloat32, {37, 129, 17}, rng);  // big enough to go parallel
  SeqOp split{.op = "SplitToSequence", .inputs = {x, Tensor::scalar<int64_t>(10)}};
  split.attrs.set("axis", int64_t{1});
  auto parts = runSeq1(split);
  ASSERT_TRUE(parts.ok()) << parts.status().toString();
  ASSERT_EQ(parts->elements().size(), 13u);
  EXPECT_EQ(parts->elements().back().dims(), Dims({37, 9, 17}));
  SeqOp concat{.op = "ConcatFromSequence", .inputs = {*parts}};
  concat.attrs.set("axis", int64_t{1});
  auto y = runSeq1(concat);
  ASSERT_TRUE(y.ok()) << y.status().toString();
  EXPECT_TRUE(sameTensor(y->tensor(), x));
}

TEST(Sequence, SplitToSequenceErrors) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  auto run = [&](Tensor split, int64_t axis, bool constSplit = false) {
    SeqOp op{.op = "SplitToSequence", .inputs = {x, split}, .constInputs = {false, constSplit}};
    op.attrs.set("axis", axis);
    return runSeq1(op).status();
  };
  EXPECT_NE(run(Tensor::fromVector<int64_t>({1, 1}, {2}), 1).message().find("sum to 2 but the axis has size 3"),
            std::string::npos);
  EXPECT_NE(run(Tensor::fromVector<int64_t>({-1, 4}, {2}), 1).message().find(">= 0"), std::string::npos);
  EXPECT_NE(run(Tensor::scalar<int64_t>(0), 1).message().find("must be positive"), std::string::npos);
  EXPECT_NE(run(Tensor::fromVector<int64_t>({1, 1, 1, 1}, {2, 2}), 1).message().find("scalar or 1-D"), std::string::npos);
  EXPECT_NE(run(Tensor(), 2).message().find("out of range"), std::string::npos);
  EXPECT_NE(run(Tensor::fromVector<float>({1, 2}, {2}), 1).message().find("int32 or int64"), std::string::npos);
  // A constant split is checked at inference already.
  Status st = run(Tensor::fromVector<int64_t>({2, 2}, {2}), 1, /*constSplit=*/true);
  EXPECT_NE(st.message().find("more than the axis size 3"), std::string::npos) << st.toString();
  SeqOp scalar{.op = "SplitToSequence", .inputs = {Tensor::scalar<float>(1.f)}};
  EXPECT_NE(runSeq1(scalar).status().message().find("scalar"), std::string::npos);
}

TEST(Sequence, ConcatFromSequenceErrors) {
  auto run = [](RuntimeValue seq, int64_t axis, int64_t newAxis = 0) {
    SeqOp op{.op = "ConcatFromSequence", .inputs = {std::move(seq)}};
    op.attrs.set("axis", axis);
    op.attrs.set("new_axis", newAxis);
    return runSeq1(op).status();
  };
  Tensor a = f32({1, 2, 3, 4, 5, 6}, {2, 3}), b = f32({1, 2, 3, 4}, {2, 2});
  EXPECT_NE(run(RuntimeValue::sequence(DType::kFloat32, {}), 0).message().find("empty"), std::string::npos);
  Status st = run(seqOf({a, b}), 0);
  EXPECT_NE(st.message().find("element 1 has shape [2,2]"), std::string::npos) << st.toString();
  EXPECT_TRUE(run(seqOf({a, b}), 1).ok());
  EXPECT_NE(run(seqOf({a, b}), 1, 1).message().find("equal shapes"), std::string::npos);
  EXPECT_NE(run(seqOf({a}), 2).message().find("out of range"), std::string::npos);
  EXPECT_TRUE(run(seqOf({a}), 2, 1).ok());
  EXPECT_NE(run(seqOf({a}), -4, 1).message().find("out of range"), std::string::npos);
  EXPECT_NE(run(seqOf({a}), 0, 2).message().find("new_axis must be 0 or 1"), std::string::npos);
  EXPECT_NE(run(seqOf({a, Tensor::fromVector<float>({1, 2, 3}, {3})}), 0).message().find("element 1"), std::string::npos);
}

TEST(Sequence, PositionsCountFromBothEnds) {
  std::vector<Tensor> e;
  for (int i = 0; i < 4; ++i) e.push_back(f32(std::vector<float>(i + 1, float(i)), {i + 1}));
  RuntimeValue s = seqOf(e);
  for (int64_t pos = -4; pos < 4; ++pos) {
    auto r = runSeq1({.op = "SequenceAt", .inputs = {s, i64(pos)}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_TRUE(sameTensor(r->tensor(), e[(pos + 4) % 4])) << pos;
    EXPECT_NE(r->tensor().raw(), e[(pos + 4) % 4].raw()) << "SequenceAt must copy";
  }
  // int32 positions and [1]-shaped ones (as ONNX's own tests use) work too.
  auto r32 = runSeq1({.op = "SequenceAt", .inputs = {s, Tensor::fromVector<int32_t>({-1}, {1})}});
  ASSERT_TRUE(r32.ok()) << r32.status().toString();
  EXPECT_TRUE(sameTensor(r32->tensor(), e[3]));
  for (int64_t bad : {4, -5}) {
    auto r = runSeq1({.op = "SequenceAt", .inputs = {s, i64(bad)}});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(fmt::format("position {} is out of range [-4, 3]", bad)), std::string::npos)
        << r.status().toString();
  }
  auto empty = runSeq1({.op = "SequenceAt", .inputs = {RuntimeValue::sequence(DType::kFloat32, {}), i64(0)}});
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos) << empty.status().toString();
  auto vec = runSeq1({.op = "SequenceAt", .inputs = {s, Tensor::fromVector<int64_t>({0, 1}, {2})}});
  EXPECT_NE(vec.status().message().find("must be a scalar"), std::string::npos) << vec.status().toString();
  auto flt = runSeq1({.op = "SequenceAt", .inputs = {s, Tensor::scalar<float>(0.f)}});
  EXPECT_NE(flt.status().message().find("int32 or int64"), std::string::npos) << flt.status().toString();
}

TEST(Sequence, InsertAndErase) {
  Tensor a = f32({1}, {1}), b = f32({2, 2}, {2}), c = f32({3, 3, 3}, {3});
  RuntimeValue s = seqOf({a, b});
  auto check = [](const RuntimeValue& v, std::vector<Tensor> want) {
    ASSERT_EQ(v.kind(), ValueKind::kSequence);
    ASSERT_EQ(v.elements().size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(sameTensor(v.elements()[i], want[i])) << i;
  };
  auto back = runSeq1({.op = "SequenceInsert", .inputs = {s, c}});
  ASSERT_TRUE(back.ok()) << back.status().toString();
  check(*back, {a, b, c});
  auto front = runSeq1({.op = "SequenceInsert", .inputs = {s, c, i64(-2)}});
  ASSERT_TRUE(front.ok());
  check(*front, {c, a, b});
  auto end = runSeq1({.op = "SequenceInsert", .inputs = {s, c, i64(2)}});
  ASSERT_TRUE(end.ok());
  check(*end, {a, b, c});
  auto mid = runSeq1({.op = "SequenceInsert", .inputs = {s, c, Tensor::scalar<int32_t>(1)}});
  ASSERT_TRUE(mid.ok());
  check(*mid, {a, c, b});
  for (int64_t bad : {3, -3}) {
    auto r = runSeq1({.op = "SequenceInsert", .inputs = {s, c, i64(bad)}});
    EXPECT_NE(r.status().message().find("out of range [-2, 2]"), std::string::npos) << r.status().toString();
  }
  auto wrongType = runSeq1({.op = "SequenceInsert", .inputs = {s, Tensor::fromVector<int32_t>({1}, {1})}});
  ASSERT_FALSE(wrongType.ok());
  EXPECT_NE(wrongType.status().message().find("must have the sequence's element type float32"), std::string::npos)
      << wrongType.status().toString();
  auto intoEmpty = runSeq1({.op = "SequenceInsert", .inputs = {RuntimeValue::sequence(DType::kFloat32, {}), a}});
  ASSERT_TRUE(intoEmpty.ok());
  check(*intoEmpty, {a});

  auto last = runSeq1({.op = "SequenceErase", .inputs = {seqOf({a, b, c})}});
  ASSERT_TRUE(last.ok()) << last.status().toString();
  check(*last, {a, b});
  auto first = runSeq1({.op = "SequenceErase", .inputs = {seqOf({a, b, c}), i64(-3)}});
  ASSERT_TRUE(first.ok());
  check(*first, {b, c});
  auto outOfRange = runSeq1({.op = "SequenceErase", .inputs = {seqOf({a, b, c}), i64(3)}});
  EXPECT_NE(outOfRange.status().message().find("out of range [-3, 2]"), std::string::npos);
  auto fromEmpty = runSeq1({.op = "SequenceErase", .inputs = {RuntimeValue::sequence(DType::kInt64, {})}});
  EXPECT_NE(fromEmpty.status().message().find("the sequence is empty"), std::string::npos);
}

TEST(Sequence, ConstructEmptyLength) {
  Tensor a = Tensor::fromVector<int64_t>({1, 2}, {2}), b = Tensor::fromVector<int64_t>({3}, {1});
  auto s = runSeq1({.op = "SequenceConstruct", .inputs = {a, b, a}});
  ASSERT_TRUE(s.ok()) << s.status().toString();
  ASSERT_EQ(s->elements().size(), 3u);
  EXPECT_EQ(s->elemType(), DType::kInt64);
  auto len = runSeq1({.op = "SequenceLength", .inputs = {*s}});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ(len->tensor().dims(), Dims{});
  EXPECT_EQ(len->tensor().data<int64_t>()[0], 3);
  auto mixed = runSeq1({.op = "SequenceConstruct", .inputs = {a, f32({1}, {1})}});
  EXPECT_NE(mixed.status().message().find("same type"), std::string::npos) << mixed.status().toString();

  auto empty = runSeq1({.op = "SequenceEmpty"});
  ASSERT_TRUE(empty.ok()) << empty.status().toString();
  EXPECT_EQ(empty->elemType(), DType::kFloat32);
  EXPECT_TRUE(empty->elements().empty());
  SeqOp typed{.op = "SequenceEmpty"};
  typed.attrs.set("dtype", int64_t{static_cast<int64_t>(DType::kString)});
  auto strings = runSeq1(typed);
  ASSERT_TRUE(strings.ok());
  EXPECT_EQ(strings->elemType(), DType::kString);
  typed.attrs.set("dtype", int64_t{14});  // complex64
  EXPECT_EQ(runSeq1(typed).status().code(), StatusCode::kUnsupported);
  auto zero = runSeq1({.op = "SequenceLength", .inputs = {RuntimeValue::sequence(DType::kBool, {})}});
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->tensor().data<int64_t>()[0], 0);
}

TEST(Sequence, OptionalsWrapTestAndUnwrap) {
  Tensor t = f32({1, 2, 3}, {3});
  RuntimeValue s = seqOf({t, t});
  auto opt = runSeq1({.op = "Optional", .inputs = {t}});
  ASSERT_TRUE(opt.ok()) << opt.status().toString();
  EXPECT_EQ(opt->kind(), ValueKind::kOptionalTensor);
  EXPECT_TRUE(opt->hasValue());
  auto optSeq = runSeq1({.op = "Optional", .inputs = {s}});
  ASSERT_TRUE(optSeq.ok());
  EXPECT_EQ(optSeq->kind(), ValueKind::kOptionalSequence);
  SeqOp none{.op = "Optional"};
  none.attrs.set("type", AttrValue("seq(int64)"));
  auto emptyOpt = runSeq1(none);
  ASSERT_TRUE(emptyOpt.ok()) << emptyOpt.status().toString();
  EXPECT_EQ(emptyOpt->kind(), ValueKind::kOptionalSequence);
  EXPECT_EQ(emptyOpt->elemType(), DType::kInt64);
  EXPECT_FALSE(emptyOpt->hasValue());
  EXPECT_NE(runSeq1({.op = "Optional"}).status().message().find("needs the 'type' attribute"), std::string::npos);
  SeqOp clash{.op = "Optional", .inputs = {t}};
  clash.attrs.set("type", AttrValue("int64"));
  EXPECT_NE(runSeq1(clash).status().message().find("attribute 'type' says int64"), std::string::npos);
  SeqOp nested{.op = "Optional", .inputs = {*opt}};
  EXPECT_EQ(runSeq1(nested).status().code(), StatusCode::kUnsupported);

  auto has = [](std::vector<RuntimeValue> in, int opset = 18) -> Result<bool> {
    KILN_ASSIGN_OR_RETURN(RuntimeValue r, runSeq1({.op = "OptionalHasElement", .inputs = std::move(in), .opset = opset}));
    return r.tensor().data<bool>()[0];
  };
  EXPECT_TRUE(*has({*opt}));
  EXPECT_FALSE(*has({*emptyOpt}));
  EXPECT_TRUE(*has({t}));
  EXPECT_TRUE(*has({s}));
  EXPECT_FALSE(*has({}));
  EXPECT_TRUE(*has({*opt}, 15));
  EXPECT_NE(has({t}, 15).status().message().find("before opset 18"), std::string::npos);
  EXPECT_NE(has({}, 15).status().message().find("before opset 18"), std::string::npos);

  auto get = runSeq1({.op = "OptionalGetElement", .inputs = {*opt}});
  ASSERT_TRUE(get.ok()) << get.status().toString();
  EXPECT_TRUE(sameTensor(get->tensor(), t));
  EXPECT_NE(get->tensor().raw(), t.raw()) << "a tensor output is fresh memory";
  auto getSeq = runSeq1({.op = "OptionalGetElement", .inputs = {*optSeq}});
  ASSERT_TRUE(getSeq.ok());
  EXPECT_EQ(getSeq->kind(), ValueKind::kSequence);
  EXPECT_EQ(getSeq->elements().size(), 2u);
  auto getPlain = runSeq1({.op = "OptionalGetElement", .inputs = {s}});
  ASSERT_TRUE(getPlain.ok());
  EXPECT_EQ(getPlain->kind(), ValueKind::kSequence);
  auto getEmpty = runSeq1({.op = "OptionalGetElement", .inputs = {*emptyOpt}});
  EXPECT_NE(getEmpty.status().message().find("the optional input is empty"), std::string::npos)
      << getEmpty.status().toString();
  auto old = runSeq1({.op = "OptionalGetElement", .inputs = {t}, .opset = 15});
  EXPECT_NE(old.status().message().find("must be an optional"), std::string::npos);
}

TEST(Sequence, IdentityPassesSequencesAndOptionalsThrough) {
  Tensor t = f32({1, 2}, {2});
  RuntimeValue s = seqOf({t, f32({3}, {1})});
  auto r = runSeq1({.op = "Identity", .inputs = {s}, .opset = 14});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->kind(), ValueKind::kSequence);
  ASSERT_EQ(r->elements().size(), 2u);
  EXPECT_TRUE(sameTensor(r->elements()[1], s.elements()[1]));
  // Graph outputs never share memory with graph inputs.
  EXPECT_NE(r->elements()[0].raw(), t.raw());
  auto o = runSeq1({.op = "Identity", .inputs = {RuntimeValue::emptyOptional(ValueKind::kOptionalTensor, DType::kInt8)},
                    .opset = 16});
  ASSERT_TRUE(o.ok()) << o.status().toString();
  EXPECT_EQ(o->kind(), ValueKind::kOptionalTensor);
  EXPECT_FALSE(o->hasValue());
  auto early = runSeq1({.op = "Identity", .inputs = {s}, .opset = 13});
  EXPECT_NE(early.status().message().find("from opset 14"), std::string::npos) << early.status().toString();
  auto tensorIdentity = runSeq1({.op = "Identity", .inputs = {t}, .opset = 13});
  ASSERT_TRUE(tensorIdentity.ok());
  EXPECT_TRUE(sameTensor(tensorIdentity->tensor(), t));
}

TEST(Sequence, KindsAreChecked) {
  Tensor t = f32({1, 2}, {2});
  RuntimeValue s = seqOf({t});
  // A tensor op refuses a sequence; a sequence op refuses a tensor.
  auto add = runSeq1({.op = "Add", .inputs = {s, t}});
  EXPECT_NE(add.status().message().find("is seq(float32); this op takes tensors only"), std::string::npos)
      << add.status().toString();
  auto at = runSeq1({.op = "SequenceAt", .inputs = {t, i64(0)}});
  EXPECT_NE(at.status().message().find("must be a sequence, not float32"), std::string::npos) << at.status().toString();
  auto ins = runSeq1({.op = "SequenceInsert", .inputs = {s, s}});
  EXPECT_NE(ins.status().message().find("input 1 must be a tensor"), std::string::npos) << ins.status().toString();
  auto concat = runSeq1({.op = "SplitToSequence", .inputs = {s}});
  EXPECT_NE(concat.status().message().find("must be a tensor"), std::string::npos);
}

}  // namespace
}  // namespace kiln::testing
