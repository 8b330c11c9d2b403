// DFT and STFT on the GPU: the shape checks and defaults shared with the CPU reference
// (backends/signal_geometry.h), read from the host inputs (DFT's dft_length and axis,
// STFT's frame_step and frame_length; backends/host_inputs.h); signal.cu launches. Opset 17-19's
// DFT axis attribute reaches here as input 2 (the importer converts it). Also registers the
// linear-algebra kernels of einsum_ops.cc (Einsum, Det) under the same family.
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/signal_launch.h"
#include "backends/signal_geometry.h"

namespace kiln::cuda {

void registerEinsumKernels(GpuKernelRegistry& r);  // einsum_ops.cc: Einsum, Det

namespace {

Status dftEnqueue(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  if (!signal::signalSupportsType(x.dtype())) return unsupportedGpuType("DFT", x.dtype());
  backends::DftGeometry g;
  KILN_RETURN_IF_ERROR(backends::dftGeometry(c.attrs, x, c.hasInput(1) ? &c.in(1) : nullptr,
                                             c.hasInput(2) ? &c.in(2) : nullptr, &g));
  const bool inverse = g.inverse, irfft = g.irfft;
  const int64_t L = g.len, n = g.n, m = g.bins, comp = g.comp, oc = g.outComp, outer = g.outer, inner = g.inner;
  Tensor& y = c.out(0);
  if (y.dtype() != x.dtype() || y.numel() != outer * m * inner * oc)
    return InternalError("DFT output {} does not match the transform of {} ({} bins)", y.describe(), x.describe(), m);
  signal::DftArgs a;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = y.raw();
  a.batch = outer;
  a.frames = 1;
  a.inner = inner;
  a.len = L;
  a.n = n;
  a.m = m;
  a.strideB = L * inner * comp;
  a.strideF = 0;
  a.strideI = comp;
  a.strideT = inner * comp;
  a.comp = static_cast<int>(comp);
  a.outComp = static_cast<int>(oc);
  a.inverse = inverse;
  a.irfft = irfft;
  a.smCount = c.res.smCount;
  KILN_CUDA_RETURN_IF_ERROR(signal::launchDft(a, c.stream));
  return Status::OK();
}

Status stftEnqueue(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  if (!signal::signalSupportsType(x.dtype())) return unsupportedGpuType("STFT", x.dtype());
  const Tensor* win = c.hasInput(2) ? &c.in(2) : nullptr;  // a device tensor: only its dims are read
  backends::StftGeometry g;
  KILN_RETURN_IF_ERROR(backends::stftGeometry(c.attrs, x, c.in(1), win, c.hasInput(3) ? &c.in(3) : nullptr, &g));
  const int64_t B = g.batch, L = g.len, comp = g.comp, step = g.step, fl = g.frameLength, frames = g.frames,
                bins = g.bins;
  Tensor& y = c.out(0);
  if (y.dtype() != x.dtype() || y.dims() != Dims{B, frames, bins, 2})
    return InternalError("STFT output {} does not match ({}, {}, {}, 2)", y.describe(), B, frames, bins);
  signal::DftArgs a;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.window = win ? win->raw() : nullptr;
  a.y = y.raw();
  a.batch = B;
  a.frames = frames;
  a.inner = 1;
  a.len = fl;
  a.n = fl;
  a.m = bins;
  a.strideB = L * comp;
  a.strideF = step * comp;
  a.strideI = 0;
  a.strideT = comp;
  a.comp = static_cast<int>(comp);
  a.outComp = 2;
  a.smCount = c.res.smCount;
  KILN_CUDA_RETURN_IF_ERROR(signal::launchDft(a, c.stream));
  return Status::OK();
}

DType typeAt(const std::vector<DType>& v, size_t i) { return i < v.size() ? v[i] : DType::kUndefined; }

bool isIndexType(DType t) { return t == DType::kUndefined || t == DType::kInt32 || t == DType::kInt64; }

// A float signal, outputs of its type, integer host inputs.
bool dftSupports(const LayerDesc& d) {
  const DType t = typeAt(d.inputTypes, 0);
  if (!signal::signalSupportsType(t) || d.outputTypes.size() != 1 || d.outputTypes[0] != t) return false;
  return isIndexType(typeAt(d.inputTypes, 1)) && isIndexType(typeAt(d.inputTypes, 2));
}

bool stftSupports(const LayerDesc& d) {
  const DType t = typeAt(d.inputTypes, 0);
  if (!signal::signalSupportsType(t) || d.outputTypes.size() != 1 || d.outputTypes[0] != t) return false;
  const DType w = typeAt(d.inputTypes, 2);
  return isIndexType(typeAt(d.inputTypes, 1)) && (w == DType::kUndefined || w == t) &&
         isIndexType(typeAt(d.inputTypes, 3));
}

}  // namespace

void registerSignalKernels(GpuKernelRegistry& r) {
  r.addFn("DFT", "cuda_signal_dft", &dftEnqueue, dftSupports, 10);
  r.addFn("STFT", "cuda_signal_stft", &stftEnqueue, stftSupports, 10);
  registerEinsumKernels(r);
}

}  // namespace kiln::cuda
