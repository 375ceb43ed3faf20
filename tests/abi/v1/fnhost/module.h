// fnhost module SDK: write a module in C++, export it through the C ABI.
//
// Header-only and compiled into the module, so it depends on nothing but the C++ standard
// library and fnhost/abi.h. An author writes two classes and one macro:
//
//   class State {      // built once per module version, shared read-only by all instances
//    public:
//     static fnhost::sdk::Status Create(const fnhost::sdk::InitContext& context,
//                                       std::unique_ptr<State>* state);
//   };
//   class Instance {   // one per warm instance
//    public:
//     explicit Instance(const State& state);
//     fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response);
//   };
//   FNHOST_MODULE(State, Instance, "name", "1.0.0");
//
// Optional members, found at compile time:
//   State:    fnhost::sdk::Status Snapshot(fnhost::sdk::SnapshotWriter& writer) const;
//             static fnhost::sdk::Status Restore(const InitContext&, const SnapshotReader&,
//                                                std::unique_ptr<State>*);
//             fnhost::sdk::Status AfterRestore(const InitContext&);
//   Instance: static constexpr uint32_t kMaxConcurrency = N;  // thread-safe Invoke, N at once
//
// Every exception thrown by module code is caught at the boundary and becomes an INTERNAL
// status carrying its what() text. Thread-safety: as stated in abi.h; State is used read-only
// from many threads at once, so it must be safe for concurrent const access.

#ifndef FNHOST_MODULE_H_
#define FNHOST_MODULE_H_

#include <concepts>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "fnhost/abi.h"

#define FNHOST_SDK_VERSION 1u

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

enum class LogLevel : int32_t {
  kDebug = FNHOST_LOG_DEBUG,
  kInfo = FNHOST_LOG_INFO,
  kWarning = FNHOST_LOG_WARNING,
  kError = FNHOST_LOG_ERROR,
};

// What a state is built from: the function's name, its init config, and the host's logger.
class InitContext {
 public:
  explicit InitContext(const fnhost_host_init_context* raw) : raw_(raw) {}

  std::string_view function_name() const { return raw_->function_name; }
  std::string_view init_config() const {
    return {reinterpret_cast<const char*>(raw_->init_config), raw_->init_config_size};
  }
  void Log(LogLevel level, std::string_view message) const {
    if (raw_->logger.log != nullptr) {
      raw_->logger.log(raw_->logger.host_data, static_cast<int32_t>(level), message.data(),
                       message.size());
    }
  }

 private:
  const fnhost_host_init_context* raw_;
};

// The response of one call, in a buffer the host owns (no copy on the way out).
class Response {
 public:
  explicit Response(fnhost_host_output* raw) : raw_(raw) {}

  // A writable buffer of `size` bytes that becomes the whole response; nullptr if the host
  // cannot provide it. A later call replaces the earlier buffer.
  char* Allocate(size_t size) {
    return reinterpret_cast<char*>(raw_->allocate_response(raw_->host_data, size));
  }
  // Sets the response to a copy of `bytes`. False if the host cannot provide the buffer.
  bool Write(std::string_view bytes) {
    char* buffer = Allocate(bytes.size());
    if (buffer == nullptr) return false;
    if (!bytes.empty()) std::memcpy(buffer, bytes.data(), bytes.size());
    return true;
  }

 private:
  fnhost_host_output* raw_;
};

// Collects named sections while a state writes its snapshot. Bytes are copied on each call.
class SnapshotWriter {
 public:
  explicit SnapshotWriter(const fnhost_host_snapshot_writer* raw) : raw_(raw) {}

  Status WriteSection(std::string_view name, const void* data, size_t size) {
    int32_t code = raw_->write_section(raw_->host_data, name.data(), name.size(), data, size);
    if (code == FNHOST_STATUS_OK) return Status::Ok();
    return Status(static_cast<StatusCode>(code),
                  "snapshot section '" + std::string(name) + "' could not be written");
  }
  Status WriteSection(std::string_view name, std::string_view bytes) {
    return WriteSection(name, bytes.data(), bytes.size());
  }

