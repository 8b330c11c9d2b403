// CPU kernels for LLM building blocks of the attention family: RotaryEmbedding, SwiGLU,
// TensorScatter (KV cache writes), LinearAttention (linear/gated/delta recurrences) and
// CausalConvWithState. Small floats compute in float; where the reference computes in the storage
// type, intermediate results are rounded to it at the same points.
#include "backends/cpu/kernels/attention_llm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/kernels/kernel_util.h"

namespace kiln::cpu {

namespace {

using RopeTypes = TypeList<float, Float16, BFloat16>;

// Rounds a float to T's precision (identity for float and double).
template <typename T, typename C>
inline C rt(C x) {
  if constexpr (isSmallFloat<T>) return static_cast<C>(static_cast<float>(T(static_cast<float>(x))));
  else return x;
}

// ---- RotaryEmbedding --------------------------------------------------------------------------

Status RotaryEmbedding(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &cosT = ctx.in(1), &sinT = ctx.in(2);
  const Tensor* pos = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  const bool interleaved = ctx.attrs.getInt("interleaved") != 0;
  const Dims& xd = x.dims();
  if (xd.rank() != 3 && xd.rank() != 4)
    return InvalidArgument("RotaryEmbedding input must be 3-D or 4-D, got {}", xd.toString());
  const bool is4d = xd.rank() == 4;
  const int64_t B = xd[0], S = is4d ? xd[2] : xd[1];
  const int64_t H = is4d ? xd[1] : ctx.attrs.getInt("num_heads", 0);
  if (H <= 0 || (!is4d && xd[2] % H != 0))
    return InvalidArgument("RotaryEmbedding: hidden size {} is not divisible by num_heads {}", xd[2], H);
  const int64_t hd = is4d ? xd[3] : xd[2] / H;
  const int64_t rot = ctx.attrs.getInt("rotary_embedding_dim") ? ctx.attrs.getInt("rotary_embedding_dim") : hd;
  if (rot > hd || rot % 2 != 0)
    return InvalidArgument("RotaryEmbedding rotary dim {} must be even and at most the head size {}", rot, hd);
  const int64_t half = rot / 2;
  if (cosT.dims() != sinT.dims())
    return InvalidArgument("RotaryEmbedding cos_cache {} and sin_cache {} differ in shape", cosT.dims().toString(),
                           sinT.dims().toString());
  const Dims& cd = cosT.dims();
  int64_t maxPos = 0;
  if (pos) {
    if (cd.rank() != 2 || cd[1] != half)
      return InvalidArgument("RotaryEmbedding caches must have shape (max_position, {}) with position_ids, got {}",
                             half, cd.toString());
    if (pos->dims() != Dims{B, S})
      return InvalidArgument("RotaryEmbedding position_ids must have shape ({}, {}), got {}", B, S,
                             pos->dims().toString());
    maxPos = cd[0];
    const int64_t* p = pos->data<int64_t>();
    for (int64_t i = 0; i < pos->numel(); ++i)
      if (p[i] < -maxPos || p[i] >= maxPos)
        return InvalidArgument("RotaryEmbedding position_ids[{}] = {} is out of range for {} cached positions", i,
                               p[i], maxPos);
  } else if (cd != Dims{B, S, half}) {
    return InvalidArgument("RotaryEmbedding caches must have shape ({}, {}, {}) without position_ids, got {}", B, S,
                           half, cd.toString());
  }
  return dispatchOr<RopeTypes>("RotaryEmbedding", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    const T* pc = cosT.data<T>();
    const T* ps = sinT.data<T>();
    T* py = ctx.out(0).data<T>();
    const int64_t* pp = pos ? pos->data<int64_t>() : nullptr;
    parallelFor(B * S, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, H * hd)), [&](int64_t lo, int64_t hi) {
      for (int64_t bs = lo; bs < hi; ++bs) {
        const int64_t b = bs / S, s = bs % S;
        int64_t row = bs;
        if (pp) row = pp[bs] < 0 ? pp[bs] + maxPos : pp[bs];
        const T* c = pc + row * half;
        const T* sn = ps + row * half;
        for (int64_t h = 0; h < H; ++h) {
          const int64_t off = is4d ? ((b * H + h) * S + s) * hd : (bs * H + h) * hd;
          const T* xi = px + off;
          T* yo = py + off;
          for (int64_t i = 0; i < half; ++i) {
            const int64_t i1 = interleaved ? 2 * i : i, i2 = interleaved ? 2 * i + 1 : i + half;
            const float x1 = static_cast<float>(xi[i1]), x2 = static_cast<float>(xi[i2]);
            const float cv = static_cast<float>(c[i]), sv = static_cast<float>(sn[i]);
            yo[i1] = convertValue<T>(rt<T>(rt<T>(cv * x1) - rt<T>(sv * x2)));
            yo[i2] = convertValue<T>(rt<T>(rt<T>(sv * x1) + rt<T>(cv * x2)));
          }
          std::copy(xi + rot, xi + hd, yo + rot);
        }
      }
    });
  });
}

