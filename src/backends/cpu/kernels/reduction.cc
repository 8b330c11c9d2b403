// CPU kernels for Reduce* and ArgMax/ArgMin. The reduced tensor is collapsed into runs of kept and
// reduced axes; when the innermost run is reduced each output reduces contiguous rows (the
// transformer hot path: ReduceMean over the last axis), otherwise rows of outputs accumulate
// contiguous input rows column-wise. Both loops are parallel over outputs.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/reduction_common.h"

namespace kiln::cpu {

namespace {

enum class ROp { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// Double -> T without undefined behaviour for integers (NaN -> 0, out of range saturates).
template <typename T>
T saturateCast(double v) {
  if constexpr (isFloatLike<T>) {
    return convertValue<T>(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0;
  } else {
    if (std::isnan(v)) return T(0);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

template <typename A>
struct LseState {
  A m = -std::numeric_limits<A>::infinity();
  A s = 0;
};

// One reduction: the accumulator, its identity, a step, and the final value for n elements.
// Floats accumulate in their compute type. Integers accumulate in 64 bits: max/min compare as
// int64/uint64; sums and products wrap (uint64, modular like T itself, without signed overflow);
// ReduceLogSumExp of integers runs in double.
template <ROp kOp, typename T>
struct Reducer {
  static constexpr bool kFloat = isFloatLike<T>;
  using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;  // integers only
  using A = std::conditional_t<kFloat, compute_t<T>,
            std::conditional_t<kOp == ROp::kLogSumExp, double,
            std::conditional_t<kOp == ROp::kMax || kOp == ROp::kMin, Wide, uint64_t>>>;
  using S = std::conditional_t<kOp == ROp::kLogSumExp, LseState<A>, A>;
  static constexpr bool kAdditive = kOp == ROp::kSum || kOp == ROp::kMean || kOp == ROp::kL1 ||
                                    kOp == ROp::kL2 || kOp == ROp::kLogSum || kOp == ROp::kSumSquare;

  static A load(T x) {
    if constexpr (kFloat) return static_cast<A>(static_cast<compute_t<T>>(x));
    else return static_cast<A>(static_cast<Wide>(x));
  }
  static A map(A x) {
    if constexpr (kOp == ROp::kL1) {
      if constexpr (kFloat) return x < A(0) ? -x : x;
      else if constexpr (std::is_signed_v<T>) return static_cast<int64_t>(x) < 0 ? A(0) - x : x;
      else return x;
    } else if constexpr (kOp == ROp::kL2 || kOp == ROp::kSumSquare) {
      return x * x;
    } else {
      return x;
    }
  }
  static S init() {
    if constexpr (kOp == ROp::kLogSumExp) {
      return S{};
    } else if constexpr (kOp == ROp::kProd) {
      return A(1);
    } else if constexpr (kOp == ROp::kMax) {
      if constexpr (kFloat) return -std::numeric_limits<A>::infinity();
      else return static_cast<A>(std::numeric_limits<T>::lowest());
    } else if constexpr (kOp == ROp::kMin) {
      if constexpr (kFloat) return std::numeric_limits<A>::infinity();
      else return static_cast<A>(std::numeric_limits<T>::max());
    } else {
      return A(0);
    }
  }
  static void step(S& s, A x) {
    if constexpr (kAdditive) {
      s += map(x);
    } else if constexpr (kOp == ROp::kProd) {
      s *= x;
    } else if constexpr (kOp == ROp::kMax) {
      s = (x > s || x != x) ? x : s;  // NaN propagates
    } else if constexpr (kOp == ROp::kMin) {
      s = (x < s || x != x) ? x : s;
    } else {  // log-sum-exp, online: s = sum exp(x - m) with m the running maximum
      if (x > s.m) {
        s.s = s.s * std::exp(s.m - x) + A(1);
        s.m = x;
      } else if (x == s.m) {
        s.s += A(1);  // also inf == inf, which would otherwise give exp(NaN)
      } else {
        s.s += std::exp(x - s.m);
      }
    }
  }
  // float32 rows run on 4-lane SIMD (sums, and max/min with NaN propagation).
  static constexpr bool kSimd = std::is_same_v<T, float> && (kAdditive || kOp == ROp::kMax || kOp == ROp::kMin);
  static f32x4 map4(f32x4 v) {
    if constexpr (kOp == ROp::kL1) return reinterpret_cast<f32x4>(reinterpret_cast<i32x4>(v) & splat4i(0x7fffffff));
    else if constexpr (kOp == ROp::kL2 || kOp == ROp::kSumSquare) return v * v;
    else return v;
  }
  static f32x4 step4(f32x4 acc, f32x4 v) {
    if constexpr (kAdditive) return acc + map4(v);
    else if constexpr (kOp == ROp::kMax) return select4((v > acc) | (v != v), v, acc);
    else return select4((v < acc) | (v != v), v, acc);
  }
  // A contiguous run. Other additive float reductions keep 8 partial sums (vectorizes, and
  // rounds less than one running sum).
  static void run(S& s, const T* p, int64_t n) {
    if constexpr (kSimd) {
      int64_t i = 0;
      if constexpr (kAdditive) {
        f32x4 a = splat4(0.0f), b = splat4(0.0f);
        for (; i + 8 <= n; i += 8) a = step4(a, load4(p + i)), b = step4(b, load4(p + i + 4));
        s += hsum4(a + b);
      } else {
        f32x4 a = splat4(init());
        for (; i + 4 <= n; i += 4) a = step4(a, load4(p + i));
        for (int k = 0; k < 4; ++k) step(s, a[k]);
      }
      for (; i < n; ++i) step(s, p[i]);
    } else if constexpr (kAdditive && std::is_floating_point_v<A>) {
      A acc[8] = {};
      int64_t i = 0;
      for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) acc[k] += map(load(p[i + k]));
      for (; i < n; ++i) acc[0] += map(load(p[i]));
      s += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    } else {
      for (int64_t i = 0; i < n; ++i) step(s, load(p[i]));
    }
  }
  // Column-wise: acc[j] = step(acc[j], p[j]).
  static void stepRow(S* acc, const T* p, int64_t len) {
    int64_t j = 0;
    if constexpr (kSimd) {
      for (; j + 4 <= len; j += 4) store4(acc + j, step4(load4(acc + j), load4(p + j)));
    }
    for (; j < len; ++j) step(acc[j], load(p[j]));
  }
  // The accumulator of an integer sum as a signed (or unsigned) value.
  static Wide wide(A s) { return static_cast<Wide>(s); }
  static T finish(const S& s, int64_t n) {
    if constexpr (kOp == ROp::kMean) {
      if constexpr (kFloat) return convertValue<T>(s / static_cast<A>(n));
      else return n == 0 ? T(0) : static_cast<T>(wide(s) / static_cast<Wide>(n));
    } else if constexpr (kOp == ROp::kL2) {
      if constexpr (kFloat) return convertValue<T>(std::sqrt(s));
      else return saturateCast<T>(std::sqrt(static_cast<double>(wide(s))));
    } else if constexpr (kOp == ROp::kLogSum) {
      if constexpr (kFloat) return convertValue<T>(std::log(s));
      else return saturateCast<T>(std::log(static_cast<double>(wide(s))));
    } else if constexpr (kOp == ROp::kLogSumExp) {
      A v = s.m == -std::numeric_limits<A>::infinity() ? s.m : std::log(s.s) + s.m;
      return saturateCast<T>(static_cast<double>(v));
    } else {
      return convertValue<T>(s);
    }
  }
};

// The input's axes collapsed into runs, outermost first; size-1 axes are dropped and the layout
// always ends with a run (a reduced run of 1 when nothing is reduced).
struct ReduceLayout {
  int rank = 0;
  std::array<int64_t, kMaxRank + 1> dim{}, stride{};
  std::array<bool, kMaxRank + 1> red{};
  int64_t outCount = 1, redCount = 1;
};

ReduceLayout makeLayout(const Dims& d, const std::vector<bool>& reduced) {
  ReduceLayout L;
  for (int i = 0; i < d.rank(); ++i) {
    if (d[i] == 1) continue;
    if (L.rank > 0 && L.red[L.rank - 1] == reduced[i]) {
      L.dim[L.rank - 1] *= d[i];
    } else {
      L.dim[L.rank] = d[i];
      L.red[L.rank] = reduced[i];
      ++L.rank;
    }
  }
  if (L.rank == 0 || !L.red[L.rank - 1]) {
    bool anyReduced = false;
    for (int i = 0; i < L.rank; ++i) anyReduced |= L.red[i];
    if (!anyReduced) {
      L.dim[L.rank] = 1;
      L.red[L.rank] = true;
      ++L.rank;
    }
  }
  int64_t s = 1;
  for (int i = L.rank - 1; i >= 0; --i) {
    L.stride[i] = s;
    s *= L.dim[i];
    (L.red[i] ? L.redCount : L.outCount) *= L.dim[i];
  }
  return L;
}

// Iterates over the offsets of a subset of a layout's runs (an odometer).
class Odometer {
 public:
  Odometer(const ReduceLayout& L, bool reducedRuns, int skipLast) {
    for (int i = 0; i < L.rank - skipLast; ++i)
      if (L.red[i] == reducedRuns) {
        dim_[n_] = L.dim[i];
        stride_[n_] = L.stride[i];
        ++n_;
      }
  }
  int64_t count() const {
    int64_t c = 1;
    for (int i = 0; i < n_; ++i) c *= dim_[i];
    return c;
  }
  // Offset of the k-th position (row-major over the selected runs).
  int64_t offsetOf(int64_t k) const {
    int64_t off = 0;
    for (int i = n_ - 1; i >= 0; --i) {
      off += (k % dim_[i]) * stride_[i];
      k /= dim_[i];
    }
    return off;
  }
  // Calls f(offset) for every position, in order.
  template <typename F>
  void forEach(F&& f) const {
    std::array<int64_t, kMaxRank + 1> idx{};
    int64_t off = 0;
    const int64_t total = count();
    for (int64_t k = 0; k < total; ++k) {
      f(off);
      for (int i = n_ - 1; i >= 0; --i) {
        off += stride_[i];
        if (++idx[i] < dim_[i]) break;
        off -= stride_[i] * dim_[i];
        idx[i] = 0;
      }
    }
  }

 private:
  std::array<int64_t, kMaxRank + 1> dim_{}, stride_{};
  int n_ = 0;
};

template <ROp kOp, typename T>
void reduceTyped(const T* x, const Dims& dims, const std::vector<bool>& reduced, T* y, int64_t outNumel) {
  using R = Reducer<kOp, T>;
  using S = typename R::S;
  if (outNumel == 0) return;
  if (dims.numel() == 0) {  // a reduced axis of size 0: every output is the identity's value
    const T v = R::finish(R::init(), 0);
    std::fill(y, y + outNumel, v);
    return;
  }
  const ReduceLayout L = makeLayout(dims, reduced);
  const int64_t last = L.dim[L.rank - 1];
  const int64_t n = L.redCount;
  if (L.red[L.rank - 1]) {
    // Each output reduces rows of `last` contiguous elements at the offsets of the other runs.
    const Odometer outer(L, false, 1), rows(L, true, 1);
    const int64_t work = std::max<int64_t>(1, n);
    parallelFor(L.outCount, std::max<int64_t>(1, 32768 / work), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* base = x + outer.offsetOf(o);
        S s = R::init();
        rows.forEach([&](int64_t off) { R::run(s, base + off, last); });
        y[o] = R::finish(s, n);
      }
    });
  } else {
    // Rows of `last` outputs accumulate the input rows at the reduced runs' offsets, column-wise,
    // in blocks of columns so that a few large rows still split across threads.
    constexpr int64_t kBlock = 512;
    const Odometer outer(L, false, 1), rows(L, true, 0);
    const int64_t nRows = L.outCount / last;
    const int64_t nBlocks = (last + kBlock - 1) / kBlock;
    const int64_t work = std::max<int64_t>(1, n * std::min(last, kBlock));
    parallelFor(nRows * nBlocks, std::max<int64_t>(1, 32768 / work), [&](int64_t b, int64_t e) {
      std::array<S, kBlock> acc;
      for (int64_t t = b; t < e; ++t) {
        const int64_t row = t / nBlocks, j0 = (t % nBlocks) * kBlock;
        const int64_t len = std::min(kBlock, last - j0);
        const T* base = x + outer.offsetOf(row) + j0;
        for (int64_t j = 0; j < len; ++j) acc[j] = R::init();
        rows.forEach([&](int64_t off) { R::stepRow(acc.data(), base + off, len); });
        T* py = y + row * last + j0;
        for (int64_t j = 0; j < len; ++j) py[j] = R::finish(acc[j], n);
      }
    });
  }
}

using ReduceTypes = NumericTypes;
using ReduceMinMaxTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t,
                                   int32_t, uint32_t, int64_t, uint64_t, bool>;

template <ROp kOp, typename List>
Status reduceKernel(const KernelContext& ctx, std::string_view op) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int rank = x.rank();
  std::vector<int64_t> axes;
  if (ctx.hasInput(1)) {
    const Tensor& a = ctx.in(1);
    for (int64_t i = 0; i < a.numel(); ++i) axes.push_back(a.intAt(i));
  }
  std::vector<bool> reduced(rank, false);
  if (axes.empty()) {
    if (ctx.attrs.getInt("noop_with_empty_axes") != 0) {
      if (y.numel() != x.numel() || y.dtype() != x.dtype())
        return InternalError("{}: output {} does not match the input {}", op, y.describe(), x.describe());
      copyTensorData(x, y);
      return Status::OK();
    }
    reduced.assign(rank, true);
  } else {
    for (int64_t a : axes) {
      if (a < -rank || a >= rank) return InvalidArgument("{} axes value {} is out of range for rank {}", op, a, rank);
      int k = static_cast<int>(a < 0 ? a + rank : a);
      if (reduced[k]) return InvalidArgument("{} axes repeats axis {}", op, a);
      reduced[k] = true;
    }
  }
  int64_t outNumel = 1;
  for (int i = 0; i < rank; ++i) outNumel *= reduced[i] ? 1 : x.dims()[i];
  if (y.numel() != outNumel || y.dtype() != x.dtype())
    return InternalError("{}: output {} does not match the reduction of {}", op, y.describe(), x.describe());
  return dispatchOr<List>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    reduceTyped<kOp, T>(x.data<T>(), x.dims(), reduced, y.data<T>(), outNumel);
  });
}

