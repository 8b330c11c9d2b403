// Engine file format (version 3; 2 is still read), little-endian:
//   [0, 64)   header: magic "KILNENG\0", u32 format version, u32 header size, u64 meta offset,
//             u64 meta size, u64 weights offset, u64 weights size, u64 checksum (XXH64 of every
//             byte from the meta offset to the end), u64 reserved
//   meta      the plan's tables (BinaryWriter encoding)
//   weights   constants, 64-byte aligned, starting on a 4096-byte boundary so a mapped file can be
//             used in place
// The reader refuses, with one sentence each: a short file, a wrong magic, a newer format, a size
// mismatch (truncation), a checksum mismatch (damage), and malformed tables.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "plan/binary_io.h"
#include "plan/checksum.h"
#include "plan/plan.h"

namespace kiln::plan {

namespace {

constexpr size_t kHeaderSize = 64;
constexpr size_t kWeightsAlign = 4096;
constexpr size_t kConstAlign = 64;

void writeDims(BinaryWriter& w, const Dims& d) {
  w.u32(static_cast<uint32_t>(d.rank()));
  for (int64_t x : d) w.i64(x);
}
Status readDims(BinaryReader& r, Dims* d) {
  uint32_t rank = 0;
  KILN_RETURN_IF_ERROR(r.u32(&rank));
  if (rank > static_cast<uint32_t>(kMaxRank)) return r.corrupt("a rank exceeds the maximum");
  *d = Dims();
  for (uint32_t i = 0; i < rank; ++i) {
    int64_t v = 0;
    KILN_RETURN_IF_ERROR(r.i64(&v));
    d->push_back(v);
  }
  return Status::OK();
}

void writeStrings(BinaryWriter& w, const std::vector<std::string>& v) {
  w.u64(v.size());
  for (const auto& s : v) w.str(s);
}
Status readStrings(BinaryReader& r, std::vector<std::string>* v) {
  uint64_t n = 0;
  KILN_RETURN_IF_ERROR(r.count(&n, 8));
  v->resize(n);
  for (auto& s : *v) KILN_RETURN_IF_ERROR(r.str(&s));
  return Status::OK();
}

// Tensor values inside attributes (and string constants) are stored inline.
void writeTensorInline(BinaryWriter& w, const Tensor& t) {
  w.u8(static_cast<uint8_t>(t.dtype()));
  writeDims(w, t.dims());
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) w.str(t.data<std::string>()[i]);
  } else {
    w.u64(t.nbytes());
    w.bytes(t.raw(), t.nbytes());
  }
}
Status readTensorInline(BinaryReader& r, Tensor* t) {
  uint8_t dt = 0;
  KILN_RETURN_IF_ERROR(r.u8(&dt));
  if (!isValidDType(dt)) return r.corrupt("unknown element type");
  Dims d;
  KILN_RETURN_IF_ERROR(readDims(r, &d));
  for (int64_t x : d)
    if (x < 0) return r.corrupt("negative dimension");
  DType dtype = static_cast<DType>(dt);
  if (dtype == DType::kString) {
    *t = Tensor::allocate(dtype, d);
    for (int64_t i = 0; i < t->numel(); ++i) KILN_RETURN_IF_ERROR(r.str(t->data<std::string>() + i));
    return Status::OK();
  }
  uint64_t n = 0;
  KILN_RETURN_IF_ERROR(r.u64(&n));
  if (n != static_cast<uint64_t>(d.numel()) * dtypeSize(dtype)) return r.corrupt("tensor size mismatch");
  *t = Tensor::allocate(dtype, d);
  return r.bytes(t->raw(), n);
}

