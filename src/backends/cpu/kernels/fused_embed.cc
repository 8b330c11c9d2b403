// kiln:EmbedLayerNorm on the CPU: per row, the gathered table rows and the addend row summed in
// the statistics type (float; double for float64), then LayerNorm over them (two-pass statistics,
// as LayerNormalization). Ids may be negative (counted from the end, as Gather); an id out of
// range is an error naming the input and position.
#include <vector>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/normalization_common.h"
#include "backends/embed_geometry.h"

namespace kiln::cpu {

namespace {

int64_t idAt(const Tensor& ids, int64_t r) {
  return ids.dtype() == DType::kInt32 ? ids.data<int32_t>()[r] : ids.data<int64_t>()[r];
}

template <typename T>
Status embedTyped(const KernelContext& ctx, const backends::EmbedGeometry& g) {
  using C = stat_t<T>;
  const Tensor &ids0 = ctx.in(0), &table0 = ctx.in(1);
  const Tensor* ids1 = ctx.hasInput(4) ? &ctx.in(4) : nullptr;
  const Tensor* table1 = ctx.hasInput(5) ? &ctx.in(5) : nullptr;
  const Tensor* addend = ctx.hasInput(6) ? &ctx.in(6) : nullptr;
  const int64_t h = g.h;
  // Validate every id first: a bad one fails the run before any output row is written.
  for (const auto& [ids, vocab, which] : {std::tuple{&ids0, g.vocab0, 0}, std::tuple{ids1, g.vocab1, 4}}) {
    if (!ids) continue;
    for (int64_t r = 0; r < g.rows; ++r)
      if (backends::embedRowOf(idAt(*ids, r), vocab) < 0)
        return InvalidArgument("EmbedLayerNorm: id {} of input {} at position {} is out of range [-{}, {})",
                               idAt(*ids, r), which, r, vocab, vocab);
  }
  const std::vector<C> gamma = toVector<C>(ctx.in(2));
  const std::vector<C> beta = ctx.hasInput(3) ? toVector<C>(ctx.in(3)) : std::vector<C>(h, C(0));
  const float eps = ctx.attrs.getFloat("epsilon");
  const T* t0 = table0.data<T>();
  const T* t1 = table1 ? table1->data<T>() : nullptr;
  const T* pa = addend ? addend->data<T>() : nullptr;
  T* py = ctx.out(0).data<T>();
  parallelFor(g.rows, std::max<int64_t>(1, 16384 / h), [&](int64_t b, int64_t e) {
    std::vector<C> x(static_cast<size_t>(h));
    for (int64_t r = b; r < e; ++r) {
      const T* r0 = t0 + backends::embedRowOf(idAt(ids0, r), g.vocab0) * h;
      for (int64_t k = 0; k < h; ++k) x[k] = static_cast<C>(static_cast<compute_t<T>>(r0[k]));
      if (t1) {
        const T* r1 = t1 + backends::embedRowOf(idAt(*ids1, r), g.vocab1) * h;
        for (int64_t k = 0; k < h; ++k) x[k] += static_cast<C>(static_cast<compute_t<T>>(r1[k]));
      }
      if (pa) {
        const T* ra = pa + backends::embedAddendRow(g, r) * h;
        for (int64_t k = 0; k < h; ++k) x[k] += static_cast<C>(static_cast<compute_t<T>>(ra[k]));
      }
      C mean, var;
      meanVar(x.data(), h, &mean, &var);
      const C inv = C(1) / std::sqrt(var + static_cast<C>(eps));
      normalizeRow<T, C>(x.data(), mean, inv, gamma.data(), beta.data(), py + r * h, h);
    }
  });
  return Status::OK();
}

Status embedLayerNorm(const KernelContext& ctx) {
  backends::EmbedGeometry g;
  auto opt = [&](int i) { return ctx.hasInput(i) ? &ctx.in(i) : nullptr; };
  KILN_RETURN_IF_ERROR(
      backends::embedGeometry(ctx.in(0), ctx.in(1), opt(4), opt(5), opt(6), ctx.in(2), opt(3), &g));
  if (g.rows == 0) return Status::OK();
  Status st;
  KILN_RETURN_IF_ERROR(dispatchOr<FloatTypes>("EmbedLayerNorm", ctx.in(1).dtype(), [&](auto tag) {
    st = embedTyped<KILN_TYPE(tag)>(ctx, g);
  }));
  return st;
}

}  // namespace

void RegisterFusedEmbedKernels(KernelRegistry& r) {
  r.addFn("EmbedLayerNorm", "cpu_ref_EmbedLayerNorm", &embedLayerNorm, 0, "kiln");
}

}  // namespace kiln::cpu
