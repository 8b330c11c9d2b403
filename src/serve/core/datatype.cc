// Datatype tables. KServe names: the v2 protocol's tensor data types; BYTES is a string tensor
// (DType::kString). The ModelConfig numbering is Triton's, unrelated to ONNX's.
#include "serve/core/datatype.h"

#include "serve/inference_server.h"

namespace kiln::serve {

namespace {
struct Row {
  DType dtype;
  std::string_view kserve;
  inference::DataType config;
};
constexpr Row kRows[] = {
    {DType::kBool, "BOOL", inference::TYPE_BOOL},       {DType::kUInt8, "UINT8", inference::TYPE_UINT8},
    {DType::kUInt16, "UINT16", inference::TYPE_UINT16}, {DType::kUInt32, "UINT32", inference::TYPE_UINT32},
    {DType::kUInt64, "UINT64", inference::TYPE_UINT64}, {DType::kInt8, "INT8", inference::TYPE_INT8},
    {DType::kInt16, "INT16", inference::TYPE_INT16},    {DType::kInt32, "INT32", inference::TYPE_INT32},
    {DType::kInt64, "INT64", inference::TYPE_INT64},    {DType::kFloat16, "FP16", inference::TYPE_FP16},
    {DType::kFloat32, "FP32", inference::TYPE_FP32},    {DType::kFloat64, "FP64", inference::TYPE_FP64},
    {DType::kString, "BYTES", inference::TYPE_STRING},  {DType::kBFloat16, "BF16", inference::TYPE_BF16},
};
}  // namespace

std::string_view kserveDatatype(DType t) {
  for (const auto& r : kRows)
    if (r.dtype == t) return r.kserve;
  return "";
}

bool parseKserveDatatype(std::string_view name, DType* out) {
  for (const auto& r : kRows)
    if (r.kserve == name) {
      *out = r.dtype;
      return true;
    }
  return false;
}

inference::DataType toConfigDataType(DType t) {
  for (const auto& r : kRows)
    if (r.dtype == t) return r.config;
  return inference::TYPE_INVALID;
}

DType fromConfigDataType(inference::DataType t) {
  for (const auto& r : kRows)
    if (r.config == t) return r.dtype;
  return DType::kUndefined;
}

std::string_view configTypeToKserve(inference::DataType t) {
  for (const auto& r : kRows)
    if (r.config == t) return r.kserve;
  return "";
}

size_t wireElementSize(DType t) { return t == DType::kString ? 0 : dtypeSize(t); }

}  // namespace kiln::serve
