// Data movement GPU kernels, generators and masks: Trilu, EyeLike, OneHot, ConstantOfShape,
// Range, ReverseSequence; plus empty tensors through the layout kernels.
#include <gtest/gtest.h>

#include "data_test_util.h"

namespace kiln::testing {
namespace {

using namespace data_test;

TEST(DataTrilu, UpperLowerAndK) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {3, 7, 9}, 1);
  for (int64_t upper : {0, 1})
    for (int64_t k : {-100, -3, -1, 0, 2, 8, 100}) {
      expectExact(spec("Trilu", attrs({{"upper", upper}}), {x, Tensor::scalar<int64_t>(k)}, {false, true}));
    }
  expectExact(spec("Trilu", {}, {rnd(DType::kInt64, {5, 4}, 2)}));
  expectExact(spec("Trilu", attrs({{"upper", int64_t{0}}}), {rnd(DType::kFloat16, {2, 2, 33, 17}, 3)}));
  expectExact(spec("Trilu", {}, {rnd(DType::kBool, {6, 6}, 4)}));
}

TEST(DataEyeLike, TypesAndOffsets) {
  KILN_REQUIRE_GPU();
  for (int64_t k : {-2, 0, 3, 10})
    expectExact(spec("EyeLike", attrs({{"k", k}}), {rnd(DType::kFloat32, {5, 7}, 1)}));
  expectExact(spec("EyeLike", attrs({{"dtype", int64_t(static_cast<int>(DType::kFloat16))}}), {rnd(DType::kInt32, {4, 4}, 2)}));
  expectExact(spec("EyeLike", attrs({{"dtype", int64_t(static_cast<int>(DType::kInt64))}, {"k", int64_t{-1}}}), {rnd(DType::kFloat32, {6, 3}, 3)}));
  expectExact(spec("EyeLike", {}, {rnd(DType::kBool, {3, 3}, 4)}));
}

TEST(DataOneHot, AxesAndIndexTypes) {
  KILN_REQUIRE_GPU();
  Tensor idx = Tensor::fromVector<int64_t>({0, 3, -1, 9, -10, 2, 5, 1}, Dims{2, 4});  // 9, -10 out of range
  Tensor depth = Tensor::scalar<int64_t>(6);
  Tensor vals = Tensor::fromVector<float>({-1.5f, 2.0f}, Dims{2});
  for (int64_t axis : {-1, 0, 1, 2})
    expectExact(spec("OneHot", attrs({{"axis", axis}}), {idx, depth, vals}, {false, true, true}));
  Tensor fidx = Tensor::fromVector<float>({0.7f, 3.2f, -1.5f, 100.0f, 2.0f}, Dims{5});
  expectExact(spec("OneHot", {}, {fidx, depth, Tensor::fromVector<int32_t>({0, 7}, Dims{2})}, {false, true, true}));
  Tensor i32 = Tensor::fromVector<int32_t>({4, 0, -2}, Dims{3});
  expectExact(spec("OneHot", attrs({{"axis", int64_t{0}}}), {i32, depth, Tensor::fromVector<int64_t>({3, 9}, Dims{2})},
                   {false, true, true}));
}

TEST(DataConstantOfShape, ValuesAndTypes) {
  KILN_REQUIRE_GPU();
  expectExact(spec("ConstantOfShape", {}, {i64({3, 5})}, {true}));
  expectExact(spec("ConstantOfShape", attrs({{"value", Tensor::fromVector<float>({1.25f}, Dims{1})}}), {i64({7, 3, 2})}, {true}));
  expectExact(spec("ConstantOfShape", attrs({{"value", Tensor::fromVector<int64_t>({-3}, Dims{1})}}), {i64({257})}, {true}));
  expectExact(spec("ConstantOfShape", attrs({{"value", Tensor::fromVector<int32_t>({0x01010101}, Dims{1})}}), {i64({33})}, {true}));
  expectExact(spec("ConstantOfShape", attrs({{"value", Tensor::fromVector<Float16>({Float16(0.5f)}, Dims{1})}}), {i64({4, 9})}, {true}));
  expectExact(spec("ConstantOfShape", attrs({{"value", Tensor::fromVector<bool>({true}, Dims{1})}}), {i64({5})}, {true}));
}

