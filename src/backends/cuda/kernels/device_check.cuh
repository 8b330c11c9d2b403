// Device side of backends/cuda/device_check.h: the first out-of-range value a kernel meets.
#pragma once

#include "backends/cuda/device_check.h"

namespace kiln::cuda {

__device__ __forceinline__ void reportOutOfRange(const DeviceCheck& c, int input, int64_t value, int64_t position,
                                                 int64_t limit) {
  if (!c.claimed || c.tag == 0) return;
  if (atomicCAS(c.claimed, 0, 1) != 0) return;  // someone reported first
  volatile DeviceCheckReport* r = c.report;
  r->input = input;
  r->value = value;
  r->position = position;
  r->limit = limit;
  __threadfence_system();
  r->tag = c.tag;
}

}  // namespace kiln::cuda
