// NonZero, Compress (select.cu), NonMaxSuppression (select_nms.cu) and Unique (select_unique.cu) on the GPU. Their output sizes depend on the values:
// engines size the outputs for an upper bound and run eagerly (Plan::runtimeDims), and this layer
// reads the selected count back (the one synchronization a data-dependent layer makes), fits its
// output view to the actual shape (backends/fit_output.h) and writes it. Scratch is per context,
// grown on first use at a larger size (such engines never capture CUDA graphs).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/select_launch.h"
#include "backends/fit_output.h"

namespace kiln::cuda {

namespace {

struct SelectScratch final : GpuKernelState {
  void* ptr = nullptr;
  size_t bytes = 0;
  ~SelectScratch() override {
    if (ptr) cudaFree(ptr);
  }
  Status reserve(size_t need) {
    if (need <= bytes) return Status::OK();
    if (ptr) cudaFree(ptr);
    ptr = nullptr;
    bytes = 0;
    KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&ptr, need));
    bytes = need;
    return Status::OK();
  }
};

// Reads a device int64 on the host (waits for the stream).
Status readBack(const int64_t* dev, int64_t* host, cudaStream_t s) {
  KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host, dev, sizeof(int64_t), cudaMemcpyDeviceToHost, s));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s));
  return Status::OK();
}

class SelectKernel final : public GpuKernel {
 public:
  explicit SelectKernel(bool compress) : compress_(compress) {}
  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources&) const override {
    return std::unique_ptr<GpuKernelState>(std::make_unique<SelectScratch>());
  }
  Status enqueue(const GpuKernelContext& c) const override { return compress_ ? compress(c) : nonZero(c); }

 private:
  Status nonZero(const GpuKernelContext& c) const {
    const Tensor& x = c.in(0);
    Tensor& y = c.out(0);
    if (!sel::selectReadsType(x.dtype())) return unsupportedGpuType("NonZero", x.dtype());
    const int r = x.rank();
    if (r > sel::kMaxRank) return Unsupported("NonZero of rank {} on the GPU (at most {})", r, sel::kMaxRank);
    int64_t found = 0;
    const int64_t n = x.numel();  // 1 for a scalar: one "position" of no coordinates when nonzero
    sel::Selection s;
    if (n > 0) {
      auto* st = static_cast<SelectScratch*>(c.state);
      KILN_RETURN_IF_ERROR(st->reserve(sel::selectScratchBytes(n)));
      KILN_CUDA_RETURN_IF_ERROR(sel::launchSelectNonZero(x.raw(), x.dtype(), n, st->ptr, st->bytes, &s, c.stream));
      KILN_RETURN_IF_ERROR(readBack(s.count, &found, c.stream));
    }
    KILN_RETURN_IF_ERROR(backends::fitOutput(y, Dims{r, found}, "NonZero"));
    if (r == 0 || found == 0) return Status::OK();
    std::vector<int64_t> dims(x.dims().begin(), x.dims().end());
    KILN_CUDA_RETURN_IF_ERROR(sel::launchUnravel(s.indices, found, dims.data(), r, y.data<int64_t>(), c.stream));
    return Status::OK();
  }

  Status compress(const GpuKernelContext& c) const {
    const Tensor &x = c.in(0), &cond = c.in(1);
    Tensor& y = c.out(0);
    if (cond.dtype() != DType::kBool || cond.rank() != 1)
      return InvalidArgument("Compress condition must be a 1-D bool tensor, got {}", cond.describe());
    int64_t outer = 1, extent = x.numel(), inner = 1;
    Dims shape;
    const bool hasAxis = c.attrs.has("axis");
    int axis = 0;
    if (hasAxis) {
      const int64_t a = c.attrs.getInt("axis");
      if (x.rank() == 0 || a < -x.rank() || a >= x.rank())
        return InvalidArgument("Compress axis {} is out of range for {}", a, x.describe());
      axis = static_cast<int>(a < 0 ? a + x.rank() : a);
      for (int i = 0; i < axis; ++i) outer *= x.dims()[i];
      extent = x.dims()[axis];
      for (int i = axis + 1; i < x.rank(); ++i) inner *= x.dims()[i];
    }
    int64_t found = 0;
    const int64_t n = cond.numel();
    sel::Selection s;
    if (n > 0) {
      auto* st = static_cast<SelectScratch*>(c.state);
      KILN_RETURN_IF_ERROR(st->reserve(sel::selectScratchBytes(n)));
      KILN_CUDA_RETURN_IF_ERROR(
          sel::launchSelectTrue(static_cast<const bool*>(cond.raw()), n, st->ptr, st->bytes, &s, c.stream));
      KILN_RETURN_IF_ERROR(readBack(s.count, &found, c.stream));
      if (found > 0) {
        int64_t last = 0;  // the largest selected position (positions are ascending)
        KILN_RETURN_IF_ERROR(readBack(s.indices + found - 1, &last, c.stream));
        if (last >= extent)
          return InvalidArgument("Compress condition selects index {} of an extent of {}", last, extent);
      }
    }
    if (hasAxis) {
      shape = x.dims();
      shape[axis] = found;
    } else {
      shape = Dims{found};
    }
    KILN_RETURN_IF_ERROR(backends::fitOutput(y, shape, "Compress"));
    if (found == 0) return Status::OK();
    KILN_CUDA_RETURN_IF_ERROR(sel::launchGatherSelected(x.raw(), y.raw(), dtypeSize(x.dtype()), outer, extent, inner,
                                                        s.indices, found, c.stream));
    return Status::OK();
  }

  bool compress_;
};

