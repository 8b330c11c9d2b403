// CPU kernel for Attention (opsets 23-25), following onnx/reference/ops/op_attention.py:
//   present K/V = concat(past, K/V);  S = (Q*sqrt(scale)) (K*sqrt(scale))^T;  S = softcap(S);
//   S += bias (attn_mask, causal and window frontiers, nonpad_kv_seqlen padding);
//   P = softmax(S) (a row whose bias is all -inf gives P = 0);  Y = P V.
// Work is split into (batch, q head, block of query rows) tasks; each block computes S with the
// shared blocked GEMM, so the full (Sq x T) score matrix is never materialized. float and double
// compute in their own type; float16/bfloat16 compute in float and round to the storage type at
// the points where the reference rounds (Q/K scaling, scores, bias, softmax), so results match
// the reference to storage precision.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backends/cpu/kernels/attention_llm.h"
#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/fused.h"
#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/matmul_gemm.h"

namespace kiln::cpu {

namespace {

// Rounding of intermediate values to a storage type (computation stays in float/double).
enum class Round { kNone, kFloat, kHalf, kBFloat16 };

template <typename C>
inline C roundTo(C x, Round r) {
  switch (r) {
    case Round::kNone: return x;
    case Round::kFloat: return static_cast<C>(static_cast<float>(x));
    case Round::kHalf: return static_cast<C>(static_cast<float>(Float16(static_cast<float>(x))));
    case Round::kBFloat16: return static_cast<C>(static_cast<float>(BFloat16(static_cast<float>(x))));
  }
  return x;
}

template <typename T>
constexpr Round storageRound() {
  if constexpr (std::is_same_v<T, Float16>) return Round::kHalf;
  else if constexpr (std::is_same_v<T, BFloat16>) return Round::kBFloat16;
  else return Round::kNone;
}

Round roundForDType(int64_t onnxType, Round storage, bool computeIsDouble) {
  switch (onnxType) {
    case 10: return Round::kHalf;
    case 16: return Round::kBFloat16;
    case 1: return computeIsDouble ? Round::kFloat : Round::kNone;
    case 11: return Round::kNone;  // float16/bfloat16/float compute in at least float already
    default: return storage;
  }
}

// Everything the per-block work needs, resolved once per call.
struct AttnGeometry {
  int64_t B, Hq, Hkv, Sq, Skv, Tp, T, D, Dv;
  bool in3d;
  // Element strides of Q/K/V as (batch, head, seq); the head dim is contiguous.
  int64_t qB, qH, qS, kB, kH, kS, vB, vH, vS;
  // Y strides (batch, head, seq).
  int64_t yB, yH, yS;
};

Status attentionGeometry(const KernelContext& ctx, AttnGeometry* g) {
  const Tensor &q = ctx.in(0), &k = ctx.in(1), &v = ctx.in(2);
  g->in3d = q.rank() == 3;
  if (g->in3d) {
    const int64_t hq = ctx.attrs.getInt("q_num_heads", 0), hkv = ctx.attrs.getInt("kv_num_heads", 0);
    if (hq <= 0 || hkv <= 0 || k.rank() != 3 || v.rank() != 3)
      return InvalidArgument("Attention with 3-D inputs needs positive q_num_heads and kv_num_heads");
    g->B = q.dims()[0];
    g->Hq = hq;
    g->Hkv = hkv;
    g->Sq = q.dims()[1];
    g->Skv = k.dims()[1];
    g->D = q.dims()[2] / hq;
    g->Dv = v.dims()[2] / hkv;
    g->qB = g->Sq * q.dims()[2], g->qH = g->D, g->qS = q.dims()[2];
    g->kB = g->Skv * k.dims()[2], g->kH = g->D, g->kS = k.dims()[2];
    g->vB = g->Skv * v.dims()[2], g->vH = g->Dv, g->vS = v.dims()[2];
    g->yB = g->Sq * g->Hq * g->Dv, g->yH = g->Dv, g->yS = g->Hq * g->Dv;
  } else {
    g->B = q.dims()[0];
    g->Hq = q.dims()[1];
    g->Hkv = k.dims()[1];
    g->Sq = q.dims()[2];
    g->Skv = k.dims()[2];
    g->D = q.dims()[3];
    g->Dv = v.dims()[3];
    g->qS = g->D, g->qH = g->Sq * g->D, g->qB = g->Hq * g->qH;
    g->kS = g->D, g->kH = g->Skv * g->D, g->kB = g->Hkv * g->kH;
    g->vS = g->Dv, g->vH = g->Skv * g->Dv, g->vB = g->Hkv * g->vH;
    g->yS = g->Dv, g->yH = g->Sq * g->Dv, g->yB = g->Hq * g->yH;
  }
  // Inference validated the shapes; these guard the kernel against a caller that skipped it.
  const bool ok3 = q.rank() == 3 && k.rank() == 3 && v.rank() == 3 && g->Hq > 0 && g->Hkv > 0 &&
                   q.dims()[2] % g->Hq == 0 && k.dims()[2] == g->Hkv * g->D && v.dims()[1] == g->Skv &&
                   v.dims()[2] % g->Hkv == 0;
  const bool ok4 = q.rank() == 4 && k.rank() == 4 && v.rank() == 4 && k.dims()[3] == g->D && v.dims()[1] == g->Hkv &&
                   v.dims()[2] == g->Skv;
  if (!(g->in3d ? ok3 : ok4) || g->Hkv <= 0 || g->Hq % g->Hkv != 0 || k.dims()[0] != g->B || v.dims()[0] != g->B)
    return InvalidArgument("Attention inputs {} {} {} are inconsistent", q.dims().toString(), k.dims().toString(),
                           v.dims().toString());
  g->Tp = 0;
  if (ctx.hasInput(4) != ctx.hasInput(5)) return InvalidArgument("Attention past_key and past_value must be given together");
  if (ctx.hasInput(4)) {
    const Dims &pk = ctx.in(4).dims(), &pv = ctx.in(5).dims();
    if (pk.rank() != 4 || pv.rank() != 4 || pk != Dims{g->B, g->Hkv, pk[2], g->D} || pv != Dims{g->B, g->Hkv, pk[2], g->Dv})
      return InvalidArgument("Attention past_key {} / past_value {} do not match the inputs", pk.toString(), pv.toString());
    g->Tp = pk[2];
  }
  g->T = g->Tp + g->Skv;
  if (ctx.hasInput(6) && (ctx.in(6).numel() != g->B || ctx.in(6).dtype() != DType::kInt64))
    return InvalidArgument("Attention nonpad_kv_seqlen must be int64 of shape ({}), got {}", g->B, ctx.in(6).describe());
  return Status::OK();
}

// The additive bias of one score row: attn_mask (converted to the compute type, broadcast, padded
// with -inf), plus causal, sliding-window and nonpad_kv_seqlen frontiers (-inf where masked).
template <typename C>
struct BiasPlan {
  const C* mask = nullptr;  // converted mask, its own dims aligned right to (B, Hq, Sq, Tm)
  int64_t mStride[4] = {0, 0, 0, 0};
  int64_t mLen = 0;         // the mask's last dim (<= T)
  bool causal = false;
  int64_t left = -1, right = -1;
  const int64_t* nonpad = nullptr;
  int64_t Tp = 0, Sq = 0, T = 0;

