// ConvPool kernels against naive loops written here: Conv / ConvTranspose (1-D/2-D/3-D, groups,
// strides, dilations, asymmetric and automatic padding, bias, every float dtype), ConvInteger,
// QLinearConv, the pooling ops (ceil_mode, count_include_pad, dilations, Indices and
// storage_order), MaxUnpool; plus error reporting and symbolic shape inference.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <onnx/onnx_pb.h>

#include "ir/graph.h"
#include "ir/infer.h"
#include "ir/op_registry.h"
#include "onnx/importer.h"
#include "op_test_util.h"
#include "runtime/interpreter.h"

namespace kiln::testing {
namespace {

AttrMap attrs(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  AttrMap a;
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}
AttrValue ints(std::vector<int64_t> v) { return AttrValue(std::move(v)); }

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

// Spatial attributes of one test case, with the output sizes and begin paddings it implies.
struct Geo {
  Dims k, s, d, pb, pe;
  std::string autoPad = "NOTSET";
  bool ceil = false;
  Dims outFor(const Dims& in) const {
    Dims o;
    for (int i = 0; i < in.rank(); ++i) {
      const int64_t ek = (k[i] - 1) * d[i] + 1;
      if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") o.push_back((in[i] + s[i] - 1) / s[i]);
      else if (autoPad == "VALID") o.push_back((in[i] - ek) / s[i] + 1);
      else {
        const int64_t span = in[i] + pb[i] + pe[i] - ek;
        int64_t v = (ceil ? (span + s[i] - 1) / s[i] : span / s[i]) + 1;
        if (ceil && (v - 1) * s[i] >= in[i] + pb[i]) --v;
        o.push_back(v);
      }
    }
    return o;
  }
  // Effective begin/end padding for output `out`.
  void padsFor(const Dims& in, const Dims& out, Dims* b, Dims* e) const {
    *b = pb;
    *e = pe;
    for (int i = 0; i < in.rank(); ++i) {
      const int64_t ek = (k[i] - 1) * d[i] + 1;
      if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
        const int64_t total = std::max<int64_t>(0, (out[i] - 1) * s[i] + ek - in[i]);
        (*b)[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
        (*e)[i] = total - (*b)[i];
      } else if (autoPad == "VALID") {
        (*b)[i] = (*e)[i] = 0;
      }
    }
  }
  void addAttrs(AttrMap& a, bool withKernel) const {
    if (withKernel) a.set("kernel_shape", ints(k.vec()));
    a.set("strides", ints(s.vec()));
    a.set("dilations", ints(d.vec()));
    a.set("auto_pad", AttrValue(autoPad));
    if (autoPad == "NOTSET") {
      std::vector<int64_t> p = pb.vec();
      for (int64_t v : pe) p.push_back(v);
      a.set("pads", ints(p));
    }
  }
};

Geo geo(int n, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, std::string autoPad = "NOTSET") {
  Geo g{Dims::filled(n, k), Dims::filled(n, s), Dims::filled(n, d), Dims::filled(n, pb), Dims::filled(n, pe)};
  g.autoPad = std::move(autoPad);
  return g;
}

Dims spatial(const Dims& d) { return Dims(d.begin() + 2, d.end()); }
Dims withNC(int64_t n, int64_t c, const Dims& sp) {
  Dims d{n, c};
  for (int64_t v : sp) d.push_back(v);
  return d;
}

// Direct convolution in double.
Tensor naiveConv(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group, const Geo& g) {
  const Dims xs = x.dims(), ws = w.dims();
  const Dims in = spatial(xs), out = g.outFor(in);
  Dims pb, pe;
  g.padsFor(in, out, &pb, &pe);
  const int64_t M = ws[0], cg = ws[1], mg = M / group;
  Tensor y = Tensor::allocate(DType::kFloat64, withNC(xs[0], M, out));
  const Dims kd = spatial(ws);
  for (int64_t i = 0; i < y.numel(); ++i) {
    Dims c = unravel(i, y.dims());
    const int64_t n = c[0], m = c[1], gi = m / mg;
    double acc = b ? b->doubleAt(m) : 0.0;
    for (int64_t ci = 0; ci < cg; ++ci)
      for (int64_t t = 0; t < kd.numel(); ++t) {
        Dims kk = unravel(t, kd);
        Dims pos = Dims::filled(in.rank(), 0);
        bool ok = true;
        for (int a = 0; a < in.rank(); ++a) {
          pos[a] = c[a + 2] * g.s[a] - pb[a] + kk[a] * g.d[a];
          ok = ok && pos[a] >= 0 && pos[a] < in[a];
        }
        if (!ok) continue;
        const double xv = x.doubleAt(ravel(withNC(n, gi * cg + ci, pos), xs));
        const double wv = w.doubleAt(ravel(withNC(m, ci, kk), ws));
        acc += xv * wv;
      }
    y.data<double>()[i] = acc;
  }
  return y;
}

void expectClose(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.dims(), want.dims()) << what;
  EXPECT_LE(relativeL2(got, want), tol) << what;
}

OpSpec convSpec(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group, const Geo& g) {
  OpSpec s{.op = "Conv", .inputs = {x, w}};
  if (b) s.inputs.push_back(*b);
  s.attrs.set("group", AttrValue(group));
  g.addAttrs(s.attrs, false);
  return s;
}

TEST(Conv, MatchesNaiveAcrossGeometries) {
  std::mt19937 rng(11);
  struct Case {
    Dims x;
    int64_t m, group;
    Geo g;
  };
  const std::vector<Case> cases = {
      {{2, 3, 7, 7}, 5, 1, geo(2, 3, 1, 1, 1, 1)},
      {{2, 5, 11, 7}, 4, 1, geo(2, 5, 2, 1, 2, 1)},
      {{1, 6, 9, 10}, 6, 3, geo(2, 3, 2, 2, 0, 3)},
      {{2, 4, 8, 9}, 4, 4, geo(2, 3, 1, 1, 1, 1)},   // depthwise
      {{2, 4, 8, 9}, 8, 4, geo(2, 3, 2, 1, 1, 0)},   // depthwise x2
      {{1, 3, 7, 7}, 2, 1, geo(2, 1, 1, 1, 0, 0)},   // 1x1 direct
      {{1, 3, 9, 7}, 2, 1, geo(2, 1, 2, 1, 0, 0)},   // 1x1 strided
      {{2, 3, 11, 11}, 5, 1, geo(2, 3, 2, 1, 0, 0, "SAME_UPPER")},
      {{2, 3, 10, 11}, 5, 1, geo(2, 4, 3, 1, 0, 0, "SAME_LOWER")},
      {{2, 3, 10, 11}, 5, 1, geo(2, 3, 2, 2, 0, 0, "VALID")},
      {{2, 3, 13}, 4, 1, geo(1, 5, 2, 2, 3, 1)},    // 1-D
      {{1, 4, 5, 6, 7}, 6, 2, geo(3, 3, 1, 1, 1, 2)},  // 3-D
      {{1, 2, 6, 5, 7}, 3, 1, geo(3, 2, 2, 2, 0, 1)},
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    Dims wd = withNC(c.m, c.x[1] / c.group, c.g.k);
    for (DType t : {DType::kFloat32, DType::kFloat64}) {
      for (bool bias : {false, true}) {
        Tensor x = randomTensor(t, c.x, rng), w = randomTensor(t, wd, rng), b = randomTensor(t, {c.m}, rng);
        auto r = runOp(convSpec(x, w, bias ? &b : nullptr, c.group, c.g), "cpu_ref_Conv");
        ASSERT_TRUE(r.ok()) << "case " << ci << ": " << r.status().toString();
        expectClose((*r)[0], naiveConv(x, w, bias ? &b : nullptr, c.group, c.g),
                    t == DType::kFloat32 ? 1e-5 : 1e-12, fmt::format("case {} {}", ci, dtypeName(t)));
      }
    }
  }
}

TEST(Conv, LargeShapesUseAllGemmTiles) {
  // K = 40*3*3 = 360 (two K slices), 33x35 outputs (several N tiles), M = 100 (two M tiles).
  std::mt19937 rng(5);
  Tensor x = randomTensor(DType::kFloat32, {1, 40, 33, 35}, rng), w = randomTensor(DType::kFloat32, {100, 40, 3, 3}, rng);
  Tensor b = randomTensor(DType::kFloat32, {100}, rng);
  Geo g = geo(2, 3, 1, 1, 1, 1);
  auto r = runOp(convSpec(x, w, &b, 1, g), "cpu_ref_Conv");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  expectClose((*r)[0], naiveConv(x, w, &b, 1, g), 1e-5, "large conv");
}

TEST(Conv, SmallFloatsComputeInFloat) {
  std::mt19937 rng(3);
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    Tensor x = randomTensor(t, {2, 4, 7, 6}, rng), w = randomTensor(t, {6, 2, 3, 3}, rng), b = randomTensor(t, {6}, rng);
    Geo g = geo(2, 3, 2, 1, 1, 0);
    auto r = runOp(convSpec(x, w, &b, 2, g));
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ((*r)[0].dtype(), t);
    expectClose((*r)[0], naiveConv(x, w, &b, 2, g), t == DType::kFloat16 ? 2e-3 : 1e-2, std::string(dtypeName(t)));
  }
}

