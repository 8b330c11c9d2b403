// The selection kernels' per-context scratch (select*.cu): regions carved out of one buffer, each
// 256-byte aligned (CUB's temporaries want that). With a null base it only adds up the sizes, so
// one layout function both sizes the scratch and places the regions.
#pragma once

#include <cstddef>

namespace kiln::cuda::sel {

constexpr size_t kScratchAlign = 256;
inline size_t scratchAlignUp(size_t b) { return (b + kScratchAlign - 1) / kScratchAlign * kScratchAlign; }

class ScratchCarver {
 public:
  explicit ScratchCarver(void* base) : base_(static_cast<char*>(base)) {}
  // The next region of `bytes` (null when only sizing).
  template <typename T = char>
  T* take(size_t bytes) {
    char* q = base_ ? base_ + used_ : nullptr;
    used_ += scratchAlignUp(bytes);
    return reinterpret_cast<T*>(q);
  }
  size_t used() const { return used_; }

 private:
  char* base_;
  size_t used_ = 0;
};

}  // namespace kiln::cuda::sel
