// Shape and type validation of kiln:EmbedLayerNorm, shared by the CPU and CUDA kernels so both
// accept exactly the same runs:
//   Y[r, :] = LayerNorm(table0[ids0[r]] + table1[ids1[r]] + addend[r]) * gamma + beta
// over the rows r of ids0's shape (ids1, table1, addend and beta optional). The addend broadcasts
// to [ids..., H] from the right (BERT's position embeddings [1, S, H]); its last dim is H.
#pragma once

#include <cstdint>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::backends {

struct EmbedGeometry {
  static constexpr int kMaxRank = 8;
  int64_t rows = 0, h = 0;
  int64_t vocab0 = 0, vocab1 = 0;  // rows of table0 / table1 (0 when absent)
  int rank = 0;                    // of the ids
  int64_t idsDims[kMaxRank] = {};
  int64_t addendStride[kMaxRank] = {};  // per ids dim, in addend rows of H (0: broadcast)
};

// kiln:EmbedLayerNorm's inputs (ids0, table0, gamma, beta?, ids1?, table1?, addend?); absent
// optional ones null.
Status embedGeometry(const Tensor& ids0, const Tensor& table0, const Tensor* ids1, const Tensor* table1,
                     const Tensor* addend, const Tensor& gamma, const Tensor* beta, EmbedGeometry* g);

// The addend row that output row r reads.
inline int64_t embedAddendRow(const EmbedGeometry& g, int64_t r) {
  int64_t off = 0;
  for (int i = g.rank - 1; i >= 0; --i) {
    off += (r % g.idsDims[i]) * g.addendStride[i];
    r /= g.idsDims[i];
  }
  return off;
}

// An id in [-vocab, vocab) as a row index; -1 when out of range.
inline int64_t embedRowOf(int64_t id, int64_t vocab) {
  if (id < 0) id += vocab;
  return id >= 0 && id < vocab ? id : -1;
}

}  // namespace kiln::backends
