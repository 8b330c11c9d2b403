// oneDNN tactics for float32 MaxPool (without the Indices output), AveragePool and
// GlobalAveragePool, 1-D/2-D/3-D. ceil_mode becomes extra end padding; AveragePool with
// count_include_pad whose windows would reach past the declared end padding (ceil_mode) runs the
// reference kernel, since oneDNN would count those taps.
#include <fmt/format.h>

#include "backends/cpu/kernels/conv_pool_geom.h"
#include "backends/cpu/kernels/conv_pool_ref.h"
#include "backends/cpu/kernels/dnnl_common.h"
#include "backends/cpu/kernels/fused.h"
#include "core/layout.h"

namespace kiln::cpu {

namespace {

using dnnl::memory;
using namespace dnnl_util;

struct Entry {
  Prim pool;  // empty: run the reference kernel
  memory::desc srcMd, dstMd;
};

struct Bound {
  ShapeKey key;
  std::shared_ptr<const Entry> e;
  UserMemory x, y;
  BoundPrim pool;
  Bound(const ShapeKey& k, std::shared_ptr<const Entry> entry) : key(k), e(std::move(entry)) {
    if (!e->pool) return;
    x = UserMemory(e->srcMd);
    y = UserMemory(e->dstMd);
    pool = BoundPrim(e->pool);
  }
};
using State = ContextState<Bound>;

class DnnlPoolKernel final : public Kernel {
 public:
  DnnlPoolKernel(const LayerDesc& d, DnnlPoolKind kind)
      : kind_(kind), attrs_(*d.attrs), channelsLast_(d.domain == "kiln") {}

  std::unique_ptr<KernelState> createState() const override { return std::make_unique<State>(); }

  Status run(const KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    Tensor& y = ctx.out(0);
    if (x.dtype() != DType::kFloat32) return Unsupported("pooling (oneDNN): only float32 is supported");
    if (x.rank() < 3 || x.rank() > 5 || y.rank() != x.rank() || ctx.numOutputs() > 1 || x.numel() == 0 ||
        y.numel() == 0)
      return fallback(ctx);
    std::unique_ptr<State> local;  // only when the caller has no per-context state
    State* st = ctx.state ? static_cast<State*>(ctx.state) : (local = std::make_unique<State>()).get();
    const Dims xd = channelsLast_ ? channelsFirstDims(x.dims()) : x.dims();
    const Dims yd = channelsLast_ ? channelsFirstDims(y.dims()) : y.dims();
    ShapeKey key;
    key.add(xd);
    key.add(yd);
    Bound* bd = st->find(key);
    try {
      if (!bd) {
        KILN_ASSIGN_OR_RETURN(auto e, cache_.get(key, [&] { return makeEntry(xd, yd); }));
        st->bound.push_back(std::make_unique<Bound>(key, std::move(e)));
        bd = st->bound.back().get();
      }
      if (!bd->e->pool) return fallback(ctx);
      KILN_RETURN_IF_ERROR(execute(st->stream, bd->pool,
                                   Args().add(DNNL_ARG_SRC, bd->x.at(x.raw())).add(DNNL_ARG_DST, bd->y.at(y.raw())),
                                   "pooling"));
      st->stream.wait();
    } catch (const dnnl::error& err) {
      return InternalError("pooling (oneDNN): {}", err.what());
    }
    return Status::OK();
  }

 private:
  Status fallback(const KernelContext& ctx) const {
    auto ref = kind_ == DnnlPoolKind::kMax ? refMaxPool : kind_ == DnnlPoolKind::kAverage ? refAveragePool : refGlobalAveragePool;
    return channelsLast_ ? refNhwcPool(ctx, ref) : ref(ctx);
  }

  // xd, yd: logical NC... dims.
  Result<std::shared_ptr<Entry>> makeEntry(const Dims& xd, const Dims& yd) const {
    auto e = std::make_shared<Entry>();
    const int n = xd.rank() - 2;
    SpatialGeom g;
    if (kind_ == DnnlPoolKind::kGlobalAverage) {
      AttrMap none;
      KILN_RETURN_IF_ERROR(makeGeom(none, xd, Dims(xd.begin() + 2, xd.end()), yd, PadMode::kConv, &g));
    } else {
      const auto& k = attrs_.getInts("kernel_shape");
      if (static_cast<int>(k.size()) != n)
        return InvalidArgument("kernel_shape has {} values; the input has {} spatial dims", k.size(), n);
      KILN_RETURN_IF_ERROR(makeGeom(attrs_, xd, Dims(k), yd, PadMode::kConv, &g));
    }
    bool ok = true;
    memory::dims strides(n), kernel(n), dil(n), pl(n), pr(n);
    for (int i = 0; i < n; ++i) {
      strides[i] = g.strides[i];
      kernel[i] = g.kernel[i];
      dil[i] = g.dilations[i] - 1;
      pl[i] = g.padBegin[i];
      // oneDNN needs out = (in + pl + pr - ek) / s + 1: extend the end padding for ceil_mode.
      const int64_t needed = (g.out[i] - 1) * g.strides[i] + g.effKernel(i) - g.in[i] - g.padBegin[i];
      pr[i] = std::max(g.padEnd[i], needed);
      if ((g.in[i] + pl[i] + pr[i] - g.effKernel(i)) / g.strides[i] + 1 != g.out[i]) pr[i] = needed;
      // Windows entirely inside the padding (pad >= kernel extent) keep the reference semantics.
      if (pr[i] < 0 || pl[i] >= g.effKernel(i) || pr[i] >= g.effKernel(i)) ok = false;
    }
    dnnl::algorithm algo = dnnl::algorithm::pooling_max;
    if (kind_ != DnnlPoolKind::kMax) {
      const bool includePad = kind_ == DnnlPoolKind::kAverage && attrs_.getInt("count_include_pad") != 0;
      algo = includePad ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding;
      if (includePad)
        for (int i = 0; i < n; ++i)
          if (pr[i] > g.padEnd[i]) ok = false;  // oneDNN would count taps past the declared padding
    }
    e->srcMd = channelsLast_ ? channelsLastF32(toDnnl(xd)) : plainF32(toDnnl(xd));
    e->dstMd = channelsLast_ ? channelsLastF32(toDnnl(yd)) : plainF32(toDnnl(yd));
    if (ok) {
      try {
        dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, algo, e->srcMd, e->dstMd, strides,
                                         kernel, dil, pl, pr);
        dnnl::pooling_v2_forward::primitive_desc pd(d, userScratchpad(), engine());
        e->pool = Prim{dnnl::pooling_v2_forward(pd), pd.scratchpad_desc()};
      } catch (const dnnl::error&) {
        e->pool = Prim{};
      }
    }
    return e;
  }

  DnnlPoolKind kind_;
  AttrMap attrs_;
  bool channelsLast_;  // the kiln:Nhwc* pooling ops
  mutable EntryCache<Entry> cache_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createDnnlPool(const LayerDesc& d, DnnlPoolKind kind) {
  return std::unique_ptr<Kernel>(std::make_unique<DnnlPoolKernel>(d, kind));
}

}  // namespace kiln::cpu
