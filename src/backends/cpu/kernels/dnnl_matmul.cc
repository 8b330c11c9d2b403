// oneDNN tactics for float32 MatMul (numpy batching and broadcasting, 1-D operands) and Gemm
// (transposes as strided memory descriptors; C as oneDNN bias when it is a per-column vector and
// alpha = beta = 1, otherwise an alpha/beta epilogue). Constant B operands are reordered once into
// the layout oneDNN prefers.
#include <fmt/format.h>

#include "backends/cpu/kernels/dnnl_common.h"
#include "backends/cpu/kernels/matmul_ref.h"
#include "core/thread_pool.h"

namespace kiln::cpu {

namespace {

using dnnl::memory;
using namespace dnnl_util;

struct Entry {
  Prim mm;  // empty: oneDNN refused the shape, run the reference kernel
  Prim bR;
  memory::desc aMd, bUser, bPrim, yMd, biasMd;
  memory bPacked;
  bool useBias = false;
};

struct Bound {
  ShapeKey key;
  std::shared_ptr<const Entry> e;
  UserMemory a, b, y, c;
  memory bBuf;
  BoundPrim mm, bR;

  Bound(const ShapeKey& k, std::shared_ptr<const Entry> entry) : key(k), e(std::move(entry)) {
    if (!e->mm) return;
    a = UserMemory(e->aMd);
    y = UserMemory(e->yMd);
    if (!e->bPacked) b = UserMemory(e->bUser);
    if (e->useBias) c = UserMemory(e->biasMd);
    mm = BoundPrim(e->mm);
    if (e->bR) bR = BoundPrim(e->bR), bBuf = memory(e->bPrim, engine());
  }
};
using State = ContextState<Bound>;

class DnnlMatMulKernel final : public Kernel {
 public:
  // `fused`: a kiln:FusedMatMul layer (MatMul batching, bias input 2, activation epilogue).
  DnnlMatMulKernel(const LayerDesc& d, bool gemm, bool fused)
      : gemm_(gemm), fused_(fused), ep_(fused ? EpilogueSpec::fromAttrs(*d.attrs) : EpilogueSpec{}) {
    if (gemm_) {
      transA_ = d.attrs->getInt("transA") != 0;
      transB_ = d.attrs->getInt("transB") != 0;
      alpha_ = d.attrs->getFloat("alpha");
      beta_ = d.attrs->getFloat("beta");
    }
    if (d.constInputs.size() > 1 && d.constInputs[1]) weights_ = PackedWeights(*d.constInputs[1]);
  }

  std::unique_ptr<KernelState> createState() const override { return std::make_unique<State>(); }

  Status run(const KernelContext& ctx) const override {
    const Tensor &a = ctx.in(0), &b = ctx.in(1);
    const Tensor* c = (gemm_ || fused_) && ctx.hasInput(2) ? &ctx.in(2) : nullptr;
    Tensor& y = ctx.out(0);
    const char* op = fused_ ? "FusedMatMul" : gemm_ ? "Gemm" : "MatMul";
    if (a.dtype() != DType::kFloat32 || b.dtype() != DType::kFloat32 || (c && c->dtype() != DType::kFloat32))
      return Unsupported("{} (oneDNN): only float32 is supported", op);
    // FusedMatMul's residual is added after the primitive (no activation in between: with one,
    // the reference kernel keeps the order act(A @ B + bias + R)).
    const Tensor* residual = fused_ && ctx.hasInput(3) ? &ctx.in(3) : nullptr;
    if (residual && (residual->dtype() != DType::kFloat32 || residual->dims() != y.dims() ||
                     ep_.act != Activation::kNone))
      return fallback(ctx);
    if (y.numel() == 0 || a.numel() == 0 || b.numel() == 0) return fallback(ctx);
    std::unique_ptr<State> local;  // only when the caller has no per-context state
    State* st = ctx.state ? static_cast<State*>(ctx.state) : (local = std::make_unique<State>()).get();
    ShapeKey key;
    key.add(a.dims());
    key.add(b.dims());
    key.add(y.dims());
    if (c) key.add(c->dims());
    else key.push(-1);
    Bound* bd = st->find(key);
    try {
      if (!bd) {
        KILN_ASSIGN_OR_RETURN(auto e, cache_.get(key, [&] { return makeEntry(a, b, c, y); }));
        st->bound.push_back(std::make_unique<Bound>(key, std::move(e)));
        bd = st->bound.back().get();
      }
      if (!bd->e->mm) return fallback(ctx);
      const memory* wts = &bd->e->bPacked;
      if (!*wts) {
        wts = bd->bR ? &bd->bBuf : &bd->b.at(b.raw());
        if (bd->bR)
          KILN_RETURN_IF_ERROR(
              execute(st->stream, bd->bR, Args().add(DNNL_ARG_FROM, bd->b.at(b.raw())).add(DNNL_ARG_TO, *wts), op));
      }
      Args args;
      args.add(DNNL_ARG_SRC, bd->a.at(a.raw())).add(DNNL_ARG_WEIGHTS, *wts).add(DNNL_ARG_DST, bd->y.at(y.raw()));
      if (bd->e->useBias) args.add(DNNL_ARG_BIAS, bd->c.at(c->raw()));
      KILN_RETURN_IF_ERROR(execute(st->stream, bd->mm, args, op));
      st->stream.wait();
      if (gemm_) epilogue(y, bd->e->useBias ? nullptr : c);
      if (residual) {
        float* py = y.data<float>();
        const float* pr = residual->data<float>();
        parallelFor(y.numel(), 32768, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) py[i] += pr[i];
        });
      }
    } catch (const dnnl::error& err) {
      return InternalError("{} (oneDNN): {}", op, err.what());
    }
    return Status::OK();
  }

