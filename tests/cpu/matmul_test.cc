// MatMul-family kernels against naive loops written here: MatMul (batched broadcasting, 1-D
// operands, every dtype, sizes that cross the blocked GEMM's tiles), Gemm (transposes, alpha/beta,
// every C broadcast), MatMulInteger, QLinearMatMul, Einsum; plus errors and symbolic inference.
#include <gtest/gtest.h>

#include <cmath>

#include <onnx/onnx_pb.h>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "onnx/importer.h"
#include "onnx/tensor_proto.h"
#include "op_test_util.h"
#include "runtime/interpreter.h"

namespace kiln::testing {
namespace {

Dims unravel(int64_t i, const Dims& d) {
  Dims c = Dims::filled(d.rank(), 0);
  for (int k = d.rank() - 1; k >= 0; --k) {
    c[k] = i % d[k];
    i /= d[k];
  }
  return c;
}

// numpy matmul, in double (integers wrap like int64 then are compared after the kernel's wrap).
Tensor naiveMatMul(const Tensor& a, const Tensor& b) {
  Dims ad = a.dims(), bd = b.dims();
  const bool a1 = ad.rank() == 1, b1 = bd.rank() == 1;
  if (a1) ad.insert(0, 1);
  if (b1) bd.push_back(1);
  const int r = std::max(ad.rank(), bd.rank());
  while (ad.rank() < r) ad.insert(0, 1);
  while (bd.rank() < r) bd.insert(0, 1);
  const int64_t M = ad[r - 2], K = ad[r - 1], N = bd[r - 1];
  Dims yd;
  for (int i = 0; i < r - 2; ++i) yd.push_back(std::max(ad[i], bd[i]));
  Dims batch = yd;
  if (!a1) yd.push_back(M);
  if (!b1) yd.push_back(N);
  Tensor y = Tensor::allocate(DType::kFloat64, yd);
  const Tensor af = a.reshaped(ad), bf = b.reshaped(bd);
  for (int64_t t = 0; t < batch.numel(); ++t) {
    Dims c = unravel(t, batch);
    int64_t oa = 0, ob = 0;
    for (int i = 0; i < r - 2; ++i) {
      oa = oa * ad[i] + (ad[i] == 1 ? 0 : c[i]);
      ob = ob * bd[i] + (bd[i] == 1 ? 0 : c[i]);
    }
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += af.doubleAt(oa * M * K + i * K + k) * bf.doubleAt(ob * K * N + k * N + j);
        y.data<double>()[(t * M + i) * N + j] = acc;
      }
  }
  return y;
}

TEST(MatMul, BroadcastAndOneDMatchNaive) {
  std::mt19937 rng(31);
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{5, 7}, {7, 3}},         {{7}, {7, 3}},           {{5, 7}, {7}},          {{7}, {7}},
      {{2, 5, 7}, {7, 3}},      {{7}, {4, 7, 3}},        {{2, 1, 5, 7}, {3, 7, 4}}, {{3, 5, 7}, {3, 7, 2}},
      {{1, 5, 7}, {6, 7, 2}},   {{2, 3, 1, 4}, {1, 4, 5}}, {{4, 5, 7}, {7}},     {{2, 1, 3}, {2, 3, 9}}};
  for (const auto& [da, db] : cases) {
    for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt32,
                    DType::kInt64, DType::kUInt32, DType::kUInt64}) {
      const bool u = t == DType::kUInt32 || t == DType::kUInt64;
      Tensor a = randomTensor(t, da, rng, u ? 0 : -9, 9), b = randomTensor(t, db, rng, u ? 0 : -9, 9);
      auto r = runOp({.op = "MatMul", .inputs = {a, b}});
      ASSERT_TRUE(r.ok()) << da.toString() << " x " << db.toString() << ": " << r.status().toString();
      Tensor want = naiveMatMul(a, b);
      ASSERT_EQ((*r)[0].dims(), want.dims()) << da.toString() << " x " << db.toString();
      ASSERT_EQ((*r)[0].dtype(), t);
      const double tol = t == DType::kFloat16 ? 3e-3 : t == DType::kBFloat16 ? 1e-2 : t == DType::kFloat32 ? 1e-6 : 0;
      EXPECT_LE(relativeL2((*r)[0], want), tol) << dtypeName(t) << " " << da.toString() << " x " << db.toString();
    }
  }
}

