// CPU reference kernels for MatMul (numpy batched broadcasting, 1-D operands), Gemm, MatMulInteger
// and QLinearMatMul, all on the blocked GEMM in matmul_gemm.h. Small floats compute in float; the
// 8-bit ops accumulate in int32. Einsum lives in matmul_einsum.cc.
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/matmul_gemm.h"
#include "backends/cpu/kernels/matmul_ref.h"
#include "backends/quant_geometry.h"

namespace kiln::cpu {

Result<MatMulPlan> planMatMul(const Dims& a, const Dims& b, const Dims& y, std::string_view op) {
  const int ra = a.rank(), rb = b.rank();
  if (ra < 1 || rb < 1) return InvalidArgument("{}: operands must have rank >= 1", op);
  MatMulPlan p;
  p.M = ra >= 2 ? a[ra - 2] : 1;
  p.K = a[ra - 1];
  const int64_t kb = rb >= 2 ? b[rb - 2] : b[0];
  p.N = rb >= 2 ? b[rb - 1] : 1;
  if (p.K != kb)
    return InvalidArgument("{}: inner dimensions differ: {} x {}", op, a.toString(), b.toString());
  const Dims ab(a.begin(), a.end() - std::min(ra, 2)), bb(b.begin(), b.end() - std::min(rb, 2));
  const int r = std::max(ab.rank(), bb.rank());
  Dims ob = Dims::filled(r, 1);
  for (int i = 0; i < r; ++i) {
    const int ia = i - (r - ab.rank()), ib = i - (r - bb.rank());
    const int64_t da = ia >= 0 ? ab[ia] : 1, db = ib >= 0 ? bb[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return InvalidArgument("{}: batch dimensions of {} and {} cannot be broadcast", op, a.toString(), b.toString());
    ob[i] = da == 1 ? db : da;
  }
  p.batch = ob.numel();
  if (y.numel() != p.batch * p.M * p.N)
    return InvalidArgument("{}: output shape {} does not match {} x {}", op, y.toString(), a.toString(), b.toString());
  p.foldA = bb.numel() == 1 && ab.numel() == p.batch;
  p.outBatch = ob;
  p.aStride = Dims::filled(r, 0);
  p.bStride = Dims::filled(r, 0);
  int64_t sa = 1, sb = 1;
  for (int i = r - 1; i >= 0; --i) {
    const int ja = i - (r - ab.rank()), jb = i - (r - bb.rank());
    if (ja >= 0) {
      if (ab[ja] != 1) p.aStride[i] = sa;
      sa *= ab[ja];
    }
    if (jb >= 0) {
      if (bb[jb] != 1) p.bStride[i] = sb;
      sb *= bb[jb];
    }
  }
  return p;
}

template <typename T>
void runMatMulPlan(const MatMulPlan& p, const T* A, const T* B, T* Y) {
  const int64_t M = p.M, N = p.N, K = p.K;
  if (p.foldA) {
    gemm(p.batch * M, N, K, rowMajor(A, K), rowMajor(B, N), Y, N, false);
    return;
  }
  auto one = [&](int64_t t, bool par) {
    int64_t ia, ib;
    p.offsets(t, &ia, &ib);
    gemm(M, N, K, rowMajor(A + ia * M * K, K), rowMajor(B + ib * K * N, N), Y + t * M * N, N, false, par);
  };
  const int64_t work = M * N * std::max<int64_t>(K, 1);
  if (p.batch > 1 && work < (int64_t{1} << 21)) {
    parallelFor(p.batch, std::max<int64_t>(1, (int64_t{1} << 16) / work), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) one(t, false);
    });
  } else {
    for (int64_t t = 0; t < p.batch; ++t) one(t, true);
  }
}
template void runMatMulPlan<float>(const MatMulPlan&, const float*, const float*, float*);

