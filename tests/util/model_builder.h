// Builds small ONNX models in tests without Python: a thin helper over ModelProto.
#pragma once

#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "kiln/tensor.h"

namespace kiln::testing {

class ModelBuilder {
 public:
  explicit ModelBuilder(int opset = 17);
  // dims: numbers, names ("batch") or "" for an unnamed dynamic dim.
  ModelBuilder& input(const std::string& name, std::vector<std::string> dims,
                      int32_t elemType = ::onnx::TensorProto::FLOAT);
  ModelBuilder& output(const std::string& name);
  ModelBuilder& initializer(const std::string& name, const Tensor& t);
  ::onnx::NodeProto& node(const std::string& op, std::vector<std::string> ins, std::vector<std::string> outs,
                          const std::string& name = "");
  static void attr(::onnx::NodeProto& n, const std::string& name, int64_t v);
  static void attr(::onnx::NodeProto& n, const std::string& name, float v);
  static void attr(::onnx::NodeProto& n, const std::string& name, std::vector<int64_t> v);
  std::string bytes() const;
  ::onnx::ModelProto& proto() { return m_; }

 private:
  ::onnx::ModelProto m_;
};

}  // namespace kiln::testing