  // Offset of the causal/window frontier for batch b.
  int64_t offset(int64_t b) const {
    if (nonpad) {
      const int64_t lim = int64_t(1) << 40;  // keeps i + offset exact for absurd values
      return std::clamp(nonpad[b], -lim, lim) - Sq;
    }
    return Tp;
  }
  bool any() const { return mask || causal || left >= 0 || right >= 0 || nonpad; }

  // Fills bias[0, T) for row (b, h, i); returns true when every entry is -inf.
  bool fill(int64_t b, int64_t h, int64_t i, C* bias) const {
    const C ninf = -std::numeric_limits<C>::infinity();
    if (mask) {
      const C* m = mask + b * mStride[0] + h * mStride[1] + i * mStride[2];
      const int64_t s = mStride[3];
      for (int64_t j = 0; j < mLen; ++j) bias[j] = m[j * s];
      for (int64_t j = mLen; j < T; ++j) bias[j] = ninf;
    } else {
      std::fill(bias, bias + T, C(0));
    }
    const int64_t off = offset(b), p = i + off;
    if (causal) {
      const int64_t first = std::clamp<int64_t>(p + 1, 0, T);  // keys j > i + offset are masked
      for (int64_t j = first; j < T; ++j) bias[j] += ninf;
    }
    if (left >= 0) {
      const int64_t end = std::clamp<int64_t>(p - left, 0, T);  // keys j < p - left are masked
      for (int64_t j = 0; j < end; ++j) bias[j] += ninf;
    }
    if (right >= 0) {
      const int64_t first = std::clamp<int64_t>(p + right + 1, 0, T);
      for (int64_t j = first; j < T; ++j) bias[j] += ninf;
    }
    if (nonpad) {
      const int64_t first = std::clamp<int64_t>(nonpad[b], 0, T);
      for (int64_t j = first; j < T; ++j) bias[j] += ninf;
    }
    for (int64_t j = 0; j < T; ++j)
      if (!(bias[j] == ninf)) return false;
    return true;
  }
};

// Converts the mask to the compute type: bool -> 0 / -inf, numbers -> their value (rounded to the
// storage type like the reference's bias tensor).
template <typename C>
Status convertMask(const Tensor& m, Round storage, std::vector<C>* out) {
  out->resize(m.numel());
  C* o = out->data();
  const C ninf = -std::numeric_limits<C>::infinity();
  if (m.dtype() == DType::kBool) {
    const bool* p = m.data<bool>();
    for (int64_t i = 0; i < m.numel(); ++i) o[i] = p[i] ? C(0) : ninf;
    return Status::OK();
  }
  return dispatchOr<NumericTypes>("Attention attn_mask", m.dtype(), [&](auto tag) {
    using M = KILN_TYPE(tag);
    const M* p = m.data<M>();
    for (int64_t i = 0; i < m.numel(); ++i) o[i] = roundTo(convertValue<C>(p[i]), storage);
  });
}

// Softmax of one row in place, with the reference's conventions: an all -inf row (or one whose
// exponentials sum to 0) gives zeros; NaN propagates.
template <typename C>
void softmaxRow(C* x, int64_t n, Round r) {
  C m = n > 0 ? x[0] : C(0);
  for (int64_t j = 0; j < n; ++j) {
    x[j] = roundTo(x[j], r);
    if (std::isnan(x[j]) || std::isnan(m)) m = std::numeric_limits<C>::quiet_NaN();
    else if (x[j] > m) m = x[j];
  }
  if (m == -std::numeric_limits<C>::infinity()) {
    std::fill(x, x + n, C(0));
    return;
  }
  C sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    x[j] = roundTo(static_cast<C>(std::exp(roundTo(x[j] - m, r))), r);
    sum += x[j];
  }
  sum = roundTo(sum, r);
  if (sum == C(0)) sum = C(1);
  for (int64_t j = 0; j < n; ++j) x[j] = roundTo(x[j] / sum, r);
}

// Few-row products (decode steps): S[r][j] = q_r . k_j and Y[r] = sum_j P[r][j] v_j computed
// directly; a blocked GEMM would first pack K and V, which costs as much as the product here.
template <typename C>
[[gnu::always_inline]] inline void scoresFewRows(int64_t rows, int64_t n, int64_t d, const C* q, int64_t qs,
                                                 const C* k, int64_t ks, C* s, int64_t ss) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) {
      const C* a = q + r * qs;
      const C* b = k + j * ks;
      C acc[8] = {};
      int64_t e = 0;
      for (; e + 8 <= d; e += 8)
        for (int u = 0; u < 8; ++u) acc[u] += a[e + u] * b[e + u];
      C t = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; e < d; ++e) t += a[e] * b[e];
      s[r * ss + j] = t;
    }
}

