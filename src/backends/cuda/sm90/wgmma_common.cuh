// Hopper warpgroup MMA (wgmma) building blocks shared by Kiln's own sm_90a kernels
// (attention_wgmma.cu, qkv_attention_wgmma.cu): 128-byte-swizzled shared tiles and their
// descriptors, the fences, and the few products those kernels issue (one asm statement each;
// float16 and bfloat16 differ only in the type names).
//
// Tiles hold rows of 64 16-bit elements (128 bytes), 16-byte chunk c of row r at chunk c ^ (r % 8):
// the layout wgmma's 128-byte-swizzle descriptors name, and free of bank conflicts for 16-byte
// fills and for the 4-byte fragment stores of an accumulator (8 rows x 4 lanes a warp).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace kiln::cuda::wg {

constexpr int kRowBytes = 128;  // one swizzled row: 64 16-bit elements

// Byte offset of 16-byte chunk c of row r in a 128-byte-swizzled tile.
__device__ __forceinline__ uint32_t swz(int r, int c) { return static_cast<uint32_t>(r * kRowBytes + ((c ^ (r & 7)) << 4)); }

// Descriptor of a 128-byte-swizzled tile at shared address `addr` (1024-byte aligned atoms): start
// address, leading byte offset (unused by swizzled K-major operands; for an MN-major operand of 64
// columns there is one 64-column block), stride byte offset 1024 (8 rows of 128 bytes), in 16-byte
// units; layout type 1 = 128-byte swizzle. A k-step of 16 elements (32 bytes along the row) is +2
// (no carry: shared addresses are below 2^18); 16 rows further down is +128.
__device__ __forceinline__ uint64_t smemDesc(uint32_t addr) {
  uint64_t d = 0;
  d |= static_cast<uint64_t>((addr & 0x3FFFF) >> 4);
  d |= static_cast<uint64_t>(1024 >> 4) << 16;
  d |= static_cast<uint64_t>(1024 >> 4) << 32;
  d |= static_cast<uint64_t>(1) << 62;
  return d;
}

__device__ __forceinline__ void fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Shared-memory writes of the generic proxy (cp.async, st.shared) made visible to wgmma's reads.
__device__ __forceinline__ void fenceProxyAsync() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

#define KILN_F4(a, i) "+f"(a[i][0]), "+f"(a[i][1]), "+f"(a[i][2]), "+f"(a[i][3])
#define KILN_WGMMA_ACC32                                                                              \
  "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26," \
  "%27,%28,%29,%30,%31}"
#define KILN_WGMMA_ACC64                                                                              \
  "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26," \
  "%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,"   \
  "%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}"
#define KILN_WGMMA_ACC96                                                                                     \
  "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27," \
  "%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,"    \
  "%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,"    \
  "%78,%79,%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95}"
#define KILN_F4x16(a)                                                                                         \
  KILN_F4(a, 0), KILN_F4(a, 1), KILN_F4(a, 2), KILN_F4(a, 3), KILN_F4(a, 4), KILN_F4(a, 5), KILN_F4(a, 6), \
      KILN_F4(a, 7), KILN_F4(a, 8), KILN_F4(a, 9), KILN_F4(a, 10), KILN_F4(a, 11), KILN_F4(a, 12),          \
      KILN_F4(a, 13), KILN_F4(a, 14), KILN_F4(a, 15)

// s (+)= A B^T, 64 x 128 per warpgroup, A and B K-major in shared memory; accumulate = 0
// overwrites s.
#define KILN_WGMMA_S_SMEM(TY)                                                                         \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                         \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " " KILN_WGMMA_ACC64        \
               ", %64, %65, p, 1, 1, 0, 0;\n}\n"                                                     \
               : KILN_F4x16(s)                                                                       \
               : "l"(descA), "l"(descB), "r"(accumulate))
// o += P V for one 16-key step, 64 x 64 per warpgroup: P (the thread's A fragment) in registers,
// V MN-major (row-major [keys, D]) in shared memory, hence the transposed-B flag.
#define KILN_WGMMA_O(TY)                                                                                        \
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " " KILN_WGMMA_ACC32                   \
               ", {%32,%33,%34,%35}, %36, 1, 1, 1, 1;\n"                                                        \
               : KILN_F4(o, 0), KILN_F4(o, 1), KILN_F4(o, 2), KILN_F4(o, 3), KILN_F4(o, 4), KILN_F4(o, 5),     \
                 KILN_F4(o, 6), KILN_F4(o, 7)                                                                  \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB))
// acc (+)= A B^T, 64 x 192 per warpgroup, both K-major in shared memory (the QKV projection of
// one head).
#define KILN_WGMMA_N192(TY)                                                                               \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %98, 0;\n"                                             \
               "wgmma.mma_async.sync.aligned.m64n192k16.f32." TY "." TY " " KILN_WGMMA_ACC96            \
               ", %96, %97, p, 1, 1, 0, 0;\n}\n"                                                         \
               : KILN_F4x16(acc), KILN_F4(acc, 16), KILN_F4(acc, 17), KILN_F4(acc, 18), KILN_F4(acc, 19), \
                 KILN_F4(acc, 20), KILN_F4(acc, 21), KILN_F4(acc, 22), KILN_F4(acc, 23)                  \
               : "l"(descA), "l"(descB), "r"(accumulate))

template <typename T>
__device__ __forceinline__ void mmaS(float (&s)[16][4], uint64_t descA, uint64_t descB, int accumulate) {
  if constexpr (std::is_same_v<T, __half>) KILN_WGMMA_S_SMEM("f16");
  else KILN_WGMMA_S_SMEM("bf16");
}

template <typename T>
__device__ __forceinline__ void mmaO(float (&o)[8][4], const uint32_t (&a)[4], uint64_t descB) {
  if constexpr (std::is_same_v<T, __half>) KILN_WGMMA_O("f16");
  else KILN_WGMMA_O("bf16");
}

template <typename T>
__device__ __forceinline__ void mmaN192(float (&acc)[24][4], uint64_t descA, uint64_t descB, int accumulate) {
  if constexpr (std::is_same_v<T, __half>) KILN_WGMMA_N192("f16");
  else KILN_WGMMA_N192("bf16");
}

}  // namespace kiln::cuda::wg
