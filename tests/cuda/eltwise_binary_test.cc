// CUDA element-wise binary ops with numpy broadcasting, variadic Sum/Mean/Max/Min, Where, Clip and
// PRelu against the CPU reference. The shapes cover both device paths: the vector path (same
// shape, scalar, trailing-dims vector with a length divisible by the vector width) and the
// general strided path (two-sided broadcasting, rank 5, odd trailing lengths).
#include "eltwise_test_util.h"

namespace kiln::testing {
namespace {

using eltwise_test::castTo;
using eltwise_test::rnd;
using eltwise_test::spec;
using eltwise_test::tolFor;

const std::pair<Dims, Dims> kShapes[] = {
    {Dims{3, 7, 33}, Dims{3, 7, 33}},          // same shape, odd count (vector + tail)
    {Dims{4, 5, 64}, Dims{64}},                // trailing vector, vector path
    {Dims{4, 5, 63}, Dims{63}},                // trailing vector, general path
    {Dims{1}, Dims{257}},                      // scalar on the left
    {Dims{257, 3}, Dims{}},                    // rank-0 scalar on the right
    {Dims{5, 1, 7}, Dims{1, 6, 1}},            // both sides broadcast
    {Dims{2, 3, 1, 5, 4}, Dims{3, 5, 1}},      // rank 5, both sides broadcast
    {Dims{8, 1, 1, 16}, Dims{8, 12, 16, 16}},  // left operand broadcast (attention-mask add)
    {Dims{1000}, Dims{1000}},
};

TEST(CudaEltwiseBinary, ArithmeticFloatTypes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(11);
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
      for (const auto& [da, db] : kShapes) {
        SCOPED_TRACE(std::string(op) + " " + std::string(dtypeName(t)) + " " + da.toString() + " " + db.toString());
        Tensor a = rnd(t, da, rng, -2, 2);
        Tensor b = rnd(t, db, rng, 0.5, 2);  // away from 0 for Div
        expectGpuMatchesCpu(spec(op, {a, b}), t == DType::kFloat64 ? 1e-12 : tolFor(t));
      }
    }
  }
}

TEST(CudaEltwiseBinary, PowAndMod) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(12);
  for (DType t : {DType::kFloat32, DType::kFloat16}) {
    for (const auto& [da, db] : kShapes) {
      expectGpuMatchesCpu(spec("Pow", {rnd(t, da, rng, 0.1, 3), rnd(t, db, rng, -2, 2)}), tolFor(t));
    }
    // Exponent 2 and 3 as scalars (GELU/variance patterns; 2 takes the x*x shortcut).
    for (float e : {2.f, 3.f, 0.5f}) {
      Tensor ex = castTo(Tensor::fromVector<float>({e}, Dims{}), t);
      const double lo = e == 0.5f ? 0.1 : -3;  // no NaN from negative bases
      expectGpuMatchesCpu(spec("Pow", {rnd(t, Dims{7, 129}, rng, lo, 3), ex}), tolFor(t));
    }
    for (int64_t fmod : {0, 1}) {
      AttrMap a;
      a.set("fmod", AttrValue(fmod));
      expectGpuMatchesCpu(spec("Mod", {rnd(t, Dims{5, 1, 7}, rng, -10, 10), rnd(t, Dims{1, 6, 1}, rng, 0.5, 3)}, a),
                          tolFor(t));
    }
  }
  for (DType t : {DType::kInt32, DType::kInt64}) {
    expectGpuMatchesCpu(spec("Pow", {rnd(t, Dims{5, 1, 7}, rng, -5, 5), rnd(t, Dims{6, 1}, rng, 0, 3)}));
  }
}

TEST(CudaEltwiseBinary, IntegerArithmeticExact) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(13);
  for (DType t : {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kUInt16, DType::kInt32, DType::kUInt32,
                  DType::kInt64, DType::kUInt64}) {
    const double lo = isSigned(t) ? -20 : 0;
    for (const char* op : {"Add", "Sub", "Mul", "Div", "Mod"}) {
      for (const auto& [da, db] : kShapes) {
        SCOPED_TRACE(std::string(op) + " " + std::string(dtypeName(t)) + " " + da.toString() + " " + db.toString());
        // Includes divisors 0 and -1 (the CPU's defined results: 0 and -x).
        expectGpuMatchesCpu(spec(op, {rnd(t, da, rng, lo, 20), rnd(t, db, rng, lo / 4, 5)}));
      }
    }
    AttrMap fm;
    fm.set("fmod", AttrValue(int64_t{1}));
    expectGpuMatchesCpu(spec("Mod", {rnd(t, Dims{300}, rng, lo, 50), rnd(t, Dims{300}, rng, lo / 4, 7)}, fm));
    for (const char* op : {"BitwiseAnd", "BitwiseOr", "BitwiseXor"})
      expectGpuMatchesCpu(spec(op, {rnd(t, Dims{5, 1, 7}, rng, lo, 100), rnd(t, Dims{6, 1}, rng, lo, 100)}));
  }
  for (DType t : {DType::kUInt8, DType::kUInt16, DType::kUInt32, DType::kUInt64}) {
    for (const char* dir : {"LEFT", "RIGHT"}) {
      AttrMap a;
      a.set("direction", AttrValue(dir));
      // Shifts past the width give 0.
      expectGpuMatchesCpu(spec("BitShift", {rnd(t, Dims{3, 65}, rng, 0, 200), rnd(t, Dims{65}, rng, 0, 70)}, a));
    }
  }
}

