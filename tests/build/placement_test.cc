// Host/device placement of CUDA plans (build/placement.h) on hand-made plans, so it is covered on
// machines without a GPU too (tests/cuda/engine_test.cc runs the same cases end to end): small
// model inputs read on the host become host inputs, uploaded where a device layer also reads them
// as data; a larger one, or a host read of device-computed data, is refused naming it; host
// inputs get a place in the host arena.
#include <gtest/gtest.h>

#include "build/placement.h"

namespace kiln::build {
namespace {

// A plan under construction: tensors by name, layers in order.
struct PlanMaker {
  plan::Plan p;
  int tensor(const std::string& name, DType t, std::vector<int64_t> dims, plan::TensorKind kind) {
    plan::TensorInfo info;
    info.name = name;
    info.dtype = t;
    info.kind = kind;
    for (int64_t d : dims) info.dims.push_back(plan::DimRef{d, -1});
    info.maxBytes = dtypeSize(t);
    for (int64_t d : dims) info.maxBytes *= static_cast<uint64_t>(d);
    if (kind == plan::TensorKind::kInput) {
      info.ioIndex = static_cast<int32_t>(p.inputs.size());
      p.inputs.push_back(static_cast<int32_t>(p.tensors.size()));
    } else if (kind == plan::TensorKind::kOutput) {
      info.ioIndex = static_cast<int32_t>(p.outputs.size());
      p.outputs.push_back(static_cast<int32_t>(p.tensors.size()));
    }
    p.tensors.push_back(std::move(info));
    return static_cast<int>(p.tensors.size() - 1);
  }
  void layer(const std::string& op, std::vector<int32_t> ins, std::vector<int32_t> outs) {
    plan::LayerInfo l;
    l.name = op + "_" + std::to_string(p.layers.size());
    l.op = op;
    l.inputs = std::move(ins);
    l.outputs = std::move(outs);
    p.layers.push_back(std::move(l));
  }
  const plan::LayerInfo* find(const std::string& op) const {
    for (const auto& l : p.layers)
      if (l.op == op) return &l;
    return nullptr;
  }
};

using plan::Placement;
using plan::TensorKind;

TEST(CudaPlacement, TopKReadsKFromAHostInput) {
  PlanMaker m;
  int x = m.tensor("x", DType::kFloat32, {4, 37}, TensorKind::kInput);
  int k = m.tensor("k", DType::kInt64, {1}, TensorKind::kInput);
  int v = m.tensor("values", DType::kFloat32, {4, 37}, TensorKind::kOutput);
  int i = m.tensor("indices", DType::kInt64, {4, 37}, TensorKind::kOutput);
  m.layer("TopK", {x, k}, {v, i});
  auto hostLayers = placeForCuda(m.p);
  ASSERT_TRUE(hostLayers.ok()) << hostLayers.status().toString();
  EXPECT_EQ(*hostLayers, 0);
  EXPECT_EQ(m.p.tensors[k].placement, Placement::kHost);
  EXPECT_EQ(m.p.tensors[x].placement, Placement::kTarget);
  ASSERT_EQ(m.p.layers.size(), 1u);  // K is read in a host slot: no upload
  EXPECT_EQ(m.p.layers[0].placement, Placement::kTarget);
  planHostArena(m.p);
  EXPECT_EQ(m.p.memory.hostArenaBytes, 64u);  // the host input's pinned copy
}

// k -> Add(k, 1) on the host -> Trilu's k; k also -> Cast on the GPU (through an upload).
TEST(CudaPlacement, HostInputComputedWithOnHostAndUploadedForDeviceData) {
  PlanMaker m;
  int x = m.tensor("x", DType::kFloat32, {4, 6}, TensorKind::kInput);
  int k = m.tensor("k", DType::kInt64, {}, TensorKind::kInput);
  int one = m.tensor("one", DType::kInt64, {}, TensorKind::kConstant);
  m.p.tensors[one].constant = Tensor::fromVector<int64_t>({1}, Dims{});
  int k1 = m.tensor("k1", DType::kInt64, {}, TensorKind::kIntermediate);
  int y = m.tensor("y", DType::kFloat32, {4, 6}, TensorKind::kIntermediate);
  int kf = m.tensor("kf", DType::kFloat32, {}, TensorKind::kIntermediate);
  int z = m.tensor("z", DType::kFloat32, {4, 6}, TensorKind::kOutput);
  m.layer("Add", {k, one}, {k1});
  m.layer("Trilu", {x, k1}, {y});
  m.layer("Cast", {k}, {kf});
  m.layer("Mul", {y, kf}, {z});
  auto hostLayers = placeForCuda(m.p);
  ASSERT_TRUE(hostLayers.ok()) << hostLayers.status().toString();
  EXPECT_EQ(*hostLayers, 1);
  EXPECT_EQ(m.find("Add")->placement, Placement::kHost);
  EXPECT_EQ(m.find("Trilu")->placement, Placement::kTarget);
  EXPECT_EQ(m.p.tensors[k].placement, Placement::kHost);
  const plan::LayerInfo* up = m.find("HostToDevice");
  ASSERT_NE(up, nullptr);
  ASSERT_EQ(up->inputs.size(), 1u);
  EXPECT_EQ(up->inputs[0], k);
  const plan::TensorInfo& copy = m.p.tensors[up->outputs[0]];
  EXPECT_EQ(copy.kind, TensorKind::kIntermediate);
  EXPECT_EQ(copy.ioIndex, -1);  // the device copy is not an engine input
  EXPECT_EQ(copy.placement, Placement::kTarget);
  EXPECT_EQ(m.find("Cast")->inputs[0], up->outputs[0]);
  // The upload runs before its reader.
  size_t upAt = 0, castAt = 0;
  for (size_t l = 0; l < m.p.layers.size(); ++l) {
    if (m.p.layers[l].op == "HostToDevice") upAt = l;
    if (m.p.layers[l].op == "Cast") castAt = l;
  }
  EXPECT_LT(upAt, castAt);
}

TEST(CudaPlacement, LargeOrHighRankInputsReadOnTheHostAreRefused) {
  for (std::vector<int64_t> dims : {std::vector<int64_t>{1, 1}, std::vector<int64_t>{65}}) {
    PlanMaker m;
    int x = m.tensor("x", DType::kFloat32, {6}, TensorKind::kInput);
    int pads = m.tensor("pads", DType::kInt64, {2}, TensorKind::kConstant);
    m.p.tensors[pads].constant = Tensor::fromVector<int64_t>({1, 2}, Dims{2});
    int value = m.tensor("value", DType::kFloat32, dims, TensorKind::kInput);
    int y = m.tensor("y", DType::kFloat32, {9}, TensorKind::kOutput);
    m.layer("Pad", {x, pads, value}, {y});
    auto r = placeForCuda(m.p);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(r.status().message().find("model input 'value'"), std::string::npos) << r.status().toString();
    EXPECT_NE(r.status().message().find("at most 64 values"), std::string::npos) << r.status().toString();
  }
}

TEST(CudaPlacement, HostReadOfDeviceComputedDataIsRefused) {
  // K computed on the GPU from tensor data (ReduceMax of a [4, 37] input): not shape arithmetic.
  PlanMaker m;
  int x = m.tensor("x", DType::kFloat32, {4, 37}, TensorKind::kInput);
  int big = m.tensor("big", DType::kInt64, {4, 37}, TensorKind::kInput);
  int kr = m.tensor("kr", DType::kInt64, {1}, TensorKind::kIntermediate);
  int v = m.tensor("values", DType::kFloat32, {4, 37}, TensorKind::kOutput);
  int i = m.tensor("indices", DType::kInt64, {4, 37}, TensorKind::kOutput);
  int s = m.tensor("s", DType::kInt64, {4, 37}, TensorKind::kOutput);
  m.layer("Neg", {big}, {s});           // big is device data
  m.layer("ReduceMax", {big}, {kr});    // ... and would be read on the host here
  m.layer("TopK", {x, kr}, {v, i});
  auto r = placeForCuda(m.p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model input 'big'"), std::string::npos) << r.status().toString();
}

}  // namespace
}  // namespace kiln::build
