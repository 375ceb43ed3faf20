#include "src/loader/module_loader.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/sha256.h"
#include "src/common/strings.h"
#include "src/loader/elf_info.h"
#include "src/loader/module_file.h"

namespace fnhost {
namespace {

// glibc serialises dlopen and dlclose with a lock inside ld.so that ThreadSanitizer cannot
// see, so it reports the loader's own bookkeeping as racing. Taking our own lock around them
// costs nothing (the loader would serialise them anyway) and makes the ordering visible.
std::mutex& DynamicLinkerMutex() {
  static std::mutex mu;
  return mu;
}

void* OpenLibrary(const std::string& path, int flags) {
  std::lock_guard<std::mutex> lock(DynamicLinkerMutex());
  return ::dlopen(path.c_str(), flags);
}

void* LookUpSymbol(void* handle, const char* name) {
  std::lock_guard<std::mutex> lock(DynamicLinkerMutex());
  return ::dlsym(handle, name);
}

void CloseLibrary(void* handle) {
  std::lock_guard<std::mutex> lock(DynamicLinkerMutex());
  ::dlclose(handle);
}

std::string DefaultPrivateDir() {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp");
}

// Copies `from` to a fresh, owner-only file in `dir`; the unique name makes the dynamic loader
// treat it as a new object even when `from` is already mapped.
absl::StatusOr<std::string> MakePrivateCopy(FileSystem& fs, const std::string& from,
                                            const std::string& dir) {
  static std::atomic<uint64_t> counter{0};
  if (absl::Status s = fs.CreateDirectories(dir); !s.ok()) return s;
  std::string stem = std::filesystem::path(from).stem().string();
  std::string to = absl::StrCat(dir, "/", stem, ".", ::getpid(), ".",
                                counter.fetch_add(1, std::memory_order_relaxed), ".so");
  absl::StatusOr<std::string> bytes = fs.ReadFile(from);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::unique_ptr<WritableFile>> file = fs.NewWritableFile(to);
  if (!file.ok()) return file.status();
  absl::Status status = (*file)->Append(*bytes);
  if (absl::Status closed = (*file)->Close(); status.ok()) status = closed;
  if (!status.ok()) {
    fs.Remove(to).IgnoreError();
    return status;
  }
  return to;
}

absl::Status Annotate(std::string_view function, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("function '", AsAbsl(function), "': ", status.message()));
}

// dlerror says little about a file that is not a loadable ELF object ("invalid ELF header"),
// so the file's own headers are read to name the cause: not ELF, truncated, another machine.
absl::Status DlopenError(std::string_view function, const std::string& path,
                         const std::string& loaded_path, const char* dlopen_error,
                         FileSystem& fs) {
  std::string cause = dlopen_error != nullptr ? dlopen_error : "unknown dlopen error";
  absl::StatusCode code = absl::StatusCode::kFailedPrecondition;
  if (absl::StatusOr<std::string> bytes = fs.ReadFile(loaded_path); bytes.ok()) {
    absl::StatusOr<ElfInfo> elf = ParseElfInfo(*bytes, path);
    if (!elf.ok()) {
      code = elf.status().code();
      cause = std::string(elf.status().message());
      if (absl::StartsWith(cause, path + ": ")) cause.erase(0, path.size() + 2);
    }
  }
  return absl::Status(code, absl::StrCat("function '", AsAbsl(function), "': cannot load module ",
                                         path, ": ", cause));
}

}  // namespace

bool IsLoaded(const std::string& path) {
  void* handle = OpenLibrary(path, RTLD_NOLOAD | RTLD_LAZY);
  if (handle == nullptr) return false;
  CloseLibrary(handle);
  return true;
}

