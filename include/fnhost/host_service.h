// ServiceSpec: a host service, something the embedding server offers to the modules it hosts
// (moving entities in a game's world, reading a shared cache, sending a message), registered
// with Host::RegisterService and granted to functions by name (FunctionSpec::services). A module
// asks for it at init (fnhost::sdk::InitContext::RequireService) and then uses it in calls.
//
// A service has one or both of two forms:
// - Typed: a C function table that the embedder defines in a header its module authors include
//   (C types only, like fnhost/abi.h), and the pointer its functions take first. Calls go
//   straight from module code to the embedder's functions, at the cost of one indirect call. It
//   exists only in the module's own process: a function under process isolation cannot be
//   granted a service that has only this form (Host::Register refuses it).
// - Bytes: a handler that takes a method name and request bytes and returns response bytes.
//   It works in both isolation modes: under process isolation the worker sends the call over
//   its channel and the host runs the handler, so the worker never holds the host's objects.
//
// A service's version says what it offers; a later version only adds (functions at the end of
// the table, methods). A module asks for a minimum version and gets an error naming the
// service when it is missing, not granted, too old, or lacks the form it needs.
//
// The built-in services `kv` and `metrics` (fnhost/builtin_services.h) are registered on every
// host; their names are taken.
//
// Thread-safety: the typed table's functions and the bytes handler are called from any thread,
// concurrently (by different calls), and must be thread-safe. A service stays registered for
// the host's life: what its typed form points to must stay valid until the host is destroyed.

#ifndef FNHOST_HOST_SERVICE_H_
#define FNHOST_HOST_SERVICE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace fnhost {

// One call of a service's bytes form, as its handler sees it. The views are valid during the
// handler's call.
struct ServiceCall {
  std::string_view function;  // the calling function's name
  std::string_view call_id;   // the call it happens in; empty at init
  std::string_view method;
  std::string_view request;
};

// Runs one call of the bytes form: sets *response and returns OK, or returns an error (its
// message goes back to the module). An exception it throws becomes INTERNAL.
using ServiceHandler = std::function<absl::Status(const ServiceCall& call, std::string* response)>;

struct ServiceSpec {
  // 1 to 64 characters of [a-z0-9_.-]. Required.
  std::string name;
  // What the service offers; a module asking for a later version is refused. Default: 1.
  uint32_t version = 1;
  // The typed form: the function table, and the first argument of its functions. Not owned;
  // must outlive the host. Default: none.
  const void* typed = nullptr;
  void* typed_data = nullptr;
  // The bytes form. Default: none.
  ServiceHandler bytes;
};

}  // namespace fnhost

#endif  // FNHOST_HOST_SERVICE_H_
