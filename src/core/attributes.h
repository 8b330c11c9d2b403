// Op attributes as plain values, shared by the IR (nodes) and plans (layers) so that backends
// can read them without knowing the IR or ONNX.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

enum class AttrKind : uint8_t { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings };
std::string_view attrKindName(AttrKind k);

class AttrValue {
 public:
  using Storage = std::variant<float, int64_t, std::string, Tensor, std::vector<float>,
                               std::vector<int64_t>, std::vector<std::string>>;
  AttrValue() : v_(int64_t{0}) {}
  AttrValue(float f) : v_(f) {}                          // NOLINT
  AttrValue(int64_t i) : v_(i) {}                        // NOLINT
  AttrValue(int i) : v_(int64_t{i}) {}                   // NOLINT
  AttrValue(std::string s) : v_(std::move(s)) {}         // NOLINT
  AttrValue(const char* s) : v_(std::string(s)) {}       // NOLINT
  AttrValue(Tensor t) : v_(std::move(t)) {}              // NOLINT
  AttrValue(std::vector<float> v) : v_(std::move(v)) {}  // NOLINT
  AttrValue(std::vector<int64_t> v) : v_(std::move(v)) {}       // NOLINT
  AttrValue(std::vector<std::string> v) : v_(std::move(v)) {}   // NOLINT

  AttrKind kind() const { return static_cast<AttrKind>(v_.index()); }
  float f() const { return std::get<float>(v_); }
  int64_t i() const { return std::get<int64_t>(v_); }
  const std::string& s() const { return std::get<std::string>(v_); }
  const Tensor& t() const { return std::get<Tensor>(v_); }
  const std::vector<float>& floats() const { return std::get<std::vector<float>>(v_); }
  const std::vector<int64_t>& ints() const { return std::get<std::vector<int64_t>>(v_); }
  const std::vector<std::string>& strings() const { return std::get<std::vector<std::string>>(v_); }
  const Storage& storage() const { return v_; }

  std::string toString() const;  // short, for printers and error messages
  bool operator==(const AttrValue& o) const;

 private:
  Storage v_;
};

// Attributes of one node or layer, by name. After import every declared attribute with a default
// is present, so kernels read them without checks; getters abort on a missing name or wrong kind
// (an internal invariant, never reached from user input).
class AttrMap {
 public:
  bool has(std::string_view name) const { return m_.find(name) != m_.end(); }
  const AttrValue* find(std::string_view name) const;
  void set(std::string name, AttrValue v) { m_[std::move(name)] = std::move(v); }
  void erase(std::string_view name);

  float getFloat(std::string_view name) const;
  int64_t getInt(std::string_view name) const;
  const std::string& getString(std::string_view name) const;
  const Tensor& getTensor(std::string_view name) const;
  const std::vector<float>& getFloats(std::string_view name) const;
  const std::vector<int64_t>& getInts(std::string_view name) const;
  const std::vector<std::string>& getStrings(std::string_view name) const;

  // With a fallback when absent (for optional attributes without a default).
  float getFloat(std::string_view name, float dflt) const;
  int64_t getInt(std::string_view name, int64_t dflt) const;
  std::string getString(std::string_view name, std::string_view dflt) const;
  std::vector<int64_t> getInts(std::string_view name, std::vector<int64_t> dflt) const;
  std::vector<float> getFloats(std::string_view name, std::vector<float> dflt) const;

  const std::map<std::string, AttrValue, std::less<>>& entries() const { return m_; }
  size_t size() const { return m_.size(); }
  bool operator==(const AttrMap& o) const { return m_ == o.m_; }

 private:
  const AttrValue& get(std::string_view name, AttrKind kind) const;
  std::map<std::string, AttrValue, std::less<>> m_;
};

}  // namespace kiln
