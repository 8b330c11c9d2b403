// TensorProto <-> Tensor, including external data files (memory-mapped) and every typed field.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::onnx_import {

// Reads a TensorProto. `baseDir` resolves external data locations (which must stay inside it).
// 4-bit and 2-bit types are packed on the wire (low bits first) and unpacked one per byte.
Result<Tensor> tensorFromProto(const ::onnx::TensorProto& p, const std::string& baseDir);
// Writes a tensor into a TensorProto (raw_data form, sub-byte types packed; strings into
// string_data).
void tensorToProto(const Tensor& t, const std::string& name, ::onnx::TensorProto* p);
// Reads a serialized TensorProto file (the ONNX test data format, and `kiln run` inputs).
Result<Tensor> readTensorProtoFile(const std::string& path, std::string* nameOut = nullptr);

// The Kiln dtype for an ONNX element type code, or an Unsupported error naming it.
Result<DType> dtypeFromOnnx(int32_t elemType);
std::string onnxTypeName(int32_t elemType);

}  // namespace kiln::onnx_import
