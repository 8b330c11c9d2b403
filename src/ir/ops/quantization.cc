// Quantization ops: QuantizeLinear and DequantizeLinear (per-tensor, per-axis and blocked scales;
// 16/8/4/2-bit integer, fp8 and fp4 quantized types) and DynamicQuantizeLinear.
#include <string>

#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

bool isQuantType(DType t) {
  switch (t) {
    case DType::kInt8: case DType::kUInt8: case DType::kInt16: case DType::kUInt16:
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ:
    case DType::kInt4: case DType::kUInt4: case DType::kInt2: case DType::kUInt2: case DType::kFloat4E2M1:
      return true;
    default:
      return false;
  }
}

// Checks the scale (and zero point) shape against x for per-tensor, per-axis or blocked
// quantization. Unknown dims are left to the kernel.
Status checkQuantShapes(const InferContext& ctx, std::string_view op) {
  const Shape& x = ctx.inputShape(0);
  const Shape& s = ctx.inputShape(1);
  const int64_t blockSize = ctx.attrs().getInt("block_size");
  if (blockSize < 0) return InvalidArgument("{} block_size must be >= 0, not {}", op, blockSize);
  if (ctx.hasInput(2)) {
    const Shape& z = ctx.inputShape(2);
    const bool bothScalar = s.numel() && z.numel() && *s.numel() == 1 && *z.numel() == 1;  // [] and [1] agree
    if (s.rankKnown() && z.rankKnown() && !bothScalar) {
      bool same = s.rank() == z.rank();
      for (int i = 0; same && i < s.rank(); ++i)
        if (s[i].isStatic() && z[i].isStatic() && s[i].value() != z[i].value()) same = false;
      if (!same) return InvalidArgument("{} zero point shape {} must equal the scale shape {}", op, z.toString(), s.toString());
    }
  }
  if (!x.rankKnown() || !s.rankKnown()) return Status::OK();
  if (s.numel() && *s.numel() == 1) return Status::OK();  // per tensor
  const int r = x.rank();
  KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), r));
  if (r == 0) return InvalidArgument("{} of a scalar needs a scalar scale, got shape {}", op, s.toString());
  if (blockSize == 0) {
    if (s.rank() != 1)
      return InvalidArgument("{} scale must be a scalar or 1-D (per axis) without block_size; has shape {}", op, s.toString());
    if (s[0].isStatic() && x[axis].isStatic() && s[0].value() != x[axis].value())
      return InvalidArgument("{} per-axis scale has {} elements but axis {} of x {} has {}", op, s[0].value(), axis,
                             x.toString(), x[axis].value());
    return Status::OK();
  }
  if (s.rank() != r)
    return InvalidArgument("{} blocked scale must have the rank of x ({}), has shape {}", op, r, s.toString());
  for (int i = 0; i < r; ++i) {
    if (!s[i].isStatic() || !x[i].isStatic()) continue;
    const int64_t want = i == axis ? (x[i].value() + blockSize - 1) / blockSize : x[i].value();
    if (s[i].value() != want)
      return InvalidArgument("{} blocked scale shape {} does not fit x {} with block_size {} on axis {}", op, s.toString(),
                             x.toString(), blockSize, axis);
  }
  return Status::OK();
}

Status inferQuantize(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32},
                                  "QuantizeLinear x"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat8E8M0},
                                  "QuantizeLinear y_scale"));
  const int64_t od = ctx.attrs().getInt("output_dtype");
  DType out = DType::kUInt8;
  if (od != 0) {
    if (!isValidDType(static_cast<int>(od))) return InvalidArgument("QuantizeLinear output_dtype {} is not a data type", od);
    out = static_cast<DType>(od);
  }
  if (ctx.hasInput(2)) {
    if (od != 0 && ctx.inputType(2) != out)
      return InvalidArgument("QuantizeLinear output_dtype {} differs from the zero point type {}", dtypeName(out),
                             dtypeName(ctx.inputType(2)));
    out = ctx.inputType(2);
  }
  if (!isQuantType(out))
    return Unsupported("QuantizeLinear to {} is not supported (int16/8/4/2, uint16/8/4/2, the fp8 types and float4e2m1 are)",
                       dtypeName(out));
  const int64_t prec = ctx.attrs().getInt("precision");
  if (prec != 0 && prec != static_cast<int64_t>(DType::kFloat32) && prec != static_cast<int64_t>(DType::kFloat16) &&
      prec != static_cast<int64_t>(DType::kBFloat16))
    return Unsupported("QuantizeLinear precision {} is not supported (float32, float16 and bfloat16 are)", prec);
  KILN_RETURN_IF_ERROR(checkQuantShapes(ctx, "QuantizeLinear"));
  ctx.setOutput(0, out, ctx.inputShape(0));
  return Status::OK();
}

Status inferDequantize(InferContext& ctx) {
  const DType x = ctx.inputType(0);
  if (!isQuantType(x) && x != DType::kInt32)
    return Unsupported("DequantizeLinear of {} is not supported (int32/16/8/4/2, uint16/8/4/2, the fp8 types and float4e2m1 are)",
                       dtypeName(x));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat8E8M0},
                                  "DequantizeLinear x_scale"));
  if (ctx.hasInput(2) && ctx.inputType(2) != x)
    return InvalidArgument("DequantizeLinear zero point type {} must equal the input type {}", dtypeName(ctx.inputType(2)),
                           dtypeName(x));
  DType out = ctx.inputType(1);
  const int64_t od = ctx.attrs().getInt("output_dtype");
  if (od != 0) {
    out = static_cast<DType>(od);
    if (out != DType::kFloat32 && out != DType::kFloat16 && out != DType::kBFloat16)
      return InvalidArgument("DequantizeLinear output_dtype {} must be float32, float16 or bfloat16", od);
  } else if (out == DType::kFloat8E8M0) {
    return InvalidArgument("DequantizeLinear with a float8e8m0 scale needs output_dtype (float32, float16 or bfloat16)");
  }
  KILN_RETURN_IF_ERROR(checkQuantShapes(ctx, "DequantizeLinear"));
  ctx.setOutput(0, out, ctx.inputShape(0));
  return Status::OK();
}

Status inferDynamicQuantize(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kFloat32}, "DynamicQuantizeLinear x"));
  ctx.setOutput(0, DType::kUInt8, ctx.inputShape(0));
  ctx.setOutput(1, DType::kFloat32, Shape());
  ctx.setOutput(2, DType::kUInt8, Shape());
  return Status::OK();
}

}  // namespace

void RegisterQuantizationOps(OpRegistry& r) {
  r.add({.name = "QuantizeLinear", .minOpset = 10, .minInputs = 2, .maxInputs = 3,
         .attrs = {attrI("axis", 1), attrI("saturate", 1), attrI("block_size", 0), attrI("output_dtype", 0),
                   attrI("precision", 0)},
         .infer = inferQuantize});
  r.add({.name = "DequantizeLinear", .minOpset = 10, .minInputs = 2, .maxInputs = 3,
         .attrs = {attrI("axis", 1), attrI("block_size", 0), attrI("output_dtype", 0)}, .infer = inferDequantize});
  r.add({.name = "DynamicQuantizeLinear", .minOpset = 11, .minInputs = 1, .maxInputs = 1, .minOutputs = 3,
         .maxOutputs = 3, .infer = inferDynamicQuantize});
}

}  // namespace kiln::ir