TEST(MatMul, LargeSizesCrossGemmTiles) {
  std::mt19937 rng(32);
  // M, N, K around the blocked GEMM's tile sizes (96 x 512 x 256) and its micro-tile edges.
  for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{{97, 517, 261}, {200, 33, 600}, {7, 1100, 13}, {1, 300, 300}}) {
    for (DType t : {DType::kFloat32, DType::kFloat64, DType::kInt32}) {
      Tensor a = randomTensor(t, {m, k}, rng, -4, 4), b = randomTensor(t, {k, n}, rng, -4, 4);
      auto r = runOp({.op = "MatMul", .inputs = {a, b}}, "cpu_ref_MatMul");
      ASSERT_TRUE(r.ok()) << r.status().toString();
      EXPECT_LE(relativeL2((*r)[0], naiveMatMul(a, b)), t == DType::kFloat32 ? 1e-6 : 1e-13)
          << m << "x" << n << "x" << k << " " << dtypeName(t);
    }
  }
  // Many small batched products (the parallel-over-batch path).
  Tensor a = randomTensor(DType::kFloat32, {3, 37, 9, 17}, rng), b = randomTensor(DType::kFloat32, {37, 17, 11}, rng);
  auto r = runOp({.op = "MatMul", .inputs = {a, b}}, "cpu_ref_MatMul");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_LE(relativeL2((*r)[0], naiveMatMul(a, b)), 1e-6);
}

TEST(MatMul, IntegerOverflowWraps) {
  Tensor a = Tensor::fromVector<int32_t>({2147483647, 2}, {1, 2}), b = Tensor::fromVector<int32_t>({2, 1}, {2, 1});
  auto r = runOp({.op = "MatMul", .inputs = {a, b}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data<int32_t>()[0], static_cast<int32_t>(static_cast<uint32_t>(2147483647u) * 2u + 2u));
}

void expectError(const OpSpec& s, StatusCode code, const std::string& text) {
  auto r = runOp(s);
  ASSERT_FALSE(r.ok()) << "expected an error mentioning '" << text << "'";
  EXPECT_EQ(r.status().code(), code) << r.status().toString();
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().toString();
}

TEST(MatMul, ErrorsNameTheProblem) {
  std::mt19937 rng(33);
  auto t = [&](Dims d, DType dt = DType::kFloat32) { return randomTensor(dt, d, rng); };
  expectError({.op = "MatMul", .inputs = {t({3, 4}), t({5, 2})}}, StatusCode::kInvalidArgument, "inner dimensions");
  expectError({.op = "MatMul", .inputs = {t({2, 3, 4}), t({3, 4, 2})}}, StatusCode::kInvalidArgument, "cannot be broadcast");
  expectError({.op = "MatMul", .inputs = {t({3, 4}), t({4, 2}, DType::kFloat64)}}, StatusCode::kInvalidArgument,
              "same type");
  expectError({.op = "MatMul", .inputs = {t({3, 4}, DType::kInt8), t({4, 2}, DType::kInt8)}}, StatusCode::kUnsupported,
              "int8");
  expectError({.op = "Gemm", .inputs = {t({3, 4}), t({4, 2}), t({3, 3})}}, StatusCode::kInvalidArgument, "C of shape");
  expectError({.op = "Gemm", .inputs = {t({2, 3, 4}), t({4, 2})}}, StatusCode::kInvalidArgument, "A must be 2-D");
  expectError({.op = "Gemm", .inputs = {t({3, 4}), t({3, 2})}}, StatusCode::kInvalidArgument, "inner dimensions");
}

// ---- Gemm -----------------------------------------------------------------------------------

TEST(Gemm, AttributesAndBiasShapesMatchNaive) {
  std::mt19937 rng(34);
  const int64_t M = 13, N = 9, K = 22;
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt32, DType::kInt64})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (const Dims& cd : std::vector<Dims>{{}, {1}, {N}, {1, N}, {M, 1}, {M, N}, Dims{-1}})
          for (auto [alpha, beta] : std::vector<std::pair<float, float>>{{1.f, 1.f}, {0.5f, 2.f}, {-1.f, 0.f}}) {
            const bool ints = t == DType::kInt32 || t == DType::kInt64;
            if (ints && (alpha != 1.f || beta != 1.f)) continue;
            const bool noC = cd.rank() == 1 && cd[0] == -1;
            Tensor a = randomTensor(t, ta ? Dims{K, M} : Dims{M, K}, rng, -5, 5);
            Tensor b = randomTensor(t, tb ? Dims{N, K} : Dims{K, N}, rng, -5, 5);
            Tensor c = noC ? Tensor() : randomTensor(t, cd, rng, -5, 5);
            OpSpec s{.op = "Gemm", .inputs = {a, b}};
            if (!noC) s.inputs.push_back(c);
            s.attrs.set("transA", AttrValue(int64_t{ta}));
            s.attrs.set("transB", AttrValue(int64_t{tb}));
            s.attrs.set("alpha", AttrValue(alpha));
            s.attrs.set("beta", AttrValue(beta));
            auto r = runOp(s);
            ASSERT_TRUE(r.ok()) << r.status().toString();
            Tensor want = Tensor::allocate(DType::kFloat64, {M, N});
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) {
                double acc = 0;
                for (int64_t k = 0; k < K; ++k)
                  acc += a.doubleAt(ta ? k * M + i : i * K + k) * b.doubleAt(tb ? j * K + k : k * N + j);
                double cv = 0;
                if (!noC) {
                  const int64_t ci = cd.rank() == 2 ? (cd[0] == 1 ? 0 : i) * cd[1] + (cd[1] == 1 ? 0 : j)
                                     : cd.rank() == 1 ? (cd[0] == 1 ? 0 : j) : 0;
                  cv = c.doubleAt(ci);
                }
                want.data<double>()[i * N + j] = alpha * acc + beta * cv;
              }
            EXPECT_LE(relativeL2((*r)[0], want), t == DType::kFloat16 ? 3e-3 : ints ? 0 : 1e-6)
                << dtypeName(t) << " transA=" << ta << " transB=" << tb << " C=" << cd.toString();
          }
}

