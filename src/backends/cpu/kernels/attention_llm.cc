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
#include "backends/llm_geometry.h"

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
  backends::RotaryGeometry g;
  KILN_RETURN_IF_ERROR(backends::rotaryGeometry(ctx.attrs, x, cosT, sinT, pos, &g));
  const bool interleaved = g.interleaved, is4d = g.is4d;
  const int64_t B = g.batch, S = g.seq, H = g.heads, hd = g.headDim, rot = g.rotDim, half = rot / 2;
  const int64_t maxPos = g.maxPos;
  if (pos) {
    const int64_t* p = pos->data<int64_t>();
    for (int64_t i = 0; i < pos->numel(); ++i)
      if (p[i] < -maxPos || p[i] >= maxPos)
        return InvalidArgument("RotaryEmbedding position_ids[{}] = {} is out of range for {} cached positions", i,
                               p[i], maxPos);
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
  const Tensor* w = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  backends::TensorScatterGeometry g;
  KILN_RETURN_IF_ERROR(backends::tensorScatterGeometry(ctx.attrs, cache, upd, w, &g));
  const bool circular = g.circular;
  const int64_t batch = g.batch, maxLen = g.maxLen, len = g.len;
  std::vector<int64_t> writeAt(batch, 0);
  if (w)
    for (int64_t b = 0; b < batch; ++b) writeAt[b] = w->data<int64_t>()[b];
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
  const int64_t outer = g.outer, inner = g.inner, perBatch = g.perBatch;
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
  const Tensor &qT = ctx.in(0), &kT = ctx.in(1), &vT = ctx.in(2);
  const Tensor* past = ctx.hasInput(3) ? &ctx.in(3) : nullptr;
  const Tensor* decay = ctx.hasInput(4) ? &ctx.in(4) : nullptr;
  const Tensor* beta = ctx.hasInput(5) ? &ctx.in(5) : nullptr;
  backends::LinearAttentionGeometry geo;
  KILN_RETURN_IF_ERROR(backends::linearAttentionGeometry(ctx.attrs, qT, kT, vT, past, decay, beta, &geo));
  const int64_t B = geo.batch, nT = geo.steps, hq = geo.qHeads, hkv = geo.kvHeads, dk = geo.dk, dv = geo.dv;
  const int64_t group = hq / hkv, decayLast = geo.decayLast, betaLast = geo.betaLast;
  const bool gating = geo.gating, delta = geo.delta;
  const float scale = geo.scale;
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
  backends::CausalConvGeometry g;
  KILN_RETURN_IF_ERROR(backends::causalConvGeometry(ctx.attrs, x, w, bias, past, &g));
  const int64_t B = g.batch, C = g.channels, L = g.length, K = g.kernel;
  const bool silu = g.silu;
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
