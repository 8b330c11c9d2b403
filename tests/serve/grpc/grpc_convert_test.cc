// gRPC message <-> InferRequest/InferResponse conversion: raw and typed contents, BYTES, the
// refusals (each names the input and the problem) and the status-code mapping.
#include <gtest/gtest.h>

#include <cstring>

#include "serve/grpc/grpc_convert.h"

namespace kiln::serve::grpcfe {
namespace {

using inference::ModelInferRequest;

ModelInferRequest::InferInputTensor* addInput(ModelInferRequest& m, const std::string& name, const std::string& dt,
                                              std::vector<int64_t> shape) {
  auto* in = m.add_inputs();
  in->set_name(name);
  in->set_datatype(dt);
  for (int64_t d : shape) in->add_shape(d);
  return in;
}

template <typename T>
std::string rawOf(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string bytesElems(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    uint32_t n = static_cast<uint32_t>(s.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += s;
  }
  return out;
}

std::string errorOf(ModelInferRequest& m) {
  auto r = fromInferRequest(m);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

TEST(GrpcConvert, RawFp32IsWrappedWithoutCopy) {
  ModelInferRequest m;
  m.set_model_name("m");
  m.set_model_version("2");
  m.set_id("req-1");
  addInput(m, "x", "FP32", {2, 2});
  m.add_raw_input_contents(rawOf<float>({1, 2, 3, 4}));
  auto r = fromInferRequest(m);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const InferRequest& q = **r;
  EXPECT_EQ(q.model, "m");
  EXPECT_EQ(q.version, "2");
  EXPECT_EQ(q.id, "req-1");
  ASSERT_EQ(q.inputs.size(), 1u);
  EXPECT_EQ(q.inputs[0].dtype, DType::kFloat32);
  EXPECT_EQ(q.inputs[0].shape, (Dims{2, 2}));
  EXPECT_EQ(q.inputs[0].data.data<float>()[3], 4.f);
  EXPECT_TRUE(q.inputs[0].data.ownsMemory());
  EXPECT_TRUE(m.raw_input_contents(0).empty());  // moved out, not copied
}

TEST(GrpcConvert, TypedContentsOfEveryField) {
  ModelInferRequest m;
  auto* a = addInput(m, "i8", "INT8", {3});
  for (int v : {-128, 0, 127}) a->mutable_contents()->add_int_contents(v);
  auto* b = addInput(m, "u16", "UINT16", {2});
  for (unsigned v : {0u, 65535u}) b->mutable_contents()->add_uint_contents(v);
  auto* c = addInput(m, "b", "BOOL", {2});
  c->mutable_contents()->add_bool_contents(true);
  c->mutable_contents()->add_bool_contents(false);
  auto* d = addInput(m, "s", "BYTES", {2});
  d->mutable_contents()->add_bytes_contents("hello");
  d->mutable_contents()->add_bytes_contents(std::string("\0x", 2));
  auto* e = addInput(m, "f64", "FP64", {1});
  e->mutable_contents()->add_fp64_contents(2.5);
  auto* f = addInput(m, "u64", "UINT64", {1});
  f->mutable_contents()->add_uint64_contents(~0ull);
  auto r = fromInferRequest(m);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const auto& in = (*r)->inputs;
  EXPECT_EQ(in[0].data.data<int8_t>()[0], -128);
  EXPECT_EQ(in[1].data.data<uint16_t>()[1], 65535);
  EXPECT_TRUE(in[2].data.data<bool>()[0]);
  EXPECT_EQ(in[3].data.data<std::string>()[1], std::string("\0x", 2));
  EXPECT_EQ(in[4].data.data<double>()[0], 2.5);
  EXPECT_EQ(in[5].data.data<uint64_t>()[0], ~0ull);
}

TEST(GrpcConvert, RawBytesAndBool) {
  ModelInferRequest m;
  addInput(m, "s", "BYTES", {3});
  addInput(m, "b", "BOOL", {3});
  m.add_raw_input_contents(bytesElems({"a", "", "xyz"}));
  m.add_raw_input_contents(std::string("\x00\x07\x01", 3));
  auto r = fromInferRequest(m);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const auto& s = (*r)->inputs[0].data;
  EXPECT_EQ(s.data<std::string>()[0], "a");
  EXPECT_EQ(s.data<std::string>()[1], "");
  EXPECT_EQ(s.data<std::string>()[2], "xyz");
  const auto& b = (*r)->inputs[1].data;
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(b.raw())[1], 1);  // any non-zero byte is true
}

TEST(GrpcConvert, RefusalsNameTheInput) {
  {
    ModelInferRequest m;
    addInput(m, "x", "FP32", {2});
    m.add_raw_input_contents(rawOf<float>({1}));
    std::string e = errorOf(m);
    EXPECT_NE(e.find("input 'x'"), std::string::npos) << e;
    EXPECT_NE(e.find("4 bytes"), std::string::npos) << e;
    EXPECT_NE(e.find("needs 8"), std::string::npos) << e;
  }
  {
    ModelInferRequest m;
    addInput(m, "x", "FP32", {3})->mutable_contents()->add_fp32_contents(1);
    std::string e = errorOf(m);
    EXPECT_NE(e.find("fp32_contents has 1 elements but shape [3] needs 3"), std::string::npos) << e;
  }
  {
    ModelInferRequest m;
    addInput(m, "x", "FP32", {1})->mutable_contents()->add_int_contents(1);
    std::string e = errorOf(m);
    EXPECT_NE(e.find("contents has int_contents but datatype FP32 uses fp32_contents"), std::string::npos) << e;
  }
  {
    ModelInferRequest m;  // raw and typed mixed
    addInput(m, "a", "FP32", {1});
    addInput(m, "b", "FP32", {1})->mutable_contents()->add_fp32_contents(1);
    m.add_raw_input_contents(rawOf<float>({1}));
    m.add_raw_input_contents(rawOf<float>({1}));
    std::string e = errorOf(m);
    EXPECT_NE(e.find("input 'b'"), std::string::npos) << e;
    EXPECT_NE(e.find("raw_input_contents"), std::string::npos) << e;
  }
  {
    ModelInferRequest m;  // raw count != input count
    addInput(m, "a", "FP32", {1});
    addInput(m, "b", "FP32", {1});
    m.add_raw_input_contents(rawOf<float>({1}));
    EXPECT_NE(errorOf(m).find("raw_input_contents has 1 entries but the request has 2 inputs"), std::string::npos);
  }
  {
    ModelInferRequest m;
    addInput(m, "x", "FLOAT", {1});
    EXPECT_NE(errorOf(m).find("unknown datatype 'FLOAT'"), std::string::npos);
  }
  {
    ModelInferRequest m;
    addInput(m, "x", "FP32", {2, -1});
    EXPECT_NE(errorOf(m).find("negative dimension -1"), std::string::npos);
  }
  {
    ModelInferRequest m;
    addInput(m, "x", "FP32", std::vector<int64_t>(13, 1));
    EXPECT_NE(errorOf(m).find("rank 13 exceeds"), std::string::npos);
  }
  {
    ModelInferRequest m;  // overflowing element count, and a huge shape with no data: no allocation
    addInput(m, "x", "FP32", {1ll << 40, 1ll << 40});
    EXPECT_NE(errorOf(m).find("overflows"), std::string::npos);
    ModelInferRequest m2;
    addInput(m2, "x", "BYTES", {1ll << 40});
    m2.add_raw_input_contents("abc");
    EXPECT_NE(errorOf(m2).find("too few for"), std::string::npos);
    ModelInferRequest m3;
    addInput(m3, "x", "INT64", {1ll << 40})->mutable_contents()->add_int64_contents(1);
    EXPECT_NE(errorOf(m3).find("int64_contents has 1 elements"), std::string::npos);
  }
  {
    ModelInferRequest m;
    addInput(m, "x", "INT8", {1})->mutable_contents()->add_int_contents(300);
    EXPECT_NE(errorOf(m).find("element 0 = 300 is out of range for INT8"), std::string::npos);
  }
  {
    ModelInferRequest m;  // BYTES element running past the end
    addInput(m, "s", "BYTES", {1});
    std::string raw = bytesElems({"abcdef"});
    raw.resize(6);
    m.add_raw_input_contents(raw);
    EXPECT_NE(errorOf(m).find("declares 6 bytes but only 2 remain"), std::string::npos);
  }
  {
    ModelInferRequest m;  // FP16 has no typed field
    addInput(m, "h", "FP16", {1});
    EXPECT_NE(errorOf(m).find("must be sent in raw_input_contents"), std::string::npos);
  }
  {
    ModelInferRequest m;
    addInput(m, "x", "FP32", {1});
    EXPECT_NE(errorOf(m).find("no data: set contents.fp32_contents or raw_input_contents"), std::string::npos);
  }
  {
    ModelInferRequest m;
    addInput(m, "x", "FP32", {0});
    addInput(m, "x", "FP32", {0});
    EXPECT_NE(errorOf(m).find("appears more than once"), std::string::npos);
  }
  {
    ModelInferRequest m;
    (*m.mutable_parameters())["alpha"].set_double_param(0.5);
    EXPECT_NE(errorOf(m).find("'alpha': double values are not supported"), std::string::npos);
  }
}

TEST(GrpcConvert, ReservedParameters) {
  ModelInferRequest m;
  (*m.mutable_parameters())["priority"].set_uint64_param(2);
  (*m.mutable_parameters())["timeout"].set_int64_param(5000);
  (*m.mutable_parameters())["custom"].set_string_param("v");
  (*m.mutable_parameters())["flag"].set_bool_param(true);
  auto r = fromInferRequest(m);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)->priority, 2u);
  EXPECT_EQ((*r)->timeoutUs, 5000u);
  EXPECT_EQ((*r)->parameters.count("priority"), 0u);
  EXPECT_EQ(std::get<std::string>((*r)->parameters.at("custom")), "v");
  EXPECT_TRUE(std::get<bool>((*r)->parameters.at("flag")));

