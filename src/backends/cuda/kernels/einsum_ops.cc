// Einsum and Det on the GPU (kernels in einsum.cu).
//  - Einsum: the equation is parsed once when the kernel is created; each enqueue builds the CPU
//    reference's evaluation plan (backends/cpu/kernels/matmul_einsum.cc: ellipsis axes first, then
//    one axis per letter in ASCII order; size-1 dims broadcast; repeated labels in an operand add
//    their strides, which reads diagonals) into fixed-size plain data, without heap allocation, and
//    launches one generic kernel over the output elements.
//  - Det: batched LU with partial pivoting (backends/cpu/kernels/misc.cc); matrices too large for
//    shared memory go through the workspace.
// Registered by registerSignalKernels (signal_ops.cc).
#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/signal_launch.h"
#include "core/einsum_equation.h"

namespace kiln::cuda {

void registerEinsumKernels(GpuKernelRegistry& r);

namespace {

using signal::kEinsumMaxAxes;
using signal::kEinsumMaxOperands;

// ---- Einsum -------------------------------------------------------------------------------------

constexpr int kLetters = 128;
constexpr int kMaxPlanAxes = ::kiln::kMaxRank + 52;  // ellipsis dims + distinct letters

// The parsed equation: terms, the optional explicit output, and each letter's axis after the
// ellipsis axes (ASCII order, like the CPU's std::map).
struct Equation {
  std::string text;  // without whitespace
  std::vector<EinsumTerm> terms;
  bool explicitOut = false;
  EinsumTerm out;
  int numLetters = 0;
  std::array<int, kLetters> letterIndex{};  // -1: unused
  std::array<int, kLetters> letterCount{};  // occurrences over the inputs (implicit output)
};

Result<Equation> parseEquation(const std::string& equation) {
  KILN_ASSIGN_OR_RETURN(EinsumEquation parsed, parseEinsumEquation(equation));
  Equation e;
  e.text = std::move(parsed.text);
  e.terms = std::move(parsed.inputs);
  e.explicitOut = parsed.explicitOutput;
  e.out = std::move(parsed.output);
  const std::string& eq = e.text;
  e.letterIndex.fill(-1);
  e.letterCount.fill(0);
  for (const EinsumTerm& t : e.terms)
    for (char c : t.labels) ++e.letterCount[static_cast<unsigned char>(c)];
  for (int c = 0; c < kLetters; ++c)
    if (e.letterCount[c]) e.letterIndex[c] = e.numLetters++;
  if (e.terms.size() > static_cast<size_t>(kEinsumMaxOperands))
    return Unsupported("Einsum on the GPU takes at most {} operands, equation '{}' has {}", kEinsumMaxOperands, eq,
                       e.terms.size());
  return e;
}

class EinsumKernel final : public GpuKernel {
 public:
  explicit EinsumKernel(Equation e) : e_(std::move(e)) {}
  Status enqueue(const GpuKernelContext& ctx) const override;

