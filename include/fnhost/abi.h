/* fnhost module ABI: the only contract that crosses dlopen.
 *
 * A module is a shared object that exports exactly one symbol, FNHOST_MODULE_ENTRY_SYMBOL, a
 * function returning a table of what the module implements (fnhost_module). The first field of
 * that table is the ABI version the module was built against; the host reads it before touching
 * anything else. A host loads modules of its own version and of the version before it (the
 * compatibility window, FNHOST_ABI_OLDEST_VERSION to FNHOST_ABI_VERSION) and refuses the rest.
 * Only C types cross this boundary: integers, sizes, pointers, C strings and byte buffers whose
 * owner is stated at each field. No exceptions, no C++ standard library types: host and module
 * may come from different compilers.
 *
 * Names say the direction: `fnhost_module_*` is implemented by the module and called by the
 * host; `fnhost_host_*` is provided by the host and called by the module. Bytes say their
 * owner: fnhost_host_bytes are the host's (the module reads them for as long as the field says
 * and never frees them); fnhost_module_bytes are the module's (the host copies what it keeps
 * before the callback returns).
 *
 * Growth: tables and contexts grow only by new fields at their end, each version's fields under
 * a "Since ABI N" line, and a struct_size field says how much of a table its writer knew. The
 * host reads a module's table only up to the size of the module's version; fields a module's
 * version lacks are absent (zero). A module of ABI N reads the host's contexts only up to the
 * fields of version N.
 *
 * Threading: the host calls state_create, state_restore, state_after_restore, state_snapshot and
 * state_destroy for one state from one thread at a time. instance_create/instance_destroy may run
 * on any thread. invoke and invoke_with_context run concurrently on different instances, and on
 * one instance by at most max_concurrency_per_instance threads at once. Host callbacks are
 * thread-safe unless their context says otherwise (a call context serves one call).
 *
 * Any change to this file must bump FNHOST_ABI_VERSION (a test holds the hash of this file, and
 * of the frozen header of every version the host still loads).
 */
#ifndef FNHOST_ABI_H_
#define FNHOST_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FNHOST_ABI_VERSION 2u
/* The oldest module ABI a host of this version loads: its own version and the one before. */
#define FNHOST_ABI_OLDEST_VERSION 1u
#define FNHOST_MODULE_ENTRY_SYMBOL "fnhost_module_entry"

/* Status codes: the canonical codes of gRPC and absl::StatusCode, value for value. */
#define FNHOST_STATUS_OK 0
#define FNHOST_STATUS_CANCELLED 1
#define FNHOST_STATUS_UNKNOWN 2
#define FNHOST_STATUS_INVALID_ARGUMENT 3
#define FNHOST_STATUS_DEADLINE_EXCEEDED 4
#define FNHOST_STATUS_NOT_FOUND 5
#define FNHOST_STATUS_ALREADY_EXISTS 6
#define FNHOST_STATUS_PERMISSION_DENIED 7
#define FNHOST_STATUS_RESOURCE_EXHAUSTED 8
#define FNHOST_STATUS_FAILED_PRECONDITION 9
#define FNHOST_STATUS_ABORTED 10
#define FNHOST_STATUS_OUT_OF_RANGE 11
#define FNHOST_STATUS_UNIMPLEMENTED 12
#define FNHOST_STATUS_INTERNAL 13
#define FNHOST_STATUS_UNAVAILABLE 14
#define FNHOST_STATUS_DATA_LOSS 15
#define FNHOST_STATUS_UNAUTHENTICATED 16

/* Log levels for fnhost_host_logger. */
#define FNHOST_LOG_DEBUG 0
#define FNHOST_LOG_INFO 1
#define FNHOST_LOG_WARNING 2
#define FNHOST_LOG_ERROR 3

/* Bits of fnhost_module.flags. */
#define FNHOST_MODULE_FLAG_SNAPSHOT 1u /* state_snapshot and state_restore are set. */

/* Bits of fnhost_host_init_context.flags (since ABI 2). */
#define FNHOST_INIT_FLAG_RELOAD 1u /* state_restore reads the live state of the version being
                                      replaced (same state_schema), not a snapshot file. */