namespace {

// Elements of a small-float tensor as float, in the calling thread's scratch `slot`.
template <typename T>
float* floatsOf(const Tensor& t, ScratchSlot slot) {
  float* v = threadScratch<float>(slot, t.numel());
  const T* p = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<float>(p[i]);
  return v;
}

Status MatMul(const KernelContext& ctx) {
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  KILN_ASSIGN_OR_RETURN(MatMulPlan p, planMatMul(a.dims(), b.dims(), y.dims(), "MatMul"));
  if (y.numel() == 0) return Status::OK();
  using Types = TypeList<float, double, Float16, BFloat16, int32_t, int64_t, uint32_t, uint64_t>;
  return dispatchOr<Types>("MatMul", a.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    if constexpr (isSmallFloat<T>) {
      const float* af = floatsOf<T>(a, ScratchSlot::kX);
      const float* bf = floatsOf<T>(b, ScratchSlot::kW);
      float* yf = threadScratch<float>(ScratchSlot::kY, y.numel());
      runMatMulPlan(p, af, bf, yf);
      T* py = y.data<T>();
      for (int64_t i = 0; i < y.numel(); ++i) py[i] = T(yf[i]);
    } else {
      runMatMulPlan(p, a.data<T>(), b.data<T>(), y.data<T>());
    }
  });
}

// Y = alpha * Y + beta * C (C broadcast to [M, N] from rank <= 2).
template <typename T, typename C>
void gemmEpilogue(T* y, int64_t M, int64_t N, double alpha, double beta, const Tensor* c) {
  const bool scale = alpha != 1.0, addC = c && beta != 0.0;
  if (!scale && !addC) return;
  int64_t cRows = 1, cCols = 1;
  if (c && c->rank() == 2) cRows = c->dims()[0], cCols = c->dims()[1];
  if (c && c->rank() == 1) cCols = c->dims()[0];
  const T* pc = c ? c->data<T>() : nullptr;
  parallelFor(M, std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T* row = y + i * N;
      const T* crow = addC ? pc + (cRows == 1 ? 0 : i) * cCols : nullptr;
      for (int64_t j = 0; j < N; ++j) {
        C v = static_cast<C>(row[j]);
        if (scale) v = static_cast<C>(v * static_cast<C>(alpha));
        if (addC) v = static_cast<C>(v + static_cast<C>(beta) * static_cast<C>(crow[cCols == 1 ? 0 : j]));
        row[j] = static_cast<T>(v);
      }
    }
  });
}

}  // namespace

Status refGemm(const KernelContext& ctx) {
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  const Tensor* c = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  const bool ta = ctx.attrs.getInt("transA") != 0, tb = ctx.attrs.getInt("transB") != 0;
  const double alpha = ctx.attrs.getFloat("alpha"), beta = ctx.attrs.getFloat("beta");
  if (a.rank() != 2 || b.rank() != 2) return InvalidArgument("Gemm: A and B must be 2-D");
  const int64_t M = ta ? a.dims()[1] : a.dims()[0], K = ta ? a.dims()[0] : a.dims()[1];
  const int64_t N = tb ? b.dims()[0] : b.dims()[1], kb = tb ? b.dims()[1] : b.dims()[0];
  if (K != kb || y.dims() != Dims{M, N})
    return InvalidArgument("Gemm: A {} and B {} do not multiply into {}", a.dims().toString(), b.dims().toString(),
                           y.dims().toString());
  if (c) {
    const Dims& cd = c->dims();
    bool ok = cd.rank() <= 2;
    for (int i = 0; ok && i < cd.rank(); ++i) {
      const int64_t want = i == cd.rank() - 1 ? N : M;
      ok = cd[i] == 1 || cd[i] == want;
    }
    if (ok && cd.rank() == 1 && cd[0] != 1 && cd[0] != N) ok = false;
    if (!ok) return InvalidArgument("Gemm: C of shape {} cannot be broadcast to [{},{}]", cd.toString(), M, N);
  }
  if (y.numel() == 0) return Status::OK();
  using Types = TypeList<float, double, Float16, BFloat16, int32_t, int64_t, uint32_t, uint64_t>;
  return dispatchOr<Types>("Gemm", a.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    auto run = [&](const auto* pa, const auto* pb, auto* py) {
      gemm(M, N, K, ta ? colMajor(pa, M) : rowMajor(pa, K), tb ? colMajor(pb, K) : rowMajor(pb, N), py, N, false);
    };
    if constexpr (isSmallFloat<T>) {
      const float* af = floatsOf<T>(a, ScratchSlot::kX);
      const float* bf = floatsOf<T>(b, ScratchSlot::kW);
      float* yf = threadScratch<float>(ScratchSlot::kY, y.numel());
      run(af, bf, yf);
      T* py = y.data<T>();
      Tensor cft;
      if (c) cft = Tensor::borrow(DType::kFloat32, c->dims(), floatsOf<T>(*c, ScratchSlot::kB));
      gemmEpilogue<float, float>(yf, M, N, alpha, beta, c ? &cft : nullptr);
      for (int64_t i = 0; i < y.numel(); ++i) py[i] = T(yf[i]);
    } else {
      run(a.data<T>(), b.data<T>(), y.data<T>());
      using C = std::conditional_t<std::is_floating_point_v<T>, T, double>;
      if constexpr (std::is_integral_v<T>) {
        if (alpha == 1.0 && (beta == 1.0 || !c)) {
          gemmEpilogue<T, T>(y.data<T>(), M, N, 1.0, 1.0, c);  // exact integer C add
          return;
        }
      }
      gemmEpilogue<T, C>(y.data<T>(), M, N, alpha, beta, c);
    }
  });
}

