#include "src/common/function_error.h"
#include "src/loader/module_loader.h"

#include <dlfcn.h>
#include <link.h>

#include <map>
#include <mutex>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "src/common/sha256.h"
#include "src/common/strings.h"
#include "src/loader/dependencies.h"
#include "src/loader/elf_info.h"
#include "src/loader/module_file.h"

namespace fnhost {
namespace {

// glibc serialises dlopen and dlclose with a lock inside ld.so that ThreadSanitizer cannot
// see, so it reports the loader's own bookkeeping as racing. Taking our own lock around them
// costs nothing (the loader would serialise them anyway) and makes the ordering visible. It
// also keeps our other loads out while the objects that a module's dlopen brought are counted
// and pinned.
std::mutex& DynamicLinkerMutex() {
  static std::mutex mu;
  return mu;
}

void* LookUpSymbol(void* handle, const char* name) {
  std::lock_guard<std::mutex> lock(DynamicLinkerMutex());
  return ::dlsym(handle, name);
}

void CloseLibrary(void* handle) {
  std::lock_guard<std::mutex> lock(DynamicLinkerMutex());
  ::dlclose(handle);
}

bool IsObjectLoaded(const std::string& name) {
  std::lock_guard<std::mutex> lock(DynamicLinkerMutex());
  void* handle = ::dlopen(name.c_str(), RTLD_NOLOAD | RTLD_LAZY);
  if (handle != nullptr) ::dlclose(handle);
  return handle != nullptr;
}

// The copies this loader has mapped, by the path they were read from (for IsLoaded), and the
// copies kept open for objects that stay mapped (Keep). Never destroyed: a kept object may be
// in use until the process exits.
struct Registry {
  std::mutex mu;
  std::multimap<std::string, std::string> copies;  // path -> "/proc/self/fd/N"
  std::vector<std::unique_ptr<SealedFile>> kept;
};
Registry& Copies() {
  static Registry* registry = new Registry;
  return *registry;
}

void Forget(const std::string& path, const std::string& copy) {
  Registry& registry = Copies();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto [begin, end] = registry.copies.equal_range(path);
  for (auto it = begin; it != end; ++it) {
    if (it->second == copy) {
      registry.copies.erase(it);
      return;
    }
  }
}


// "function 'f': cannot load module <path>: <cause>", with the copy's name replaced by the
// path the user knows.
absl::Status CannotLoad(std::string_view function, const std::string& path,
                        absl::StatusCode code, absl::string_view cause,
                        const std::string& copy) {
  std::string text(cause);
  if (absl::StartsWith(text, path + ": ")) text.erase(0, path.size() + 2);
  if (absl::StartsWith(text, copy + ": ")) text.erase(0, copy.size() + 2);
  text = absl::StrReplaceAll(text, {{copy, path}});
  return absl::Status(code, FunctionMessage(function, "cannot load module ", path, ": ", text));
}

// dlopens the copy, with whatever its RUNPATH finds next to the real file, and pins every
// dependency that came with it.
void* OpenModule(const SealedFile& file, const std::string& path, const ElfInfo& elf) {
  std::lock_guard<std::mutex> lock(DynamicLinkerMutex());
  const uint64_t before = LoadedObjectCount();
  PreloadOriginDependencies(path, elf.runpath, elf.needed);
  void* handle = ::dlopen(file.proc_path().c_str(), RTLD_NOW | RTLD_LOCAL);
  PinObjectsLoadedSince(before, file.proc_path());
  return handle;
}

std::vector<CodeRange> CodeRanges(void* handle, const ElfInfo& elf) {
  link_map* map = nullptr;
  std::vector<CodeRange> code;
  if (::dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr) return code;
  for (const LoadSegment& segment : elf.loads) {
    if (!segment.executable) continue;
    code.push_back({.begin = map->l_addr + segment.address,
                    .end = map->l_addr + segment.address + segment.size});
  }
  return code;
}

// A module file read into a sealed copy and checked, not loaded yet.
struct CheckedCopy {
  std::unique_ptr<SealedFile> file;
  ElfInfo elf;
  std::string sha256;  // when pinned
};

absl::StatusOr<CheckedCopy> CopyAndCheck(std::string_view function, const std::string& path,
                                         const LoadOptions& options) {
  // A pinned hash is of the whole file, which is then copied whole: the bytes hashed are the
  // bytes loaded.
  absl::StatusOr<std::unique_ptr<SealedFile>> file = SealedFile::Copy(
      path, options.sha256.empty() ? SealedFile::Extent::kLoadedPart
                                   : SealedFile::Extent::kWholeFile);
  if (!file.ok()) return PrefixFunction(function, file.status());
  if (absl::Status s = CheckModuleMode(function, path, (*file)->source_mode(),
                                       ModuleFileChecks{options.allow_writable});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<ElfInfo> elf = ParseElfInfo((*file)->bytes(), (*file)->file_size(), path);
  if (!elf.ok()) {
    return CannotLoad(function, path, elf.status().code(), elf.status().message(),
                      (*file)->proc_path());
  }
  CheckedCopy checked{*std::move(file), *std::move(elf), ""};
  if (!options.sha256.empty()) {
    checked.sha256 = Sha256Hex(checked.file->bytes());
    if (absl::Status s = CheckModuleSha256(function, path, checked.sha256, options.sha256);
        !s.ok()) {
      return s;
    }
  }
  checked.file->DropBytes();  // checked: from now on only the sealed copy counts
  return checked;
}

}  // namespace

bool IsLoaded(const std::string& path) {
  if (IsObjectLoaded(path)) return true;
  std::vector<std::string> copies;
  {
    Registry& registry = Copies();
    std::lock_guard<std::mutex> lock(registry.mu);
    auto [begin, end] = registry.copies.equal_range(path);
    for (auto it = begin; it != end; ++it) copies.push_back(it->second);
  }
  for (const std::string& copy : copies) {
    if (IsObjectLoaded(copy)) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<LoadedModule>> LoadedModule::Load(std::string_view function,
                                                                 const std::string& path,
                                                                 const LoadOptions& options,
                                                                 Clock& clock,
                                                                 LoadTimings* timings) {
  absl::Time start = clock.Now();
  if (path.empty()) {
    return absl::InvalidArgumentError(
        FunctionMessage(function, "empty module path"));
  }
  absl::StatusOr<CheckedCopy> checked = CopyAndCheck(function, path, options);
  if (!checked.ok()) return checked.status();
  const std::string copy = checked->file->proc_path();
  const pid_t newer_threads_than = LastThreadId();
  absl::Time copied = clock.Now();

  void* handle = OpenModule(*checked->file, path, checked->elf);
  if (handle == nullptr) {
    const char* error = ::dlerror();
    return CannotLoad(function, path, absl::StatusCode::kFailedPrecondition,
                      error != nullptr ? error : "unknown dlopen error", copy);
  }
  {
    Registry& registry = Copies();
    std::lock_guard<std::mutex> lock(registry.mu);
    registry.copies.emplace(path, copy);
  }
  // From here on the module unloads itself on failure, and keeps its copy open if the object
  // stays mapped, so that no later copy gets its name.
  auto module = std::unique_ptr<LoadedModule>(new LoadedModule(
      path, std::move(checked->file), std::move(checked->elf.build_id), handle,
      CodeRanges(handle, checked->elf), newer_threads_than));
  if (!checked->sha256.empty()) {
    std::call_once(module->sha256_once_, [&] { module->sha256_ = std::move(checked->sha256); });
  }
  ::dlerror();
  auto entry = reinterpret_cast<fnhost_module_entry_fn>(
      LookUpSymbol(handle, FNHOST_MODULE_ENTRY_SYMBOL));
  if (entry == nullptr) {
    return absl::FailedPreconditionError(FunctionMessage(
        function, "module ", path, " does not export ", FNHOST_MODULE_ENTRY_SYMBOL,
        "; is it a fnhost module (built with FNHOST_MODULE)?"));
  }
  absl::Time opened = clock.Now();
  absl::StatusOr<ModuleAbi> abi = CheckModuleTable(function, path, entry(FNHOST_ABI_VERSION));
  if (!abi.ok()) return abi.status();
  module->abi_ = *abi;
  if (timings != nullptr) {
    timings->file_checks = copied - start;
    timings->dlopen = opened - copied;
    timings->abi_check = clock.Now() - opened;
  }
  return module;
}

LoadedModule::LoadedModule(std::string path, std::unique_ptr<SealedFile> file,
                           std::string build_id, void* handle, std::vector<CodeRange> code,
                           pid_t newer_threads_than)
    : path_(std::move(path)),
      file_(std::move(file)),
      build_id_(std::move(build_id)),
      handle_(handle),
      code_(std::move(code)),
      newer_threads_than_(newer_threads_than) {}

LoadedModule::~LoadedModule() {
  if (handle_ != nullptr) Unload();
}

const absl::StatusOr<std::string>& LoadedModule::sha256() const {
  std::call_once(sha256_once_, [this] { sha256_ = file_->Sha256(); });
  return sha256_;
}

void LoadedModule::Keep() {
  handle_ = nullptr;  // the reference stays with the object, for good
  file_->LetGoOfSource();  // only the copy's name must stay taken
  Registry& registry = Copies();
  std::lock_guard<std::mutex> lock(registry.mu);
  registry.kept.push_back(std::move(file_));
}

UnloadReport LoadedModule::Unload() {
  abi_ = ModuleAbi();
  const std::string copy = file_->proc_path();
  absl::StatusOr<std::vector<ThreadInModule>> threads =
      ThreadsInModule(code_, newer_threads_than_);
  if (!threads.ok() || !threads->empty()) {
    Keep();
    if (!threads.ok()) {
      return {UnloadResult::kKeptForThreads,
              absl::StrCat("module ", path_, " stays loaded: its threads could not be checked (",
                           threads.status().message(), ")")};
    }
    std::vector<std::string> which;
    for (const ThreadInModule& thread : *threads) {
      which.push_back(absl::StrCat("thread ", thread.tid, " ", thread.why));
    }
    return {UnloadResult::kKeptForThreads,
            absl::StrCat("module ", path_, " left ", threads->size(),
                         " thread(s) that may still run its code (", absl::StrJoin(which, "; "),
                         "); it stays loaded. Stop and join a module's threads in its state's "
                         "destructor")};
  }
  CloseLibrary(handle_);
  if (IsObjectLoaded(copy)) {
    Keep();
    return {UnloadResult::kStillMapped,
            absl::StrCat("module ", path_, " stays mapped after dlclose (an STB_GNU_UNIQUE "
                         "symbol, a thread_local destructor on a live thread, or another "
                         "reference keeps it)")};
  }
  handle_ = nullptr;
  Forget(path_, copy);
  file_.reset();
  return {UnloadResult::kUnloaded, ""};
}

}  // namespace fnhost
