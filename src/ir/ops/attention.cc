// Attention-family ops of transformer models: Attention (opset 23/24/25: MHA/GQA/MQA, masks,
// causal and sliding-window masking, KV cache with present outputs, nonpad_kv_seqlen, softcap,
// qk_matmul_output), RotaryEmbedding, SwiGLU, TensorScatter (KV cache update), LinearAttention and
// CausalConvWithState (recurrent/linear-attention models).
#include <algorithm>

#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

// True when both dims are known and differ.
bool knownDiffer(const Dim& a, const Dim& b) { return a.isStatic() && b.isStatic() && a.value() != b.value(); }

// True when d is known and not divisible by n.
bool knownIndivisible(const Dim& d, int64_t n) { return d.isStatic() && n > 0 && d.value() % n != 0; }

Status expectRank(const InferContext& ctx, int i, std::initializer_list<int> ranks, std::string_view what) {
  if (!ctx.hasInput(i) || !ctx.rankKnown(i)) return Status::OK();
  for (int r : ranks)
    if (ctx.rankOf(i) == r) return Status::OK();
  return InvalidArgument("{} must have rank {}, got shape {}", what,
                         ranks.size() == 1 ? fmt::format("{}", *ranks.begin()) : fmt::format("{}", fmt::join(ranks, " or ")),
                         ctx.inputShape(i).toString());
}

// ---- Attention --------------------------------------------------------------------------------

// Dims of one input as (batch, heads, seq, head_size) after the 3-D unpacking; unknown dims stay
// unknown.
struct HeadDims {
  Dim batch, heads, seq, size;
};

Result<HeadDims> attentionHeadDims(const Shape& s, int rank, std::optional<int64_t> numHeads, const char* what) {
  if (!s.rankKnown()) {
    HeadDims h;
    if (numHeads) h.heads = *numHeads;
    return h;
  }
  if (s.rank() != rank)
    return InvalidArgument("Attention {} must have the rank of Q ({}), got shape {}", what, rank, s.toString());
  if (rank == 4) {
    if (numHeads && s[1].isStatic() && s[1].value() != *numHeads)
      return InvalidArgument("Attention {} has {} heads (shape {}) but the num_heads attribute says {}", what,
                             s[1].value(), s.toString(), *numHeads);
    return HeadDims{s[0], s[1], s[2], s[3]};
  }
  if (knownIndivisible(s[2], *numHeads))
    return InvalidArgument("Attention {} hidden size {} is not divisible by its number of heads {}", what,
                           s[2].value(), *numHeads);
  return HeadDims{s[0], Dim(*numHeads), s[1], Dim::floorDiv(s[2], Dim(*numHeads))};
}

