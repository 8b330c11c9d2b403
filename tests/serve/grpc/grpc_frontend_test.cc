// The gRPC frontend over a real loopback socket, against FakeServer: every RPC, status codes,
// authentication, message limits, ordered streaming with errors mid-stream, and stopping with a
// stream still open.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "fake_server.h"
#include "grpc_service.grpc.pb.h"
#include "serve/frontend.h"

namespace kiln::serve {
namespace {

using inference::GRPCInferenceService;

std::string rawFloats(std::vector<float> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}
std::vector<float> floatsOf(const std::string& raw) {
  std::vector<float> v(raw.size() / sizeof(float));
  std::memcpy(v.data(), raw.data(), v.size() * sizeof(float));
  return v;
}

inference::ModelInferRequest addOneRequest(const std::string& model, std::vector<float> x, const std::string& id = "") {
  inference::ModelInferRequest m;
  m.set_model_name(model);
  m.set_id(id);
  auto* in = m.add_inputs();
  in->set_name("INPUT0");
  in->set_datatype("FP32");
  in->add_shape(static_cast<int64_t>(x.size()));
  m.add_raw_input_contents(rawFloats(x));
  return m;
}

class GrpcFrontendTest : public ::testing::Test {
 protected:
  void start(FrontendOptions opts = {}) {
    opts.port = 0;
    auto fe = startGrpcFrontend(server_, opts);
    ASSERT_TRUE(fe.ok()) << fe.status().toString();
    frontend_ = std::move(fe).value();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(frontend_->port()),
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = GRPCInferenceService::NewStub(channel_);
  }
  void TearDown() override {
    if (frontend_) frontend_->stop();
    server_.drain();
  }