// ---- SwiGLU -------------------------------------------------------------------------------------

Status SwiGLU(const KernelContext& ctx) {
  const Tensor &a = ctx.in(0), &b = ctx.in(1);
  if (a.dims() != b.dims())
    return InvalidArgument("SwiGLU inputs must have identical shapes, got {} and {}", a.dims().toString(),
                           b.dims().toString());
  const double alpha = ctx.attrs.getFloat("alpha");
  return dispatchOr<FloatTypes>("SwiGLU", a.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = ctx.out(0).data<T>();
    const C al = static_cast<C>(alpha);
    parallelFor(a.numel(), 16384, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const C x = static_cast<C>(pa[i]);
        const C sig = rt<T>(C(1) / (C(1) + std::exp(-al * x)));
        py[i] = convertValue<T>(rt<T>(rt<T>(x * sig) * static_cast<C>(pb[i])));
      }
    });
  });
}

// ---- TensorScatter ------------------------------------------------------------------------------

Status TensorScatter(const KernelContext& ctx) {
  const Tensor &cache = ctx.in(0), &upd = ctx.in(1);
  Tensor& out = ctx.out(0);
  const Dims &cd = cache.dims(), &ud = upd.dims();
  const int rank = cd.rank();
  if (rank < 2 || ud.rank() != rank || upd.dtype() != cache.dtype())
    return InvalidArgument("TensorScatter past_cache {} and update {} are incompatible", cd.toString(), ud.toString());
  int64_t axis = ctx.attrs.getInt("axis");
  if (axis < -rank || axis >= rank) return InvalidArgument("TensorScatter axis {} is out of range for rank {}", axis, rank);
  if (axis < 0) axis += rank;
  if (axis == 0) return InvalidArgument("TensorScatter axis cannot be 0 (the batch dimension)");
  for (int i = 0; i < rank; ++i)
    if (i == axis ? ud[i] > cd[i] : ud[i] != cd[i])
      return InvalidArgument("TensorScatter update {} does not fit past_cache {} (axis {})", ud.toString(),
                             cd.toString(), axis);
  const bool circular = ctx.attrs.getString("mode") == "circular";
  const int64_t batch = cd[0], maxLen = cd[axis], len = ud[axis];
  std::vector<int64_t> writeAt(batch, 0);
  if (ctx.hasInput(2)) {
    const Tensor& w = ctx.in(2);
    if (w.dims() != Dims{batch})
      return InvalidArgument("TensorScatter write_indices must have shape ({}), got {}", batch, w.dims().toString());
    for (int64_t b = 0; b < batch; ++b) writeAt[b] = w.data<int64_t>()[b];
  }
  for (int64_t b = 0; b < batch && len > 0; ++b) {
    if (circular) {
      writeAt[b] %= maxLen;
      if (writeAt[b] < 0) writeAt[b] += maxLen;
    } else if (writeAt[b] < 0 || writeAt[b] > maxLen - len) {
      return InvalidArgument("TensorScatter write index {} for batch {} with {} updates exceeds the cache length {}",
                             writeAt[b], b, len, maxLen);
    }
  }
  copyTensorData(cache, out);
  int64_t outer = 1, inner = 1;  // outer: dims before axis (batch first); inner: elements after axis
  for (int i = 0; i < axis; ++i) outer *= cd[i];
  for (int i = axis + 1; i < rank; ++i) inner *= cd[i];
  const int64_t perBatch = outer / std::max<int64_t>(batch, 1);
  auto dstIndex = [&](int64_t o, int64_t s) {
    const int64_t b = o / perBatch;
    int64_t at = writeAt[b] + s;
    if (circular && at >= maxLen) at -= maxLen;
    return (o * maxLen + at) * inner;
  };
  if (cache.dtype() == DType::kString) {
    const std::string* src = upd.data<std::string>();
    std::string* dst = out.data<std::string>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t s = 0; s < len; ++s)
        for (int64_t e = 0; e < inner; ++e) dst[dstIndex(o, s) + e] = src[(o * len + s) * inner + e];
    return Status::OK();
  }
  const size_t es = dtypeSize(cache.dtype());
  const char* src = static_cast<const char*>(upd.raw());
  char* dst = static_cast<char*>(out.raw());
  parallelFor(outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, len * inner)), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o)
      for (int64_t s = 0; s < len; ++s)
        std::memcpy(dst + dstIndex(o, s) * es, src + (o * len + s) * inner * es, inner * es);
  });
  return Status::OK();
}