Status inferAttention(InferContext& ctx) {
  const AttrMap& a = ctx.attrs();
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, "Attention"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, kFloatTypes, "Attention"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 2, kFloatTypes, "Attention"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  if (ctx.inputType(2) != ctx.inputType(0))
    return Unsupported("Attention with V of type {} and Q of type {} is not supported (they must match)",
                       dtypeName(ctx.inputType(2)), dtypeName(ctx.inputType(0)));
  const bool hasPastK = ctx.hasInput(4), hasPastV = ctx.hasInput(5), hasNonpad = ctx.hasInput(6);
  if (hasPastK != hasPastV) return InvalidArgument("Attention past_key and past_value must be given together");
  if (hasNonpad && hasPastK)
    return InvalidArgument("Attention nonpad_kv_seqlen cannot be combined with past_key/past_value");
  if (hasNonpad && ctx.opsetVersion() < 24)
    return InvalidArgument("Attention input nonpad_kv_seqlen exists from opset 24 on (the model uses opset {})",
                           ctx.opsetVersion());
  if (hasPastK) {
    KILN_RETURN_IF_ERROR(expectSameType(ctx, 4, 0));
    KILN_RETURN_IF_ERROR(expectSameType(ctx, 5, 2));
  }
  if (hasNonpad) KILN_RETURN_IF_ERROR(expectType(ctx, 6, {DType::kInt64}, "Attention nonpad_kv_seqlen"));

  const int64_t mode = a.getInt("qk_matmul_output_mode");
  if (mode < 0 || mode > 3) return InvalidArgument("Attention qk_matmul_output_mode must be 0..3, got {}", mode);
  if (a.has("softmax_precision")) {
    int64_t p = a.getInt("softmax_precision");
    if (p != 1 && p != 10 && p != 11 && p != 16)
      return InvalidArgument("Attention softmax_precision must be 1 (float), 10 (float16), 11 (double) or 16 "
                             "(bfloat16), got {}", p);
  }
  if (a.getInt("left_window_size") < -1 || a.getInt("right_window_size") < -1)
    return InvalidArgument("Attention left_window_size/right_window_size must be -1 or nonnegative (got {}, {})",
                           a.getInt("left_window_size"), a.getInt("right_window_size"));
  if (a.getInt("is_causal") != 0 && a.getInt("is_causal") != 1)
    return InvalidArgument("Attention is_causal must be 0 or 1, got {}", a.getInt("is_causal"));

  int rank = -1;
  for (int i = 0; i < 3; ++i) {
    if (!ctx.rankKnown(i)) continue;
    if (ctx.rankOf(i) != 3 && ctx.rankOf(i) != 4)
      return InvalidArgument("Attention input {} must be 3-D or 4-D, got shape {}", i, ctx.inputShape(i).toString());
    if (rank >= 0 && ctx.rankOf(i) != rank)
      return InvalidArgument("Attention Q, K and V must have the same rank (got {} and {})", rank, ctx.rankOf(i));
    rank = ctx.rankOf(i);
  }
  std::optional<int64_t> qHeadsAttr, kvHeadsAttr;
  if (a.has("q_num_heads")) qHeadsAttr = a.getInt("q_num_heads");
  if (a.has("kv_num_heads")) kvHeadsAttr = a.getInt("kv_num_heads");
  if ((qHeadsAttr && *qHeadsAttr <= 0) || (kvHeadsAttr && *kvHeadsAttr <= 0))
    return InvalidArgument("Attention q_num_heads/kv_num_heads must be positive");
  if (rank == 4 && ctx.opsetVersion() >= 25 && (qHeadsAttr || kvHeadsAttr))
    return InvalidArgument("Attention q_num_heads and kv_num_heads must not be set for 4-D inputs");
  if (rank < 0) {
    if (!qHeadsAttr && !kvHeadsAttr) {
      ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
      for (int i = 1; i < 4; ++i) ctx.setOutput(i, ctx.inputType(i == 2 ? 2 : 0), unknownShape(4));
      return Status::OK();
    }
    rank = 3;  // the heads attributes only make sense for 3-D inputs before opset 25 too
  }
  if (rank == 3 && (!qHeadsAttr || !kvHeadsAttr))
    return InvalidArgument("Attention with 3-D inputs needs the q_num_heads and kv_num_heads attributes");

  KILN_ASSIGN_OR_RETURN(HeadDims q, attentionHeadDims(ctx.inputShape(0), rank, qHeadsAttr, "Q"));
  KILN_ASSIGN_OR_RETURN(HeadDims k, attentionHeadDims(ctx.inputShape(1), rank, kvHeadsAttr, "K"));
  KILN_ASSIGN_OR_RETURN(HeadDims v, attentionHeadDims(ctx.inputShape(2), rank, kvHeadsAttr, "V"));
  Dim batch = q.batch.isUnknown() ? (k.batch.isUnknown() ? v.batch : k.batch) : q.batch;
  Dim kvHeads = k.heads.isUnknown() ? v.heads : k.heads;
  if (knownDiffer(q.batch, k.batch) || knownDiffer(q.batch, v.batch))
    return InvalidArgument("Attention Q, K and V have different batch sizes ({}, {}, {})", q.batch.toString(),
                           k.batch.toString(), v.batch.toString());
  if (knownDiffer(k.heads, v.heads))
    return InvalidArgument("Attention K and V have different numbers of heads ({} and {})", k.heads.toString(),
                           v.heads.toString());
  if (knownDiffer(q.size, k.size))
    return InvalidArgument("Attention Q and K have different head sizes ({} and {})", q.size.toString(),
                           k.size.toString());
  if (knownDiffer(k.seq, v.seq))
    return InvalidArgument("Attention K and V have different sequence lengths ({} and {})", k.seq.toString(),
                           v.seq.toString());
  if (q.heads.isStatic() && kvHeads.isStatic() && q.heads.value() % kvHeads.value() != 0)
    return InvalidArgument("Attention q_num_heads ({}) must be a multiple of kv_num_heads ({})", q.heads.value(),
                           kvHeads.value());

  Dim past(0);
  if (hasPastK) {
    KILN_RETURN_IF_ERROR(expectRank(ctx, 4, {4}, "Attention past_key"));
    KILN_RETURN_IF_ERROR(expectRank(ctx, 5, {4}, "Attention past_value"));
    const Shape& pk = ctx.inputShape(4);
    const Shape& pv = ctx.inputShape(5);
    past = Dim::unknown();
    if (pk.rankKnown()) {
      past = pk[2];
      if (knownDiffer(pk[0], batch) || knownDiffer(pk[1], kvHeads) || knownDiffer(pk[3], k.size))
        return InvalidArgument("Attention past_key has shape {}, expected (batch {}, kv heads {}, past, head size {})",
                               pk.toString(), batch.toString(), kvHeads.toString(), k.size.toString());
    }
    if (pv.rankKnown()) {
      if (past.isUnknown()) past = pv[2];
      if (knownDiffer(pv[0], batch) || knownDiffer(pv[1], kvHeads) || knownDiffer(pv[3], v.size) ||
          knownDiffer(pv[2], past))
        return InvalidArgument("Attention past_value has shape {}, expected (batch {}, kv heads {}, past {}, v head "
                               "size {})", pv.toString(), batch.toString(), kvHeads.toString(), past.toString(),
                               v.size.toString());
    }
  }
  const Dim total = past + k.seq;

  if (ctx.hasInput(3) && ctx.rankKnown(3)) {
    const Shape& m = ctx.inputShape(3);
    if (m.rank() < 1 || m.rank() > 4)
      return InvalidArgument("Attention attn_mask must have rank 1 to 4, got shape {}", m.toString());
    const Dim target[4] = {batch, q.heads, q.seq, total};
    for (int i = 0; i < m.rank(); ++i) {
      const Dim& d = m[i];
      const Dim& t = target[4 - m.rank() + i];
      if (i == m.rank() - 1) {
        if (d.isStatic() && t.isStatic() && d.value() > t.value())
          return InvalidArgument("Attention attn_mask {} is longer than the total sequence length {}", m.toString(),
                                 t.value());
      } else if (d.isStatic() && d.value() != 1 && knownDiffer(d, t)) {
        return InvalidArgument("Attention attn_mask {} does not broadcast to (batch, q heads, q seq, total seq) = "
                               "({}, {}, {}, {})", m.toString(), batch.toString(), q.heads.toString(),
                               q.seq.toString(), total.toString());
      }
    }
  }
  if (hasNonpad && ctx.rankKnown(6)) {
    const Shape& n = ctx.inputShape(6);
    if (n.rank() != 1 || knownDiffer(n[0], batch))
      return InvalidArgument("Attention nonpad_kv_seqlen must have shape (batch_size,) = ({}), got {}",
                             batch.toString(), n.toString());
  }

  const DType t = ctx.inputType(0);
  if (rank == 4)
    ctx.setOutput(0, t, Shape({batch, q.heads, q.seq, v.size}));
  else
    ctx.setOutput(0, t, Shape({batch, q.seq, q.heads * v.size}));
  ctx.setOutput(1, ctx.inputType(1), Shape({batch, kvHeads, total, k.size}));
  ctx.setOutput(2, ctx.inputType(2), Shape({batch, kvHeads, total, v.size}));
  ctx.setOutput(3, t, Shape({batch, q.heads, q.seq, total}));
  return Status::OK();
}