TEST(CudaEltwiseBinary, ComparisonsAndLogic) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(14);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8, DType::kInt32,
                  DType::kInt64, DType::kUInt8, DType::kUInt64, DType::kBool}) {
    for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}) {
      for (const auto& [da, db] : kShapes) {
        SCOPED_TRACE(std::string(op) + " " + std::string(dtypeName(t)) + " " + da.toString() + " " + db.toString());
        // Small integers (cast to t) so that equal values are common.
        const double lo = t == DType::kBool || !isSigned(t) ? 0 : -3;
        const double hi = t == DType::kBool ? 1 : 3;
        Tensor a = castTo(rnd(DType::kInt32, da, rng, lo, hi), t);
        Tensor b = castTo(rnd(DType::kInt32, db, rng, lo, hi), t);
        expectGpuMatchesCpu(spec(op, {a, b}));
      }
    }
  }
  for (const char* op : {"And", "Or", "Xor"}) {
    for (const auto& [da, db] : kShapes) {
      expectGpuMatchesCpu(spec(op, {rnd(DType::kBool, da, rng, 0, 1), rnd(DType::kBool, db, rng, 0, 1)}));
    }
  }
}

TEST(CudaEltwiseBinary, PRelu) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(15);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt32}) {
    const double tol = tolFor(t);
    // Per-channel slope [C,1,1] on NCHW, a scalar slope, and a full-shape slope.
    expectGpuMatchesCpu(spec("PRelu", {rnd(t, Dims{2, 3, 5, 7}, rng, -5, 5), rnd(t, Dims{3, 1, 1}, rng, -1, 1)}), tol);
    expectGpuMatchesCpu(spec("PRelu", {rnd(t, Dims{2, 3, 5, 7}, rng, -5, 5), rnd(t, Dims{1}, rng, -1, 1)}), tol);
    expectGpuMatchesCpu(spec("PRelu", {rnd(t, Dims{4, 64}, rng, -5, 5), rnd(t, Dims{4, 64}, rng, -1, 1)}), tol);
  }
}

TEST(CudaEltwiseVariadic, SumMeanMaxMin) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(16);
  for (const char* op : {"Sum", "Mean", "Max", "Min"}) {
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt32, DType::kInt8}) {
      SCOPED_TRACE(std::string(op) + " " + std::string(dtypeName(t)));
      const double tol = t == DType::kFloat16 ? 5e-3 : tolFor(t);  // the CPU rounds between inputs
      // Three inputs broadcasting to [4,5,6]; one input; five same-shape inputs (vector path).
      expectGpuMatchesCpu(spec(op, {rnd(t, Dims{4, 1, 6}, rng, -9, 9), rnd(t, Dims{5, 6}, rng, -9, 9),
                                    rnd(t, Dims{4, 5, 6}, rng, -9, 9)}),
                          tol);
      expectGpuMatchesCpu(spec(op, {rnd(t, Dims{3, 11}, rng, -9, 9)}), tol);
      std::vector<Tensor> five;
      for (int i = 0; i < 5; ++i) five.push_back(rnd(t, Dims{1001}, rng, -9, 9));
      expectGpuMatchesCpu(spec(op, five), tol);
    }
  }
}

TEST(CudaEltwiseWhere, BroadcastAndTypes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(17);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt64, DType::kUInt8, DType::kBool, DType::kFloat64}) {
    SCOPED_TRACE(std::string(dtypeName(t)));
    const double lo = t == DType::kBool || t == DType::kUInt8 ? 0 : -5;
    const double hi = t == DType::kBool ? 1 : 5;
    expectGpuMatchesCpu(spec("Where", {rnd(DType::kBool, Dims{3, 1, 5}, rng, 0, 1), rnd(t, Dims{1, 4, 5}, rng, lo, hi),
                                       rnd(t, Dims{5}, rng, lo, hi)}));
    expectGpuMatchesCpu(spec("Where", {rnd(DType::kBool, Dims{1000}, rng, 0, 1), rnd(t, Dims{1000}, rng, lo, hi),
                                       rnd(t, Dims{1000}, rng, lo, hi)}));
    // Scalar branches, mask over the last dims (vector path with periods).
    expectGpuMatchesCpu(spec("Where", {rnd(DType::kBool, Dims{16, 32}, rng, 0, 1), rnd(t, Dims{2, 16, 32}, rng, lo, hi),
                                       rnd(t, Dims{}, rng, lo, hi)}));
  }
}

TEST(CudaEltwiseClip, BoundsAsDeviceInputs) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(18);
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt32, DType::kUInt8}) {
    SCOPED_TRACE(std::string(dtypeName(t)));
    const double lo = t == DType::kUInt8 ? 0 : -10;
    Tensor x = rnd(t, Dims{257, 3}, rng, lo, 10);
    Tensor mn = castTo(Tensor::fromVector<float>({t == DType::kUInt8 ? 2.f : -2.f}, Dims{}), t);
    Tensor mx = castTo(Tensor::fromVector<float>({3.f}, Dims{}), t);
    const double tol = tolFor(t);
    expectGpuMatchesCpu(spec("Clip", {x, mn, mx}), tol);
    expectGpuMatchesCpu(spec("Clip", {x, Tensor(), mx}), tol);
    expectGpuMatchesCpu(spec("Clip", {x, mn}), tol);
    expectGpuMatchesCpu(spec("Clip", {x}), tol);
    expectGpuMatchesCpu(spec("Clip", {x, mx, mn}), tol);  // min > max gives max
    OpSpec constant = spec("Clip", {x, mn, mx});
    constant.constInputs = {false, true, true};
    expectGpuMatchesCpu(constant, tol);
  }
}

}  // namespace
}  // namespace kiln::testing
