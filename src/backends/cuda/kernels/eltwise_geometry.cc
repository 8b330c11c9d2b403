// Element-wise launch geometry (see eltwise_geometry.h). Broadcast strides are computed on the
// output's full rank, then axes of size 1 are dropped and adjacent axes that are contiguous in
// every slot are merged, so the device does as few divisions as possible per element (a plain
// same-shape add collapses to rank 1; [B,S,H] + [H] to rank 2).
#include "backends/cuda/kernels/eltwise_geometry.h"

#include <array>

namespace kiln::cuda::eltwise {

namespace {

constexpr int kRank = kiln::kMaxRank;  // Dims' largest rank
using Axes = std::array<int64_t, kRank>;

// Dims of `t` right-aligned against output rank `r` (leading 1s added). False if t has a larger
// rank with non-1 leading dims.
bool alignDims(const Dims& d, int r, Axes* out) {
  out->fill(1);
  const int off = r - d.rank();
  for (int a = 0; a < d.rank(); ++a) {
    if (a < -off) {
      if (d[a] != 1) return false;
      continue;
    }
    (*out)[a + off] = d[a];
  }
  return true;
}

}  // namespace

// No heap allocation: enqueue runs per inference when CUDA graphs are off.
Status fillGeometry(std::string_view op, std::span<const SlotRef> slots, Tensor& out, int smCount, ChainParams* p) {
  if (static_cast<int>(slots.size()) > kMaxSlots)
    return Unsupported("{}: {} inputs, the CUDA element-wise kernels take at most {}", op, slots.size(), kMaxSlots);
  const Dims& od = out.dims();
  const int r = od.rank();
  const int64_t n = out.numel();
  const int ns = static_cast<int>(slots.size());
  p->n = n;
  p->out = out.raw();
  p->numSlots = ns;
  p->maxBlocks = smCount > 0 ? smCount * 8 : 1024;  // 2048 resident threads per SM

  // Full-rank element strides per slot (0 on broadcast axes).
  std::array<Axes, kMaxSlots> st{};
  for (int k = 0; k < ns; ++k) {
    const Tensor& t = *slots[k].t;
    p->in[k] = t.raw();
    const int64_t m = t.numel();
    if (m == 0 && n > 0) return InvalidArgument("{}: input {} is empty but the output {} is not", op, k, od.toString());
    if (slots[k].mode == SlotMode::kScalar || m == 1) {
      p->period[k] = 1;
      continue;  // strides stay 0
    }
    Axes d;
    if (slots[k].mode == SlotMode::kPeriodic) {
      // i % m: view the operand as the output's trailing dims whose product is m.
      int64_t prod = 1;
      int a = r;
      while (a > 0 && prod < m) prod *= od[--a];
      if (prod != m || n % m != 0)
        return Unsupported("{}: operand {} with {} elements is not a vector of the output {}'s trailing dims", op, k,
                           m, od.toString());
      d.fill(1);
      for (int b = a; b < r; ++b) d[b] = od[b];
    } else if (!alignDims(t.dims(), r, &d)) {
      return InvalidArgument("{}: input {} of shape {} does not broadcast to the output {}", op, k, t.dims().toString(),
                             od.toString());
    }
    int64_t acc = 1;
    for (int a = r - 1; a >= 0; --a) {
      if (d[a] != od[a] && d[a] != 1)
        return InvalidArgument("{}: input {} of shape {} does not broadcast to the output {}", op, k,
                               t.dims().toString(), od.toString());
      st[k][a] = (d[a] == 1) ? 0 : acc;
      acc *= d[a];
    }
    // Period: the slot equals the output's trailing dims (after its leading 1s).
    int lead = 0;
    while (lead < r && d[lead] == 1) ++lead;
    bool trailing = true;
    for (int a = lead; a < r; ++a) trailing &= d[a] == od[a];
    p->period[k] = trailing ? m : 0;
  }

  // Collapse: drop size-1 axes, merge axis a into the previous kept one when every slot is
  // contiguous across them.
  Axes dims{};
  std::array<Axes, kMaxSlots> cs{};
  int rank = 0;
  for (int a = 0; a < r; ++a) {
    if (od[a] == 1) continue;
    bool merge = rank > 0;
    for (int k = 0; k < ns && merge; ++k) merge = cs[k][rank - 1] == st[k][a] * od[a];
    if (merge) {
      dims[rank - 1] *= od[a];
      for (int k = 0; k < ns; ++k) cs[k][rank - 1] = st[k][a];
    } else {
      dims[rank] = od[a];
      for (int k = 0; k < ns; ++k) cs[k][rank] = st[k][a];
      ++rank;
    }
  }
  if (rank == 0) {  // scalar output, or all dims 1
    dims[0] = 1;
    for (int k = 0; k < ns; ++k) cs[k][0] = 0;
    rank = 1;
  }
  if (rank > kMaxGeoRank)
    return Unsupported("{}: broadcasting over {} non-contiguous axes (the CUDA kernels take {})", op, rank, kMaxGeoRank);
  p->rank = rank;
  for (int a = 0; a < rank; ++a) {
    p->dims[a] = dims[a];
    for (int k = 0; k < ns; ++k) p->strides[k][a] = cs[k][a];
  }
  return Status::OK();
}

}  // namespace kiln::cuda::eltwise
