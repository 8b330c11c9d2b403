// .npy reader and writer. The header is a Python dict literal; we parse the three keys we need.
#include "core/npy.h"

#include <fstream>
#include <regex>

namespace kiln {

namespace {

struct NpyType {
  const char* descr;
  DType dtype;
};
constexpr NpyType kTypes[] = {
    {"|b1", DType::kBool},     {"|i1", DType::kInt8},     {"|u1", DType::kUInt8},
    {"<i2", DType::kInt16},    {"<u2", DType::kUInt16},   {"<i4", DType::kInt32},
    {"<u4", DType::kUInt32},   {"<i8", DType::kInt64},    {"<u8", DType::kUInt64},
    {"<f2", DType::kFloat16},  {"<f4", DType::kFloat32},  {"<f8", DType::kFloat64},
};

std::string descrOf(DType t) {
  switch (t) {
    case DType::kBFloat16: return "<u2";
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ:
    case DType::kFloat4E2M1: case DType::kFloat8E8M0: case DType::kUInt4: case DType::kUInt2: return "|u1";
    case DType::kInt4: case DType::kInt2: return "|i1";  // unpacked, sign-extended
    default: break;
  }
  for (const auto& k : kTypes)
    if (k.dtype == t) return k.descr;
  return "";
}

}  // namespace

Result<Tensor> parseNpy(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    return InvalidArgument("{}: not a .npy file (bad magic)", what);
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t headerLen, pos;
  if (major == 1) {
    headerLen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    pos = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return DataLoss("{}: truncated .npy header", what);
    headerLen = 0;
    for (int i = 0; i < 4; ++i) headerLen |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    pos = 12;
  } else {
    return Unsupported("{}: .npy format version {} is not supported", what, major);
  }
  if (pos + headerLen > bytes.size()) return DataLoss("{}: truncated .npy header", what);
  std::string header = bytes.substr(pos, headerLen);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    return InvalidArgument("{}: .npy header has no descr", what);
  std::string descr = m[1];
  if (std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*True)")))
    return Unsupported("{}: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)", what);
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    return InvalidArgument("{}: .npy header has no shape", what);
  std::string shapeStr = m[1];
  Dims dims;
  static const std::regex kNumber(R"(\d+)");
  std::sregex_iterator it(shapeStr.begin(), shapeStr.end(), kNumber), end;
  for (; it != end; ++it) {
    if (dims.rank() >= kMaxRank) return Unsupported("{}: rank exceeds {}", what, kMaxRank);
    dims.push_back(std::stoll(it->str()));
  }
  DType dtype = DType::kUndefined;
  std::string d = descr;
  if (d.size() == 3 && d[0] == '=') d[0] = '<';
  for (const auto& k : kTypes)
    if (d == k.descr || (d.size() == 3 && d[0] == '<' && k.descr[0] == '|' && d.substr(1) == std::string(k.descr + 1)))
      dtype = k.dtype;
  if (dtype == DType::kUndefined)
    return Unsupported("{}: .npy dtype '{}' is not supported (big-endian, object or complex?)", what, descr);
  Tensor t = Tensor::allocate(dtype, dims);
  size_t dataPos = pos + headerLen;
  if (bytes.size() - dataPos < t.nbytes())
    return DataLoss("{}: .npy data is truncated ({} bytes, {}{} needs {})", what, bytes.size() - dataPos,
                    dtypeName(dtype), dims.toString(), t.nbytes());
  if (t.nbytes()) std::memcpy(t.raw(), bytes.data() + dataPos, t.nbytes());
  if (dtype == DType::kBool)
    for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = t.data<uint8_t>()[i] != 0;
  return t;
}

Result<Tensor> readNpy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open '{}'", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return parseNpy(bytes, path);
}

std::string serializeNpy(const Tensor& t) {
  std::string shape;
  for (int i = 0; i < t.rank(); ++i) shape += std::to_string(t.dims()[i]) + (t.rank() == 1 ? "," : (i + 1 < t.rank() ? ", " : ""));
  std::string header = "{'descr': '" + descrOf(t.dtype()) + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Pad so the data starts at a multiple of 64 bytes, ending the header with a newline.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>((header.size() >> 8) & 0xFF);
  out += header;
  out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

Status writeNpy(const std::string& path, const Tensor& t) {
  if (descrOf(t.dtype()).empty()) return Unsupported("cannot write {} tensors as .npy", dtypeName(t.dtype()));
  std::ofstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot write '{}'", path);
  std::string bytes = serializeNpy(t);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) return DataLoss("writing '{}' failed", path);
  return Status::OK();
}

}  // namespace kiln
