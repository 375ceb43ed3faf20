// Test-only driver of a module through its raw C ABI. See abi_harness.h.
#include "tests/support/abi_harness.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gtest/gtest.h"

namespace fnhost::testing {
namespace {

// Collects what module code writes through a fnhost_host_output during one call.
struct Output {
  std::string response;
  std::string message;

  static uint8_t* Allocate(void* host_data, size_t size) {
    auto* self = static_cast<Output*>(host_data);
    self->response.assign(size, '\0');
    return reinterpret_cast<uint8_t*>(self->response.data());
  }
  static void SetMessage(void* host_data, const char* message, size_t size) {
    static_cast<Output*>(host_data)->message.assign(message, size);
  }

  // For state steps: no response buffer, as abi.h says.
  fnhost_host_output ForErrors() { return {this, nullptr, &SetMessage}; }
  fnhost_host_output ForCalls() { return {this, &Allocate, &SetMessage}; }

  AbiResult Finish(int32_t code) {
    return AbiResult{code, std::move(message), std::move(response), {}};
  }
};

int32_t WriteSection(void* host_data, const char* name, size_t name_size, const void* data,
                     size_t size) {
  auto* sections = static_cast<Sections*>(host_data);
  auto [it, inserted] = sections->try_emplace(std::string(name, name_size));
  if (!inserted) return FNHOST_STATUS_ALREADY_EXISTS;
  it->second.assign(static_cast<const char*>(data), size);
  return FNHOST_STATUS_OK;
}

AbiResult Failure(int32_t code, std::string message) { return AbiResult{code, message, {}, {}}; }

}  // namespace

void PrintTo(const AbiResult& result, std::ostream* os) {
  *os << "{code=" << result.code << " message=\"" << result.message << "\" response=\""
      << result.response << "\"}";
}

std::set<std::string> DefinedDynamicSymbols(const std::string& path) {
  std::set<std::string> symbols;
  const std::string command = "nm -D --defined-only '" + path + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return symbols;
  }
  char buffer[4096];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) {
    // "<address> <type> <name>\n"
    std::string_view line(buffer);
    size_t type = line.find(' ');
    size_t name = type == std::string_view::npos ? type : line.find(' ', type + 1);
    if (name == std::string_view::npos) {
      ADD_FAILURE() << command << " printed: " << line;
      continue;
    }
    line.remove_prefix(name + 1);
    if (line.ends_with('\n')) line.remove_suffix(1);
    symbols.emplace(line);
  }
  EXPECT_EQ(pclose(pipe), 0) << command;
  return symbols;
}

std::string TestModulePath(const std::string& name) {
  return std::string(FNHOST_TEST_MODULE_DIR) + "/" + name + ".so";
}

std::unique_ptr<AbiHarness> OpenTestModule(const std::string& name) {
  std::string error;
  std::unique_ptr<AbiHarness> harness = AbiHarness::Open(TestModulePath(name), &error);
  EXPECT_NE(harness, nullptr) << error;
  return harness;
}

void CreateStateAndInstance(AbiHarness& harness, const std::string& init_config) {
  AbiResult state = harness.CreateState(init_config);
  ASSERT_TRUE(state.ok()) << ::testing::PrintToString(state);
  AbiResult instance = harness.CreateInstance();
  ASSERT_TRUE(instance.ok()) << ::testing::PrintToString(instance);
}

void AbiHarness::AlignedFree::operator()(void* p) const { std::free(p); }

std::unique_ptr<AbiHarness> AbiHarness::Open(const std::string& path, std::string* error) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    *error = std::string("dlopen failed: ") + dlerror();
    return nullptr;
  }
  auto entry =
      reinterpret_cast<fnhost_module_entry_fn>(dlsym(handle, FNHOST_MODULE_ENTRY_SYMBOL));
  if (entry == nullptr) {
    *error = path + " has no " FNHOST_MODULE_ENTRY_SYMBOL;
    dlclose(handle);
    return nullptr;
  }
  absl::StatusOr<ModuleAbi> abi = CheckModuleTable("harness", path, entry(FNHOST_ABI_VERSION));
  if (!abi.ok()) {
    *error = std::string(abi.status().message());
    dlclose(handle);
    return nullptr;
  }
  return std::unique_ptr<AbiHarness>(new AbiHarness(handle, *abi));
}

AbiHarness::~AbiHarness() {
  DestroyState();
  dlclose(handle_);
}

void AbiHarness::DestroyState() {
  for (fnhost_module_instance* instance : instances_) table_->instance_destroy(instance);
  instances_.clear();
  if (state_ != nullptr) table_->state_destroy(state_);
  state_ = nullptr;
  restored_.clear();
}