TEST(Gemm, OpsetSixBroadcastAttributeIsDropped) {
  std::mt19937 rng(39);
  Tensor a = randomTensor(DType::kFloat32, {2, 3}, rng), b = randomTensor(DType::kFloat32, {3, 4}, rng),
         c = randomTensor(DType::kFloat32, {4}, rng);
  ::onnx::ModelProto m;
  m.set_ir_version(3);
  m.add_opset_import()->set_version(6);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* in = g->add_input();
  in->set_name("a");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : a.dims()) tt->mutable_shape()->add_dim()->set_dim_value(d);
  onnx_import::tensorToProto(b, "b", g->add_initializer());
  onnx_import::tensorToProto(c, "c", g->add_initializer());
  auto* n = g->add_node();
  n->set_op_type("Gemm");
  for (const char* i : {"a", "b", "c"}) n->add_input(i);
  n->add_output("y");
  auto* br = n->add_attribute();
  br->set_name("broadcast");
  br->set_type(::onnx::AttributeProto::INT);
  br->set_i(1);
  g->add_output()->set_name("y");
  auto graph = onnx_import::importModel(m, "");
  ASSERT_TRUE(graph.ok()) << graph.status().toString();
  EXPECT_FALSE(graph->get()->nodes()[0]->attrs().has("broadcast"));
  std::shared_ptr<const ir::Graph> shared(std::move(graph).value());
  auto interp = runtime::Interpreter::create(shared);
  ASSERT_TRUE(interp.ok()) << interp.status().toString();
  std::vector<runtime::NamedTensor> out;
  ASSERT_TRUE((*interp)->run({{"a", a}}, &out).ok());
  auto want = runOp({.op = "Gemm", .inputs = {a, b, c}});
  ASSERT_TRUE(want.ok());
  EXPECT_LE(relativeL2(out[0].tensor, (*want)[0]), 1e-7);
}

// ---- 8-bit ----------------------------------------------------------------------------------