// ---- RotaryEmbedding ---------------------------------------------------------------------------

Status inferRotaryEmbedding(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kFloat32, DType::kFloat16, DType::kBFloat16}, "RotaryEmbedding"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  if (ctx.hasInput(3)) KILN_RETURN_IF_ERROR(expectType(ctx, 3, {DType::kInt64}, "RotaryEmbedding position_ids"));
  KILN_RETURN_IF_ERROR(expectRank(ctx, 0, {3, 4}, "RotaryEmbedding input"));
  const int cacheRank = ctx.hasInput(3) ? 2 : 3;
  KILN_RETURN_IF_ERROR(expectRank(ctx, 1, {cacheRank}, "RotaryEmbedding cos_cache"));
  KILN_RETURN_IF_ERROR(expectRank(ctx, 2, {cacheRank}, "RotaryEmbedding sin_cache"));
  KILN_RETURN_IF_ERROR(expectRank(ctx, 3, {2}, "RotaryEmbedding position_ids"));
  const AttrMap& a = ctx.attrs();
  const int64_t numHeads = a.getInt("num_heads", 0), rotDim = a.getInt("rotary_embedding_dim");
  if (numHeads < 0 || rotDim < 0)
    return InvalidArgument("RotaryEmbedding num_heads and rotary_embedding_dim must be nonnegative");
  const Shape& x = ctx.inputShape(0);
  if (x.rankKnown()) {
    Dim head = x[x.rank() - 1];
    if (x.rank() == 3) {
      if (numHeads == 0) return InvalidArgument("RotaryEmbedding with a 3-D input needs the num_heads attribute");
      if (knownIndivisible(head, numHeads))
        return InvalidArgument("RotaryEmbedding hidden size {} is not divisible by num_heads {}", head.value(), numHeads);
      head = Dim::floorDiv(head, Dim(numHeads));
    }
    const Dim rot = rotDim == 0 ? head : Dim(rotDim);
    if (head.isStatic()) {
      if (rot.value() > head.value() || rot.value() % 2 != 0)
        return InvalidArgument("RotaryEmbedding rotary dim {} must be even and at most the head size {}",
                               rot.value(), head.value());
    }
    for (int c = 1; c <= 2; ++c) {
      const Shape& cs = ctx.inputShape(c);
      if (!cs.rankKnown() || !rot.isStatic()) continue;
      const Dim& last = cs[cs.rank() - 1];
      if (last.isStatic() && last.value() * 2 != rot.value())
        return InvalidArgument("RotaryEmbedding {} has last dim {}; expected rotary dim / 2 = {}",
                               c == 1 ? "cos_cache" : "sin_cache", last.value(), rot.value() / 2);
    }
  }
  ctx.setOutput(0, ctx.inputType(0), x);
  return Status::OK();
}