/* The forms of a host service (bits of require_service's `forms`, since ABI 2). */
#define FNHOST_SERVICE_TYPED 1u /* a C function table in the module's own process */
#define FNHOST_SERVICE_BYTES 2u /* call_host(service, method, request) -> response; everywhere */

/* fnhost_host_call_context.deadline_ns of a call without a deadline (since ABI 2). */
#define FNHOST_NO_DEADLINE INT64_MAX

/* Opaque objects owned by the module. */
typedef struct fnhost_module_state fnhost_module_state;
typedef struct fnhost_module_instance fnhost_module_instance;

/* Bytes owned by the host; how long they stay valid is stated where they appear. `data` may be
 * NULL when `size` is 0. Not NUL-terminated. (Since ABI 2.) */
typedef struct fnhost_host_bytes {
  const char* data;
  size_t size;
} fnhost_host_bytes;

/* Bytes owned by the module, lent for one callback: the host copies what it keeps before the
 * callback returns. `data` may be NULL when `size` is 0. Not NUL-terminated. (Since ABI 2.) */
typedef struct fnhost_module_bytes {
  const char* data;
  size_t size;
} fnhost_module_bytes;

/* ---- What the host provides ------------------------------------------------------------ */

/* Where a module writes the result of one call (or the error message of a failed step). Valid
 * only during the call it was passed to. */
typedef struct fnhost_host_output {
  void* host_data;
  /* Returns a host-owned buffer of `size` writable bytes that becomes the response; a second
   * call replaces the first buffer. NULL when the host cannot provide it. */
  uint8_t* (*allocate_response)(void* host_data, size_t size);
  /* Sets the message that goes with a non-OK status. The bytes are copied. */
  void (*set_error_message)(void* host_data, const char* message, size_t size);
} fnhost_host_output;

typedef struct fnhost_host_logger {
  void* host_data;
  /* Logs one message; the bytes are copied. */
  void (*log)(void* host_data, int32_t level, const char* message, size_t size);
} fnhost_host_logger;

/* A host service granted to the module, filled in by require_service (since ABI 2). The module
 * owns this struct; the host owns what its pointers point to, which stays valid until
 * state_destroy of the state whose init step obtained it. */
typedef struct fnhost_host_service {
  /* Set by the module before require_service: sizeof(fnhost_host_service) as it knows it. The
   * host writes no byte past it. */
  uint32_t struct_size;
  /* The version the host provides; at least the minimum the module asked for. A service grows
   * only by appending: version N has everything version N-1 has. */
  uint32_t version;
  /* Bytes form: the service's id, passed to call_host. 0 when the bytes form is absent. */
  uint64_t id;
  /* Typed form: the service's function table, a struct its owner's header defines (for the
   * built-in services, fnhost/builtin_services.h), or NULL when the typed form is absent. Its
   * functions are thread-safe and may be called from any thread, during a call or not. */
  const void* typed;
  /* Typed form: the first argument of every function in `typed`; the host may give each
   * function its own. */
  void* typed_data;
} fnhost_host_service;

/* What a state is built from. Valid only during the call it was passed to. */
typedef struct fnhost_host_init_context {
  const char* function_name; /* NUL-terminated. */
  const uint8_t* init_config;
  size_t init_config_size;
  fnhost_host_logger logger;
  fnhost_host_output* error; /* for the message of a failed step; allocate_response is NULL. */

  /* ---- Since ABI 2 ---- */
  /* sizeof(fnhost_host_init_context) as the host knows it. */
  uint32_t struct_size;
  /* FNHOST_INIT_FLAG_* bits. */
  uint32_t flags;
  /* Passed back to require_service and call_host. */
  void* host_data;
  /* Asks for the host service `name` at version `min_version` or later, offering every form
   * that `forms` (FNHOST_SERVICE_* bits) lists; forms 0 takes whatever forms the host has.
   * Fills *service (see fnhost_host_service) and returns FNHOST_STATUS_OK, or returns
   *   FNHOST_STATUS_NOT_FOUND           when the host has no such service,
   *   FNHOST_STATUS_PERMISSION_DENIED   when the function was not granted it,
   *   FNHOST_STATUS_FAILED_PRECONDITION when its version is older than min_version, or a form
   *                                     in `forms` is not available (e.g. the typed form under
   *                                     process isolation),
   * with *message set to host-owned text naming the service and the cause, valid until the init
   * step returns; *service is then untouched. */
  int32_t (*require_service)(void* host_data, fnhost_module_bytes name, uint32_t min_version,
                             uint32_t forms, fnhost_host_service* service,
                             fnhost_host_bytes* message);
  /* Calls method `method` of the service whose bytes-form id is `service_id` (see
   * fnhost_host_call_context.call_host, which this mirrors); *response stays valid until the
   * next call_host through this context or the end of the init step. */
  int32_t (*call_host)(void* host_data, uint64_t service_id, fnhost_module_bytes method,
                       fnhost_module_bytes request, fnhost_host_bytes* response);
} fnhost_host_init_context;