void expectError(const OpSpec& s, StatusCode code, const std::string& text) {
  auto r = runOp(s);
  ASSERT_FALSE(r.ok()) << "expected an error mentioning '" << text << "'";
  EXPECT_EQ(r.status().code(), code) << r.status().toString();
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().toString();
}

TEST(Conv, ErrorsNameTheProblem) {
  std::mt19937 rng(2);
  auto t = [&](Dims d, DType dt = DType::kFloat32) { return randomTensor(dt, d, rng); };
  Geo g = geo(2, 3, 1, 1, 0, 0);
  expectError(convSpec(t({1, 4, 5, 5}), t({2, 3, 3, 3}), nullptr, 1, g), StatusCode::kInvalidArgument, "channels");
  expectError(convSpec(t({1, 4, 5, 5}), t({3, 2, 3, 3}), nullptr, 2, g), StatusCode::kInvalidArgument,
              "not divisible by group");
  Tensor b3 = t({3});
  expectError(convSpec(t({1, 4, 5, 5}), t({2, 4, 3, 3}), &b3, 1, g), StatusCode::kInvalidArgument, "bias");
  expectError(convSpec(t({1, 4, 2, 5}), t({2, 4, 3, 3}), nullptr, 1, g), StatusCode::kInvalidArgument,
              "smaller than the kernel");
  OpSpec badPads = convSpec(t({1, 4, 5, 5}), t({2, 4, 3, 3}), nullptr, 1, g);
  badPads.attrs.set("pads", ints({1, 1}));
  expectError(badPads, StatusCode::kInvalidArgument, "pads has 2 values");
  OpSpec badAuto = convSpec(t({1, 4, 5, 5}), t({2, 4, 3, 3}), nullptr, 1, g);
  badAuto.attrs.set("auto_pad", AttrValue("SAME"));
  expectError(badAuto, StatusCode::kInvalidArgument, "auto_pad 'SAME'");
  OpSpec badStride = convSpec(t({1, 4, 5, 5}), t({2, 4, 3, 3}), nullptr, 1, g);
  badStride.attrs.set("strides", ints({1, 0}));
  expectError(badStride, StatusCode::kInvalidArgument, "strides must be >= 1");
  OpSpec badKernel = convSpec(t({1, 4, 5, 5}), t({2, 4, 3, 3}), nullptr, 1, g);
  badKernel.attrs.set("kernel_shape", ints({2, 3}));
  expectError(badKernel, StatusCode::kInvalidArgument, "does not match the weights");
  expectError(convSpec(t({4, 5}), t({2, 4}), nullptr, 1, geo(0, 1, 1, 1, 0, 0)), StatusCode::kInvalidArgument,
              "rank >= 3");
  expectError(convSpec(t({1, 4, 5, 5}, DType::kInt32), t({2, 4, 3, 3}, DType::kInt32), nullptr, 1, g),
              StatusCode::kUnsupported, "int32");
}

