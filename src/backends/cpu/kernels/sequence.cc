// Value kernels of the sequence and optional ops (SequenceEmpty/Construct/Insert/At/Erase/Length,
// Optional, OptionalHasElement, OptionalGetElement, Identity of sequences and optionals), and the
// value kernel registry. SplitToSequence/ConcatFromSequence are in sequence_split_concat.cc.
#include <cstring>

#include <fmt/format.h>

#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/sequence_kernels.h"
#include "core/sequence_util.h"

namespace kiln::cpu {

// ---- registry ---------------------------------------------------------------------------------

void ValueKernelRegistry::add(const std::string& op, ValueKernelFn fn, const std::string& domain) {
  auto key = std::make_pair(domain, op);
  KILN_CHECK(!defs_.count(key));
  defs_[key] = std::make_unique<ValueKernelDef>(ValueKernelDef{domain, op, "cpu_seq_" + op, fn});
}

const ValueKernelDef* ValueKernelRegistry::find(const std::string& domain, const std::string& op) const {
  auto it = defs_.find({domain, op});
  return it == defs_.end() ? nullptr : it->second.get();
}

std::vector<const ValueKernelDef*> ValueKernelRegistry::all() const {
  std::vector<const ValueKernelDef*> out;
  for (const auto& [k, d] : defs_) out.push_back(d.get());
  return out;
}

const ValueKernelRegistry& ValueKernelRegistry::global() {
  static const ValueKernelRegistry* reg = [] {
    auto* r = new ValueKernelRegistry();
    RegisterSequenceKernels(*r);
    return r;
  }();
  return *reg;
}

// ---- shared helpers ---------------------------------------------------------------------------

Status expectValueKind(const ValueKernelContext& c, int i, ValueKind k, const char* op) {
  if (!c.hasInput(i)) return InvalidArgument("{}: input {} is missing", op, i);
  const RuntimeValue& v = c.in(i);
  if (v.kind() != k)
    return InvalidArgument("{}: input {} must be {}, not {}", op, i, valueTypeName(k, v.elemType()),
                           valueTypeName(v.kind(), v.elemType()));
  return Status::OK();
}

void copyBlocks(const Tensor& src, int64_t srcStride, int64_t srcOff, Tensor& dst, int64_t dstStride,
                int64_t dstOff, int64_t outer, int64_t block) {
  if (outer == 0 || block == 0) return;
  const int64_t grain = std::max<int64_t>(1, 32768 / block);
  if (src.dtype() == DType::kString) {
    const std::string* s = src.data<std::string>();
    std::string* d = dst.data<std::string>();
    parallelFor(outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        std::copy_n(s + o * srcStride + srcOff, block, d + o * dstStride + dstOff);
    });
    return;
  }
  const size_t es = dtypeSize(src.dtype());
  const auto* s = static_cast<const uint8_t*>(src.raw());
  auto* d = static_cast<uint8_t*>(dst.raw());
  parallelFor(outer, grain, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o)
      std::memcpy(d + (o * dstStride + dstOff) * es, s + (o * srcStride + srcOff) * es, block * es);
  });
}

