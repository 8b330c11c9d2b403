// CPU kernels for data movement: Reshape/Flatten/Squeeze/Unsqueeze/Identity (copies), Transpose,
// Concat, Split, Slice, Expand, Tile, Dropout, Cast, CastLike. Movement kernels work on element
// bytes (1/2/4/8-byte words, or std::string), so one instantiation serves many dtypes.
#include <charconv>
#include <cmath>
#include <cstring>

#include "backends/cpu/kernels/broadcast.h"
#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/tensor_random.h"
#include "core/slice_util.h"

namespace kiln::cpu {

namespace {

// Calls f(TypeTag<W>) with a word type of the dtype's size (std::string for strings).
template <typename F>
void dispatchWord(DType t, F&& f) {
  if (t == DType::kString) return f(TypeTag<std::string>{});
  switch (dtypeSize(t)) {
    case 1: return f(TypeTag<uint8_t>{});
    case 2: return f(TypeTag<uint16_t>{});
    case 4: return f(TypeTag<uint32_t>{});
    default: return f(TypeTag<uint64_t>{});
  }
}

Status CopyK(const KernelContext& c) {
  copyTensorData(c.in(0), c.out(0));
  return Status::OK();
}

// Optional ops on plain tensors, as engines see them (engines hold tensors only; the interpreter's
// value kernels in sequence.cc take optional values): a tensor input is a present optional.
Status OptionalHasElementTensorK(const KernelContext& c) {
  c.out(0).data<bool>()[0] = c.hasInput(0);
  return Status::OK();
}

Status BitCastK(const KernelContext& c) {
  Tensor& y = c.out(0);
  if (y.nbytes()) std::memcpy(y.raw(), c.in(0).raw(), y.nbytes());
  if (y.dtype() == DType::kBool)  // only 0/1 are valid bools
    for (int64_t i = 0; i < y.numel(); ++i) y.data<uint8_t>()[i] = y.data<uint8_t>()[i] != 0;
  // 4/2-bit types share their code bits: re-read each byte's low bits in the target type.
  dispatchType<TypeList<Int4, UInt4, Int2, UInt2, Float4E2M1>>(y.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    for (int64_t i = 0; i < y.numel(); ++i) y.data<T>()[i] = T::fromBits(y.data<uint8_t>()[i]);
  });
  return Status::OK();
}

Status TransposeK(const KernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  const int r = x.rank();
  // perm is read in place (no copy: a run allocates nothing).
  const AttrValue* permAttr = c.attrs.find("perm");
  const std::vector<int64_t>* perm = permAttr && permAttr->kind() == AttrKind::kInts && !permAttr->ints().empty()
                                         ? &permAttr->ints() : nullptr;
  Dims inStrides = contiguousStrides(x.dims());
  // Input stride of each output axis.
  Dims st = Dims::filled(r, 0);
  for (int i = 0; i < r; ++i) {
    int64_t p = perm ? (*perm)[i] : r - 1 - i;
    st[i] = inStrides[static_cast<int>(p < 0 ? p + r : p)];
  }
  const Dims& od = y.dims();
  if (y.numel() == 0) return Status::OK();
  dispatchWord(x.dtype(), [&](auto tag) {
    using W = KILN_TYPE(tag);
    const W* px = x.data<W>();
    W* py = y.data<W>();
    if (r == 0) {
      py[0] = px[0];
      return;
    }
    const int64_t inner = od[r - 1], innerStride = st[r - 1];
    const int64_t rows = y.numel() / inner;
    parallelFor(rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t rem = row, off = 0;
        for (int i = r - 2; i >= 0; --i) {
          off += (rem % od[i]) * st[i];
          rem /= od[i];
        }
        W* dst = py + row * inner;
        const W* src = px + off;
        for (int64_t k = 0; k < inner; ++k) dst[k] = src[k * innerStride];
      }
    });
  });
  return Status::OK();
}

int normAxis(int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }

Status ConcatK(const KernelContext& c) {
  Tensor& y = c.out(0);
  const int axis = normAxis(c.attrs.getInt("axis"), y.rank());
  int64_t outer = 1;
  for (int i = 0; i < axis; ++i) outer *= y.dims()[i];
  const int64_t outRow = y.numel() / std::max<int64_t>(1, outer);
  dispatchWord(y.dtype(), [&](auto tag) {
    using W = KILN_TYPE(tag);
    W* py = y.data<W>();
    int64_t colOff = 0;
    for (int k = 0; k < c.numInputs(); ++k) {
      const Tensor& x = c.in(k);
      const int64_t row = outer ? x.numel() / std::max<int64_t>(1, outer) : 0;
      const W* px = x.data<W>();
      for (int64_t o = 0; o < outer; ++o) std::copy(px + o * row, px + (o + 1) * row, py + o * outRow + colOff);
      colOff += row;
    }
  });
  return Status::OK();
}