void writeAttrs(BinaryWriter& w, const AttrMap& a) {
  w.u64(a.size());
  for (const auto& [name, v] : a.entries()) {
    w.str(name);
    w.u8(static_cast<uint8_t>(v.kind()));
    switch (v.kind()) {
      case AttrKind::kFloat: w.f32(v.f()); break;
      case AttrKind::kInt: w.i64(v.i()); break;
      case AttrKind::kString: w.str(v.s()); break;
      case AttrKind::kTensor: writeTensorInline(w, v.t()); break;
      case AttrKind::kFloats:
        w.u64(v.floats().size());
        for (float f : v.floats()) w.f32(f);
        break;
      case AttrKind::kInts:
        w.u64(v.ints().size());
        for (int64_t i : v.ints()) w.i64(i);
        break;
      case AttrKind::kStrings: writeStrings(w, v.strings()); break;
    }
  }
}
Status readAttrs(BinaryReader& r, AttrMap* a) {
  uint64_t n = 0;
  KILN_RETURN_IF_ERROR(r.count(&n, 9));
  for (uint64_t i = 0; i < n; ++i) {
    std::string name;
    uint8_t kind = 0;
    KILN_RETURN_IF_ERROR(r.str(&name));
    KILN_RETURN_IF_ERROR(r.u8(&kind));
    switch (static_cast<AttrKind>(kind)) {
      case AttrKind::kFloat: { float f = 0; KILN_RETURN_IF_ERROR(r.f32(&f)); a->set(name, AttrValue(f)); break; }
      case AttrKind::kInt: { int64_t v = 0; KILN_RETURN_IF_ERROR(r.i64(&v)); a->set(name, AttrValue(v)); break; }
      case AttrKind::kString: { std::string s; KILN_RETURN_IF_ERROR(r.str(&s)); a->set(name, AttrValue(s)); break; }
      case AttrKind::kTensor: { Tensor t; KILN_RETURN_IF_ERROR(readTensorInline(r, &t)); a->set(name, AttrValue(t)); break; }
      case AttrKind::kFloats: {
        uint64_t m = 0;
        KILN_RETURN_IF_ERROR(r.count(&m, 4));
        std::vector<float> v(m);
        for (auto& f : v) KILN_RETURN_IF_ERROR(r.f32(&f));
        a->set(name, AttrValue(std::move(v)));
        break;
      }
      case AttrKind::kInts: {
        uint64_t m = 0;
        KILN_RETURN_IF_ERROR(r.count(&m, 8));
        std::vector<int64_t> v(m);
        for (auto& x : v) KILN_RETURN_IF_ERROR(r.i64(&x));
        a->set(name, AttrValue(std::move(v)));
        break;
      }
      case AttrKind::kStrings: {
        std::vector<std::string> v;
        KILN_RETURN_IF_ERROR(readStrings(r, &v));
        a->set(name, AttrValue(std::move(v)));
        break;
      }
      default: return r.corrupt("unknown attribute kind");
    }
  }
  return Status::OK();
}

void writeI32s(BinaryWriter& w, const std::vector<int32_t>& v) {
  w.u64(v.size());
  for (int32_t x : v) w.i32(x);
}
Status readI32s(BinaryReader& r, std::vector<int32_t>* v) {
  uint64_t n = 0;
  KILN_RETURN_IF_ERROR(r.count(&n, 4));
  v->resize(n);
  for (auto& x : *v) KILN_RETURN_IF_ERROR(r.i32(&x));
  return Status::OK();
}