absl::Status CheckModuleTable(std::string_view function, const std::string& path,
                              const fnhost_module_v1* table) {
  auto error = [&](std::string_view cause) {
    return absl::FailedPreconditionError(absl::StrCat("function '", AsAbsl(function),
                                                      "': module ", path, ": ", AsAbsl(cause)));
  };
  if (table == nullptr) return error("the entry refused to load (returned NULL)");
  // The version comes first: nothing else in the table can be trusted before it matches.
  if (table->abi_version != FNHOST_ABI_VERSION) {
    return error(absl::StrCat("built for fnhost ABI version ", table->abi_version,
                              ", this host speaks version ", FNHOST_ABI_VERSION));
  }
  if (table->struct_size < sizeof(fnhost_module_v1)) {
    return error(absl::StrCat("function table is ", table->struct_size, " bytes, expected ",
                              sizeof(fnhost_module_v1)));
  }
  if (table->state_create == nullptr || table->state_destroy == nullptr ||
      table->instance_create == nullptr || table->instance_destroy == nullptr ||
      table->invoke == nullptr) {
    return error("function table lacks a required entry (state_create, state_destroy, "
                 "instance_create, instance_destroy or invoke)");
  }
  if ((table->flags & FNHOST_MODULE_FLAG_SNAPSHOT) != 0 &&
      (table->state_snapshot == nullptr || table->state_restore == nullptr)) {
    return error("declares snapshot support without state_snapshot and state_restore");
  }
  if (table->max_concurrency_per_instance < 1) {
    return error("declares max_concurrency_per_instance 0");
  }
  if (table->name == nullptr || table->version == nullptr) {
    return error("function table has no name or version");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LoadedModule>> LoadedModule::Load(std::string_view function,
                                                                 const std::string& path,
                                                                 const LoadOptions& options,
                                                                 FileSystem& fs, Clock& clock,
                                                                 LoadTimings* timings) {
  absl::Time start = clock.Now();
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("function '", AsAbsl(function), "': empty module path"));
  }
  if (absl::Status s =
          CheckModuleFile(fs, function, path, ModuleFileChecks{options.allow_writable});
      !s.ok()) {
    return s;
  }
  // A pinned hash is checked on the private copy that is then mapped, so that the bytes
  // checked are the bytes loaded even if the original changes in between.
  bool private_copy = !options.force_private_copy_in.empty() || !options.sha256.empty() ||
                      IsLoaded(path);
  std::string loaded_path = path;
  if (private_copy) {
    std::string dir = !options.force_private_copy_in.empty() ? options.force_private_copy_in
                      : !options.private_dir.empty()         ? options.private_dir
                                                             : DefaultPrivateDir();
    absl::StatusOr<std::string> copy = MakePrivateCopy(fs, path, dir);
    if (!copy.ok()) return Annotate(function, copy.status());
    loaded_path = *std::move(copy);
  }
  absl::Cleanup remove_copy = [&] {
    if (private_copy) fs.Remove(loaded_path).IgnoreError();
  };
  if (!options.sha256.empty()) {
    if (absl::Status s = CheckModuleSha256(function, loaded_path, options.sha256); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(s.message(), " (file ", path, ")"));
    }
  }
  absl::Time checked = clock.Now();

  void* handle = OpenLibrary(loaded_path, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return DlopenError(function, path, loaded_path, ::dlerror(), fs);
  absl::Cleanup close_handle = [handle] { CloseLibrary(handle); };
  ::dlerror();
  auto entry = reinterpret_cast<fnhost_module_entry_fn>(
      LookUpSymbol(handle, FNHOST_MODULE_ENTRY_SYMBOL));
  if (entry == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "function '", AsAbsl(function), "': module ", path, " does not export ",
        FNHOST_MODULE_ENTRY_SYMBOL, "; is it a fnhost module (built with FNHOST_MODULE)?"));
  }
  absl::Time opened = clock.Now();

  const fnhost_module_v1* table = entry(FNHOST_ABI_VERSION);
  if (absl::Status s = CheckModuleTable(function, path, table); !s.ok()) return s;
  absl::Time checked_abi = clock.Now();

  if (timings != nullptr) {
    timings->file_checks = checked - start;
    timings->dlopen = opened - checked;
    timings->abi_check = checked_abi - opened;
  }
  std::move(close_handle).Cancel();
  std::move(remove_copy).Cancel();
  return std::unique_ptr<LoadedModule>(
      new LoadedModule(path, std::move(loaded_path), private_copy, handle, table));
}

LoadedModule::LoadedModule(std::string path, std::string loaded_path, bool private_copy,
                           void* handle, const fnhost_module_v1* table)
    : path_(std::move(path)),
      loaded_path_(std::move(loaded_path)),
      private_copy_(private_copy),
      handle_(handle),
      table_(table) {}

LoadedModule::~LoadedModule() {
  if (handle_ != nullptr) Unload();
}

UnloadResult LoadedModule::Unload() {
  CloseLibrary(handle_);
  handle_ = nullptr;
  table_ = nullptr;
  UnloadResult result = IsLoaded(loaded_path_) ? UnloadResult::kStillMapped
                                               : UnloadResult::kUnloaded;
  if (private_copy_) ::unlink(loaded_path_.c_str());
  return result;
}

}  // namespace fnhost
