// oneDNN tactics for float32 Conv and ConvTranspose (1-D/2-D/3-D, groups, dilations, asymmetric
// pads, bias). Primitives are created per run-time shape with `any` layouts for src/weights/dst
// (except pointwise convs over large planes, which keep the plain layout); src and dst are
// reordered from/to the plain NC... tensors when oneDNN picks a blocked layout, and constant
// weights are reordered once. Shapes a primitive refuses run the reference kernel.
#include <cstring>

#include <fmt/format.h>

#include "backends/cpu/kernels/conv_pool_geom.h"
#include "backends/cpu/kernels/conv_pool_ref.h"
#include "backends/cpu/kernels/dnnl_common.h"
#include "core/layout.h"

namespace kiln::cpu {

namespace {

using dnnl::memory;
using namespace dnnl_util;

// Everything about one run-time shape that all contexts share.
struct Entry {
  Prim conv;  // empty: oneDNN refused the shape, run the reference kernel
  Prim srcR, wR, dstR;
  Prim zR;    // residual (plain) into the primitive's dst layout, for the sum post-op
  memory::desc srcUser, srcPrim, wUser, wPrim, biasMd, dstUser, dstPrim;
  memory wPacked;  // constant weights in the primitive's layout
};

// One context's memory objects for one shape.
struct Bound {
  ShapeKey key;
  std::shared_ptr<const Entry> e;
  UserMemory x, w, b, y, z;
  memory srcBuf, wBuf, dstBuf;  // reorder targets, owned by the context
  BoundPrim conv, srcR, wR, dstR, zR;

  Bound(const ShapeKey& k, std::shared_ptr<const Entry> entry) : key(k), e(std::move(entry)) {
    if (!e->conv) return;
    x = UserMemory(e->srcUser);
    y = UserMemory(e->dstUser);
    if (!e->wPacked) w = UserMemory(e->wUser);
    if (e->biasMd) b = UserMemory(e->biasMd);
    conv = BoundPrim(e->conv);
    if (e->srcR) srcR = BoundPrim(e->srcR), srcBuf = memory(e->srcPrim, engine());
    if (e->wR) wR = BoundPrim(e->wR), wBuf = memory(e->wPrim, engine());
    if (e->dstR) dstR = BoundPrim(e->dstR), dstBuf = memory(e->dstPrim, engine());
    if (e->zR) zR = BoundPrim(e->zR), z = UserMemory(e->dstUser);
  }
};
using State = ContextState<Bound>;

class DnnlConvKernel final : public Kernel {
 public:
  // `fused`: a kiln:FusedConv layer (epilogue attributes, optional residual input 3).
  DnnlConvKernel(const LayerDesc& d, bool transpose, bool fused)
      : transpose_(transpose), fused_(fused), group_(d.attrs->getInt("group")), attrs_(*d.attrs),
        ep_(fused ? EpilogueSpec::fromAttrs(*d.attrs) : EpilogueSpec{}),
        residual_(fused && d.inputTypes.size() > 3 && d.inputTypes[3] != DType::kUndefined),
        channelsLast_(fused && d.attrs->getInt("channels_last", 0) != 0) {
    if (d.constInputs.size() > 1 && d.constInputs[1]) weights_ = PackedWeights(*d.constInputs[1]);
  }

  std::unique_ptr<KernelState> createState() const override { return std::make_unique<State>(); }