 private:
  Equation e_;
};

Status EinsumKernel::enqueue(const GpuKernelContext& c) const {
  const std::string& eq = e_.text;
  const int nIn = c.numInputs();
  for (int i = 0; i < nIn; ++i) {
    if (!c.hasInput(i)) return InvalidArgument("Einsum: input {} is missing", i);
    if (c.in(i).dtype() != c.in(0).dtype()) return InvalidArgument("Einsum: inputs must share one type");
  }
  if (static_cast<size_t>(nIn) != e_.terms.size())
    return InvalidArgument("Einsum: equation '{}' has {} operands but the node has {} inputs", eq, e_.terms.size(),
                           nIn);
  Tensor& y = c.out(0);
  if (!signal::einsumSupportsType(y.dtype()) || (nIn > 0 && y.dtype() != c.in(0).dtype()))
    return unsupportedGpuType("Einsum", y.dtype());
  // The plan, as in makePlan() of the CPU reference.
  std::array<int, kEinsumMaxOperands> ellRank{};
  int numEll = 0;
  for (int i = 0; i < nIn; ++i) {
    const EinsumTerm& t = e_.terms[i];
    const int nl = static_cast<int>(t.labels.size());
    const int er = c.in(i).rank() - nl;
    if (er < 0 || (t.ellipsis < 0 && er != 0))
      return InvalidArgument("Einsum: operand {} has shape {} but its subscripts '{}' need rank {}", i,
                             c.in(i).dims().toString(), t.labels, nl);
    ellRank[i] = er;
    numEll = std::max(numEll, er);
  }
  const int numAxes = numEll + e_.numLetters;
  if (numAxes > kMaxPlanAxes) return InternalError("Einsum: equation '{}' has too many axes", eq);
  auto axisOfDim = [&](int i, int d) {
    const EinsumTerm& t = e_.terms[i];
    const int er = ellRank[i];
    if (t.ellipsis >= 0 && d >= t.ellipsis && d < t.ellipsis + er) return numEll - er + (d - t.ellipsis);
    const int li = t.ellipsis >= 0 && d >= t.ellipsis + er ? d - er : d;
    return numEll + e_.letterIndex[static_cast<unsigned char>(t.labels[li])];
  };
  std::array<int64_t, kMaxPlanAxes> size;
  size.fill(1);
  std::array<bool, kMaxPlanAxes> seen{};
  for (int i = 0; i < nIn; ++i)
    for (int d = 0; d < c.in(i).rank(); ++d) {
      const int a = axisOfDim(i, d);
      const int64_t n = c.in(i).dims()[d];
      if (!seen[a] || size[a] == 1) {
        size[a] = seen[a] && n == 1 ? size[a] : n;
        seen[a] = true;
      } else if (n != 1 && n != size[a]) {
        return InvalidArgument("Einsum: operand {} dim {} has size {} but the same label has size {} elsewhere", i, d,
                               n, size[a]);
      }
    }
  std::array<std::array<int64_t, kMaxPlanAxes>, kEinsumMaxOperands> stride{};
  for (int i = 0; i < nIn; ++i) {
    const Dims& dims = c.in(i).dims();
    int64_t st = 1;
    for (int d = dims.rank() - 1; d >= 0; --d) {
      const int a = axisOfDim(i, d);
      if (dims[d] != 1 || size[a] == 1) stride[i][a] += st;
      st *= dims[d];
    }
  }
  // Output axes.
  std::array<int, kMaxPlanAxes> outAxes{};
  int numOut = 0;
  std::array<bool, kMaxPlanAxes> inOut{};
  auto addOut = [&](int a) {
    outAxes[numOut++] = a;
    inOut[a] = true;
  };
  if (e_.explicitOut) {
    const EinsumTerm& out = e_.out;
    if (out.ellipsis < 0 && numEll > 0)
      return InvalidArgument("Einsum: equation '{}' broadcasts '...' dims but the output has no '...'", eq);
    for (int j = 0; j <= static_cast<int>(out.labels.size()); ++j) {
      if (j == out.ellipsis)
        for (int a = 0; a < numEll; ++a) addOut(a);
      if (j == static_cast<int>(out.labels.size())) break;
      const int li = e_.letterIndex[static_cast<unsigned char>(out.labels[j])];
      if (li < 0) return InvalidArgument("Einsum: output label '{}' does not appear in the inputs", out.labels[j]);
      if (inOut[numEll + li]) return InvalidArgument("Einsum: output label '{}' repeats", out.labels[j]);
      addOut(numEll + li);
    }
  } else {
    for (int a = 0; a < numEll; ++a) addOut(a);
    for (int ch = 0; ch < kLetters; ++ch)
      if (e_.letterCount[ch] == 1) addOut(numEll + e_.letterIndex[ch]);
  }
  if (numOut != y.rank())
    return InvalidArgument("Einsum: output has rank {} but the equation gives {}", y.rank(), numOut);
  for (int j = 0; j < numOut; ++j)
    if (y.dims()[j] != size[outAxes[j]])
      return InvalidArgument("Einsum: output dim {} is {} but the equation gives {}", j, y.dims()[j],
                             size[outAxes[j]]);
  const int numSum = numAxes - numOut;
  if (numOut > kEinsumMaxAxes || numSum > kEinsumMaxAxes)
    return Unsupported("Einsum on the GPU handles at most {} output and {} summed axes; '{}' has {} and {}",
                       kEinsumMaxAxes, kEinsumMaxAxes, eq, numOut, numSum);
  if (y.numel() == 0) return Status::OK();
  signal::EinsumArgs a;
  a.dtype = y.dtype();
  a.numOperands = nIn;
  for (int i = 0; i < nIn; ++i) a.in[i] = c.in(i).raw();
  a.y = y.raw();
  a.numOut = numOut;
  a.outCount = y.numel();
  for (int j = 0; j < numOut; ++j) {
    a.outSize[j] = size[outAxes[j]];
    for (int i = 0; i < nIn; ++i) a.outStride[j][i] = stride[i][outAxes[j]];
  }
  a.sumCount = 1;
  for (int ax = 0; ax < numAxes; ++ax) {
    if (inOut[ax]) continue;
    const int k = a.numSum++;
    a.sumSize[k] = size[ax];
    a.sumCount *= size[ax];
    for (int i = 0; i < nIn; ++i) a.sumStride[k][i] = stride[i][ax];
  }
  a.smCount = c.res.smCount;
  KILN_CUDA_RETURN_IF_ERROR(signal::launchEinsum(a, c.stream));
  return Status::OK();
}

DType typeAt(const std::vector<DType>& v, size_t i) { return i < v.size() ? v[i] : DType::kUndefined; }

// One numeric type for every input and the output, an equation the kernel can take.
bool einsumSupports(const LayerDesc& d) {
  const DType t = typeAt(d.inputTypes, 0);
  if (!signal::einsumSupportsType(t) || d.outputTypes.size() != 1 || d.outputTypes[0] != t) return false;
  for (DType it : d.inputTypes)
    if (it != t) return false;
  if (!d.attrs || !d.attrs->has("equation")) return false;
  auto e = parseEquation(d.attrs->getString("equation"));
  return e.ok() && e->terms.size() == d.inputTypes.size();
}

// ---- Det ----------------------------------------------------------------------------------------

// Matrices of more than kDetSharedMaxM rows: workspace for this many at once (at least one).
constexpr int64_t kDetMatricesPerLaunch = 64;
constexpr size_t kDetDynamicWorkspace = size_t{8} << 20;  // m unknown when built: up to m = 1024

class DetKernel final : public GpuKernel {
 public:
  explicit DetKernel(size_t workspace) : workspace_(workspace) {}
  Status enqueue(const GpuKernelContext& c) const override {
    const Tensor& x = c.in(0);
    const Dims& d = x.dims();
    if (d.rank() < 2 || d[d.rank() - 1] != d[d.rank() - 2])
      return InvalidArgument("Det input must have shape (..., M, M), got {}", d.toString());
    if (!signal::signalSupportsType(x.dtype())) return unsupportedGpuType("Det", x.dtype());
    Tensor& y = c.out(0);
    const int64_t m = d[d.rank() - 1];
    const int64_t batch = m ? x.numel() / (m * m) : y.numel();
    if (y.dtype() != x.dtype() || y.numel() != batch)
      return InternalError("Det output {} does not match input {}", y.describe(), x.describe());
    const size_t per = signal::detWorkspacePerMatrix(m);
    if (per && batch && (!c.workspace || c.workspaceSize < per))
      return Unsupported("Det of {}x{} matrices needs {} bytes of GPU workspace; this layer has {}", m, m, per,
                         c.workspace ? c.workspaceSize : 0);
    signal::DetArgs a;
    a.dtype = x.dtype();
    a.x = x.raw();
    a.y = y.raw();
    a.batch = batch;
    a.m = m;
    a.workspace = c.workspace;
    a.workspaceSize = c.workspaceSize;
    KILN_CUDA_RETURN_IF_ERROR(signal::launchDet(a, c.stream));
    return Status::OK();
  }
  size_t workspaceBytes() const override { return workspace_; }

