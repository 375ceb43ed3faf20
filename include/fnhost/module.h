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
//     fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response,
//                                fnhost::sdk::CallContext& context);
//   };
//   FNHOST_MODULE(State, Instance, "name", "1.0.0");
//
// A module that keeps no state uses fnhost::sdk::NoState as its State.
//
// Invoke may leave out the CallContext (the form of SDK 1): the module then does not ask for
// one. Optional members, found at compile time:
//   State:    fnhost::sdk::Status Snapshot(fnhost::sdk::SnapshotWriter& writer) const;
//             static fnhost::sdk::Status Restore(const InitContext&, const SnapshotReader&,
//                                                std::unique_ptr<State>*);
//             fnhost::sdk::Status AfterRestore(const InitContext&);
//             static constexpr uint32_t kStateSchema = N;  // reload keeps the state (needs
//                                                          // Snapshot and Restore)
//   Instance: static constexpr uint32_t kMaxConcurrency = N;  // thread-safe Invoke, N at once
//
// The pieces, one header each under fnhost/sdk/: status.h (Status, StatusOr), init_context.h
// (InitContext, RequireService), call_context.h (CallContext), service.h (Service,
// TypedService), response.h, snapshot.h; and, included on their own, the built-in services'
// clients metrics.h and kv.h.
//
// Every exception thrown by module code is caught at the boundary and becomes an INTERNAL
// status carrying its what() text. Thread-safety: as stated in abi.h; State is used read-only
// from many threads at once, so it must be safe for concurrent const access.

#ifndef FNHOST_MODULE_H_
#define FNHOST_MODULE_H_

#include <concepts>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "fnhost/abi.h"
#include "fnhost/sdk/call_context.h"
#include "fnhost/sdk/init_context.h"
#include "fnhost/sdk/logging.h"
#include "fnhost/sdk/response.h"
#include "fnhost/sdk/service.h"
#include "fnhost/sdk/snapshot.h"
#include "fnhost/sdk/status.h"

#define FNHOST_SDK_VERSION 2u

namespace fnhost::sdk {

// The State of a module that keeps none:
//   FNHOST_MODULE(fnhost::sdk::NoState, Instance, "name", "1.0.0");
// with `explicit Instance(const fnhost::sdk::NoState&)`.
class NoState {
 public:
  static Status Create(const InitContext&, std::unique_ptr<NoState>* state) {
    *state = std::make_unique<NoState>();
    return Status::Ok();
  }
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

template <typename State>
constexpr uint32_t StateSchema() {
  if constexpr (requires { State::kStateSchema; }) {
    static_assert(std::same_as<std::remove_cv_t<decltype(State::kStateSchema)>, uint32_t>,
                  "kStateSchema must be a static constexpr uint32_t");
    static_assert(State::kStateSchema == 0 || Snapshottable<State>,
                  "kStateSchema needs State::Snapshot and State::Restore: a reload hands the new "
                  "version the old state's snapshot sections");
    return State::kStateSchema;
  } else {
    return 0;
  }
}

template <typename Instance>
concept InvokesWithContext = requires(Instance& instance, std::string_view request,
                                      Response& response, CallContext& context) {
  { instance.Invoke(request, response, context) } -> std::same_as<Status>;
};

template <typename Instance>
concept InvokesWithoutContext = requires(Instance& instance, std::string_view request,
                                         Response& response) {
  { instance.Invoke(request, response) } -> std::same_as<Status>;
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

  static std::string_view AsView(const uint8_t* request, size_t request_size) {
    return std::string_view(reinterpret_cast<const char*>(request), request_size);
  }

  // The context-less entry. An Instance that only takes a context gets an empty one (no
  // metadata, no deadline, never cancelled, no host services).
  static int32_t Invoke(fnhost_module_instance* instance, const uint8_t* request,
                        size_t request_size, fnhost_host_output* output) {
    return Guard(output, "Invoke", [&] {
      Response response(output);
      Instance* self = reinterpret_cast<Instance*>(instance);
      if constexpr (InvokesWithoutContext<Instance>) {
        return self->Invoke(AsView(request, request_size), response);
      } else {
        CallContext context(&kEmptyCallContext);
        return self->Invoke(AsView(request, request_size), response, context);
      }
    });
  }

  static int32_t InvokeWithContext(fnhost_module_instance* instance, const uint8_t* request,
                                   size_t request_size, fnhost_host_output* output,
                                   const fnhost_host_call_context* raw) {
    if constexpr (InvokesWithContext<Instance>) {
      return Guard(output, "Invoke", [&] {
        Response response(output);
        CallContext context(raw);
        return reinterpret_cast<Instance*>(instance)->Invoke(AsView(request, request_size),
                                                             response, context);
      });
    } else {
      return FNHOST_STATUS_UNIMPLEMENTED;
    }
  }

  static constexpr fnhost_module Table(const char* name, const char* version) {
    static_assert(InvokesWithContext<Instance> || InvokesWithoutContext<Instance>,
                  "Instance needs Status Invoke(std::string_view, Response&, CallContext&) or "
                  "Status Invoke(std::string_view, Response&)");
    constexpr bool kSnapshot = Snapshottable<State>;
    return fnhost_module{
        .abi_version = FNHOST_ABI_VERSION,
        .struct_size = sizeof(fnhost_module),
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
        .state_schema = StateSchema<State>(),
        .reserved = 0,
        .invoke_with_context = InvokesWithContext<Instance> ? &InvokeWithContext : nullptr,
    };
  }
};

}  // namespace internal
}  // namespace fnhost::sdk

// Exports the module: the only symbol with default visibility in a module built by
// fnhost_add_module(). NAME and VERSION are string literals.
#define FNHOST_MODULE(STATE, INSTANCE, NAME, VERSION)                                         \
  extern "C" __attribute__((visibility("default"))) const fnhost_module* fnhost_module_entry( \
      uint32_t /*host_abi_version*/) {                                                        \
    static constexpr fnhost_module kTable =                                                   \
        ::fnhost::sdk::internal::Adapter<STATE, INSTANCE>::Table(NAME, VERSION);              \
    return &kTable;                                                                           \
  }

#endif  // FNHOST_MODULE_H_
