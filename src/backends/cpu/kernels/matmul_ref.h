// Reference MatMul-family pieces shared within the CPU backend: the numpy-matmul batch plan, and
// the reference kernels the oneDNN tactics fall back to for shapes a primitive refuses.
#pragma once

#include <string_view>

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

// C[b] = A[ia(b)] x B[ib(b)] for every output batch b of numpy matmul broadcasting (no heap).
struct MatMulPlan {
  int64_t M = 0, N = 0, K = 0;
  int64_t batch = 1;       // output batch count
  bool foldA = false;      // B is one matrix and A's batches are distinct: one GEMM
  Dims outBatch;           // broadcast batch dims
  Dims aStride, bStride;   // per batch dim: matrix-index stride in A / B (0 where broadcast)
  // Matrix indices of output batch t in A and B.
  void offsets(int64_t t, int64_t* ia, int64_t* ib) const {
    *ia = *ib = 0;
    for (int i = outBatch.rank() - 1; i >= 0; --i) {
      const int64_t idx = t % outBatch[i];
      t /= outBatch[i];
      *ia += idx * aStride[i];
      *ib += idx * bStride[i];
    }
  }
};

// Validates the operand/output dims (1-D operands follow numpy) and builds the plan.
Result<MatMulPlan> planMatMul(const Dims& a, const Dims& b, const Dims& y, std::string_view op);

// Runs the plan with the blocked GEMM (T: float, double, int32/64, uint32/64).
template <typename T>
void runMatMulPlan(const MatMulPlan& p, const T* A, const T* B, T* Y);

Status refMatMul(const KernelContext& ctx);
Status refGemm(const KernelContext& ctx);

}  // namespace kiln::cpu
