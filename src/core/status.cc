// Status implementation and the abort path of KILN_CHECK.
#include "kiln/status.h"

#include <cstdio>
#include <cstdlib>

namespace kiln {

std::string_view statusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kUnsupported: return "Unsupported";
    case StatusCode::kOutOfRange: return "OutOfRange";
    case StatusCode::kFailedPrecondition: return "FailedPrecondition";
    case StatusCode::kDataLoss: return "DataLoss";
    case StatusCode::kResourceExhausted: return "ResourceExhausted";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kInternal: return "Internal";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string message) {
  if (code != StatusCode::kOk) state_ = std::make_unique<State>(State{code, std::move(message)});
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->message : kEmpty;
}

std::string Status::toString() const {
  if (ok()) return "OK";
  return fmt::format("{}: {}", statusCodeName(state_->code), state_->message);
}

Status& Status::withContext(std::string_view frame) & {
  if (state_) state_->message = fmt::format("{}: {}", frame, state_->message);
  return *this;
}

Status&& Status::withContext(std::string_view frame) && {
  if (state_) state_->message = fmt::format("{}: {}", frame, state_->message);
  return std::move(*this);
}

namespace detail {
void checkFailed(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "kiln: internal check failed: %s at %s:%d\n", cond, file, line);
  std::abort();
}
}  // namespace detail

}  // namespace kiln
