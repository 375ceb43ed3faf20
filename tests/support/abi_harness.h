// Test-only driver of a module through its raw C ABI, without the Host: loads the shared
// object, checks its table as the loader does (any ABI version in the host's window), then runs
// state creation, instance creation, invocation and snapshot round trips the way a host would,
// with the init and call contexts of harness_host.h (host services, metadata, deadline, ...),
// and records what the module logs and sends back.
//
// Thread-safety: Invoke may run on several threads at once (on the same or different
// instances); every other method needs exclusive use of the harness.

#ifndef FNHOST_TESTS_SUPPORT_ABI_HARNESS_H_
#define FNHOST_TESTS_SUPPORT_ABI_HARNESS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fnhost/abi.h"
#include "src/loader/module_table.h"
#include "tests/support/harness_host.h"

namespace fnhost::testing {

// What one step of module code returned: its status code, the message it set (if any) and,
// for Invoke, the response and its metadata.
struct AbiResult {
  int32_t code = FNHOST_STATUS_OK;
  std::string message;
  std::string response;
  MetadataPairs response_metadata;

  bool ok() const { return code == FNHOST_STATUS_OK; }
};
void PrintTo(const AbiResult& result, std::ostream* os);

// Snapshot sections by name, as a host would store them.
using Sections = std::map<std::string, std::string>;

// The names of the symbols the shared object at `path` defines in its dynamic symbol table,
// as `nm -D --defined-only` lists them. Records a test failure if nm cannot be run.
std::set<std::string> DefinedDynamicSymbols(const std::string& path);

class AbiHarness;

// The path of test module `name` (tests/modules/, built next to the tests' modules).
std::string TestModulePath(const std::string& name);
// Opens test module `name`; nullptr, with a test failure saying why, when it cannot.
std::unique_ptr<AbiHarness> OpenTestModule(const std::string& name);
// Builds the state from `init_config` and one instance; a fatal test failure when either step
// fails (call it under ASSERT_NO_FATAL_FAILURE).
void CreateStateAndInstance(AbiHarness& harness, const std::string& init_config = "");

class AbiHarness {
 public:
  // dlopens `path` (RTLD_NOW | RTLD_LOCAL), calls fnhost_module_entry and checks the table
  // (CheckModuleTable). On failure returns nullptr and says why in *error.
  static std::unique_ptr<AbiHarness> Open(const std::string& path, std::string* error);

  // Destroys the instances, then the state, then dlcloses the module.
  ~AbiHarness();
  AbiHarness(const AbiHarness&) = delete;
  AbiHarness& operator=(const AbiHarness&) = delete;

  // The host's copy of the table: fields past the module's ABI version are zero.
  const fnhost_module& table() const { return abi_.table; }
  const ModuleAbi& abi() const { return abi_; }
  // The host services and the rest of the contexts' host side. Configure before CreateState.
  HarnessHost& host() { return host_; }

  // Builds the state from `init_config`. The harness holds one state at a time.
  AbiResult CreateState(std::string_view init_config);
  // Rebuilds the state from `sections`, each copied into its own 64-byte aligned buffer that
  // lives as long as the state. `init_flags`: FNHOST_INIT_FLAG_* bits.
  AbiResult Restore(const Sections& sections, std::string_view init_config = {},
                    uint32_t init_flags = 0);
  // Runs state_after_restore with the init config of the current state.
  AbiResult AfterRestore();
  // Writes the current state's sections into *sections (replacing its contents).
  AbiResult Snapshot(Sections* sections);
  // Destroys all instances and the state (also done by the destructor).
  void DestroyState();

  // Adds an instance bound to the current state; instances are numbered from 0.
  AbiResult CreateInstance();
  size_t instance_count() const { return instances_.size(); }
  // Calls instance `instance` with `request`: through invoke_with_context, with a context
  // made from `options`, when the module has it, else through invoke.
  AbiResult Invoke(std::string_view request, size_t instance = 0) {
    return Invoke(request, CallOptions(), instance);
  }
  AbiResult Invoke(std::string_view request, const CallOptions& options, size_t instance = 0);
  // Calls instance `instance` through the context-less invoke entry, whatever the module has.
  AbiResult InvokeWithoutContext(std::string_view request, size_t instance = 0);

  // Everything the module logged so far.
  std::vector<LogLine> logs() const { return host_.logs(); }

 private:
  struct AlignedFree {
    void operator()(void* p) const;
  };
  using AlignedBuffer = std::unique_ptr<void, AlignedFree>;
  struct RestoredSection {
    AlignedBuffer buffer;
    size_t size;
  };

  AbiHarness(void* handle, const ModuleAbi& abi) : handle_(handle), abi_(abi) {}
  static int32_t FindSection(void* host_data, const char* name, size_t name_size,
                             const void** data, size_t* size);

  void* handle_;
  const ModuleAbi abi_;
  const fnhost_module* const table_ = &abi_.table;
  HarnessHost host_;
  fnhost_module_state* state_ = nullptr;
  std::string init_config_;
  std::vector<fnhost_module_instance*> instances_;
  std::map<std::string, RestoredSection, std::less<>> restored_;
};

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_ABI_HARNESS_H_
