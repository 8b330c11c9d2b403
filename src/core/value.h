// Values that are not plain tensors: ONNX sequences (an ordered list of tensors of one element
// type, possibly of different shapes) and optionals (empty, or holding a tensor or a sequence).
// The IR records a value's ValueKind next to its element dtype and element shape; the interpreter
// holds such values as RuntimeValue. Engines take tensors only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/dtype.h"
#include "kiln/tensor.h"

namespace kiln {

enum class ValueKind : uint8_t {
  kTensor = 0,
  kSequence = 1,          // a sequence of tensors
  kOptionalTensor = 2,    // an optional tensor
  kOptionalSequence = 3,  // an optional sequence of tensors
};

inline bool isOptionalKind(ValueKind k) {
  return k == ValueKind::kOptionalTensor || k == ValueKind::kOptionalSequence;
}
// Tensor or sequence: what an optional of kind `k` holds (`k` itself when not optional).
inline ValueKind optionalElementKind(ValueKind k) {
  return k == ValueKind::kOptionalTensor    ? ValueKind::kTensor
         : k == ValueKind::kOptionalSequence ? ValueKind::kSequence
                                             : k;
}
// The optional kind holding `k` (a tensor or a sequence kind).
inline ValueKind optionalKindOf(ValueKind k) {
  return k == ValueKind::kSequence ? ValueKind::kOptionalSequence : ValueKind::kOptionalTensor;
}

// Wraps an element description in the kind's type syntax: "float32[2,3]" (tensor),
// "seq(float32[2,3])", "optional(float32[2,3])", "optional(seq(float32[2,3]))".
inline std::string wrapValueKind(ValueKind k, std::string_view inner) {
  std::string s(inner);
  if (k == ValueKind::kSequence || k == ValueKind::kOptionalSequence) s = "seq(" + s + ")";
  if (isOptionalKind(k)) s = "optional(" + s + ")";
  return s;
}
// "float32", "seq(float32)", "optional(seq(int64))": the type without shapes. This is also the
// form a TYPE_PROTO attribute takes after import (Optional's `type`).
inline std::string valueTypeName(ValueKind k, DType elemType) {
  return wrapValueKind(k, dtypeName(elemType));
}
// Inverse of valueTypeName; false when `s` is not such a name.
inline bool parseValueTypeName(std::string_view s, ValueKind* kind, DType* elemType) {
  auto strip = [&s](std::string_view prefix) {
    if (s.size() > prefix.size() + 1 && s.substr(0, prefix.size()) == prefix && s.back() == ')') {
      s = s.substr(prefix.size(), s.size() - prefix.size() - 1);
      return true;
    }
    return false;
  };
  bool optional = strip("optional(");
  bool sequence = strip("seq(");
  if (!parseDType(s, elemType) || *elemType == DType::kUndefined) return false;
  *kind = sequence ? (optional ? ValueKind::kOptionalSequence : ValueKind::kSequence)
                   : (optional ? ValueKind::kOptionalTensor : ValueKind::kTensor);
  return true;
}

// A value at run time: a tensor, a sequence of tensors, or an optional (empty, or holding a tensor
// or a sequence). Copying shares the tensors' memory (like Tensor); sequences are never modified
// in place: sequence ops build new element lists that share unchanged tensors.
class RuntimeValue {
 public:
  RuntimeValue() = default;  // an undefined tensor
  RuntimeValue(Tensor t) : elemType_(t.dtype()), tensor_(std::move(t)) {}  // NOLINT: a tensor value

  static RuntimeValue sequence(DType elemType, std::vector<Tensor> elements) {
    RuntimeValue v;
    v.kind_ = ValueKind::kSequence;
    v.elemType_ = elemType;
    v.elements_ = std::move(elements);
    return v;
  }
  // An optional without a value; `kind` is kOptionalTensor or kOptionalSequence.
  static RuntimeValue emptyOptional(ValueKind kind, DType elemType) {
    RuntimeValue v;
    v.kind_ = kind;
    v.elemType_ = elemType;
    v.hasValue_ = false;
    return v;
  }
  // An optional holding `inner` (a tensor or a sequence value).
  static RuntimeValue optionalOf(RuntimeValue inner) {
    inner.kind_ = optionalKindOf(inner.kind_);
    return inner;
  }

  ValueKind kind() const { return kind_; }
  bool isTensor() const { return kind_ == ValueKind::kTensor; }
  // A tensor's dtype, or the element dtype of a sequence or an optional.
  DType elemType() const { return elemType_; }
  // False only for an empty optional.
  bool hasValue() const { return hasValue_; }
  // Whether the value holds a sequence (a sequence, or an optional holding one).
  bool holdsSequence() const { return optionalElementKind(kind_) == ValueKind::kSequence && hasValue_; }
  // The tensor of a tensor value or of an optional holding one.
  const Tensor& tensor() const { return tensor_; }
  // The elements of a sequence or of an optional holding one (empty otherwise).
  const std::vector<Tensor>& elements() const { return elements_; }
  // What an optional holds, as a tensor or sequence value; a non-optional value is returned as is.
  RuntimeValue unwrapOptional() const {
    RuntimeValue v = *this;
    v.kind_ = optionalElementKind(kind_);
    return v;
  }

  // A deep copy: every tensor in new memory (Tensor::clone).
  RuntimeValue clone() const {
    RuntimeValue v = *this;
    if (tensor_.defined()) v.tensor_ = tensor_.clone();
    for (Tensor& e : v.elements_) e = e.clone();
    return v;
  }

  // "float32[2,3]", "seq(float32) of 2: [float32[2,3], float32[1,3]]", "optional(float32) empty"
  std::string describe() const {
    if (kind_ == ValueKind::kTensor) return tensor_.describe();
    std::string s = valueTypeName(kind_, elemType_);
    if (!hasValue_) return s + " empty";
    if (optionalElementKind(kind_) == ValueKind::kTensor) return s + " holding " + tensor_.describe();
    s += " of " + std::to_string(elements_.size()) + ": [";
    for (size_t i = 0; i < elements_.size() && i < 4; ++i) s += (i ? ", " : "") + elements_[i].describe();
    if (elements_.size() > 4) s += ", ...";
    return s + "]";
  }

 private:
  ValueKind kind_ = ValueKind::kTensor;
  DType elemType_ = DType::kUndefined;
  bool hasValue_ = true;
  Tensor tensor_;
  std::vector<Tensor> elements_;
};

}  // namespace kiln
