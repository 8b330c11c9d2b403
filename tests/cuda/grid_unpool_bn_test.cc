// AffineGrid, MaxUnpool, TopK of unsigned types, BatchNormalization in training mode and the
// Optional ops on plain tensors on CUDA, against the CPU reference (host inputs as constants, as
// an engine takes them).
#include "eltwise_test_util.h"

namespace kiln::testing {
namespace {

using eltwise_test::rnd;

OpSpec opSpec(const std::string& op, std::vector<Tensor> in, AttrMap a = {}, std::vector<bool> consts = {},
              int outputs = 1, int opset = 21) {
  OpSpec s;
  s.op = op;
  s.inputs = std::move(in);
  s.attrs = std::move(a);
  s.constInputs = std::move(consts);
  s.numOutputs = outputs;
  s.opset = opset;
  return s;
}

TEST(CudaAffineGrid, TwoAndThreeDimensions) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(31);
  for (int64_t align : {0, 1}) {
    AttrMap a;
    a.set("align_corners", AttrValue(align));
    expectGpuMatchesCpu(opSpec("AffineGrid", {rnd(DType::kFloat32, Dims{3, 2, 3}, rng, -2, 2),
                                              Tensor::fromVector<int64_t>({3, 5, 7, 9}, Dims{4})},
                               a, {false, true}, 1, 20),
                        1e-6);
    expectGpuMatchesCpu(opSpec("AffineGrid", {rnd(DType::kFloat32, Dims{2, 3, 4}, rng, -2, 2),
                                              Tensor::fromVector<int64_t>({2, 1, 3, 1, 5}, Dims{5})},
                               a, {false, true}, 1, 20),
                        1e-6);
    expectGpuMatchesCpu(opSpec("AffineGrid", {rnd(DType::kFloat16, Dims{1, 2, 3}, rng, -2, 2),
                                              Tensor::fromVector<int64_t>({1, 2, 6, 11}, Dims{4})},
                               a, {false, true}, 1, 20),
                        2e-3);
  }
}

TEST(CudaMaxUnpool, FromMaxPoolIndices) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(32);
  // Unique indices inside each [N, C] plane of the unpooled 2-D shape (as MaxPool produces them).
  const Dims xd{2, 3, 3, 4};
  const int64_t plane = 6 * 8;  // (3-1)*2+2 by (4-1)*2+2 with kernel 2, stride 2
  std::vector<int64_t> idx;
  for (int64_t p = 0; p < 6; ++p) {
    std::vector<int64_t> cells(plane);
    for (int64_t i = 0; i < plane; ++i) cells[i] = p * plane + i;
    std::shuffle(cells.begin(), cells.end(), rng);
    idx.insert(idx.end(), cells.begin(), cells.begin() + 12);
  }
  AttrMap a;
  a.set("kernel_shape", AttrValue(std::vector<int64_t>{2, 2}));
  a.set("strides", AttrValue(std::vector<int64_t>{2, 2}));
  const Tensor x = rnd(DType::kFloat32, xd, rng, -3, 3);
  const Tensor ind = Tensor::fromVector<int64_t>(idx, xd);
  expectGpuMatchesCpu(opSpec("MaxUnpool", {x, ind}, a), 0);
  expectGpuMatchesCpu(opSpec("MaxUnpool", {x, ind, Tensor::fromVector<int64_t>({2, 3, 7, 9}, Dims{4})}, a,
                             {false, false, true}),
                      0);
}

TEST(CudaTopK, UnsignedTypes) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(33);
  for (DType t : {DType::kUInt64, DType::kUInt32})
    for (int64_t largest : {0, 1}) {
      AttrMap a;
      a.set("largest", AttrValue(largest));
      expectGpuMatchesCpu(opSpec("TopK", {rnd(t, Dims{3, 37}, rng, 0, 1000), Tensor::fromVector<int64_t>({5}, Dims{1})},
                                 a, {false, true}, 2),
                          0);
    }
}

TEST(CudaBatchNorm, TrainingModeWithRunningStatistics) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(34);
  for (DType t : {DType::kFloat32, DType::kFloat16}) {
    const int64_t c = 5;
    AttrMap a;
    a.set("training_mode", AttrValue(int64_t{1}));
    a.set("momentum", AttrValue(0.7f));
    a.set("epsilon", AttrValue(1e-3f));
    auto param = [&](double lo, double hi) { return rnd(DType::kFloat32, Dims{c}, rng, lo, hi); };
    OpSpec s = opSpec("BatchNormalization",
                      {rnd(t, Dims{3, c, 7, 9}, rng, -2, 3), eltwise_test::castTo(param(0.5, 2), t),
                       eltwise_test::castTo(param(-1, 1), t), param(-1, 1), param(0.5, 2)},
                      a, {}, 3, 15);
    expectGpuMatchesCpu(s, t == DType::kFloat16 ? 2e-3 : 1e-5);
    s.numOutputs = 1;
    expectGpuMatchesCpu(s, t == DType::kFloat16 ? 2e-3 : 1e-5);
  }
}

// Engines hold tensors only: OptionalGetElement of a tensor is a copy, OptionalHasElement of a
// tensor is true (of no input: false, which the conformance tests cover).
TEST(CudaOptional, OnPlainTensors) {
  KILN_REQUIRE_GPU();
  std::mt19937 rng(35);
  const Tensor x = rnd(DType::kFloat32, Dims{3, 7}, rng, -2, 2);
  expectGpuMatchesCpu(opSpec("OptionalGetElement", {x}, {}, {}, 1, 18), 0);
  expectGpuMatchesCpu(opSpec("OptionalHasElement", {x}, {}, {}, 1, 18), 0);
}

}  // namespace
}  // namespace kiln::testing
