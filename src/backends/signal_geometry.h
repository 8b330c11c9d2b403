// Shape and attribute validation of DFT and STFT, shared by the CPU and CUDA kernels so both
// backends accept the same runs with the same messages. The scalar inputs (dft_length, axis,
// frame_step, frame_length) are host tensors on both backends; an absent or empty one takes the
// op's default.
#pragma once

#include <cstdint>

#include "core/attributes.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::backends {

struct DftGeometry {
  int axis = 0;  // the signal axis of X (not the last, complex, one)
  bool inverse = false, onesided = false;
  bool irfft = false;  // inverse && onesided: a real output from the first n / 2 + 1 bins
  int64_t len = 0;     // input samples along the axis
  int64_t n = 0;       // transform length (dft_length)
  int64_t bins = 0;    // output bins: n / 2 + 1 for a one-sided forward transform, else n
  int64_t comp = 0;    // input components (1 real, 2 complex)
  int64_t outComp = 0; // output components (1 for irfft, else 2)
  int64_t outer = 1, inner = 1;  // elements before the axis and between it and the components
};
// Inputs X (..., signal, 1 or 2) and the optional dft_length and axis.
Status dftGeometry(const AttrMap& a, const Tensor& x, const Tensor* dftLength, const Tensor* axis, DftGeometry* g);

struct StftGeometry {
  bool onesided = false;
  int64_t batch = 0, len = 0, comp = 0, step = 0, frameLength = 0, frames = 0, bins = 0;
};
// Inputs signal (batch, length, 1 or 2), frame_step, the optional window (frame_length values of
// the signal's type) and frame_length.
Status stftGeometry(const AttrMap& a, const Tensor& x, const Tensor& frameStep, const Tensor* window,
                    const Tensor* frameLength, StftGeometry* g);

}  // namespace kiln::backends