TEST(Conv, SymbolicInference) {
  using namespace kiln::ir;
  Graph gr;
  const Dim N = Dim::symbol("N"), H = Dim::symbol("H"), W = Dim::symbol("W");
  Value* x = gr.addInput("x", DType::kFloat32, Shape{N, Dim(3), H, W});
  std::mt19937 rng(1);
  Value* w = gr.addConstant("w", randomTensor(DType::kFloat32, {8, 3, 3, 3}, rng));
  const OpDef* def = OpRegistry::global().find("", "Conv");
  int count = 0;
  auto infer = [&](AttrMap a) {
    EXPECT_TRUE(checkAndFillAttributes(*def, a).ok());
    const std::string id = fmt::format("c{}", count++);
    Node* n = gr.addNode("Conv", "", 22, id, {x, w}, {id + "_y"}, a);
    gr.setNodeDef(n, def);
    Status st = inferNode(gr, *n);
    EXPECT_TRUE(st.ok()) << st.toString();
    return n->output(0)->shape();
  };
  EXPECT_EQ(infer(attrs({{"pads", ints({1, 1, 1, 1})}})), (Shape{N, Dim(8), H, W}));
  EXPECT_EQ(infer(attrs({{"auto_pad", AttrValue("SAME_UPPER")}})), (Shape{N, Dim(8), H, W}));
  Shape strided = infer(attrs({{"strides", ints({2, 2})}, {"auto_pad", AttrValue("SAME_LOWER")}}));
  EXPECT_EQ(strided[2], Dim::ceilDiv(H, Dim(2)));
  Shape valid = infer(attrs({{"strides", ints({2, 1})}}));
  EXPECT_TRUE(valid[2].isSymbolic()) << valid.toString();
  EXPECT_EQ(valid[3], W + Dim(-2));
  // Static inputs give static outputs.
  Value* xs = gr.addInput("xs", DType::kFloat32, Shape{Dim(2), Dim(3), Dim(10), Dim(9)});
  AttrMap a = attrs({{"strides", ints({3, 2})}, {"pads", ints({0, 1, 2, 0})}, {"dilations", ints({2, 1})}});
  ASSERT_TRUE(checkAndFillAttributes(*def, a).ok());
  Node* n = gr.addNode("Conv", "", 22, "static", {xs, w}, {"static_y"}, a);
  gr.setNodeDef(n, def);
  ASSERT_TRUE(inferNode(gr, *n).ok());
  EXPECT_EQ(n->output(0)->shape(), (Shape{Dim(2), Dim(8), Dim(3), Dim(4)}));
}

// ---- ConvTranspose ----------------------------------------------------------------------------