Status SplitK(const KernelContext& c) {
  const Tensor& x = c.in(0);
  const int axis = normAxis(c.attrs.getInt("axis"), x.rank());
  int64_t outer = 1;
  for (int i = 0; i < axis; ++i) outer *= x.dims()[i];
  const int64_t inRow = x.numel() / std::max<int64_t>(1, outer);
  dispatchWord(x.dtype(), [&](auto tag) {
    using W = KILN_TYPE(tag);
    const W* px = x.data<W>();
    int64_t colOff = 0;
    for (int k = 0; k < c.numOutputs(); ++k) {
      if (!c.hasOutput(k)) continue;
      Tensor& y = c.out(k);
      const int64_t row = y.numel() / std::max<int64_t>(1, outer);
      W* py = y.data<W>();
      for (int64_t o = 0; o < outer; ++o) std::copy(px + o * inRow + colOff, px + o * inRow + colOff + row, py + o * row);
      colOff += row;
    }
  });
  return Status::OK();
}

Status SliceK(const KernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  const int r = x.rank();
  const Tensor& st = c.in(1);
  const Tensor& en = c.in(2);
  std::vector<int64_t> axes, steps;
  for (int64_t i = 0; i < st.numel(); ++i) {
    axes.push_back(c.hasInput(3) ? c.in(3).intAt(i) : i);
    steps.push_back(c.hasInput(4) ? c.in(4).intAt(i) : 1);
  }
  Dims start = Dims::filled(r, 0), step = Dims::filled(r, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    int a = normAxis(axes[i], r);
    SliceAxis s = resolveSlice(st.intAt(static_cast<int64_t>(i)), en.intAt(static_cast<int64_t>(i)), steps[i], x.dims()[a]);
    start[a] = s.start;
    step[a] = s.step;
  }
  if (y.numel() == 0) return Status::OK();
  Dims xs = contiguousStrides(x.dims());
  const Dims& od = y.dims();
  dispatchWord(x.dtype(), [&](auto tag) {
    using W = KILN_TYPE(tag);
    const W* px = x.data<W>();
    W* py = y.data<W>();
    if (r == 0) {
      py[0] = px[0];
      return;
    }
    const int64_t inner = od[r - 1];
    const int64_t rows = y.numel() / inner;
    const int64_t base0 = start[r - 1] * xs[r - 1], s0 = step[r - 1] * xs[r - 1];
    parallelFor(rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t rem = row, off = base0;
        for (int i = r - 2; i >= 0; --i) {
          off += (start[i] + (rem % od[i]) * step[i]) * xs[i];
          rem /= od[i];
        }
        W* dst = py + row * inner;
        for (int64_t k = 0; k < inner; ++k) dst[k] = px[off + k * s0];
      }
    });
  });
  return Status::OK();
}

Status ExpandK(const KernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkBroadcast("Expand", y.dims(), {&x.dims()}));
  if (y.numel() == 0) return Status::OK();
  BroadcastPlan<1> plan(y.dims(), {x.dims()});
  const int64_t s = plan.innerStride(0);
  dispatchWord(x.dtype(), [&](auto tag) {
    using W = KILN_TYPE(tag);
    const W* px = x.data<W>();
    W* py = y.data<W>();
    plan.forEachRow([&](int64_t o, const std::array<int64_t, 1>& off, int64_t n) {
      for (int64_t i = 0; i < n; ++i) py[o + i] = px[off[0] + i * s];
    });
  });
  return Status::OK();
}

Status TileK(const KernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  const int r = x.rank();
  if (y.numel() == 0) return Status::OK();
  Dims xs = contiguousStrides(x.dims());
  const Dims& od = y.dims();
  const Dims& id = x.dims();
  dispatchWord(x.dtype(), [&](auto tag) {
    using W = KILN_TYPE(tag);
    const W* px = x.data<W>();
    W* py = y.data<W>();
    if (r == 0) {
      py[0] = px[0];
      return;
    }
    const int64_t inner = od[r - 1];
    const int64_t rows = y.numel() / inner;
    parallelFor(rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t rem = row, off = 0;
        for (int i = r - 2; i >= 0; --i) {
          off += ((rem % od[i]) % id[i]) * xs[i];
          rem /= od[i];
        }
        W* dst = py + row * inner;
        const int64_t n = id[r - 1];
        for (int64_t k = 0; k < inner; ++k) dst[k] = px[off + k % n];
      }
    });
  });
  return Status::OK();
}

