#include "src/runtime/module_config.h"

namespace fnhost::internal {

runtime::ModuleConfig ModuleConfigFor(const FunctionSpec& spec, const HostOptions& host,
                                      const std::string& module_path) {
  runtime::ModuleConfig config;
  config.set_function_name(spec.name);
  config.set_module_path(module_path);
  config.set_init_config(spec.init_config);
  config.set_sha256(spec.sha256);
  config.set_allow_writable_modules(host.allow_writable_modules);
  config.set_max_concurrency_per_instance(spec.pool.max_concurrency_per_instance);
  config.set_use_snapshots(spec.use_snapshots);
  if (spec.use_snapshots) config.set_snapshot_dir(host.snapshot_dir);
  config.set_trust_private_snapshot_dir(host.trust_private_snapshot_dir);
  for (const std::string& service : spec.services) config.add_service(service);
  return config;
}

}  // namespace fnhost::internal
