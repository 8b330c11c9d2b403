// CPU kernels for Shape, Size, Constant, ConstantOfShape and Range.
#include <cmath>
#include <cstring>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"

namespace kiln::cpu {

namespace {

Status ShapeK(const KernelContext& c) {
  const Dims& d = c.in(0).dims();
  const int r = d.rank();
  auto clampIdx = [r](int64_t v) {
    if (v < 0) v += r;
    return std::clamp<int64_t>(v, 0, r);
  };
  int64_t start = clampIdx(c.attrs.getInt("start"));
  int64_t end = c.attrs.has("end") ? clampIdx(c.attrs.getInt("end")) : r;
  int64_t* out = c.out(0).data<int64_t>();
  for (int64_t i = start; i < end; ++i) *out++ = d[static_cast<int>(i)];
  return Status::OK();
}

Status SizeK(const KernelContext& c) {
  *c.out(0).data<int64_t>() = c.in(0).numel();
  return Status::OK();
}

Status ConstantK(const KernelContext& c) {
  // Normally folded at import; a graph built by hand still runs.
  const AttrMap& a = c.attrs;
  Tensor& y = c.out(0);
  if (a.has("value")) copyTensorData(a.getTensor("value"), y);
  else if (a.has("value_float")) *y.data<float>() = a.getFloat("value_float");
  else if (a.has("value_int")) *y.data<int64_t>() = a.getInt("value_int");
  else if (a.has("value_floats")) std::copy(a.getFloats("value_floats").begin(), a.getFloats("value_floats").end(), y.data<float>());
  else if (a.has("value_ints")) std::copy(a.getInts("value_ints").begin(), a.getInts("value_ints").end(), y.data<int64_t>());
  else if (a.has("value_string")) y.data<std::string>()[0] = a.getString("value_string");
  else if (a.has("value_strings")) std::copy(a.getStrings("value_strings").begin(), a.getStrings("value_strings").end(), y.data<std::string>());
  else return InvalidArgument("Constant has no value");
  return Status::OK();
}

Status ConstantOfShapeK(const KernelContext& c) {
  Tensor& y = c.out(0);
  if (!c.attrs.has("value")) {  // float32 zeros
    if (y.nbytes()) std::memset(y.raw(), 0, y.nbytes());
    return Status::OK();
  }
  const Tensor& v = c.attrs.getTensor("value");
  const size_t sz = dtypeSize(v.dtype());
  char* out = static_cast<char*>(y.raw());
  if (v.dtype() == DType::kString) {
    for (int64_t i = 0; i < y.numel(); ++i) y.data<std::string>()[i] = v.data<std::string>()[0];
    return Status::OK();
  }
  for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(out + i * sz, v.raw(), sz);
  return Status::OK();
}

Status RangeK(const KernelContext& c) {
  Tensor& y = c.out(0);
  return dispatchOr<TypeList<float, double, Float16, BFloat16, int16_t, int32_t, int64_t>>("Range", y.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    C start = static_cast<C>(c.in(0).data<T>()[0]), delta = static_cast<C>(c.in(2).data<T>()[0]);
    T* out = y.data<T>();
    // Each element from the start (not by repeated addition) to avoid float drift.
    for (int64_t i = 0; i < y.numel(); ++i) out[i] = convertValue<T>(static_cast<C>(start + static_cast<C>(i) * delta));
  });
}

}  // namespace

void RegisterShapeKernels(KernelRegistry& r) {
  r.addFn("Shape", "cpu_ref_Shape", &ShapeK);
  r.addFn("Size", "cpu_ref_Size", &SizeK);
  r.addFn("Constant", "cpu_ref_Constant", &ConstantK);
  r.addFn("ConstantOfShape", "cpu_ref_ConstantOfShape", &ConstantOfShapeK);
  r.addFn("Range", "cpu_ref_Range", &RangeK);
}

}  // namespace kiln::cpu