  testing::FakeServer server_;
  std::unique_ptr<Frontend> frontend_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
};

TEST_F(GrpcFrontendTest, HealthMetadataConfigStatisticsIndex) {
  inference::ModelConfig cfg;
  cfg.set_name("add_one");
  cfg.set_max_batch_size(8);
  server_.configBytes = cfg.SerializeAsString();
  start();
  {
    grpc::ClientContext c;
    inference::ServerLiveResponse r;
    ASSERT_TRUE(stub_->ServerLive(&c, {}, &r).ok());
    EXPECT_TRUE(r.live());
  }
  {
    grpc::ClientContext c;
    inference::ServerReadyResponse r;
    ASSERT_TRUE(stub_->ServerReady(&c, {}, &r).ok());
    EXPECT_TRUE(r.ready());
  }
  {
    grpc::ClientContext c;
    inference::ServerMetadataResponse r;
    ASSERT_TRUE(stub_->ServerMetadata(&c, {}, &r).ok());
    EXPECT_EQ(r.name(), "kiln");
    EXPECT_EQ(r.version(), "0.1.0-test");
    EXPECT_EQ(r.extensions_size(), 2);
  }
  {
    grpc::ClientContext c;
    inference::ModelReadyRequest q;
    q.set_name("nope");
    inference::ModelReadyResponse r;
    ASSERT_TRUE(stub_->ModelReady(&c, q, &r).ok());
    EXPECT_FALSE(r.ready());
  }
  {
    grpc::ClientContext c;
    inference::ModelMetadataRequest q;
    q.set_name("add_one");
    inference::ModelMetadataResponse r;
    ASSERT_TRUE(stub_->ModelMetadata(&c, q, &r).ok());
    EXPECT_EQ(r.platform(), "kiln_engine");
    ASSERT_EQ(r.inputs_size(), 1);
    EXPECT_EQ(r.inputs(0).shape(0), -1);
  }
  {
    grpc::ClientContext c;
    inference::ModelMetadataRequest q;
    q.set_name("nope");
    inference::ModelMetadataResponse r;
    grpc::Status s = stub_->ModelMetadata(&c, q, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(s.error_message().find("unknown model"), std::string::npos);
  }
  {
    grpc::ClientContext c;
    inference::ModelConfigRequest q;
    q.set_name("add_one");
    inference::ModelConfigResponse r;
    ASSERT_TRUE(stub_->ModelConfig(&c, q, &r).ok());
    EXPECT_EQ(r.config().name(), "add_one");
    EXPECT_EQ(r.config().max_batch_size(), 8);
  }
  {
    grpc::ClientContext c;
    inference::ModelStatisticsResponse r;
    ASSERT_TRUE(stub_->ModelStatistics(&c, {}, &r).ok());
    ASSERT_EQ(r.model_stats_size(), 1);
    EXPECT_EQ(r.model_stats(0).inference_count(), 7u);
    EXPECT_EQ(r.model_stats(0).inference_stats().success().ns(), 7000u);
    EXPECT_EQ(r.model_stats(0).batch_stats(0).compute_output().ns(), 30u);
  }
  {
    grpc::ClientContext c;
    inference::RepositoryIndexResponse r;
    ASSERT_TRUE(stub_->RepositoryIndex(&c, {}, &r).ok());
    EXPECT_EQ(r.models_size(), 2);
  }
  {
    grpc::ClientContext c;
    inference::CudaSharedMemoryStatusResponse r;
    grpc::Status s = stub_->CudaSharedMemoryStatus(&c, {}, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_NE(s.error_message().find("CUDA shared memory is not supported"), std::string::npos);
  }
}

TEST_F(GrpcFrontendTest, SystemSharedMemoryRpcs) {
  start();
  {
    grpc::ClientContext c;
    inference::SystemSharedMemoryRegisterRequest q;
    q.set_name("in0");
    q.set_key("/kiln_in0");
    q.set_offset(8);
    q.set_byte_size(64);
    inference::SystemSharedMemoryRegisterResponse r;
    ASSERT_TRUE(stub_->SystemSharedMemoryRegister(&c, q, &r).ok());
    grpc::ClientContext c2;
    grpc::Status s = stub_->SystemSharedMemoryRegister(&c2, q, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  }
  {
    grpc::ClientContext c;
    inference::SystemSharedMemoryStatusResponse r;
    ASSERT_TRUE(stub_->SystemSharedMemoryStatus(&c, {}, &r).ok());
    ASSERT_EQ(r.regions().count("in0"), 1u);
    const auto& s = r.regions().at("in0");
    EXPECT_EQ(s.name(), "in0");
    EXPECT_EQ(s.key(), "/kiln_in0");
    EXPECT_EQ(s.offset(), 8u);
    EXPECT_EQ(s.byte_size(), 64u);
  }
  {
    grpc::ClientContext c;
    inference::SystemSharedMemoryStatusRequest q;
    q.set_name("nope");
    inference::SystemSharedMemoryStatusResponse r;
    EXPECT_EQ(stub_->SystemSharedMemoryStatus(&c, q, &r).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext c;
    inference::SystemSharedMemoryUnregisterResponse r;
    ASSERT_TRUE(stub_->SystemSharedMemoryUnregister(&c, {}, &r).ok());
    grpc::ClientContext c2;
    inference::SystemSharedMemoryStatusResponse s;
    ASSERT_TRUE(stub_->SystemSharedMemoryStatus(&c2, {}, &s).ok());
    EXPECT_TRUE(s.regions().empty());
  }
}

TEST_F(GrpcFrontendTest, InferRawTypedAndOutputSubset) {
  start();
  {
    grpc::ClientContext c;
    auto q = addOneRequest("add_one", {1, 2, 3}, "abc");
    inference::ModelInferResponse r;
    grpc::Status s = stub_->ModelInfer(&c, q, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(r.id(), "abc");
    ASSERT_EQ(r.outputs_size(), 2);
    ASSERT_EQ(r.raw_output_contents_size(), 2);
    EXPECT_EQ(floatsOf(r.raw_output_contents(0)), (std::vector<float>{2, 3, 4}));
    EXPECT_EQ(floatsOf(r.raw_output_contents(1)), (std::vector<float>{2, 4, 6}));
    EXPECT_TRUE(r.parameters().at("fake").bool_param());
  }
  {
    grpc::ClientContext c;
    inference::ModelInferRequest q;
    q.set_model_name("add_one");
    auto* in = q.add_inputs();
    in->set_name("INPUT0");
    in->set_datatype("FP32");
    in->add_shape(2);
    in->mutable_contents()->add_fp32_contents(10);
    in->mutable_contents()->add_fp32_contents(20);
    q.add_outputs()->set_name("OUTPUT1");
    inference::ModelInferResponse r;
    ASSERT_TRUE(stub_->ModelInfer(&c, q, &r).ok());
    ASSERT_EQ(r.outputs_size(), 1);
    EXPECT_EQ(r.outputs(0).name(), "OUTPUT1");
    EXPECT_EQ(floatsOf(r.raw_output_contents(0)), (std::vector<float>{20, 40}));
  }
}

TEST_F(GrpcFrontendTest, ErrorCodesAndTheServerKeepsServing) {
  start();
  auto call = [&](const inference::ModelInferRequest& q) {
    grpc::ClientContext c;
    inference::ModelInferResponse r;
    return stub_->ModelInfer(&c, q, &r);
  };
  grpc::Status s = call(addOneRequest("missing", {1}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  s = call(addOneRequest("full", {1}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("queue is full"), std::string::npos);
  auto bad = addOneRequest("add_one", {1});
  bad.mutable_inputs(0)->set_datatype("FP99");
  s = call(bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("input 'INPUT0': unknown datatype 'FP99'"), std::string::npos);
  auto shortRaw = addOneRequest("add_one", {1, 2});
  shortRaw.mutable_inputs(0)->set_shape(0, 3);
  s = call(shortRaw);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("has 8 bytes but FP32 [3] needs 12"), std::string::npos) << s.error_message();
  EXPECT_TRUE(call(addOneRequest("add_one", {5})).ok());
}

TEST_F(GrpcFrontendTest, BearerToken) {
  FrontendOptions o;
  o.bearerToken = "s3cret";
  start(o);
  {
    grpc::ClientContext c;
    inference::ServerLiveResponse r;
    grpc::Status s = stub_->ServerLive(&c, {}, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_NE(s.error_message().find("missing"), std::string::npos);
  }
  {
    grpc::ClientContext c;
    c.AddMetadata("authorization", "Bearer wrong!");
    inference::ModelInferResponse r;
    grpc::Status s = stub_->ModelInfer(&c, addOneRequest("add_one", {1}), &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(server_.inferCalls.load(), 0);
  }
  {
    grpc::ClientContext c;
    c.AddMetadata("authorization", "Bearer s3cret");
    inference::ModelInferResponse r;
    EXPECT_TRUE(stub_->ModelInfer(&c, addOneRequest("add_one", {1}), &r).ok());
  }
  {
    grpc::ClientContext c;  // streams are checked too
    auto stream = stub_->ModelStreamInfer(&c);
    stream->WritesDone();
    inference::ModelStreamInferResponse r;
    EXPECT_FALSE(stream->Read(&r));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
}

TEST_F(GrpcFrontendTest, MessageSizeLimit) {
  FrontendOptions o;
  o.maxBodyBytes = 64 * 1024;
  start(o);
  grpc::ClientContext c;
  inference::ModelInferResponse r;
  grpc::Status s = stub_->ModelInfer(&c, addOneRequest("add_one", std::vector<float>(32 * 1024, 1.f)), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  grpc::ClientContext c2;
  EXPECT_TRUE(stub_->ModelInfer(&c2, addOneRequest("add_one", {1}), &r).ok());
}

// gRPC's default limit is 4 MiB per message; the frontend raises both directions to
// maxBodyBytes, so a 12 MiB tensor goes through and comes back.
TEST_F(GrpcFrontendTest, TensorsOverTheDefaultLimit) {
  start();
  const size_t n = 3 * 1024 * 1024;  // 12 MiB of FP32
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 1000);
  grpc::ClientContext c;
  inference::ModelInferResponse r;
  grpc::Status s = stub_->ModelInfer(&c, addOneRequest("add_one", x), &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(r.raw_output_contents_size(), 2);
  ASSERT_EQ(r.raw_output_contents(0).size(), n * sizeof(float));
  std::vector<float> y = floatsOf(r.raw_output_contents(0));
  EXPECT_EQ(y[0], 1.f);
  EXPECT_EQ(y[n - 1], x[n - 1] + 1);
}

// Many clients at once: every call gets exactly its own answer.
TEST_F(GrpcFrontendTest, ConcurrentCallsEachGetTheirOwnAnswer) {
  start();
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        grpc::ClientContext c;
        inference::ModelInferResponse r;
        const float v = static_cast<float>(t * 1000 + i);
        const char* model = i % 3 == 0 ? "delayed" : "add_one";
        grpc::Status s = stub_->ModelInfer(&c, addOneRequest(model, {v}, std::to_string(v)), &r);
        if (s.ok() && r.id() == std::to_string(v) && floatsOf(r.raw_output_contents(0))[0] == v + 1) ++good;
        else ++bad;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(good.load(), 400);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(server_.inferCalls.load(), 400);
}

TEST_F(GrpcFrontendTest, ModelControl) {
  start();
  {
    grpc::ClientContext c;
    inference::RepositoryModelLoadRequest q;
    q.set_model_name("add_one");
    inference::RepositoryModelLoadResponse r;
    grpc::Status s = stub_->RepositoryModelLoad(&c, q, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_NE(s.error_message().find("not allowed"), std::string::npos);
  }
  frontend_->stop();
  FrontendOptions o;
  o.allowModelControl = true;
  start(o);
  {
    grpc::ClientContext c;
    inference::RepositoryModelLoadRequest q;
    q.set_model_name("add_one");
    (*q.mutable_parameters())["config"].set_string_param("{\"max_batch_size\": 4}");
    inference::RepositoryModelLoadResponse r;
    ASSERT_TRUE(stub_->RepositoryModelLoad(&c, q, &r).ok());
    ASSERT_EQ(server_.loads.size(), 1u);
    EXPECT_EQ(server_.loads[0], "add_one|{\"max_batch_size\": 4}");
  }
  {
    grpc::ClientContext c;
    inference::RepositoryModelUnloadRequest q;
    q.set_model_name("ghost");
    inference::RepositoryModelUnloadResponse r;
    EXPECT_EQ(stub_->RepositoryModelUnload(&c, q, &r).error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

// Requests complete out of order ("delayed" answers later ones first); responses must come back
// in request order, an error mid-stream is a message (not the end of the stream), and the stream
// ends OK after the client half-closes.
TEST_F(GrpcFrontendTest, StreamInOrderWithErrors) {
  start();
  grpc::ClientContext c;
  auto stream = stub_->ModelStreamInfer(&c);
  const int n = 12;
  for (int i = 0; i < n; ++i) {
    inference::ModelInferRequest q = addOneRequest("delayed", {static_cast<float>(i)}, std::to_string(i));
    if (i == 4) q.set_model_name("missing");
    if (i == 7) q.mutable_inputs(0)->set_datatype("NOPE");
    ASSERT_TRUE(stream->Write(q));
  }
  stream->WritesDone();
  inference::ModelStreamInferResponse r;
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(stream->Read(&r)) << "response " << i;
    EXPECT_EQ(r.infer_response().id(), std::to_string(i));
    if (i == 4) {
      EXPECT_NE(r.error_message().find("unknown model"), std::string::npos) << r.error_message();
    } else if (i == 7) {
      EXPECT_NE(r.error_message().find("unknown datatype 'NOPE'"), std::string::npos) << r.error_message();
    } else {
      EXPECT_EQ(r.error_message(), "");
      EXPECT_EQ(floatsOf(r.infer_response().raw_output_contents(0))[0], i + 1.f);
    }
  }
  EXPECT_FALSE(stream->Read(&r));
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// More requests than a stream keeps pending (256): the stream stops reading until responses are
// written, and still answers every request once, in order.
TEST_F(GrpcFrontendTest, StreamBackpressureKeepsOrderAndCount) {
  start();
  grpc::ClientContext c;
  auto stream = stub_->ModelStreamInfer(&c);
  const int n = 700;
  std::thread writer([&] {
    for (int i = 0; i < n; ++i) {
      const char* model = i % 5 == 0 ? "delayed" : "add_one";
      ASSERT_TRUE(stream->Write(addOneRequest(model, {static_cast<float>(i % 10)}, std::to_string(i))));
    }
    stream->WritesDone();
  });
  inference::ModelStreamInferResponse r;
  int got = 0;
  while (stream->Read(&r)) {
    EXPECT_EQ(r.infer_response().id(), std::to_string(got));
    EXPECT_EQ(r.error_message(), "");
    ++got;
  }
  writer.join();
  EXPECT_EQ(got, n);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcFrontendTest, StopEndsOpenStreamsAfterAnsweringThem) {
  start();
  grpc::ClientContext c;
  auto stream = stub_->ModelStreamInfer(&c);
  ASSERT_TRUE(stream->Write(addOneRequest("delayed", {0}, "only")));
  inference::ModelStreamInferResponse r;
  ASSERT_TRUE(stream->Read(&r));  // answered; the client keeps the stream open
  EXPECT_EQ(r.infer_response().id(), "only");
  auto t0 = std::chrono::steady_clock::now();
  frontend_->stop();  // must not wait for the client to hang up
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_FALSE(stream->Read(&r));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// stop() returns at once; a call already in flight is still answered, a new one is refused.
TEST_F(GrpcFrontendTest, StopAnswersCallsInFlight) {
  start();
  grpc::ClientContext c;
  inference::ModelInferResponse r;
  grpc::Status s;
  // "delayed" answers INPUT0 = -90 after 300 ms.
  std::thread call([&] { s = stub_->ModelInfer(&c, addOneRequest("delayed", {-90}, "late"), &r); });
  while (server_.inferCalls.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto t0 = std::chrono::steady_clock::now();
  frontend_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
  grpc::ClientContext c2;
  inference::ModelInferResponse r2;
  // Refused by the frontend (UNAVAILABLE) or by gRPC's own shutdown (CANCELLED), depending on
  // which gets the call first.
  const grpc::StatusCode refused = stub_->ModelInfer(&c2, addOneRequest("add_one", {1}), &r2).error_code();
  EXPECT_TRUE(refused == grpc::StatusCode::UNAVAILABLE || refused == grpc::StatusCode::CANCELLED) << refused;
  EXPECT_EQ(server_.inferCalls.load(), 1);
  call.join();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.id(), "late");
  EXPECT_EQ(floatsOf(r.raw_output_contents(0))[0], -89.f);
}

TEST_F(GrpcFrontendTest, StreamClientCancels) {
  start();
  for (int k = 0; k < 5; ++k) {
    grpc::ClientContext c;
    auto stream = stub_->ModelStreamInfer(&c);
    for (int i = 0; i < 8; ++i) stream->Write(addOneRequest("delayed", {static_cast<float>(i)}));
    c.TryCancel();
    stream->Finish();
  }
  grpc::ClientContext c;  // still serving
  inference::ModelInferResponse r;
  EXPECT_TRUE(stub_->ModelInfer(&c, addOneRequest("add_one", {1}), &r).ok());
}

TEST_F(GrpcFrontendTest, BusyPortIsAnError) {
  start();
  FrontendOptions o;
  o.port = frontend_->port();
  auto second = startGrpcFrontend(server_, o);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on 127.0.0.1:" + std::to_string(o.port)), std::string::npos)
      << second.status().message();
}

}  // namespace
}  // namespace kiln::serve
