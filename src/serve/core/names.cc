// Name and path validation.
#include "serve/core/names.h"

#include <filesystem>

#include <fmt/format.h>

namespace kiln::serve {

namespace fs = std::filesystem;

std::string quoteForMessage(std::string_view s) {
  std::string out = "'";
  size_t n = 0;
  for (unsigned char c : s) {
    if (++n > 200) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out + "'";
}

Status validateModelName(std::string_view name) {
  if (name.empty()) return InvalidArgument("model name is empty");
  if (name.size() > 255) return InvalidArgument("model name is longer than 255 bytes");
  if (name[0] == '.') return InvalidArgument("invalid model name {}: it must not start with '.'", quoteForMessage(name));
  for (unsigned char c : name)
    if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
      return InvalidArgument("invalid model name {}: '/', '\\' and control characters are not allowed",
                             quoteForMessage(name));
  return Status::OK();
}

Result<int64_t> parseVersion(std::string_view v) {
  if (v.empty() || v.size() > 18 || v[0] == '0')
    return InvalidArgument("invalid model version {}: expected a positive integer without leading zeros",
                           quoteForMessage(v));
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9')
      return InvalidArgument("invalid model version {}: expected a positive integer", quoteForMessage(v));
    n = n * 10 + (c - '0');
  }
  return n;
}

bool pathInside(const std::string& root, const std::string& path) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(root, ec);
  if (ec) return false;
  fs::path p = fs::weakly_canonical(path, ec);
  if (ec) return false;
  auto rit = r.begin(), pit = p.begin();
  for (; rit != r.end(); ++rit, ++pit) {
    if (rit->empty() && std::next(rit) == r.end()) break;  // trailing separator of the root
    if (pit == p.end() || *rit != *pit) return false;
  }
  return true;
}

}  // namespace kiln::serve
