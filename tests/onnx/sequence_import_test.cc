// Import of sequence and optional values (graph inputs, outputs, TYPE_PROTO attributes), the
// SequenceProto/OptionalProto readers, models run end to end through the interpreter, and the
// engine builder's refusal of them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ir/printer.h"
#include "kiln/builder.h"
#include "model_builder.h"
#include "onnx/importer.h"
#include "onnx/tensor_proto.h"
#include "onnx/value_proto.h"
#include "runtime/interpreter.h"

namespace kiln::onnx_import {
namespace {

namespace fs = std::filesystem;
using testing::ModelBuilder;

// Declares `name` in a ValueInfoProto as seq / optional / optional(seq) of float tensors of `dims`.
void setType(::onnx::TypeProto* tp, ValueKind kind, std::vector<std::string> dims, int32_t elem = ::onnx::TensorProto::FLOAT) {
  ::onnx::TypeProto* t = tp;
  if (isOptionalKind(kind)) t = t->mutable_optional_type()->mutable_elem_type();
  if (kind == ValueKind::kSequence || kind == ValueKind::kOptionalSequence) t = t->mutable_sequence_type()->mutable_elem_type();
  auto* tt = t->mutable_tensor_type();
  tt->set_elem_type(elem);
  for (const auto& d : dims) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (d.empty()) continue;
    if (std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
    else dim->set_dim_param(d);
  }
}

void addValueInput(ModelBuilder& mb, const std::string& name, ValueKind kind, std::vector<std::string> dims,
                   int32_t elem = ::onnx::TensorProto::FLOAT) {
  auto* vi = mb.proto().mutable_graph()->add_input();
  vi->set_name(name);
  setType(vi->mutable_type(), kind, std::move(dims), elem);
}

void addValueOutput(ModelBuilder& mb, const std::string& name, ValueKind kind) {
  auto* vi = mb.proto().mutable_graph()->add_output();
  vi->set_name(name);
  setType(vi->mutable_type(), kind, {});
}

std::shared_ptr<const ir::Graph> importOk(const ModelBuilder& mb) {
  auto g = importModelBytes(mb.bytes(), "");
  EXPECT_TRUE(g.ok()) << g.status().toString();
  return g.ok() ? std::shared_ptr<const ir::Graph>(std::move(g).value()) : nullptr;
}

Result<std::vector<runtime::NamedValue>> runModel(const ModelBuilder& mb, std::vector<runtime::NamedValue> in) {
  auto g = importModelBytes(mb.bytes(), "");
  KILN_RETURN_IF_ERROR(g.status());
  KILN_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::create(std::shared_ptr<const ir::Graph>(std::move(g).value())));
  std::vector<runtime::NamedValue> out;
  KILN_RETURN_IF_ERROR(interp->runValues(in, &out));
  return out;
}

TEST(SequenceImport, SequenceAndOptionalInputsAndOutputs) {
  ModelBuilder mb(18);
  addValueInput(mb, "s", ValueKind::kSequence, {"N", "", "3"});
  addValueInput(mb, "o", ValueKind::kOptionalTensor, {"", "2"}, ::onnx::TensorProto::INT64);
  addValueInput(mb, "os", ValueKind::kOptionalSequence, {"4"});
  mb.node("Identity", {"s"}, {"s2"});
  mb.node("OptionalHasElement", {"o"}, {"has"});
  mb.node("OptionalGetElement", {"os"}, {"inner"});
  addValueOutput(mb, "s2", ValueKind::kSequence);
  mb.output("has");
  addValueOutput(mb, "inner", ValueKind::kSequence);
  auto g = importOk(mb);
  ASSERT_TRUE(g);
  ASSERT_EQ(g->inputs().size(), 3u);
  // Unnamed dims of sequence elements are unknown (elements may differ); of an optional tensor
  // they get a symbol like a tensor input's.
  EXPECT_EQ(ir::describeValue(*g->inputs()[0]), "%s: seq(float32[N,?,3])");
  EXPECT_EQ(ir::describeValue(*g->inputs()[1]), "%o: optional(int64[o_dim0,2])");
  EXPECT_EQ(ir::describeValue(*g->inputs()[2]), "%os: optional(seq(float32[4]))");
  EXPECT_EQ(g->outputs()[0]->kind(), ValueKind::kSequence);
  EXPECT_EQ(g->outputs()[2]->kind(), ValueKind::kSequence);

  auto interp = runtime::Interpreter::create(g);
  ASSERT_TRUE(interp.ok()) << interp.status().toString();
  std::vector<runtime::NamedValue> out;
  RuntimeValue s = RuntimeValue::sequence(DType::kFloat32, {Tensor::allocate(DType::kFloat32, {1, 5, 3}),
                                                            Tensor::allocate(DType::kFloat32, {2, 1, 3})});
  RuntimeValue os = RuntimeValue::optionalOf(RuntimeValue::sequence(DType::kFloat32, {Tensor::allocate(DType::kFloat32, {4})}));
  Status st = (*interp)->runValues({{"s", s}, {"o", RuntimeValue::emptyOptional(ValueKind::kOptionalTensor, DType::kInt64)},
                                    {"os", os}}, &out);
  ASSERT_TRUE(st.ok()) << st.toString();
  EXPECT_EQ(out[0].value.elements().size(), 2u);
  EXPECT_EQ(out[1].value.tensor().data<bool>()[0], false);
  EXPECT_EQ(out[2].value.elements().size(), 1u);
  for (const auto& [node, tactic] : (*interp)->tactics()) EXPECT_EQ(tactic, "cpu_seq_" + node->opType());

  // Inputs are checked: kind, element type, element shapes; tensors through run() are refused.
  auto bad = [&](RuntimeValue sv) {
    std::vector<runtime::NamedValue> o2;
    return (*interp)->runValues({{"s", std::move(sv)}, {"o", RuntimeValue::emptyOptional(ValueKind::kOptionalTensor, DType::kInt64)},
                                 {"os", os}}, &o2).message();
  };
  EXPECT_NE(bad(Tensor::allocate(DType::kFloat32, {1, 1, 3})).find("must be given as a sequence"), std::string::npos);
  EXPECT_NE(bad(RuntimeValue::sequence(DType::kInt32, {})).find("is seq(int32) but the model expects seq(float32)"),
            std::string::npos);
  EXPECT_NE(bad(RuntimeValue::sequence(DType::kFloat32, {Tensor::allocate(DType::kFloat32, {1, 1, 4})}))
                .find("element 0 has shape [1,1,4]"),
            std::string::npos);
  std::vector<runtime::NamedTensor> tout;
  Status viaRun = (*interp)->run({}, &tout);
  EXPECT_NE(viaRun.message().find("runValues"), std::string::npos) << viaRun.toString();
}

TEST(SequenceImport, OptionalTypeAttributeAndSequenceOpsEndToEnd) {
  ModelBuilder mb(18);
  mb.input("x", {"3", "5"});
  auto& opt = mb.node("Optional", {}, {"none"});
  auto* a = opt.add_attribute();
  a->set_name("type");
  a->set_type(::onnx::AttributeProto::TYPE_PROTO);
  setType(a->mutable_tp(), ValueKind::kSequence, {"2"}, ::onnx::TensorProto::INT64);
  mb.node("OptionalHasElement", {"none"}, {"has"});
  auto& split = mb.node("SplitToSequence", {"x"}, {"parts"});
  ModelBuilder::attr(split, "axis", int64_t{1});
  mb.node("SequenceLength", {"parts"}, {"len"});
  auto& cat = mb.node("ConcatFromSequence", {"parts"}, {"y"});
  ModelBuilder::attr(cat, "axis", int64_t{1});
  mb.output("has").output("len").output("y");
  auto g = importOk(mb);
  ASSERT_TRUE(g);
  EXPECT_NE(ir::printGraph(*g).find("%none: optional(seq(int64[*])) = Optional() {type=\"seq(int64)\"}"),
            std::string::npos)
      << ir::printGraph(*g);
  EXPECT_EQ(g->findValue("parts")->shape(), (Shape{Dim(3), Dim(1)}));
  EXPECT_EQ(g->findValue("y")->shape(), (Shape{Dim(3), Dim()}));

  Tensor x = Tensor::allocate(DType::kFloat32, {3, 5});
  for (int i = 0; i < 15; ++i) x.data<float>()[i] = static_cast<float>(i) * 0.5f;
  auto interp = runtime::Interpreter::create(g);
  ASSERT_TRUE(interp.ok()) << interp.status().toString();
  std::vector<runtime::NamedTensor> out;
  Status st = (*interp)->run({{"x", x}}, &out);  // tensor inputs and outputs: run() works
  ASSERT_TRUE(st.ok()) << st.toString();
  EXPECT_FALSE(out[0].tensor.data<bool>()[0]);
  EXPECT_EQ(out[1].tensor.data<int64_t>()[0], 5);
  ASSERT_EQ(out[2].tensor.dims(), (Dims{3, 5}));
  EXPECT_EQ(std::memcmp(out[2].tensor.raw(), x.raw(), x.nbytes()), 0);
}

TEST(SequenceImport, RefusalsNameWhatIsWrong) {
  {
    ModelBuilder mb(18);
    auto* vi = mb.proto().mutable_graph()->add_input();
    vi->set_name("m");
    vi->mutable_type()->mutable_map_type()->set_key_type(::onnx::TensorProto::INT64);
    mb.node("Identity", {"m"}, {"y"});
    mb.output("y");
    auto g = importModelBytes(mb.bytes(), "");
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(g.status().message().find("graph input 'm': maps are not supported"), std::string::npos) << g.status().toString();
  }
  {
    ModelBuilder mb(18);
    auto* vi = mb.proto().mutable_graph()->add_input();
    vi->set_name("ss");
    setType(vi->mutable_type()->mutable_sequence_type()->mutable_elem_type(), ValueKind::kSequence, {});
    mb.node("Identity", {"ss"}, {"y"});
    mb.output("y");
    auto g = importModelBytes(mb.bytes(), "");
    EXPECT_NE(g.status().message().find("sequences of sequences are not supported"), std::string::npos)
        << g.status().toString();
  }
  {
    // A declared output kind that the graph does not compute.
    ModelBuilder mb(18);
    mb.input("x", {"2"});
    mb.node("Identity", {"x"}, {"y"});
    addValueOutput(mb, "y", ValueKind::kSequence);
    auto g = importModelBytes(mb.bytes(), "");
    EXPECT_NE(g.status().message().find("graph output 'y' is declared as seq(float32) but the graph computes float32"),
              std::string::npos)
        << g.status().toString();
  }
  {
    // SequenceMap: its body is a subgraph.
    ModelBuilder mb(18);
    addValueInput(mb, "s", ValueKind::kSequence, {"2"});
    auto& n = mb.node("SequenceMap", {"s"}, {"y"});
    auto* body = n.add_attribute();
    body->set_name("body");
    body->set_type(::onnx::AttributeProto::GRAPH);
    body->mutable_g()->set_name("body");
    addValueOutput(mb, "y", ValueKind::kSequence);
    auto g = importModelBytes(mb.bytes(), "");
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(g.status().message().find("(SequenceMap, domain ai.onnx, opset 18): attribute 'body' holds a subgraph"),
              std::string::npos)
        << g.status().toString();
  }
  {
    // A sequence fed to a tensor op.
    ModelBuilder mb(18);
    addValueInput(mb, "s", ValueKind::kSequence, {"2"});
    mb.node("Relu", {"s"}, {"y"}, "relu");
    mb.output("y");
    auto g = importModelBytes(mb.bytes(), "");
    EXPECT_NE(g.status().message().find("node 'relu' (Relu, domain ai.onnx, opset 18): input 0 ('s') is seq(float32); "
                                        "this op takes tensors only"),
              std::string::npos)
        << g.status().toString();
  }
}

TEST(SequenceImport, EnginesRefuseSequencesNamingTheValue) {
  ModelBuilder mb(18);
  mb.input("x", {"3", "4"});
  mb.node("SplitToSequence", {"x"}, {"parts"}, "split");
  mb.node("SequenceLength", {"parts"}, {"len"});
  mb.output("len");
  auto engine = buildEngineFromBytes(mb.bytes(), "", "seq", BuildConfig{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(engine.status().message().find("'parts' (SplitToSequence of split) is seq(float32): engines support "
                                           "tensors only"),
            std::string::npos)
      << engine.status().toString();

  ModelBuilder in(18);
  addValueInput(in, "s", ValueKind::kSequence, {"2"});
  in.node("SequenceLength", {"s"}, {"len"});
  in.output("len");
  auto e2 = buildEngineFromBytes(in.bytes(), "", "seqin", BuildConfig{});
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.status().message().find("input 's' is seq(float32): engines support tensors only"), std::string::npos)
      << e2.status().toString();
}

TEST(SequenceImport, SequenceAndOptionalProtosRoundTrip) {
  fs::path dir = fs::temp_directory_path() / fmt::format("kiln_seq_proto_{}", ::getpid());
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const google::protobuf::MessageLite& m) {
    std::string p = (dir / name).string();
    std::ofstream f(p, std::ios::binary);
    m.SerializeToOstream(&f);
    return p;
  };
  Tensor a = Tensor::fromVector<int32_t>({1, 2, 3}, {3});
  Tensor b = Tensor::fromVector<int32_t>({4, 5}, {1, 2});
  RuntimeValue seq = RuntimeValue::sequence(DType::kInt32, {a, b});
  ::onnx::SequenceProto sp;
  valueToSequenceProto(seq, "s", &sp);
  std::string seqPath = write("seq.pb", sp);
  std::string name;
  auto back = readValueProtoFile(seqPath, ValueKind::kSequence, DType::kInt32, &name);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(name, "s");
  ASSERT_EQ(back->elements().size(), 2u);
  EXPECT_EQ(back->elements()[1].dims(), (Dims{1, 2}));
  EXPECT_EQ(back->elements()[1].data<int32_t>()[1], 5);
  auto wrongType = readValueProtoFile(seqPath, ValueKind::kSequence, DType::kFloat32);
  EXPECT_NE(wrongType.status().message().find("element 0 is int32 but the sequence holds float32"), std::string::npos)
      << wrongType.status().toString();

  ::onnx::SequenceProto empty;
  empty.set_elem_type(::onnx::SequenceProto::TENSOR);
  std::string emptyPath = write("empty.pb", empty);
  auto typedEmpty = readValueProtoFile(emptyPath, ValueKind::kSequence, DType::kInt64);
  ASSERT_TRUE(typedEmpty.ok());
  EXPECT_EQ(typedEmpty->elemType(), DType::kInt64);
  EXPECT_NE(readValueProtoFile(emptyPath, ValueKind::kSequence, DType::kUndefined).status().message().find("no element type"),
            std::string::npos);

  ::onnx::SequenceProto mixed;
  valueToSequenceProto(RuntimeValue::sequence(DType::kInt32, {a, Tensor::fromVector<float>({1}, {1})}), "m", &mixed);
  EXPECT_NE(readValueProtoFile(write("mixed.pb", mixed), ValueKind::kSequence, DType::kUndefined).status().message()
                .find("element 1 is float32"),
            std::string::npos);

  ::onnx::OptionalProto op;
  valueToOptionalProto(RuntimeValue::optionalOf(seq), "o", &op);
  std::string optPath = write("opt.pb", op);
  auto optBack = readValueProtoFile(optPath, ValueKind::kOptionalSequence, DType::kInt32);
  ASSERT_TRUE(optBack.ok()) << optBack.status().toString();
  EXPECT_TRUE(optBack->hasValue());
  EXPECT_EQ(optBack->elements().size(), 2u);
  EXPECT_NE(readValueProtoFile(optPath, ValueKind::kOptionalTensor, DType::kInt32).status().message().find("holds a sequence"),
            std::string::npos);

  ::onnx::OptionalProto none;
  valueToOptionalProto(RuntimeValue::emptyOptional(ValueKind::kOptionalTensor, DType::kFloat32), "n", &none);
  auto noneBack = readValueProtoFile(write("none.pb", none), ValueKind::kOptionalTensor, DType::kFloat32);
  ASSERT_TRUE(noneBack.ok());
  EXPECT_FALSE(noneBack->hasValue());

  ::onnx::OptionalProto ot;
  valueToOptionalProto(RuntimeValue::optionalOf(RuntimeValue(a)), "t", &ot);
  auto otBack = readValueProtoFile(write("ot.pb", ot), ValueKind::kOptionalTensor, DType::kUndefined);
  ASSERT_TRUE(otBack.ok());
  EXPECT_EQ(otBack->tensor().data<int32_t>()[2], 3);

  std::ofstream(dir / "junk.pb") << "\xff\xff\xff not a proto";
  EXPECT_EQ(readValueProtoFile((dir / "junk.pb").string(), ValueKind::kSequence, DType::kFloat32).status().code(),
            StatusCode::kDataLoss);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::onnx_import