/* One key/value pair of a call's request metadata (since ABI 2). */
typedef struct fnhost_host_metadata {
  fnhost_host_bytes key; /* lower-case ASCII; a key may appear more than once */
  fnhost_host_bytes value;
} fnhost_host_metadata;

/* Everything one call carries besides its request (since ABI 2). The context, and everything it
 * points to, is valid only while the invoke_with_context it was passed to runs. Its callbacks
 * may be called by one thread at a time (the calling thread, or one the call waits for); the
 * cancelled flag may be read from any thread during the call. */
typedef struct fnhost_host_call_context {
  /* sizeof(fnhost_host_call_context) as the host knows it. */
  uint32_t struct_size;
  uint32_t reserved; /* zero */
  /* Passed back to set_response_metadata and call_host. */
  void* host_data;
  /* The call's id, unique among the host's calls (OpenTelemetry's faas.invocation_id). */
  fnhost_host_bytes call_id;
  /* When the caller stops waiting: CLOCK_MONOTONIC time in nanoseconds (tv_sec * 1e9 +
   * tv_nsec, what std::chrono::steady_clock reads on Linux), or FNHOST_NO_DEADLINE. */
  int64_t deadline_ns;
  /* Never NULL. Becomes non-zero, and stays so, once the call is cancelled (the caller gave up,
   * or the host is draining the function). Read it with a relaxed atomic load
   * (__atomic_load_n(cancelled, __ATOMIC_RELAXED)): a plain memory read, cheap to poll. */
  const int32_t* cancelled;
  /* The request's metadata, in the order the caller gave it. */
  const fnhost_host_metadata* request_metadata;
  size_t request_metadata_count;
  /* W3C trace context of this call: `traceparent` names the call's own span (propagate it as
   * is on outgoing requests), `tracestate` the vendors' state; either may be empty. */
  fnhost_host_bytes traceparent;
  fnhost_host_bytes tracestate;
  /* Logs a line tagged with the function, the module version and the call id. */
  fnhost_host_logger logger;
  /* Sets response metadata `key` (ASCII; the host lower-cases it) to `value`, replacing an
   * earlier value of the key. Returns FNHOST_STATUS_OK, FNHOST_STATUS_INVALID_ARGUMENT for an
   * empty key or one with characters other than [A-Za-z0-9_.-], or
   * FNHOST_STATUS_RESOURCE_EXHAUSTED past the host's limit on response metadata. */
  int32_t (*set_response_metadata)(void* host_data, fnhost_module_bytes key,
                                   fnhost_module_bytes value);
  /* The bytes form of a host service: calls method `method` of the service whose id is
   * `service_id` (from require_service) with `request`. Returns the service's status; on
   * FNHOST_STATUS_OK *response is the service's response, otherwise its error message. The
   * bytes are host-owned and stay valid until the next call_host through this context or the end
   * of the call. FNHOST_STATUS_INVALID_ARGUMENT for an id the function was not given. */
  int32_t (*call_host)(void* host_data, uint64_t service_id, fnhost_module_bytes method,
                       fnhost_module_bytes request, fnhost_host_bytes* response);
} fnhost_host_call_context;

/* Receives the sections of a snapshot while state_snapshot runs. */
typedef struct fnhost_host_snapshot_writer {
  void* host_data;
  /* Adds a section; the bytes are copied before it returns. Names are unique within a snapshot.
   * Returns FNHOST_STATUS_OK or an error code that state_snapshot should return. */
  int32_t (*write_section)(void* host_data, const char* name, size_t name_size, const void* data,
                           size_t size);
} fnhost_host_snapshot_writer;

