// SequenceProto / OptionalProto reading and writing.
#include "onnx/value_proto.h"

#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

namespace fs = std::filesystem;

Result<RuntimeValue> valueFromSequenceProto(const ::onnx::SequenceProto& p, DType elemType,
                                            const std::string& baseDir) {
  using SP = ::onnx::SequenceProto;
  if (p.elem_type() != SP::TENSOR && !(p.elem_type() == SP::UNDEFINED && p.tensor_values_size() == 0))
    return Unsupported("sequence '{}' holds {}; Kiln's sequences hold tensors", p.name(),
                       p.elem_type() == SP::SEQUENCE ? "sequences" : p.elem_type() == SP::MAP ? "maps"
                       : p.elem_type() == SP::OPTIONAL ? "optionals" : p.elem_type() == SP::SPARSE_TENSOR ? "sparse tensors"
                       : "values of an unknown type");
  std::vector<Tensor> elems;
  elems.reserve(p.tensor_values_size());
  for (int i = 0; i < p.tensor_values_size(); ++i) {
    auto t = tensorFromProto(p.tensor_values(i), baseDir);
    if (!t.ok()) return std::move(t).takeStatus().withContext(fmt::format("sequence '{}' element {}", p.name(), i));
    if (elemType == DType::kUndefined) elemType = t->dtype();
    if (t->dtype() != elemType)
      return InvalidArgument("sequence '{}' element {} is {} but the sequence holds {}", p.name(), i,
                             dtypeName(t->dtype()), dtypeName(elemType));
    elems.push_back(std::move(t).value());
  }
  if (elemType == DType::kUndefined)
    return InvalidArgument("sequence '{}' is empty and no element type is declared for it", p.name());
  return RuntimeValue::sequence(elemType, std::move(elems));
}

Result<RuntimeValue> valueFromOptionalProto(const ::onnx::OptionalProto& p, ValueKind kind, DType elemType,
                                            const std::string& baseDir) {
  using OP = ::onnx::OptionalProto;
  if (!isOptionalKind(kind)) return InternalError("valueFromOptionalProto: {} is not an optional kind", valueTypeName(kind, elemType));
  const bool wantSeq = kind == ValueKind::kOptionalSequence;
  switch (p.elem_type()) {
    case OP::UNDEFINED:
      if (p.has_tensor_value() || p.has_sequence_value())
        return InvalidArgument("optional '{}' has no element type but holds a value", p.name());
      if (elemType == DType::kUndefined)
        return InvalidArgument("optional '{}' is empty and no element type is declared for it", p.name());
      return RuntimeValue::emptyOptional(kind, elemType);
    case OP::TENSOR: {
      if (wantSeq) return InvalidArgument("optional '{}' holds a tensor; a sequence is expected", p.name());
      if (!p.has_tensor_value()) return RuntimeValue::emptyOptional(kind, elemType);
      auto t = tensorFromProto(p.tensor_value(), baseDir);
      if (!t.ok()) return std::move(t).takeStatus().withContext(fmt::format("optional '{}'", p.name()));
      if (elemType != DType::kUndefined && t->dtype() != elemType)
        return InvalidArgument("optional '{}' holds {} but {} is expected", p.name(), dtypeName(t->dtype()),
                               dtypeName(elemType));
      return RuntimeValue::optionalOf(RuntimeValue(std::move(t).value()));
    }
    case OP::SEQUENCE: {
      if (!wantSeq) return InvalidArgument("optional '{}' holds a sequence; a tensor is expected", p.name());
      if (!p.has_sequence_value()) return RuntimeValue::emptyOptional(kind, elemType);
      auto s = valueFromSequenceProto(p.sequence_value(), elemType, baseDir);
      if (!s.ok()) return std::move(s).takeStatus().withContext(fmt::format("optional '{}'", p.name()));
      return RuntimeValue::optionalOf(std::move(s).value());
    }
    case OP::SPARSE_TENSOR: return Unsupported("optional '{}' holds a sparse tensor", p.name());
    case OP::MAP: return Unsupported("optional '{}' holds a map", p.name());
    case OP::OPTIONAL: return Unsupported("optional '{}' holds an optional", p.name());
    default: return InvalidArgument("optional '{}' has unknown element type {}", p.name(), static_cast<int>(p.elem_type()));
  }
}

void valueToSequenceProto(const RuntimeValue& v, const std::string& name, ::onnx::SequenceProto* p) {
  p->Clear();
  p->set_name(name);
  p->set_elem_type(::onnx::SequenceProto::TENSOR);
  for (size_t i = 0; i < v.elements().size(); ++i)
    tensorToProto(v.elements()[i], fmt::format("{}_{}", name, i), p->add_tensor_values());
}

void valueToOptionalProto(const RuntimeValue& v, const std::string& name, ::onnx::OptionalProto* p) {
  p->Clear();
  p->set_name(name);
  if (!v.hasValue()) return;  // elem_type UNDEFINED: empty
  if (v.holdsSequence()) {
    p->set_elem_type(::onnx::OptionalProto::SEQUENCE);
    valueToSequenceProto(v, name, p->mutable_sequence_value());
  } else {
    p->set_elem_type(::onnx::OptionalProto::TENSOR);
    tensorToProto(v.tensor(), name, p->mutable_tensor_value());
  }
}

Result<RuntimeValue> readValueProtoFile(const std::string& path, ValueKind kind, DType elemType,
                                        std::string* nameOut) {
  if (kind == ValueKind::kTensor) {
    KILN_ASSIGN_OR_RETURN(Tensor t, readTensorProtoFile(path, nameOut));
    return RuntimeValue(std::move(t));
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open '{}'", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return Unsupported("'{}' is larger than 2 GiB", path);
  google::protobuf::io::ArrayInputStream ais(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream cis(&ais);
  cis.SetTotalBytesLimit(std::numeric_limits<int>::max());
  const std::string baseDir = fs::path(path).parent_path().string();
  Result<RuntimeValue> r = InternalError("unreachable");
  if (kind == ValueKind::kSequence) {
    ::onnx::SequenceProto p;
    if (!p.ParseFromCodedStream(&cis) || !cis.ConsumedEntireMessage())
      return DataLoss("'{}' is not a valid serialized SequenceProto", path);
    if (nameOut) *nameOut = p.name();
    r = valueFromSequenceProto(p, elemType, baseDir);
  } else {
    ::onnx::OptionalProto p;
    if (!p.ParseFromCodedStream(&cis) || !cis.ConsumedEntireMessage())
      return DataLoss("'{}' is not a valid serialized OptionalProto", path);
    if (nameOut) *nameOut = p.name();
    r = valueFromOptionalProto(p, kind, elemType, baseDir);
  }
  if (!r.ok()) return std::move(r).takeStatus().withContext(path);
  return r;
}

}  // namespace kiln::onnx_import