  Status run(const KernelContext& ctx) const override {
    const Tensor &x = ctx.in(0), &w = ctx.in(1);
    const Tensor* b = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
    const Tensor* z = residual_ ? &ctx.in(3) : nullptr;
    Tensor& y = ctx.out(0);
    const char* op = fused_ ? "FusedConv" : transpose_ ? "ConvTranspose" : "Conv";
    if (z && z->dims() != y.dims())
      return InvalidArgument("{}: residual {} does not match the output {}", op, z->dims().toString(), y.dims().toString());
    if (x.dtype() != DType::kFloat32 || w.dtype() != DType::kFloat32 || (b && b->dtype() != DType::kFloat32))
      return Unsupported("{} (oneDNN): only float32 is supported", op);
    if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank() || y.rank() != x.rank() || group_ < 1)
      return fallback(ctx);
    // Channels-last layers compute on the same logical NC... dims; only the strides differ.
    const Dims xd = channelsLast_ ? channelsFirstDims(x.dims()) : x.dims();
    const Dims yd = channelsLast_ ? channelsFirstDims(y.dims()) : y.dims();
    const int64_t m = transpose_ ? w.dims()[1] * group_ : w.dims()[0];
    const bool channelsOk = transpose_ ? (w.dims()[0] == xd[1] && xd[1] % group_ == 0)
                                       : (w.dims()[1] * group_ == xd[1] && m % group_ == 0);
    if (!channelsOk || yd[1] != m || (b && b->numel() != m))
      return InvalidArgument("{}: input {} does not match weights {} with group {}", op, x.dims().toString(),
                             w.dims().toString(), group_);
    if (x.numel() == 0 || y.numel() == 0) return fallback(ctx);
    std::unique_ptr<State> local;  // only when the caller has no per-context state
    State* st = ctx.state ? static_cast<State*>(ctx.state) : (local = std::make_unique<State>()).get();
    ShapeKey key;
    key.add(xd);
    key.add(w.dims());
    key.add(yd);
    key.push(b != nullptr);
    Bound* bd = st->find(key);
    try {
      if (!bd) {
        KILN_ASSIGN_OR_RETURN(auto e, cache_.get(key, [&] { return makeEntry(xd, w.dims(), b != nullptr, yd); }));
        st->bound.push_back(std::make_unique<Bound>(key, std::move(e)));
        bd = st->bound.back().get();
      }
      if (!bd->e->conv) return fallback(ctx);
      const memory& src = bd->srcR ? bd->srcBuf : bd->x.at(x.raw());
      if (bd->srcR)
        KILN_RETURN_IF_ERROR(
            execute(st->stream, bd->srcR, Args().add(DNNL_ARG_FROM, bd->x.at(x.raw())).add(DNNL_ARG_TO, src), op));
      const memory* wts = &bd->e->wPacked;
      if (!*wts) {
        wts = bd->wR ? &bd->wBuf : &bd->w.at(w.raw());
        if (bd->wR)
          KILN_RETURN_IF_ERROR(
              execute(st->stream, bd->wR, Args().add(DNNL_ARG_FROM, bd->w.at(w.raw())).add(DNNL_ARG_TO, *wts), op));
      }
      const memory& dst = bd->dstR ? bd->dstBuf : bd->y.at(y.raw());
      if (z) {  // the sum post-op adds what dst holds: put the residual there first
        if (bd->dstR)
          KILN_RETURN_IF_ERROR(execute(st->stream, bd->zR, Args().add(DNNL_ARG_FROM, bd->z.at(z->raw())).add(DNNL_ARG_TO, dst), op));
        else
          std::memcpy(y.raw(), z->raw(), y.nbytes());
      }
      Args args;
      args.add(DNNL_ARG_SRC, src).add(DNNL_ARG_WEIGHTS, *wts).add(DNNL_ARG_DST, dst);
      if (b) args.add(DNNL_ARG_BIAS, bd->b.at(b->raw()));
      KILN_RETURN_IF_ERROR(execute(st->stream, bd->conv, args, op));
      if (bd->dstR)
        KILN_RETURN_IF_ERROR(
            execute(st->stream, bd->dstR, Args().add(DNNL_ARG_FROM, dst).add(DNNL_ARG_TO, bd->y.at(y.raw())), op));
      st->stream.wait();
    } catch (const dnnl::error& err) {
      return InternalError("{} (oneDNN): {}", op, err.what());
    }
    return Status::OK();
  }

 private:
  Status fallback(const KernelContext& ctx) const {
    return fused_ ? refFusedConv(ctx) : transpose_ ? refConvTranspose(ctx) : refConv(ctx);
  }

