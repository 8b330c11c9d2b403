// System shared memory (Triton's extension): named regions of POSIX shared-memory objects that
// clients register, so that tensor data travels through memory both processes map instead of
// through request and response bodies.
//
// A region maps the bytes [offset, offset + byte_size) of the object `key` (shm_open read-write,
// mmap MAP_SHARED) when it is registered. Requests hold a shared_ptr to each region they use, so
// unregistering a region while requests still read or write it only removes its name: the mapping
// goes when the last of them lets go, never under a running request.
//
// Security: a client can make the server map any shared-memory object the server's user may open
// (as with Triton), which is one reason the server listens on loopback by default (README).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"
#include "serve/inference_server.h"

namespace kiln::serve {

// A region name is 1-256 bytes without control characters (it travels in URL paths and messages).
Status validateSharedMemoryName(std::string_view name);
// A key names a POSIX shared-memory object: '/' then 1-255 bytes without another '/' or NUL, and
// neither "/." nor "/.." (so it cannot leave /dev/shm).
Status validateSharedMemoryKey(std::string_view key);

// One mapped region; unmapped when the last reference goes.
class SharedMemoryRegion {
 public:
  // Opens `key`, checks that the object holds offset + byteSize bytes and maps that range.
  static Result<std::shared_ptr<SharedMemoryRegion>> map(const std::string& name, const std::string& key,
                                                         uint64_t offset, uint64_t byteSize);
  ~SharedMemoryRegion();
  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;

  const std::string& name() const { return name_; }
  const std::string& key() const { return key_; }
  uint64_t offset() const { return offset_; }
  uint64_t byteSize() const { return byteSize_; }
  SharedMemoryRegionStatus status() const { return {name_, key_, offset_, byteSize_}; }

  // The address of [offset, offset + size) relative to the region's start; InvalidArgument, in
  // Triton's words plus the numbers, when that range does not lie inside the region.
  Result<uint8_t*> range(uint64_t offset, uint64_t size) const;

 private:
  SharedMemoryRegion() = default;
  std::string name_, key_;
  uint64_t offset_ = 0, byteSize_ = 0;
  void* mapping_ = nullptr;  // page-aligned start of the mmap (offsets need not be page-aligned)
  size_t mappingBytes_ = 0;
  uint8_t* data_ = nullptr;  // the region's first byte inside the mapping
};

class SharedMemoryRegistry {
 public:
  // Bounds the mappings (and address space) one client can make the server hold.
  static constexpr size_t kMaxRegions = 1024;

  // AlreadyExists for a registered name; InvalidArgument for a bad name, key, offset or size;
  // NotFound when the object does not exist.
  Status registerRegion(const std::string& name, const std::string& key, uint64_t offset, uint64_t byteSize);
  // "" = every region. An unknown name is OK (Triton's behaviour: unregistering is idempotent).
  Status unregister(const std::string& name);
  // "" = every region, ordered by name; NotFound for an unknown name.
  Result<std::vector<SharedMemoryRegionStatus>> status(const std::string& name) const;
  // NotFound ("Unable to find shared memory region: 'name'") when not registered.
  Result<std::shared_ptr<SharedMemoryRegion>> find(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<SharedMemoryRegion>> regions_;
};

}  // namespace kiln::serve