// `constOffsets[i]`: where tensor i's bytes lie in the weights section.
std::string serializeMeta(const Plan& p, const std::vector<uint64_t>& constOffsets) {
  BinaryWriter w;
  w.str(p.kilnVersion);
  w.str(p.modelName);
  w.u64(p.modelHash);
  w.str(p.target.kind);
  w.str(p.target.arch);
  w.str(p.target.device);
  w.str(p.target.features);
  w.u64(p.target.libraries.size());
  for (const auto& [k, v] : p.target.libraries) {
    w.str(k);
    w.str(v);
  }
  w.str(p.build.precisions);
  w.i32(p.build.optimizationLevel);
  w.u64(p.build.workspaceLimit);
  w.pod(p.build.buildSeconds);
  w.u8(p.build.tf32 ? 1 : 0);
  w.u64(p.memory.arenaBytes);
  w.u64(p.memory.peakLiveBytes);
  w.u64(p.memory.naiveBytes);
  w.u64(p.memory.weightBytes);
  w.u64(p.memory.hostArenaBytes);
  w.u64(p.memory.workspaceBytes);
  w.u64(p.profiles.size());
  for (const auto& prof : p.profiles) {
    w.u64(prof.inputs.size());
    for (const auto& in : prof.inputs) {
      w.str(in.name);
      writeDims(w, in.min);
      writeDims(w, in.opt);
      writeDims(w, in.max);
    }
  }
  writeI32s(w, p.inputs);
  writeI32s(w, p.outputs);
  w.u64(p.program.instrs.size());
  for (const auto& ins : p.program.instrs) {
    w.u8(ins.op);
    w.i32(ins.a);
    w.i32(ins.b);
    w.i64(ins.imm);
  }
  w.u64(p.tensors.size());
  for (const auto& t : p.tensors) {
    w.str(t.name);
    w.u8(static_cast<uint8_t>(t.dtype));
    w.u8(static_cast<uint8_t>(t.kind));
    w.u64(t.dims.size());
    for (const auto& d : t.dims) {
      w.i64(d.value);
      w.i32(d.reg);
    }
    w.str(t.shapeText);
    w.i32(t.ioIndex);
    w.u8(static_cast<uint8_t>(t.placement));
    w.u64(t.arenaOffset);
    w.u64(t.hostOffset);
    w.u64(t.maxBytes);
    w.u64(constOffsets[&t - p.tensors.data()]);
    if (t.kind == TensorKind::kConstant && t.dtype == DType::kString) writeTensorInline(w, t.constant);
  }
  w.u64(p.layers.size());
  for (const auto& l : p.layers) {
    w.str(l.name);
    w.str(l.op);
    w.str(l.domain);
    w.i32(l.opset);
    writeAttrs(w, l.attrs);
    writeI32s(w, l.inputs);
    writeI32s(w, l.outputs);
    w.str(l.tactic);
    writeStrings(w, l.fusedFrom);
    w.str(l.precision);
    w.u8(static_cast<uint8_t>(l.placement));
    w.pod(l.measuredUs);
  }
  w.u64(p.runtimeDims.size());  // version 3
  for (const auto& d : p.runtimeDims) {
    w.i32(d.reg);
    w.i32(d.layer);
    w.i32(d.output);
    w.i32(d.axis);
  }
  return std::move(w.buffer());
}