namespace {

// A fresh copy: tensor outputs of value kernels never share an input's memory.
Tensor copyOf(const Tensor& t) {
  Tensor y = Tensor::allocate(t.dtype(), t.dims());
  copyTensorData(t, y);
  return y;
}

Status checkElementType(const Tensor& t, DType want, const char* op) {
  if (t.dtype() != want)
    return InvalidArgument("{}: the tensor is {} but the sequence holds {}", op, dtypeName(t.dtype()), dtypeName(want));
  return Status::OK();
}

// ---- sequences --------------------------------------------------------------------------------

Status SequenceEmptyK(const ValueKernelContext& c) {
  const int64_t dt = c.attrs.getInt("dtype", static_cast<int64_t>(DType::kFloat32));
  if (dt <= 0 || dt > kMaxDTypeValue || !isValidDType(static_cast<int>(dt)))
    return Unsupported("SequenceEmpty: dtype {} is not an element type Kiln has", dt);
  c.out(0) = RuntimeValue::sequence(static_cast<DType>(dt), {});
  return Status::OK();
}

Status SequenceConstructK(const ValueKernelContext& c) {
  if (c.numInputs() == 0) return InvalidArgument("SequenceConstruct needs at least one tensor");
  std::vector<Tensor> elems;
  for (int i = 0; i < c.numInputs(); ++i) {
    KILN_RETURN_IF_ERROR(expectValueKind(c, i, ValueKind::kTensor, "SequenceConstruct"));
    if (c.in(i).elemType() != c.in(0).elemType())
      return InvalidArgument("SequenceConstruct: input {} is {} but input 0 is {}", i, dtypeName(c.in(i).elemType()),
                             dtypeName(c.in(0).elemType()));
    elems.push_back(c.in(i).tensor());
  }
  c.out(0) = RuntimeValue::sequence(c.in(0).elemType(), std::move(elems));
  return Status::OK();
}

Status SequenceInsertK(const ValueKernelContext& c) {
  KILN_RETURN_IF_ERROR(expectValueKind(c, 0, ValueKind::kSequence, "SequenceInsert"));
  KILN_RETURN_IF_ERROR(expectValueKind(c, 1, ValueKind::kTensor, "SequenceInsert"));
  const RuntimeValue& seq = c.in(0);
  const Tensor& t = c.in(1).tensor();
  KILN_RETURN_IF_ERROR(checkElementType(t, seq.elemType(), "SequenceInsert"));
  const int64_t n = static_cast<int64_t>(seq.elements().size());
  if (n >= kMaxSequenceLength)
    return Unsupported("SequenceInsert: the sequence would exceed {} tensors", kMaxSequenceLength);
  int64_t pos = n;
  if (c.hasInput(2)) {
    KILN_RETURN_IF_ERROR(expectValueKind(c, 2, ValueKind::kTensor, "SequenceInsert"));
    KILN_ASSIGN_OR_RETURN(pos, sequencePosition(c.in(2).tensor(), n, /*allowEnd=*/true, "SequenceInsert"));
  }
  std::vector<Tensor> elems = seq.elements();
  elems.insert(elems.begin() + pos, t);
  c.out(0) = RuntimeValue::sequence(seq.elemType(), std::move(elems));
  return Status::OK();
}

Status SequenceAtK(const ValueKernelContext& c) {
  KILN_RETURN_IF_ERROR(expectValueKind(c, 0, ValueKind::kSequence, "SequenceAt"));
  KILN_RETURN_IF_ERROR(expectValueKind(c, 1, ValueKind::kTensor, "SequenceAt"));
  const auto& elems = c.in(0).elements();
  KILN_ASSIGN_OR_RETURN(int64_t pos, sequencePosition(c.in(1).tensor(), static_cast<int64_t>(elems.size()),
                                                      /*allowEnd=*/false, "SequenceAt"));
  c.out(0) = RuntimeValue(copyOf(elems[pos]));
  return Status::OK();
}

Status SequenceEraseK(const ValueKernelContext& c) {
  KILN_RETURN_IF_ERROR(expectValueKind(c, 0, ValueKind::kSequence, "SequenceErase"));
  const RuntimeValue& seq = c.in(0);
  const int64_t n = static_cast<int64_t>(seq.elements().size());
  if (n == 0) return InvalidArgument("SequenceErase: the sequence is empty");
  int64_t pos = n - 1;
  if (c.hasInput(1)) {
    KILN_RETURN_IF_ERROR(expectValueKind(c, 1, ValueKind::kTensor, "SequenceErase"));
    KILN_ASSIGN_OR_RETURN(pos, sequencePosition(c.in(1).tensor(), n, /*allowEnd=*/false, "SequenceErase"));
  }
  std::vector<Tensor> elems = seq.elements();
  elems.erase(elems.begin() + pos);
  c.out(0) = RuntimeValue::sequence(seq.elemType(), std::move(elems));
  return Status::OK();
}

Status SequenceLengthK(const ValueKernelContext& c) {
  KILN_RETURN_IF_ERROR(expectValueKind(c, 0, ValueKind::kSequence, "SequenceLength"));
  c.out(0) = RuntimeValue(Tensor::scalar<int64_t>(static_cast<int64_t>(c.in(0).elements().size())));
  return Status::OK();
}

// ---- optionals --------------------------------------------------------------------------------

Status OptionalK(const ValueKernelContext& c) {
  if (c.hasInput(0)) {
    const RuntimeValue& v = c.in(0);
    if (isOptionalKind(v.kind())) return Unsupported("Optional: optionals of optionals are not supported");
    c.out(0) = RuntimeValue::optionalOf(v);
    return Status::OK();
  }
  const AttrValue* type = c.attrs.find("type");
  ValueKind k;
  DType t;
  if (!type || type->kind() != AttrKind::kString || !parseValueTypeName(type->s(), &k, &t) || isOptionalKind(k))
    return InvalidArgument("Optional without an input needs a tensor or sequence 'type' attribute");
  c.out(0) = RuntimeValue::emptyOptional(optionalKindOf(k), t);
  return Status::OK();
}

Status OptionalHasElementK(const ValueKernelContext& c) {
  const bool has = c.hasInput(0) && c.in(0).hasValue();
  c.out(0) = RuntimeValue(Tensor::scalar<bool>(has));
  return Status::OK();
}

Status OptionalGetElementK(const ValueKernelContext& c) {
  if (!c.hasInput(0)) return InvalidArgument("OptionalGetElement: the input is missing");
  const RuntimeValue& v = c.in(0);
  if (!v.hasValue()) return InvalidArgument("OptionalGetElement: the optional input is empty");
  RuntimeValue e = v.unwrapOptional();
  c.out(0) = e.isTensor() ? RuntimeValue(copyOf(e.tensor())) : std::move(e);
  return Status::OK();
}

// Identity of a sequence or an optional: the same elements (never modified, so shared).
Status IdentityK(const ValueKernelContext& c) {
  if (!c.hasInput(0)) return InvalidArgument("Identity: the input is missing");
  const RuntimeValue& v = c.in(0);
  c.out(0) = v.isTensor() ? RuntimeValue(copyOf(v.tensor())) : v;
  return Status::OK();
}

}  // namespace

void RegisterSequenceKernels(ValueKernelRegistry& r) {
  r.add("SequenceEmpty", &SequenceEmptyK);
  r.add("SequenceConstruct", &SequenceConstructK);
  r.add("SequenceInsert", &SequenceInsertK);
  r.add("SequenceAt", &SequenceAtK);
  r.add("SequenceErase", &SequenceEraseK);
  r.add("SequenceLength", &SequenceLengthK);
  r.add("Optional", &OptionalK);
  r.add("OptionalHasElement", &OptionalHasElementK);
  r.add("OptionalGetElement", &OptionalGetElementK);
  r.add("Identity", &IdentityK);
  RegisterSplitConcatKernels(r);
}

}  // namespace kiln::cpu