TEST(MatMulInteger, ZeroPointsPerTensorRowAndColumn) {
  std::mt19937 rng(35);
  for (DType at : {DType::kUInt8, DType::kInt8})
    for (DType bt : {DType::kUInt8, DType::kInt8})
      for (int mode = 0; mode < 3; ++mode) {
        const double alo = at == DType::kUInt8 ? 0 : -128, blo = bt == DType::kUInt8 ? 0 : -128;
        Tensor a = randomTensor(at, {2, 5, 11}, rng, alo, alo + 255), b = randomTensor(bt, {11, 7}, rng, blo, blo + 255);
        Tensor azp = randomTensor(at, mode == 1 ? Dims{5} : Dims{}, rng, alo, alo + 255);
        Tensor bzp = randomTensor(bt, mode == 1 ? Dims{7} : Dims{}, rng, blo, blo + 255);
        OpSpec s{.op = "MatMulInteger", .inputs = {a, b}};
        if (mode > 0) s.inputs = {a, b, azp, bzp};
        auto r = runOp(s);
        ASSERT_TRUE(r.ok()) << r.status().toString();
        const Tensor& y = (*r)[0];
        ASSERT_EQ(y.dtype(), DType::kInt32);
        for (int64_t e = 0; e < y.numel(); ++e) {
          const int64_t bi = e / 35, i = e / 7 % 5, j = e % 7;
          int64_t acc = 0;
          for (int64_t k = 0; k < 11; ++k) {
            const int64_t av = a.intAt((bi * 5 + i) * 11 + k) - (mode ? azp.intAt(azp.numel() == 1 ? 0 : i) : 0);
            const int64_t bv = b.intAt(k * 7 + j) - (mode ? bzp.intAt(bzp.numel() == 1 ? 0 : j) : 0);
            acc += av * bv;
          }
          ASSERT_EQ(y.data<int32_t>()[e], acc) << e;
        }
      }
}

TEST(QLinearMatMul, RequantizesLikeTheReference) {
  std::mt19937 rng(36);
  Tensor a = randomTensor(DType::kUInt8, {3, 4, 6}, rng, 0, 255), b = randomTensor(DType::kInt8, {6, 5}, rng, -127, 127);
  Tensor as = Tensor::fromVector<float>({0.02f, 0.03f, 0.01f, 0.05f}, {4});
  Tensor bs = Tensor::fromVector<float>({0.01f, 0.02f, 0.04f, 0.03f, 0.05f}, {5});
  OpSpec s{.op = "QLinearMatMul",
           .inputs = {a, as, Tensor::scalar<uint8_t>(120), b, bs, Tensor::scalar<int8_t>(3), Tensor::scalar<float>(0.2f),
                      Tensor::scalar<int8_t>(-5)}};
  auto r = runOp(s);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const Tensor& y = (*r)[0];
  ASSERT_EQ(y.dtype(), DType::kInt8);
  ASSERT_EQ(y.dims(), (Dims{3, 4, 5}));
  for (int64_t e = 0; e < y.numel(); ++e) {
    const int64_t bi = e / 20, i = e / 5 % 4, j = e % 5;
    int64_t acc = 0;
    for (int64_t k = 0; k < 6; ++k) acc += (a.intAt((bi * 4 + i) * 6 + k) - 120) * (b.intAt(k * 5 + j) - 3);
    const float f = as.data<float>()[i] * bs.data<float>()[j] / 0.2f;
    const double v = std::min(127.0, std::max(-128.0, std::nearbyint(static_cast<double>(acc) * f - 5)));
    ASSERT_EQ(y.data<int8_t>()[e], static_cast<int8_t>(v)) << e;
  }
  OpSpec bad = s;
  bad.inputs[1] = Tensor::fromVector<float>({0.1f, 0.2f, 0.3f}, {3});
  expectError(bad, StatusCode::kInvalidArgument, "a_scale has 3 values");
}

// ---- Einsum ---------------------------------------------------------------------------------

struct EinsumCase {
  std::string eq;
  std::vector<Dims> in;
  Dims out;
  // want(out index coords, inputs) -> value
  std::function<double(const Dims&, const std::vector<Tensor>&)> f;
};

