// The one place where a function's spec and its host's options become the runtime's
// configuration (proto/fnhost/runtime.proto), for either isolation mode: the in-process
// backend builds the state from it, the process backend hands it to its zygote unchanged.
//
// Thread-safety: the function keeps no state.

#ifndef FNHOST_SRC_RUNTIME_MODULE_CONFIG_H_
#define FNHOST_SRC_RUNTIME_MODULE_CONFIG_H_

#include <string>

#include "fnhost/function_spec.h"
#include "fnhost/host.h"
#include "fnhost/runtime.pb.h"

namespace fnhost::internal {

// The configuration of the version of `spec`'s function that loads `module_path` (the stable
// module, or a reload's or canary's).
runtime::ModuleConfig ModuleConfigFor(const FunctionSpec& spec, const HostOptions& host,
                                      const std::string& module_path);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_MODULE_CONFIG_H_
