// Data movement GPU kernels, padding and resizing part: Pad (every mode, negative pads, axes,
// constant values of every type), CenterCropPad, Resize (nearest with every coordinate transform
// and nearest mode, linear, cubic, exclude_outside, tf_crop_and_resize, axes,
// keep_aspect_ratio_policy) and Upsample. Nearest results must match exactly; linear/cubic
// accumulate in double in the CPU's order, so they match to rounding of the last bit at most.
#include <gtest/gtest.h>

#include "data_test_util.h"

namespace kiln::testing {
namespace {

using namespace data_test;

Tensor f32(const std::vector<float>& v) { return Tensor::fromVector<float>(v, Dims{static_cast<int64_t>(v.size())}); }

// ---- Pad --------------------------------------------------------------------------------------------

TEST(DataPad, ModesOnNchw) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {2, 3, 7, 9}, 1);
  const Tensor pads = i64({0, 0, 1, 2, 0, 0, 3, 1});
  for (const char* mode : {"constant", "edge", "reflect", "wrap"})
    expectExact(spec("Pad", attrs({{"mode", mode}}), {x, pads}, {false, true}));
  // Pads larger than the axis (reflect/wrap go around several times).
  const Tensor big = i64({0, 0, 9, 20, 0, 0, 10, 11});
  for (const char* mode : {"edge", "reflect", "wrap"})
    expectExact(spec("Pad", attrs({{"mode", mode}}), {x, big}, {false, true}));
}

TEST(DataPad, ConstantValueTypesNegativePadsAndAxes) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 10;
  for (DType t : movableTypes()) {
    Tensor v = rnd(t, Dims{}, seed++);
    expectExact(spec("Pad", attrs({{"mode", "constant"}}), {rnd(t, {3, 5, 4}, seed++), i64({1, 0, 2, 0, 3, 1}), v},
                     {false, true, true}));
  }
  // Negative pads crop.
  expectExact(spec("Pad", attrs({{"mode", "constant"}}), {rnd(DType::kFloat32, {4, 9}, 1), i64({-1, 2, 1, -3})}, {false, true}));
  expectExact(spec("Pad", attrs({{"mode", "reflect"}}), {rnd(DType::kFloat16, {4, 9}, 2), i64({-1, 2, 1, -3})}, {false, true}));
  // axes (negative), opset 18+.
  expectExact(spec("Pad", attrs({{"mode", "edge"}}), {rnd(DType::kFloat32, {2, 3, 6, 5}, 3), i64({2, 1, 0, 3}), Tensor(), i64({-1, 2})},
                   {false, true, false, true}));
  // Large unpadded inner axis: merged with its neighbour in constant mode.
  expectExact(spec("Pad", attrs({{"mode", "constant"}}), {rnd(DType::kFloat32, {2, 5, 1000}, 4), i64({0, 2, 0, 0, 1, 0})}, {false, true}));
}

TEST(DataCenterCropPad, CropAndPad) {
  KILN_REQUIRE_GPU();
  expectExact(spec("CenterCropPad", {}, {rnd(DType::kFloat32, {7, 10, 3}, 1), i64({4, 13, 3})}, {false, true}));
  expectExact(spec("CenterCropPad", attrs({{"axes", Ints{0, -2}}}), {rnd(DType::kUInt8, {9, 6, 2}, 2), i64({12, 3})}, {false, true}));
}

// ---- Resize ---------------------------------------------------------------------------------------

OpSpec resizeScales(const Tensor& x, const std::vector<float>& scales, AttrMap a) {
  return spec("Resize", std::move(a), {x, Tensor(), f32(scales)}, {false, true, true});
}
OpSpec resizeSizes(const Tensor& x, const Ints& sizes, AttrMap a) {
  return spec("Resize", std::move(a), {x, Tensor(), Tensor(), i64(sizes)}, {false, true, true, true});
}

