// The outcome of module code: Status (a code and a message) and StatusOr<T> (a value or the
// Status that explains its absence).
//
// Part of the module SDK (fnhost/module.h): header-only and compiled into the module, so it
// depends on nothing but the C++ standard library and fnhost/abi.h; it deliberately does not use
// absl::Status, whose layout depends on the Abseil a module was built with. Values: safe to use
// from several threads as long as none of them writes the same object.

#ifndef FNHOST_SDK_STATUS_H_
#define FNHOST_SDK_STATUS_H_

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "fnhost/abi.h"

namespace fnhost::sdk {

enum class StatusCode : int32_t {
  kOk = FNHOST_STATUS_OK,
  kCancelled = FNHOST_STATUS_CANCELLED,
  kUnknown = FNHOST_STATUS_UNKNOWN,
  kInvalidArgument = FNHOST_STATUS_INVALID_ARGUMENT,
  kDeadlineExceeded = FNHOST_STATUS_DEADLINE_EXCEEDED,
  kNotFound = FNHOST_STATUS_NOT_FOUND,
  kAlreadyExists = FNHOST_STATUS_ALREADY_EXISTS,
  kPermissionDenied = FNHOST_STATUS_PERMISSION_DENIED,
  kResourceExhausted = FNHOST_STATUS_RESOURCE_EXHAUSTED,
  kFailedPrecondition = FNHOST_STATUS_FAILED_PRECONDITION,
  kAborted = FNHOST_STATUS_ABORTED,
  kOutOfRange = FNHOST_STATUS_OUT_OF_RANGE,
  kUnimplemented = FNHOST_STATUS_UNIMPLEMENTED,
  kInternal = FNHOST_STATUS_INTERNAL,
  kUnavailable = FNHOST_STATUS_UNAVAILABLE,
  kDataLoss = FNHOST_STATUS_DATA_LOSS,
  kUnauthenticated = FNHOST_STATUS_UNAUTHENTICATED,
};

// The outcome of a step of module code: a code and, when not OK, a message for the caller.
class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgumentError(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
inline Status InternalError(std::string message) {
  return Status(StatusCode::kInternal, std::move(message));
}
inline Status NotFoundError(std::string message) {
  return Status(StatusCode::kNotFound, std::move(message));
}
inline Status FailedPreconditionError(std::string message) {
  return Status(StatusCode::kFailedPrecondition, std::move(message));
}
inline Status ResourceExhaustedError(std::string message) {
  return Status(StatusCode::kResourceExhausted, std::move(message));
}
inline Status UnavailableError(std::string message) {
  return Status(StatusCode::kUnavailable, std::move(message));
}
inline Status CancelledError(std::string message) {
  return Status(StatusCode::kCancelled, std::move(message));
}
inline Status DeadlineExceededError(std::string message) {
  return Status(StatusCode::kDeadlineExceeded, std::move(message));
}

// A value of type T, or the non-OK Status that says why there is none. value() of an error
// throws std::logic_error carrying the status message (the SDK turns it into INTERNAL at the
// boundary); without exceptions it aborts. Check ok() first.
template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit, like absl::StatusOr
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = InternalError("StatusOr built from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    Check();
    return *value_;
  }
  const T& value() const& {
    Check();
    return *value_;
  }
  T&& value() && {
    Check();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void Check() const {
    if (value_.has_value()) return;
#if defined(__cpp_exceptions)
    throw std::logic_error("value() of an error: " + status_.message());
#else
    std::abort();
#endif
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace fnhost::sdk

#endif  // FNHOST_SDK_STATUS_H_