Status readMeta(BinaryReader& r, Plan* p, uint32_t version) {
  KILN_RETURN_IF_ERROR(r.str(&p->kilnVersion));
  KILN_RETURN_IF_ERROR(r.str(&p->modelName));
  KILN_RETURN_IF_ERROR(r.u64(&p->modelHash));
  KILN_RETURN_IF_ERROR(r.str(&p->target.kind));
  KILN_RETURN_IF_ERROR(r.str(&p->target.arch));
  KILN_RETURN_IF_ERROR(r.str(&p->target.device));
  KILN_RETURN_IF_ERROR(r.str(&p->target.features));
  uint64_t n = 0;
  KILN_RETURN_IF_ERROR(r.count(&n, 16));
  for (uint64_t i = 0; i < n; ++i) {
    std::string k, v;
    KILN_RETURN_IF_ERROR(r.str(&k));
    KILN_RETURN_IF_ERROR(r.str(&v));
    p->target.libraries.emplace_back(k, v);
  }
  KILN_RETURN_IF_ERROR(r.str(&p->build.precisions));
  KILN_RETURN_IF_ERROR(r.i32(&p->build.optimizationLevel));
  KILN_RETURN_IF_ERROR(r.u64(&p->build.workspaceLimit));
  KILN_RETURN_IF_ERROR(r.pod(&p->build.buildSeconds));
  uint8_t tf32 = 0;
  KILN_RETURN_IF_ERROR(r.u8(&tf32));
  p->build.tf32 = tf32 != 0;
  KILN_RETURN_IF_ERROR(r.u64(&p->memory.arenaBytes));
  KILN_RETURN_IF_ERROR(r.u64(&p->memory.peakLiveBytes));
  KILN_RETURN_IF_ERROR(r.u64(&p->memory.naiveBytes));
  KILN_RETURN_IF_ERROR(r.u64(&p->memory.weightBytes));
  KILN_RETURN_IF_ERROR(r.u64(&p->memory.hostArenaBytes));
  KILN_RETURN_IF_ERROR(r.u64(&p->memory.workspaceBytes));
  KILN_RETURN_IF_ERROR(r.count(&n, 8));
  p->profiles.resize(n);
  for (auto& prof : p->profiles) {
    uint64_t m = 0;
    KILN_RETURN_IF_ERROR(r.count(&m, 20));
    prof.inputs.resize(m);
    for (auto& in : prof.inputs) {
      KILN_RETURN_IF_ERROR(r.str(&in.name));
      KILN_RETURN_IF_ERROR(readDims(r, &in.min));
      KILN_RETURN_IF_ERROR(readDims(r, &in.opt));
      KILN_RETURN_IF_ERROR(readDims(r, &in.max));
    }
  }
  KILN_RETURN_IF_ERROR(readI32s(r, &p->inputs));
  KILN_RETURN_IF_ERROR(readI32s(r, &p->outputs));
  KILN_RETURN_IF_ERROR(r.count(&n, 17));
  p->program.instrs.resize(n);
  for (size_t i = 0; i < n; ++i) {
    auto& ins = p->program.instrs[i];
    uint8_t op = 0;
    KILN_RETURN_IF_ERROR(r.u8(&op));
    if (op > ShapeInstr::kRuntime) return r.corrupt("unknown shape instruction");
    ins.op = static_cast<ShapeInstr::Op>(op);
    KILN_RETURN_IF_ERROR(r.i32(&ins.a));
    KILN_RETURN_IF_ERROR(r.i32(&ins.b));
    KILN_RETURN_IF_ERROR(r.i64(&ins.imm));
    bool binary = ins.op != ShapeInstr::kInputDim && ins.op != ShapeInstr::kConst && ins.op != ShapeInstr::kRuntime;
    if (binary && (ins.a < 0 || ins.b < 0 || ins.a >= static_cast<int32_t>(i) || ins.b >= static_cast<int32_t>(i)))
      return r.corrupt("a shape instruction reads a register not yet computed");
    if (ins.op == ShapeInstr::kRuntime && (ins.a < 0 || ins.a >= static_cast<int32_t>(i) || ins.b < 0))
      return r.corrupt("a data-dependent dim has no bound computed before it");
  }
  KILN_RETURN_IF_ERROR(r.count(&n, 40));
  p->tensors.resize(n);
  for (auto& t : p->tensors) {
    uint8_t dt = 0, kind = 0;
    KILN_RETURN_IF_ERROR(r.str(&t.name));
    KILN_RETURN_IF_ERROR(r.u8(&dt));
    KILN_RETURN_IF_ERROR(r.u8(&kind));
    if (!isValidDType(dt)) return r.corrupt("unknown element type");
    if (kind > static_cast<uint8_t>(TensorKind::kConstant)) return r.corrupt("unknown tensor kind");
    t.dtype = static_cast<DType>(dt);
    t.kind = static_cast<TensorKind>(kind);
    uint64_t rank = 0;
    KILN_RETURN_IF_ERROR(r.count(&rank, 12));
    if (rank > static_cast<uint64_t>(kMaxRank)) return r.corrupt("a rank exceeds the maximum");
    t.dims.resize(rank);
    for (auto& d : t.dims) {
      KILN_RETURN_IF_ERROR(r.i64(&d.value));
      KILN_RETURN_IF_ERROR(r.i32(&d.reg));
      if (d.reg >= static_cast<int32_t>(p->program.instrs.size())) return r.corrupt("a dim refers to a missing register");
    }
    KILN_RETURN_IF_ERROR(r.str(&t.shapeText));
    KILN_RETURN_IF_ERROR(r.i32(&t.ioIndex));
    uint8_t placement = 0;
    KILN_RETURN_IF_ERROR(r.u8(&placement));
    if (placement > 1) return r.corrupt("a tensor has an unknown placement");
    t.placement = static_cast<Placement>(placement);
    KILN_RETURN_IF_ERROR(r.u64(&t.arenaOffset));
    KILN_RETURN_IF_ERROR(r.u64(&t.hostOffset));
    KILN_RETURN_IF_ERROR(r.u64(&t.maxBytes));
    KILN_RETURN_IF_ERROR(r.u64(&t.constOffset));
    if (t.kind == TensorKind::kConstant && t.dtype == DType::kString) KILN_RETURN_IF_ERROR(readTensorInline(r, &t.constant));
    // The checksum catches damage; these catch a table that would place a tensor outside the
    // memory the context allocates (an engine written by something else than this builder).
    auto within = [](uint64_t offset, uint64_t bytes, uint64_t size) { return bytes <= size && offset <= size - bytes; };
    if (t.kind == TensorKind::kIntermediate) {
      const bool host = t.placement == Placement::kHost;
      if (!within(host ? t.hostOffset : t.arenaOffset, t.maxBytes, host ? p->memory.hostArenaBytes : p->memory.arenaBytes))
        return r.corrupt("an intermediate tensor lies outside its arena");
    } else if (t.placement == Placement::kHost) {
      if (t.kind != TensorKind::kInput) return r.corrupt("an output or constant is placed on the host");
      uint64_t bytes = dtypeSize(t.dtype);
      for (const auto& d : t.dims) {
        if (d.reg >= 0 || d.value < 0 || d.value > kMaxHostInputValues || t.dims.size() > 1)
          return r.corrupt("a host input has a dynamic or large shape");
        bytes *= static_cast<uint64_t>(d.value);
      }
      if (!within(t.hostOffset, bytes, p->memory.hostArenaBytes)) return r.corrupt("a host input lies outside the host arena");
    }
  }
  KILN_RETURN_IF_ERROR(r.count(&n, 40));
  p->layers.resize(n);
  const auto nt = static_cast<int32_t>(p->tensors.size());
  for (auto& l : p->layers) {
    KILN_RETURN_IF_ERROR(r.str(&l.name));
    KILN_RETURN_IF_ERROR(r.str(&l.op));
    KILN_RETURN_IF_ERROR(r.str(&l.domain));
    KILN_RETURN_IF_ERROR(r.i32(&l.opset));
    KILN_RETURN_IF_ERROR(readAttrs(r, &l.attrs));
    KILN_RETURN_IF_ERROR(readI32s(r, &l.inputs));
    KILN_RETURN_IF_ERROR(readI32s(r, &l.outputs));
    for (int32_t id : l.inputs)
      if (id < -1 || id >= nt) return r.corrupt("a layer input refers to a missing tensor");
    for (int32_t id : l.outputs)
      if (id < -1 || id >= nt) return r.corrupt("a layer output refers to a missing tensor");
    KILN_RETURN_IF_ERROR(r.str(&l.tactic));
    KILN_RETURN_IF_ERROR(readStrings(r, &l.fusedFrom));
    KILN_RETURN_IF_ERROR(r.str(&l.precision));
    uint8_t placement = 0;
    KILN_RETURN_IF_ERROR(r.u8(&placement));
    if (placement > 1) return r.corrupt("a layer has an unknown placement");
    l.placement = static_cast<Placement>(placement);
    KILN_RETURN_IF_ERROR(r.pod(&l.measuredUs));
  }
  if (version >= 3) {
    KILN_RETURN_IF_ERROR(r.count(&n, 16));
    p->runtimeDims.resize(n);
    for (auto& d : p->runtimeDims) {
      KILN_RETURN_IF_ERROR(r.i32(&d.reg));
      KILN_RETURN_IF_ERROR(r.i32(&d.layer));
      KILN_RETURN_IF_ERROR(r.i32(&d.output));
      KILN_RETURN_IF_ERROR(r.i32(&d.axis));
      if (d.reg < 0 || d.reg >= static_cast<int32_t>(p->program.instrs.size()) ||
          p->program.instrs[d.reg].op != ShapeInstr::kRuntime || d.layer < 0 ||
          d.layer >= static_cast<int32_t>(p->layers.size()) || d.output < 0 ||
          d.output >= static_cast<int32_t>(p->layers[d.layer].outputs.size()) || d.axis < 0)
        return r.corrupt("a data-dependent dim refers to a missing register, layer or output");
    }
  }
  for (size_t i = 0; i < p->program.instrs.size(); ++i) {
    const ShapeInstr& ins = p->program.instrs[i];
    if (ins.op == ShapeInstr::kRuntime &&
        (ins.b >= static_cast<int32_t>(p->runtimeDims.size()) || p->runtimeDims[ins.b].reg != static_cast<int32_t>(i)))
      return r.corrupt("a data-dependent dim has no producing layer");
  }
  for (int32_t id : p->inputs)
    if (id < 0 || id >= nt) return r.corrupt("an input refers to a missing tensor");
  for (int32_t id : p->outputs)
    if (id < 0 || id >= nt) return r.corrupt("an output refers to a missing tensor");
  if (!r.atEnd()) return r.corrupt("trailing bytes after the tables");
  return Status::OK();
}