TEST(DataResize, NearestEveryCoordinateAndNearestMode) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {2, 3, 7, 9}, 1);
  for (const char* coord : {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"})
    for (const char* nm : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
      AttrMap a = attrs({{"mode", "nearest"}, {"coordinate_transformation_mode", coord}, {"nearest_mode", nm}});
      expectExact(resizeScales(x, {1, 1, 2.0f, 1.5f}, a));     // upsample
      expectExact(resizeScales(x, {1, 1, 0.6f, 0.45f}, a));    // downsample
      expectExact(resizeSizes(x, {2, 3, 5, 17}, a));           // sizes, mixed
    }
}

TEST(DataResize, NearestTypesAndExcludeOutside) {
  KILN_REQUIRE_GPU();
  uint32_t seed = 20;
  for (DType t : movableTypes())
    expectExact(resizeScales(rnd(t, {1, 2, 5, 6}, seed++), {1, 1, 2, 3}, attrs({{"mode", "nearest"}})));
  expectExact(resizeScales(rnd(DType::kFloat32, {1, 1, 6, 6}, 1), {1, 1, 0.5f, 0.7f},
                           attrs({{"mode", "nearest"}, {"exclude_outside", int64_t{1}}})));
}

TEST(DataResize, LinearModes) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {2, 3, 9, 7}, 1);
  for (const char* coord : {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"}) {
    AttrMap a = attrs({{"mode", "linear"}, {"coordinate_transformation_mode", coord}});
    expectGpuMatchesCpu(resizeScales(x, {1, 1, 2.0f, 2.0f}, a), 1e-6);
    expectGpuMatchesCpu(resizeScales(x, {1, 1, 0.5f, 0.8f}, a), 1e-6);
    expectGpuMatchesCpu(resizeSizes(x, {2, 3, 1, 13}, a), 1e-6);  // an output extent of 1
  }
  // Integer images: results are rounded from the same double sums.
  expectExact(resizeScales(rnd(DType::kUInt8, {1, 3, 8, 8}, 2), {1, 1, 1.75f, 1.75f}, attrs({{"mode", "linear"}})));
  // 16-bit floats.
  expectGpuMatchesCpu(resizeScales(rnd(DType::kFloat16, {1, 4, 6, 5}, 3), {1, 1, 2, 2}, attrs({{"mode", "linear"}})), 1e-3);
  expectGpuMatchesCpu(resizeScales(rnd(DType::kBFloat16, {1, 4, 6, 5}, 4), {1, 1, 3, 0.5f}, attrs({{"mode", "linear"}})), 1e-2);
  // 1-D and 3-D (trilinear) resizes.
  expectGpuMatchesCpu(resizeScales(rnd(DType::kFloat32, {10}, 5), {2.5f}, attrs({{"mode", "linear"}})), 1e-6);
  expectGpuMatchesCpu(resizeScales(rnd(DType::kFloat32, {1, 2, 4, 5, 6}, 6), {1, 1, 2, 1.5f, 0.5f}, attrs({{"mode", "linear"}})), 1e-6);
}

TEST(DataResize, CubicAndExcludeOutside) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {1, 2, 8, 9}, 1);
  for (int64_t ex : {0, 1})
    for (float A : {-0.75f, -0.5f}) {
      AttrMap a = attrs({{"mode", "cubic"}, {"cubic_coeff_a", A}, {"exclude_outside", ex}});
      expectGpuMatchesCpu(resizeScales(x, {1, 1, 2.0f, 1.7f}, a), 1e-6);
      expectGpuMatchesCpu(resizeScales(x, {1, 1, 0.5f, 0.6f}, a), 1e-6);
    }
  expectGpuMatchesCpu(resizeScales(x, {1, 1, 2, 2},
                                   attrs({{"mode", "cubic"}, {"coordinate_transformation_mode", "align_corners"}})), 1e-6);
  expectGpuMatchesCpu(resizeScales(rnd(DType::kFloat16, {1, 3, 5, 5}, 2), {1, 1, 2, 2}, attrs({{"mode", "cubic"}})), 1e-3);
}

