// Tensor memory: aligned owned allocations (with string construction) and borrowed views.
#include "kiln/tensor.h"

#include <cstdlib>
#include <new>

namespace kiln {

namespace {
constexpr size_t kAlign = 64;

std::shared_ptr<void> allocateStorage(DType dtype, int64_t n) {
  size_t bytes = static_cast<size_t>(n) * dtypeSize(dtype);
  size_t rounded = ((bytes + kAlign - 1) / kAlign) * kAlign;
  if (rounded == 0) rounded = kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) throw std::bad_alloc();
  if (dtype == DType::kString) {
    auto* s = static_cast<std::string*>(p);
    for (int64_t i = 0; i < n; ++i) new (s + i) std::string();
    return std::shared_ptr<void>(p, [n](void* q) {
      auto* s = static_cast<std::string*>(q);
      for (int64_t i = 0; i < n; ++i) s[i].~basic_string();
      std::free(q);
    });
  }
  std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}
}  // namespace

Tensor Tensor::allocate(DType dtype, const Dims& dims) {
  KILN_CHECK(dtype != DType::kUndefined);
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = dims;
  t.owner_ = allocateStorage(dtype, dims.numel());
  t.data_ = t.owner_.get();
  return t;
}

Tensor Tensor::borrow(DType dtype, const Dims& dims, void* data, MemoryKind kind) {
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = dims;
  t.data_ = data;
  t.kind_ = kind;
  return t;
}

Tensor Tensor::wrap(DType dtype, const Dims& dims, void* data, std::shared_ptr<void> owner,
                    MemoryKind kind) {
  Tensor t = borrow(dtype, dims, data, kind);
  t.owner_ = std::move(owner);
  return t;
}

template <>
Tensor Tensor::fromVector<bool>(const std::vector<bool>& v, const Dims& dims) {
  Tensor t = allocate(DType::kBool, dims);
  KILN_CHECK(static_cast<int64_t>(v.size()) == t.numel());
  for (size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i];
  return t;
}

Tensor Tensor::reshaped(const Dims& dims) const {
  KILN_CHECK(dims.numel() == numel());
  Tensor t = *this;
  t.dims_ = dims;
  return t;
}

Tensor Tensor::viewAs(DType dtype) const {
  KILN_CHECK(dtypeSize(dtype) == dtypeSize(dtype_) && dtype != DType::kString && dtype_ != DType::kString);
  Tensor t = *this;
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  KILN_CHECK(kind_ == MemoryKind::kHost);
  Tensor t = allocate(dtype_, dims_);
  t.copyFrom(*this);
  return t;
}

void Tensor::copyFrom(const Tensor& src) {
  KILN_CHECK(src.dtype_ == dtype_ && src.numel() == numel());
  KILN_CHECK(kind_ == MemoryKind::kHost && src.kind_ == MemoryKind::kHost);
  if (data_ == src.data_) return;
  if (dtype_ == DType::kString) {
    for (int64_t i = 0; i < numel(); ++i) data<std::string>()[i] = src.data<std::string>()[i];
  } else if (nbytes()) {
    std::memcpy(data_, src.data_, nbytes());
  }
}

int64_t Tensor::intAt(int64_t i) const {
  int64_t out = 0;
  bool ok = dispatchType<AllPodTypes>(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    out = convertValue<int64_t>(data<T>()[i]);
  });
  KILN_CHECK(ok);
  return out;
}

double Tensor::doubleAt(int64_t i) const {
  double out = 0;
  bool ok = dispatchType<AllPodTypes>(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    out = convertValue<double>(data<T>()[i]);
  });
  KILN_CHECK(ok);
  return out;
}

std::string Tensor::describe() const {
  return fmt::format("{}{}", dtypeName(dtype_), dims_.toString());
}

}  // namespace kiln
