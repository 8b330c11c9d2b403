// Vision GPU kernels against the CPU reference: GridSample (1-D/2-D/3-D, every mode x padding x
// align_corners, grids reaching far outside [-1, 1], float types), RoiAlign (avg/max, both
// coordinate transformations, sampling_ratio 0 and 2, malformed and out-of-map ROIs) and Col2Im
// (dilations, pads, strides, 1-D to 3-D). The kernels mirror the reference's arithmetic, so the
// tolerances are far below what any indexing or weighting mistake would produce.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "data_test_util.h"

namespace kiln::testing {
namespace {

using namespace data_test;

double tolFor(DType t) {
  if (t == DType::kFloat64) return 1e-12;
  if (t == DType::kFloat32) return 1e-6;
  return 2e-3;  // 16-bit outputs: a one-ulp rounding difference stays far below this
}

Tensor uniform(DType t, const Dims& d, uint32_t seed, double lo, double hi) {
  std::mt19937 rng(seed);
  return randomTensor(t, d, rng, lo, hi);
}

// ---- GridSample ---------------------------------------------------------------------------------

OpSpec gridSample(const Tensor& x, const Tensor& grid, const char* mode, const char* pad, int64_t align) {
  return spec("GridSample", attrs({{"mode", mode}, {"padding_mode", pad}, {"align_corners", align}}), {x, grid});
}

// Every mode x padding x align_corners for X of dims `xd` and a grid of dims `gd` whose values
// reach well outside [-1, 1] (several reflections deep), in dtypes xt / gt.
void everyGridSampleMode(const Dims& xd, const Dims& gd, DType xt, DType gt, uint32_t seed) {
  const Tensor x = rnd(xt, xd, seed);
  const Tensor g = uniform(gt, gd, seed + 1, -3.3, 3.3);
  for (const char* mode : {"nearest", "linear", "cubic"})
    for (const char* pad : {"zeros", "border", "reflection"})
      for (int64_t align : {0, 1}) {
        SCOPED_TRACE(std::string(mode) + " " + pad + " align_corners=" + std::to_string(align) + " " + xd.toString());
        expectGpuMatchesCpu(gridSample(x, g, mode, pad, align), tolFor(xt));
      }
}

TEST(VisionGridSample, TwoDimEveryModeFloat32) {
  KILN_REQUIRE_GPU();
  everyGridSampleMode({2, 3, 5, 7}, {2, 4, 6, 2}, DType::kFloat32, DType::kFloat32, 1);
}

TEST(VisionGridSample, TwoDimEveryModeFloat16) {
  KILN_REQUIRE_GPU();
  everyGridSampleMode({2, 3, 6, 5}, {2, 3, 7, 2}, DType::kFloat16, DType::kFloat16, 2);
}

TEST(VisionGridSample, ThreeDimEveryMode) {
  KILN_REQUIRE_GPU();
  everyGridSampleMode({1, 2, 3, 4, 5}, {1, 2, 3, 4, 3}, DType::kFloat32, DType::kFloat32, 3);
}

TEST(VisionGridSample, OneDimEveryMode) {
  KILN_REQUIRE_GPU();
  everyGridSampleMode({2, 3, 9}, {2, 11, 1}, DType::kFloat32, DType::kFloat32, 4);
}

// Grid points on the exact borders, the centre, and coordinates that land exactly halfway
// between two pixels (nearest rounds half to even) for a 5 x 4 map, plus far-away points.
TEST(VisionGridSample, ExactBordersAndNearestTies) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {1, 2, 4, 5}, 5);
  const std::vector<float> pts = {-1.0f, -1.0f, 1.0f, 1.0f, 0.0f, 0.0f, -0.75f, -0.5f, 0.25f, 0.5f, -0.6f, 0.75f,
                                  0.2f,  -0.25f, 1.0f, -1.0f, 5.5f, -7.25f, -1.2f, 1.125f, 0.6f, 0.0f, -0.2f, 1.5f};
  const Tensor g = Tensor::fromVector<float>(pts, Dims{1, 3, 4, 2});
  for (const char* mode : {"nearest", "linear", "cubic"})
    for (const char* pad : {"zeros", "border", "reflection"})
      for (int64_t align : {0, 1}) {
        SCOPED_TRACE(std::string(mode) + " " + pad + " align_corners=" + std::to_string(align));
        expectGpuMatchesCpu(gridSample(x, g, mode, pad, align), 1e-6);
      }
}

