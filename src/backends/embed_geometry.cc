#include "backends/embed_geometry.h"

namespace kiln::backends {

namespace {
bool isIndexType(DType t) { return t == DType::kInt32 || t == DType::kInt64; }
}  // namespace

Status embedGeometry(const Tensor& ids0, const Tensor& table0, const Tensor* ids1, const Tensor* table1,
                     const Tensor* addend, const Tensor& gamma, const Tensor* beta, EmbedGeometry* g) {
  *g = EmbedGeometry{};
  const DType t = table0.dtype();
  if (!isIndexType(ids0.dtype()) || (ids1 && !isIndexType(ids1->dtype())))
    return InvalidArgument("EmbedLayerNorm ids must be int32 or int64");
  if (!isFloat(t)) return InvalidArgument("EmbedLayerNorm table0 must be floating point, got {}", dtypeName(t));
  if (table0.rank() != 2) return InvalidArgument("EmbedLayerNorm table0 {} is not [vocab, H]", table0.dims().toString());
  if (ids0.rank() > EmbedGeometry::kMaxRank)
    return Unsupported("EmbedLayerNorm ids of rank {} (at most {})", ids0.rank(), EmbedGeometry::kMaxRank);
  if ((ids1 == nullptr) != (table1 == nullptr))
    return InvalidArgument("EmbedLayerNorm needs ids1 and table1 together");
  g->h = table0.dims()[1];
  g->vocab0 = table0.dims()[0];
  g->rank = ids0.rank();
  g->rows = 1;
  for (int i = 0; i < ids0.rank(); ++i) g->idsDims[i] = ids0.dims()[i], g->rows *= ids0.dims()[i];
  if (g->h <= 0) return InvalidArgument("EmbedLayerNorm rows of {} values", g->h);
  if (table1) {
    if (table1->dtype() != t || table1->rank() != 2 || table1->dims()[1] != g->h)
      return InvalidArgument("EmbedLayerNorm table1 {} {} does not match table0 {} {}", dtypeName(table1->dtype()),
                             table1->dims().toString(), dtypeName(t), table0.dims().toString());
    if (ids1->dims() != ids0.dims())
      return InvalidArgument("EmbedLayerNorm ids1 {} differ from ids0 {}", ids1->dims().toString(), ids0.dims().toString());
    g->vocab1 = table1->dims()[0];
  }
  if (addend) {
    const Dims& a = addend->dims();
    bool ok = addend->dtype() == t && a.rank() >= 1 && a.rank() <= g->rank + 1 && a[a.rank() - 1] == g->h;
    int64_t stride = 1;
    for (int i = g->rank - 1, j = a.rank() - 2; ok && i >= 0; --i, --j) {
      const int64_t d = j >= 0 ? a[j] : 1;
      ok = d == 1 || d == g->idsDims[i];
      g->addendStride[i] = d == 1 ? 0 : stride;
      stride *= d;
    }
    if (!ok)
      return InvalidArgument("EmbedLayerNorm addend {} {} does not broadcast to {} x {}", dtypeName(addend->dtype()),
                             a.toString(), ids0.dims().toString(), g->h);
  }
  for (const Tensor* p : {&gamma, beta})
    if (p && (p->dtype() != t || p->numel() != g->h))
      return InvalidArgument("EmbedLayerNorm gamma/beta {} {} must hold {} values of {}", dtypeName(p->dtype()),
                             p->dims().toString(), g->h, dtypeName(t));
  return Status::OK();
}

}  // namespace kiln::backends
