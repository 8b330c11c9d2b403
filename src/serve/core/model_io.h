// What a model file declares about its inputs and outputs, before any config is applied: from
// an ONNX model (imported, not built) or a prebuilt engine. Dims: -1 where not fixed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/dtype.h"
#include "kiln/engine.h"
#include "kiln/status.h"

namespace kiln::serve {

struct TensorDesc {
  std::string name;
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;  // -1: dynamic
};

struct ModelIODesc {
  std::vector<TensorDesc> inputs, outputs;
  const TensorDesc* findInput(const std::string& name) const;
  const TensorDesc* findOutput(const std::string& name) const;
};

Result<ModelIODesc> describeOnnxModel(const std::string& path);
ModelIODesc describeEngine(const Engine& engine);

}  // namespace kiln::serve
