/* fnhost built-in host services: `metrics` and `kv`, the services every host offers to the
 * functions granted them, in both forms of fnhost/abi.h (typed: the tables below; bytes: the
 * methods below, through call_host).
 *
 * A module requires them like any service (require_service, or fnhost/sdk/metrics.h and
 * fnhost/sdk/kv.h in the SDK). The typed form is the fast one, and the one a host provides in
 * process; under process isolation a host provides the bytes form (and may provide a typed
 * `metrics` implemented inside the worker). A client that works everywhere asks with forms 0 and
 * uses the typed form when it got one.
 *
 * Bytes-form encodings: integers and doubles are little-endian, fixed width (u32, i64, f64);
 * `bytes...` runs to the end of the message. A method answers FNHOST_STATUS_OK with the response
 * shown (empty when none is shown), or an error code with a message.
 *
 * Each table is versioned by its service's version, not by FNHOST_ABI_VERSION: a new version
 * only appends functions. All functions are thread-safe. A test holds this file's hash.
 */
#ifndef FNHOST_BUILTIN_SERVICES_H_
#define FNHOST_BUILTIN_SERVICES_H_

#include <stddef.h>
#include <stdint.h>

#include "fnhost/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- metrics: counters, gauges and histograms of the function ------------------------------
 * Defined at init (any init step; defining the same name and kind again returns the same id, so
 * a restored state or a forked worker simply defines again), bumped by id in calls. They appear
 * among the host's metrics with the function as a label. Names match [a-z_][a-z0-9_]*.
 *
 * Bytes form:
 *   "define"  u32 kind, u32 bounds_count, f64 bounds[bounds_count], u32 name_size,
 *             bytes name[name_size], bytes help...          -> u32 id
 *   "add"     u32 id, i64 delta
 *   "set"     u32 id, i64 value
 *   "record"  u32 id, f64 value
 */
#define FNHOST_METRICS_SERVICE "metrics"
#define FNHOST_METRICS_SERVICE_VERSION 1u

#define FNHOST_METRIC_COUNTER 0u
#define FNHOST_METRIC_GAUGE 1u
#define FNHOST_METRIC_HISTOGRAM 2u

typedef struct fnhost_host_metrics_v1 {
  /* Defines metric `name` of `kind` with its help text; a histogram takes its bucket upper
   * bounds, ascending (NULL and 0 for the host's defaults). Sets *id. INVALID_ARGUMENT for a bad
   * name, kind or bounds; ALREADY_EXISTS for a name defined with another kind;
   * RESOURCE_EXHAUSTED past the host's limit of metrics per function. */
  int32_t (*define)(void* data, uint32_t kind, fnhost_module_bytes name, fnhost_module_bytes help,
                    const double* bounds, size_t bounds_count, uint32_t* id);
  /* Adds `delta` to a counter (delta >= 0) or a gauge. */
  int32_t (*add)(void* data, uint32_t id, int64_t delta);
  /* Sets a gauge. */
  int32_t (*set)(void* data, uint32_t id, int64_t value);
  /* Records one observation in a histogram. */
  int32_t (*record)(void* data, uint32_t id, double value);
  /* add, set and record return OK, NOT_FOUND for an id never defined, or INVALID_ARGUMENT for
   * a metric of another kind (or a negative counter delta); they never block. */
} fnhost_host_metrics_v1;

/* ---- kv: a key/value store shared by the functions granted it -------------------------------
 * In memory, with a cap on its total size. Values are copied in and out.
 *
 * Bytes form:
 *   "get"    bytes key...                            -> bytes value
 *   "set"    u32 key_size, bytes key[key_size], bytes value...
 *   "erase"  bytes key...
 */
#define FNHOST_KV_SERVICE "kv"
#define FNHOST_KV_SERVICE_VERSION 1u

typedef struct fnhost_host_kv_v1 {
  /* Copies the value of `key` into value[0, capacity) and sets *size to the value's size.
   * OK when it fitted; OUT_OF_RANGE when capacity < *size (ask again with a larger buffer);
   * NOT_FOUND when the store has no such key. */
  int32_t (*get)(void* data, fnhost_module_bytes key, char* value, size_t capacity,
                 size_t* size);
  /* Stores a copy of `value` under `key`. RESOURCE_EXHAUSTED when the store would exceed its
   * cap. */
  int32_t (*set)(void* data, fnhost_module_bytes key, fnhost_module_bytes value);
  /* Removes `key`; NOT_FOUND when it was absent. */
  int32_t (*erase)(void* data, fnhost_module_bytes key);
} fnhost_host_kv_v1;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FNHOST_BUILTIN_SERVICES_H_ */