// ---- LinearAttention ----------------------------------------------------------------------------

template <typename T, typename S>
Status linearAttentionTyped(const KernelContext& ctx) {
  const AttrMap& a = ctx.attrs;
  const int64_t hq = a.getInt("q_num_heads"), hkv = a.getInt("kv_num_heads");
  const std::string& rule = a.getString("update_rule");
  const bool gating = rule == "gated" || rule == "gated_delta", delta = rule == "delta" || rule == "gated_delta";
  const Tensor &qT = ctx.in(0), &kT = ctx.in(1), &vT = ctx.in(2);
  const Dims &qd = qT.dims(), &kd = kT.dims(), &vd = vT.dims();
  if (qd.rank() != 3 || kd.rank() != 3 || vd.rank() != 3)
    return InvalidArgument("LinearAttention query/key/value must be 3-D");
  const int64_t B = qd[0], nT = qd[1];
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0 || qd[2] % hq != 0 || vd[2] % hkv != 0)
    return InvalidArgument("LinearAttention head counts ({}, {}) do not divide query {} / value {}", hq, hkv,
                           qd.toString(), vd.toString());
  const int64_t dk = qd[2] / hq, dv = vd[2] / hkv, group = hq / hkv;
  if (kd != Dims{B, nT, hkv * dk} || vd[0] != B || vd[1] != nT)
    return InvalidArgument("LinearAttention key {} / value {} do not match query {}", kd.toString(), vd.toString(),
                           qd.toString());
  const Tensor* past = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  if (past && past->dims() != Dims{B, hkv, dk, dv})
    return InvalidArgument("LinearAttention past_state has shape {}, expected [{},{},{},{}]", past->dims().toString(), B,
                           hkv, dk, dv);
  const Tensor* decay = ctx.hasInput(4) ? &ctx.in(4) : nullptr;
  const Tensor* beta = ctx.hasInput(5) ? &ctx.in(5) : nullptr;
  if (gating != (decay != nullptr) || delta != (beta != nullptr))
    return InvalidArgument("LinearAttention update_rule '{}' does not match the given decay/beta inputs", rule);
  int64_t decayLast = 0, betaLast = 0;
  if (decay) {
    decayLast = decay->rank() == 3 ? decay->dims()[2] : -1;
    if (decay->rank() != 3 || decay->dims()[0] != B || decay->dims()[1] != nT ||
        (decayLast != hkv && decayLast != hkv * dk))
      return InvalidArgument("LinearAttention decay has shape {}, expected ({}, {}, {} or {})", decay->dims().toString(),
                             B, nT, hkv, hkv * dk);
  }
  if (beta) {
    betaLast = beta->rank() == 3 ? beta->dims()[2] : -1;
    if (beta->rank() != 3 || beta->dims()[0] != B || beta->dims()[1] != nT || (betaLast != hkv && betaLast != 1))
      return InvalidArgument("LinearAttention beta has shape {}, expected ({}, {}, {} or 1)", beta->dims().toString(), B,
                             nT, hkv);
  }
  const float scaleAttr = a.getFloat("scale");
  const float scale = scaleAttr == 0.0f ? static_cast<float>(1.0 / std::sqrt(double(dk))) : scaleAttr;
  const T* q = qT.data<T>();
  const T* k = kT.data<T>();
  const T* v = vT.data<T>();
  const T* g = decay ? decay->data<T>() : nullptr;
  const T* be = beta ? beta->data<T>() : nullptr;
  const S* ps = past ? past->data<S>() : nullptr;
  T* out = ctx.out(0).data<T>();
  S* present = ctx.hasOutput(1) ? ctx.out(1).data<S>() : nullptr;
  parallelFor(B * hkv, 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> st(dk * dv), kt(dk), vt(dv), gexp(dk);
    for (int64_t bh = lo; bh < hi; ++bh) {
      const int64_t b = bh / hkv, h = bh % hkv;
      for (int64_t i = 0; i < dk * dv; ++i) st[i] = ps ? static_cast<float>(ps[bh * dk * dv + i]) : 0.0f;
      for (int64_t t = 0; t < nT; ++t) {
        const int64_t bt = b * nT + t;
        for (int64_t d = 0; d < dk; ++d) kt[d] = static_cast<float>(k[(bt * hkv + h) * dk + d]);
        for (int64_t m = 0; m < dv; ++m) vt[m] = static_cast<float>(v[(bt * hkv + h) * dv + m]);
        if (gating) {
          if (decayLast == hkv) {
            std::fill(gexp.begin(), gexp.end(), std::exp(static_cast<float>(g[bt * hkv + h])));
          } else {
            for (int64_t d = 0; d < dk; ++d) gexp[d] = std::exp(static_cast<float>(g[(bt * hkv + h) * dk + d]));
          }
          for (int64_t d = 0; d < dk; ++d)
            for (int64_t m = 0; m < dv; ++m) st[d * dv + m] *= gexp[d];
        }
        if (delta) {
          const float bv = static_cast<float>(be[bt * betaLast + (betaLast == 1 ? 0 : h)]);
          for (int64_t m = 0; m < dv; ++m) {
            float r = 0;
            for (int64_t d = 0; d < dk; ++d) r += st[d * dv + m] * kt[d];
            vt[m] = bv * (vt[m] - r);
          }
        }
        for (int64_t d = 0; d < dk; ++d)
          for (int64_t m = 0; m < dv; ++m) st[d * dv + m] += kt[d] * vt[m];
        for (int64_t gi = 0; gi < group; ++gi) {
          const int64_t qh = h * group + gi;
          const T* qt = q + (bt * hq + qh) * dk;
          T* o = out + (bt * hq + qh) * dv;
          for (int64_t m = 0; m < dv; ++m) {
            float acc = 0;
            for (int64_t d = 0; d < dk; ++d) acc += static_cast<float>(qt[d]) * st[d * dv + m];
            o[m] = convertValue<T>(scale * acc);
          }
        }
      }
      if (present)
        for (int64_t i = 0; i < dk * dv; ++i) present[bh * dk * dv + i] = convertValue<S>(st[i]);
    }
  });
  return Status::OK();
}

