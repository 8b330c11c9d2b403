// Indexing kernels against naive references at odd sizes (Gather*, Scatter*, NonZero, Compress,
// OneHot, Trilu, EyeLike, ReverseSequence), index range errors, and symbolic inference
// (Gather of shape values, data-dependent NonZero/Compress sizes).
#include <gtest/gtest.h>

#include <algorithm>

#include <onnx/onnx_pb.h>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "onnx/importer.h"
#include "op_test_util.h"

namespace kiln::testing {
namespace {

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

// Multi-index <-> linear offset helpers for the naive references.
Dims unravel(int64_t i, const Dims& d) {
  Dims c = Dims::filled(d.rank(), 0);
  for (int k = d.rank() - 1; k >= 0; --k) {
    c[k] = i % d[k];
    i /= d[k];
  }
  return c;
}
int64_t ravel(const Dims& c, const Dims& d) {
  int64_t o = 0;
  for (int k = 0; k < d.rank(); ++k) o = o * d[k] + c[k];
  return o;
}

Tensor randomIndices(DType t, const Dims& d, int64_t dim, std::mt19937& rng, bool negatives = true) {
  std::uniform_int_distribution<int64_t> u(negatives ? -dim : 0, dim - 1);
  Tensor x = Tensor::allocate(t, d);
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (t == DType::kInt32) x.data<int32_t>()[i] = static_cast<int32_t>(u(rng));
    else x.data<int64_t>()[i] = u(rng);
  }
  return x;
}

int64_t wrap(int64_t i, int64_t n) { return i < 0 ? i + n : i; }

void expectSame(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dims(), want.dims()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  EXPECT_EQ(maxAbsDiff(got, want), 0.0) << what;
}

TEST(Indexing, GatherMatchesNaiveOnEveryAxis) {
  std::mt19937 rng(11);
  for (DType dt : {DType::kFloat32, DType::kInt8, DType::kFloat16, DType::kInt64}) {
    for (int axis = -3; axis < 3; ++axis) {
      const Dims xd{5, 7, 3};
      const int a = axis < 0 ? axis + 3 : axis;
      Tensor x = randomTensor(dt, xd, rng, -50, 50);
      Tensor ind = randomIndices(axis % 2 ? DType::kInt32 : DType::kInt64, {2, 3}, xd[a], rng);
      auto r = runOp({.op = "Gather", .attrs = attrs({{"axis", int64_t{axis}}}), .inputs = {x, ind}});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      Dims od;
      for (int i = 0; i < a; ++i) od.push_back(xd[i]);
      od.push_back(2);
      od.push_back(3);
      for (int i = a + 1; i < 3; ++i) od.push_back(xd[i]);
      Tensor want = Tensor::allocate(dt, od);
      for (int64_t i = 0; i < want.numel(); ++i) {
        Dims c = unravel(i, od);
        Dims src;
        for (int k = 0; k < a; ++k) src.push_back(c[k]);
        int64_t j = c[a] * 3 + c[a + 1];
        src.push_back(wrap(ind.intAt(j), xd[a]));
        for (int k = a + 1; k < 3; ++k) src.push_back(c[k + 1]);
        std::memcpy(static_cast<char*>(want.raw()) + i * dtypeSize(dt),
                    static_cast<const char*>(x.raw()) + ravel(src, xd) * dtypeSize(dt), dtypeSize(dt));
      }
      expectSame((*r)[0], want, fmt::format("{} axis {}", dtypeName(dt), axis));
    }
  }
}

TEST(Indexing, GatherStringsAndScalarIndex) {
  Tensor x = Tensor::allocate(DType::kString, {3});
  x.data<std::string>()[0] = "a";
  x.data<std::string>()[1] = "bb";
  x.data<std::string>()[2] = "ccc";
  auto r = runOp({.op = "Gather", .inputs = {x, Tensor::scalar<int64_t>(-1)}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)[0].rank(), 0);
  EXPECT_EQ((*r)[0].data<std::string>()[0], "ccc");
}

TEST(Indexing, IndexOutOfRangeIsAnError) {
  std::mt19937 rng(2);
  Tensor x = randomTensor(DType::kFloat32, {4, 5}, rng);
  Tensor bad = Tensor::fromVector<int64_t>({0, 5}, {2});
  // At run time (indices are an input) ...
  auto r = runOp({.op = "Gather", .attrs = attrs({{"axis", int64_t{1}}}), .inputs = {x, bad}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("index 5 is out of range"), std::string::npos) << r.status().toString();
  // ... and at build time (constant indices).
  r = runOp({.op = "Gather", .attrs = attrs({{"axis", int64_t{1}}}), .inputs = {x, bad}, .constInputs = {false, true}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  Tensor neg = Tensor::fromVector<int64_t>({-5}, {1, 1});
  for (const char* op : {"GatherElements", "ScatterElements"}) {
    std::vector<Tensor> in = {x, neg};
    if (std::string(op) == "ScatterElements") in.push_back(randomTensor(DType::kFloat32, {1, 1}, rng));
    auto e = runOp({.op = op, .inputs = in});
    ASSERT_FALSE(e.ok()) << op;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << op;
  }
  auto e = runOp({.op = "GatherND", .inputs = {x, Tensor::fromVector<int64_t>({1, 7}, {1, 2})}});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  e = runOp({.op = "ScatterND", .inputs = {x, Tensor::fromVector<int64_t>({-6}, {1, 1}), randomTensor(DType::kFloat32, {1, 5}, rng)}});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
}

TEST(Indexing, BadAxisIsAnError) {
  std::mt19937 rng(3);
  Tensor x = randomTensor(DType::kFloat32, {4, 5}, rng);
  auto r = runOp({.op = "Gather", .attrs = attrs({{"axis", int64_t{2}}}), .inputs = {x, Tensor::scalar<int64_t>(0)}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("axis 2 is out of range"), std::string::npos) << r.status().toString();
  r = runOp({.op = "Gather", .inputs = {x, Tensor::scalar<float>(0)}});
  ASSERT_FALSE(r.ok());
}

TEST(Indexing, GatherPropagatesSymbolicShapeValues) {
  // Shape(x)[0] of x: [N, 3, W] is N; [-1, 0] gives [W, N].
  ir::Graph g;
  ir::Value* s = g.addInput("s", DType::kInt64, Shape{Dim(3)});
  s->setSymbolicValue(std::vector<Dim>{Dim::symbol("N"), Dim(3), Dim::symbol("W")});
  ir::Value* idx = g.addConstant("i", Tensor::fromVector<int64_t>({-1, 0}, {2}));
  ir::Value* one = g.addConstant("j", Tensor::scalar<int64_t>(1));
  const ir::OpDef* def = ir::OpRegistry::global().find("", "Gather");
  for (auto [ind, want] : {std::pair{idx, std::string("W,N")}, std::pair{one, std::string("3")}}) {
    AttrMap a;
    ASSERT_TRUE(ir::checkAndFillAttributes(*def, a).ok());
    ir::Node* n = g.addNode("Gather", "", 13, "g" + want, {s, ind}, {""}, a);
    g.setNodeDef(n, def);
    ASSERT_TRUE(ir::inferNode(g, *n).ok());
    const auto& sv = n->output(0)->symbolicValue();
    ASSERT_TRUE(sv.has_value());
    std::string got;
    for (const Dim& d : *sv) got += (got.empty() ? "" : ",") + d.toString();
    EXPECT_EQ(got, want);
  }
}

// An exported model's reshape target: Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]) gives
// [N, 3*H] for x: [N, 3, H] at build time.
TEST(Indexing, ShapeGatherUnsqueezeConcatReshapeResolves) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  auto* os = m.add_opset_import();
  os->set_version(17);
  auto* gp = m.mutable_graph();
  gp->set_name("g");
  auto* in = gp->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(::onnx::TensorProto::FLOAT);
  for (const char* d : {"N", "3", "H"}) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (std::isdigit(d[0])) dim->set_dim_value(std::atoi(d));
    else dim->set_dim_param(d);
  }
  auto ints = [&](const std::string& name, std::vector<int64_t> v, bool scalar) {
    auto* t = gp->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    if (!scalar) t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
  };
  ints("zero", {0}, true);
  ints("axes0", {0}, false);
  ints("minus1", {-1}, false);
  auto node = [&](const std::string& op, std::vector<std::string> ins, const std::string& out) {
    auto* n = gp->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + out);
    for (auto& i : ins) n->add_input(i);
    n->add_output(out);
    return n;
  };
  node("Shape", {"x"}, "s");
  node("Gather", {"s", "zero"}, "n");
  node("Unsqueeze", {"n", "axes0"}, "n1");
  auto* cat = node("Concat", {"n1", "minus1"}, "target");
  auto* a = cat->add_attribute();
  a->set_name("axis");
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(0);
  node("Reshape", {"x", "target"}, "y");
  gp->add_output()->set_name("y");
  std::string bytes;
  m.SerializeToString(&bytes);
  auto g = onnx_import::importModelBytes(bytes, "");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  EXPECT_EQ((*g)->outputs()[0]->shape().toString(), "[N,3*H]");
}

TEST(Indexing, GatherElementsMatchesNaive) {
  std::mt19937 rng(5);
  const Dims xd{4, 6, 5};
  for (int axis = 0; axis < 3; ++axis) {
    Tensor x = randomTensor(DType::kFloat64, xd, rng);
    Dims id{3, 5, 4};  // smaller than data on the other axes is allowed
    id[axis] = 7;
    Tensor ind = randomIndices(DType::kInt64, id, xd[axis], rng);
    auto r = runOp({.op = "GatherElements", .attrs = attrs({{"axis", int64_t{axis}}}), .inputs = {x, ind}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    Tensor want = Tensor::allocate(DType::kFloat64, id);
    for (int64_t i = 0; i < want.numel(); ++i) {
      Dims c = unravel(i, id);
      c[axis] = wrap(ind.intAt(i), xd[axis]);
      want.data<double>()[i] = x.data<double>()[ravel(c, xd)];
    }
    expectSame((*r)[0], want, fmt::format("axis {}", axis));
  }
}

TEST(Indexing, GatherNDWithBatchDimsMatchesNaive) {
  std::mt19937 rng(6);
  const Dims xd{3, 4, 5, 2};
  for (int b = 0; b < 2; ++b) {
    for (int64_t k = 1; k <= 4 - b; ++k) {
      Tensor x = randomTensor(DType::kInt32, xd, rng, -100, 100);
      Dims id;
      if (b) id.push_back(3);
      id.push_back(2);
      id.push_back(k);
      Tensor ind = Tensor::allocate(DType::kInt64, id);
      const int64_t tuples = ind.numel() / k;
      for (int64_t j = 0; j < tuples; ++j)
        for (int64_t t = 0; t < k; ++t) {
          std::uniform_int_distribution<int64_t> u(-xd[b + t], xd[b + t] - 1);
          ind.data<int64_t>()[j * k + t] = u(rng);
        }
      auto r = runOp({.op = "GatherND", .attrs = attrs({{"batch_dims", int64_t{b}}}), .inputs = {x, ind}});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      const Tensor& y = (*r)[0];
      int64_t slice = 1;
      for (int i = b + static_cast<int>(k); i < 4; ++i) slice *= xd[i];
      ASSERT_EQ(y.numel(), tuples * slice);
      for (int64_t j = 0; j < tuples; ++j) {
        Dims c = Dims::filled(4, 0);
        if (b) c[0] = j / 2;
        for (int64_t t = 0; t < k; ++t) c[b + t] = wrap(ind.data<int64_t>()[j * k + t], xd[b + t]);
        const int64_t base = ravel(c, xd);
        for (int64_t s = 0; s < slice; ++s)
          ASSERT_EQ(y.data<int32_t>()[j * slice + s], x.data<int32_t>()[base + s]) << "b=" << b << " k=" << k;
      }
    }
  }
}

TEST(Indexing, ScatterNDReductionsMatchNaive) {
  std::mt19937 rng(7);
  const Dims xd{5, 3, 4};
  for (const char* red : {"none", "add", "mul", "max", "min"}) {
    Tensor x = randomTensor(DType::kFloat32, xd, rng, -2, 2);
    // Two-element index tuples with duplicates (reductions accumulate in order).
    Tensor ind = Tensor::fromVector<int64_t>({0, 1, 4, 2, 0, 1, -1, 0, 2, 2}, {5, 2});
    Tensor upd = randomTensor(DType::kFloat32, {5, 4}, rng, -2, 2);
    if (std::string(red) == "none") ind = Tensor::fromVector<int64_t>({0, 1, 4, 2, 1, 1, -1, 0, 2, 2}, {5, 2});
    auto r = runOp({.op = "ScatterND", .attrs = attrs({{"reduction", red}}), .inputs = {x, ind, upd}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    Tensor want = x.clone();
    for (int j = 0; j < 5; ++j) {
      int64_t base = (wrap(ind.data<int64_t>()[2 * j], 5) * 3 + wrap(ind.data<int64_t>()[2 * j + 1], 3)) * 4;
      for (int i = 0; i < 4; ++i) {
        float& d = want.data<float>()[base + i];
        float u = upd.data<float>()[j * 4 + i];
        std::string rd = red;
        d = rd == "add" ? d + u : rd == "mul" ? d * u : rd == "max" ? std::max(d, u) : rd == "min" ? std::min(d, u) : u;
      }
    }
    expectSame((*r)[0], want, red);
  }
}

TEST(Indexing, ScatterElementsAndScatterMatchNaive) {
  std::mt19937 rng(8);
  const Dims xd{4, 5, 3};
  for (int axis = -1; axis < 3; ++axis) {
    for (const char* red : {"none", "add", "mul", "max", "min"}) {
      const int a = axis < 0 ? axis + 3 : axis;
      Dims id{3, 4, 2};
      Tensor x = randomTensor(DType::kInt64, xd, rng, -9, 9);
      Tensor ind = randomIndices(DType::kInt32, id, xd[a], rng);
      Tensor upd = randomTensor(DType::kInt64, id, rng, -9, 9);
      auto r = runOp({.op = "ScatterElements", .attrs = attrs({{"axis", int64_t{axis}}, {"reduction", red}}),
                      .inputs = {x, ind, upd}});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      Tensor want = x.clone();
      for (int64_t i = 0; i < ind.numel(); ++i) {
        Dims c = unravel(i, id);
        c[a] = wrap(ind.intAt(i), xd[a]);
        int64_t& d = want.data<int64_t>()[ravel(c, xd)];
        int64_t u = upd.data<int64_t>()[i];
        std::string rd = red;
        d = rd == "add" ? d + u : rd == "mul" ? d * u : rd == "max" ? std::max(d, u) : rd == "min" ? std::min(d, u) : u;
      }
      expectSame((*r)[0], want, fmt::format("axis {} {}", axis, red));
      if (std::string(red) == "none") {
        auto s = runOp({.op = "Scatter", .attrs = attrs({{"axis", int64_t{axis}}}), .inputs = {x, ind, upd}, .opset = 10});
        ASSERT_TRUE(s.ok()) << s.status().toString();
        expectSame((*s)[0], want, "Scatter");
      }
    }
  }
}

TEST(Indexing, NonZeroAndCompressHaveDataDependentShapes) {
  std::mt19937 rng(9);
  Tensor x = randomTensor(DType::kInt16, {3, 4, 5}, rng, -1, 1);  // about a third zeros
  auto r = runOp({.op = "NonZero", .inputs = {x}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  std::vector<int64_t> want;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (x.data<int16_t>()[i] != 0) want.push_back(i);
  const Tensor& y = (*r)[0];
  ASSERT_EQ(y.dims(), (Dims{3, static_cast<int64_t>(want.size())}));
  for (size_t j = 0; j < want.size(); ++j) {
    Dims c = unravel(want[j], x.dims());
    for (int a = 0; a < 3; ++a) EXPECT_EQ(y.data<int64_t>()[a * want.size() + j], c[a]);
  }

  // At build time the count is a fresh symbol.
  ir::Graph g;
  ir::Value* in = g.addInput("x", DType::kFloat32, Shape{Dim::symbol("N"), Dim(4)});
  const ir::OpDef* def = ir::OpRegistry::global().find("", "NonZero");
  ir::Node* n = g.addNode("NonZero", "", 13, "nz", {in}, {""}, {});
  g.setNodeDef(n, def);
  ASSERT_TRUE(ir::inferNode(g, *n).ok());
  const Shape& s = n->output(0)->shape();
  ASSERT_EQ(s.rank(), 2);
  EXPECT_EQ(s[0].value(), 2);
  EXPECT_TRUE(s[1].isSymbolic());

  // Compress along each axis (condition shorter than the axis) and flattened.
  Tensor d = randomTensor(DType::kFloat32, {4, 3, 5}, rng);
  Tensor cond = Tensor::fromVector<bool>({true, false, true}, {3});
  for (int axis = 0; axis < 3; ++axis) {
    auto c = runOp({.op = "Compress", .attrs = attrs({{"axis", int64_t{axis}}}), .inputs = {d, cond}});
    ASSERT_TRUE(c.ok()) << c.status().toString();
    Dims od = d.dims();
    od[axis] = 2;
    Tensor w = Tensor::allocate(DType::kFloat32, od);
    for (int64_t i = 0; i < w.numel(); ++i) {
      Dims cc = unravel(i, od);
      cc[axis] = cc[axis] == 0 ? 0 : 2;
      w.data<float>()[i] = d.data<float>()[ravel(cc, d.dims())];
    }
    expectSame((*c)[0], w, fmt::format("Compress axis {}", axis));
  }
  auto flat = runOp({.op = "Compress", .inputs = {d, cond}});
  ASSERT_TRUE(flat.ok());
  ASSERT_EQ((*flat)[0].dims(), Dims{2});
  EXPECT_EQ((*flat)[0].data<float>()[1], d.data<float>()[2]);
  auto bad = runOp({.op = "Compress", .attrs = attrs({{"axis", int64_t{1}}}),
                    .inputs = {d, Tensor::fromVector<bool>({false, false, false, true}, {4})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(Indexing, OneHotMatchesNaive) {
  Tensor ind = Tensor::fromVector<float>({0, 2.7f, -1, 3, -5, 1}, {2, 3});  // 3 and -5 are out of range
  Tensor vals = Tensor::fromVector<int32_t>({-2, 7}, {2});
  for (int axis = -3; axis <= 2; ++axis) {
    auto r = runOp({.op = "OneHot", .attrs = attrs({{"axis", int64_t{axis}}}),
                    .inputs = {ind, Tensor::scalar<int64_t>(3), vals}, .constInputs = {false, true, false}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    const int a = axis < 0 ? axis + 3 : axis;
    Dims od{2, 3};
    od.insert(a, 3);
    ASSERT_EQ((*r)[0].dims(), od);
    for (int64_t i = 0; i < (*r)[0].numel(); ++i) {
      Dims c = unravel(i, od);
      const int64_t d = c[a];
      c.erase(a);
      int64_t v = static_cast<int64_t>(ind.data<float>()[ravel(c, Dims{2, 3})]);
      if (v < 0) v += 3;
      EXPECT_EQ((*r)[0].data<int32_t>()[i], v == d ? 7 : -2) << "axis " << axis << " at " << i;
    }
  }
  auto bad = runOp({.op = "OneHot", .attrs = attrs({{"axis", int64_t{3}}}), .inputs = {ind, Tensor::scalar<int64_t>(3), vals}});
  ASSERT_FALSE(bad.ok());
}

TEST(Indexing, TriluAndEyeLikeMatchNaive) {
  std::mt19937 rng(10);
  Tensor x = randomTensor(DType::kBFloat16, {2, 5, 7}, rng, 1, 5);
  for (int upper = 0; upper < 2; ++upper)
    for (int64_t k : {-6, -2, 0, 1, 3, 9}) {
      auto r = runOp({.op = "Trilu", .attrs = attrs({{"upper", int64_t{upper}}}), .inputs = {x, Tensor::scalar<int64_t>(k)}});
      ASSERT_TRUE(r.ok()) << r.status().toString();
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t row = (i / 7) % 5, col = i % 7;
        const bool keep = upper ? col - row >= k : col - row <= k;
        EXPECT_EQ((*r)[0].doubleAt(i), keep ? x.doubleAt(i) : 0.0) << upper << " k=" << k;
      }
    }
  for (int64_t k : {-4, 0, 2, 6}) {
    auto r = runOp({.op = "EyeLike", .attrs = attrs({{"k", k}, {"dtype", int64_t{static_cast<int>(DType::kInt16)}}}),
                    .inputs = {randomTensor(DType::kFloat32, {4, 6}, rng)}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    ASSERT_EQ((*r)[0].dtype(), DType::kInt16);
    for (int64_t i = 0; i < 24; ++i) EXPECT_EQ((*r)[0].data<int16_t>()[i], (i % 6) - (i / 6) == k ? 1 : 0);
  }
  auto bad = runOp({.op = "Trilu", .inputs = {randomTensor(DType::kFloat32, {5}, rng)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(Indexing, ReverseSequenceMatchesNaive) {
  std::mt19937 rng(12);
  for (int batchAxis = 0; batchAxis < 2; ++batchAxis) {
    Dims xd = batchAxis == 0 ? Dims{3, 6, 2} : Dims{6, 3, 2};
    Tensor x = randomTensor(DType::kUInt8, xd, rng, 0, 200);
    Tensor lens = Tensor::fromVector<int64_t>({6, 0, 4}, {3});
    auto r = runOp({.op = "ReverseSequence", .attrs = attrs({{"batch_axis", int64_t{batchAxis}}, {"time_axis", int64_t{1 - batchAxis}}}),
                    .inputs = {x, lens}});
    ASSERT_TRUE(r.ok()) << r.status().toString();
    for (int64_t i = 0; i < x.numel(); ++i) {
      Dims c = unravel(i, xd);
      const int64_t b = c[batchAxis], t = c[1 - batchAxis], L = lens.data<int64_t>()[b];
      Dims s = c;
      if (t < L) s[1 - batchAxis] = L - 1 - t;
      EXPECT_EQ((*r)[0].data<uint8_t>()[i], x.data<uint8_t>()[ravel(s, xd)]);
    }
  }
  auto bad = runOp({.op = "ReverseSequence", .inputs = {randomTensor(DType::kFloat32, {4, 2}, rng),
                                                        Tensor::fromVector<int64_t>({5, 1}, {2})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::testing
