/* fnhost module ABI: the only contract that crosses dlopen.
 *
 * A module is a shared object that exports exactly one symbol, FNHOST_MODULE_ENTRY_SYMBOL, a
 * function returning a table of what the module implements. The first field of that table is
 * the ABI version the module was built against; the host reads it before touching anything else
 * and refuses a module whose version differs from its own. Only C types cross this boundary:
 * integers, sizes, pointers, C strings and byte buffers whose owner is stated at each field. No
 * exceptions, no C++ standard library types: host and module may come from different compilers.
 *
 * Names say the direction: `fnhost_module_*` is implemented by the module and called by the
 * host; `fnhost_host_*` is provided by the host and called by the module.
 *
 * Threading: the host calls state_create, state_restore, state_after_restore, state_snapshot and
 * state_destroy for one state from one thread at a time. instance_create/instance_destroy may run
 * on any thread. invoke runs concurrently on different instances, and on one instance by at most
 * max_concurrency_per_instance threads at once. Host callbacks are thread-safe.
 *
 * Any change to this file must bump FNHOST_ABI_VERSION (a test holds the hash of this file).
 */
#ifndef FNHOST_ABI_H_
#define FNHOST_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FNHOST_ABI_VERSION 1u
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

/* Bits of fnhost_module_v1.flags. */
#define FNHOST_MODULE_FLAG_SNAPSHOT 1u /* state_snapshot and state_restore are set. */

/* Opaque objects owned by the module. */
typedef struct fnhost_module_state fnhost_module_state;
typedef struct fnhost_module_instance fnhost_module_instance;

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

/* What a state is built from. Valid only during the call it was passed to. */
typedef struct fnhost_host_init_context {
  const char* function_name; /* NUL-terminated. */
  const uint8_t* init_config;
  size_t init_config_size;
  fnhost_host_logger logger;
  fnhost_host_output* error; /* for the message of a failed step; allocate_response is NULL. */
} fnhost_host_init_context;

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

typedef struct fnhost_module_v1 {
  /* FNHOST_ABI_VERSION the module was built with. Checked by the host before anything else. */
  uint32_t abi_version;
  /* sizeof(fnhost_module_v1) as the module saw it. */
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

  /* Serves one call: request bytes in, response through output->allocate_response. */
  int32_t (*invoke)(fnhost_module_instance* instance, const uint8_t* request, size_t request_size,
                    fnhost_host_output* output);
} fnhost_module_v1;

/* The exported entry. Receives the host's ABI version and returns the module's table, which
 * must stay valid until the module is unloaded; NULL refuses to load. */
typedef const fnhost_module_v1* (*fnhost_module_entry_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FNHOST_ABI_H_ */