// NonMaxSuppression: boxes and scores on the device; max_output_boxes_per_class, iou_threshold
// and score_threshold are host inputs (backends/host_inputs.h).
class NmsKernel final : public GpuKernel {
 public:
  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources&) const override {
    return std::unique_ptr<GpuKernelState>(std::make_unique<SelectScratch>());
  }
  Status enqueue(const GpuKernelContext& c) const override {
    const Tensor &boxes = c.in(0), &scores = c.in(1);
    Tensor& y = c.out(0);
    const Dims &bd = boxes.dims(), &sd = scores.dims();
    if (boxes.dtype() != DType::kFloat32 || scores.dtype() != DType::kFloat32)
      return unsupportedGpuType("NonMaxSuppression", boxes.dtype() != DType::kFloat32 ? boxes.dtype() : scores.dtype());
    if (bd.rank() != 3 || bd[2] != 4 || sd.rank() != 3 || sd[0] != bd[0] || sd[2] != bd[1])
      return InvalidArgument("NonMaxSuppression boxes {} / scores {} must be (B, N, 4) / (B, C, N)", bd.toString(),
                             sd.toString());
    sel::NmsArgs a;
    a.boxes = boxes.data<float>();
    a.scores = scores.data<float>();
    a.batches = bd[0], a.boxes_ = bd[1], a.classes = sd[1];
    if (c.hasInput(2) && c.in(2).numel()) a.maxPerClass = std::max<int64_t>(c.in(2).intAt(0), 0);
    if (c.hasInput(3) && c.in(3).numel()) a.iouThreshold = static_cast<float>(c.in(3).doubleAt(0));
    if (c.hasInput(4) && c.in(4).numel()) {
      a.hasScoreThreshold = true;
      a.scoreThreshold = static_cast<float>(c.in(4).doubleAt(0));
    }
    a.centerPointBox = c.attrs.getInt("center_point_box") == 1;
    int64_t total = 0;
    auto* st = static_cast<SelectScratch*>(c.state);
    if (a.maxPerClass > 0 && a.batches * a.classes * a.boxes_ > 0) {
      if (a.boxes_ > 0x7fffffff) return Unsupported("NonMaxSuppression of {} boxes on the GPU", a.boxes_);
      KILN_RETURN_IF_ERROR(st->reserve(sel::nmsScratchBytes(a)));
      sel::NmsResult r;
      KILN_CUDA_RETURN_IF_ERROR(sel::launchNmsSelect(a, st->ptr, st->bytes, &r, c.stream));
      KILN_RETURN_IF_ERROR(readBack(r.total, &total, c.stream));
    }
    KILN_RETURN_IF_ERROR(backends::fitOutput(y, Dims{total, 3}, "NonMaxSuppression"));
    if (total > 0) KILN_CUDA_RETURN_IF_ERROR(sel::launchNmsWrite(a, st->ptr, total, y.data<int64_t>(), c.stream));
    return Status::OK();
  }
};

