// DFT and STFT on the GPU: the shape checks and defaults of the CPU reference
// (backends/cpu/kernels/misc_signal.cc), read from the host inputs (DFT's dft_length and axis,
// STFT's frame_step and frame_length; backends/host_inputs.h); signal.cu launches. Opset 17-19's
// DFT axis attribute reaches here as input 2 (the importer converts it). Also registers the
// linear-algebra kernels of einsum_ops.cc (Einsum, Det) under the same family.
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/signal_launch.h"

namespace kiln::cuda {

void registerEinsumKernels(GpuKernelRegistry& r);  // einsum_ops.cc: Einsum, Det

namespace {

// A host input's first value; `dflt` when absent or empty.
int64_t hostScalar(const GpuKernelContext& c, int i, int64_t dflt) {
  return c.hasInput(i) && c.in(i).numel() ? c.in(i).intAt(0) : dflt;
}

Status dftEnqueue(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  if (!signal::signalSupportsType(x.dtype())) return unsupportedGpuType("DFT", x.dtype());
  const Dims& xd = x.dims();
  const int r = xd.rank();
  if (r < 2 || (xd[r - 1] != 1 && xd[r - 1] != 2))
    return InvalidArgument("DFT input must have shape (..., signal, 1 or 2), got {}", xd.toString());
  int64_t axis = hostScalar(c, 2, -2);
  if (axis < -r || axis >= r - 1 || axis == -1)
    return InvalidArgument("DFT axis {} is out of range for input {}", axis, xd.toString());
  if (axis < 0) axis += r;
  const bool inverse = c.attrs.getInt("inverse") != 0, onesided = c.attrs.getInt("onesided") != 0;
  const bool irfft = inverse && onesided;
  const int64_t L = xd[static_cast<int>(axis)];
  const int64_t n = hostScalar(c, 1, irfft ? 2 * (L - 1) : L);
  if (n < 1) return InvalidArgument("DFT dft_length must be >= 1, got {}", n);
  const int64_t m = (!inverse && onesided) ? n / 2 + 1 : n;
  const int64_t comp = xd[r - 1], oc = irfft ? 1 : 2;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= xd[i];
  for (int i = static_cast<int>(axis) + 1; i < r - 1; ++i) inner *= xd[i];
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
  const Dims& xd = x.dims();
  if (xd.rank() != 3 || (xd[2] != 1 && xd[2] != 2))
    return InvalidArgument("STFT signal must have shape (batch, length, 1 or 2), got {}", xd.toString());
  const int64_t step = c.in(1).intAt(0);
  const Tensor* win = c.hasInput(2) ? &c.in(2) : nullptr;  // a device tensor: only its dims are read here
  const int64_t fl = hostScalar(c, 3, win ? win->numel() : xd[1]);
  if (step < 1 || fl < 1 || fl > xd[1] || (win && (win->rank() != 1 || win->numel() != fl)))
    return InvalidArgument("STFT frame_step {} / frame_length {} / window {} do not fit signal {}", step, fl,
                           win ? win->dims().toString() : "none", xd.toString());
  if (win && win->dtype() != x.dtype())
    return InvalidArgument("STFT window {} must have the signal's type {}", win->describe(), dtypeName(x.dtype()));
  const bool onesided = c.attrs.getInt("onesided") != 0;
  const int64_t B = xd[0], L = xd[1], comp = xd[2], frames = 1 + (L - fl) / step, bins = onesided ? fl / 2 + 1 : fl;
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