template <typename C>
[[gnu::always_inline]] inline void pvFewRows(int64_t rows, int64_t n, int64_t dv, const C* p, int64_t ps, const C* v,
                                             int64_t vs, C* y, int64_t ys) {
  for (int64_t r = 0; r < rows; ++r) {
    C* yr = y + r * ys;
    std::fill(yr, yr + dv, C(0));
    for (int64_t j = 0; j < n; ++j) {
      const C w = p[r * ps + j];
      const C* vr = v + j * vs;
      for (int64_t e = 0; e < dv; ++e) yr[e] += w * vr[e];
    }
  }
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define KILN_ATTN_CLONES KILN_CPU_CLONES
#else
#define KILN_ATTN_CLONES
#endif
#define KILN_DEFINE_FEW_ROWS(C)                                                                                   \
  KILN_ATTN_CLONES void scoresFew(int64_t rows, int64_t n, int64_t d, const C* q, int64_t qs, const C* k,         \
                                  int64_t ks, C* s, int64_t ss) {                                                 \
    scoresFewRows<C>(rows, n, d, q, qs, k, ks, s, ss);                                                            \
  }                                                                                                               \
  KILN_ATTN_CLONES void pvFew(int64_t rows, int64_t n, int64_t dv, const C* p, int64_t ps, const C* v, int64_t vs, \
                              C* y, int64_t ys) {                                                                 \
    pvFewRows<C>(rows, n, dv, p, ps, v, vs, y, ys);                                                               \
  }
KILN_DEFINE_FEW_ROWS(float)
KILN_DEFINE_FEW_ROWS(double)
#undef KILN_DEFINE_FEW_ROWS

// Softmax of a float row computed in float (the common case), 8 lanes at a time with a
// Cephes-style exp (about 1 ulp); rows holding a NaN take softmaxRow, which propagates it.
typedef float V8 __attribute__((vector_size(32)));
typedef int32_t V8i __attribute__((vector_size(32)));

// In place: x <- exp(x).
[[gnu::always_inline]] inline void exp8(V8& x) {
  const V8 lo = (V8{} - 87.33654f);
  const V8i under = x < lo;
  x = under ? lo : x;
  V8 fx = x * (V8{} + 1.44269504088896341f) + (V8{} + 0.5f);
  V8i n = __builtin_convertvector(fx, V8i);
  const V8 nf0 = __builtin_convertvector(n, V8);
  n = nf0 > fx ? n - 1 : n;  // floor
  const V8 nf = __builtin_convertvector(n, V8);
  x = x - nf * (V8{} + 0.693359375f) - nf * (V8{} - 2.12194440e-4f);
  V8 y = (V8{} + 1.9875691500e-4f);
  y = y * x + (V8{} + 1.3981999507e-3f);
  y = y * x + (V8{} + 8.3334519073e-3f);
  y = y * x + (V8{} + 4.1665795894e-2f);
  y = y * x + (V8{} + 1.6666665459e-1f);
  y = y * x + (V8{} + 5.0000001201e-1f);
  y = y * x * x + x + (V8{} + 1.0f);
  V8i bits = (n + 127) << 23;
  V8 scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const V8 r = y * scale;
  x = under ? (V8{} + 0.0f) : r;
}

// Returns false (row untouched) when the row holds a NaN.
KILN_ATTN_CLONES bool softmaxFloatFast(float* x, int64_t n) {
  const int64_t nv = n / 8 * 8;
  V8 mv = (V8{} - std::numeric_limits<float>::infinity());
  V8i nan = {};
  for (int64_t j = 0; j < nv; j += 8) {
    V8 v;
    std::memcpy(&v, x + j, sizeof(v));
    nan |= v != v;
    mv = v > mv ? v : mv;
  }
  float m = -std::numeric_limits<float>::infinity();
  for (int k = 0; k < 8; ++k) {
    if (nan[k]) return false;
    m = std::max(m, mv[k]);
  }
  for (int64_t j = nv; j < n; ++j) {
    if (std::isnan(x[j])) return false;
    m = std::max(m, x[j]);
  }
  if (m == -std::numeric_limits<float>::infinity()) {
    std::fill(x, x + n, 0.0f);
    return true;
  }
  if (std::isinf(m)) return false;  // +inf: inf - inf gives NaN; the scalar path reproduces it
  V8 sv = (V8{} + 0.0f);
  const V8 mm = (V8{} + m);
  for (int64_t j = 0; j < nv; j += 8) {
    V8 v;
    std::memcpy(&v, x + j, sizeof(v));
    v -= mm;
    exp8(v);
    sv += v;
    std::memcpy(x + j, &v, sizeof(v));
  }
  float sum = 0;
  for (int k = 0; k < 8; ++k) sum += sv[k];
  for (int64_t j = nv; j < n; ++j) sum += (x[j] = std::exp(x[j] - m));
  if (sum == 0.0f) sum = 1.0f;
  const V8 s8 = (V8{} + sum);
  for (int64_t j = 0; j < nv; j += 8) {
    V8 v;
    std::memcpy(&v, x + j, sizeof(v));
    v = v / s8;
    std::memcpy(x + j, &v, sizeof(v));
  }
  for (int64_t j = nv; j < n; ++j) x[j] /= sum;
  return true;
}

// Query blocks with at most this many rows skip the GEMM (see scoresFewRows).
constexpr int64_t kFewRows = 2;

// Copies past and new K (or V) into the present tensor (B, Hkv, T, d), unpacking 3-D inputs.
template <typename T>
void writePresent(const AttnGeometry& g, const T* past, const T* cur, int64_t cB, int64_t cH, int64_t cS, int64_t d,
                  T* present) {
  parallelFor(g.B * g.Hkv, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.T * d)), [&](int64_t lo, int64_t hi) {
    for (int64_t bh = lo; bh < hi; ++bh) {
      const int64_t b = bh / g.Hkv, h = bh % g.Hkv;
      T* dst = present + bh * g.T * d;
      if (past && g.Tp) std::copy(past + bh * g.Tp * d, past + (bh + 1) * g.Tp * d, dst);
      for (int64_t j = 0; j < g.Skv; ++j) {
        const T* src = cur + b * cB + h * cH + j * cS;
        std::copy(src, src + d, dst + (g.Tp + j) * d);
      }
    }
  });
}