 private:
  const fnhost_host_snapshot_writer* raw_;
};

// A read-only, 64-byte-aligned view of a restored section; valid for the state's lifetime.
struct Section {
  const void* data = nullptr;
  size_t size = 0;

  std::string_view bytes() const { return {static_cast<const char*>(data), size}; }
  template <typename T>
  const T* as() const {
    return static_cast<const T*>(data);
  }
};

class SnapshotReader {
 public:
  explicit SnapshotReader(const fnhost_host_snapshot_reader* raw) : raw_(raw) {}

  // Finds a section by name; NOT_FOUND if the snapshot has none of that name.
  Status FindSection(std::string_view name, Section* section) const {
    int32_t code =
        raw_->find_section(raw_->host_data, name.data(), name.size(), &section->data,
                           &section->size);
    if (code == FNHOST_STATUS_OK) return Status::Ok();
    return Status(static_cast<StatusCode>(code),
                  "snapshot has no section '" + std::string(name) + "'");
  }

 private:
  const fnhost_host_snapshot_reader* raw_;
};

namespace internal {

inline void SetMessage(fnhost_host_output* output, std::string_view message) {
  if (output != nullptr && output->set_error_message != nullptr) {
    output->set_error_message(output->host_data, message.data(), message.size());
  }
}

inline int32_t Report(const Status& status, fnhost_host_output* output) {
  if (!status.ok()) SetMessage(output, status.message());
  return static_cast<int32_t>(status.code());
}

// Runs module code and turns every exception into an INTERNAL status with its message.
template <typename Fn>
int32_t Guard(fnhost_host_output* output, const char* step, Fn&& fn) noexcept {
  try {
    return Report(fn(), output);
  } catch (const std::exception& e) {
    SetMessage(output, std::string(step) + " threw: " + e.what());
  } catch (...) {
    SetMessage(output, std::string(step) + " threw a non-standard exception");
  }
  return FNHOST_STATUS_INTERNAL;
}

template <typename State>
concept Snapshottable = requires(const State& state, SnapshotWriter& writer,
                                 const InitContext& context, const SnapshotReader& reader,
                                 std::unique_ptr<State>* out) {
  { state.Snapshot(writer) } -> std::same_as<Status>;
  { State::Restore(context, reader, out) } -> std::same_as<Status>;
};

template <typename State>
concept HasAfterRestore = requires(State& state, const InitContext& context) {
  { state.AfterRestore(context) } -> std::same_as<Status>;
};

template <typename Instance>
constexpr uint32_t MaxConcurrency() {
  if constexpr (requires { Instance::kMaxConcurrency; }) {
    static_assert(Instance::kMaxConcurrency >= 1, "kMaxConcurrency must be at least 1");
    return Instance::kMaxConcurrency;
  } else {
    return 1;
  }
}

// Builds the C table for a State/Instance pair.
template <typename State, typename Instance>
struct Adapter {
  static State* AsState(fnhost_module_state* s) { return reinterpret_cast<State*>(s); }
  static const State* AsState(const fnhost_module_state* s) {
    return reinterpret_cast<const State*>(s);
  }

  static int32_t StateCreate(const fnhost_host_init_context* raw, fnhost_module_state** out) {
    return Guard(raw->error, "State::Create", [&] {
      std::unique_ptr<State> state;
      Status status = State::Create(InitContext(raw), &state);
      if (status.ok() && state == nullptr) {
        status = InternalError("State::Create returned OK without a state");
      }
      if (status.ok()) *out = reinterpret_cast<fnhost_module_state*>(state.release());
      return status;
    });
  }

