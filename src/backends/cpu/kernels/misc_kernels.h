// Registration functions of the misc kernel family's files; RegisterMiscKernels calls them all.
#pragma once

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

void RegisterMiscSignalKernels(KernelRegistry& r);  // misc_signal.cc: windows, DFT, STFT, MelWeightMatrix
void RegisterMiscVisionKernels(KernelRegistry& r);  // misc_vision.cc: GridSample, AffineGrid, RoiAlign, NMS, Col2Im

}  // namespace kiln::cpu