/* Gives a restoring state its sections. */
typedef struct fnhost_host_snapshot_reader {
  void* host_data;
  /* Finds a section. On FNHOST_STATUS_OK, *data points to `*size` read-only bytes aligned to 64
   * bytes that stay valid until state_destroy of the restored state; FNHOST_STATUS_NOT_FOUND
   * when there is no such section. */
  int32_t (*find_section)(void* host_data, const char* name, size_t name_size, const void** data,
                          size_t* size);
} fnhost_host_snapshot_reader;

/* ---- What the module implements -------------------------------------------------------- */

typedef struct fnhost_module {
  /* FNHOST_ABI_VERSION the module was built with. Checked by the host before anything else. */
  uint32_t abi_version;
  /* sizeof(fnhost_module) as the module saw it. */
  uint32_t struct_size;
  /* Version of the SDK that produced this table, or 0 for a module written against the C ABI. */
  uint32_t sdk_version;
  /* FNHOST_MODULE_FLAG_* bits. */
  uint32_t flags;
  /* How many calls one instance serves at once; at least 1. */
  uint32_t max_concurrency_per_instance;
  /* NUL-terminated, static storage. */
  const char* name;
  const char* version;

  /* Builds the shared, read-mostly state. Returns a status code; on error, *state is untouched
   * and the message is set through context->error. */
  int32_t (*state_create)(const fnhost_host_init_context* context, fnhost_module_state** state);
  /* Rebuilds a state from a snapshot (NULL without FNHOST_MODULE_FLAG_SNAPSHOT). */
  int32_t (*state_restore)(const fnhost_host_init_context* context,
                           const fnhost_host_snapshot_reader* reader, fnhost_module_state** state);
  /* Runs after a restore, and in every worker forked from a zygote: reseed random generators,
   * reopen connections. May be NULL. */
  int32_t (*state_after_restore)(fnhost_module_state* state,
                                 const fnhost_host_init_context* context);
  /* Writes the state's sections (NULL without FNHOST_MODULE_FLAG_SNAPSHOT). */
  int32_t (*state_snapshot)(const fnhost_module_state* state,
                            const fnhost_host_snapshot_writer* writer, fnhost_host_output* error);
  void (*state_destroy)(fnhost_module_state* state);

  /* Creates an instance bound to a state; the state outlives all of its instances. */
  int32_t (*instance_create)(const fnhost_module_state* state, fnhost_host_output* error,
                             fnhost_module_instance** instance);
  void (*instance_destroy)(fnhost_module_instance* instance);

  /* Serves one call without a context: request bytes in, response through
   * output->allocate_response. Required in ABI 1; since ABI 2 it may be NULL when
   * invoke_with_context is set, which the host then calls instead. */
  int32_t (*invoke)(fnhost_module_instance* instance, const uint8_t* request, size_t request_size,
                    fnhost_host_output* output);

  /* ---- Since ABI 2 ---- */
  /* The layout version of the state's snapshot sections; 0 declares none. When the version a
   * reload replaces and the new one declare the same non-zero schema, the host builds the new
   * state with state_restore from the old state's sections (FNHOST_INIT_FLAG_RELOAD) instead of
   * state_create. Non-zero requires FNHOST_MODULE_FLAG_SNAPSHOT. */
  uint32_t state_schema;
  uint32_t reserved; /* zero */
  /* Serves one call with its context (see fnhost_host_call_context). May be NULL; when set, the
   * host calls it instead of invoke. */
  int32_t (*invoke_with_context)(fnhost_module_instance* instance, const uint8_t* request,
                                 size_t request_size, fnhost_host_output* output,
                                 const fnhost_host_call_context* context);
} fnhost_module;

/* The name of the table up to ABI 1. Same type: a module written against ABI 1 compiles
 * unchanged (except for C code naming the tag, `struct fnhost_module_v1`). */
typedef fnhost_module fnhost_module_v1;

/* struct_size of a table of ABI 1: the fields up to `invoke`. */
#define FNHOST_MODULE_SIZE_V1 offsetof(fnhost_module, state_schema)

/* The exported entry. Receives the host's ABI version and returns the module's table, which
 * must stay valid until the module is unloaded; NULL refuses to load. */
typedef const fnhost_module* (*fnhost_module_entry_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FNHOST_ABI_H_ */