// ---- SwiGLU ---------------------------------------------------------------------------------------

Status inferSwiGLU(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, "SwiGLU"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  const Shape &sa = ctx.inputShape(0), &sb = ctx.inputShape(1);
  Shape out = sa.rankKnown() ? sa : sb;
  if (sa.rankKnown() && sb.rankKnown()) {
    if (sa.rank() != sb.rank())
      return InvalidArgument("SwiGLU inputs must have identical shapes, got {} and {}", sa.toString(), sb.toString());
    for (int i = 0; i < sa.rank(); ++i) {
      if (knownDiffer(sa[i], sb[i]))
        return InvalidArgument("SwiGLU inputs must have identical shapes, got {} and {}", sa.toString(), sb.toString());
      if (!out[i].isStatic() && sb[i].isStatic()) out[i] = sb[i];
    }
  }
  ctx.setOutput(0, ctx.inputType(0), std::move(out));
  return Status::OK();
}

// ---- TensorScatter --------------------------------------------------------------------------------

Status inferTensorScatter(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectType(ctx, 2, {DType::kInt64}, "TensorScatter write_indices"));
  const std::string& mode = ctx.attrs().getString("mode");
  if (mode != "linear" && mode != "circular")
    return InvalidArgument("TensorScatter mode must be 'linear' or 'circular', got '{}'", mode);
  const Shape &c = ctx.inputShape(0), &u = ctx.inputShape(1);
  if (c.rankKnown() && u.rankKnown()) {
    if (c.rank() != u.rank())
      return InvalidArgument("TensorScatter past_cache {} and update {} have different ranks", c.toString(), u.toString());
    if (c.rank() < 2) return InvalidArgument("TensorScatter past_cache must have rank >= 2, got {}", c.toString());
    KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), c.rank()));
    if (axis == 0) return InvalidArgument("TensorScatter axis cannot be 0 (the batch dimension)");
    for (int i = 0; i < c.rank(); ++i) {
      if (i == axis ? (c[i].isStatic() && u[i].isStatic() && u[i].value() > c[i].value()) : knownDiffer(c[i], u[i]))
        return InvalidArgument("TensorScatter update {} does not fit past_cache {} (axis {})", u.toString(),
                               c.toString(), axis);
    }
    if (ctx.hasInput(2) && ctx.rankKnown(2)) {
      const Shape& w = ctx.inputShape(2);
      if (w.rank() != 1 || knownDiffer(w[0], c[0]))
        return InvalidArgument("TensorScatter write_indices must have shape (batch_size,) = ({}), got {}",
                               c[0].toString(), w.toString());
    }
  }
  ctx.setOutput(0, ctx.inputType(0), c);
  return Status::OK();
}