// ---- ArgMax / ArgMin ------------------------------------------------------------------

template <bool kMax>
Status argKernel(const KernelContext& ctx, std::string_view op) {
  const Tensor& x = ctx.in(0);
  int axis;
  if (!normAxis(ctx.attrs.getInt("axis"), x.rank(), &axis))
    return InvalidArgument("{} axis {} is out of range for rank {}", op, ctx.attrs.getInt("axis"), x.rank());
  const bool last = ctx.attrs.getInt("select_last_index") != 0;
  const AxisSplit s = splitAt(x.dims(), axis);
  if (s.n == 0 && s.outer * s.inner > 0) return InvalidArgument("{} over an axis of size 0 has no result", op);
  if (x.numel() == 0) return Status::OK();
  int64_t* py = ctx.out(0).data<int64_t>();
  return dispatchOr<NumericTypes>(op, x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    const T* px = x.data<T>();
    if (s.inner == 1) {
      parallelFor(s.outer, std::max<int64_t>(1, 32768 / s.n), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          const T* p = px + o * s.n;
          C best = static_cast<C>(p[0]);
          int64_t bi = 0;
          for (int64_t i = 1; i < s.n; ++i) {
            C v = static_cast<C>(p[i]);
            if (argBetter<kMax>(v, best, last)) best = v, bi = i;
          }
          py[o] = bi;
        }
      });
      return;
    }
    constexpr int64_t kBlock = 256;
    const int64_t nBlocks = (s.inner + kBlock - 1) / kBlock;
    parallelFor(s.outer * nBlocks, std::max<int64_t>(1, 32768 / (s.n * std::min(kBlock, s.inner))),
                [&](int64_t b, int64_t e) {
      std::array<C, kBlock> best;
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / nBlocks, j0 = (t % nBlocks) * kBlock;
        const int64_t len = std::min(kBlock, s.inner - j0);
        const T* p = px + o * s.n * s.inner + j0;
        int64_t* pi = py + o * s.inner + j0;
        for (int64_t j = 0; j < len; ++j) best[j] = static_cast<C>(p[j]), pi[j] = 0;
        for (int64_t i = 1; i < s.n; ++i) {
          const T* row = p + i * s.inner;
          for (int64_t j = 0; j < len; ++j) {
            C v = static_cast<C>(row[j]);
            if (argBetter<kMax>(v, best[j], last)) best[j] = v, pi[j] = i;
          }
        }
      }
    });
  });
}

}  // namespace

