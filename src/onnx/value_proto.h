// SequenceProto / OptionalProto <-> RuntimeValue: how ONNX stores sequence and optional values
// (the backend test data; onnx-data.proto). Tensors inside go through tensor_proto.h.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>  // first: defines ONNX_API, which onnx-data.pb.h uses
#include <onnx/onnx-data.pb.h>

#include "core/value.h"
#include "kiln/status.h"

namespace kiln::onnx_import {

// A sequence of tensors. `elemType` is the declared element type (kUndefined: take it from the
// elements); it types an empty sequence and every element must have it.
Result<RuntimeValue> valueFromSequenceProto(const ::onnx::SequenceProto& p, DType elemType,
                                            const std::string& baseDir);
// An optional of `kind` (kOptionalTensor or kOptionalSequence), empty or holding a tensor or a
// sequence of `elemType` (kUndefined: any).
Result<RuntimeValue> valueFromOptionalProto(const ::onnx::OptionalProto& p, ValueKind kind, DType elemType,
                                            const std::string& baseDir);
// Writes a sequence (or an optional's) value; tensors in raw_data form.
void valueToSequenceProto(const RuntimeValue& v, const std::string& name, ::onnx::SequenceProto* p);
void valueToOptionalProto(const RuntimeValue& v, const std::string& name, ::onnx::OptionalProto* p);

// Reads a serialized TensorProto, SequenceProto or OptionalProto file. The files carry no type
// tag: `kind` (and `elemType`, kUndefined for any) says what the reader expects, as the model
// declares it.
Result<RuntimeValue> readValueProtoFile(const std::string& path, ValueKind kind, DType elemType,
                                        std::string* nameOut = nullptr);

}  // namespace kiln::onnx_import