namespace {

// Quantized operand as int32 minus its zero point: per row (index (i / K) % M) for A, per column
// (index i % N) for B, or a single value.
Result<std::vector<int32_t>> centeredOperand(const Tensor& t, const Tensor* zp, int64_t rows, int64_t cols,
                                            bool perRow, std::string_view what) {
  const int64_t count = perRow ? rows : cols;
  if (zp && zp->numel() != 1 && zp->numel() != count)
    return Unsupported("{} with {} values is not supported (expected 1 or {})", what, zp->numel(), count);
  if (zp && zp->dtype() != t.dtype())
    return InvalidArgument("{} has type {}; expected {}", what, dtypeName(zp->dtype()), dtypeName(t.dtype()));
  std::vector<int32_t> v(t.numel());
  Status st = dispatchOr<TypeList<int8_t, uint8_t>>(what, t.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* p = t.data<T>();
    const T* z = zp ? zp->data<T>() : nullptr;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const int64_t zi = !z || zp->numel() == 1 ? 0 : perRow ? (i / cols) % rows : i % cols;
      v[i] = static_cast<int32_t>(p[i]) - (z ? static_cast<int32_t>(z[zi]) : 0);
    }
  });
  KILN_RETURN_IF_ERROR(st);
  return v;
}

Status matmulInt32(const Tensor& a, const Tensor* azp, const Tensor& b, const Tensor* bzp, const MatMulPlan& p,
                   int32_t* y, std::string_view op) {
  KILN_ASSIGN_OR_RETURN(auto av, centeredOperand(a, azp, p.M, p.K, true, fmt::format("{} a_zero_point", op)));
  KILN_ASSIGN_OR_RETURN(auto bv, centeredOperand(b, bzp, p.K, p.N, false, fmt::format("{} b_zero_point", op)));
  runMatMulPlan<int32_t>(p, av.data(), bv.data(), y);
  return Status::OK();
}

Status MatMulInteger(const KernelContext& ctx) {
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  Tensor& y = ctx.out(0);
  KILN_ASSIGN_OR_RETURN(MatMulPlan p, planMatMul(a.dims(), b.dims(), y.dims(), "MatMulInteger"));
  if (y.numel() == 0) return Status::OK();
  return matmulInt32(a, ctx.hasInput(2) ? &ctx.in(2) : nullptr, b, ctx.hasInput(3) ? &ctx.in(3) : nullptr, p,
                     y.data<int32_t>(), "MatMulInteger");
}

// Value i of a scale/zero-point tensor (scalar or per row/column) as float.
float paramAt(const Tensor& t, int64_t i) {
  const int64_t k = t.numel() == 1 ? 0 : i;
  float v = 0;
  dispatchType<AllPodTypes>(t.dtype(), [&](auto tag) { v = convertValue<float>(t.data<KILN_TYPE(tag)>()[k]); });
  return v;
}

