// Signal-processing ops of the misc family: Hann/Hamming/BlackmanWindow, DFT (opset 17's axis
// attribute becomes opset 20's axis input), STFT and MelWeightMatrix.
#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/misc_ops.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

const std::initializer_list<DType> kWindowOutTypes = {
    DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,  DType::kUInt8,
    DType::kInt16,   DType::kUInt16,  DType::kInt32,   DType::kUInt32,   DType::kInt64, DType::kUInt64};

Result<DType> outputDatatype(const InferContext& ctx, const char* op) {
  const int64_t v = ctx.attrs().getInt("output_datatype");
  for (DType t : kWindowOutTypes)
    if (static_cast<int64_t>(t) == v) return t;
  return InvalidArgument("{} output_datatype {} is not a supported numeric type", op, v);
}

// A scalar (or 1-element) integer input's symbolic value, or unknown.
Dim scalarDim(const InferContext& ctx, int i) {
  if (auto v = inputDims(ctx, i); v && v->size() == 1) return (*v)[0];
  if (auto v = inputInts(ctx, i); v && v->size() == 1) return Dim((*v)[0]);
  return Dim();
}

Status expectScalar(const InferContext& ctx, int i, const char* what) {
  if (!ctx.hasInput(i) || !ctx.rankKnown(i)) return Status::OK();
  const Shape& s = ctx.inputShape(i);
  if (s.rank() > 1 || (s.rank() == 1 && s[0].isStatic() && s[0].value() != 1))
    return InvalidArgument("{} must be a scalar, got shape {}", what, s.toString());
  return Status::OK();
}

InferFn inferWindow(const char* op) {
  return [op](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kInt32, DType::kInt64}, op));
    KILN_RETURN_IF_ERROR(expectScalar(ctx, 0, op));
    KILN_ASSIGN_OR_RETURN(DType t, outputDatatype(ctx, op));
    Dim n = scalarDim(ctx, 0);
    if (n.isStatic() && n.value() < 0) return InvalidArgument("{} size must be >= 0, got {}", op, n.value());
    ctx.setOutput(0, t, Shape({n}));
    return Status::OK();
  };
}

// ---- DFT ----------------------------------------------------------------------------------------

Status inferDft(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, "DFT"));
  if (ctx.hasInput(1)) KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt32, DType::kInt64}, "DFT dft_length"));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectType(ctx, 2, {DType::kInt64, DType::kInt32}, "DFT axis"));
  KILN_RETURN_IF_ERROR(expectScalar(ctx, 1, "DFT dft_length"));
  KILN_RETURN_IF_ERROR(expectScalar(ctx, 2, "DFT axis"));
  const bool inverse = ctx.attrs().getInt("inverse") != 0, onesided = ctx.attrs().getInt("onesided") != 0;
  const Shape& x = ctx.inputShape(0);
  if (!x.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  const int r = x.rank();
  if (r < 2 || (x[r - 1].isStatic() && x[r - 1].value() != 1 && x[r - 1].value() != 2))
    return InvalidArgument("DFT input must have shape (..., signal, 1 or 2), got {}", x.toString());
  std::optional<int64_t> axisV = ctx.hasInput(2) ? std::optional<int64_t>() : std::optional<int64_t>(-2);
  if (ctx.hasInput(2))
    if (auto v = inputInts(ctx, 2); v && v->size() == 1) axisV = (*v)[0];
  if (!axisV) {
    ctx.setOutput(0, ctx.inputType(0), unknownShape(r));
    return Status::OK();
  }
  if (*axisV < -r || *axisV >= r - 1 || *axisV == -1)
    return InvalidArgument("DFT axis {} is out of range for input {} (the last dim holds real/imaginary parts)", *axisV,
                           x.toString());
  const int axis = static_cast<int>(*axisV < 0 ? *axisV + r : *axisV);
  Dim n = ctx.hasInput(1) ? scalarDim(ctx, 1) : (inverse && onesided ? Dim(2) * (x[axis] - Dim(1)) : x[axis]);
  if (n.isStatic() && n.value() < 1) return InvalidArgument("DFT dft_length must be >= 1, got {}", n.value());
  Shape out = x;
  if (!inverse && onesided) out[axis] = Dim::floorDiv(n, Dim(2)) + Dim(1);
  else out[axis] = n;
  out[r - 1] = Dim(inverse && onesided ? 1 : 2);
  ctx.setOutput(0, ctx.inputType(0), std::move(out));
  return Status::OK();
}

// ---- STFT ---------------------------------------------------------------------------------------