// Unique: the sort and grouping on the device, the unique count read back, then the outputs at
// their actual sizes (Y's axis or its only dim, indices and counts: the count; inverse: static).
class UniqueKernel final : public GpuKernel {
 public:
  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources&) const override {
    return std::unique_ptr<GpuKernelState>(std::make_unique<SelectScratch>());
  }
  Status enqueue(const GpuKernelContext& c) const override {
    const Tensor& x = c.in(0);
    const Dims& d = x.dims();
    if (!sel::selectReadsType(x.dtype())) return unsupportedGpuType("Unique", x.dtype());
    sel::UniqueArgs a;
    a.x = x.raw();
    a.type = x.dtype();
    a.elemBytes = dtypeSize(x.dtype());
    a.n = x.numel();
    a.sorted = c.attrs.getInt("sorted") != 0;
    const bool hasAxis = c.attrs.has("axis");
    int axis = 0;
    if (hasAxis) {
      const int64_t v = c.attrs.getInt("axis");
      if (d.rank() == 0 || v < -d.rank() || v >= d.rank())
        return InvalidArgument("Unique axis {} is out of range for shape {}", v, d.toString());
      axis = static_cast<int>(v < 0 ? v + d.rank() : v);
      a.outer = a.inner = 1;
      a.n = d[axis];
      for (int i = 0; i < axis; ++i) a.outer *= d[i];
      for (int i = axis + 1; i < d.rank(); ++i) a.inner *= d[i];
    }
    int64_t u = 0;
    auto* st = static_cast<SelectScratch*>(c.state);
    if (a.n > 0) {
      KILN_RETURN_IF_ERROR(st->reserve(sel::uniqueScratchBytes(a)));
      const int64_t* count = nullptr;
      KILN_CUDA_RETURN_IF_ERROR(sel::launchUniqueGroup(a, st->ptr, st->bytes, &count, c.stream));
      KILN_RETURN_IF_ERROR(readBack(count, &u, c.stream));
    }
    Dims yShape{u};
    if (hasAxis) {
      yShape = d;
      yShape[axis] = u;
    }
    KILN_RETURN_IF_ERROR(backends::fitOutput(c.out(0), yShape, "Unique"));
    for (int i : {1, 3})
      if (c.hasOutput(i)) KILN_RETURN_IF_ERROR(backends::fitOutput(c.out(i), Dims{u}, "Unique"));
    if (u == 0) return Status::OK();
    sel::UniqueOutputs o;
    o.y = c.out(0).raw();
    if (c.hasOutput(1)) o.indices = c.out(1).data<int64_t>();
    if (c.hasOutput(2)) o.inverse = c.out(2).data<int64_t>();
    if (c.hasOutput(3)) o.counts = c.out(3).data<int64_t>();
    KILN_CUDA_RETURN_IF_ERROR(sel::launchUniqueWrite(a, st->ptr, u, o, c.stream));
    return Status::OK();
  }
};

bool movableType(DType t) {
  const size_t b = dtypeSize(t);
  return t != DType::kString && (b == 1 || b == 2 || b == 4 || b == 8) && !isSubByte(t);
}

void addSelect(GpuKernelRegistry& r, const char* op, const char* tactic, bool compress,
               bool (*supports)(const LayerDesc&)) {
  GpuKernelDef def;
  def.op = op;
  def.tactic = tactic;
  def.priority = 10;
  def.supports = supports;
  def.create = [compress](const LayerDesc&, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<SelectKernel>(compress));
  };
  r.add(std::move(def));
}

}  // namespace

void registerSelectKernels(GpuKernelRegistry& r) {
  GpuKernelDef nms;
  nms.op = "NonMaxSuppression";
  nms.tactic = "cuda_select_nms";
  nms.priority = 10;
  nms.supports = [](const LayerDesc& d) {
    return d.inputTypes.size() >= 2 && d.inputTypes[0] == DType::kFloat32 && d.inputTypes[1] == DType::kFloat32;
  };
  nms.create = [](const LayerDesc&, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<NmsKernel>());
  };
  r.add(std::move(nms));
  GpuKernelDef unique;
  unique.op = "Unique";
  unique.tactic = "cuda_select_unique";
  unique.priority = 10;
  unique.supports = [](const LayerDesc& d) { return !d.inputTypes.empty() && sel::selectReadsType(d.inputTypes[0]); };
  unique.create = [](const LayerDesc&, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<UniqueKernel>());
  };
  r.add(std::move(unique));
  addSelect(r, "NonZero", "cuda_select_nonzero", false, [](const LayerDesc& d) {
    return !d.inputTypes.empty() && sel::selectReadsType(d.inputTypes[0]);
  });
  addSelect(r, "Compress", "cuda_select_compress", true, [](const LayerDesc& d) {
    return d.inputTypes.size() == 2 && movableType(d.inputTypes[0]) && d.inputTypes[1] == DType::kBool;
  });
}

}  // namespace kiln::cuda
