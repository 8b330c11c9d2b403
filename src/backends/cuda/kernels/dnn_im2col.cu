// The channels-last im2col gather of the GEMM convolution tactic (see dnn_epilogue.h): one thread
// per unit (16-byte vector or one element) of the column matrix, so consecutive threads read
// consecutive channels of one input pixel and write consecutive bytes of one column row.
#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/dnn_epilogue.h"

namespace kiln::cuda::dnn {

namespace {

// Geometry in units of U: cu units per input pixel, rowU units per column row.
struct Im2colGeom {
  int64_t h, w, cu, outH, outW, kW, strideH, strideW, padH, padW, dilH, dilW, kUnits, rowU;
};

template <typename U>
__global__ void im2colKernel(const U* __restrict__ x, U* __restrict__ col, Im2colGeom g, int64_t total) {
  KILN_GRID_STRIDE_LOOP(idx, total) {
    const int64_t ku = idx % g.rowU;
    const int64_t m = idx / g.rowU;
    U v{};
    if (ku < g.kUnits) {
      const int64_t cu = ku % g.cu;
      const int64_t rs = ku / g.cu;
      const int64_t s = rs % g.kW, r = rs / g.kW;
      const int64_t ow = m % g.outW;
      const int64_t t = m / g.outW;
      const int64_t oh = t % g.outH, n = t / g.outH;
      const int64_t ih = oh * g.strideH - g.padH + r * g.dilH;
      const int64_t iw = ow * g.strideW - g.padW + s * g.dilW;
      if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) v = x[((n * g.h + ih) * g.w + iw) * g.cu + cu];
    }
    col[idx] = v;
  }
}

template <typename U>
cudaError_t launchUnits(const Im2colArgs& a, int64_t unitElems, cudaStream_t s) {
  Im2colGeom g;
  g.h = a.h, g.w = a.w, g.cu = a.c / unitElems, g.outH = a.outH, g.outW = a.outW, g.kW = a.kW;
  g.strideH = a.strideH, g.strideW = a.strideW, g.padH = a.padH, g.padW = a.padW, g.dilH = a.dilH, g.dilW = a.dilW;
  g.kUnits = a.kH * a.kW * g.cu;
  g.rowU = a.rowElems / unitElems;
  const int64_t total = a.n * a.outH * a.outW * g.rowU;
  if (total <= 0) return cudaSuccess;
  const int64_t maxBlocks = static_cast<int64_t>(a.smCount > 0 ? a.smCount : 132) * 16;
  im2colKernel<U><<<blocksFor(total, kThreads, maxBlocks), kThreads, 0, s>>>(static_cast<const U*>(a.x),
                                                                             static_cast<U*>(a.col), g, total);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launchIm2colNhwc(const Im2colArgs& a, cudaStream_t s) {
  if (a.rowElems < a.kH * a.kW * a.c || a.c <= 0) return cudaErrorInvalidValue;
  const int64_t vecElems = 16 / a.elemSize;
  const bool vec = (a.c % vecElems) == 0 && (a.rowElems % vecElems) == 0 &&
                   (reinterpret_cast<uintptr_t>(a.x) & 15) == 0 && (reinterpret_cast<uintptr_t>(a.col) & 15) == 0;
  if (vec) return launchUnits<uint4>(a, vecElems, s);
  switch (a.elemSize) {
    case 2: return launchUnits<uint16_t>(a, 1, s);
    case 4: return launchUnits<uint32_t>(a, 1, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::cuda::dnn