// y[o] += x[i] * w[k] at o = i*s - pad_begin + k*d.
Tensor naiveConvTranspose(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group, const Dims& s,
                          const Dims& d, const Dims& pb, const Dims& outSp) {
  const Dims xs = x.dims(), ws = w.dims(), kd = spatial(ws), in = spatial(xs);
  const int64_t cg = xs[1] / group, mg = ws[1], M = mg * group;
  Tensor y = Tensor::allocate(DType::kFloat64, withNC(xs[0], M, outSp));
  for (int64_t i = 0; i < y.numel(); ++i) y.data<double>()[i] = b ? b->doubleAt(unravel(i, y.dims())[1]) : 0.0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    Dims c = unravel(i, xs);
    const int64_t gi = c[1] / cg;
    for (int64_t m = 0; m < mg; ++m)
      for (int64_t t = 0; t < kd.numel(); ++t) {
        Dims kk = unravel(t, kd);
        Dims o = Dims::filled(in.rank(), 0);
        bool ok = true;
        for (int a = 0; a < in.rank(); ++a) {
          o[a] = c[a + 2] * s[a] - pb[a] + kk[a] * d[a];
          ok = ok && o[a] >= 0 && o[a] < outSp[a];
        }
        if (!ok) continue;
        y.data<double>()[ravel(withNC(c[0], gi * mg + m, o), y.dims())] +=
            x.doubleAt(i) * w.doubleAt(ravel(withNC(c[1], m, kk), ws));
      }
  }
  return y;
}

TEST(ConvTranspose, MatchesNaive) {
  std::mt19937 rng(17);
  struct Case {
    Dims x;
    int64_t mg, group;
    Dims k, s, d, pads, outPad;
  };
  const std::vector<Case> cases = {
      {{2, 3, 5, 4}, 2, 1, {3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}, {0, 0}},
      {{2, 4, 5, 6}, 3, 2, {3, 2}, {2, 3}, {1, 1}, {1, 0, 0, 1}, {1, 2}},
      {{1, 3, 7, 5}, 2, 1, {3, 3}, {2, 2}, {2, 1}, {2, 1, 1, 2}, {1, 0}},
      {{1, 6, 4, 4}, 1, 6, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}},  // depthwise
      {{2, 3, 9}, 2, 1, {5}, {3}, {2}, {2, 1}, {1}},                       // 1-D
      {{1, 2, 3, 4, 3}, 2, 2, {2, 3, 2}, {2, 1, 2}, {1, 2, 1}, {0, 1, 0, 1, 0, 1}, {1, 0, 0}},  // 3-D
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    const int n = c.k.rank();
    Dims pb(c.pads.begin(), c.pads.begin() + n), pe(c.pads.begin() + n, c.pads.end());
    Dims out;
    for (int i = 0; i < n; ++i)
      out.push_back(c.s[i] * (c.x[i + 2] - 1) + c.outPad[i] + (c.k[i] - 1) * c.d[i] + 1 - pb[i] - pe[i]);
    for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16}) {
      Tensor x = randomTensor(t, c.x, rng), w = randomTensor(t, withNC(c.x[1], c.mg, c.k), rng);
      Tensor b = randomTensor(t, {c.mg * c.group}, rng);
      OpSpec s{.op = "ConvTranspose",
               .attrs = attrs({{"group", AttrValue(c.group)}, {"strides", ints(c.s.vec())},
                               {"dilations", ints(c.d.vec())}, {"pads", ints(c.pads.vec())},
                               {"output_padding", ints(c.outPad.vec())}}),
               .inputs = {x, w, b}};
      auto r = runOp(s, "cpu_ref_ConvTranspose");
      ASSERT_TRUE(r.ok()) << "case " << ci << ": " << r.status().toString();
      expectClose((*r)[0], naiveConvTranspose(x, w, &b, c.group, c.s, c.d, pb, out),
                  t == DType::kFloat16 ? 2e-3 : t == DType::kFloat32 ? 1e-5 : 1e-12,
                  fmt::format("case {} {}", ci, dtypeName(t)));
    }
  }
}

