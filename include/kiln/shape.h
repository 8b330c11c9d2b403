// Shapes. `Dims` is a concrete shape with inline storage (no heap: a run allocates nothing).
// `Shape` is a build-time shape whose dimensions may be symbolic ("batch", "N*128") or unknown,
// and whose rank itself may be unknown.
#pragma once

#include <array>
#include <functional>
#include <memory>
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

struct DimExpr;  // an immutable symbolic expression (shape.cc)

// A dimension (or an element of a shape-valued tensor): a known integer (any sign: shape tensors
// hold -1 and negative indices too), a symbolic expression over named symbols ("batch",
// "2*batch*seq", "floor((H+2)/2)"), or unknown. Expressions keep their structure, so an engine can
// compile every tensor's dims into a shape program evaluated from the input dims at run time.
class Dim {
 public:
  Dim() = default;                                           // unknown
  Dim(int64_t v) : kind_(Kind::kStatic), value_(v) {}        // NOLINT: known value
  static Dim symbol(std::string name);                       // a named symbol
  static Dim unknown() { return Dim(); }

  bool isStatic() const { return kind_ == Kind::kStatic; }
  bool isSymbolic() const { return kind_ == Kind::kSymbolic; }
  bool isUnknown() const { return kind_ == Kind::kUnknown; }
  int64_t value() const { return isStatic() ? value_ : -1; }
  // Canonical text of a symbolic dim (empty otherwise); equal expressions have equal text.
  const std::string& symbolName() const;
  const DimExpr* expr() const { return expr_.get(); }  // null unless symbolic

  // Known-equal: both static and equal, or the same expression. Unknowns are never known-equal.
  bool sameAs(const Dim& o) const;
  std::string toString() const;  // "3", "batch", "?"

  // Symbolic arithmetic: static when both sides are; unknown if either side is unknown; else an
  // expression (products are kept as canonical monomials, so N*S == S*N and (768*N*S)/768 == N*S).
  friend Dim operator*(const Dim& a, const Dim& b);
  friend Dim operator+(const Dim& a, const Dim& b);
  friend Dim operator-(const Dim& a, const Dim& b);
  static Dim floorDiv(const Dim& a, const Dim& b);
  static Dim ceilDiv(const Dim& a, const Dim& b);
  static Dim max(const Dim& a, const Dim& b);
  static Dim min(const Dim& a, const Dim& b);

  bool operator==(const Dim& o) const;

 private:
  enum class Kind : uint8_t { kUnknown, kStatic, kSymbolic };
  explicit Dim(std::shared_ptr<const DimExpr> e);
  Kind kind_ = Kind::kUnknown;
  int64_t value_ = 0;
  std::shared_ptr<const DimExpr> expr_;
  friend struct DimExprAccess;
};

// The node types of symbolic dim expressions, for compilers of shape programs.
struct DimExpr {
  enum class Op : uint8_t { kSymbol, kProduct, kAdd, kSub, kFloorDiv, kCeilDiv, kMax, kMin };
  Op op;
  std::string text;                // canonical text (also the identity of the expression)
  std::string name;                // kSymbol
  int64_t coef = 1;                // kProduct: coef * product(args)
  std::vector<Dim> args;           // kProduct: factors (symbolic); binary ops: 2 operands
};

// Evaluates a dim given values of its symbols; nullopt if a symbol is unbound or a division by
// zero occurs.
std::optional<int64_t> evaluateDim(const Dim& d,
                                   const std::function<std::optional<int64_t>(const std::string&)>& lookup);

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