// Static dims of a constant (constants always have them), checked.
Result<Dims> constantDims(const TensorInfo& t) {
  for (const auto& x : t.dims)
    if (!x.isStatic() || x.value < 0) return DataLoss("constant '{}' has a non-static shape", t.name);
  return staticDims(t);
}

}  // namespace

int Plan::findTensor(const std::string& name) const {
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].name == name) return static_cast<int>(i);
  return -1;
}

bool ShapeProgram::evaluate(const std::vector<const Dims*>& in, int64_t* regs, const int64_t* runtimeValues) const {
  for (size_t i = 0; i < instrs.size(); ++i) {
    const ShapeInstr& s = instrs[i];
    const bool regOperands = s.op != ShapeInstr::kInputDim && s.op != ShapeInstr::kRuntime;
    int64_t a = s.a >= 0 && s.op != ShapeInstr::kInputDim ? regs[s.a] : 0;
    int64_t b = s.b >= 0 && regOperands ? regs[s.b] : 0;
    switch (s.op) {
      case ShapeInstr::kRuntime: regs[i] = runtimeValues && runtimeValues[s.b] >= 0 ? runtimeValues[s.b] : a; break;
      case ShapeInstr::kInputDim: regs[i] = (*in[s.a])[s.b]; break;
      case ShapeInstr::kConst: regs[i] = s.imm; break;
      case ShapeInstr::kAdd: regs[i] = a + b; break;
      case ShapeInstr::kSub: regs[i] = a - b; break;
      case ShapeInstr::kMul: regs[i] = a * b; break;
      case ShapeInstr::kFloorDiv:
      case ShapeInstr::kCeilDiv: {
        if (b == 0) return false;
        int64_t q = a / b;
        bool inexact = a % b != 0;
        if (s.op == ShapeInstr::kFloorDiv && inexact && ((a < 0) != (b < 0))) --q;
        if (s.op == ShapeInstr::kCeilDiv && inexact && ((a < 0) == (b < 0))) ++q;
        regs[i] = q;
        break;
      }
      case ShapeInstr::kMax: regs[i] = std::max(a, b); break;
      case ShapeInstr::kMin: regs[i] = std::min(a, b); break;
    }
  }
  return true;
}