// ---- LinearAttention --------------------------------------------------------------------------------

Status inferLinearAttention(InferContext& ctx) {
  const std::initializer_list<DType> types = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, types, "LinearAttention"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  if (ctx.hasInput(3)) KILN_RETURN_IF_ERROR(expectType(ctx, 3, types, "LinearAttention past_state"));
  for (int i : {4, 5})
    if (ctx.hasInput(i)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, i));
  const AttrMap& a = ctx.attrs();
  const int64_t qh = a.getInt("q_num_heads"), kvh = a.getInt("kv_num_heads");
  if (qh <= 0 || kvh <= 0 || qh % kvh != 0)
    return InvalidArgument("LinearAttention q_num_heads ({}) must be a positive multiple of kv_num_heads ({})", qh, kvh);
  const std::string& rule = a.getString("update_rule");
  if (rule != "linear" && rule != "gated" && rule != "delta" && rule != "gated_delta")
    return InvalidArgument("LinearAttention update_rule must be linear, gated, delta or gated_delta, got '{}'", rule);
  const bool gating = rule == "gated" || rule == "gated_delta";
  const bool delta = rule == "delta" || rule == "gated_delta";
  if (gating != ctx.hasInput(4))
    return InvalidArgument("LinearAttention update_rule '{}' {} the decay input", rule, gating ? "requires" : "forbids");
  if (delta != ctx.hasInput(5))
    return InvalidArgument("LinearAttention update_rule '{}' {} the beta input", rule, delta ? "requires" : "forbids");
  for (int i = 0; i < 6; ++i)
    if (i != 3) KILN_RETURN_IF_ERROR(expectRank(ctx, i, {3}, fmt::format("LinearAttention input {}", i)));
  KILN_RETURN_IF_ERROR(expectRank(ctx, 3, {4}, "LinearAttention past_state"));

  const Shape &q = ctx.inputShape(0), &k = ctx.inputShape(1), &v = ctx.inputShape(2);
  Dim b, t, dk, dv;
  if (q.rankKnown()) {
    b = q[0];
    t = q[1];
    if (knownIndivisible(q[2], qh))
      return InvalidArgument("LinearAttention query hidden size {} is not divisible by q_num_heads {}", q[2].value(), qh);
    dk = Dim::floorDiv(q[2], Dim(qh));
  }
  if (k.rankKnown()) {
    if (knownDiffer(k[0], b) || knownDiffer(k[1], t) || (dk.isStatic() && knownDiffer(k[2], dk * Dim(kvh))))
      return InvalidArgument("LinearAttention key {} does not match query {} (expected (B, T, kv_num_heads*d_k))",
                             k.toString(), q.toString());
  }
  if (v.rankKnown()) {
    if (knownDiffer(v[0], b) || knownDiffer(v[1], t))
      return InvalidArgument("LinearAttention value {} does not match query {}", v.toString(), q.toString());
    if (knownIndivisible(v[2], kvh))
      return InvalidArgument("LinearAttention value hidden size {} is not divisible by kv_num_heads {}", v[2].value(), kvh);
    dv = Dim::floorDiv(v[2], Dim(kvh));
  }
  if (ctx.hasInput(3) && ctx.rankKnown(3)) {
    const Shape& s = ctx.inputShape(3);
    if (knownDiffer(s[0], b) || knownDiffer(s[1], Dim(kvh)) || knownDiffer(s[2], dk) || knownDiffer(s[3], dv))
      return InvalidArgument("LinearAttention past_state has shape {}, expected ({}, {}, {}, {})", s.toString(),
                             b.toString(), kvh, dk.toString(), dv.toString());
  }
  if (ctx.hasInput(4) && ctx.rankKnown(4)) {
    const Dim& last = ctx.inputShape(4)[2];
    if (last.isStatic() && last.value() != kvh && !(dk.isStatic() && last.value() == kvh * dk.value()))
      return InvalidArgument("LinearAttention decay last dim {} must be kv_num_heads ({}) or kv_num_heads*d_k",
                             last.value(), kvh);
  }
  if (ctx.hasInput(5) && ctx.rankKnown(5)) {
    const Dim& last = ctx.inputShape(5)[2];
    if (last.isStatic() && last.value() != kvh && last.value() != 1)
      return InvalidArgument("LinearAttention beta last dim {} must be kv_num_heads ({}) or 1", last.value(), kvh);
  }
  ctx.setOutput(0, ctx.inputType(0), Shape({b, t, Dim(qh) * dv}));
  ctx.setOutput(1, ctx.hasInput(3) ? ctx.inputType(3) : ctx.inputType(0), Shape({b, Dim(kvh), dk, dv}));
  return Status::OK();
}

