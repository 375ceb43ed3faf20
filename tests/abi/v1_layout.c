/* The layout of ABI 1, measured on the frozen header (tests/abi/v1/fnhost/abi.h), for
 * abi_test.cc to compare with today's header: every field a module of ABI 1 has must sit at
 * the same offset. C, so that the two headers' same-named types never meet in one C++ program. */
#include <stddef.h>

#include "tests/abi/v1/fnhost/abi.h"

#define FIELD(type, field) {#type "." #field, offsetof(type, field)}

typedef struct fnhost_v1_layout_entry {
  const char* field;
  size_t offset;
} fnhost_v1_layout_entry;

const fnhost_v1_layout_entry fnhost_v1_layout[] = {
    FIELD(fnhost_module_v1, abi_version),
    FIELD(fnhost_module_v1, struct_size),
    FIELD(fnhost_module_v1, sdk_version),
    FIELD(fnhost_module_v1, flags),
    FIELD(fnhost_module_v1, max_concurrency_per_instance),
    FIELD(fnhost_module_v1, name),
    FIELD(fnhost_module_v1, version),
    FIELD(fnhost_module_v1, state_create),
    FIELD(fnhost_module_v1, state_restore),
    FIELD(fnhost_module_v1, state_after_restore),
    FIELD(fnhost_module_v1, state_snapshot),
    FIELD(fnhost_module_v1, state_destroy),
    FIELD(fnhost_module_v1, instance_create),
    FIELD(fnhost_module_v1, instance_destroy),
    FIELD(fnhost_module_v1, invoke),
    FIELD(fnhost_host_init_context, function_name),
    FIELD(fnhost_host_init_context, init_config),
    FIELD(fnhost_host_init_context, init_config_size),
    FIELD(fnhost_host_init_context, logger),
    FIELD(fnhost_host_init_context, error),
    FIELD(fnhost_host_output, host_data),
    FIELD(fnhost_host_output, allocate_response),
    FIELD(fnhost_host_output, set_error_message),
    FIELD(fnhost_host_logger, host_data),
    FIELD(fnhost_host_logger, log),
    FIELD(fnhost_host_snapshot_writer, host_data),
    FIELD(fnhost_host_snapshot_writer, write_section),
    FIELD(fnhost_host_snapshot_reader, host_data),
    FIELD(fnhost_host_snapshot_reader, find_section),
};
const size_t fnhost_v1_layout_count = sizeof(fnhost_v1_layout) / sizeof(fnhost_v1_layout[0]);

const size_t fnhost_v1_module_size = sizeof(fnhost_module_v1);
const size_t fnhost_v1_init_context_size = sizeof(fnhost_host_init_context);
