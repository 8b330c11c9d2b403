// Channels-last (NHWC) helpers shared by the layout pass, inference and kernels. A channels-last
// tensor of an N-d layer is [N, spatial..., C]; its logical (ONNX) layout is [N, C, spatial...].
#pragma once

#include <vector>

#include "kiln/shape.h"

namespace kiln {

// [N, C, S...] -> [N, S..., C]
inline std::vector<int64_t> toChannelsLastPerm(int rank) {
  std::vector<int64_t> p = {0};
  for (int i = 2; i < rank; ++i) p.push_back(i);
  p.push_back(1);
  return p;
}
// [N, S..., C] -> [N, C, S...]
inline std::vector<int64_t> fromChannelsLastPerm(int rank) {
  std::vector<int64_t> p = {0, rank - 1};
  for (int i = 1; i < rank - 1; ++i) p.push_back(i);
  return p;
}
// Logical NC... dims of a channels-last tensor.
inline Dims channelsFirstDims(const Dims& cl) {
  Dims d;
  d.push_back(cl[0]);
  d.push_back(cl[cl.rank() - 1]);
  for (int i = 1; i < cl.rank() - 1; ++i) d.push_back(cl[i]);
  return d;
}
inline Dims channelsLastDims(const Dims& cf) {
  Dims d;
  d.push_back(cf[0]);
  for (int i = 2; i < cf.rank(); ++i) d.push_back(cf[i]);
  d.push_back(cf[1]);
  return d;
}
inline Shape channelsFirstShape(const Shape& cl) {
  if (!cl.rankKnown() || cl.rank() < 2) return cl;
  std::vector<Dim> d = {cl[0], cl[cl.rank() - 1]};
  for (int i = 1; i < cl.rank() - 1; ++i) d.push_back(cl[i]);
  return Shape(std::move(d));
}
inline Shape channelsLastShape(const Shape& cf) {
  if (!cf.rankKnown() || cf.rank() < 2) return cf;
  std::vector<Dim> d = {cf[0]};
  for (int i = 2; i < cf.rank(); ++i) d.push_back(cf[i]);
  d.push_back(cf[1]);
  return Shape(std::move(d));
}

}  // namespace kiln
