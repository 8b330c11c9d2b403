// Importer: refusals name what is wrong and where; old opset forms are canonicalized; external
// data, functions and dynamic dims are handled.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <onnx/onnx_pb.h>

#include "ir/printer.h"
#include "onnx/importer.h"
#include "onnx/tensor_proto.h"
#include "runtime/interpreter.h"

namespace kiln::onnx_import {
namespace {

namespace fs = std::filesystem;

::onnx::ModelProto baseModel(int opset = 17) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

void addInput(::onnx::ModelProto& m, const std::string& name, std::vector<std::string> dims) {
  auto* vi = m.mutable_graph()->add_input();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(::onnx::TensorProto::FLOAT);
  for (const auto& d : dims) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (d.empty()) continue;  // unnamed dynamic
    if (std::isdigit(d[0])) dim->set_dim_value(std::stoll(d));
    else dim->set_dim_param(d);
  }
}

::onnx::NodeProto* addNode(::onnx::ModelProto& m, const std::string& op, std::vector<std::string> ins,
                           std::vector<std::string> outs, const std::string& name = "") {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (auto& i : ins) n->add_input(i);
  for (auto& o : outs) n->add_output(o);
  return n;
}

void addOutput(::onnx::ModelProto& m, const std::string& name) { m.mutable_graph()->add_output()->set_name(name); }

void addIntsAttr(::onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

Result<std::unique_ptr<ir::Graph>> importProto(const ::onnx::ModelProto& m, const std::string& dir = "") {
  std::string bytes;
  m.SerializeToString(&bytes);
  return importModelBytes(bytes, dir);
}

TEST(Importer, GarbageBytesAreRefused) {
  auto r = importModelBytes(std::string("\xff\xff\xff\x07garbage", 11), "");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a valid ONNX model"), std::string::npos) << r.status().toString();
  auto empty = importModelBytes("", "");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
}

TEST(Importer, TruncatedFileIsRefused) {
  std::ifstream f(KILN_SOURCE_DIR_STRING "/models/tiny_cnn.onnx", std::ios::binary);
  ASSERT_TRUE(f.good());
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(importModelBytes(bytes, "").ok());
  for (size_t cut : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 7}) {
    auto r = importModelBytes(bytes.substr(0, cut), "");
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_TRUE(r.status().code() == StatusCode::kInvalidArgument || r.status().code() == StatusCode::kDataLoss)
        << r.status().toString();
  }
}

TEST(Importer, MissingFileIsNotFound) {
  auto r = importModelFile("/nonexistent/model.onnx");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(Importer, UnknownOpNamesNodeOpDomainAndOpset) {
  auto m = baseModel(17);
  addInput(m, "x", {"2"});
  addNode(m, "FrobnicateTensor", {"x"}, {"y"}, "frob1");
  addOutput(m, "y");
  auto r = importProto(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("node 'frob1'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("FrobnicateTensor"), std::string::npos) << msg;
  EXPECT_NE(msg.find("domain ai.onnx"), std::string::npos) << msg;
  EXPECT_NE(msg.find("opset 17"), std::string::npos) << msg;
}

TEST(Importer, CustomDomainIsNamed) {
  auto m = baseModel(17);
  auto* os = m.add_opset_import();
  os->set_domain("com.microsoft");
  os->set_version(1);
  addInput(m, "x", {"2"});
  auto* n = addNode(m, "FusedGemm", {"x"}, {"y"}, "fg");
  n->set_domain("com.microsoft");
  addOutput(m, "y");
  auto r = importProto(m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("domain com.microsoft"), std::string::npos) << r.status().toString();
}

TEST(Importer, UnsupportedAttributeAndMissingInput) {
  auto m = baseModel(17);
  addInput(m, "x", {"2"});
  auto* n = addNode(m, "Relu", {"x"}, {"y"}, "r");
  auto* a = n->add_attribute();
  a->set_name("alpha_typo");
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(1);
  addOutput(m, "y");
  auto r = importProto(m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("attribute 'alpha_typo'"), std::string::npos) << r.status().toString();

  auto m2 = baseModel(17);
  addInput(m2, "x", {"2"});
  addNode(m2, "Add", {"x", "nowhere"}, {"y"}, "add");
  addOutput(m2, "y");
  auto r2 = importProto(m2);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("input 'nowhere'"), std::string::npos) << r2.status().toString();
}

TEST(Importer, NewerOpsetThanKnownIsRefused) {
  auto m = baseModel(kMaxOnnxOpset + 1);
  addInput(m, "x", {"2"});
  addNode(m, "Relu", {"x"}, {"y"});
  addOutput(m, "y");
  auto r = importProto(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
}

TEST(Importer, DynamicDimsBecomeSymbols) {
  auto m = baseModel(17);
  addInput(m, "x", {"batch", "", "8"});
  addNode(m, "Relu", {"x"}, {"y"});
  addOutput(m, "y");
  auto r = importProto(m);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)->inputs()[0]->shape().toString(), "[batch,x_dim1,8]");
  EXPECT_EQ((*r)->outputs()[0]->shape().toString(), "[batch,x_dim1,8]");
}

TEST(Importer, OldOpsetAttributeFormsAreCanonicalized) {
  // Opset 11: Split sizes and Unsqueeze axes are attributes; Slice opset 9 uses attributes too.
  auto m = baseModel(11);
  addInput(m, "x", {"4", "6"});
  auto* s = addNode(m, "Split", {"x"}, {"a", "b"}, "split");
  addIntsAttr(s, "split", {2, 4});
  auto* ax = s->add_attribute();
  ax->set_name("axis");
  ax->set_type(::onnx::AttributeProto::INT);
  ax->set_i(1);
  auto* u = addNode(m, "Unsqueeze", {"a"}, {"c"}, "unsq");
  addIntsAttr(u, "axes", {0});
  addOutput(m, "b");
  addOutput(m, "c");
  auto r = importProto(m);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)->outputs()[0]->shape().toString(), "[4,4]");
  EXPECT_EQ((*r)->outputs()[1]->shape().toString(), "[1,4,2]");