// Other float types, a grid type that differs from X's, and a map with a size-1 axis.
TEST(VisionGridSample, DTypesAndDegenerateAxes) {
  KILN_REQUIRE_GPU();
  const Dims xd{2, 3, 5, 4}, gd{2, 3, 5, 2};
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    SCOPED_TRACE(mode);
    expectGpuMatchesCpu(gridSample(rnd(DType::kFloat64, xd, 6), uniform(DType::kFloat64, gd, 7, -1.4, 1.4), mode,
                                   "reflection", 0),
                        tolFor(DType::kFloat64));
    expectGpuMatchesCpu(gridSample(rnd(DType::kBFloat16, xd, 8), uniform(DType::kFloat32, gd, 9, -1.4, 1.4), mode,
                                   "border", 1),
                        tolFor(DType::kBFloat16));
    expectGpuMatchesCpu(gridSample(rnd(DType::kFloat32, xd, 10), uniform(DType::kFloat16, gd, 11, -1.4, 1.4), mode,
                                   "zeros", 0),
                        tolFor(DType::kFloat32));
    expectGpuMatchesCpu(gridSample(rnd(DType::kFloat32, {1, 2, 1, 6}, 12), uniform(DType::kFloat32, {1, 4, 3, 2}, 13, -2, 2),
                                   mode, "reflection", 1),
                        tolFor(DType::kFloat32));
  }
}

// Many output points: the kernel then splits the channels into groups (the last one partial).
TEST(VisionGridSample, LargeGridSplitsChannels) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat32, {1, 5, 20, 30}, 14);
  const Tensor g = uniform(DType::kFloat32, {1, 300, 500, 2}, 15, -1.2, 1.2);
  expectGpuMatchesCpu(gridSample(x, g, "linear", "zeros", 0), 1e-6);
  expectGpuMatchesCpu(gridSample(rnd(DType::kFloat32, {2, 37, 9, 11}, 16), uniform(DType::kFloat32, {2, 3, 2, 2}, 17, -1, 1),
                                 "cubic", "border", 0),
                      1e-6);
}

// ---- RoiAlign -----------------------------------------------------------------------------------

// ROIs in (x0, y0, x1, y1) over a 9 x 7 map at spatial_scale 0.8: ordinary boxes, one partly
// outside the map, one malformed (x1 < x0) and one reversed enough that half_pixel gives negative
// adaptive sample counts in both directions.
Tensor roiBoxes(DType t) {
  const std::vector<double> v = {0.5, 1.0, 6.0, 9.5,  2.0, 0.0, 4.5, 3.0,   -2.0, 5.0, 11.0, 14.0,
                                 6.0, 2.0, 1.0, 7.5,  10.0, 10.0, 1.0, 1.0,  1.2, 1.3, 1.4, 1.5};
  Tensor f = Tensor::fromVector<double>(v, Dims{6, 4});
  if (t == DType::kFloat64) return f;
  Tensor out = Tensor::allocate(t, Dims{6, 4});
  dispatchType<FloatTypes>(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < 24; ++i) out.data<T>()[i] = convertValue<T>(v[i]);
  });
  return out;
}

OpSpec roiAlign(const Tensor& x, const Tensor& rois, const Tensor& bi, const char* ctm, const char* mode, int64_t ratio,
                int64_t oh, int64_t ow) {
  return spec("RoiAlign",
              attrs({{"coordinate_transformation_mode", ctm}, {"mode", mode}, {"output_height", oh},
                     {"output_width", ow}, {"sampling_ratio", ratio}, {"spatial_scale", 0.8f}}),
              {x, rois, bi});
}

void everyRoiAlignMode(DType t, uint32_t seed) {
  const Tensor x = rnd(t, {2, 3, 9, 7}, seed);
  const Tensor bi = Tensor::fromVector<int64_t>({0, 1, 1, 0, 1, 0}, Dims{6});
  for (const char* ctm : {"half_pixel", "output_half_pixel"})
    for (const char* mode : {"avg", "max"})
      for (int64_t ratio : {0, 2}) {
        SCOPED_TRACE(std::string(ctm) + " " + mode + " sampling_ratio=" + std::to_string(ratio));
        expectGpuMatchesCpu(roiAlign(x, roiBoxes(t), bi, ctm, mode, ratio, 3, 4), tolFor(t));
      }
}

TEST(VisionRoiAlign, EveryModeFloat32) {
  KILN_REQUIRE_GPU();
  everyRoiAlignMode(DType::kFloat32, 21);
}

TEST(VisionRoiAlign, EveryModeFloat16) {
  KILN_REQUIRE_GPU();
  everyRoiAlignMode(DType::kFloat16, 22);
}

TEST(VisionRoiAlign, Float64Int32IndicesAndOddOutputs) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kFloat64, {3, 5, 9, 7}, 23);
  const Tensor bi = Tensor::fromVector<int32_t>({2, 0, 1, 2, 1, 0}, Dims{6});
  for (const char* mode : {"avg", "max"})
    for (int64_t ratio : {0, 1, 3}) {
      SCOPED_TRACE(std::string(mode) + " sampling_ratio=" + std::to_string(ratio));
      expectGpuMatchesCpu(roiAlign(x, roiBoxes(DType::kFloat64), bi, "half_pixel", mode, ratio, 5, 1),
                          tolFor(DType::kFloat64));
    }
  expectGpuMatchesCpu(roiAlign(rnd(DType::kBFloat16, {2, 4, 6, 8}, 24), roiBoxes(DType::kBFloat16),
                               Tensor::fromVector<int64_t>({1, 0, 0, 1, 1, 0}, Dims{6}), "output_half_pixel", "avg", 0, 2, 2),
                      tolFor(DType::kBFloat16));
}