// Packs K (scaled and rounded) or V rows of every (batch, kv head) into compute-type buffers
// (B, Hkv, T, d), reading past rows first.
template <typename T, typename C>
void packKV(const AttnGeometry& g, const T* past, const T* cur, int64_t cB, int64_t cH, int64_t cS, int64_t d,
            C scale, Round r, C* out) {
  parallelFor(g.B * g.Hkv, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.T * d)), [&](int64_t lo, int64_t hi) {
    for (int64_t bh = lo; bh < hi; ++bh) {
      const int64_t b = bh / g.Hkv, h = bh % g.Hkv;
      C* dst = out + bh * g.T * d;
      for (int64_t j = 0; j < g.T; ++j) {
        const T* src = j < g.Tp ? past + (bh * g.Tp + j) * d : cur + b * cB + h * cH + (j - g.Tp) * cS;
        for (int64_t e = 0; e < d; ++e) dst[j * d + e] = roundTo(static_cast<C>(src[e]) * scale, r);
      }
    }
  });
}

template <typename T>
Status attentionTyped(const KernelContext& ctx, const AttnGeometry& g) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  constexpr Round rs = storageRound<T>();
  constexpr bool native = std::is_same_v<T, C>;
  const AttrMap& a = ctx.attrs;
  const int64_t mode = a.getInt("qk_matmul_output_mode");
  const float softcap = a.getFloat("softcap");
  const Round rsm = roundForDType(a.getInt("softmax_precision", 0), rs, std::is_same_v<C, double>);

  const double scale = a.has("scale") ? double(a.getFloat("scale")) : 1.0 / std::sqrt(double(g.D));
  const C sqrtScale = static_cast<C>(convertValue<T>(std::sqrt(scale)));  // cast to T like the reference
  const C fullScale = sqrtScale * sqrtScale;

  const T* q = ctx.in(0).data<T>();
  const T* k = ctx.in(1).data<T>();
  const T* v = ctx.in(2).data<T>();
  const T* pastK = ctx.hasInput(4) ? ctx.in(4).data<T>() : nullptr;
  const T* pastV = ctx.hasInput(5) ? ctx.in(5).data<T>() : nullptr;
  T* y = ctx.out(0).data<T>();
  T* presentK = ctx.hasOutput(1) ? ctx.out(1).data<T>() : nullptr;
  T* presentV = ctx.hasOutput(2) ? ctx.out(2).data<T>() : nullptr;
  T* qkOut = ctx.hasOutput(3) ? ctx.out(3).data<T>() : nullptr;
  if (presentK) writePresent(g, pastK, k, g.kB, g.kH, g.kS, g.D, presentK);
  if (presentV) writePresent(g, pastV, v, g.vB, g.vH, g.vS, g.Dv, presentV);

  // Where K/V rows come from, per (batch, kv head): base pointer and row stride.
  std::vector<C> kPack, vPack;
  const C *kSrc = nullptr, *vSrc = nullptr;
  int64_t kSB = 0, kSH = 0, kSS = 0, vSB = 0, vSH = 0, vSS = 0;
  if constexpr (native) {
    if (presentK || !pastK) {
      kSrc = presentK ? presentK : k;
      kSB = presentK ? g.Hkv * g.T * g.D : g.kB, kSH = presentK ? g.T * g.D : g.kH, kSS = presentK ? g.D : g.kS;
    }
    if (presentV || !pastV) {
      vSrc = presentV ? presentV : v;
      vSB = presentV ? g.Hkv * g.T * g.Dv : g.vB, vSH = presentV ? g.T * g.Dv : g.vH, vSS = presentV ? g.Dv : g.vS;
    }
  }
  if (!kSrc) {
    kPack.resize(g.B * g.Hkv * g.T * g.D);
    packKV(g, pastK, k, g.kB, g.kH, g.kS, g.D, native ? C(1) : sqrtScale, rs, kPack.data());
    kSrc = kPack.data(), kSB = g.Hkv * g.T * g.D, kSH = g.T * g.D, kSS = g.D;
  }
  if (!vSrc) {
    vPack.resize(g.B * g.Hkv * g.T * g.Dv);
    packKV(g, pastV, v, g.vB, g.vH, g.vS, g.Dv, C(1), Round::kNone, vPack.data());
    vSrc = vPack.data(), vSB = g.Hkv * g.T * g.Dv, vSH = g.T * g.Dv, vSS = g.Dv;
  }

  // Bias plan.
  BiasPlan<C> bias;
  std::vector<C> maskC;
  if (ctx.hasInput(3)) {
    const Tensor& m = ctx.in(3);
    KILN_RETURN_IF_ERROR(convertMask<C>(m, rs, &maskC));
    const Dims& md = m.dims();
    const int64_t target[4] = {g.B, g.Hq, g.Sq, g.T};
    int64_t stride = 1;
    for (int i = 3; i >= 0; --i) {
      const int mi = i - (4 - md.rank());
      const int64_t d = mi >= 0 ? md[mi] : 1;
      if (i == 3 ? d > g.T : (d != 1 && d != target[i]))
        return InvalidArgument("Attention attn_mask {} does not broadcast to ({}, {}, {}, {})", md.toString(), g.B,
                               g.Hq, g.Sq, g.T);
      bias.mStride[i] = (d == 1 && i != 3) ? 0 : stride;
      stride *= d;
    }
    bias.mask = maskC.data();
    bias.mLen = md.rank() ? md[md.rank() - 1] : 1;
  }
  bias.causal = a.getInt("is_causal") != 0;
  // Windows wider than any offset are unbounded; the clamp keeps the frontier arithmetic exact.
  bias.left = std::min<int64_t>(a.getInt("left_window_size"), int64_t(1) << 42);
  bias.right = std::min<int64_t>(a.getInt("right_window_size"), int64_t(1) << 42);
  bias.nonpad = ctx.hasInput(6) ? ctx.in(6).data<int64_t>() : nullptr;
  bias.Tp = g.Tp, bias.Sq = g.Sq, bias.T = g.T;
  const bool anyBias = bias.any();

  const int64_t nT = g.T, group = g.Hq / g.Hkv;
  const int64_t blockRows = std::min<int64_t>(std::max<int64_t>(g.Sq, 1), std::max<int64_t>(8, 32768 / std::max<int64_t>(nT, 1)));
  const int64_t nBlocks = (g.Sq + blockRows - 1) / blockRows;
  const int64_t tasks = g.B * g.Hq * nBlocks;
  parallelFor(tasks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<C> s(blockRows * nT), biasRow(nT), qBuf, yBuf;
    if constexpr (!native) {
      qBuf.resize(blockRows * g.D);
      yBuf.resize(blockRows * g.Dv);
    }
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t blk = task % nBlocks, bh = task / nBlocks;
      const int64_t b = bh / g.Hq, h = bh % g.Hq, kh = h / group;
      const int64_t i0 = blk * blockRows, rows = std::min(blockRows, g.Sq - i0);
      // Q block (rows x D).
      MatView<C> qv;
      if constexpr (native) {
        qv = rowMajor<C>(q + b * g.qB + h * g.qH + i0 * g.qS, g.qS);
      } else {
        for (int64_t r = 0; r < rows; ++r) {
          const T* src = q + b * g.qB + h * g.qH + (i0 + r) * g.qS;
          for (int64_t e = 0; e < g.D; ++e) qBuf[r * g.D + e] = roundTo(static_cast<C>(src[e]) * sqrtScale, rs);
        }
        qv = rowMajor<C>(qBuf.data(), g.D);
      }
      const C* kb = kSrc + b * kSB + kh * kSH;
      const C* vb = vSrc + b * vSB + kh * vSH;
      // S = Q K^T: K row j is column j of the right operand.
      if (rows <= kFewRows) scoresFew(rows, nT, g.D, qv.p, qv.rs, kb, kSS, s.data(), nT);
      else gemm<C>(rows, nT, g.D, qv, MatView<C>{kb, 1, kSS}, s.data(), nT, false, false);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = i0 + r;
        C* sr = s.data() + r * nT;
        T* qo = qkOut ? qkOut + ((b * g.Hq + h) * g.Sq + i) * nT : nullptr;
        for (int64_t j = 0; j < nT; ++j) sr[j] = native ? sr[j] * fullScale : roundTo(sr[j], rs);
        if (qo && mode == 0)
          for (int64_t j = 0; j < nT; ++j) qo[j] = convertValue<T>(sr[j]);
        if (softcap > 0) {
          const C cap = static_cast<C>(convertValue<T>(softcap));
          for (int64_t j = 0; j < nT; ++j)
            sr[j] = roundTo(roundTo(static_cast<C>(std::tanh(roundTo(sr[j] / cap, rs))), rs) * cap, rs);
        }
        if (qo && mode == 1)
          for (int64_t j = 0; j < nT; ++j) qo[j] = convertValue<T>(sr[j]);
        bool allMasked = false;
        if (anyBias) {
          allMasked = bias.fill(b, h, i, biasRow.data());
          for (int64_t j = 0; j < nT; ++j) sr[j] = roundTo(sr[j] + biasRow[j], rs);
        }
        if (qo && mode == 2)
          for (int64_t j = 0; j < nT; ++j) qo[j] = convertValue<T>(sr[j]);
        if constexpr (std::is_same_v<C, float>) {
          if (rsm != Round::kNone || !softmaxFloatFast(sr, nT)) softmaxRow(sr, nT, rsm);
        } else {
          softmaxRow(sr, nT, rsm);
        }
        if (allMasked) std::fill(sr, sr + nT, C(0));
        for (int64_t j = 0; j < nT; ++j) sr[j] = roundTo(sr[j], rs);
        if (qo && mode == 3)
          for (int64_t j = 0; j < nT; ++j) qo[j] = convertValue<T>(sr[j]);
      }
      // Y block = P V.
      T* yb = y + b * g.yB + h * g.yH + i0 * g.yS;
      if constexpr (native) {
        if (rows <= kFewRows) pvFew(rows, nT, g.Dv, s.data(), nT, vb, vSS, yb, g.yS);
        else gemm<C>(rows, g.Dv, nT, rowMajor<C>(s.data(), nT), rowMajor<C>(vb, vSS), yb, g.yS, false, false);
      } else {
        if (rows <= kFewRows) pvFew(rows, nT, g.Dv, s.data(), nT, vb, vSS, yBuf.data(), g.Dv);
        else gemm<C>(rows, g.Dv, nT, rowMajor<C>(s.data(), nT), rowMajor<C>(vb, vSS), yBuf.data(), g.Dv, false, false);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t e = 0; e < g.Dv; ++e) yb[r * g.yS + e] = convertValue<T>(yBuf[r * g.Dv + e]);
      }
    }
  });
  return Status::OK();
}