 private:
  size_t workspace_;
};

// Workspace for the largest matrices the layer can see: none when they fit shared memory.
size_t detWorkspaceFor(const LayerDesc& d, size_t limit) {
  if (d.inputShapes.empty() || !d.inputShapes[0].rankKnown() || d.inputShapes[0].rank() < 2)
    return std::min(limit, kDetDynamicWorkspace);
  const Shape& s = d.inputShapes[0];
  const Dim& md = s[s.rank() - 1];
  if (!md.isStatic()) return std::min(limit, kDetDynamicWorkspace);
  const size_t per = signal::detWorkspacePerMatrix(md.value());
  if (per == 0) return 0;
  int64_t batch = kDetMatricesPerLaunch;
  if (s.isStatic()) {
    batch = 1;
    for (int i = 0; i < s.rank() - 2; ++i) batch *= s[i].value();
    batch = std::clamp<int64_t>(batch, 1, kDetMatricesPerLaunch);
  }
  return std::max(per, std::min(limit, per * static_cast<size_t>(batch)));
}

bool detSupports(const LayerDesc& d) {
  const DType t = typeAt(d.inputTypes, 0);
  return signal::signalSupportsType(t) && d.inputTypes.size() == 1 && d.outputTypes.size() == 1 &&
         d.outputTypes[0] == t;
}

}  // namespace

void registerEinsumKernels(GpuKernelRegistry& r) {
  GpuKernelDef e;
  e.op = "Einsum";
  e.tactic = "cuda_einsum";
  e.priority = 10;
  e.supports = einsumSupports;
  e.create = [](const LayerDesc& d, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    if (!d.attrs) return InternalError("Einsum kernel created without attributes");
    KILN_ASSIGN_OR_RETURN(Equation eq, parseEquation(d.attrs->getString("equation")));
    return std::unique_ptr<GpuKernel>(std::make_unique<EinsumKernel>(std::move(eq)));
  };
  r.add(std::move(e));

  GpuKernelDef det;
  det.op = "Det";
  det.tactic = "cuda_det";
  det.priority = 10;
  det.supports = detSupports;
  det.create = [](const LayerDesc& d, int, size_t limit) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<DetKernel>(detWorkspaceFor(d, limit)));
  };
  r.add(std::move(det));
}

}  // namespace kiln::cuda