  ModelInferRequest bad;
  (*bad.mutable_parameters())["timeout"].set_int64_param(-1);
  EXPECT_NE(errorOf(bad).find("'timeout' must be an integer"), std::string::npos);
}

TEST(GrpcConvert, ResponseAlwaysRaw) {
  InferResponse r;
  r.model = "m";
  r.version = "1";
  r.id = "7";
  r.outputs.push_back({"y", DType::kInt32, Dims{2}, Tensor::fromVector<int32_t>({5, -6}, {2}), {}});
  Tensor s = Tensor::allocate(DType::kString, Dims{2});
  s.data<std::string>()[0] = "ab";
  s.data<std::string>()[1] = "";
  r.outputs.push_back({"s", DType::kString, Dims{2}, s, {}});
  r.parameters["n"] = int64_t{3};
  inference::ModelInferResponse msg;
  ASSERT_TRUE(toInferResponse(r, &msg).ok());
  EXPECT_EQ(msg.model_name(), "m");
  EXPECT_EQ(msg.id(), "7");
  ASSERT_EQ(msg.outputs_size(), 2);
  EXPECT_EQ(msg.outputs(0).datatype(), "INT32");
  EXPECT_FALSE(msg.outputs(0).has_contents());
  ASSERT_EQ(msg.raw_output_contents_size(), 2);
  EXPECT_EQ(msg.raw_output_contents(0), rawOf<int32_t>({5, -6}));
  EXPECT_EQ(msg.raw_output_contents(1), bytesElems({"ab", ""}));
  EXPECT_EQ(msg.parameters().at("n").int64_param(), 3);

  InferResponse bad;
  bad.outputs.push_back({"q", DType::kFloat8E4M3FN, Dims{1}, Tensor::allocate(DType::kFloat8E4M3FN, Dims{1}), {}});
  EXPECT_EQ(toInferResponse(bad, &msg).code(), StatusCode::kInternal);
}

TEST(GrpcConvert, SharedMemoryInputsTakeNoRawEntry) {
  ModelInferRequest m;
  auto* a = addInput(m, "a", "FP32", {2});
  (*a->mutable_parameters())["shared_memory_region"].set_string_param("in_a");
  (*a->mutable_parameters())["shared_memory_byte_size"].set_int64_param(8);
  addInput(m, "b", "FP32", {2});
  m.add_raw_input_contents(rawOf<float>({5, 6}));  // b's: a is in shared memory
  auto r = fromInferRequest(m);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const InferRequest& q = **r;
  ASSERT_EQ(q.inputs.size(), 2u);
  EXPECT_FALSE(q.inputs[0].data.defined());  // bound by the server later
  EXPECT_EQ(std::get<std::string>(q.inputs[0].parameters.at("shared_memory_region")), "in_a");
  EXPECT_EQ(q.inputs[1].data.data<float>()[1], 6.f);

  m.add_raw_input_contents(rawOf<float>({7, 8}));  // one entry too many now
  EXPECT_NE(errorOf(m).find("raw_input_contents has 2 entries but the request has 1 inputs not in shared memory"),
            std::string::npos);

  ModelInferRequest typed;
  auto* t = addInput(typed, "a", "FP32", {1});
  (*t->mutable_parameters())["shared_memory_region"].set_string_param("in_a");
  t->mutable_contents()->add_fp32_contents(1);
  EXPECT_NE(errorOf(typed).find("typed contents while its data is in shared memory"), std::string::npos);
}

TEST(GrpcConvert, SharedMemoryOutputGetsAnEmptyRawEntry) {
  InferResponse r;
  InferTensor inShm{"x", DType::kFloat32, Dims{2}, Tensor(), {}};
  inShm.inSharedMemory = true;
  r.outputs.push_back(inShm);
  r.outputs.push_back({"y", DType::kInt32, Dims{2}, Tensor::fromVector<int32_t>({5, -6}, {2}), {}});
  inference::ModelInferResponse msg;
  ASSERT_TRUE(toInferResponse(r, &msg).ok());
  ASSERT_EQ(msg.outputs_size(), 2);
  EXPECT_EQ(msg.outputs(0).datatype(), "FP32");
  EXPECT_EQ(msg.outputs(0).shape(0), 2);
  ASSERT_EQ(msg.raw_output_contents_size(), 2);  // indexed by output position, as Triton
  EXPECT_TRUE(msg.raw_output_contents(0).empty());
  EXPECT_EQ(msg.raw_output_contents(1), rawOf<int32_t>({5, -6}));
}

TEST(GrpcConvert, StatusMapping) {
  EXPECT_EQ(toGrpcStatus(Status()).error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(toGrpcStatus(InvalidArgument("x")).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(toGrpcStatus(NotFound("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(toGrpcStatus(Unavailable("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(toGrpcStatus(Unsupported("x")).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(toGrpcStatus(InternalError("x")).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(toGrpcStatus(InvalidArgument("why")).error_message(), "why");
}

}  // namespace
}  // namespace kiln::serve::grpcfe