// Antialiased downscaling (the filter stretched by 1/scale, up to 3 resized axes): linear and
// cubic, every scale from mild to 1/5, exclude_outside, sizes input, an integer image.
TEST(DataResize, AntialiasLinearAndCubic) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {1, 3, 23, 17}, 7);
  for (const char* mode : {"linear", "cubic"})
    for (int64_t ex : {0, 1}) {
      AttrMap a = attrs({{"mode", mode}, {"antialias", int64_t{1}}, {"exclude_outside", ex}});
      expectGpuMatchesCpu(resizeScales(x, {1, 1, 0.6f, 0.8f}, a), 1e-6);
      expectGpuMatchesCpu(resizeScales(x, {1, 1, 0.2f, 0.35f}, a), 1e-6);
      expectGpuMatchesCpu(resizeScales(x, {1, 1, 0.5f, 1.5f}, a), 1e-6);  // one axis upscales (no stretch)
      expectGpuMatchesCpu(resizeSizes(x, {1, 3, 7, 5}, a), 1e-6);
    }
  expectExact(resizeScales(rnd(DType::kUInt8, {1, 2, 16, 16}, 8), {1, 1, 0.4f, 0.4f},
                           attrs({{"mode", "linear"}, {"antialias", int64_t{1}}})));
  expectGpuMatchesCpu(resizeScales(rnd(DType::kFloat16, {1, 2, 12, 10}, 9), {1, 1, 0.5f, 0.5f},
                                   attrs({{"mode", "cubic"}, {"antialias", int64_t{1}}})),
                      1e-3);
}

TEST(DataResize, TfCropAndResizeWithExtrapolation) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {1, 2, 6, 8}, 1);
  const Tensor roi = f32({0, 0, -0.2f, 0.3f, 1, 1, 0.9f, 1.4f});
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    AttrMap a = attrs({{"mode", mode}, {"coordinate_transformation_mode", "tf_crop_and_resize"}, {"extrapolation_value", 7.5f}});
    expectGpuMatchesCpu(spec("Resize", a, {x, roi, Tensor(), i64({1, 2, 5, 9})}, {false, true, true, true}), 1e-6);
  }
}

TEST(DataResize, AxesAndAspectPolicy) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {2, 3, 7, 9}, 1);
  // axes in a non-increasing order: the linear passes follow it.
  expectGpuMatchesCpu(spec("Resize", attrs({{"mode", "linear"}, {"axes", Ints{3, 2}}}), {x, Tensor(), f32({1.5f, 2.5f})},
                           {false, true, true}), 1e-6);
  for (const char* policy : {"not_larger", "not_smaller"})
    expectExact(spec("Resize", attrs({{"mode", "nearest"}, {"axes", Ints{2, 3}}, {"keep_aspect_ratio_policy", policy}}),
                     {x, Tensor(), Tensor(), i64({10, 10})}, {false, true, true, true}));
}

TEST(DataUpsample, NearestAndLinear) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {1, 3, 5, 6}, 1);
  expectExact(spec("Upsample", attrs({{"mode", "nearest"}}), {x, f32({1, 1, 2, 3})}, {false, true}, 1, 9));
  expectGpuMatchesCpu(spec("Upsample", attrs({{"mode", "linear"}}), {x, f32({1, 1, 2, 2.5f})}, {false, true}, 1, 9), 1e-6);
}

// ---- supports (no GPU needed) -----------------------------------------------------------------------

TEST(DataResizeSupports, AntialiasAndTypes) {
  Desc aa("Resize", attrs({{"mode", "linear"}, {"antialias", int64_t{1}}}), {DType::kFloat32}, {DType::kFloat32},
          {Shape(Dims{1, 3, 8, 8})});
  EXPECT_FALSE(supports("cuda_data_resize", aa.d));  // antialias resizes at most 3 axes: 4 might change
  Desc lin("Resize", attrs({{"mode", "linear"}}), {DType::kFloat32}, {DType::kFloat32}, {Shape(Dims{1, 3, 8, 8})});
  EXPECT_TRUE(supports("cuda_data_resize", lin.d));
  Desc linBool("Resize", attrs({{"mode", "linear"}}), {DType::kBool}, {DType::kBool}, {Shape(Dims{1, 3, 8, 8})});
  EXPECT_FALSE(supports("cuda_data_resize", linBool.d));
  Desc nearBool("Resize", attrs({{"mode", "nearest"}}), {DType::kBool}, {DType::kBool}, {Shape(Dims{1, 3, 8, 8})});
  EXPECT_TRUE(supports("cuda_data_resize", nearBool.d));
  // Cubic on 4 possibly resized axes (rank 4, unknown scales) is refused.
  Desc cub("Resize", attrs({{"mode", "cubic"}}), {DType::kFloat32}, {DType::kFloat32}, {Shape(Dims{2, 3, 8, 8})});
  EXPECT_FALSE(supports("cuda_data_resize", cub.d));
}

}  // namespace
}  // namespace kiln::testing
