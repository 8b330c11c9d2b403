// Little-endian binary serialization for engine files. The reader checks every read against the
// buffer end, so a truncated or damaged file yields an error instead of an out-of-bounds read.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "kiln/status.h"

namespace kiln::plan {

class BinaryWriter {
 public:
  template <typename T>
  void pod(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const char* p = reinterpret_cast<const char*>(&v);
    buf_.append(p, sizeof(T));
  }
  void u8(uint8_t v) { pod(v); }
  void u32(uint32_t v) { pod(v); }
  void i32(int32_t v) { pod(v); }
  void u64(uint64_t v) { pod(v); }
  void i64(int64_t v) { pod(v); }
  void f32(float v) { pod(v); }
  void str(std::string_view s) {
    u64(s.size());
    buf_.append(s.data(), s.size());
  }
  void bytes(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  void align(size_t a) { buf_.append((a - buf_.size() % a) % a, '\0'); }
  size_t size() const { return buf_.size(); }
  std::string& buffer() { return buf_; }

 private:
  std::string buf_;
};

class BinaryReader {
 public:
  BinaryReader(const char* data, size_t size, std::string what)
      : p_(data), end_(data + size), begin_(data), what_(std::move(what)) {}

  template <typename T>
  Status pod(T* out) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) return truncated();
    std::memcpy(out, p_, sizeof(T));
    p_ += sizeof(T);
    return Status::OK();
  }
  Status u8(uint8_t* v) { return pod(v); }
  Status u32(uint32_t* v) { return pod(v); }
  Status i32(int32_t* v) { return pod(v); }
  Status u64(uint64_t* v) { return pod(v); }
  Status i64(int64_t* v) { return pod(v); }
  Status f32(float* v) { return pod(v); }
  Status str(std::string* s) {
    uint64_t n = 0;
    KILN_RETURN_IF_ERROR(u64(&n));
    if (n > static_cast<uint64_t>(end_ - p_)) return truncated();
    s->assign(p_, n);
    p_ += n;
    return Status::OK();
  }
  // A count that must fit in the rest of the buffer at `minBytesEach` per element.
  Status count(uint64_t* n, size_t minBytesEach) {
    KILN_RETURN_IF_ERROR(u64(n));
    if (minBytesEach && *n > static_cast<uint64_t>(end_ - p_) / minBytesEach) return truncated();
    return Status::OK();
  }
  Status bytes(void* out, size_t n) {
    if (n > static_cast<size_t>(end_ - p_)) return truncated();
    if (n) std::memcpy(out, p_, n);
    p_ += n;
    return Status::OK();
  }
  Status skip(size_t n) {
    if (n > static_cast<size_t>(end_ - p_)) return truncated();
    p_ += n;
    return Status::OK();
  }
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  bool atEnd() const { return p_ == end_; }
  Status corrupt(std::string_view why) const {
    return DataLoss("{} is damaged: {} (at byte {})", what_, why, offset());
  }

 private:
  Status truncated() const { return DataLoss("{} is truncated or damaged (read past the end at byte {})", what_, offset()); }
  const char* p_;
  const char* end_;
  const char* begin_;
  std::string what_;
};

}  // namespace kiln::plan
