// Status and Result<T>: the error values used at every module edge of Kiln.
// An OK Status is a null pointer (free to create and test); errors carry a code and a
// message that each layer may prefix with its own context frame ("node 'conv1' (Conv): ...").
#pragma once

#include <fmt/format.h>

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace kiln {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,    // the caller's input is wrong (bad shape, bad attribute, bad request)
  kNotFound,           // a named thing (file, input, model) does not exist
  kUnsupported,        // valid input that Kiln does not implement (op, dtype, attribute value)
  kOutOfRange,         // an index or shape outside what a profile or tensor allows
  kFailedPrecondition, // the system is not in a state for this call (e.g. shapes not set)
  kDataLoss,           // damaged or truncated data (engine file, model file)
  kResourceExhausted,  // memory or a limit ran out
  kUnavailable,        // temporarily unable (queue full, no device)
  kAlreadyExists,
  kInternal,           // a bug in Kiln or a failing library call
};

std::string_view statusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message);
  Status(const Status& other) : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}
  Status& operator=(const Status& other) {
    state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "InvalidArgument: <message>" or "OK".
  std::string toString() const;

  // Prefixes the message with a context frame: "frame: message". No-op on OK.
  Status& withContext(std::string_view frame) &;
  Status&& withContext(std::string_view frame) &&;

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

template <typename... Args>
Status makeError(StatusCode code, fmt::format_string<Args...> f, Args&&... args) {
  return Status(code, fmt::format(f, std::forward<Args>(args)...));
}
#define KILN_DEFINE_ERROR_FN(Name, Code)                              \
  template <typename... Args>                                         \
  Status Name(fmt::format_string<Args...> f, Args&&... args) {        \
    return Status(Code, fmt::format(f, std::forward<Args>(args)...)); \
  }
KILN_DEFINE_ERROR_FN(InvalidArgument, StatusCode::kInvalidArgument)
KILN_DEFINE_ERROR_FN(NotFound, StatusCode::kNotFound)
KILN_DEFINE_ERROR_FN(Unsupported, StatusCode::kUnsupported)
KILN_DEFINE_ERROR_FN(OutOfRange, StatusCode::kOutOfRange)
KILN_DEFINE_ERROR_FN(FailedPrecondition, StatusCode::kFailedPrecondition)
KILN_DEFINE_ERROR_FN(DataLoss, StatusCode::kDataLoss)
KILN_DEFINE_ERROR_FN(ResourceExhausted, StatusCode::kResourceExhausted)
KILN_DEFINE_ERROR_FN(Unavailable, StatusCode::kUnavailable)
KILN_DEFINE_ERROR_FN(InternalError, StatusCode::kInternal)
#undef KILN_DEFINE_ERROR_FN

// Result<T>: a T or an error Status. Never holds an OK status without a value.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
  }
  template <typename U, typename = std::enable_if_t<std::is_convertible_v<U, T> &&
                                                    !std::is_same_v<std::decay_t<U>, Status> &&
                                                    !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& value) : v_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  Status takeStatus() && { return ok() ? Status() : std::move(std::get<Status>(v_)); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kiln

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if `expr` is an error.
#define KILN_RETURN_IF_ERROR(expr)              \
  do {                                          \
    ::kiln::Status _kiln_st = (expr);           \
    if (!_kiln_st.ok()) return _kiln_st;        \
  } while (0)

// Like KILN_RETURN_IF_ERROR, adding a context frame to the error.
#define KILN_RETURN_IF_ERROR_CTX(expr, frame)                  \
  do {                                                         \
    ::kiln::Status _kiln_st = (expr);                          \
    if (!_kiln_st.ok()) return std::move(_kiln_st).withContext(frame); \
  } while (0)

#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).takeStatus(); \
  lhs = std::move(tmp).value()

// `KILN_ASSIGN_OR_RETURN(auto x, makeX());` declares x or returns the error.
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(_kiln_res_, __LINE__), lhs, expr)

// Internal invariant (never reachable from user input): aborts with a message.
#define KILN_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) ::kiln::detail::checkFailed(#cond, __FILE__, __LINE__);               \
  } while (0)

namespace kiln::detail {
[[noreturn]] void checkFailed(const char* cond, const char* file, int line);
}
