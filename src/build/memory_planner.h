// Memory planning: intermediates get offsets in one arena so that tensors whose lifetimes overlap
// never share bytes. Greedy by size: place the largest tensors first, each at the lowest offset
// that fits between already placed tensors it overlaps in time. On typical CNN/transformer graphs
// this lands close to the peak of simultaneously live bytes, far below one buffer per tensor.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::build {

struct BufferRequest {
  uint64_t bytes;
  int first;  // index of the step that writes it
  int last;   // index of the last step that reads it (>= first)
};

struct MemoryPlan {
  std::vector<uint64_t> offsets;  // per request
  uint64_t arenaBytes = 0;
  uint64_t peakLiveBytes = 0;     // lower bound any plan must reach
  uint64_t naiveBytes = 0;        // sum of all requests
};

MemoryPlan planMemory(const std::vector<BufferRequest>& requests, uint64_t alignment = 64);

}  // namespace kiln::build
