// TensorProto decoding. Every path checks the element count against the declared dims, so a
// damaged or hand-made proto is refused instead of read out of bounds.
#include "onnx/tensor_proto.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace kiln::onnx_import {

namespace fs = std::filesystem;

std::string onnxTypeName(int32_t t) {
  static const char* kNames[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16",
                                 "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
                                 "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
                                 "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
                                 "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1",
                                 "FLOAT8E8M0", "UINT2", "INT2"};
  if (t >= 0 && t < static_cast<int32_t>(sizeof(kNames) / sizeof(kNames[0]))) return kNames[t];
  return "type " + std::to_string(t);
}

Result<DType> dtypeFromOnnx(int32_t t) {
  if (isValidDType(t)) return static_cast<DType>(t);
  return Unsupported("element type {} is not supported", onnxTypeName(t));
}

namespace {

// Bytes of the packed ONNX encoding of n elements of a sub-byte type (2 or 4 per byte).
int64_t packedBytes(DType t, int64_t n) {
  const int64_t perByte = 8 / dtypeBits(t);
  return (n + perByte - 1) / perByte;
}

// Unpacks n element codes (low bits first) into Kiln's one-per-byte form (signed integers
// sign-extended).
void unpackSubByte(DType t, const uint8_t* src, int64_t n, uint8_t* dst) {
  const int bits = dtypeBits(t);
  const int perByte = 8 / bits;
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  const int signShift = 8 - bits;
  const bool isSignedInt = t == DType::kInt4 || t == DType::kInt2;
  for (int64_t i = 0; i < n; ++i) {
    uint8_t code = static_cast<uint8_t>(src[i / perByte] >> ((i % perByte) * bits)) & mask;
    dst[i] = isSignedInt ? static_cast<uint8_t>(static_cast<int8_t>(static_cast<uint8_t>(code << signShift)) >> signShift)
                         : code;
  }
}

// The inverse: packs elements (low bits of each byte) 2 or 4 per byte, low bits first; the unused
// bits of a last partial byte are zero.
std::string packSubByte(DType t, const uint8_t* src, int64_t n) {
  const int bits = dtypeBits(t);
  const int perByte = 8 / bits;
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  std::string out(static_cast<size_t>(packedBytes(t, n)), '\0');
  for (int64_t i = 0; i < n; ++i)
    out[static_cast<size_t>(i / perByte)] |= static_cast<char>((src[i] & mask) << ((i % perByte) * bits));
  return out;
}

// Keeps a read-only mapping of an external data file alive for the tensors that view it.
struct MappedFile {
  void* addr = nullptr;
  size_t size = 0;
  ~MappedFile() {
    if (addr && addr != MAP_FAILED) munmap(addr, size);
  }
};

Result<fs::path> resolveExternal(const std::string& baseDir, const std::string& location) {
  fs::path loc(location);
  if (location.empty()) return InvalidArgument("external data has an empty location");
  if (loc.is_absolute()) return InvalidArgument("external data location '{}' must be relative", location);
  for (const auto& part : loc)
    if (part == "..") return InvalidArgument("external data location '{}' leaves the model's folder", location);
  return fs::path(baseDir.empty() ? "." : baseDir) / loc;
}

Result<Tensor> readExternal(const ::onnx::TensorProto& p, DType dtype, const Dims& dims,
                            const std::string& baseDir) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (...) {
      return InvalidArgument("external data field '{}' has a bad value '{}'", kv.key(), kv.value());
    }
  }
  if (dtype == DType::kString) return Unsupported("string tensors in external data");
  KILN_ASSIGN_OR_RETURN(fs::path path, resolveExternal(baseDir, location));
  const bool packed = isSubByte(dtype);
  int64_t want = packed ? packedBytes(dtype, dims.numel()) : dims.numel() * static_cast<int64_t>(dtypeSize(dtype));
  if (length >= 0 && length != want)
    return DataLoss("external data '{}' has length {} but the tensor needs {} bytes", location, length, want);
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return NotFound("external data file '{}' cannot be opened", path.string());
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return NotFound("external data file '{}' cannot be read", path.string());
  }
  if (offset < 0 || offset + want > st.st_size) {
    ::close(fd);
    return DataLoss("external data file '{}' is {} bytes; tensor '{}' needs bytes [{}, {})",
                    path.string(), static_cast<int64_t>(st.st_size), p.name(), offset, offset + want);
  }
  if (want == 0) {
    ::close(fd);
    return Tensor::allocate(dtype, dims);
  }
  // Map the whole file once per tensor read; pages are shared by the kernel, and a >2 GiB model
  // costs address space, not memory.
  auto m = std::make_shared<MappedFile>();
  m->size = static_cast<size_t>(st.st_size);
  m->addr = mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m->addr == MAP_FAILED) return InternalError("mmap of '{}' failed", path.string());
  void* data = static_cast<char*>(m->addr) + offset;
  if (packed) {
    Tensor t = Tensor::allocate(dtype, dims);
    unpackSubByte(dtype, static_cast<const uint8_t*>(data), dims.numel(), t.data<uint8_t>());
    return t;
  }
  if (reinterpret_cast<uintptr_t>(data) % dtypeSize(dtype) != 0) {
    Tensor t = Tensor::allocate(dtype, dims);
    std::memcpy(t.raw(), data, static_cast<size_t>(want));
    return t;
  }
  return Tensor::wrap(dtype, dims, data, m);
}

