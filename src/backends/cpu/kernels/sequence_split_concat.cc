// SplitToSequence and ConcatFromSequence: a tensor cut into a sequence of slices along an axis,
// and a sequence joined along an existing (Concat) or a new (Stack) axis. Any dtype (bytes are
// copied; strings element by element).
#include <fmt/format.h>

#include "backends/cpu/kernels/sequence_kernels.h"
#include "core/sequence_util.h"

namespace kiln::cpu {

namespace {

int64_t product(const Dims& d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= d[i];
  return p;
}

Status SplitToSequenceK(const ValueKernelContext& c) {
  KILN_RETURN_IF_ERROR(expectValueKind(c, 0, ValueKind::kTensor, "SplitToSequence"));
  const Tensor& x = c.in(0).tensor();
  const int rank = x.rank();
  if (rank == 0) return InvalidArgument("SplitToSequence cannot split a scalar");
  const int64_t axisAttr = c.attrs.getInt("axis");
  if (axisAttr < -rank || axisAttr >= rank)
    return InvalidArgument("SplitToSequence: axis {} is out of range for rank {}", axisAttr, rank);
  const int axis = static_cast<int>(axisAttr < 0 ? axisAttr + rank : axisAttr);
  const Tensor* split = nullptr;
  if (c.hasInput(1)) {
    KILN_RETURN_IF_ERROR(expectValueKind(c, 1, ValueKind::kTensor, "SplitToSequence"));
    split = &c.in(1).tensor();
  }
  const Dims& d = x.dims();
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> lens, splitToSequenceLengths(split, d[axis]));
  // keepdims applies only without `split`: chunks of 1 then lose the axis.
  const bool keep = split != nullptr || c.attrs.getInt("keepdims") != 0;
  const int64_t outer = product(d, 0, axis), inner = product(d, axis + 1, rank);
  std::vector<Tensor> elems;
  elems.reserve(lens.size());
  int64_t offset = 0;
  for (int64_t len : lens) {
    Dims od = d;
    od[axis] = len;
    Tensor t = Tensor::allocate(x.dtype(), od);
    copyBlocks(x, d[axis] * inner, offset * inner, t, len * inner, 0, outer, len * inner);
    offset += len;
    if (!keep) {
      od.erase(axis);
      t = t.reshaped(od);
    }
    elems.push_back(std::move(t));
  }
  c.out(0) = RuntimeValue::sequence(x.dtype(), std::move(elems));
  return Status::OK();
}

Status ConcatFromSequenceK(const ValueKernelContext& c) {
  KILN_RETURN_IF_ERROR(expectValueKind(c, 0, ValueKind::kSequence, "ConcatFromSequence"));
  const RuntimeValue& seq = c.in(0);
  const auto& elems = seq.elements();
  if (elems.empty()) return InvalidArgument("ConcatFromSequence: the sequence is empty");
  const int64_t newAxis = c.attrs.getInt("new_axis");
  if (newAxis != 0 && newAxis != 1) return InvalidArgument("ConcatFromSequence: new_axis must be 0 or 1, got {}", newAxis);
  const Dims& first = elems[0].dims();
  const int rank = first.rank();
  if (newAxis && rank == kMaxRank)
    return Unsupported("ConcatFromSequence: stacking rank-{} tensors exceeds Kiln's maximum rank {}", rank, kMaxRank);
  KILN_ASSIGN_OR_RETURN(int axis, concatFromSequenceAxis(c.attrs.getInt("axis"), newAxis != 0, rank));
  // With new_axis every element is viewed with a 1 inserted at `axis`; then it is a Concat.
  std::vector<Tensor> parts;
  parts.reserve(elems.size());
  Dims out;
  for (size_t i = 0; i < elems.size(); ++i) {
    const Tensor& e = elems[i];
    if (e.dtype() != seq.elemType())
      return InvalidArgument("ConcatFromSequence: element {} is {} but the sequence holds {}", i,
                             dtypeName(e.dtype()), dtypeName(seq.elemType()));
    bool same = e.rank() == rank;
    for (int k = 0; same && k < rank; ++k) same = e.dims()[k] == first[k] || (!newAxis && k == axis);
    if (!same)
      return InvalidArgument("ConcatFromSequence: element {} has shape {} but element 0 has {} ({})", i,
                             e.dims().toString(), first.toString(),
                             newAxis ? "stacking needs equal shapes" : fmt::format("only dim {} may differ", axis));
    Dims v = e.dims();
    if (newAxis) v.insert(axis, 1);
    if (i == 0) out = v;
    else out[axis] += v[axis];
    parts.push_back(newAxis ? e.reshaped(v) : e);
  }
  Tensor y = Tensor::allocate(seq.elemType(), out);
  const int64_t outer = product(out, 0, axis), inner = product(out, axis + 1, out.rank());
  int64_t offset = 0;
  for (const Tensor& p : parts) {
    const int64_t rows = p.dims()[axis];
    copyBlocks(p, rows * inner, 0, y, out[axis] * inner, offset * inner, outer, rows * inner);
    offset += rows;
  }
  c.out(0) = RuntimeValue(std::move(y));
  return Status::OK();
}

}  // namespace

void RegisterSplitConcatKernels(ValueKernelRegistry& r) {
  r.add("SplitToSequence", &SplitToSequenceK);
  r.add("ConcatFromSequence", &ConcatFromSequenceK);
}

}  // namespace kiln::cpu