void RegisterReductionKernels(KernelRegistry& r) {
  r.addFn("ReduceSum", "cpu_ref_ReduceSum", [](const KernelContext& c) { return reduceKernel<ROp::kSum, ReduceTypes>(c, "ReduceSum"); });
  r.addFn("ReduceMean", "cpu_ref_ReduceMean", [](const KernelContext& c) { return reduceKernel<ROp::kMean, ReduceTypes>(c, "ReduceMean"); });
  r.addFn("ReduceMax", "cpu_ref_ReduceMax", [](const KernelContext& c) { return reduceKernel<ROp::kMax, ReduceMinMaxTypes>(c, "ReduceMax"); });
  r.addFn("ReduceMin", "cpu_ref_ReduceMin", [](const KernelContext& c) { return reduceKernel<ROp::kMin, ReduceMinMaxTypes>(c, "ReduceMin"); });
  r.addFn("ReduceProd", "cpu_ref_ReduceProd", [](const KernelContext& c) { return reduceKernel<ROp::kProd, ReduceTypes>(c, "ReduceProd"); });
  r.addFn("ReduceL1", "cpu_ref_ReduceL1", [](const KernelContext& c) { return reduceKernel<ROp::kL1, ReduceTypes>(c, "ReduceL1"); });
  r.addFn("ReduceL2", "cpu_ref_ReduceL2", [](const KernelContext& c) { return reduceKernel<ROp::kL2, ReduceTypes>(c, "ReduceL2"); });
  r.addFn("ReduceLogSum", "cpu_ref_ReduceLogSum", [](const KernelContext& c) { return reduceKernel<ROp::kLogSum, ReduceTypes>(c, "ReduceLogSum"); });
  r.addFn("ReduceLogSumExp", "cpu_ref_ReduceLogSumExp", [](const KernelContext& c) { return reduceKernel<ROp::kLogSumExp, ReduceTypes>(c, "ReduceLogSumExp"); });
  r.addFn("ReduceSumSquare", "cpu_ref_ReduceSumSquare", [](const KernelContext& c) { return reduceKernel<ROp::kSumSquare, ReduceTypes>(c, "ReduceSumSquare"); });
  r.addFn("ArgMax", "cpu_ref_ArgMax", [](const KernelContext& c) { return argKernel<true>(c, "ArgMax"); });
  r.addFn("ArgMin", "cpu_ref_ArgMin", [](const KernelContext& c) { return argKernel<false>(c, "ArgMin"); });
  RegisterSoftmaxKernels(r);
  RegisterScanKernels(r);
}

}  // namespace kiln::cpu