  static int32_t StateRestore(const fnhost_host_init_context* raw,
                              const fnhost_host_snapshot_reader* reader,
                              fnhost_module_state** out) {
    if constexpr (Snapshottable<State>) {
      return Guard(raw->error, "State::Restore", [&] {
        std::unique_ptr<State> state;
        Status status = State::Restore(InitContext(raw), SnapshotReader(reader), &state);
        if (status.ok() && state == nullptr) {
          status = InternalError("State::Restore returned OK without a state");
        }
        if (status.ok()) *out = reinterpret_cast<fnhost_module_state*>(state.release());
        return status;
      });
    } else {
      return FNHOST_STATUS_UNIMPLEMENTED;
    }
  }

  static int32_t StateAfterRestore(fnhost_module_state* state,
                                   const fnhost_host_init_context* raw) {
    if constexpr (HasAfterRestore<State>) {
      return Guard(raw->error, "State::AfterRestore",
                   [&] { return AsState(state)->AfterRestore(InitContext(raw)); });
    } else {
      return FNHOST_STATUS_OK;
    }
  }

  static int32_t StateSnapshot(const fnhost_module_state* state,
                               const fnhost_host_snapshot_writer* writer,
                               fnhost_host_output* error) {
    if constexpr (Snapshottable<State>) {
      return Guard(error, "State::Snapshot", [&] {
        SnapshotWriter sdk_writer(writer);
        return AsState(state)->Snapshot(sdk_writer);
      });
    } else {
      return FNHOST_STATUS_UNIMPLEMENTED;
    }
  }

  static void StateDestroy(fnhost_module_state* state) noexcept { delete AsState(state); }

  static int32_t InstanceCreate(const fnhost_module_state* state, fnhost_host_output* error,
                                fnhost_module_instance** out) {
    return Guard(error, "Instance constructor", [&] {
      *out = reinterpret_cast<fnhost_module_instance*>(new Instance(*AsState(state)));
      return Status::Ok();
    });
  }

  static void InstanceDestroy(fnhost_module_instance* instance) noexcept {
    delete reinterpret_cast<Instance*>(instance);
  }

  static int32_t Invoke(fnhost_module_instance* instance, const uint8_t* request,
                        size_t request_size, fnhost_host_output* output) {
    return Guard(output, "Invoke", [&] {
      Response response(output);
      return reinterpret_cast<Instance*>(instance)->Invoke(
          std::string_view(reinterpret_cast<const char*>(request), request_size), response);
    });
  }

  static constexpr fnhost_module_v1 Table(const char* name, const char* version) {
    constexpr bool kSnapshot = Snapshottable<State>;
    return fnhost_module_v1{
        .abi_version = FNHOST_ABI_VERSION,
        .struct_size = sizeof(fnhost_module_v1),
        .sdk_version = FNHOST_SDK_VERSION,
        .flags = kSnapshot ? FNHOST_MODULE_FLAG_SNAPSHOT : 0u,
        .max_concurrency_per_instance = MaxConcurrency<Instance>(),
        .name = name,
        .version = version,
        .state_create = &StateCreate,
        .state_restore = kSnapshot ? &StateRestore : nullptr,
        .state_after_restore = &StateAfterRestore,
        .state_snapshot = kSnapshot ? &StateSnapshot : nullptr,
        .state_destroy = &StateDestroy,
        .instance_create = &InstanceCreate,
        .instance_destroy = &InstanceDestroy,
        .invoke = &Invoke,
    };
  }
};

}  // namespace internal
}  // namespace fnhost::sdk

// Exports the module: the only symbol with default visibility in a module built by
// fnhost_add_module(). NAME and VERSION are string literals.
#define FNHOST_MODULE(STATE, INSTANCE, NAME, VERSION)                                         \
  extern "C" __attribute__((visibility("default"))) const fnhost_module_v1* fnhost_module_entry( \
      uint32_t /*host_abi_version*/) {                                                        \
    static constexpr fnhost_module_v1 kTable =                                                \
        ::fnhost::sdk::internal::Adapter<STATE, INSTANCE>::Table(NAME, VERSION);              \
    return &kTable;                                                                           \
  }

#endif  // FNHOST_MODULE_H_
