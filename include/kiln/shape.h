// Shapes. `Dims` is a concrete shape with inline storage (no heap: a run allocates nothing).
// `Shape` is a build-time shape whose dimensions may be symbolic ("batch", "N*128") or unknown,
// and whose rank itself may be unknown.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

inline constexpr int kMaxRank = 12;

// Concrete dimensions of a tensor, rank <= kMaxRank.
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> d);
  explicit Dims(const std::vector<int64_t>& d);
  template <typename It>
  Dims(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<int64_t>(*first));
  }
  static Dims filled(int rank, int64_t value);

  int rank() const { return rank_; }
  size_t size() const { return static_cast<size_t>(rank_); }
  bool empty() const { return rank_ == 0; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  int64_t back() const { return d_[rank_ - 1]; }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + rank_; }
  int64_t* begin() { return d_.data(); }
  int64_t* end() { return d_.data() + rank_; }
  const int64_t* data() const { return d_.data(); }

  void push_back(int64_t v);  // aborts past kMaxRank: callers validate rank first
  void insert(int pos, int64_t v);
  void erase(int pos);
  void resize(int rank, int64_t fill = 1);

  int64_t numel() const;  // product of dims (1 for rank 0)
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  std::string toString() const;  // "[2,3,4]"

  bool operator==(const Dims& o) const;
  bool operator!=(const Dims& o) const { return !(*this == o); }

 private:
  std::array<int64_t, kMaxRank> d_{};
  int rank_ = 0;
};

// Row-major element strides of dims.
Dims contiguousStrides(const Dims& d);

// A dimension: a known size, a named symbol (possibly an expression of symbols), or unknown.
class Dim {
 public:
  Dim() = default;                                  // unknown
  Dim(int64_t v) : value_(v) {}                     // NOLINT: static size
  static Dim symbol(std::string name);              // named symbolic size
  static Dim unknown() { return Dim(); }

  bool isStatic() const { return value_ >= 0; }
  bool isSymbolic() const { return value_ < 0 && !sym_.empty(); }
  bool isUnknown() const { return value_ < 0 && sym_.empty(); }
  int64_t value() const { return value_; }  // -1 unless static
  const std::string& symbolName() const { return sym_; }

  // Known-equal: both static and equal, or the same symbol. Unknowns are never known-equal.
  bool sameAs(const Dim& o) const;
  std::string toString() const;  // "3", "batch", "?"

  // Symbolic arithmetic: static when both sides are; else a new symbol spelled as the expression
  // ("(batch*128)"), unknown if either side is unknown. Identities (x*1, x+0) are simplified.
  friend Dim operator*(const Dim& a, const Dim& b);
  friend Dim operator+(const Dim& a, const Dim& b);
  friend Dim operator-(const Dim& a, const Dim& b);
  static Dim floorDiv(const Dim& a, const Dim& b);
  static Dim ceilDiv(const Dim& a, const Dim& b);

  bool operator==(const Dim& o) const { return value_ == o.value_ && sym_ == o.sym_; }

 private:
  int64_t value_ = -1;
  std::string sym_;
};

class Shape {
 public:
  Shape() = default;  // rank 0 (scalar)
  Shape(std::initializer_list<Dim> d) : dims_(d) {}
  explicit Shape(std::vector<Dim> d) : dims_(std::move(d)) {}
  explicit Shape(const Dims& d);
  static Shape unknownRank() {
    Shape s;
    s.rankKnown_ = false;
    return s;
  }

  bool rankKnown() const { return rankKnown_; }
  int rank() const { return static_cast<int>(dims_.size()); }  // 0 when the rank is unknown
  const Dim& operator[](int i) const { return dims_[i]; }
  Dim& operator[](int i) { return dims_[i]; }
  const std::vector<Dim>& dims() const { return dims_; }
  std::vector<Dim>& dims() { return dims_; }

  bool isStatic() const;                  // rank known and every dim static
  std::optional<Dims> toDims() const;     // when static
  std::optional<int64_t> numel() const;   // when static
  Dim numelDim() const;                   // symbolic product
  std::string toString() const;           // "[batch,3,224,224]" or "[*]" for unknown rank

  bool operator==(const Shape& o) const { return rankKnown_ == o.rankKnown_ && dims_ == o.dims_; }

 private:
  std::vector<Dim> dims_;
  bool rankKnown_ = true;
};

}  // namespace kiln
