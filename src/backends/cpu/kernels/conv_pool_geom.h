// Spatial geometry of Conv-like and pooling kernels, resolved from a node's attributes and the
// actual input/output dims (inference already validated the attributes and computed the output
// dims, so only the begin/end paddings remain to be derived here, e.g. for auto_pad).
#pragma once

#include <string>

#include "backends/cpu/kernel.h"

namespace kiln::cpu {

struct SpatialGeom {
  int n = 0;  // spatial rank
  int64_t batch = 0, inC = 0, outC = 0;
  Dims in, out, kernel, strides, dilations, padBegin, padEnd;
  Dims outputPadding;  // ConvTranspose only (zeros otherwise)

  int64_t inSize() const { return in.numel(); }
  int64_t outSize() const { return out.numel(); }
  int64_t kernelSize() const { return kernel.numel(); }
  int64_t effKernel(int i) const { return (kernel[i] - 1) * dilations[i] + 1; }
};

// Which padding rule fills padBegin/padEnd.
enum class PadMode { kConv, kConvTranspose };

// Builds the geometry for X dims `x` (N, C, spatial...), kernel spatial dims `kernel`, output dims
// `y` (N, M, spatial...). For Conv/pooling, auto_pad SAME_* splits the total padding needed for
// `y`; for ConvTranspose, output_shape / auto_pad derive the paddings from `y` (ONNX rules).
inline Status makeGeom(const AttrMap& a, const Dims& x, const Dims& kernel, const Dims& y, PadMode mode,
                       SpatialGeom* g) {
  const int n = x.rank() - 2;
  if (n < 1 || y.rank() != x.rank() || kernel.rank() != n)
    return InvalidArgument("spatial rank mismatch: input {}, kernel {}, output {}", x.toString(), kernel.toString(),
                           y.toString());
  g->n = n;
  g->batch = x[0];
  g->inC = x[1];
  g->outC = y[1];
  g->in = Dims(x.begin() + 2, x.end());
  g->out = Dims(y.begin() + 2, y.end());
  g->kernel = kernel;
  // Reads an ints attribute without copying it (kernels allocate nothing per run).
  auto ints = [&](const char* name, int count, int64_t dflt) {
    const AttrValue* v = a.find(name);
    const std::vector<int64_t>* vals = v && v->kind() == AttrKind::kInts ? &v->ints() : nullptr;
    Dims d;
    for (int i = 0; i < count; ++i) d.push_back(vals && i < static_cast<int>(vals->size()) ? (*vals)[i] : dflt);
    return d;
  };
  g->strides = ints("strides", n, 1);
  g->dilations = ints("dilations", n, 1);
  Dims pads = ints("pads", 2 * n, 0);
  const std::string autoPad = a.getString("auto_pad", "NOTSET");
  g->padBegin = Dims::filled(n, 0);
  g->padEnd = Dims::filled(n, 0);
  auto floorDiv2 = [](int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); };
  const Dims outPad = mode == PadMode::kConvTranspose ? ints("output_padding", n, 0) : Dims::filled(n, 0);
  g->outputPadding = outPad;
  for (int i = 0; i < n; ++i) {
    const int64_t s = g->strides[i], ek = g->effKernel(i);
    if (mode == PadMode::kConv) {
      if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
        const int64_t total = std::max<int64_t>(0, (g->out[i] - 1) * s + ek - g->in[i]);
        g->padBegin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
        g->padEnd[i] = total - g->padBegin[i];
      } else if (autoPad != "VALID") {
        g->padBegin[i] = pads[i];
        g->padEnd[i] = pads[i + n];
      }
    } else {
      const int64_t total = s * (g->in[i] - 1) + outPad[i] + ek - g->out[i];
      if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
        g->padBegin[i] = autoPad == "SAME_UPPER" ? floorDiv2(total) : total - floorDiv2(total);
      } else if (a.has("output_shape")) {
        // Spec: begin = total - total/2; an output larger than the natural one grows at the end.
        g->padBegin[i] = total >= 0 ? total - floorDiv2(total) : 0;
      } else if (autoPad != "VALID") {
        g->padBegin[i] = pads[i];
      }
      // out = s*(in-1) + output_padding + ek - padBegin - padEnd
      g->padEnd[i] = total - g->padBegin[i];
    }
  }
  return Status::OK();
}

}  // namespace kiln::cpu