 private:
  Status fallback(const KernelContext& ctx) const {
    return fused_ ? refFusedMatMul(ctx) : gemm_ ? refGemm(ctx) : refMatMul(ctx);
  }

  // Y = alpha*Y + beta*C (c: null when absent or folded into the primitive as bias).
  void epilogue(Tensor& y, const Tensor* c) const {
    const bool addC = c && beta_ != 0.0f;
    if (alpha_ == 1.0f && !addC) return;
    const int64_t M = y.dims()[0], N = y.dims()[1];
    int64_t cRows = 1, cCols = 1;
    if (c && c->rank() == 2) cRows = c->dims()[0], cCols = c->dims()[1];
    if (c && c->rank() == 1) cCols = c->dims()[0];
    float* py = y.data<float>();
    const float* pc = c ? c->data<float>() : nullptr;
    const float alpha = alpha_, beta = beta_;
    parallelFor(M, std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        float* row = py + i * N;
        const float* crow = addC ? pc + (cRows == 1 ? 0 : i) * cCols : nullptr;
        for (int64_t j = 0; j < N; ++j) {
          float v = row[j] * alpha;
          if (addC) v += beta * crow[cCols == 1 ? 0 : j];
          row[j] = v;
        }
      }
    });
  }

  Result<std::shared_ptr<Entry>> makeEntry(const Tensor& a, const Tensor& b, const Tensor* c, const Tensor& y) const {
    auto e = std::make_shared<Entry>();
    if (gemm_) {
      KILN_RETURN_IF_ERROR(describeGemm(a, b, c, y, e.get()));
    } else {
      KILN_RETURN_IF_ERROR(describeMatMul(a, b, y, e.get()));
      if (fused_ && c) {
        // A per-column bias broadcast over the rows and batches; other shapes: reference kernel.
        const int64_t n = y.rank() ? y.dims().back() : 1;
        if (c->numel() != n) {
          e->mm = Prim{};
          return e;
        }
        memory::dims bd(e->yMd.dims().size(), 1);
        bd.back() = n;
        e->useBias = true;
        e->biasMd = plainF32(bd);
      }
    }
    dnnl::primitive_attr attr;
    if (!epilogueAttr(ep_, false, &attr)) {
      e->mm = Prim{};
      return e;
    }
    const bool constB = weights_.constant();
    try {
      memory::desc bWant = constB ? memory::desc(e->bUser.dims(), memory::data_type::f32, memory::format_tag::any)
                                  : e->bUser;
      dnnl::matmul::desc d = e->useBias ? dnnl::matmul::desc(e->aMd, bWant, e->biasMd, e->yMd)
                                        : dnnl::matmul::desc(e->aMd, bWant, e->yMd);
      dnnl::matmul::primitive_desc pd(d, attr, engine());
      e->mm = Prim{dnnl::matmul(pd), pd.scratchpad_desc()};
      e->bPrim = pd.weights_desc();
    } catch (const dnnl::error&) {
      e->mm = Prim{};
      return e;
    }
    if (constB) {
      KILN_ASSIGN_OR_RETURN(e->bPacked, weights_.get(e->bUser, e->bPrim));
    } else {
      e->bR = makeReorder(e->bUser, e->bPrim);
    }
    return e;
  }

  // numpy matmul as a oneDNN matmul of equal-rank operands (1-D operands become [1,K] / [K,1];
  // missing batch dims are 1 and broadcast).
  static Status describeMatMul(const Tensor& a, const Tensor& b, const Tensor& y, Entry* e) {
    KILN_RETURN_IF_ERROR(planMatMul(a.dims(), b.dims(), y.dims(), "MatMul").takeStatus());
    memory::dims ad(a.dims().begin(), a.dims().end()), bd(b.dims().begin(), b.dims().end());
    if (ad.size() == 1) ad.insert(ad.begin(), 1);
    if (bd.size() == 1) bd.push_back(1);
    if (bd.size() == 2 && ad.size() > 2) {
      // [..., M, K] x [K, N]: one 2-D product with M' = batch * M (lets oneDNN pack B).
      const int64_t k = ad.back();
      ad = {a.numel() / std::max<int64_t>(k, 1), k};
    }
    const size_t r = std::max(ad.size(), bd.size());
    ad.insert(ad.begin(), r - ad.size(), 1);
    bd.insert(bd.begin(), r - bd.size(), 1);
    memory::dims yd(r);
    for (size_t i = 0; i + 2 < r; ++i) yd[i] = std::max(ad[i], bd[i]);
    yd[r - 2] = ad[r - 2];
    yd[r - 1] = bd[r - 1];
    e->aMd = plainF32(ad);
    e->bUser = plainF32(bd);
    e->yMd = plainF32(yd);
    return Status::OK();
  }

  Status describeGemm(const Tensor& a, const Tensor& b, const Tensor* c, const Tensor& y, Entry* e) const {
    if (a.rank() != 2 || b.rank() != 2) return InvalidArgument("Gemm: A and B must be 2-D");
    const int64_t M = transA_ ? a.dims()[1] : a.dims()[0], K = transA_ ? a.dims()[0] : a.dims()[1];
    const int64_t N = transB_ ? b.dims()[0] : b.dims()[1], kb = transB_ ? b.dims()[1] : b.dims()[0];
    if (K != kb || y.dims() != Dims{M, N})
      return InvalidArgument("Gemm: A {} and B {} do not multiply into {}", a.dims().toString(),
                             b.dims().toString(), y.dims().toString());
    e->aMd = memory::desc({M, K}, memory::data_type::f32, transA_ ? memory::dims{1, M} : memory::dims{K, 1});
    e->bUser = memory::desc({K, N}, memory::data_type::f32, transB_ ? memory::dims{1, K} : memory::dims{N, 1});
    e->yMd = plainF32({M, N});
    if (c) {
      const Dims& cd = c->dims();
      int64_t cr = cd.rank() == 2 ? cd[0] : 1, cc = cd.rank() >= 1 ? cd[cd.rank() - 1] : 1;
      if (cd.rank() > 2 || (cr != 1 && cr != M) || (cc != 1 && cc != N))
        return InvalidArgument("Gemm: C of shape {} cannot be broadcast to [{},{}]", cd.toString(), M, N);
      // oneDNN's fast matmul takes a per-column bias only (other bias shapes run its slow
      // reference implementation): fold C = [N] / [1,N] as bias, add other shapes afterwards.
      if (alpha_ == 1.0f && beta_ == 1.0f && cr == 1 && cc == N && N > 1) {
        e->useBias = true;
        e->biasMd = plainF32({cr, cc});
      }
    }
    return Status::OK();
  }

  bool gemm_;
  bool fused_;
  EpilogueSpec ep_;
  bool transA_ = false, transB_ = false;
  float alpha_ = 1.0f, beta_ = 1.0f;
  mutable PackedWeights weights_;  // used under cache_'s lock
  mutable EntryCache<Entry> cache_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createDnnlMatMul(const LayerDesc& d, bool gemm) {
  return std::unique_ptr<Kernel>(std::make_unique<DnnlMatMulKernel>(d, gemm, false));
}

Result<std::unique_ptr<Kernel>> createDnnlFusedMatMul(const LayerDesc& d) {
  return std::unique_ptr<Kernel>(std::make_unique<DnnlMatMulKernel>(d, false, true));
}

}  // namespace kiln::cpu
