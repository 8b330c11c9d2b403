// ONNX rules shared by the sequence ops' inference (src/ir/ops/sequence.cc) and their CPU kernels
// (src/backends/cpu/kernels/sequence*.cc): positions, SplitToSequence chunk lengths and
// ConcatFromSequence axes.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// Sequences longer than this are refused (a SplitToSequence of an axis of 10^12 empty slices
// would otherwise exhaust memory on a few bytes of input).
inline constexpr int64_t kMaxSequenceLength = int64_t{1} << 24;

// Checks a position input's type and shape: int32/int64 with one element (ONNX asks for a scalar;
// ONNX's own tests also pass shape [1]).
inline Status checkSequencePositionType(DType t, const Shape& s, const char* op) {
  if (t != DType::kInt32 && t != DType::kInt64)
    return InvalidArgument("{}: position must be int32 or int64, not {}", op, dtypeName(t));
  if (s.rankKnown() && (s.rank() > 1 || (s.rank() == 1 && s[0].isStatic() && s[0].value() != 1)))
    return InvalidArgument("{}: position must be a scalar, not shape {}", op, s.toString());
  return Status::OK();
}

// The position a SequenceAt/SequenceErase (`allowEnd` false: [-n, n-1]) or SequenceInsert
// (`allowEnd` true: [-n, n]) input names in a sequence of n tensors, made non-negative.
inline Result<int64_t> sequencePosition(const Tensor& pos, int64_t n, bool allowEnd, const char* op) {
  KILN_RETURN_IF_ERROR(checkSequencePositionType(pos.dtype(), Shape(pos.dims()), op));
  if (pos.numel() != 1) return InvalidArgument("{}: position must be a scalar, not shape {}", op, pos.dims().toString());
  const int64_t p = pos.intAt(0);
  const int64_t hi = allowEnd ? n : n - 1;
  if (p < -n || p > hi) {
    if (n == 0 && !allowEnd) return InvalidArgument("{}: position {} is out of range: the sequence is empty", op, p);
    return InvalidArgument("{}: position {} is out of range [{}, {}] for a sequence of {} tensors", op, p, -n, hi, n);
  }
  return p < 0 ? p + n : p;
}

// SplitToSequence's chunk lengths along an axis of size `dim`: without `split`, `dim` chunks of
// 1; a scalar split s > 0 gives chunks of s, the last one shorter when s does not divide dim; a
// 1-D split gives its values, each >= 0, summing to dim.
inline Result<std::vector<int64_t>> splitToSequenceLengths(const Tensor* split, int64_t dim) {
  std::vector<int64_t> out;
  if (!split) {
    if (dim > kMaxSequenceLength)
      return Unsupported("SplitToSequence would make a sequence of {} tensors (at most {})", dim, kMaxSequenceLength);
    out.assign(static_cast<size_t>(dim), 1);
    return out;
  }
  if (split->dtype() != DType::kInt32 && split->dtype() != DType::kInt64)
    return InvalidArgument("SplitToSequence: split must be int32 or int64, not {}", dtypeName(split->dtype()));
  if (split->rank() > 1)
    return InvalidArgument("SplitToSequence: split must be a scalar or 1-D, not shape {}", split->dims().toString());
  if (split->rank() == 0) {
    const int64_t s = split->intAt(0);
    if (s <= 0) return InvalidArgument("SplitToSequence: a scalar split must be positive, got {}", s);
    const int64_t n = dim / s + (dim % s != 0);
    if (n > kMaxSequenceLength)
      return Unsupported("SplitToSequence would make a sequence of {} tensors (at most {})", n, kMaxSequenceLength);
    out.assign(static_cast<size_t>(dim / s), s);
    if (dim % s) out.push_back(dim % s);
    return out;
  }
  if (split->numel() == 0) return InvalidArgument("SplitToSequence: split must not be empty");
  if (split->numel() > kMaxSequenceLength)
    return Unsupported("SplitToSequence would make a sequence of {} tensors (at most {})", split->numel(),
                       kMaxSequenceLength);
  int64_t sum = 0;
  for (int64_t i = 0; i < split->numel(); ++i) {
    const int64_t s = split->intAt(i);
    if (s < 0) return InvalidArgument("SplitToSequence: split values must be >= 0, got {} at {}", s, i);
    if (s > dim - sum)
      return InvalidArgument("SplitToSequence: split values sum to more than the axis size {}", dim);
    sum += s;
    out.push_back(s);
  }
  if (sum != dim)
    return InvalidArgument("SplitToSequence: split values sum to {} but the axis has size {}", sum, dim);
  return out;
}

// ConcatFromSequence's axis for elements of rank `rank`, made non-negative: [-rank, rank-1], or
// [-rank-1, rank] with new_axis (the output has one more dim).
inline Result<int> concatFromSequenceAxis(int64_t axis, bool newAxis, int rank) {
  const int outRank = newAxis ? rank + 1 : rank;
  if (outRank == 0) return InvalidArgument("ConcatFromSequence: cannot concatenate scalars without new_axis=1");
  if (axis < -outRank || axis >= outRank)
    return InvalidArgument("ConcatFromSequence: axis {} is out of range [{}, {}] for elements of rank {}{}", axis,
                           -outRank, outRank - 1, rank, newAxis ? " with new_axis=1" : "");
  return static_cast<int>(axis < 0 ? axis + outRank : axis);
}

}  // namespace kiln
