// Blocked GEMM (GotoBLAS-style): C is cut into MC x NC tiles computed in parallel; per tile, K is
// walked in KC slices whose A and B parts are packed into MR-row / NR-column panels, and an
// MR x NR register-tile micro-kernel (GCC vector extensions) accumulates over the slice. The
// macro-kernel is compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time.
#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/matmul_gemm.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/thread_pool.h"

namespace kiln::cpu {

namespace {

constexpr int64_t kMC = 96, kNC = 512, kKC = 256;

template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(64)));
  static constexpr int kWidth = 64 / sizeof(T);
};

template <typename T>
constexpr int kMR = 6;
template <typename T>
constexpr int kNR = Vec<T>::kWidth;

// Packs rows [0, mc) x cols [0, kc) of A into panels of MR rows: panel p holds A[p*MR + r][k] at
// [p][k][r]; rows past mc are zero.
template <typename T>
void packA(const MatView<T>& A, int64_t i0, int64_t k0, int64_t mc, int64_t kc, T* out) {
  constexpr int MR = kMR<T>;
  for (int64_t p = 0; p < mc; p += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - p);
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = A.p + (i0 + p) * A.rs + (k0 + k) * A.cs;
      T* dst = out + p * kc + k * MR;
      int64_t r = 0;
      for (; r < rows; ++r) dst[r] = src[r * A.rs];
      for (; r < MR; ++r) dst[r] = T(0);
    }
  }
}

// Packs rows [0, kc) x cols [0, nc) of B into panels of NR columns: [p][k][c]; zero past nc.
template <typename T>
void packB(const MatView<T>& B, int64_t k0, int64_t j0, int64_t kc, int64_t nc, T* out) {
  constexpr int NR = kNR<T>;
  for (int64_t p = 0; p < nc; p += NR) {
    const int64_t cols = std::min<int64_t>(NR, nc - p);
    T* panel = out + p * kc;
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = B.p + (k0 + k) * B.rs + (j0 + p) * B.cs;
      T* dst = panel + k * NR;
      int64_t c = 0;
      if (B.cs == 1) {
        for (; c < cols; ++c) dst[c] = src[c];
      } else {
        for (; c < cols; ++c) dst[c] = src[c * B.cs];
      }
      for (; c < NR; ++c) dst[c] = T(0);
    }
  }
}

// acc[MR] (one vector of NR per row) = sum_k a[k][r] * b[k][:].
template <typename T>
[[gnu::always_inline]] inline void microKernel(int64_t kc, const T* __restrict a, const T* __restrict b,
                                               T* __restrict c, int64_t ldc, bool accumulate) {
  using V = typename Vec<T>::type;
  constexpr int NR = kNR<T>;
  static_assert(kMR<T> == 6);
  V c0{}, c1{}, c2{}, c3{}, c4{}, c5{};
  for (int64_t k = 0; k < kc; ++k) {
    V bv;
    std::memcpy(&bv, b + k * NR, sizeof(V));
    const T* ak = a + k * 6;
    c0 += ak[0] * bv;
    c1 += ak[1] * bv;
    c2 += ak[2] * bv;
    c3 += ak[3] * bv;
    c4 += ak[4] * bv;
    c5 += ak[5] * bv;
  }
  V* rows[6] = {&c0, &c1, &c2, &c3, &c4, &c5};
  for (int r = 0; r < 6; ++r) {
    T* dst = c + r * ldc;
    if (accumulate) {
      V old;
      std::memcpy(&old, dst, sizeof(V));
      *rows[r] += old;
    }
    std::memcpy(dst, rows[r], sizeof(V));
  }
}

// All MR x NR tiles of an mc x nc block from packed A (mc x kc) and B (kc x nc).
template <typename T>
[[gnu::always_inline]] inline void macroKernel(int64_t mc, int64_t nc, int64_t kc, const T* Ap, const T* Bp, T* C,
                                               int64_t ldc, bool accumulate) {
  constexpr int MR = kMR<T>, NR = kNR<T>;
  alignas(64) T tmp[MR * NR];
  for (int64_t j = 0; j < nc; j += NR) {
    const T* b = Bp + j * kc;
    const int64_t cols = std::min<int64_t>(NR, nc - j);
    for (int64_t i = 0; i < mc; i += MR) {
      const T* a = Ap + i * kc;
      const int64_t rows = std::min<int64_t>(MR, mc - i);
      T* c = C + i * ldc + j;
      if (rows == MR && cols == NR) {
        microKernel<T>(kc, a, b, c, ldc, accumulate);
      } else {
        microKernel<T>(kc, a, b, tmp, NR, false);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t q = 0; q < cols; ++q) c[r * ldc + q] = accumulate ? T(c[r * ldc + q] + tmp[r * NR + q]) : tmp[r * NR + q];
      }
    }
  }
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define KILN_GEMM_CLONES KILN_CPU_CLONES
#else
#define KILN_GEMM_CLONES
#endif

#define KILN_DEFINE_MACRO(T, NAME)                                                                  \
  KILN_GEMM_CLONES void NAME(int64_t mc, int64_t nc, int64_t kc, const T* Ap, const T* Bp, T* C,   \
                             int64_t ldc, bool accumulate) {                                       \
    macroKernel<T>(mc, nc, kc, Ap, Bp, C, ldc, accumulate);                                        \
  }
KILN_DEFINE_MACRO(float, macroF32)
KILN_DEFINE_MACRO(double, macroF64)
KILN_DEFINE_MACRO(uint32_t, macroU32)
KILN_DEFINE_MACRO(uint64_t, macroU64)
#undef KILN_DEFINE_MACRO