TEST(Einsum, EquationsMatchNaive) {
  std::mt19937 rng(37);
  auto at = [](const Tensor& t, std::initializer_list<int64_t> c) {
    int64_t o = 0, k = 0;
    for (int64_t v : c) o = o * t.dims()[k++] + v;
    return t.doubleAt(o);
  };
  const std::vector<EinsumCase> cases = {
      {"ij,jk->ik", {{3, 4}, {4, 5}}, {3, 5},
       [&](const Dims& o, const std::vector<Tensor>& t) {
         double s = 0;
         for (int64_t j = 0; j < 4; ++j) s += at(t[0], {o[0], j}) * at(t[1], {j, o[1]});
         return s;
       }},
      {"bij, bjk", {{2, 3, 4}, {2, 4, 5}}, {3, 5},  // implicit: 'ik' (b and j appear twice: summed)
       [&](const Dims& o, const std::vector<Tensor>& t) {
         double s = 0;
         for (int64_t b = 0; b < 2; ++b)
           for (int64_t j = 0; j < 4; ++j) s += at(t[0], {b, o[0], j}) * at(t[1], {b, j, o[1]});
         return s;
       }},
      {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}, {2, 3, 5},
       [&](const Dims& o, const std::vector<Tensor>& t) {
         double s = 0;
         for (int64_t j = 0; j < 4; ++j) s += at(t[0], {o[0], o[1], j}) * at(t[1], {o[0], j, o[2]});
         return s;
       }},
      {"ii->i", {{4, 4}}, {4}, [&](const Dims& o, const std::vector<Tensor>& t) { return at(t[0], {o[0], o[0]}); }},
      {"ii", {{5, 5}}, {},
       [&](const Dims&, const std::vector<Tensor>& t) {
         double s = 0;
         for (int64_t i = 0; i < 5; ++i) s += at(t[0], {i, i});
         return s;
       }},
      {"ba", {{3, 4}}, {4, 3}, [&](const Dims& o, const std::vector<Tensor>& t) { return at(t[0], {o[1], o[0]}); }},
      {"Ba", {{3, 4}}, {3, 4}, [&](const Dims& o, const std::vector<Tensor>& t) { return at(t[0], {o[0], o[1]}); }},
      {"...ij,...jk->...ik", {{2, 1, 3, 4}, {5, 4, 2}}, {2, 5, 3, 2},
       [&](const Dims& o, const std::vector<Tensor>& t) {
         double s = 0;
         for (int64_t j = 0; j < 4; ++j) s += at(t[0], {o[0], 0, o[2], j}) * at(t[1], {o[1], j, o[3]});
         return s;
       }},
      {"i...->...", {{3, 2, 4}}, {2, 4},
       [&](const Dims& o, const std::vector<Tensor>& t) {
         double s = 0;
         for (int64_t i = 0; i < 3; ++i) s += at(t[0], {i, o[0], o[1]});
         return s;
       }},
      {"bii,bj->bij", {{2, 3, 3}, {2, 4}}, {2, 3, 4},
       [&](const Dims& o, const std::vector<Tensor>& t) { return at(t[0], {o[0], o[1], o[1]}) * at(t[1], {o[0], o[2]}); }},
      {"i,i", {{6}, {6}}, {},
       [&](const Dims&, const std::vector<Tensor>& t) {
         double s = 0;
         for (int64_t i = 0; i < 6; ++i) s += at(t[0], {i}) * at(t[1], {i});
         return s;
       }},
      {"ij,jk,kl->il", {{2, 3}, {3, 4}, {4, 2}}, {2, 2},
       [&](const Dims& o, const std::vector<Tensor>& t) {
         double s = 0;
         for (int64_t j = 0; j < 3; ++j)
           for (int64_t k = 0; k < 4; ++k) s += at(t[0], {o[0], j}) * at(t[1], {j, k}) * at(t[2], {k, o[1]});
         return s;
       }},
      {"ij->", {{3, 4}}, {},
       [&](const Dims&, const std::vector<Tensor>& t) {
         double s = 0;
         for (int64_t i = 0; i < 12; ++i) s += t[0].doubleAt(i);
         return s;
       }},
  };
  for (const EinsumCase& c : cases) {
    for (DType t : {DType::kFloat32, DType::kFloat64, DType::kInt32, DType::kInt64, DType::kUInt8}) {
      std::vector<Tensor> ins;
      for (const Dims& d : c.in) ins.push_back(randomTensor(t, d, rng, t == DType::kUInt8 ? 0 : -3, 3));
      OpSpec s{.op = "Einsum", .inputs = ins};
      s.attrs.set("equation", AttrValue(c.eq));
      auto r = runOp(s);
      ASSERT_TRUE(r.ok()) << c.eq << ": " << r.status().toString();
      const Tensor& y = (*r)[0];
      ASSERT_EQ(y.dims(), c.out) << c.eq;
      for (int64_t e = 0; e < y.numel(); ++e) {
        double want = c.f(unravel(e, c.out), ins);
        if (t == DType::kUInt8) want = static_cast<double>(static_cast<uint8_t>(static_cast<int64_t>(want)));
        EXPECT_NEAR(y.doubleAt(e), want, t == DType::kFloat32 ? 1e-4 : 0) << c.eq << " " << dtypeName(t) << " @" << e;
      }
    }
  }
}

