// Indices out of range found on the GPU (device_check.h): each indexing kernel (Gather,
// GatherElements, GatherND, ScatterND, ScatterElements, EmbedLayerNorm) fails the run with an
// error naming the layer, the input, the value and its position, as the CPU reference fails it;
// and a context keeps working after such a run, through eager runs and CUDA graph replays.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <random>
#include <string>

#include "data_test_util.h"
#include "gpu_test_util.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"

namespace kiln::testing {
namespace {

// data_test::spec with this file's argument order and opset.
OpSpec spec(const std::string& op, std::vector<Tensor> in, AttrMap a = {}, int opset = 18) {
  return data_test::spec(op, std::move(a), std::move(in), {}, 1, opset);
}

// The run fails, and the error says which op, which value at which position, and the range.
void expectRangeError(const OpSpec& s, const std::string& op, const std::string& valueAt, const std::string& range) {
  auto cpu = runOp(s);
  EXPECT_FALSE(cpu.ok()) << op << ": the CPU reference accepts it";
  auto r = runOpCuda(s);
  ASSERT_FALSE(r.ok()) << op << ": the GPU run succeeded";
  const std::string m = r.status().toString();
  EXPECT_NE(m.find("(" + op + ")"), std::string::npos) << m;
  EXPECT_NE(m.find(valueAt), std::string::npos) << m;
  EXPECT_NE(m.find(range), std::string::npos) << m;
  EXPECT_NE(m.find("found on the GPU"), std::string::npos) << m;
}

Tensor i64(std::vector<int64_t> v, Dims d) { return Tensor::fromVector<int64_t>(v, d); }

TEST(CudaDeviceCheck, IndexingOpsReportOutOfRangeIndices) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(41);
  const Tensor x = randomTensor(DType::kFloat32, {5, 6}, rng);
  AttrMap axis1;
  axis1.set("axis", AttrValue(int64_t{1}));
  // Gather: int64 past the end, int32 before the start (-7 < -6), axis 1.
  expectRangeError(spec("Gather", {x, i64({0, 4, 5, -5}, {2, 2})}), "Gather", "holds 5 at position 2", "[-5, 5)");
  expectRangeError(spec("Gather", {x, Tensor::fromVector<int32_t>({1, -7, 2}, {3})}, axis1), "Gather",
                   "holds -7 at position 1", "[-6, 6)");
  // GatherElements / ScatterElements (axis 1).
  expectRangeError(spec("GatherElements", {x, i64({0, 1, 2, 6, 0, 1}, {2, 3})}, axis1), "GatherElements",
                   "holds 6 at position 3", "[-6, 6)");
  expectRangeError(spec("ScatterElements", {x, i64({0, 9}, {1, 2}), randomTensor(DType::kFloat32, {1, 2}, rng)}, axis1),
                   "ScatterElements", "holds 9 at position 1", "[-6, 6)");
  // GatherND / ScatterND: tuples (row, col); the second tuple's column is out of range.
  expectRangeError(spec("GatherND", {x, i64({1, 2, 3, 8}, {2, 2})}), "GatherND", "holds 8 at position 3", "[-6, 6)");
  expectRangeError(spec("ScatterND", {x, i64({4, 0, -6, 1}, {2, 2}), randomTensor(DType::kFloat32, {2}, rng)}),
                   "ScatterND", "holds -6 at position 2", "[-5, 5)");
  // EmbedLayerNorm: the second table's ids (input 4).
  OpSpec e = spec("EmbedLayerNorm",
                  {i64({1, 2, 3}, {1, 3}), randomTensor(DType::kFloat32, {4, 8}, rng), randomTensor(DType::kFloat32, {8}, rng),
                   Tensor(), i64({0, 2, 1}, {1, 3}), randomTensor(DType::kFloat32, {2, 8}, rng)},
                  {}, 1);
  e.domain = "kiln";
  expectRangeError(e, "EmbedLayerNorm", "input 4", "holds 2 at position 1");
}

// A CUDA engine of y = Gather(table, idx), idx int64 [4], and one execution context of it.
struct GatherEngine {
  std::shared_ptr<Engine> engine;
  std::unique_ptr<ExecutionContext> ctx;
};
Result<GatherEngine> gatherEngine(const Tensor& table) {
  ModelBuilder mb(17);
  mb.input("idx", {"4"}, ::onnx::TensorProto::INT64);
  mb.initializer("table", table);
  mb.node("Gather", {"table", "idx"}, {"y"});
  mb.output("y");
  BuildConfig cfg;
  cfg.target = Target::kCUDA;
  KILN_ASSIGN_OR_RETURN(auto bytes, buildEngineFromBytes(mb.bytes(), "", "gather", cfg));
  GatherEngine g;
  KILN_ASSIGN_OR_RETURN(g.engine, Engine::loadBytes(std::move(bytes), "gather engine"));
  KILN_ASSIGN_OR_RETURN(g.ctx, g.engine->createExecutionContext());
  return g;
}

// One context: a bad run fails, a good run after it is right (eager, then captured into a CUDA
// graph), and a bad run replayed from the graph fails again.
TEST(CudaDeviceCheck, ContextRecoversAcrossEagerAndGraphRuns) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(42);
  const Tensor table = randomTensor(DType::kFloat32, {10, 3}, rng);
  auto g = gatherEngine(table);
  ASSERT_TRUE(g.ok()) << g.status().toString();
  ExecutionContext* ctx = g->ctx.get();
  const Tensor good = i64({9, 0, -1, 3}, {4}), bad = i64({9, 10, 0, 1}, {4});
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<ExecutionContext::Named> out;
    Status st = ctx->run({{"idx", bad}}, &out);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.toString().find("holds 10 at position 1, out of range [-10, 10)"), std::string::npos) << st.toString();
    for (int rep = 0; rep < 2; ++rep) {  // the second replays the captured graph
      out.clear();
      st = ctx->run({{"idx", good}}, &out);
      ASSERT_TRUE(st.ok()) << st.toString();
      ASSERT_EQ(out.size(), 1u);
      const float* y = out[0].tensor.data<float>();
      const int64_t rows[4] = {9, 0, 9, 3};
      for (int i = 0; i < 4; ++i)
        for (int k = 0; k < 3; ++k) EXPECT_EQ(y[i * 3 + k], table.data<float>()[rows[i] * 3 + k]);
    }
  }
}

