// Body decompression with zlib.
#include "serve/http/http_body.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <limits>

namespace kiln::serve::http {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// windowBits: 15 + 32 detects a zlib or gzip header; -15 is raw deflate.
Result<std::string> inflateAll(const std::string& in, int windowBits, uint64_t limit, bool* headerError) {
  z_stream zs{};
  if (inflateInit2(&zs, windowBits) != Z_OK) return InternalError("zlib: inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  int rc = Z_OK;
  char buf[64 * 1024];
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && zs.avail_in > 0)) {
      *headerError = zs.total_out == 0;
      std::string why = zs.msg ? zs.msg : (rc == Z_BUF_ERROR ? "unexpected end of data" : "corrupt data");
      inflateEnd(&zs);
      return InvalidArgument("cannot decompress the request body: {}", why);
    }
    size_t produced = sizeof(buf) - zs.avail_out;
    if (out.size() + produced > limit) {
      inflateEnd(&zs);
      return ResourceExhausted("the decompressed request body is larger than the limit of {} bytes", limit);
    }
    out.append(buf, produced);
    if (rc != Z_STREAM_END && zs.avail_in == 0 && produced == 0) {
      inflateEnd(&zs);
      return InvalidArgument("cannot decompress the request body: it is truncated");
    }
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace

Result<std::string> decodeBody(std::string_view contentEncoding, std::string body, uint64_t limit) {
  std::string enc = lower(trim(contentEncoding));
  if (enc.empty() || enc == "identity") return body;
  if (enc.find(',') != std::string::npos)
    return Unsupported("Content-Encoding '{}': only one of gzip, deflate or identity is supported", enc);
  if (enc != "gzip" && enc != "x-gzip" && enc != "deflate")
    return Unsupported("Content-Encoding '{}' is not supported (gzip, deflate or identity)", enc);
  if (body.size() > std::numeric_limits<uInt>::max())
    return ResourceExhausted("the compressed request body is too large");
  bool headerError = false;
  auto r = inflateAll(body, 15 + 32, limit, &headerError);
  if (!r.ok() && enc == "deflate" && headerError) {
    bool ignored = false;
    return inflateAll(body, -15, limit, &ignored);  // raw deflate without the zlib wrapper
  }
  return r;
}

}  // namespace kiln::serve::http
