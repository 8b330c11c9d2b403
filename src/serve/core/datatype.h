// Element types across the three vocabularies the server speaks: Kiln's DType, the KServe v2
// datatype names (BOOL, FP32, BYTES, ...) and the ModelConfig enum (TYPE_FP32, TYPE_STRING, ...).
#pragma once

#include <string_view>

#include "kiln/dtype.h"
#include "model_config.pb.h"

namespace kiln::serve {

// TYPE_INVALID when Kiln's dtype has no ModelConfig equivalent (fp8, sub-byte types).
inference::DataType toConfigDataType(DType t);
// kUndefined for TYPE_INVALID.
DType fromConfigDataType(inference::DataType t);
// "TYPE_FP32" -> "FP32": the KServe name of a config type ("" for TYPE_INVALID).
std::string_view configTypeToKserve(inference::DataType t);
// Bytes of one element as it travels (BYTES: 0, variable).
size_t wireElementSize(DType t);

}  // namespace kiln::serve
