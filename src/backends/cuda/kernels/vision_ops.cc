// Host side of the vision family: GridSample, RoiAlign and Col2Im (kernels in vision.cu). Reads
// attributes and Col2Im's host inputs (image_shape, block_shape), validates shapes with the CPU
// reference's rules and messages (cpu/kernels/misc_vision.cc) and fills the launch arguments.
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/vision_launch.h"

namespace kiln::cuda {

namespace vision {

namespace {

bool visionTypeOf(DType t, VisionType* v) {
  switch (t) {
    case DType::kFloat32: *v = VisionType::kF32; return true;
    case DType::kFloat16: *v = VisionType::kF16; return true;
    case DType::kBFloat16: *v = VisionType::kBF16; return true;
    case DType::kFloat64: *v = VisionType::kF64; return true;
    default: return false;
  }
}

bool isVisionType(DType t) {
  VisionType v;
  return visionTypeOf(t, &v);
}

// The dtype of input/output i when the layer declares it.
DType inType(const LayerDesc& d, size_t i) { return i < d.inputTypes.size() ? d.inputTypes[i] : DType::kUndefined; }
DType outType(const LayerDesc& d) { return d.outputTypes.empty() ? DType::kUndefined : d.outputTypes[0]; }
int knownRank(const LayerDesc& d, size_t i) {
  return i < d.inputShapes.size() && d.inputShapes[i].rankKnown() ? d.inputShapes[i].rank() : -1;
}

// X and Y of one float type these kernels compute on.
Status dataType(std::string_view op, const Tensor& x, const Tensor& y, VisionType* t) {
  if (!visionTypeOf(x.dtype(), t)) return Unsupported("{} on the GPU does not support {}", op, dtypeName(x.dtype()));
  if (y.dtype() != x.dtype()) return InternalError("{} output {} differs in type from {}", op, y.describe(), x.describe());
  return Status::OK();
}

// ---- GridSample ---------------------------------------------------------------------------------

Status gridSampleK(const GpuKernelContext& c) {
  const Tensor &x = c.in(0), &grid = c.in(1);
  Tensor& y = c.out(0);
  const Dims &xd = x.dims(), &gd = grid.dims();
  const int r = xd.rank() - 2;
  if (r < 1 || gd.rank() != r + 2 || gd[0] != xd[0] || gd[r + 1] != r)
    return InvalidArgument("GridSample grid {} does not match X {}", gd.toString(), xd.toString());
  if (r > kMaxGridSampleRank)
    return Unsupported("GridSample on the GPU supports 1 to {} spatial dims, got {}", kMaxGridSampleRank, r);
  GridSampleArgs a;
  KILN_RETURN_IF_ERROR(dataType("GridSample", x, y, &a.xType));
  if (!visionTypeOf(grid.dtype(), &a.gridType))
    return Unsupported("GridSample on the GPU does not support a {} grid", dtypeName(grid.dtype()));
  // Import canonicalizes opset 16's bilinear/bicubic to linear/cubic.
  const std::string &mode = c.attrs.getString("mode"), &pad = c.attrs.getString("padding_mode");
  if (mode == "nearest") a.mode = GridMode::kNearest;
  else if (mode == "linear") a.mode = GridMode::kLinear;
  else if (mode == "cubic") a.mode = GridMode::kCubic;
  else return InvalidArgument("GridSample mode must be linear, nearest or cubic, got '{}'", mode);
  if (pad == "zeros") a.pad = GridPad::kZeros;
  else if (pad == "border") a.pad = GridPad::kBorder;
  else if (pad == "reflection") a.pad = GridPad::kReflection;
  else return InvalidArgument("GridSample padding_mode must be zeros, border or reflection, got '{}'", pad);
  a.alignCorners = c.attrs.getInt("align_corners") != 0;
  std::vector<int64_t> want = {xd[0], xd[1]};
  a.points = 1;
  for (int i = 0; i < r; ++i) {
    a.inDims[i] = xd[2 + i];
    // Border and reflection need a sample to fall back on; zeros reads nothing from an empty axis.
    if (xd[2 + i] == 0 && a.pad != GridPad::kZeros && gd[1 + i] > 0)
      return InvalidArgument("GridSample padding_mode '{}' cannot sample the empty X {}", pad, xd.toString());
    want.push_back(gd[1 + i]);
    a.points *= gd[1 + i];
  }
  if (y.dims() != Dims(want))
    return InternalError("GridSample output {} does not match X {} and grid {}", y.describe(), x.describe(), grid.describe());
  a.x = x.raw();
  a.grid = grid.raw();
  a.y = y.raw();
  a.rank = r;
  a.batch = xd[0];
  a.channels = xd[1];
  KILN_CUDA_RETURN_IF_ERROR(launchGridSample(a, c.res.smCount, c.stream));
  return Status::OK();
}

bool gridSampleSupported(const LayerDesc& d) {
  const int r = knownRank(d, 0);
  return isVisionType(inType(d, 0)) && isVisionType(inType(d, 1)) && outType(d) == inType(d, 0) &&
         (r < 0 || (r >= 3 && r <= kMaxGridSampleRank + 2));
}

// ---- RoiAlign -----------------------------------------------------------------------------------

Status roiAlignK(const GpuKernelContext& c) {
  const Tensor &x = c.in(0), &rois = c.in(1), &bi = c.in(2);
  Tensor& y = c.out(0);
  const Dims& xd = x.dims();
  if (xd.rank() != 4 || rois.rank() != 2 || rois.dims()[1] != 4 || bi.dims() != Dims{rois.dims()[0]})
    return InvalidArgument("RoiAlign X {} / rois {} / batch_indices {} have wrong shapes", xd.toString(),
                           rois.dims().toString(), bi.dims().toString());
  RoiAlignArgs a;
  KILN_RETURN_IF_ERROR(dataType("RoiAlign", x, y, &a.type));
  if (rois.dtype() != x.dtype()) return InvalidArgument("RoiAlign rois {} differ in type from X {}", rois.describe(), x.describe());
  if (bi.dtype() != DType::kInt64 && bi.dtype() != DType::kInt32)
    return Unsupported("RoiAlign on the GPU does not support {} batch_indices", dtypeName(bi.dtype()));
  const AttrMap& at = c.attrs;
  a.outH = at.getInt("output_height");
  a.outW = at.getInt("output_width");
  a.samplingRatio = at.getInt("sampling_ratio");
  a.spatialScale = at.getFloat("spatial_scale");
  a.halfPixel = at.getString("coordinate_transformation_mode") == "half_pixel";
  a.maxMode = at.getString("mode") == "max";
  const int64_t R = rois.dims()[0];
  if (y.dims() != Dims{R, xd[1], a.outH, a.outW})
    return InternalError("RoiAlign output {} does not match {} ROIs of X {}", y.describe(), R, x.describe());
  if (y.numel() > 0 && (xd[2] == 0 || xd[3] == 0))
    return InvalidArgument("RoiAlign cannot sample the empty X {}", xd.toString());
  a.x = x.raw();
  a.rois = rois.raw();
  a.batchIndices = bi.raw();
  a.y = y.raw();
  a.indexSize = static_cast<int>(dtypeSize(bi.dtype()));
  a.batch = xd[0];
  a.channels = xd[1];
  a.height = xd[2];
  a.width = xd[3];
  a.numRois = R;
  KILN_CUDA_RETURN_IF_ERROR(launchRoiAlign(a, c.res.smCount, c.stream));
  return Status::OK();
}

bool roiAlignSupported(const LayerDesc& d) {
  const DType bi = inType(d, 2);
  return isVisionType(inType(d, 0)) && inType(d, 1) == inType(d, 0) && outType(d) == inType(d, 0) &&
         (bi == DType::kInt64 || bi == DType::kInt32);
}

// ---- Col2Im -------------------------------------------------------------------------------------

Status col2ImK(const GpuKernelContext& c) {
  const Tensor &x = c.in(0), &imgT = c.in(1), &blkT = c.in(2);  // image_shape, block_shape: host
  Tensor& y = c.out(0);
  const int r = static_cast<int>(imgT.numel());
  if (x.rank() != 3 || r < 1 || blkT.numel() != r)
    return InvalidArgument("Col2Im input {} / image_shape {} / block_shape {} are inconsistent", x.dims().toString(),
                           imgT.dims().toString(), blkT.dims().toString());
  if (r > kMaxCol2ImRank) return Unsupported("Col2Im on the GPU supports 1 to {} image dims, got {}", kMaxCol2ImRank, r);
  Col2ImArgs a;
  KILN_RETURN_IF_ERROR(dataType("Col2Im", x, y, &a.type));
  const AttrMap& at = c.attrs;
  const std::vector<int64_t> dil = at.getInts("dilations", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> pads = at.getInts("pads", std::vector<int64_t>(2 * r, 0));
  const std::vector<int64_t> str = at.getInts("strides", std::vector<int64_t>(r, 1));
  if (static_cast<int>(dil.size()) != r || static_cast<int>(pads.size()) != 2 * r || static_cast<int>(str.size()) != r)
    return InvalidArgument("Col2Im dilations/strides need {} values and pads {}", r, 2 * r);
  int64_t K = 1, L = 1, S = 1;
  std::vector<int64_t> want = {x.dims()[0], 0};
  for (int i = 0; i < r; ++i) {
    const int64_t img = imgT.intAt(i), blk = blkT.intAt(i);
    if (blk < 1 || img < 1) return InvalidArgument("Col2Im image_shape and block_shape entries must be >= 1");
    if (dil[i] < 1 || str[i] < 1 || pads[i] < 0 || pads[i + r] < 0)
      return InvalidArgument("Col2Im dilations and strides must be >= 1 and pads >= 0");
    const int64_t nb = (img + pads[i] + pads[i + r] - dil[i] * (blk - 1) - 1) / str[i] + 1;
    if (nb < 1) return InvalidArgument("Col2Im image_shape dim {} is too small for the block", i);
    a.img[i] = img, a.block[i] = blk, a.blocks[i] = nb;
    a.dil[i] = dil[i], a.padBegin[i] = pads[i], a.stride[i] = str[i];
    K *= blk, L *= nb, S *= img;
    want.push_back(img);
  }
  if (x.dims()[1] % K != 0 || x.dims()[2] != L)
    return InvalidArgument("Col2Im input {} does not match {} kernel positions and {} blocks", x.dims().toString(), K, L);
  want[1] = x.dims()[1] / K;
  if (y.dims() != Dims(want)) return InternalError("Col2Im output {} does not match input {}", y.describe(), x.describe());
  a.x = x.raw();
  a.y = y.raw();
  a.rank = r;
  a.planes = want[0] * want[1];
  a.kernelSize = K;
  a.numBlocks = L;
  a.imageSize = S;
  KILN_CUDA_RETURN_IF_ERROR(launchCol2Im(a, c.res.smCount, c.stream));
  return Status::OK();
}

bool col2ImSupported(const LayerDesc& d) {
  const int r = knownRank(d, 1);  // image_shape is 1-D; its length is the image rank
  const bool rankOk = r != 1 || !d.inputShapes[1][0].isStatic() || d.inputShapes[1][0].value() <= kMaxCol2ImRank;
  return isVisionType(inType(d, 0)) && outType(d) == inType(d, 0) && rankOk;
}

}  // namespace

}  // namespace vision

void registerVisionKernels(GpuKernelRegistry& r) {
  r.addFn("GridSample", "cuda_vision_gridsample", &vision::gridSampleK, vision::gridSampleSupported, 10);
  r.addFn("RoiAlign", "cuda_vision_roialign", &vision::roiAlignK, vision::roiAlignSupported, 10);
  r.addFn("Col2Im", "cuda_vision_col2im", &vision::col2ImK, vision::col2ImSupported, 10);
}

}  // namespace kiln::cuda
