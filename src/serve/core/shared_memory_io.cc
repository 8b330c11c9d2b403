// Request tensors in system shared memory (see shared_memory_io.h).
#include "serve/core/shared_memory_io.h"

#include <cstring>
#include <limits>

#include "serve/core/datatype.h"
#include "serve/core/names.h"

namespace kiln::serve {

namespace {

constexpr const char* kRegion = "shared_memory_region";
constexpr const char* kByteSize = "shared_memory_byte_size";
constexpr const char* kOffset = "shared_memory_offset";

std::string q(std::string_view s) { return quoteForMessage(s); }

Result<uint64_t> unsignedParam(const Params& p, const char* key, std::string_view where, bool required) {
  auto it = p.find(key);
  if (it == p.end()) {
    if (required) return InvalidArgument("{}: parameter '{}' is missing (required with '{}')", where, key, kRegion);
    return uint64_t{0};
  }
  const int64_t* v = std::get_if<int64_t>(&it->second);
  if (!v || *v < 0) return InvalidArgument("{}: parameter '{}' must be a non-negative integer", where, key);
  return static_cast<uint64_t>(*v);
}

// BYTES in the serialized form: per element a little-endian uint32 length, then its bytes.
Result<Tensor> parseSerializedBytes(const uint8_t* p, uint64_t n, const Dims& shape, const std::string& where) {
  // Checked before allocating: a huge shape over a small range must not allocate the shape.
  if (static_cast<uint64_t>(shape.numel()) > n / 4)
    return InvalidArgument("{}: {} bytes of shared memory are too few for {} BYTES elements (each needs a 4-byte "
                           "length)", where, n, shape.numel());
  Tensor t = Tensor::allocate(DType::kString, shape);
  auto* out = t.data<std::string>();
  uint64_t at = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (n - at < 4) return InvalidArgument("{}: BYTES data in shared memory ends inside element {}'s length", where, i);
    uint32_t len;
    std::memcpy(&len, p + at, 4);
    at += 4;
    if (len > n - at)
      return InvalidArgument("{}: BYTES element {} in shared memory claims {} bytes, only {} remain", where, i, len,
                             n - at);
    out[i].assign(reinterpret_cast<const char*>(p + at), len);
    at += len;
  }
  if (at != n)
    return InvalidArgument("input byte size mismatch for {}: {} BYTES elements take {} bytes, got {}", where,
                           t.numel(), at, n);
  return t;
}

// The tensor an input's range holds. `region` keeps the mapping alive for an in-place view.
Result<Tensor> tensorAt(const std::shared_ptr<SharedMemoryRegion>& region, uint8_t* p, uint64_t n,
                        const InferTensor& in, const std::string& model) {
  const std::string where = fmt::format("input '{}'", in.name);
  if (in.dtype == DType::kString) return parseSerializedBytes(p, n, in.shape, where);
  const uint64_t elem = wireElementSize(in.dtype);
  const uint64_t numel = static_cast<uint64_t>(in.shape.numel());
  if (elem == 0 || (numel > 0 && numel > std::numeric_limits<uint64_t>::max() / elem) || numel * elem != n)
    return InvalidArgument("input byte size mismatch for input '{}' for model '{}'. Expected {}, got {} (shape {} of "
                           "{}; shared_memory_byte_size must match exactly)",
                           in.name, model, numel * elem, n, in.shape.toString(), kserveDatatype(in.dtype));
  if (in.dtype == DType::kBool) {
    // A C++ bool must hold 0 or 1; the wire allows any non-zero byte for true.
    Tensor t = Tensor::allocate(in.dtype, in.shape);
    auto* out = static_cast<uint8_t*>(t.raw());
    for (uint64_t i = 0; i < n; ++i) out[i] = p[i] != 0 ? 1 : 0;
    return t;
  }
  // In place when aligned for the element type (kernels read typed elements); a client may pick
  // any offset, so an unaligned range is copied instead.
  if (reinterpret_cast<uintptr_t>(p) % elem == 0)
    return Tensor::wrap(in.dtype, in.shape, p, region);
  Tensor t = Tensor::allocate(in.dtype, in.shape);
  if (n) std::memcpy(t.raw(), p, n);
  return t;
}

// Bytes an output needs in shared memory (BYTES: serialized).
uint64_t serializedBytes(const Tensor& t) {
  if (t.dtype() != DType::kString) return t.nbytes();
  uint64_t total = 0;
  for (const auto& s : t.span<std::string>()) total += 4 + s.size();
  return total;
}

void writeSerialized(const Tensor& t, uint8_t* at) {
  if (t.dtype() != DType::kString) {
    if (t.nbytes()) std::memcpy(at, t.raw(), t.nbytes());
    return;
  }
  for (const auto& s : t.span<std::string>()) {
    uint32_t len = static_cast<uint32_t>(s.size());
    std::memcpy(at, &len, 4);
    if (len) std::memcpy(at + 4, s.data(), len);
    at += 4 + len;
  }
}

void eraseSharedMemoryParams(Params& p) {
  p.erase(kRegion);
  p.erase(kByteSize);
  p.erase(kOffset);
}

}  // namespace