Status inferStft(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, "STFT"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt32, DType::kInt64}, "STFT frame_step"));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  if (ctx.hasInput(3)) KILN_RETURN_IF_ERROR(expectType(ctx, 3, {DType::kInt32, DType::kInt64}, "STFT frame_length"));
  KILN_RETURN_IF_ERROR(expectScalar(ctx, 1, "STFT frame_step"));
  KILN_RETURN_IF_ERROR(expectScalar(ctx, 3, "STFT frame_length"));
  const Shape& x = ctx.inputShape(0);
  if (x.rankKnown() && (x.rank() != 3 || (x[2].isStatic() && x[2].value() != 1 && x[2].value() != 2)))
    return InvalidArgument("STFT signal must have shape (batch, length, 1 or 2), got {}", x.toString());
  if (ctx.hasInput(2) && ctx.rankKnown(2) && ctx.rankOf(2) != 1)
    return InvalidArgument("STFT window must be 1-D, got {}", ctx.inputShape(2).toString());
  const Dim step = scalarDim(ctx, 1);
  if (step.isStatic() && step.value() < 1) return InvalidArgument("STFT frame_step must be >= 1, got {}", step.value());
  Dim len;
  if (ctx.hasInput(3)) len = scalarDim(ctx, 3);
  else if (ctx.hasInput(2) && ctx.rankKnown(2)) len = ctx.inputShape(2)[0];
  else if (x.rankKnown()) len = x[1];
  if (ctx.hasInput(2) && ctx.hasInput(3) && ctx.rankKnown(2) && len.isStatic() && ctx.inputShape(2)[0].isStatic() &&
      ctx.inputShape(2)[0].value() != len.value())
    return InvalidArgument("STFT window length {} differs from frame_length {}", ctx.inputShape(2)[0].value(), len.value());
  if (len.isStatic() && len.value() < 1) return InvalidArgument("STFT frame_length must be >= 1, got {}", len.value());
  Dim frames;
  if (x.rankKnown()) {
    if (x[1].isStatic() && len.isStatic() && x[1].value() < len.value())
      return InvalidArgument("STFT signal length {} is shorter than frame_length {}", x[1].value(), len.value());
    frames = Dim::floorDiv(x[1] - len, step) + Dim(1);
  }
  const bool onesided = ctx.attrs().getInt("onesided") != 0;
  Dim bins = onesided ? Dim::floorDiv(len, Dim(2)) + Dim(1) : len;
  ctx.setOutput(0, ctx.inputType(0), Shape({x.rankKnown() ? x[0] : Dim(), frames, bins, Dim(2)}));
  return Status::OK();
}

// ---- MelWeightMatrix ----------------------------------------------------------------------------

Status inferMelWeightMatrix(InferContext& ctx) {
  for (int i = 0; i < 3; ++i) {
    KILN_RETURN_IF_ERROR(expectType(ctx, i, {DType::kInt32, DType::kInt64}, "MelWeightMatrix"));
    KILN_RETURN_IF_ERROR(expectScalar(ctx, i, "MelWeightMatrix integer inputs"));
  }
  for (int i = 3; i < 5; ++i) {
    KILN_RETURN_IF_ERROR(expectType(ctx, i, kFloatTypes, "MelWeightMatrix"));
    KILN_RETURN_IF_ERROR(expectScalar(ctx, i, "MelWeightMatrix edge frequencies"));
  }
  KILN_ASSIGN_OR_RETURN(DType t, outputDatatype(ctx, "MelWeightMatrix"));
  const Dim mel = scalarDim(ctx, 0), dft = scalarDim(ctx, 1);
  if ((mel.isStatic() && mel.value() < 1) || (dft.isStatic() && dft.value() < 1))
    return InvalidArgument("MelWeightMatrix num_mel_bins and dft_length must be >= 1");
  ctx.setOutput(0, t, Shape({Dim::floorDiv(dft, Dim(2)) + Dim(1), mel}));
  return Status::OK();
}

}  // namespace

void RegisterMiscSignalOps(OpRegistry& r) {
  for (const char* n : {"HannWindow", "HammingWindow", "BlackmanWindow"})
    r.add({.name = n, .minOpset = 17, .minInputs = 1, .maxInputs = 1,
           .attrs = {attrI("output_datatype", 1), attrI("periodic", 1)}, .shapeInputs = {0}, .infer = inferWindow(n)});
  r.add({.name = "DFT", .minOpset = 17, .minInputs = 1, .maxInputs = 3,
         .attrs = {attrI("inverse", 0), attrI("onesided", 0)}, .shapeInputs = {1, 2}, .infer = inferDft,
         .import = [](ImportContext& ctx) -> Status {
           // Opset 17-19: axis is an attribute (default 1); from opset 20 it is input 2 (default -2).
           if (ctx.opset() >= 20) return Status::OK();
           AttrMap& a = ctx.node().attrs();
           const int64_t axis = a.getInt("axis", 1);
           a.erase("axis");
           while (ctx.node().numInputs() < 2) ctx.node().addInput(nullptr);
           ctx.setConstantInput(2, Tensor::scalar<int64_t>(axis));
           return Status::OK();
         }});
  r.add({.name = "STFT", .minOpset = 17, .minInputs = 2, .maxInputs = 4, .attrs = {attrI("onesided", 1)},
         .shapeInputs = {1, 3}, .infer = inferStft});
  r.add({.name = "MelWeightMatrix", .minOpset = 17, .minInputs = 5, .maxInputs = 5,
         .attrs = {attrI("output_datatype", 1)}, .shapeInputs = {0, 1, 2, 3, 4}, .infer = inferMelWeightMatrix});
}

}  // namespace kiln::ir