template <typename Field>
Status checkCount(const Field& f, int64_t want, const char* field, const std::string& name) {
  if (static_cast<int64_t>(f.size()) != want)
    return DataLoss("tensor '{}' has {} values in {} but its dims need {}", name, f.size(), field, want);
  return Status::OK();
}

}  // namespace

Result<Tensor> tensorFromProto(const ::onnx::TensorProto& p, const std::string& baseDir) {
  KILN_ASSIGN_OR_RETURN(DType dtype, dtypeFromOnnx(p.data_type()));
  if (p.dims_size() > kMaxRank)
    return Unsupported("tensor '{}' has rank {} (Kiln supports up to {})", p.name(), p.dims_size(), kMaxRank);
  Dims dims;
  for (int64_t d : p.dims()) {
    if (d < 0) return InvalidArgument("tensor '{}' has a negative dimension {}", p.name(), d);
    dims.push_back(d);
  }
  if (p.has_segment()) return Unsupported("segmented tensor '{}'", p.name());
  if (p.data_location() == ::onnx::TensorProto::EXTERNAL) return readExternal(p, dtype, dims, baseDir);

  const int64_t n = dims.numel();
  const std::string& name = p.name();
  Tensor t = Tensor::allocate(dtype, dims);
  if (dtype == DType::kString) {
    KILN_RETURN_IF_ERROR(checkCount(p.string_data(), n, "string_data", name));
    for (int64_t i = 0; i < n; ++i) t.data<std::string>()[i] = p.string_data(static_cast<int>(i));
    return t;
  }
  if (isSubByte(dtype)) {
    // Packed 2 (4-bit) or 4 (2-bit) elements per byte, in raw_data or one byte per int32_data.
    const int64_t want = packedBytes(dtype, n);
    std::string fromInts;
    const std::string* bytes = &p.raw_data();
    if (p.has_raw_data()) {
      if (static_cast<int64_t>(bytes->size()) != want)
        return DataLoss("tensor '{}' has {} bytes of raw_data but {}{} packs into {}", name, bytes->size(),
                        dtypeName(dtype), dims.toString(), want);
    } else {
      KILN_RETURN_IF_ERROR(checkCount(p.int32_data(), want, "int32_data (packed bytes)", name));
      fromInts.resize(static_cast<size_t>(want));
      for (int64_t i = 0; i < want; ++i) fromInts[static_cast<size_t>(i)] = static_cast<char>(p.int32_data(static_cast<int>(i)));
      bytes = &fromInts;
    }
    unpackSubByte(dtype, reinterpret_cast<const uint8_t*>(bytes->data()), n, t.data<uint8_t>());
    return t;
  }
  if (p.has_raw_data()) {
    const std::string& raw = p.raw_data();
    if (static_cast<int64_t>(raw.size()) != n * static_cast<int64_t>(dtypeSize(dtype)))
      return DataLoss("tensor '{}' has {} bytes of raw_data but {}{} needs {}", name, raw.size(),
                      dtypeName(dtype), dims.toString(), n * static_cast<int64_t>(dtypeSize(dtype)));
    if (n) std::memcpy(t.raw(), raw.data(), raw.size());
    if (dtype == DType::kBool)  // normalize any nonzero byte to 1
      for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = t.data<uint8_t>()[i] != 0;
    return t;
  }
  switch (dtype) {
    case DType::kFloat32:
      KILN_RETURN_IF_ERROR(checkCount(p.float_data(), n, "float_data", name));
      for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = p.float_data(static_cast<int>(i));
      break;
    case DType::kFloat64:
      KILN_RETURN_IF_ERROR(checkCount(p.double_data(), n, "double_data", name));
      for (int64_t i = 0; i < n; ++i) t.data<double>()[i] = p.double_data(static_cast<int>(i));
      break;
    case DType::kInt64:
      KILN_RETURN_IF_ERROR(checkCount(p.int64_data(), n, "int64_data", name));
      for (int64_t i = 0; i < n; ++i) t.data<int64_t>()[i] = p.int64_data(static_cast<int>(i));
      break;
    case DType::kUInt32:
    case DType::kUInt64:
      KILN_RETURN_IF_ERROR(checkCount(p.uint64_data(), n, "uint64_data", name));
      for (int64_t i = 0; i < n; ++i) {
        uint64_t v = p.uint64_data(static_cast<int>(i));
        if (dtype == DType::kUInt32) t.data<uint32_t>()[i] = static_cast<uint32_t>(v);
        else t.data<uint64_t>()[i] = v;
      }
      break;
    default: {
      // int32_data carries every narrower type, small floats as their bit patterns.
      KILN_RETURN_IF_ERROR(checkCount(p.int32_data(), n, "int32_data", name));
      size_t sz = dtypeSize(dtype);
      for (int64_t i = 0; i < n; ++i) {
        int32_t v = p.int32_data(static_cast<int>(i));
        char* dst = static_cast<char*>(t.raw()) + i * sz;
        if (dtype == DType::kBool) {
          *reinterpret_cast<uint8_t*>(dst) = v != 0;
        } else if (sz == 1) {
          *reinterpret_cast<uint8_t*>(dst) = static_cast<uint8_t>(v);
        } else if (sz == 2) {
          *reinterpret_cast<uint16_t*>(dst) = static_cast<uint16_t>(v);
        } else {
          *reinterpret_cast<int32_t*>(dst) = v;
        }
      }
    }
  }
  return t;
}

void tensorToProto(const Tensor& t, const std::string& name, ::onnx::TensorProto* p) {
  p->Clear();
  p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.dims()) p->add_dims(d);
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) p->add_string_data(t.data<std::string>()[i]);
  } else if (isSubByte(t.dtype())) {
    p->set_raw_data(packSubByte(t.dtype(), t.data<uint8_t>(), t.numel()));
  } else {
    p->set_raw_data(t.raw(), t.nbytes());
  }
}

Result<Tensor> readTensorProtoFile(const std::string& path, std::string* nameOut) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open '{}'", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ::onnx::TensorProto p;
  google::protobuf::io::ArrayInputStream ais(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream cis(&ais);
  cis.SetTotalBytesLimit(std::numeric_limits<int>::max());
  if (!p.ParseFromCodedStream(&cis) || !cis.ConsumedEntireMessage())
    return DataLoss("'{}' is not a valid serialized TensorProto", path);
  if (nameOut) *nameOut = p.name();
  auto r = tensorFromProto(p, fs::path(path).parent_path().string());
  if (!r.ok()) return std::move(r).takeStatus().withContext(path);
  return r;
}

}  // namespace kiln::onnx_import
