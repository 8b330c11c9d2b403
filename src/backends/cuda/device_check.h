// Invalid input that only the device can see (an index out of range in Gather, Scatter*,
// EmbedLayerNorm...), reported by kernels to the host without a synchronization of their own.
// The CPU reference fails such runs with an error; a GPU kernel cannot return one from an
// enqueue, so it writes its output deterministically (zeros for a gather, nothing for a scatter)
// and reports the first bad value here. The execution context checks after every synchronizing
// run and fails it with an error naming the layer, the input, the value and its position.
//
// Protocol: a device-memory word elects the first reporter (atomicCAS), which fills the report in
// mapped pinned host memory and publishes `tag` last (after a system-scope fence), so the host
// reads it after its stream synchronization with no copy: a run without an error costs nothing.
// Runs enqueued without a synchronization (ExecutionContext::enqueueOn) are checked at the
// context's next synchronizing run, which then reports the earlier run's error.
// Plain data: shared by .cu kernels and host code.
#pragma once

#include <cstdint>

namespace kiln::cuda {

struct DeviceCheckReport {
  int32_t tag = 0;       // 0: nothing reported; else the reporting layer's index + 1
  int32_t input = 0;     // which input of the layer held the bad value
  int64_t value = 0;     // the value
  int64_t position = 0;  // its flat position in that input
  int64_t limit = 0;     // the valid range: [-limit, limit)
};

struct DeviceCheck {
  int* claimed = nullptr;                // device memory, 0 until a report is made
  DeviceCheckReport* report = nullptr;   // device view of the mapped host report
  int tag = 0;                           // this layer's tag (index + 1); 0: do not report
};

}  // namespace kiln::cuda