// Training mode draws the mask like the ONNX reference: numpy's legacy RandomState(seed) (MT19937
// seeded by init_genrand, which std::mt19937 implements), uniform(0, 1) per element in order, and
// keeps elements with u >= ratio; kept ones are scaled by 1 / (1 - ratio). Without a `seed`
// attribute every run draws a fresh seed. Seeds outside [0, 2^32) use their low 32 bits.
Status DropoutK(const KernelContext& c) {
  if (c.hasInput(1) && c.in(1).numel() != 1)
    return InvalidArgument("Dropout ratio must be a scalar, got {}", c.in(1).describe());
  if (c.hasInput(2) && c.in(2).numel() != 1)
    return InvalidArgument("Dropout training_mode must be a scalar, got {}", c.in(2).describe());
  const bool training = c.hasInput(2) && c.in(2).intAt(0) != 0;
  const double ratio = c.hasInput(1) ? c.in(1).doubleAt(0) : 0.5;
  const Tensor& x = c.in(0);
  bool* mask = c.hasOutput(1) ? c.out(1).data<bool>() : nullptr;
  if (!training || ratio == 0) {
    copyTensorData(x, c.out(0));
    if (mask) std::fill(mask, mask + c.out(1).numel(), true);
    return Status::OK();
  }
  if (!(ratio >= 0 && ratio < 1)) return InvalidArgument("Dropout ratio must be in [0, 1), got {}", ratio);
  const uint32_t seed = c.attrs.has("seed") ? static_cast<uint32_t>(c.attrs.getInt("seed")) : std::random_device{}();
  std::mt19937 gen(seed);
  return dispatchOr<FloatTypes>("Dropout (training mode)", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    using C = compute_t<T>;
    const T* px = x.data<T>();
    T* py = c.out(0).data<T>();
    const C scale = C(1) / (C(1) - static_cast<C>(ratio));
    for (int64_t i = 0; i < x.numel(); ++i) {
      const bool keep = numpyUniform(gen) >= ratio;
      if (mask) mask[i] = keep;
      // (mask * x) * scale, as the reference computes it: a dropped NaN or inf stays NaN.
      py[i] = convertValue<T>(static_cast<C>(keep) * static_cast<C>(px[i]) * scale);
    }
  });
}

// ---- Cast ------------------------------------------------------------------------------------

using CastTypes = AllPodTypes;

template <typename T>
constexpr bool isSaturatingF8 = std::is_same_v<T, Float8E4M3FN> || std::is_same_v<T, Float8E4M3FNUZ> ||
                                std::is_same_v<T, Float8E5M2> || std::is_same_v<T, Float8E5M2FNUZ>;

// Cast's attributes that shape a conversion: `saturate` (fp8, e8m0) and `round_mode` (e8m0).
struct CastMode {
  bool saturate = true;
  fp::E8M0Rounding round = fp::E8M0Rounding::kUp;
};