// ---- CausalConvWithState -----------------------------------------------------------------------------

Status inferCausalConvWithState(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kFloat32, DType::kFloat16, DType::kBFloat16}, "CausalConvWithState"));
  for (int i = 1; i < 4; ++i)
    if (ctx.hasInput(i)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, i));
  const std::string& act = ctx.attrs().getString("activation");
  if (act != "none" && act != "silu" && act != "swish")
    return InvalidArgument("CausalConvWithState activation must be none, silu or swish, got '{}'", act);
  KILN_RETURN_IF_ERROR(expectRank(ctx, 0, {3}, "CausalConvWithState input"));
  KILN_RETURN_IF_ERROR(expectRank(ctx, 1, {3}, "CausalConvWithState weight"));
  KILN_RETURN_IF_ERROR(expectRank(ctx, 2, {1}, "CausalConvWithState bias"));
  KILN_RETURN_IF_ERROR(expectRank(ctx, 3, {3}, "CausalConvWithState past_state"));
  const Shape &x = ctx.inputShape(0), &w = ctx.inputShape(1);
  Dim b, c, kminus1;
  if (x.rankKnown()) {
    b = x[0];
    c = x[1];
  }
  if (w.rankKnown()) {
    if (knownDiffer(w[0], c) || (w[1].isStatic() && w[1].value() != 1))
      return InvalidArgument("CausalConvWithState weight must have shape (channels {}, 1, k), got {}", c.toString(),
                             w.toString());
    if (w[2].isStatic() && w[2].value() < 1) return InvalidArgument("CausalConvWithState kernel size must be >= 1");
    kminus1 = w[2] - Dim(1);
    if (c.isUnknown()) c = w[0];
  }
  if (ctx.hasInput(2) && ctx.rankKnown(2) && knownDiffer(ctx.inputShape(2)[0], c))
    return InvalidArgument("CausalConvWithState bias must have shape (channels {}), got {}", c.toString(),
                           ctx.inputShape(2).toString());
  if (ctx.hasInput(3) && ctx.rankKnown(3)) {
    const Shape& p = ctx.inputShape(3);
    if (knownDiffer(p[0], b) || knownDiffer(p[1], c) || knownDiffer(p[2], kminus1))
      return InvalidArgument("CausalConvWithState past_state must have shape ({}, {}, k-1 = {}), got {}", b.toString(),
                             c.toString(), kminus1.toString(), p.toString());
  }
  ctx.setOutput(0, ctx.inputType(0), x.rankKnown() ? x : unknownShape(3));
  ctx.setOutput(1, ctx.inputType(0), Shape({b, c, kminus1}));
  return Status::OK();
}

}  // namespace