TEST(Einsum, ErrorsNameTheProblem) {
  std::mt19937 rng(38);
  auto spec = [&](const char* eq, std::vector<Dims> dims) {
    OpSpec s{.op = "Einsum"};
    for (const Dims& d : dims) s.inputs.push_back(randomTensor(DType::kFloat32, d, rng));
    s.attrs.set("equation", AttrValue(eq));
    return s;
  };
  expectError(spec("ij,jk->ik", {{2, 3}}), StatusCode::kInvalidArgument, "has 2 operands");
  expectError(spec("ij,jk->ik", {{2, 3}, {4, 5}}), StatusCode::kInvalidArgument, "label 'j'");
  expectError(spec("ij->ik", {{2, 3}}), StatusCode::kInvalidArgument, "'k' does not appear");
  expectError(spec("ij->ii", {{2, 3}}), StatusCode::kInvalidArgument, "repeats");
  expectError(spec("ij", {{2, 3, 4}}), StatusCode::kInvalidArgument, "need rank 2");
  expectError(spec("i1->i", {{2, 3}}), StatusCode::kInvalidArgument, "unexpected character");
  expectError(spec("...ij->ij", {{5, 2, 3}}), StatusCode::kInvalidArgument, "no '...'");
  expectError(spec("i..j", {{2, 3}}), StatusCode::kInvalidArgument, "ellipsis");
}

TEST(MatMulFamily, SymbolicInference) {
  using namespace kiln::ir;
  Graph g;
  const Dim B = Dim::symbol("B"), S = Dim::symbol("S");
  Value* x = g.addInput("x", DType::kFloat32, Shape{B, S, Dim(768)});
  Value* w = g.addInput("w", DType::kFloat32, Shape{Dim(768), Dim(3072)});
  Value* h = g.addInput("h", DType::kFloat32, Shape{B, Dim(12), S, Dim(64)});
  auto infer = [&](const char* op, std::vector<Value*> ins, AttrMap a, int opset = 21) {
    const OpDef* def = OpRegistry::global().find("", op);
    EXPECT_TRUE(checkAndFillAttributes(*def, a).ok());
    static int count = 0;
    const std::string id = fmt::format("n{}", count++);
    Node* n = g.addNode(op, "", opset, id, ins, {id + "_y"}, a);
    g.setNodeDef(n, def);
    Status st = inferNode(g, *n);
    EXPECT_TRUE(st.ok()) << st.toString();
    return n->output(0)->shape();
  };
  EXPECT_EQ(infer("MatMul", {x, w}, {}), (Shape{B, S, Dim(3072)}));
  // Q x K^T per head: [B,12,S,64] x [B,12,64,S] -> [B,12,S,S].
  AttrMap e;
  e.set("equation", AttrValue("bhqd,bhkd->bhqk"));
  EXPECT_EQ(infer("Einsum", {h, h}, e, 12), (Shape{B, Dim(12), S, S}));
  AttrMap e2;
  e2.set("equation", AttrValue("...d,df"));
  EXPECT_EQ(infer("Einsum", {x, w}, e2, 12), (Shape{B, S, Dim(3072)}));
  Value* a2 = g.addInput("a2", DType::kFloat32, Shape{Dim::symbol("M"), Dim(5)});
  AttrMap t;
  t.set("transB", AttrValue(int64_t{1}));
  Value* b2 = g.addInput("b2", DType::kFloat32, Shape{Dim(7), Dim(5)});
  EXPECT_EQ(infer("Gemm", {a2, b2}, t, 13), (Shape{Dim::symbol("M"), Dim(7)}));
}

}  // namespace
}  // namespace kiln::testing
