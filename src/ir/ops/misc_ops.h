// Registration functions of the misc op family's files (src/ir/ops/misc*.cc); RegisterMiscOps
// calls them all.
#pragma once

#include "ir/op_registry.h"

namespace kiln::ir {

void RegisterMiscSignalOps(OpRegistry& r);  // misc_signal.cc: windows, DFT, STFT, MelWeightMatrix
void RegisterMiscVisionOps(OpRegistry& r);  // misc_vision.cc: GridSample, AffineGrid, RoiAlign, NMS, Col2Im

}  // namespace kiln::ir