TEST(ConvTranspose, OutputShapeAndAutoPad) {
  std::mt19937 rng(4);
  Tensor x = randomTensor(DType::kFloat32, {1, 2, 4, 5}, rng), w = randomTensor(DType::kFloat32, {2, 3, 3, 3}, rng);
  // output_shape: total padding = 2*(4-1) + 3 - 8 = 1 -> begin 1, end 0 (rows); 2*(5-1)+3-12 = -1 -> grows at the end.
  auto r = runOp({.op = "ConvTranspose",
                  .attrs = attrs({{"strides", ints({2, 2})}, {"output_shape", ints({8, 12})}}),
                  .inputs = {x, w}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  expectClose((*r)[0], naiveConvTranspose(x, w, nullptr, 1, {2, 2}, {1, 1}, {1, 0}, {8, 12}), 1e-5, "output_shape");
  // SAME_UPPER: output = in * stride; total = 2*(4-1)+3-8 = 1 -> begin 0 (extra at the end).
  r = runOp({.op = "ConvTranspose", .attrs = attrs({{"strides", ints({2, 2})}, {"auto_pad", AttrValue("SAME_UPPER")}}),
             .inputs = {x, w}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  expectClose((*r)[0], naiveConvTranspose(x, w, nullptr, 1, {2, 2}, {1, 1}, {0, 0}, {8, 10}), 1e-5, "SAME_UPPER");
  r = runOp({.op = "ConvTranspose", .attrs = attrs({{"strides", ints({2, 2})}, {"auto_pad", AttrValue("SAME_LOWER")}}),
             .inputs = {x, w}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  expectClose((*r)[0], naiveConvTranspose(x, w, nullptr, 1, {2, 2}, {1, 1}, {1, 1}, {8, 10}), 1e-5, "SAME_LOWER");
  expectError({.op = "ConvTranspose", .inputs = {randomTensor(DType::kFloat32, {1, 3, 4, 4}, rng), w}},
              StatusCode::kInvalidArgument, "channels");
  expectError({.op = "ConvTranspose", .attrs = attrs({{"output_shape", ints({8})}}), .inputs = {x, w}},
              StatusCode::kInvalidArgument, "output_shape has 1 values");
}

// ---- ConvInteger / QLinearConv ----------------------------------------------------------------

TEST(ConvInteger, MatchesNaiveWithZeroPoints) {
  std::mt19937 rng(8);
  Geo g = geo(2, 3, 2, 1, 1, 2);
  for (DType xt : {DType::kUInt8, DType::kInt8})
    for (DType wt : {DType::kUInt8, DType::kInt8}) {
      const double xlo = xt == DType::kUInt8 ? 0 : -128, wlo = wt == DType::kUInt8 ? 0 : -128;
      Tensor x = randomTensor(xt, {2, 4, 7, 6}, rng, xlo, xlo + 255), w = randomTensor(wt, {6, 2, 3, 3}, rng, wlo, wlo + 255);
      Tensor xzp = randomTensor(xt, {}, rng, xlo, xlo + 255), wzp = randomTensor(wt, {6}, rng, wlo, wlo + 255);
      OpSpec s{.op = "ConvInteger", .inputs = {x, w, xzp, wzp}};
      s.attrs.set("group", AttrValue(int64_t{2}));
      g.addAttrs(s.attrs, false);
      auto r = runOp(s);
      ASSERT_TRUE(r.ok()) << r.status().toString();
      // Reference: centered values through the float naive conv (exact for these magnitudes).
      Tensor xc = Tensor::allocate(DType::kFloat64, x.dims()), wc = Tensor::allocate(DType::kFloat64, w.dims());
      for (int64_t i = 0; i < x.numel(); ++i) xc.data<double>()[i] = x.doubleAt(i) - xzp.doubleAt(0);
      for (int64_t i = 0; i < w.numel(); ++i) wc.data<double>()[i] = w.doubleAt(i) - wzp.doubleAt(i / 18);
      // Padding holds the zero point, i.e. 0 after centering.
      Tensor want = naiveConv(xc, wc, nullptr, 2, g);
      ASSERT_EQ((*r)[0].dtype(), DType::kInt32);
      EXPECT_EQ(maxAbsDiff((*r)[0], want), 0.0);
    }
}

TEST(QLinearConv, MatchesNaiveRequantization) {
  std::mt19937 rng(9);
  Geo g = geo(2, 3, 1, 1, 1, 1);
  Tensor x = randomTensor(DType::kUInt8, {1, 3, 6, 5}, rng, 0, 255), w = randomTensor(DType::kInt8, {4, 3, 3, 3}, rng, -127, 127);
  Tensor b = randomTensor(DType::kInt32, {4}, rng, -500, 500);
  const float xs = 0.02f, ys = 0.9f;
  Tensor ws = Tensor::fromVector<float>({0.01f, 0.03f, 0.02f, 0.005f}, {4});
  OpSpec s{.op = "QLinearConv",
           .inputs = {x, Tensor::scalar<float>(xs), Tensor::scalar<uint8_t>(7), w, ws, Tensor::scalar<int8_t>(0),
                      Tensor::scalar<float>(ys), Tensor::scalar<uint8_t>(100), b}};
  g.addAttrs(s.attrs, false);
  auto r = runOp(s);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  Tensor xc = Tensor::allocate(DType::kFloat64, x.dims());
  for (int64_t i = 0; i < x.numel(); ++i) xc.data<double>()[i] = x.doubleAt(i) - 7;
  Tensor bd = Tensor::allocate(DType::kFloat64, {4});
  for (int i = 0; i < 4; ++i) bd.data<double>()[i] = b.doubleAt(i);
  Tensor acc = naiveConv(xc, w, &bd, 1, g);
  const Tensor& y = (*r)[0];
  ASSERT_EQ(y.dtype(), DType::kUInt8);
  const int64_t plane = 30;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const float mult = xs * ws.data<float>()[i / plane % 4] / ys;
    double v = std::nearbyint(acc.data<double>()[i] * mult + 100);
    v = std::min(255.0, std::max(0.0, v));
    EXPECT_EQ(y.data<uint8_t>()[i], static_cast<uint8_t>(v)) << i;
  }
}

// ---- Pooling ----------------------------------------------------------------------------------

enum class Pool { kMax, kAvg, kAvgPad, kLp2, kLp3 };

// Naive pooling; for kMax also the row-major (or column-major spatial) argmax indices.
Tensor naivePool(const Tensor& x, const Geo& g, Pool kind, Tensor* indices = nullptr, bool colMajor = false) {
  const Dims xs = x.dims(), in = spatial(xs), out = g.outFor(in);
  Dims pb, pe;
  g.padsFor(in, out, &pb, &pe);
  Tensor y = Tensor::allocate(DType::kFloat64, withNC(xs[0], xs[1], out));
  if (indices) *indices = Tensor::allocate(DType::kInt64, y.dims());
  for (int64_t i = 0; i < y.numel(); ++i) {
    Dims c = unravel(i, y.dims());
    double acc = 0, best = -std::numeric_limits<double>::infinity();
    int64_t count = 0, padCount = 0, bestIdx = -1;
    for (int64_t t = 0; t < g.k.numel(); ++t) {
      Dims kk = unravel(t, g.k);
      bool valid = true, inPad = true;
      Dims pos = Dims::filled(in.rank(), 0);
      for (int a = 0; a < in.rank(); ++a) {
        pos[a] = c[a + 2] * g.s[a] - pb[a] + kk[a] * g.d[a];
        valid = valid && pos[a] >= 0 && pos[a] < in[a];
        inPad = inPad && pos[a] < in[a] + pe[a];
      }
      padCount += inPad;
      if (!valid) continue;
      const int64_t flat = ravel(withNC(c[0], c[1], pos), xs);
      const double v = x.doubleAt(flat);
      ++count;
      acc += kind == Pool::kLp3 ? std::pow(std::fabs(v), 3) : kind == Pool::kLp2 ? v * v : v;
      if (v > best) {
        best = v;
        int64_t sp = 0, mul = 1;
        for (int a = 0; a < in.rank(); ++a) sp += pos[a] * mul, mul *= in[a];
        bestIdx = colMajor ? (c[0] * xs[1] + c[1]) * in.numel() + sp : flat;
      }
    }
    double v = kind == Pool::kMax ? best : kind == Pool::kAvg ? acc / count : kind == Pool::kAvgPad ? acc / padCount
               : kind == Pool::kLp2 ? std::sqrt(acc) : std::cbrt(acc);
    y.data<double>()[i] = v;
    if (indices) indices->data<int64_t>()[i] = bestIdx;
  }
  return y;
}

OpSpec poolSpec(const char* op, const Tensor& x, const Geo& g) {
  OpSpec s{.op = op, .inputs = {x}};
  g.addAttrs(s.attrs, true);
  if (g.ceil) s.attrs.set("ceil_mode", AttrValue(int64_t{1}));
  return s;
}

std::vector<Geo> poolGeometries() {
  std::vector<Geo> v = {geo(2, 3, 1, 1, 1, 1),       geo(2, 3, 2, 1, 1, 0),    geo(2, 2, 2, 1, 0, 0),
                        geo(2, 3, 2, 2, 2, 1),       geo(2, 3, 2, 1, 0, 0, "SAME_UPPER"),
                        geo(2, 2, 3, 1, 0, 0, "SAME_LOWER"), geo(2, 3, 2, 1, 0, 0, "VALID"),
                        geo(1, 4, 3, 1, 2, 1),       geo(3, 2, 2, 1, 1, 0)};
  Geo ceil = geo(2, 3, 2, 1, 1, 1);
  ceil.ceil = true;
  v.push_back(ceil);
  Geo ceilDil = geo(3, 2, 3, 2, 0, 1);
  ceilDil.ceil = true;
  v.push_back(ceilDil);
  Geo asym{{3, 2}, {2, 1}, {1, 2}, {1, 0}, {2, 1}};
  v.push_back(asym);
  return v;
}

Dims poolInput(int n) { return n == 1 ? Dims{2, 3, 13} : n == 2 ? Dims{2, 3, 9, 8} : Dims{1, 2, 7, 6, 5}; }

TEST(Pooling, MaxAvgLpMatchNaive) {
  std::mt19937 rng(21);
  const auto geos = poolGeometries();
  for (size_t gi = 0; gi < geos.size(); ++gi) {
    const Geo& g = geos[gi];
    Tensor x = randomTensor(DType::kFloat32, poolInput(g.k.rank()), rng, -5, 5);
    const std::string what = fmt::format("geometry {}", gi);
    auto r = runOp(poolSpec("MaxPool", x, g), "cpu_ref_MaxPool");
    ASSERT_TRUE(r.ok()) << what << ": " << r.status().toString();
    expectClose((*r)[0], naivePool(x, g, Pool::kMax), 0, what + " max");
    for (int include = 0; include < 2; ++include) {
      OpSpec s = poolSpec("AveragePool", x, g);
      s.attrs.set("count_include_pad", AttrValue(int64_t{include}));
      r = runOp(s, "cpu_ref_AveragePool");
      ASSERT_TRUE(r.ok()) << what << ": " << r.status().toString();
      expectClose((*r)[0], naivePool(x, g, include ? Pool::kAvgPad : Pool::kAvg), 1e-6, what + " avg");
    }
    for (int64_t p : {2, 3}) {
      OpSpec s = poolSpec("LpPool", x, g);
      s.attrs.set("p", AttrValue(p));
      r = runOp(s);
      ASSERT_TRUE(r.ok()) << what << ": " << r.status().toString();
      expectClose((*r)[0], naivePool(x, g, p == 2 ? Pool::kLp2 : Pool::kLp3), 1e-6, what + " lp");
    }
  }
}

TEST(Pooling, MaxPoolIndicesAndTypes) {
  std::mt19937 rng(22);
  for (int colMajor = 0; colMajor < 2; ++colMajor) {
    for (Geo g : {geo(2, 3, 2, 1, 1, 1), geo(3, 2, 1, 2, 0, 1), geo(1, 3, 2, 2, 1, 0)}) {
      Tensor x = randomTensor(DType::kFloat64, poolInput(g.k.rank()), rng, -5, 5);
      OpSpec s = poolSpec("MaxPool", x, g);
      s.numOutputs = 2;
      s.attrs.set("storage_order", AttrValue(int64_t{colMajor}));
      auto r = runOp(s);
      ASSERT_TRUE(r.ok()) << r.status().toString();
      Tensor ind;
      Tensor want = naivePool(x, g, Pool::kMax, &ind, colMajor);
      expectClose((*r)[0], want, 0, "max values");
      ASSERT_EQ((*r)[1].dtype(), DType::kInt64);
      EXPECT_EQ(maxAbsDiff((*r)[1], ind), 0.0) << "storage_order " << colMajor;
    }
  }
  Geo g = geo(2, 3, 2, 1, 1, 1);
  for (DType t : {DType::kInt8, DType::kUInt8, DType::kFloat16, DType::kBFloat16}) {
    Tensor x = randomTensor(t, {2, 3, 9, 8}, rng, t == DType::kUInt8 ? 0 : -100, 100);
    auto r = runOp(poolSpec("MaxPool", x, g));
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ((*r)[0].dtype(), t);
    expectClose((*r)[0], naivePool(x, g, Pool::kMax), 0, std::string(dtypeName(t)));
  }
}

TEST(Pooling, GlobalPools) {
  std::mt19937 rng(23);
  for (Dims d : {Dims{2, 3, 7, 5}, Dims{1, 4, 11}, Dims{2, 2, 3, 4, 5}}) {
    for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16}) {
      Tensor x = randomTensor(t, d, rng, -3, 3);
      const int64_t planes = d[0] * d[1], sz = x.numel() / planes;
      Dims od = d;
      for (int i = 2; i < od.rank(); ++i) od[i] = 1;
      for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}) {
        auto r = runOp({.op = op, .inputs = {x}});
        ASSERT_TRUE(r.ok()) << op << ": " << r.status().toString();
        ASSERT_EQ((*r)[0].dims(), od);
        for (int64_t p = 0; p < planes; ++p) {
          double acc = 0, mx = -1e30;
          for (int64_t i = 0; i < sz; ++i) {
            const double v = x.doubleAt(p * sz + i);
            acc += std::string(op) == "GlobalLpPool" ? v * v : v;
            mx = std::max(mx, v);
          }
          const double want = std::string(op) == "GlobalAveragePool" ? acc / sz
                              : std::string(op) == "GlobalMaxPool"   ? mx
                                                                     : std::sqrt(acc);
          EXPECT_NEAR((*r)[0].doubleAt(p), want, t == DType::kFloat16 ? 2e-2 : 1e-6) << op;
        }
      }
    }
  }
}

TEST(Pooling, MaxUnpoolInvertsMaxPool) {
  std::mt19937 rng(24);
  Tensor x = randomTensor(DType::kFloat32, {2, 3, 7, 9}, rng);
  Geo g = geo(2, 2, 2, 1, 0, 0);
  OpSpec mp = poolSpec("MaxPool", x, g);
  mp.numOutputs = 2;
  auto pooled = runOp(mp);
  ASSERT_TRUE(pooled.ok()) << pooled.status().toString();
  const Tensor &v = (*pooled)[0], &ind = (*pooled)[1];
  // The indices address a 7x9 input, but MaxUnpool's unpooled shape is 6x8; with output_shape 7x9
  // every value must land at the coordinates the index has in the 6x8 layout.
  for (bool withShape : {false, true}) {
    OpSpec s{.op = "MaxUnpool", .attrs = attrs({{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}}),
             .inputs = {v, ind}};
    if (withShape) s.inputs.push_back(Tensor::fromVector<int64_t>({2, 3, 7, 9}, {4}));
    // Reindex the pool indices into the 6x8 unpooled layout so the round trip is exact.
    Tensor ind68 = ind.clone();
    for (int64_t i = 0; i < ind.numel(); ++i) {
      const int64_t idx = ind.data<int64_t>()[i], plane = idx / 63, r = idx % 63 / 9, c = idx % 9;
      ind68.data<int64_t>()[i] = plane * 48 + r * 8 + c;
    }
    s.inputs[1] = ind68;
    auto r = runOp(s);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    const Tensor& y = (*r)[0];
    ASSERT_EQ(y.dims(), withShape ? (Dims{2, 3, 7, 9}) : (Dims{2, 3, 6, 8}));
    double sum = 0;
    for (int64_t i = 0; i < y.numel(); ++i) sum += y.doubleAt(i);
    double want = 0;
    for (int64_t i = 0; i < v.numel(); ++i) {
      want += v.doubleAt(i);
      const int64_t idx = ind68.data<int64_t>()[i], plane = idx / 48, rr = idx % 48 / 8, cc = idx % 8;
      const int64_t W = y.dims()[3], H = y.dims()[2];
      EXPECT_EQ(y.doubleAt((plane * H + rr) * W + cc), v.doubleAt(i));
    }
    EXPECT_NEAR(sum, want, 1e-4);
  }
  OpSpec bad{.op = "MaxUnpool", .attrs = attrs({{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}}),
             .inputs = {v, Tensor::fromVector<int64_t>(std::vector<int64_t>(v.numel(), 10000), v.dims())}};
  expectError(bad, StatusCode::kInvalidArgument, "out of range");
}

TEST(Pooling, ErrorsNameTheProblem) {
  std::mt19937 rng(25);
  Tensor x = randomTensor(DType::kFloat32, {1, 2, 5, 5}, rng);
  OpSpec s = poolSpec("MaxPool", x, geo(2, 3, 1, 1, 0, 0));
  s.attrs.set("storage_order", AttrValue(int64_t{2}));
  expectError(s, StatusCode::kInvalidArgument, "storage_order");
  expectError(poolSpec("AveragePool", x, geo(2, 7, 1, 1, 0, 0)), StatusCode::kInvalidArgument, "smaller than the kernel");
  OpSpec k = poolSpec("AveragePool", x, geo(2, 3, 1, 1, 0, 0));
  k.attrs.set("kernel_shape", ints({3}));
  expectError(k, StatusCode::kInvalidArgument, "kernel_shape has 1 values");
  OpSpec noKernel{.op = "MaxPool", .inputs = {x}};
  auto r = runOp(noKernel);
  EXPECT_FALSE(r.ok());
  OpSpec ceilAuto = poolSpec("MaxPool", x, geo(2, 3, 2, 1, 0, 0, "SAME_UPPER"));
  ceilAuto.attrs.set("ceil_mode", AttrValue(int64_t{1}));
  expectError(ceilAuto, StatusCode::kInvalidArgument, "ceil_mode");
  OpSpec lp = poolSpec("LpPool", x, geo(2, 3, 1, 1, 0, 0));
  lp.attrs.set("p", AttrValue(int64_t{0}));
  expectError(lp, StatusCode::kInvalidArgument, "p must be >= 1");
  expectError(poolSpec("MaxPool", randomTensor(DType::kInt32, {1, 2, 5, 5}, rng), geo(2, 3, 1, 1, 0, 0)),
              StatusCode::kUnsupported, "int32");
}

// Opset-1 LpPool / GlobalLpPool carry p as a float; the import hook makes it the canonical int.
Result<Tensor> importAndRunOpset1(const char* op, float p, const Tensor& x) {
  ::onnx::ModelProto m;
  m.set_ir_version(3);
  m.add_opset_import()->set_version(1);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : x.dims()) tt->mutable_shape()->add_dim()->set_dim_value(d);
  auto* n = g->add_node();
  n->set_op_type(op);
  n->add_input("x");
  n->add_output("y");
  auto* pa = n->add_attribute();
  pa->set_name("p");
  pa->set_type(::onnx::AttributeProto::FLOAT);
  pa->set_f(p);
  if (std::string(op) == "LpPool") {
    auto* k = n->add_attribute();
    k->set_name("kernel_shape");
    k->set_type(::onnx::AttributeProto::INTS);
    k->add_ints(2);
    k->add_ints(3);
  }
  g->add_output()->set_name("y");
  KILN_ASSIGN_OR_RETURN(auto graph, onnx_import::importModel(m, ""));
  std::shared_ptr<const ir::Graph> shared(std::move(graph));
  KILN_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::create(shared));
  std::vector<runtime::NamedTensor> out;
  KILN_RETURN_IF_ERROR(interp->run({{"x", x}}, &out));
  return out.at(0).tensor;
}

TEST(Pooling, OpsetOneFloatPIsCanonicalized) {
  std::mt19937 rng(26);
  Tensor x = randomTensor(DType::kFloat32, {1, 2, 5, 6}, rng);
  auto lp = importAndRunOpset1("LpPool", 3.0f, x);
  ASSERT_TRUE(lp.ok()) << lp.status().toString();
  Geo g = geo(2, 1, 1, 1, 0, 0);
  g.k = {2, 3};
  expectClose(*lp, naivePool(x, g, Pool::kLp3), 1e-6, "LpPool-1");
  auto glp = importAndRunOpset1("GlobalLpPool", 2.0f, x);
  ASSERT_TRUE(glp.ok()) << glp.status().toString();
  auto want = runOp({.op = "GlobalLpPool", .inputs = {x}});
  ASSERT_TRUE(want.ok());
  expectClose(*glp, (*want)[0], 1e-7, "GlobalLpPool-1");
  auto bad = importAndRunOpset1("LpPool", 2.5f, x);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(bad.status().message().find("p = 2.5"), std::string::npos) << bad.status().toString();
}

}  // namespace
}  // namespace kiln::testing
