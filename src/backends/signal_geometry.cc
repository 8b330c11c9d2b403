// Validation of DFT and STFT shared by the CPU and CUDA kernels (signal_geometry.h).
#include "backends/signal_geometry.h"

namespace kiln::backends {

namespace {
int64_t scalarOr(const Tensor* t, int64_t dflt) { return t && t->numel() ? t->intAt(0) : dflt; }
}  // namespace

Status dftGeometry(const AttrMap& a, const Tensor& x, const Tensor* dftLength, const Tensor* axis, DftGeometry* g) {
  const Dims& xd = x.dims();
  const int r = xd.rank();
  if (r < 2 || (xd[r - 1] != 1 && xd[r - 1] != 2))
    return InvalidArgument("DFT input must have shape (..., signal, 1 or 2), got {}", xd.toString());
  int64_t ax = scalarOr(axis, -2);
  if (ax < -r || ax >= r - 1 || ax == -1) return InvalidArgument("DFT axis {} is out of range for input {}", ax, xd.toString());
  if (ax < 0) ax += r;
  g->axis = static_cast<int>(ax);
  g->inverse = a.getInt("inverse") != 0;
  g->onesided = a.getInt("onesided") != 0;
  g->irfft = g->inverse && g->onesided;
  g->len = xd[g->axis];
  g->n = scalarOr(dftLength, g->irfft ? 2 * (g->len - 1) : g->len);
  if (g->n < 1) return InvalidArgument("DFT dft_length must be >= 1, got {}", g->n);
  g->bins = (!g->inverse && g->onesided) ? g->n / 2 + 1 : g->n;
  g->comp = xd[r - 1];
  g->outComp = g->irfft ? 1 : 2;
  g->outer = g->inner = 1;
  for (int i = 0; i < g->axis; ++i) g->outer *= xd[i];
  for (int i = g->axis + 1; i < r - 1; ++i) g->inner *= xd[i];
  return Status::OK();
}

Status stftGeometry(const AttrMap& a, const Tensor& x, const Tensor& frameStep, const Tensor* window,
                    const Tensor* frameLength, StftGeometry* g) {
  const Dims& xd = x.dims();
  if (xd.rank() != 3 || (xd[2] != 1 && xd[2] != 2))
    return InvalidArgument("STFT signal must have shape (batch, length, 1 or 2), got {}", xd.toString());
  if (frameStep.numel() != 1) return InvalidArgument("STFT frame_step must be one value, got {}", frameStep.describe());
  const int64_t step = frameStep.intAt(0);
  const int64_t fl = scalarOr(frameLength, window ? window->numel() : xd[1]);
  if (step < 1 || fl < 1 || fl > xd[1] || (window && (window->rank() != 1 || window->numel() != fl)))
    return InvalidArgument("STFT frame_step {} / frame_length {} / window {} do not fit signal {}", step, fl,
                           window ? window->dims().toString() : "none", xd.toString());
  if (window && window->dtype() != x.dtype())
    return InvalidArgument("STFT window {} must have the signal's type {}", window->describe(), dtypeName(x.dtype()));
  g->onesided = a.getInt("onesided") != 0;
  g->batch = xd[0];
  g->len = xd[1];
  g->comp = xd[2];
  g->step = step;
  g->frameLength = fl;
  g->frames = 1 + (g->len - fl) / step;
  g->bins = g->onesided ? fl / 2 + 1 : fl;
  return Status::OK();
}

}  // namespace kiln::backends