std::string serializePlan(const Plan& p) {
  // Weights: each numeric constant 64-byte aligned within the section.
  BinaryWriter weights;
  std::vector<uint64_t> offsets(p.tensors.size(), 0);
  for (size_t i = 0; i < p.tensors.size(); ++i) {
    const TensorInfo& t = p.tensors[i];
    if (t.kind != TensorKind::kConstant || t.dtype == DType::kString) continue;
    weights.align(kConstAlign);
    offsets[i] = weights.size();
    weights.bytes(t.constant.raw(), t.constant.nbytes());
  }
  std::string meta = serializeMeta(p, offsets);
  const uint64_t metaOffset = kHeaderSize;
  uint64_t weightsOffset = metaOffset + meta.size();
  weightsOffset = (weightsOffset + kWeightsAlign - 1) / kWeightsAlign * kWeightsAlign;
  std::string out;
  out.reserve(weightsOffset + weights.size());
  BinaryWriter hdr;
  hdr.bytes(kMagic, 8);
  hdr.u32(kFormatVersion);
  hdr.u32(kHeaderSize);
  hdr.u64(metaOffset);
  hdr.u64(meta.size());
  hdr.u64(weightsOffset);
  hdr.u64(weights.size());
  hdr.u64(0);  // checksum, patched below
  hdr.u64(0);
  out = std::move(hdr.buffer());
  out += meta;
  out.append(weightsOffset - out.size(), '\0');
  out += weights.buffer();
  uint64_t sum = xxhash64(out.data() + metaOffset, out.size() - metaOffset);
  std::memcpy(out.data() + 48, &sum, 8);
  return out;
}