Result<std::optional<SharedMemoryRef>> sharedMemoryRefOf(const Params& params, std::string_view where) {
  auto it = params.find(kRegion);
  if (it == params.end()) {
    for (const char* k : {kByteSize, kOffset})
      if (params.count(k)) return InvalidArgument("{}: parameter '{}' given without '{}'", where, k, kRegion);
    return std::optional<SharedMemoryRef>();
  }
  const std::string* region = std::get_if<std::string>(&it->second);
  if (!region) return InvalidArgument("{}: parameter '{}' must be a string (a registered region's name)", where, kRegion);
  SharedMemoryRef ref;
  ref.region = *region;
  KILN_ASSIGN_OR_RETURN(ref.byteSize, unsignedParam(params, kByteSize, where, true));
  KILN_ASSIGN_OR_RETURN(ref.offset, unsignedParam(params, kOffset, where, false));
  return std::optional<SharedMemoryRef>(std::move(ref));
}

Status bindSharedMemoryInputs(const SharedMemoryRegistry& registry, InferRequest& req) {
  for (InferTensor& in : req.inputs) {
    const std::string where = fmt::format("input '{}'", in.name);
    KILN_ASSIGN_OR_RETURN(auto ref, sharedMemoryRefOf(in.parameters, where));
    if (!ref) continue;
    if (in.data.defined())
      return InvalidArgument("{} has data in the request and in shared memory region {}; send one", where,
                             q(ref->region));
    auto region = registry.find(ref->region);
    if (!region.ok()) return InvalidArgument("{}: {}", where, region.status().message());
    auto at = (*region)->range(ref->offset, ref->byteSize);
    if (!at.ok()) return InvalidArgument("{}: {}", where, at.status().message());
    KILN_ASSIGN_OR_RETURN(in.data, tensorAt(*region, *at, ref->byteSize, in, req.model));
    eraseSharedMemoryParams(in.parameters);
  }
  return {};
}

Result<std::vector<SharedMemoryOutput>> resolveSharedMemoryOutputs(const SharedMemoryRegistry& registry,
                                                                   const InferRequest& req) {
  std::vector<SharedMemoryOutput> out;
  for (const RequestedOutput& o : req.outputs) {
    const std::string where = fmt::format("output '{}'", o.name);
    KILN_ASSIGN_OR_RETURN(auto ref, sharedMemoryRefOf(o.parameters, where));
    if (!ref) continue;
    if (o.parameters.count("classification"))
      return InvalidArgument("{}: output can't set both 'shared_memory_region' and 'classification'", where);
    auto region = registry.find(ref->region);
    if (!region.ok()) return InvalidArgument("{}: {}", where, region.status().message());
    auto at = (*region)->range(ref->offset, ref->byteSize);
    if (!at.ok()) return InvalidArgument("{}: {}", where, at.status().message());
    out.push_back({o.name, std::move(*region), *at, ref->byteSize});
  }
  return out;
}

Status writeSharedMemoryOutputs(const std::vector<SharedMemoryOutput>& targets, InferResponse& resp) {
  if (targets.empty()) return {};
  std::vector<std::pair<InferTensor*, const SharedMemoryOutput*>> writes;
  for (InferTensor& o : resp.outputs) {
    for (const auto& t : targets) {
      if (t.name != o.name) continue;
      if (o.data.memoryKind() != MemoryKind::kHost) return InternalError("output '{}' is not in host memory", o.name);
      const uint64_t need = serializedBytes(o.data);
      if (need > t.byteSize)
        return InvalidArgument("shared memory size specified with the request for output '{}' ({} bytes) should be at "
                               "least {} bytes to hold the results",
                               o.name, t.byteSize, need);
      writes.emplace_back(&o, &t);
    }
  }
  for (auto [o, t] : writes) {
    writeSerialized(o->data, t->at);
    o->data = Tensor();  // nothing of it travels in the response
    o->inSharedMemory = true;
  }
  return {};
}

}  // namespace kiln::serve
