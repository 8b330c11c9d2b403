// Dims (concrete) and Shape/Dim (symbolic) helpers.
#include "kiln/shape.h"

#include <fmt/format.h>

#include "kiln/status.h"

namespace kiln {

Dims::Dims(std::initializer_list<int64_t> d) {
  for (int64_t v : d) push_back(v);
}
Dims::Dims(const std::vector<int64_t>& d) {
  for (int64_t v : d) push_back(v);
}
Dims Dims::filled(int rank, int64_t value) {
  Dims d;
  d.resize(rank, value);
  return d;
}

void Dims::push_back(int64_t v) {
  KILN_CHECK(rank_ < kMaxRank);
  d_[rank_++] = v;
}
void Dims::insert(int pos, int64_t v) {
  KILN_CHECK(rank_ < kMaxRank && pos >= 0 && pos <= rank_);
  for (int i = rank_; i > pos; --i) d_[i] = d_[i - 1];
  d_[pos] = v;
  ++rank_;
}
void Dims::erase(int pos) {
  KILN_CHECK(pos >= 0 && pos < rank_);
  for (int i = pos; i + 1 < rank_; ++i) d_[i] = d_[i + 1];
  --rank_;
}
void Dims::resize(int rank, int64_t fill) {
  KILN_CHECK(rank >= 0 && rank <= kMaxRank);
  for (int i = rank_; i < rank; ++i) d_[i] = fill;
  rank_ = rank;
}
int64_t Dims::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= d_[i];
  return n;
}
std::string Dims::toString() const { return fmt::format("[{}]", fmt::join(begin(), end(), ",")); }
bool Dims::operator==(const Dims& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (d_[i] != o.d_[i]) return false;
  return true;
}

Dims contiguousStrides(const Dims& d) {
  Dims s = Dims::filled(d.rank(), 1);
  for (int i = d.rank() - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

Dim Dim::symbol(std::string name) {
  Dim d;
  d.sym_ = std::move(name);
  return d;
}

bool Dim::sameAs(const Dim& o) const {
  if (isStatic()) return o.isStatic() && value_ == o.value_;
  return isSymbolic() && o.isSymbolic() && sym_ == o.sym_;
}

std::string Dim::toString() const {
  if (isStatic()) return std::to_string(value_);
  return isSymbolic() ? sym_ : "?";
}

namespace {
std::string wrapExpr(const Dim& d) {
  const std::string& s = d.symbolName();
  bool simple = s.find_first_of("*+-/") == std::string::npos;
  return simple || (s.front() == '(' && s.back() == ')') ? s : "(" + s + ")";
}
Dim binaryDim(const Dim& a, const Dim& b, char op) {
  if (a.isUnknown() || b.isUnknown()) return Dim::unknown();
  std::string as = a.isStatic() ? std::to_string(a.value()) : wrapExpr(a);
  std::string bs = b.isStatic() ? std::to_string(b.value()) : wrapExpr(b);
  return Dim::symbol(fmt::format("{}{}{}", as, op, bs));
}
}  // namespace

Dim operator*(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(a.value() * b.value());
  if (a.isStatic() && a.value() == 0) return Dim(0);
  if (b.isStatic() && b.value() == 0) return Dim(0);
  if (a.isStatic() && a.value() == 1) return b;
  if (b.isStatic() && b.value() == 1) return a;
  return binaryDim(a, b, '*');
}
Dim operator+(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(a.value() + b.value());
  if (a.isStatic() && a.value() == 0) return b;
  if (b.isStatic() && b.value() == 0) return a;
  return binaryDim(a, b, '+');
}
Dim operator-(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(a.value() - b.value());
  if (b.isStatic() && b.value() == 0) return a;
  return binaryDim(a, b, '-');
}
Dim Dim::floorDiv(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic() && b.value() != 0) {
    int64_t q = a.value() / b.value();
    if ((a.value() % b.value() != 0) && ((a.value() < 0) != (b.value() < 0))) --q;
    return Dim(q);
  }
  if (b.isStatic() && b.value() == 1) return a;
  return binaryDim(a, b, '/');
}
Dim Dim::ceilDiv(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic() && b.value() > 0) return Dim((a.value() + b.value() - 1) / b.value());
  if (b.isStatic() && b.value() == 1) return a;
  if (a.isUnknown() || b.isUnknown()) return Dim::unknown();
  return Dim::symbol(fmt::format("ceil({}/{})", a.toString(), b.toString()));
}

Shape::Shape(const Dims& d) {
  for (int64_t v : d) dims_.emplace_back(v);
}

bool Shape::isStatic() const {
  if (!rankKnown_) return false;
  for (const Dim& d : dims_)
    if (!d.isStatic()) return false;
  return true;
}

std::optional<Dims> Shape::toDims() const {
  if (!isStatic() || rank() > kMaxRank) return std::nullopt;
  Dims d;
  for (const Dim& x : dims_) d.push_back(x.value());
  return d;
}

std::optional<int64_t> Shape::numel() const {
  if (!isStatic()) return std::nullopt;
  int64_t n = 1;
  for (const Dim& d : dims_) n *= d.value();
  return n;
}

Dim Shape::numelDim() const {
  if (!rankKnown_) return Dim::unknown();
  Dim n(1);
  for (const Dim& d : dims_) n = n * d;
  return n;
}

std::string Shape::toString() const {
  if (!rankKnown_) return "[*]";
  std::string s = "[";
  for (int i = 0; i < rank(); ++i) {
    if (i) s += ",";
    s += dims_[i].toString();
  }
  return s + "]";
}

}  // namespace kiln