// A run queued without a synchronization (enqueue on a Stream) that meets a bad index: the
// stream's synchronize() does not see it, the context's next run reports it as an earlier run's,
// and the run after that is clean.
TEST(CudaDeviceCheck, QueuedRunsReportAtTheNextLaunch) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(43);
  auto g = gatherEngine(randomTensor(DType::kFloat32, {10, 3}, rng));
  ASSERT_TRUE(g.ok()) << g.status().toString();
  ExecutionContext* ctx = g->ctx.get();
  const int64_t bad[4] = {0, 1, 12, 3};
  void *dIdx = nullptr, *dY = nullptr;
  ASSERT_EQ(cudaMalloc(&dIdx, sizeof bad), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dY, 4 * 3 * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dIdx, bad, sizeof bad, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_TRUE(ctx->setInputShape("idx", Dims{4}).ok());
  ASSERT_TRUE(ctx->setTensorAddress("idx", dIdx).ok());
  ASSERT_TRUE(ctx->setTensorAddress("y", dY).ok());
  Stream stream;
  ASSERT_TRUE(ctx->enqueue(stream).ok());
  EXPECT_TRUE(stream.synchronize().ok());
  std::vector<ExecutionContext::Named> out;
  Status st = ctx->run({{"idx", i64({1, 2, 3, 4}, {4})}}, &out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.toString().find("holds 12 at position 2"), std::string::npos) << st.toString();
  EXPECT_NE(st.toString().find("earlier run"), std::string::npos) << st.toString();
  out.clear();
  st = ctx->run({{"idx", i64({1, 2, 3, 4}, {4})}}, &out);
  EXPECT_TRUE(st.ok()) << st.toString();
  cudaFree(dIdx);
  cudaFree(dY);
}

}  // namespace
}  // namespace kiln::testing