TEST(DataRange, FloatAndIntegerTypes) {
  KILN_REQUIRE_GPU();
  expectExact(spec("Range", {}, {Tensor::scalar<float>(0.5f), Tensor::scalar<float>(100.3f), Tensor::scalar<float>(0.7f)},
                   {true, true, true}));
  expectExact(spec("Range", {}, {Tensor::scalar<double>(-3.0), Tensor::scalar<double>(3.0), Tensor::scalar<double>(0.1)},
                   {true, true, true}));
  expectExact(spec("Range", {}, {Tensor::scalar<int64_t>(10), Tensor::scalar<int64_t>(-1000), Tensor::scalar<int64_t>(-7)},
                   {true, true, true}));
  expectExact(spec("Range", {}, {Tensor::scalar<int32_t>(0), Tensor::scalar<int32_t>(257), Tensor::scalar<int32_t>(1)},
                   {true, true, true}));
  expectExact(spec("Range", {}, {Tensor::scalar<int16_t>(5), Tensor::scalar<int16_t>(50), Tensor::scalar<int16_t>(3)},
                   {true, true, true}));
  expectExact(spec("Range", {}, {Tensor::scalar<Float16>(Float16(1.0f)), Tensor::scalar<Float16>(Float16(30.0f)),
                                 Tensor::scalar<Float16>(Float16(0.25f))},
                   {true, true, true}));
}

TEST(DataReverseSequence, BatchAndTimeAxes) {
  KILN_REQUIRE_GPU();
  expectExact(spec("ReverseSequence", attrs({{"batch_axis", int64_t{1}}, {"time_axis", int64_t{0}}}),
                   {rnd(DType::kFloat32, {6, 4, 5}, 1), i64({6, 0, 3, 1})}));
  expectExact(spec("ReverseSequence", attrs({{"batch_axis", int64_t{0}}, {"time_axis", int64_t{1}}}),
                   {rnd(DType::kInt8, {3, 7, 2, 3}, 2), i64({7, 2, 5})}));
  expectExact(spec("ReverseSequence", attrs({{"batch_axis", int64_t{0}}, {"time_axis", int64_t{1}}}),
                   {rnd(DType::kFloat16, {2, 9}, 3), i64({4, 9})}));
}

// Zero-sized tensors: the kernels launch nothing and the engine still runs.
TEST(DataEmptyTensors, LayoutOps) {
  KILN_REQUIRE_GPU();
  expectExact(spec("Concat", attrs({{"axis", int64_t{1}}}), {rnd(DType::kFloat32, {3, 0, 2}, 9), rnd(DType::kFloat32, {3, 4, 2}, 10)}));
  expectExact(spec("Tile", {}, {rnd(DType::kFloat32, {2, 3}, 5), i64({0, 2})}, {false, true}));
  expectExact(spec("Transpose", {}, {rnd(DType::kFloat32, {0, 3}, 6)}));
  const Tensor x = rnd(DType::kFloat32, {7, 5}, 7);
  expectExact(spec("Slice", {}, {x, i64({5}), i64({2}), i64({0})}, {false, true, true, true}));
}

TEST(DataMiscSupports, Types) {
  Desc rs("Range", {}, {DType::kUInt8, DType::kUInt8, DType::kUInt8}, {DType::kUInt8});
  EXPECT_FALSE(supports("cuda_data_range", rs.d));
  Desc rf("Range", {}, {DType::kFloat32, DType::kFloat32, DType::kFloat32}, {DType::kFloat32});
  EXPECT_TRUE(supports("cuda_data_range", rf.d));
  Desc cs("ConstantOfShape", {}, {DType::kInt64}, {DType::kString});
  EXPECT_FALSE(supports("cuda_data_constant_of_shape", cs.d));
  Desc oh("OneHot", {}, {DType::kBool, DType::kInt64, DType::kFloat32}, {DType::kFloat32});
  EXPECT_FALSE(supports("cuda_data_one_hot", oh.d));
}

}  // namespace
}  // namespace kiln::testing
