// Tensor: a dtype, concrete dims and a pointer to contiguous row-major elements, either owned
// (shared, 64-byte aligned) or borrowed from the caller (zero-copy). Copying a Tensor copies the
// view, not the elements; clone() deep-copies. Not thread-safe to mutate; safe to share read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "kiln/dtype.h"
#include "kiln/shape.h"
#include "kiln/status.h"

namespace kiln {

// Where a tensor's bytes live. Device memory is never dereferenced on the host.
enum class MemoryKind : uint8_t { kHost = 0, kDevice = 1 };

class Tensor {
 public:
  Tensor() = default;

  // Allocates zero-initialized host memory (strings default-constructed).
  static Tensor allocate(DType dtype, const Dims& dims);
  // Wraps caller memory; the caller keeps it alive and correctly sized.
  static Tensor borrow(DType dtype, const Dims& dims, void* data,
                       MemoryKind kind = MemoryKind::kHost);
  // Wraps memory kept alive by `owner`.
  static Tensor wrap(DType dtype, const Dims& dims, void* data, std::shared_ptr<void> owner,
                     MemoryKind kind = MemoryKind::kHost);
  template <typename T>
  static Tensor fromVector(const std::vector<T>& v, const Dims& dims);
  template <typename T>
  static Tensor scalar(T v) {
    Tensor t = allocate(dtypeOf<T>, Dims{});
    *t.data<T>() = v;
    return t;
  }

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int rank() const { return dims_.rank(); }
  int64_t numel() const { return dims_.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtypeSize(dtype_); }
  MemoryKind memoryKind() const { return kind_; }
  bool ownsMemory() const { return owner_ != nullptr; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T> T* data() { return static_cast<T*>(data_); }
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }
  template <typename T> std::span<T> span() { return {data<T>(), static_cast<size_t>(numel())}; }
  template <typename T> std::span<const T> span() const {
    return {data<T>(), static_cast<size_t>(numel())};
  }

  // Same memory, other dims with the same element count.
  Tensor reshaped(const Dims& dims) const;
  // Same memory read as another dtype of the same element size (bit reinterpretation).
  Tensor viewAs(DType dtype) const;
  // Deep copy into new owned host memory.
  Tensor clone() const;
  // Copies elements from `src` (same dtype and element count) into this tensor's memory.
  void copyFrom(const Tensor& src);

  // Reads element i (host, any numeric/bool dtype) as int64 or double; for shape arithmetic.
  int64_t intAt(int64_t i) const;
  double doubleAt(int64_t i) const;

  std::string describe() const;  // "float32[2,3]"

 private:
  DType dtype_ = DType::kUndefined;
  Dims dims_;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;
  MemoryKind kind_ = MemoryKind::kHost;
};

template <typename T>
Tensor Tensor::fromVector(const std::vector<T>& v, const Dims& dims) {
  Tensor t = allocate(dtypeOf<T>, dims);
  KILN_CHECK(static_cast<int64_t>(v.size()) == t.numel());
  for (size_t i = 0; i < v.size(); ++i) t.data<T>()[i] = v[i];
  return t;
}
// std::vector<bool> is packed; copy it element by element.
template <>
Tensor Tensor::fromVector<bool>(const std::vector<bool>& v, const Dims& dims);

}  // namespace kiln