Status QLinearMatMul(const KernelContext& ctx) {
  const Tensor &a = ctx.in(0), &as = ctx.in(1), &azp = ctx.in(2), &b = ctx.in(3), &bs = ctx.in(4),
               &bzp = ctx.in(5), &ys = ctx.in(6), &yzp = ctx.in(7);
  Tensor& y = ctx.out(0);
  KILN_ASSIGN_OR_RETURN(MatMulPlan p, planMatMul(a.dims(), b.dims(), y.dims(), "QLinearMatMul"));
  KILN_RETURN_IF_ERROR(backends::qlinearMatMulParamCounts(as, bs, ys, yzp, p.M, p.N));
  if (y.numel() == 0) return Status::OK();
  const int64_t M = p.M, N = p.N;
  // The rescale factor a_scale*b_scale/y_scale is computed in the scales' type (as the ONNX
  // reference does), then applied in double.
  const DType st = as.dtype();
  auto factor = [&](int64_t i, int64_t j) -> double {
    double f = 0;
    dispatchType<TypeList<float, Float16, BFloat16>>(st, [&](auto tag) {
      using S = KILN_TYPE(tag);
      const S prod = convertValue<S>(paramAt(as, i) * paramAt(bs, j));
      f = static_cast<float>(convertValue<S>(static_cast<float>(prod) / paramAt(ys, i)));
    });
    return f;
  };
  std::vector<float> accF;
  std::vector<int32_t> accI;
  const bool integer = a.dtype() == DType::kInt8 || a.dtype() == DType::kUInt8;
  if (integer) {
    accI.resize(y.numel());
    KILN_RETURN_IF_ERROR(matmulInt32(a, &azp, b, &bzp, p, accI.data(), "QLinearMatMul"));
  } else {  // float8: dequantize around the zero points, multiply in float
    accF.resize(y.numel());
    std::vector<float> af(a.numel()), bf(b.numel());
    for (int64_t i = 0; i < a.numel(); ++i) af[i] = paramAt(a, i) - paramAt(azp, (i / p.K) % M);
    for (int64_t i = 0; i < b.numel(); ++i) bf[i] = paramAt(b, i) - paramAt(bzp, i % N);
    runMatMulPlan<float>(p, af.data(), bf.data(), accF.data());
  }
  // Per-tensor parameters give one factor; per-row/column ones a table over (i, j).
  const bool perTensor = as.numel() == 1 && bs.numel() == 1 && ys.numel() == 1;
  std::vector<double> fac(perTensor ? 1 : M * N), zp(M);
  for (int64_t i = 0; i < (perTensor ? 1 : M); ++i)
    for (int64_t j = 0; j < (perTensor ? 1 : N); ++j) fac[i * N + j] = factor(i, j);
  for (int64_t i = 0; i < M; ++i) zp[i] = paramAt(yzp, i);
  return dispatchOr<TypeList<int8_t, uint8_t, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ>>(
      "QLinearMatMul", y.dtype(), [&](auto tag) {
        using Q = KILN_TYPE(tag);
        Q* py = y.data<Q>();
        for (int64_t e = 0; e < y.numel(); ++e) {
          const int64_t i = (e / N) % M, j = e % N;
          const double acc = integer ? static_cast<double>(accI[e]) : static_cast<double>(accF[e]);
          const double v = acc * fac[perTensor ? 0 : i * N + j] + zp[i];
          if constexpr (std::is_integral_v<Q>) {
            const double r = std::nearbyint(v);
            py[e] = static_cast<Q>(std::min<double>(std::max<double>(r, std::numeric_limits<Q>::lowest()),
                                                    std::numeric_limits<Q>::max()));
          } else {
            py[e] = Q(static_cast<float>(v), true);
          }
        }
      });
}

}  // namespace

Status refMatMul(const KernelContext& ctx) { return MatMul(ctx); }

void RegisterEinsumKernel(KernelRegistry& r);

void RegisterMatMulKernels(KernelRegistry& r) {
  r.addFn("MatMul", "cpu_ref_MatMul", &refMatMul);
  r.addFn("Gemm", "cpu_ref_Gemm", &refGemm);
  r.addFn("MatMulInteger", "cpu_ref_MatMulInteger", &MatMulInteger);
  r.addFn("QLinearMatMul", "cpu_ref_QLinearMatMul", &QLinearMatMul);
  RegisterEinsumKernel(r);
}

}  // namespace kiln::cpu