  // xd, yd: logical NC... dims (also for channels-last layers).
  Result<std::shared_ptr<Entry>> makeEntry(const Dims& xd, const Dims& wdims, bool bias, const Dims& yd) const {
    auto e = std::make_shared<Entry>();
    SpatialGeom g;
    KILN_RETURN_IF_ERROR(makeGeom(attrs_, xd, Dims(wdims.begin() + 2, wdims.end()), yd,
                                  transpose_ ? PadMode::kConvTranspose : PadMode::kConv, &g));
    const int n = g.n;
    const int64_t G = group_, M = yd[1], C = xd[1], ks = g.kernelSize();
    // Weights as oneDNN sees them: [G,] O, I, k... (ONNX ConvTranspose stores [C, M/G, k...]).
    const memory::dims kd = toDnnl(g.kernel);
    memory::dims kstr(n, 1);
    for (int i = n - 2; i >= 0; --i) kstr[i] = kstr[i + 1] * kd[i + 1];
    memory::dims wd = G > 1 ? memory::dims{G, M / G, C / G} : memory::dims{M, C};
    wd.insert(wd.end(), kd.begin(), kd.end());
    if (!transpose_) {
      e->wUser = plainF32(wd);
    } else {
      memory::dims ws = G > 1 ? memory::dims{(C / G) * (M / G) * ks, ks, (M / G) * ks} : memory::dims{ks, M * ks};
      ws.insert(ws.end(), kstr.begin(), kstr.end());
      e->wUser = memory::desc(wd, memory::data_type::f32, ws);
    }
    memory::dims strides = toDnnl(g.strides), dil(n), pl = toDnnl(g.padBegin), pr = toDnnl(g.padEnd);
    for (int i = 0; i < n; ++i) {
      dil[i] = g.dilations[i] - 1;
      if (transpose_) pr[i] = g.padEnd[i] - g.outputPadding[i];
    }
    e->srcUser = channelsLast_ ? channelsLastF32(toDnnl(xd)) : plainF32(toDnnl(xd));
    e->dstUser = channelsLast_ ? channelsLastF32(toDnnl(yd)) : plainF32(toDnnl(yd));
    e->biasMd = bias ? plainF32({M}) : memory::desc();
    auto any = [](const memory::desc& md) {
      return memory::desc(md.dims(), memory::data_type::f32, memory::format_tag::any);
    };
    // Pointwise convs over large planes run fastest as a GEMM on the plain NC... tensors (no
    // src/dst reorders); small planes amortize the reorders into oneDNN's blocked kernels.
    // With a fused epilogue the GEMM-based implementation applies post-ops in a slow scalar loop,
    // so fused layers always take the blocked path.
    bool pointwise = !transpose_ && !fused_ && G == 1 && g.inSize() >= 128;
    for (int i = 0; i < n; ++i)
      if (g.kernel[i] != 1 || g.strides[i] != 1 || g.padBegin[i] != 0 || g.padEnd[i] != 0) pointwise = false;
    dnnl::primitive_attr attr;
    if (!epilogueAttr(ep_, residual_, &attr)) {
      e->conv = Prim{};  // an activation oneDNN lacks: the reference kernel runs
      return e;
    }
    try {
      if (!transpose_) {
        // Channels-last layers pin src/dst to their NHWC memory: no reorders around the conv.
        const bool pin = pointwise || channelsLast_;
        dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                          pin ? e->srcUser : any(e->srcUser), any(e->wUser), e->biasMd,
                                          pin ? e->dstUser : any(e->dstUser), strides, dil, pl, pr);
        dnnl::convolution_forward::primitive_desc pd(d, attr, engine());
        e->conv = Prim{dnnl::convolution_forward(pd), pd.scratchpad_desc()};
        e->srcPrim = pd.src_desc();
        e->wPrim = pd.weights_desc();
        e->dstPrim = pd.dst_desc();
      } else {
        dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                            dnnl::algorithm::deconvolution_direct, any(e->srcUser), any(e->wUser),
                                            e->biasMd, any(e->dstUser), strides, dil, pl, pr);
        dnnl::deconvolution_forward::primitive_desc pd(d, userScratchpad(), engine());
        e->conv = Prim{dnnl::deconvolution_forward(pd), pd.scratchpad_desc()};
        e->srcPrim = pd.src_desc();
        e->wPrim = pd.weights_desc();
        e->dstPrim = pd.dst_desc();
      }
    } catch (const dnnl::error&) {
      e->conv = Prim{};  // not supported by oneDNN: the reference kernel runs
      return e;
    }
    e->srcR = makeReorder(e->srcUser, e->srcPrim);
    e->dstR = makeReorder(e->dstPrim, e->dstUser);
    if (residual_ && e->dstR) e->zR = makeReorder(e->dstUser, e->dstPrim);
    if (weights_.constant()) {
      KILN_ASSIGN_OR_RETURN(e->wPacked, weights_.get(e->wUser, e->wPrim));
    } else {
      e->wR = makeReorder(e->wUser, e->wPrim);
    }
    return e;
  }

  bool transpose_;
  bool fused_;
  int64_t group_;
  AttrMap attrs_;
  EpilogueSpec ep_;
  bool residual_;
  bool channelsLast_;
  mutable PackedWeights weights_;  // used under cache_'s lock
  mutable EntryCache<Entry> cache_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createDnnlConv(const LayerDesc& d, bool transpose) {
  return std::unique_ptr<Kernel>(std::make_unique<DnnlConvKernel>(d, transpose, false));
}

Result<std::unique_ptr<Kernel>> createDnnlFusedConv(const LayerDesc& d) {
  return std::unique_ptr<Kernel>(std::make_unique<DnnlConvKernel>(d, false, true));
}

}  // namespace kiln::cpu
