// System shared-memory regions (see shared_memory.h).
#include "serve/core/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "serve/core/log.h"
#include "serve/core/names.h"

namespace kiln::serve {

namespace {

std::string q(std::string_view s) { return quoteForMessage(s); }

// Triton's words for a duplicate registration.
Status alreadyRegistered(std::string_view name) {
  return makeError(StatusCode::kAlreadyExists, "shared memory region {} already in manager", q(name));
}

// Closes a descriptor on every return path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Status validateSharedMemoryName(std::string_view name) {
  if (name.empty()) return InvalidArgument("a shared memory region needs a name");
  if (name.size() > 256)
    return InvalidArgument("shared memory region name {} is {} bytes long; the limit is 256", q(name), name.size());
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f)
      return InvalidArgument("shared memory region name {} contains a control character", q(name));
  return {};
}

Status validateSharedMemoryKey(std::string_view key) {
  const auto bad = [&](std::string_view why) {
    return InvalidArgument("shared memory key {} is not valid: {}", q(key), why);
  };
  if (key.empty() || key[0] != '/') return bad("it must start with '/' (a POSIX shared memory object name, e.g. \"/input0\")");
  std::string_view rest = key.substr(1);
  if (rest.empty()) return bad("a name must follow the '/'");
  if (rest.size() > 255) return bad("it is longer than 255 bytes after the '/'");
  if (rest.find('/') != std::string_view::npos) return bad("it may contain no '/' after the first");
  if (rest.find('\0') != std::string_view::npos) return bad("it contains a NUL byte");
  if (rest == "." || rest == "..") return bad("'.' and '..' are not object names");
  return {};
}

Result<std::shared_ptr<SharedMemoryRegion>> SharedMemoryRegion::map(const std::string& name, const std::string& key,
                                                                    uint64_t offset, uint64_t byteSize) {
  KILN_RETURN_IF_ERROR(validateSharedMemoryName(name));
  KILN_RETURN_IF_ERROR(validateSharedMemoryKey(key));
  const std::string what = fmt::format("failed to register shared memory region {}", q(name));
  if (byteSize == 0) return InvalidArgument("{}: byte_size must be greater than 0", what);
  if (offset > std::numeric_limits<uint64_t>::max() - byteSize)
    return InvalidArgument("{}: invalid args: offset {} + byte_size {} overflows", what, offset, byteSize);

  Fd fd;
  fd.fd = ::shm_open(key.c_str(), O_RDWR, 0);
  if (fd.fd < 0) {
    int err = errno;
    std::string msg = fmt::format("{}: Unable to open shared memory region: {} ({})", what, q(key), std::strerror(err));
    return err == ENOENT ? NotFound("{}", msg) : InvalidArgument("{}", msg);
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0)
    return InvalidArgument("{}: Invalid shared memory region: {} (fstat: {})", what, q(key), std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgument("{}: {} is not a shared memory object", what, q(key));
  const uint64_t objectBytes = st.st_size > 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (offset + byteSize > objectBytes)
    return InvalidArgument("{}: invalid args: offset {} + byte_size {} is beyond the end of {} ({} bytes)", what, offset,
                           byteSize, q(key), objectBytes);

  // mmap wants a page-aligned file offset; map from the page holding `offset` (Triton passes the
  // offset through and so refuses unaligned ones).
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = offset / page * page;
  const uint64_t length = offset - start + byteSize;
  if (length > std::numeric_limits<size_t>::max() || start > static_cast<uint64_t>(std::numeric_limits<off_t>::max()))
    return InvalidArgument("{}: offset {} + byte_size {} does not fit this machine's address space", what, offset,
                           byteSize);
  void* p = ::mmap(nullptr, static_cast<size_t>(length), PROT_READ | PROT_WRITE, MAP_SHARED, fd.fd,
                   static_cast<off_t>(start));
  if (p == MAP_FAILED)
    return InvalidArgument("{}: cannot map {} bytes of {}: {}", what, length, q(key), std::strerror(errno));

  std::shared_ptr<SharedMemoryRegion> r(new SharedMemoryRegion());
  r->name_ = name;
  r->key_ = key;
  r->offset_ = offset;
  r->byteSize_ = byteSize;
  r->mapping_ = p;
  r->mappingBytes_ = static_cast<size_t>(length);
  r->data_ = static_cast<uint8_t*>(p) + (offset - start);
  return r;
}

SharedMemoryRegion::~SharedMemoryRegion() {
  if (mapping_ && ::munmap(mapping_, mappingBytes_) != 0)
    log::warn("unmapping shared memory region '{}' failed: {}", name_, std::strerror(errno));
}

Result<uint8_t*> SharedMemoryRegion::range(uint64_t offset, uint64_t size) const {
  if (offset >= byteSize_ && !(offset == byteSize_ && size == 0))
    return InvalidArgument("Invalid offset for shared memory region: {} (offset {} is not inside its {} bytes)",
                           q(name_), offset, byteSize_);
  if (size > byteSize_ - offset)
    return InvalidArgument("Invalid offset + byte size for shared memory region: {} (offset {} + byte size {} is "
                           "beyond its {} bytes)",
                           q(name_), offset, size, byteSize_);
  return data_ + offset;
}

Status SharedMemoryRegistry::registerRegion(const std::string& name, const std::string& key, uint64_t offset,
                                            uint64_t byteSize) {
  KILN_RETURN_IF_ERROR(validateSharedMemoryName(name));
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (regions_.count(name)) return alreadyRegistered(name);
    if (regions_.size() >= kMaxRegions)
      return ResourceExhausted("cannot register shared memory region {}: {} regions are registered, the limit",
                               q(name), kMaxRegions);
  }
  // Mapped outside the lock (opening and mapping are system calls); the name is checked again.
  KILN_ASSIGN_OR_RETURN(auto region, SharedMemoryRegion::map(name, key, offset, byteSize));
  std::lock_guard<std::mutex> lk(mu_);
  if (regions_.count(name)) return alreadyRegistered(name);
  regions_.emplace(name, std::move(region));
  log::info("system shared memory region '{}' registered: key '{}', offset {}, {} bytes", name, key, offset, byteSize);
  return {};
}

Status SharedMemoryRegistry::unregister(const std::string& name) {
  // Dropped after the lock: the last reference unmaps, which need not happen under it.
  std::map<std::string, std::shared_ptr<SharedMemoryRegion>> gone;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (name.empty()) {
      gone.swap(regions_);
    } else if (auto it = regions_.find(name); it != regions_.end()) {
      gone.insert(regions_.extract(it));
    }
  }
  for (const auto& [n, r] : gone)
    log::info("system shared memory region '{}' unregistered{}", n,
              r.use_count() > 1 ? " (unmapped once the requests using it finish)" : "");
  return {};
}

Result<std::vector<SharedMemoryRegionStatus>> SharedMemoryRegistry::status(const std::string& name) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<SharedMemoryRegionStatus> out;
  if (name.empty()) {
    for (const auto& [n, r] : regions_) out.push_back(r->status());
    return out;
  }
  auto it = regions_.find(name);
  if (it == regions_.end()) return NotFound("Unable to find system shared memory region: {}", q(name));
  out.push_back(it->second->status());
  return out;
}

Result<std::shared_ptr<SharedMemoryRegion>> SharedMemoryRegistry::find(const std::string& name) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = regions_.find(name);
  if (it == regions_.end()) return NotFound("Unable to find shared memory region: {}", q(name));
  return it->second;
}

}  // namespace kiln::serve