Result<std::unique_ptr<Plan>> deserializePlan(const char* data, size_t size, std::shared_ptr<void> owner,
                                              const std::string& what) {
  if (size < kHeaderSize)
    return DataLoss("{} is not an engine file: it is {} bytes, shorter than the 64-byte header", what, size);
  if (std::memcmp(data, kMagic, 8) != 0)
    return InvalidArgument("{} is not a Kiln engine file (wrong magic bytes)", what);
  BinaryReader hr(data + 8, kHeaderSize - 8, what);
  uint32_t version = 0, headerSize = 0;
  uint64_t metaOffset = 0, metaSize = 0, weightsOffset = 0, weightsSize = 0, checksum = 0;
  KILN_RETURN_IF_ERROR(hr.u32(&version));
  KILN_RETURN_IF_ERROR(hr.u32(&headerSize));
  KILN_RETURN_IF_ERROR(hr.u64(&metaOffset));
  KILN_RETURN_IF_ERROR(hr.u64(&metaSize));
  KILN_RETURN_IF_ERROR(hr.u64(&weightsOffset));
  KILN_RETURN_IF_ERROR(hr.u64(&weightsSize));
  KILN_RETURN_IF_ERROR(hr.u64(&checksum));
  if (version > kFormatVersion)
    return Unsupported("{} has engine format version {}; this Kiln reads versions up to {} (rebuild the engine or upgrade Kiln)",
                       what, version, kFormatVersion);
  if (version == 0 || headerSize != kHeaderSize) return DataLoss("{} has a damaged header", what);
  if (version < kMinFormatVersion)
    return Unsupported("{} has engine format version {}, written by an older Kiln; this Kiln reads versions {} to {} "
                       "(rebuild the engine from its model)", what, version, kMinFormatVersion, kFormatVersion);
  if (metaOffset != kHeaderSize || metaOffset + metaSize > weightsOffset || weightsOffset % kWeightsAlign != 0 ||
      weightsOffset + weightsSize != size) {
    if (weightsOffset + weightsSize > size)
      return DataLoss("{} is truncated: {} bytes, the header promises {}", what, size, weightsOffset + weightsSize);
    return DataLoss("{} has a damaged header (section sizes do not match the file size {})", what, size);
  }
  uint64_t sum = xxhash64(data + metaOffset, size - metaOffset);
  if (sum != checksum) return DataLoss("{} is damaged: its checksum does not match its contents", what);

  auto p = std::make_unique<Plan>();
  BinaryReader mr(data + metaOffset, metaSize, what);
  KILN_RETURN_IF_ERROR(readMeta(mr, p.get(), version));
  const char* weights = data + weightsOffset;
  for (auto& t : p->tensors) {
    if (t.kind != TensorKind::kConstant || t.dtype == DType::kString) continue;
    KILN_ASSIGN_OR_RETURN(Dims d, constantDims(t));
    uint64_t bytes = static_cast<uint64_t>(d.numel()) * dtypeSize(t.dtype);
    if (t.constOffset + bytes > weightsSize || t.constOffset % kConstAlign != 0)
      return DataLoss("{} is damaged: constant '{}' lies outside the weights section", what, t.name);
    t.constant = Tensor::wrap(t.dtype, d, const_cast<char*>(weights + t.constOffset), owner);
  }
  p->weightsOwner = std::move(owner);
  return p;
}

namespace {
struct MappedFile {
  void* addr = MAP_FAILED;
  size_t size = 0;
  ~MappedFile() {
    if (addr != MAP_FAILED) munmap(addr, size);
  }
};
}  // namespace

Result<std::unique_ptr<Plan>> readPlanFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return NotFound("engine file '{}' cannot be opened", path);
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("'{}' is not a regular file", path);
  }
  auto m = std::make_shared<MappedFile>();
  m->size = static_cast<size_t>(st.st_size);
  if (m->size == 0) {
    ::close(fd);
    return DataLoss("{} is empty (0 bytes)", path);
  }
  m->addr = mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m->addr == MAP_FAILED) return InternalError("cannot map '{}' into memory", path);
  const char* data = static_cast<const char*>(m->addr);
  size_t size = m->size;
  return deserializePlan(data, size, m, path);
}

Status writePlanFile(const std::string& path, const Plan& p) {
  std::string bytes = serializePlan(p);
  // Write to a temporary name and rename, so a crash never leaves a half-written engine.
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return NotFound("cannot write '{}'", path);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) return DataLoss("writing '{}' failed (disk full?)", path);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return InternalError("cannot rename '{}' to '{}'", tmp, path);
  return Status::OK();
}

}  // namespace kiln::plan