// ---- Col2Im -------------------------------------------------------------------------------------

struct Col2ImCase {
  Ints img, block, dil, pads, strides;
};

OpSpec col2Im(const Col2ImCase& c, DType t, int64_t n, int64_t ch, uint32_t seed) {
  const size_t r = c.img.size();
  int64_t K = 1, L = 1;
  for (size_t i = 0; i < r; ++i) {
    K *= c.block[i];
    L *= (c.img[i] + c.pads[i] + c.pads[i + r] - c.dil[i] * (c.block[i] - 1) - 1) / c.strides[i] + 1;
  }
  return spec("Col2Im", attrs({{"dilations", c.dil}, {"pads", c.pads}, {"strides", c.strides}}),
              {rnd(t, {n, ch * K, L}, seed), i64(c.img), i64(c.block)}, {false, true, true});
}

TEST(VisionCol2Im, DilationsPadsStrides) {
  KILN_REQUIRE_GPU();
  const std::vector<Col2ImCase> cases = {
      {{5, 6}, {2, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}},
      {{7, 5}, {3, 2}, {2, 1}, {1, 0, 2, 1}, {2, 1}},
      {{9, 8}, {3, 3}, {2, 2}, {2, 1, 1, 2}, {3, 2}},   // strides beyond the kernel extent leave gaps
      {{6, 7}, {2, 2}, {1, 1}, {0, 0, 0, 0}, {2, 2}},   // non-overlapping blocks
      {{11}, {4}, {2}, {3, 1}, {3}},                    // 1-D
      {{4, 3, 5}, {2, 1, 3}, {1, 1, 2}, {0, 1, 0, 1, 0, 1}, {1, 2, 1}},
  };
  uint32_t seed = 31;
  for (const Col2ImCase& c : cases)
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kFloat64}) {
      SCOPED_TRACE(Dims(c.img).toString() + " " + std::string(dtypeName(t)));
      expectGpuMatchesCpu(col2Im(c, t, 2, 3, seed++), tolFor(t));
    }
}

TEST(VisionCol2Im, DefaultAttributesAndBFloat16) {
  KILN_REQUIRE_GPU();
  const Tensor x = rnd(DType::kBFloat16, {1, 2 * 6, 12}, 41);  // img 4x6, block 2x3: 3x4 blocks
  expectGpuMatchesCpu(spec("Col2Im", {}, {x, i64({4, 6}), i64({2, 3})}, {false, true, true}), tolFor(DType::kBFloat16));
}

// ---- supports (no GPU needed) -------------------------------------------------------------------

TEST(VisionSupports, FloatTypesOnly) {
  Desc gs("GridSample", {}, {DType::kFloat32, DType::kFloat32}, {DType::kFloat32}, {Shape{1, 2, 3, 4}, Shape{1, 5, 6, 2}});
  EXPECT_TRUE(supports("cuda_vision_gridsample", gs.d));
  Desc gi("GridSample", {}, {DType::kInt32, DType::kFloat32}, {DType::kInt32});
  EXPECT_FALSE(supports("cuda_vision_gridsample", gi.d));
  Desc g4("GridSample", {}, {DType::kFloat32, DType::kFloat32}, {DType::kFloat32},
          {Shape{1, 1, 2, 2, 2, 2}, Shape{1, 2, 2, 2, 2, 4}});
  EXPECT_FALSE(supports("cuda_vision_gridsample", g4.d));  // 4 spatial dims: CPU only
  Desc ra("RoiAlign", {}, {DType::kFloat16, DType::kFloat16, DType::kInt32}, {DType::kFloat16});
  EXPECT_TRUE(supports("cuda_vision_roialign", ra.d));
  Desc rm("RoiAlign", {}, {DType::kFloat16, DType::kFloat32, DType::kInt64}, {DType::kFloat16});
  EXPECT_FALSE(supports("cuda_vision_roialign", rm.d));
  Desc ci("Col2Im", {}, {DType::kFloat64, DType::kInt64, DType::kInt64}, {DType::kFloat64});
  EXPECT_TRUE(supports("cuda_vision_col2im", ci.d));
  Desc cn("Col2Im", {}, {DType::kInt32, DType::kInt64, DType::kInt64}, {DType::kInt32});
  EXPECT_FALSE(supports("cuda_vision_col2im", cn.d));
}

}  // namespace
}  // namespace kiln::testing
