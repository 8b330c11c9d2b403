// ModelBuilder implementation.
#include "model_builder.h"

#include <cctype>

#include "onnx/tensor_proto.h"

namespace kiln::testing {

ModelBuilder::ModelBuilder(int opset) {
  m_.set_ir_version(8);
  auto* os = m_.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  m_.mutable_graph()->set_name("test");
}

ModelBuilder& ModelBuilder::input(const std::string& name, std::vector<std::string> dims, int32_t elemType) {
  auto* vi = m_.mutable_graph()->add_input();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elemType);
  auto* shape = tt->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (d.empty()) continue;
    if (std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
    else dim->set_dim_param(d);
  }
  return *this;
}

ModelBuilder& ModelBuilder::output(const std::string& name) {
  m_.mutable_graph()->add_output()->set_name(name);
  return *this;
}

ModelBuilder& ModelBuilder::initializer(const std::string& name, const Tensor& t) {
  onnx_import::tensorToProto(t, name, m_.mutable_graph()->add_initializer());
  return *this;
}

::onnx::NodeProto& ModelBuilder::node(const std::string& op, std::vector<std::string> ins,
                                      std::vector<std::string> outs, const std::string& name) {
  auto* n = m_.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name.empty() ? op + std::to_string(m_.graph().node_size()) : name);
  for (auto& i : ins) n->add_input(i);
  for (auto& o : outs) n->add_output(o);
  return *n;
}

void ModelBuilder::attr(::onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}
void ModelBuilder::attr(::onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
void ModelBuilder::attr(::onnx::NodeProto& n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

std::string ModelBuilder::bytes() const {
  std::string b;
  m_.SerializeToString(&b);
  return b;
}

}  // namespace kiln::testing
