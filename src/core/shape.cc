// Dims (concrete) and Shape/Dim (symbolic) helpers.
#include "kiln/shape.h"

#include <algorithm>

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

// ---- symbolic dims --------------------------------------------------------------------------

Dim::Dim(std::shared_ptr<const DimExpr> e) : kind_(Kind::kSymbolic), expr_(std::move(e)) {}

Dim Dim::symbol(std::string name) {
  auto e = std::make_shared<DimExpr>();
  e->op = DimExpr::Op::kSymbol;
  e->text = name;
  e->name = std::move(name);
  return Dim(std::shared_ptr<const DimExpr>(std::move(e)));
}

const std::string& Dim::symbolName() const {
  static const std::string kEmpty;
  return expr_ ? expr_->text : kEmpty;
}

bool Dim::sameAs(const Dim& o) const {
  if (isStatic()) return o.isStatic() && value_ == o.value_;
  return isSymbolic() && o.isSymbolic() && expr_->text == o.expr_->text;
}

bool Dim::operator==(const Dim& o) const {
  if (kind_ != o.kind_) return false;
  if (isStatic()) return value_ == o.value_;
  if (isSymbolic()) return expr_->text == o.expr_->text;
  return true;
}

std::string Dim::toString() const {
  if (isStatic()) return std::to_string(value_);
  return isSymbolic() ? expr_->text : "?";
}

struct DimExprAccess {
  static Dim make(DimExpr e) { return Dim(std::make_shared<const DimExpr>(std::move(e))); }
};