Status LinearAttention(const KernelContext& ctx) {
  const DType t = ctx.in(0).dtype();
  const DType s = ctx.hasInput(3) ? ctx.in(3).dtype() : t;
  for (int i : {1, 2, 4, 5})
    if (ctx.hasInput(i) && ctx.in(i).dtype() != t)
      return InvalidArgument("LinearAttention input {} has type {}, expected {}", i, dtypeName(ctx.in(i).dtype()),
                             dtypeName(t));
  Status stateType, result;
  Status st = dispatchOr<RopeTypes>("LinearAttention", t, [&](auto tt) {
    using T = KILN_TYPE(tt);
    stateType = dispatchOr<RopeTypes>("LinearAttention past_state", s, [&](auto ts) {
      result = linearAttentionTyped<T, KILN_TYPE(ts)>(ctx);
    });
  });
  KILN_RETURN_IF_ERROR(st);
  KILN_RETURN_IF_ERROR(stateType);
  return result;
}

// ---- CausalConvWithState ------------------------------------------------------------------------

Status CausalConvWithState(const KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  const Tensor* bias = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  const Tensor* past = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  if (x.rank() != 3 || w.rank() != 3)
    return InvalidArgument("CausalConvWithState input {} and weight {} must be 3-D", x.dims().toString(),
                           w.dims().toString());
  const int64_t B = x.dims()[0], C = x.dims()[1], L = x.dims()[2], K = w.dims()[2];
  if (w.dims()[0] != C || w.dims()[1] != 1 || K < 1)
    return InvalidArgument("CausalConvWithState weight must have shape ({}, 1, k >= 1), got {}", C, w.dims().toString());
  if (bias && bias->dims() != Dims{C})
    return InvalidArgument("CausalConvWithState bias must have shape ({}), got {}", C, bias->dims().toString());
  if (past && past->dims() != Dims{B, C, K - 1})
    return InvalidArgument("CausalConvWithState past_state must have shape ({}, {}, {}), got {}", B, C, K - 1,
                           past->dims().toString());
  const bool silu = ctx.attrs.getString("activation") != "none";
  return dispatchOr<RopeTypes>("CausalConvWithState", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    const T* pb = bias ? bias->data<T>() : nullptr;
    const T* pp = past ? past->data<T>() : nullptr;
    T* py = ctx.out(0).data<T>();
    T* pst = ctx.hasOutput(1) ? ctx.out(1).data<T>() : nullptr;
    parallelFor(B * C, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, L * K)), [&](int64_t lo, int64_t hi) {
      std::vector<float> padded(L + K - 1);
      for (int64_t bc = lo; bc < hi; ++bc) {
        const int64_t c = bc % C;
        for (int64_t i = 0; i < K - 1; ++i) padded[i] = pp ? static_cast<float>(pp[bc * (K - 1) + i]) : 0.0f;
        for (int64_t i = 0; i < L; ++i) padded[K - 1 + i] = static_cast<float>(px[bc * L + i]);
        const T* wc = pw + c * K;
        const float b0 = pb ? static_cast<float>(pb[c]) : 0.0f;
        for (int64_t t = 0; t < L; ++t) {
          float acc = 0;
          for (int64_t i = 0; i < K; ++i) acc += static_cast<float>(wc[i]) * padded[t + i];
          float o = rt<T>(acc + b0);
          if (silu) o = o / (1.0f + std::exp(-o));
          py[bc * L + t] = convertValue<T>(o);
        }
        if (pst)
          for (int64_t i = 0; i < K - 1; ++i) pst[bc * (K - 1) + i] = convertValue<T>(padded[L + i]);
      }
    });
  });
}

}  // namespace

void RegisterAttentionLlmKernels(KernelRegistry& r) {
  r.addFn("RotaryEmbedding", "cpu_ref_RotaryEmbedding", &RotaryEmbedding);
  r.addFn("SwiGLU", "cpu_ref_SwiGLU", &SwiGLU);
  r.addFn("TensorScatter", "cpu_ref_TensorScatter", &TensorScatter);
  r.addFn("LinearAttention", "cpu_ref_LinearAttention", &LinearAttention);
  r.addFn("CausalConvWithState", "cpu_ref_CausalConvWithState", &CausalConvWithState);
}

}  // namespace kiln::cpu