  auto m9 = baseModel(9);
  addInput(m9, "x", {"5", "7"});
  auto* sl = addNode(m9, "Slice", {"x"}, {"y"}, "slice");
  addIntsAttr(sl, "starts", {1, -3});
  addIntsAttr(sl, "ends", {4, 1000});
  addOutput(m9, "y");
  auto r9 = importProto(m9);
  ASSERT_TRUE(r9.ok()) << r9.status().toString();
  EXPECT_EQ((*r9)->outputs()[0]->shape().toString(), "[3,3]");
}

TEST(Importer, ConstantNodesBecomeConstants) {
  auto m = baseModel(17);
  addInput(m, "x", {"3"});
  auto* c = addNode(m, "Constant", {}, {"k"}, "const");
  auto* a = c->add_attribute();
  a->set_name("value_floats");
  a->set_type(::onnx::AttributeProto::FLOATS);
  for (float v : {1.f, 2.f, 3.f}) a->add_floats(v);
  addNode(m, "Mul", {"x", "k"}, {"y"});
  addOutput(m, "y");
  auto r = importProto(m);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)->numNodes(), 1u);
  ASSERT_NE((*r)->findValue("k"), nullptr);
  EXPECT_TRUE((*r)->findValue("k")->isConstant());
}

TEST(Importer, ExternalDataIsReadAndConfined) {
  fs::path dir = fs::temp_directory_path() / "kiln_ext_test";
  fs::create_directories(dir);
  std::vector<float> w = {0.5f, -1.f, 2.f, 4.f};
  {
    std::ofstream f(dir / "weights.bin", std::ios::binary);
    std::string pad(16, '\0');  // data at an offset
    f.write(pad.data(), 16);
    f.write(reinterpret_cast<const char*>(w.data()), 16);
  }
  auto make = [&](const std::string& location) {
    auto m = baseModel(17);
    addInput(m, "x", {"4"});
    auto* init = m.mutable_graph()->add_initializer();
    init->set_name("w");
    init->set_data_type(::onnx::TensorProto::FLOAT);
    init->add_dims(4);
    init->set_data_location(::onnx::TensorProto::EXTERNAL);
    auto* kv = init->add_external_data();
    kv->set_key("location");
    kv->set_value(location);
    kv = init->add_external_data();
    kv->set_key("offset");
    kv->set_value("16");
    addNode(m, "Mul", {"x", "w"}, {"y"});
    addOutput(m, "y");
    return m;
  };
  auto r = importProto(make("weights.bin"), dir.string());
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const Tensor& t = (*r)->findValue("w")->constant();
  EXPECT_EQ(std::vector<float>(t.data<float>(), t.data<float>() + 4), w);
  auto escape = importProto(make("../etc/passwd"), dir.string());
  ASSERT_FALSE(escape.ok());
  EXPECT_NE(escape.status().message().find("leaves the model's folder"), std::string::npos);
  auto missing = importProto(make("nope.bin"), dir.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("initializer 'w'"), std::string::npos) << missing.status().toString();
  fs::remove_all(dir);
}

