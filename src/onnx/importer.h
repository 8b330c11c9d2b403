// ONNX ModelProto -> ir::Graph. Validates the model as it goes: every refusal names the node,
// its op type, domain and opset, and what is wrong. Older opset forms are canonicalized by each
// op's import hook; model-local functions are inlined.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "kiln/status.h"

namespace onnx {
class ModelProto;
}

namespace kiln::onnx_import {

// Highest versions of each domain that Kiln knows the semantics of.
inline constexpr int kMaxOnnxOpset = 28;
inline constexpr int kMaxIrVersion = 13;

struct ImportOptions {
  // Run shape/type inference after import (on by default; tests may turn it off).
  bool inferShapes = true;
};

// Loads and imports a model file; external data is resolved next to the file.
Result<std::unique_ptr<ir::Graph>> importModelFile(const std::string& path,
                                                   const ImportOptions& opts = {});
// Imports serialized model bytes; `baseDir` resolves external data.
Result<std::unique_ptr<ir::Graph>> importModelBytes(const std::string& bytes,
                                                    const std::string& baseDir,
                                                    const ImportOptions& opts = {});
Result<std::unique_ptr<ir::Graph>> importModel(const ::onnx::ModelProto& model,
                                               const std::string& baseDir,
                                               const ImportOptions& opts = {});

// Parses serialized bytes into a ModelProto (2 GiB protobuf limit; larger models use external data).
Status parseModelProto(const std::string& bytes, ::onnx::ModelProto* out);

}  // namespace kiln::onnx_import