void macro(int64_t mc, int64_t nc, int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool acc) {
  macroF32(mc, nc, kc, a, b, c, ldc, acc);
}
void macro(int64_t mc, int64_t nc, int64_t kc, const double* a, const double* b, double* c, int64_t ldc, bool acc) {
  macroF64(mc, nc, kc, a, b, c, ldc, acc);
}
void macro(int64_t mc, int64_t nc, int64_t kc, const uint32_t* a, const uint32_t* b, uint32_t* c, int64_t ldc,
           bool acc) {
  macroU32(mc, nc, kc, a, b, c, ldc, acc);
}
void macro(int64_t mc, int64_t nc, int64_t kc, const uint64_t* a, const uint64_t* b, uint64_t* c, int64_t ldc,
           bool acc) {
  macroU64(mc, nc, kc, a, b, c, ldc, acc);
}

// Straight loops for tiny problems where packing costs more than it saves.
template <typename T>
void naiveGemm(int64_t M, int64_t N, int64_t K, const MatView<T>& A, const MatView<T>& B, T* C, int64_t ldc,
               bool accumulate) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (!accumulate)
      for (int64_t j = 0; j < N; ++j) c[j] = T(0);
    for (int64_t k = 0; k < K; ++k) {
      const T a = A.p[i * A.rs + k * A.cs];
      const T* b = B.p + k * B.rs;
      for (int64_t j = 0; j < N; ++j) c[j] = T(c[j] + a * b[j * B.cs]);
    }
  }
}

template <typename T>
void tileGemm(int64_t i0, int64_t j0, int64_t mc, int64_t nc, int64_t K, const MatView<T>& A, const MatView<T>& B,
              T* C, int64_t ldc, bool accumulate) {
  constexpr int MR = kMR<T>, NR = kNR<T>;
  thread_local std::vector<T> abuf, bbuf;
  const int64_t mcp = (mc + MR - 1) / MR * MR, ncp = (nc + NR - 1) / NR * NR;
  if (static_cast<int64_t>(abuf.size()) < mcp * kKC) abuf.resize(mcp * kKC);
  if (static_cast<int64_t>(bbuf.size()) < ncp * kKC) bbuf.resize(ncp * kKC);
  T* c = C + i0 * ldc + j0;
  if (K == 0) {
    if (!accumulate)
      for (int64_t r = 0; r < mc; ++r) std::fill(c + r * ldc, c + r * ldc + nc, T(0));
    return;
  }
  for (int64_t k0 = 0; k0 < K; k0 += kKC) {
    const int64_t kc = std::min(kKC, K - k0);
    packB(B, k0, j0, kc, nc, bbuf.data());
    packA(A, i0, k0, mc, kc, abuf.data());
    macro(mc, nc, kc, abuf.data(), bbuf.data(), c, ldc, accumulate || k0 > 0);
  }
}

}  // namespace

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, MatView<T> A, MatView<T> B, T* C, int64_t ldc, bool accumulate,
          bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (M * N * K <= 16384 || (M < 4 && N < 32)) {
    naiveGemm(M, N, K, A, B, C, ldc, accumulate);
    return;
  }
  const int64_t tm = (M + kMC - 1) / kMC, tn = (N + kNC - 1) / kNC;
  auto run = [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t i0 = (t / tn) * kMC, j0 = (t % tn) * kNC;
      tileGemm(i0, j0, std::min(kMC, M - i0), std::min(kNC, N - j0), K, A, B, C, ldc, accumulate);
    }
  };
  if (parallel && tm * tn > 1)
    parallelFor(tm * tn, 1, run);
  else
    run(0, tm * tn);
}

template void gemm<float>(int64_t, int64_t, int64_t, MatView<float>, MatView<float>, float*, int64_t, bool, bool);
template void gemm<double>(int64_t, int64_t, int64_t, MatView<double>, MatView<double>, double*, int64_t, bool,
                           bool);
template void gemm<uint32_t>(int64_t, int64_t, int64_t, MatView<uint32_t>, MatView<uint32_t>, uint32_t*, int64_t,
                             bool, bool);
template void gemm<uint64_t>(int64_t, int64_t, int64_t, MatView<uint64_t>, MatView<uint64_t>, uint64_t*, int64_t,
                             bool, bool);

void gemm(int64_t M, int64_t N, int64_t K, MatView<int32_t> A, MatView<int32_t> B, int32_t* C, int64_t ldc,
          bool accumulate, bool parallel) {
  using U = uint32_t;
  gemm<U>(M, N, K, {reinterpret_cast<const U*>(A.p), A.rs, A.cs}, {reinterpret_cast<const U*>(B.p), B.rs, B.cs},
          reinterpret_cast<U*>(C), ldc, accumulate, parallel);
}
void gemm(int64_t M, int64_t N, int64_t K, MatView<int64_t> A, MatView<int64_t> B, int64_t* C, int64_t ldc,
          bool accumulate, bool parallel) {
  using U = uint64_t;
  gemm<U>(M, N, K, {reinterpret_cast<const U*>(A.p), A.rs, A.cs}, {reinterpret_cast<const U*>(B.p), B.rs, B.cs},
          reinterpret_cast<U*>(C), ldc, accumulate, parallel);
}

void* threadScratchBytes(ScratchSlot slot, size_t bytes) {
  struct Buf {
    std::unique_ptr<char[]> mem;
    size_t size = 0;
  };
  thread_local Buf bufs[static_cast<int>(ScratchSlot::kCount)];
  Buf& b = bufs[static_cast<int>(slot)];
  if (b.size < bytes + 64) {
    b.size = bytes + 64;
    b.mem.reset(new char[b.size]);
  }
  const uintptr_t p = reinterpret_cast<uintptr_t>(b.mem.get());
  return reinterpret_cast<void*>((p + 63) & ~uintptr_t{63});
}

}  // namespace kiln::cpu