TEST(Importer, TensorDataSizeMismatchIsDataLoss) {
  auto m = baseModel(17);
  addInput(m, "x", {"4"});
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(::onnx::TensorProto::FLOAT);
  init->add_dims(4);
  init->set_raw_data(std::string(12, '\0'));  // 3 floats for 4 elements
  addNode(m, "Mul", {"x", "w"}, {"y"});
  addOutput(m, "y");
  auto r = importProto(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

TEST(Importer, LocalFunctionsAreInlined) {
  auto m = baseModel(17);
  auto* os = m.add_opset_import();
  os->set_domain("custom");
  os->set_version(1);
  auto* fn = m.add_functions();
  fn->set_name("Swishy");
  fn->set_domain("custom");
  fn->add_input("a");
  fn->add_output("b");
  auto* fo = fn->add_opset_import();
  fo->set_domain("");
  fo->set_version(17);
  auto* n1 = fn->add_node();
  n1->set_op_type("Sigmoid");
  n1->add_input("a");
  n1->add_output("s");
  auto* n2 = fn->add_node();
  n2->set_op_type("Mul");
  n2->add_input("a");
  n2->add_input("s");
  n2->add_output("b");
  addInput(m, "x", {"3"});
  auto* call = addNode(m, "Swishy", {"x"}, {"y"}, "call");
  call->set_domain("custom");
  addOutput(m, "y");
  auto r = importProto(m);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)->numNodes(), 2u);
  std::shared_ptr<const ir::Graph> g(std::move(r).value());
  auto interp = runtime::Interpreter::create(g);
  ASSERT_TRUE(interp.ok());
  std::vector<runtime::NamedTensor> outs;
  Tensor x = Tensor::fromVector<float>({-1.f, 0.f, 2.f}, {3});
  ASSERT_TRUE((*interp)->run({{"x", x}}, &outs).ok());
  EXPECT_NEAR(outs[0].tensor.data<float>()[2], 2.0f / (1.0f + std::exp(-2.0f)), 1e-6);
}

TEST(Interpreter, WrongInputsAreNamed) {
  auto m = baseModel(17);
  addInput(m, "x", {"batch", "3"});
  addNode(m, "Relu", {"x"}, {"y"});
  addOutput(m, "y");
  auto r = importProto(m);
  ASSERT_TRUE(r.ok());
  std::shared_ptr<const ir::Graph> g(std::move(r).value());
  auto interp = runtime::Interpreter::create(g);
  ASSERT_TRUE(interp.ok());
  std::vector<runtime::NamedTensor> outs;
  Status st = (*interp)->run({{"x", Tensor::allocate(DType::kFloat32, {2, 4})}}, &outs);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("input 'x' has shape [2,4] but the model expects [batch,3]"), std::string::npos) << st.message();
  st = (*interp)->run({{"x", Tensor::allocate(DType::kInt32, {2, 3})}}, &outs);
  EXPECT_NE(st.message().find("type int32 but the model expects float32"), std::string::npos) << st.message();
  st = (*interp)->run({}, &outs);
  EXPECT_NE(st.message().find("input 'x' is missing"), std::string::npos) << st.message();
  ASSERT_TRUE((*interp)->run({{"x", Tensor::allocate(DType::kFloat32, {5, 3})}}, &outs).ok());
  EXPECT_EQ(outs[0].tensor.dims(), (Dims{5, 3}));
}

}  // namespace
}  // namespace kiln::onnx_import