// One element. Floats become 4/2-bit integers by truncation and wrapping (see convertValue);
// fp4 always saturates.
template <typename To, typename From>
To castOne(From v, const CastMode& m) {
  if constexpr (std::is_same_v<To, Float8E8M0>) {
    return To(convertValue<float>(v), m.saturate, m.round);
  } else if constexpr (isSaturatingF8<To>) {
    return To(convertValue<float>(v), m.saturate);
  } else if constexpr (std::is_integral_v<To> && !std::is_same_v<To, bool> && isFloatLike<From>) {
    // Float -> integer truncates toward zero; NaN and out-of-range values are undefined in ONNX:
    // give 0 / the saturated bound instead of undefined behaviour.
    double d = convertValue<double>(v);
    if (std::isnan(d)) return To(0);
    if (d <= static_cast<double>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
    if (d >= static_cast<double>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    return static_cast<To>(d);
  } else {
    return convertValue<To>(v);
  }
}

template <typename T>
std::string formatValue(T v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "1" : "0";
  } else if constexpr (isFloatLike<T>) {
    // Shortest text that reads back to the same value (what numpy prints).
    char buf[64];
    using F = std::conditional_t<std::is_same_v<T, double>, double, float>;
    F f = convertValue<F>(v);
    if (std::isnan(f)) return "NaN";
    if (std::isinf(f)) return f > 0 ? "INF" : "-INF";
    auto res = std::to_chars(buf, buf + sizeof(buf), f);
    return std::string(buf, res.ptr);
  } else if constexpr (isSubByteInt<T>) {
    return std::to_string(v.value());
  } else {
    return std::to_string(v);
  }
}

template <typename T>
Status parseValue(const std::string& s, T* out) {
  if constexpr (std::is_same_v<T, bool>) {
    *out = !(s.empty() || s == "0" || s == "false" || s == "False");
    return Status::OK();
  } else {
    errno = 0;
    char* end = nullptr;
    if constexpr (isFloatLike<T>) {
      double d = std::strtod(s.c_str(), &end);  // also reads inf/INF/nan/NaN
      if (end == s.c_str()) return InvalidArgument("Cast cannot read '{}' as a number", s);
      *out = convertValue<T>(d);
    } else if constexpr (std::is_signed_v<T> || isSubByteInt<T>) {
      long long v = std::strtoll(s.c_str(), &end, 10);
      if (end == s.c_str()) return InvalidArgument("Cast cannot read '{}' as an integer", s);
      *out = convertValue<T>(static_cast<int64_t>(v));
    } else {
      unsigned long long v = std::strtoull(s.c_str(), &end, 10);
      if (end == s.c_str()) return InvalidArgument("Cast cannot read '{}' as an integer", s);
      *out = static_cast<T>(v);
    }
    return Status::OK();
  }
}

Status castTensor(const Tensor& x, Tensor& y, const CastMode& mode) {
  const int64_t n = x.numel();
  if (x.dtype() == y.dtype()) {
    copyTensorData(x, y);
    return Status::OK();
  }
  if (x.dtype() == DType::kString) {
    Status st;
    Status d = dispatchOr<CastTypes>("Cast from string", y.dtype(), [&](auto to) {
      using To = KILN_TYPE(to);
      for (int64_t i = 0; i < n && st.ok(); ++i) st = parseValue(x.data<std::string>()[i], y.data<To>() + i);
    });
    KILN_RETURN_IF_ERROR(d);
    return st;
  }
  if (y.dtype() == DType::kString) {
    return dispatchOr<CastTypes>("Cast to string", x.dtype(), [&](auto from) {
      using From = KILN_TYPE(from);
      for (int64_t i = 0; i < n; ++i) y.data<std::string>()[i] = formatValue(x.data<From>()[i]);
    });
  }
  Status inner;
  Status outer = dispatchOr<CastTypes>("Cast", x.dtype(), [&](auto from) {
    using From = KILN_TYPE(from);
    inner = dispatchOr<CastTypes>("Cast", y.dtype(), [&](auto to) {
      using To = KILN_TYPE(to);
      const From* px = x.data<From>();
      To* py = y.data<To>();
      parallelFor(n, 32768, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) py[i] = castOne<To>(px[i], mode);
      });
    });
  });
  KILN_RETURN_IF_ERROR(outer);
  return inner;
}

Status CastK(const KernelContext& c) {
  CastMode mode;
  mode.saturate = c.attrs.getInt("saturate") != 0;
  const std::string& rm = c.attrs.getString("round_mode");
  if (rm == "down") mode.round = fp::E8M0Rounding::kDown;
  else if (rm == "nearest") mode.round = fp::E8M0Rounding::kNearest;
  else if (rm != "up") return InvalidArgument("Cast round_mode must be 'up', 'down' or 'nearest', not '{}'", rm);
  return castTensor(c.in(0), c.out(0), mode);
}

}  // namespace

void RegisterTensorKernels(KernelRegistry& r) {
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
    r.addFn(op, std::string("cpu_ref_") + op, &CopyK);
  r.addFn("BitCast", "cpu_ref_BitCast", &BitCastK);
  r.addFn("OptionalHasElement", "cpu_ref_OptionalHasElement_tensor", &OptionalHasElementTensorK);
  r.addFn("OptionalGetElement", "cpu_ref_OptionalGetElement_tensor", &CopyK);
  r.addFn("Transpose", "cpu_ref_Transpose", &TransposeK);
  r.addFn("Concat", "cpu_ref_Concat", &ConcatK);
  r.addFn("Split", "cpu_ref_Split", &SplitK);
  r.addFn("Slice", "cpu_ref_Slice", &SliceK);
  r.addFn("Expand", "cpu_ref_Expand", &ExpandK);
  r.addFn("Tile", "cpu_ref_Tile", &TileK);
  r.addFn("Dropout", "cpu_ref_Dropout", &DropoutK);
  r.addFn("Cast", "cpu_ref_Cast", &CastK);
  r.addFn("CastLike", "cpu_ref_CastLike", &CastK);
}

}  // namespace kiln::cpu