namespace {

// Text of an operand inside a larger expression (parenthesized unless atomic).
std::string operandText(const Dim& d) {
  if (d.isStatic()) return d.value() < 0 ? "(" + std::to_string(d.value()) + ")" : std::to_string(d.value());
  const DimExpr* e = d.expr();
  bool atomic = e->op == DimExpr::Op::kSymbol || e->op == DimExpr::Op::kFloorDiv ||
                e->op == DimExpr::Op::kCeilDiv || e->op == DimExpr::Op::kMax || e->op == DimExpr::Op::kMin;
  return atomic ? e->text : "(" + e->text + ")";
}

// A product: coef * factors (factors symbolic, not products themselves).
struct Monomial {
  int64_t coef = 1;
  std::vector<Dim> factors;
};
Monomial toMonomial(const Dim& d) {
  Monomial m;
  if (d.isStatic()) {
    m.coef = d.value();
  } else if (d.expr()->op == DimExpr::Op::kProduct) {
    m.coef = d.expr()->coef;
    m.factors = d.expr()->args;
  } else {
    m.factors.push_back(d);
  }
  return m;
}
Dim fromMonomial(Monomial m) {
  if (m.coef == 0) return Dim(0);
  if (m.factors.empty()) return Dim(m.coef);
  std::sort(m.factors.begin(), m.factors.end(),
            [](const Dim& a, const Dim& b) { return a.symbolName() < b.symbolName(); });
  if (m.coef == 1 && m.factors.size() == 1) return m.factors[0];
  DimExpr e;
  e.op = DimExpr::Op::kProduct;
  e.coef = m.coef;
  e.text = m.coef == 1 ? "" : std::to_string(m.coef) + "*";
  for (size_t i = 0; i < m.factors.size(); ++i) e.text += (i ? "*" : "") + operandText(m.factors[i]);
  e.args = std::move(m.factors);
  return DimExprAccess::make(std::move(e));
}

Dim binary(DimExpr::Op op, const Dim& a, const Dim& b) {
  DimExpr e;
  e.op = op;
  e.args = {a, b};
  switch (op) {
    case DimExpr::Op::kAdd: e.text = operandText(a) + "+" + operandText(b); break;
    case DimExpr::Op::kSub: e.text = operandText(a) + "-" + operandText(b); break;
    case DimExpr::Op::kFloorDiv: e.text = "floor(" + a.toString() + "/" + b.toString() + ")"; break;
    case DimExpr::Op::kCeilDiv: e.text = "ceil(" + a.toString() + "/" + b.toString() + ")"; break;
    case DimExpr::Op::kMax: e.text = "max(" + a.toString() + "," + b.toString() + ")"; break;
    case DimExpr::Op::kMin: e.text = "min(" + a.toString() + "," + b.toString() + ")"; break;
    default: KILN_CHECK(false);
  }
  return DimExprAccess::make(std::move(e));
}

int64_t floorDivInt(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Exact division of monomials (cancel common factors); nullopt when not exact.
std::optional<Dim> divideExact(const Dim& a, const Dim& b) {
  Monomial ma = toMonomial(a), mb = toMonomial(b);
  if (mb.coef == 0 || ma.coef % mb.coef != 0) return std::nullopt;
  std::vector<Dim> rest;
  std::vector<Dim> den = mb.factors;
  for (const Dim& x : ma.factors) {
    auto it = std::find_if(den.begin(), den.end(), [&](const Dim& y) { return y.sameAs(x); });
    if (it != den.end()) den.erase(it);
    else rest.push_back(x);
  }
  if (!den.empty()) return std::nullopt;
  return fromMonomial(Monomial{ma.coef / mb.coef, rest});
}

}  // namespace

Dim operator*(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(a.value() * b.value());
  if ((a.isStatic() && a.value() == 0) || (b.isStatic() && b.value() == 0)) return Dim(0);
  if (a.isUnknown() || b.isUnknown()) return Dim::unknown();
  Monomial ma = toMonomial(a), mb = toMonomial(b);
  ma.coef *= mb.coef;
  ma.factors.insert(ma.factors.end(), mb.factors.begin(), mb.factors.end());
  return fromMonomial(std::move(ma));
}

Dim operator+(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(a.value() + b.value());
  if (a.isUnknown() || b.isUnknown()) return Dim::unknown();
  if (a.isStatic() && a.value() == 0) return b;
  if (b.isStatic() && b.value() == 0) return a;
  // Fold constants: (x + c1) + c2 -> x + (c1 + c2).
  if (b.isStatic() && a.expr()->op == DimExpr::Op::kAdd && a.expr()->args[1].isStatic())
    return a.expr()->args[0] + Dim(a.expr()->args[1].value() + b.value());
  if (a.isStatic()) return b + a;  // constants go right
  return binary(DimExpr::Op::kAdd, a, b);
}

Dim operator-(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(a.value() - b.value());
  if (a.isUnknown() || b.isUnknown()) return Dim::unknown();
  if (b.isStatic()) return a + Dim(-b.value());
  if (a.sameAs(b)) return Dim(0);
  return binary(DimExpr::Op::kSub, a, b);
}

Dim Dim::floorDiv(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return b.value() == 0 ? Dim::unknown() : Dim(floorDivInt(a.value(), b.value()));
  if (b.isStatic() && b.value() == 1) return a;
  if (a.isUnknown() || b.isUnknown()) return Dim::unknown();
  if (auto q = divideExact(a, b)) return *q;
  return binary(DimExpr::Op::kFloorDiv, a, b);
}

Dim Dim::ceilDiv(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return b.value() == 0 ? Dim::unknown() : Dim(-floorDivInt(-a.value(), b.value()));
  if (b.isStatic() && b.value() == 1) return a;
  if (a.isUnknown() || b.isUnknown()) return Dim::unknown();
  if (auto q = divideExact(a, b)) return *q;
  return binary(DimExpr::Op::kCeilDiv, a, b);
}

Dim Dim::max(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(std::max(a.value(), b.value()));
  if (a.isUnknown() || b.isUnknown()) return Dim::unknown();
  if (a.sameAs(b)) return a;
  return binary(DimExpr::Op::kMax, a, b);
}

Dim Dim::min(const Dim& a, const Dim& b) {
  if (a.isStatic() && b.isStatic()) return Dim(std::min(a.value(), b.value()));
  if (a.isUnknown() || b.isUnknown()) return Dim::unknown();
  if (a.sameAs(b)) return a;
  return binary(DimExpr::Op::kMin, a, b);
}

std::optional<int64_t> evaluateDim(const Dim& d,
                                   const std::function<std::optional<int64_t>(const std::string&)>& lookup) {
  if (d.isStatic()) return d.value();
  if (d.isUnknown()) return std::nullopt;
  const DimExpr& e = *d.expr();
  if (e.op == DimExpr::Op::kSymbol) return lookup(e.name);
  if (e.op == DimExpr::Op::kProduct) {
    int64_t v = e.coef;
    for (const Dim& f : e.args) {
      auto x = evaluateDim(f, lookup);
      if (!x) return std::nullopt;
      v *= *x;
    }
    return v;
  }
  auto a = evaluateDim(e.args[0], lookup), b = evaluateDim(e.args[1], lookup);
  if (!a || !b) return std::nullopt;
  switch (e.op) {
    case DimExpr::Op::kAdd: return *a + *b;
    case DimExpr::Op::kSub: return *a - *b;
    case DimExpr::Op::kFloorDiv: if (*b == 0) return std::nullopt; return floorDivInt(*a, *b);
    case DimExpr::Op::kCeilDiv: if (*b == 0) return std::nullopt; return -floorDivInt(-*a, *b);
    case DimExpr::Op::kMax: return std::max(*a, *b);
    case DimExpr::Op::kMin: return std::min(*a, *b);
    default: return std::nullopt;
  }
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