void RegisterAttentionOps(OpRegistry& r) {
  r.add({.name = "Attention", .minOpset = 23, .minInputs = 3, .maxInputs = 7, .minOutputs = 1, .maxOutputs = 4,
         .attrs = {attrOpt("scale", AttrKind::kFloat), attrI("is_causal", 0), attrOpt("q_num_heads", AttrKind::kInt),
                   attrOpt("kv_num_heads", AttrKind::kInt), attrOpt("softmax_precision", AttrKind::kInt),
                   attrF("softcap", 0.0f), attrI("qk_matmul_output_mode", 0), attrI("left_window_size", -1),
                   attrI("right_window_size", -1)},
         .infer = inferAttention});
  r.add({.name = "RotaryEmbedding", .minOpset = 23, .minInputs = 3, .maxInputs = 4,
         .attrs = {attrI("interleaved", 0), attrI("rotary_embedding_dim", 0), attrOpt("num_heads", AttrKind::kInt)},
         .infer = inferRotaryEmbedding});
  r.add({.name = "SwiGLU", .minOpset = 28, .minInputs = 2, .maxInputs = 2, .attrs = {attrF("alpha", 1.0f)},
         .traits = kTraitElementwise, .infer = inferSwiGLU});
  r.add({.name = "TensorScatter", .minOpset = 24, .minInputs = 2, .maxInputs = 3,
         .attrs = {attrS("mode", "linear"), attrI("axis", -2)}, .infer = inferTensorScatter});
  r.add({.name = "LinearAttention", .minOpset = 27, .minInputs = 3, .maxInputs = 6, .minOutputs = 1, .maxOutputs = 2,
         .attrs = {attrI("chunk_size", 64), attrRequired("kv_num_heads", AttrKind::kInt),
                   attrRequired("q_num_heads", AttrKind::kInt), attrF("scale", 0.0f),
                   attrS("update_rule", "gated_delta")},
         .infer = inferLinearAttention});
  r.add({.name = "CausalConvWithState", .minOpset = 27, .minInputs = 2, .maxInputs = 4, .minOutputs = 1,
         .maxOutputs = 2, .attrs = {attrS("activation", "none")}, .infer = inferCausalConvWithState});
}

}  // namespace kiln::ir