Status Attention(const KernelContext& ctx) {
  AttnGeometry g;
  KILN_RETURN_IF_ERROR(attentionGeometry(ctx, &g));
  const DType t = ctx.in(0).dtype();
  if (ctx.in(1).dtype() != t || ctx.in(2).dtype() != t)
    return Unsupported("Attention needs Q, K and V of one type (got {}, {}, {})", dtypeName(t),
                       dtypeName(ctx.in(1).dtype()), dtypeName(ctx.in(2).dtype()));
  Status inner;
  Status st = dispatchOr<FloatTypes>("Attention", t, [&](auto tag) { inner = attentionTyped<KILN_TYPE(tag)>(ctx, g); });
  KILN_RETURN_IF_ERROR(st);
  return inner;
}

// kiln:PackedAttention: the Q, K, V column blocks copied out of QKV, then ONNX Attention (3-D).
Status PackedAttention(const KernelContext& ctx) {
  const Tensor& qkv = ctx.in(0);
  const int64_t hq = ctx.attrs.getInt("q_num_heads", 0), hkv = ctx.attrs.getInt("kv_num_heads", 0);
  if (qkv.rank() != 3 || hq <= 0 || hkv <= 0 || qkv.dims()[2] % (hq + 2 * hkv) != 0)
    return InvalidArgument("PackedAttention: QKV {} is not [B, S, (q_num_heads + 2 kv_num_heads) * D] ({}, {})",
                           qkv.dims().toString(), hq, hkv);
  const int64_t rows = qkv.dims()[0] * qkv.dims()[1], w = qkv.dims()[2], d = w / (hq + 2 * hkv);
  const size_t es = dtypeSize(qkv.dtype());
  const int64_t widths[3] = {hq * d, hkv * d, hkv * d};
  // The blocks live in per-context scratch (no allocation per run once sized).
  ScratchState local;
  auto* own = dynamic_cast<ScratchState*>(ctx.state);
  ScratchState* scratch = own ? own : &local;
  Tensor parts[3];
  int64_t col = 0;
  for (int i = 0; i < 3; ++i) {
    parts[i] = scratch->get(static_cast<size_t>(i), qkv.dtype(), Dims{qkv.dims()[0], qkv.dims()[1], widths[i]});
    const char* src = static_cast<const char*>(qkv.raw()) + col * es;
    char* dst = static_cast<char*>(parts[i].raw());
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * widths[i] * es, src + r * w * es, widths[i] * es);
    col += widths[i];
  }
  const Tensor* ins[4] = {&parts[0], &parts[1], &parts[2], ctx.hasInput(1) ? &ctx.in(1) : nullptr};
  KernelContext inner{ctx.attrs, std::span<const Tensor* const>(ins, 4), ctx.outputs};
  return Attention(inner);
}

}  // namespace

void RegisterAttentionKernels(KernelRegistry& r) {
  r.addFn("Attention", "cpu_ref_Attention", &Attention);
  r.addFn("PackedAttention", "cpu_ref_PackedAttention", &PackedAttention, 0, "kiln",
          [] { return std::unique_ptr<KernelState>(std::make_unique<ScratchState>()); });
  RegisterAttentionLlmKernels(r);
}

}  // namespace kiln::cpu