AbiResult AbiHarness::CreateState(std::string_view init_config) {
  DestroyState();
  init_config_ = std::string(init_config);
  Output output;
  fnhost_host_output error = output.ForErrors();
  fnhost_host_init_context context = host_.BeginInitStep(init_config_, 0, &error);
  return output.Finish(table_->state_create(&context, &state_));
}

int32_t AbiHarness::FindSection(void* host_data, const char* name, size_t name_size,
                                const void** data, size_t* size) {
  auto* self = static_cast<AbiHarness*>(host_data);
  auto it = self->restored_.find(std::string_view(name, name_size));
  if (it == self->restored_.end()) return FNHOST_STATUS_NOT_FOUND;
  *data = it->second.buffer.get();
  *size = it->second.size;
  return FNHOST_STATUS_OK;
}

AbiResult AbiHarness::Restore(const Sections& sections, std::string_view init_config,
                              uint32_t init_flags) {
  DestroyState();
  if (table_->state_restore == nullptr) {
    return Failure(FNHOST_STATUS_UNIMPLEMENTED, "module has no state_restore");
  }
  for (const auto& [name, bytes] : sections) {
    // aligned_alloc wants a size that is a multiple of the alignment, and a non-empty one
    // gives even an empty section a valid pointer.
    size_t capacity = (bytes.size() / 64 + 1) * 64;
    AlignedBuffer buffer(std::aligned_alloc(64, capacity));
    std::memcpy(buffer.get(), bytes.data(), bytes.size());
    restored_.emplace(name, RestoredSection{std::move(buffer), bytes.size()});
  }
  init_config_ = std::string(init_config);
  Output output;
  fnhost_host_output error = output.ForErrors();
  fnhost_host_init_context context = host_.BeginInitStep(init_config_, init_flags, &error);
  fnhost_host_snapshot_reader reader{this, &FindSection};
  int32_t code = table_->state_restore(&context, &reader, &state_);
  if (code != FNHOST_STATUS_OK) restored_.clear();
  return output.Finish(code);
}

AbiResult AbiHarness::AfterRestore() {
  if (state_ == nullptr) return Failure(FNHOST_STATUS_FAILED_PRECONDITION, "no state");
  if (table_->state_after_restore == nullptr) return {};
  Output output;
  fnhost_host_output error = output.ForErrors();
  fnhost_host_init_context context = host_.BeginInitStep(init_config_, 0, &error);
  return output.Finish(table_->state_after_restore(state_, &context));
}

AbiResult AbiHarness::Snapshot(Sections* sections) {
  if (state_ == nullptr) return Failure(FNHOST_STATUS_FAILED_PRECONDITION, "no state");
  if (table_->state_snapshot == nullptr) {
    return Failure(FNHOST_STATUS_UNIMPLEMENTED, "module has no state_snapshot");
  }
  sections->clear();
  Output output;
  fnhost_host_output error = output.ForErrors();
  fnhost_host_snapshot_writer writer{sections, &WriteSection};
  return output.Finish(table_->state_snapshot(state_, &writer, &error));
}

AbiResult AbiHarness::CreateInstance() {
  if (state_ == nullptr) return Failure(FNHOST_STATUS_FAILED_PRECONDITION, "no state");
  Output output;
  fnhost_host_output error = output.ForErrors();
  fnhost_module_instance* instance = nullptr;
  int32_t code = table_->instance_create(state_, &error, &instance);
  if (code == FNHOST_STATUS_OK) instances_.push_back(instance);
  return output.Finish(code);
}

AbiResult AbiHarness::Invoke(std::string_view request, const CallOptions& options,
                             size_t instance) {
  if (!abi_.has_context()) return InvokeWithoutContext(request, instance);
  if (instance >= instances_.size()) {
    return Failure(FNHOST_STATUS_FAILED_PRECONDITION, "no such instance");
  }
  Output output;
  fnhost_host_output raw = output.ForCalls();
  HarnessHost::CallScope call(&host_, options);
  AbiResult result = output.Finish(table_->invoke_with_context(
      instances_[instance], reinterpret_cast<const uint8_t*>(request.data()), request.size(),
      &raw, call.raw()));
  result.response_metadata = call.TakeResponseMetadata();
  return result;
}

AbiResult AbiHarness::InvokeWithoutContext(std::string_view request, size_t instance) {
  if (instance >= instances_.size()) {
    return Failure(FNHOST_STATUS_FAILED_PRECONDITION, "no such instance");
  }
  if (table_->invoke == nullptr) return Failure(FNHOST_STATUS_UNIMPLEMENTED, "no invoke entry");
  Output output;
  fnhost_host_output raw = output.ForCalls();
  return output.Finish(table_->invoke(instances_[instance],
                                      reinterpret_cast<const uint8_t*>(request.data()),
                                      request.size(), &raw));
}

}  // namespace fnhost::testing
