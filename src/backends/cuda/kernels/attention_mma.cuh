// Tensor-core building blocks of the attention kernels (attention_flash.cu, attention_resident.cu):
// mma.sync m16n8k16 with float accumulation, ldmatrix, cp.async and packing of two floats into the
// 16-bit A operand. Fragment layouts (PTX ISA, g = lane / 4, t = lane % 4):
//   A (16x16 row): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B (16x8 col):  b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g)
//   C (16x8):      c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..2t+1)
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace kiln::cuda::attn {

__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], const uint32_t b[2], __half) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], const uint32_t b[2], __nv_bfloat16) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Two floats as a packed pair of T (x in the low half: the lower k index).
template <typename T>
__device__ __forceinline__ uint32_t packF(float x, float y) {
  uint32_t r;
  if constexpr (std::is_same_v<T, __half>) {
    __half2 h = __floats2half2_rn(x, y);
    r = *reinterpret_cast<uint32_t*>(&h);
  } else {
    __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
    r = *reinterpret_cast<uint32_t*>(&h);
  }
  return r;
}

template <typename T>
__device__ __forceinline__ uint32_t ld32(const T* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

// ldmatrix: lanes 8i..8i+7 give the row addresses of 8x8 matrix i; register i receives matrix i
// in the mma fragment layout (row lane/4, cols 2(lane%4)..+1), or transposed with .trans.
__device__ __forceinline__ void ldmatrixX4(uint32_t r[4], const void* smem) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t r[4], const void* smem) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;  // 0: the 16 bytes are zero-filled
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// The two 16x8 score tiles of 16 keys: s0 += A x (keys 0-7 at kLane)^T, s1 += A x (keys 8-15)^T,
// from one ldmatrix.x4 whose lanes address (keys 0-7, dims 0-7), (keys 0-7, dims 8-15),
// (keys 8-15, dims 0-7), (keys 8-15, dims 8-15) of a row-major K tile.
template <typename T>
__device__ __forceinline__ void mmaKeyPair(float s0[4], float s1[4], const uint32_t a[4], const T* kLane) {
  uint32_t kf[4];
  ldmatrixX4(kf, kLane);
  const uint32_t b0[2] = {kf[0], kf[1]}, b1[2] = {kf[2], kf[3]};
  mma16816(s0, a, b0, T());
  mma16816(s1, a, b1, T());
}

// The two 16x8 output tiles of 16 value dims: o0 += P x V[:, 0-7], o1 += P x V[:, 8-15], from one
// ldmatrix.x4.trans whose lanes address (keys 0-7, dims 0-7), (keys 8-15, dims 0-7),
// (keys 0-7, dims 8-15), (keys 8-15, dims 8-15) of a row-major V tile.
template <typename T>
__device__ __forceinline__ void mmaValuePair(float o0[4], float o1[4], const uint32_t a[4], const T* vLane) {
  uint32_t vf[4];
  ldmatrixX4Trans(vf, vLane);
  const uint32_t b0[2] = {vf[0], vf[1]}, b1[2] = {vf[2], vf[3]};
  mma16816(o0, a, b0, T());
  mma16816(o1, a, b1, T());
}

}  // namespace kiln::cuda::attn
