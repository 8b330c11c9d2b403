// AttrMap accessors and printing.
#include "core/attributes.h"

#include <fmt/format.h>

namespace kiln {

std::string_view attrKindName(AttrKind k) {
  switch (k) {
    case AttrKind::kFloat: return "float";
    case AttrKind::kInt: return "int";
    case AttrKind::kString: return "string";
    case AttrKind::kTensor: return "tensor";
    case AttrKind::kFloats: return "floats";
    case AttrKind::kInts: return "ints";
    case AttrKind::kStrings: return "strings";
  }
  return "?";
}

std::string AttrValue::toString() const {
  switch (kind()) {
    case AttrKind::kFloat: return fmt::format("{}", f());
    case AttrKind::kInt: return std::to_string(i());
    case AttrKind::kString: return fmt::format("\"{}\"", s());
    case AttrKind::kTensor: return t().describe();
    case AttrKind::kFloats: return fmt::format("[{}]", fmt::join(floats(), ","));
    case AttrKind::kInts: return fmt::format("[{}]", fmt::join(ints(), ","));
    case AttrKind::kStrings: return fmt::format("[\"{}\"]", fmt::join(strings(), "\",\""));
  }
  return "?";
}

bool AttrValue::operator==(const AttrValue& o) const {
  if (kind() != o.kind()) return false;
  if (kind() == AttrKind::kTensor) {
    const Tensor &a = t(), &b = o.t();
    if (a.dtype() != b.dtype() || a.dims() != b.dims()) return false;
    if (a.dtype() == DType::kString) {
      for (int64_t i = 0; i < a.numel(); ++i)
        if (a.data<std::string>()[i] != b.data<std::string>()[i]) return false;
      return true;
    }
    return std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
  }
  switch (kind()) {
    case AttrKind::kFloat: return f() == o.f();
    case AttrKind::kInt: return i() == o.i();
    case AttrKind::kString: return s() == o.s();
    case AttrKind::kFloats: return floats() == o.floats();
    case AttrKind::kInts: return ints() == o.ints();
    case AttrKind::kStrings: return strings() == o.strings();
    default: return false;
  }
}

const AttrValue* AttrMap::find(std::string_view name) const {
  auto it = m_.find(name);
  return it == m_.end() ? nullptr : &it->second;
}

void AttrMap::erase(std::string_view name) {
  auto it = m_.find(name);
  if (it != m_.end()) m_.erase(it);
}

const AttrValue& AttrMap::get(std::string_view name, AttrKind kind) const {
  const AttrValue* v = find(name);
  if (!v || v->kind() != kind) {
    fmt::print(stderr, "kiln: attribute '{}' of kind {} missing\n", name, attrKindName(kind));
    KILN_CHECK(false && "attribute missing or of another kind");
  }
  return *v;
}

float AttrMap::getFloat(std::string_view n) const { return get(n, AttrKind::kFloat).f(); }
int64_t AttrMap::getInt(std::string_view n) const { return get(n, AttrKind::kInt).i(); }
const std::string& AttrMap::getString(std::string_view n) const { return get(n, AttrKind::kString).s(); }
const Tensor& AttrMap::getTensor(std::string_view n) const { return get(n, AttrKind::kTensor).t(); }
const std::vector<float>& AttrMap::getFloats(std::string_view n) const {
  return get(n, AttrKind::kFloats).floats();
}
const std::vector<int64_t>& AttrMap::getInts(std::string_view n) const {
  return get(n, AttrKind::kInts).ints();
}
const std::vector<std::string>& AttrMap::getStrings(std::string_view n) const {
  return get(n, AttrKind::kStrings).strings();
}

float AttrMap::getFloat(std::string_view n, float d) const {
  const AttrValue* v = find(n);
  return v && v->kind() == AttrKind::kFloat ? v->f() : d;
}
int64_t AttrMap::getInt(std::string_view n, int64_t d) const {
  const AttrValue* v = find(n);
  return v && v->kind() == AttrKind::kInt ? v->i() : d;
}
std::string AttrMap::getString(std::string_view n, std::string_view d) const {
  const AttrValue* v = find(n);
  return v && v->kind() == AttrKind::kString ? v->s() : std::string(d);
}
std::vector<int64_t> AttrMap::getInts(std::string_view n, std::vector<int64_t> d) const {
  const AttrValue* v = find(n);
  return v && v->kind() == AttrKind::kInts ? v->ints() : d;
}
std::vector<float> AttrMap::getFloats(std::string_view n, std::vector<float> d) const {
  const AttrValue* v = find(n);
  return v && v->kind() == AttrKind::kFloats ? v->floats() : d;
}

}  // namespace kiln
