// Reading and writing ModelConfig: protobuf text format (config.pbtxt), JSON (the HTTP config
// endpoint and the `config` parameter of a repository load request), binary (gRPC).
#pragma once

#include <string>

#include "kiln/status.h"
#include "model_config.pb.h"

namespace kiln::serve {

// Parses config.pbtxt text. Errors name `where` and the line/column protobuf reports.
Result<inference::ModelConfig> parseConfigText(const std::string& text, const std::string& where);
// Parses Triton's JSON form of a ModelConfig (field names as in the .proto; int64 values as
// numbers or strings; enums by name).
Result<inference::ModelConfig> parseConfigJson(const std::string& json);
// Triton's JSON form: .proto field names, every field printed (defaults included), 64-bit
// integers as JSON numbers (protobuf's own JSON writer quotes them).
std::string configToJson(const inference::ModelConfig& config);

}  // namespace kiln::serve
