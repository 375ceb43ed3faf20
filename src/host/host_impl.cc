#include "src/common/function_error.h"
#include "src/host/host_impl.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "src/common/paths.h"
#include "src/common/strings.h"
#include "src/isolation/sandbox_config.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost {
namespace {

absl::Status ValidateSpec(const FunctionSpec& spec) {
  auto invalid = [&](std::string_view cause) {
    return absl::InvalidArgumentError(FunctionMessage(spec.name, cause));
  };
  if (spec.name.empty() || spec.name.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("function name '", spec.name, "' must have 1 to 128 characters"));
  }
  for (char c : spec.name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
      return invalid("the name may only use letters, digits, '_', '.' and '-'");
    }
  }
  if (spec.module_path.empty()) return invalid("module_path is empty");
  const PoolOptions& pool = spec.pool;
  if (pool.max_instances < 1) return invalid("max_instances must be at least 1");
  if (pool.min_instances < 0 || pool.min_instances > pool.max_instances) {
    return invalid(absl::StrCat("min_instances ", pool.min_instances,
                                " must be between 0 and max_instances ", pool.max_instances));
  }
  if (pool.max_concurrency_per_instance < 0) {
    return invalid("max_concurrency_per_instance must not be negative");
  }
  if (pool.max_queue < 0) return invalid("max_queue must not be negative");
  if (spec.isolation.mode == IsolationOptions::Mode::kProcess &&
      pool.max_concurrency_per_instance > 1) {
    return invalid(absl::StrCat("max_concurrency_per_instance ", pool.max_concurrency_per_instance,
                                " with process isolation: each worker process serves one call "
                                "at a time"));
  }
  if (pool.default_timeout <= absl::ZeroDuration()) {
    return invalid("default_timeout must be positive");
  }
  if (absl::Status status = ValidateKeepAliveOptions(pool.keep_alive); !status.ok()) {
    return invalid(absl::StrCat("keep_alive.", status.message()));
  }
  if (spec.canary.module_path.empty() && spec.canary.share != 0) {
    return invalid("canary.share is set but canary.module_path is empty");
  }
  if (!(spec.canary.share >= 0 && spec.canary.share <= 1)) {
    return invalid(absl::StrCat("canary.share ", spec.canary.share, " must be between 0 and 1"));
  }
  if (!spec.sha256.empty()) {
    bool hex = spec.sha256.size() == 64;
    for (char c : spec.sha256) hex = hex && std::isxdigit(static_cast<unsigned char>(c));
    if (!hex) return invalid("sha256 must be 64 hexadecimal characters");
  }
  for (size_t i = 0; i < spec.services.size(); ++i) {
    if (std::find(spec.services.begin(), spec.services.begin() + i, spec.services[i]) !=
        spec.services.begin() + i) {
      return invalid(absl::StrCat("service '", spec.services[i], "' is granted twice"));
    }
  }
  return absl::OkStatus();
}

// A function in process isolation cannot use a service that has only a typed form: its module
// runs in a worker process, where the host's function table does not exist.
absl::Status CheckIsolatedGrant(const FunctionSpec& spec, std::string_view service,
                                bool has_bytes) {
  if (spec.isolation.mode != IsolationOptions::Mode::kProcess || has_bytes) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(FunctionMessage(
      spec.name, "service '", service,
      "' has only a typed form, which cannot cross into a worker process (isolation: process); "
      "give the service a bytes form, or run the function in process"));
}

// A module path from an embedder, made absolute against the current directory now, as
// function_spec.h promises: a later chdir does not change which file a reload loads.
absl::StatusOr<std::string> AbsoluteModulePath(std::string_view function, std::string_view path) {
  absl::StatusOr<std::string> absolute = AbsolutePath(path);
  if (!absolute.ok()) {
    return PrefixFunction(function, absolute.status());
  }
  return absolute;
}

}  // namespace

const std::string& FunctionHandle::name() const { return function_->name(); }

absl::StatusOr<std::unique_ptr<Host>> Host::Create(HostOptions options) {
  return CreateHost(std::move(options), /*maintenance_thread=*/true);
}

absl::StatusOr<std::unique_ptr<Host>> CreateHost(HostOptions options, bool maintenance_thread) {
  if (options.maintenance_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HostOptions::maintenance_interval must be positive");
  }
  if (!(options.memory_budget_mb >= 0) || std::isinf(options.memory_budget_mb)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HostOptions::memory_budget_mb must be 0 (no budget) or a positive number of MB, not ",
        options.memory_budget_mb));
  }
  for (std::string* path : {&options.snapshot_dir, &options.zygote_executable}) {
    absl::StatusOr<std::string> absolute = AbsolutePath(*path);
    if (!absolute.ok()) return absolute.status();
    *path = *std::move(absolute);
  }
  auto host = std::make_unique<HostImpl>(std::move(options));
  if (maintenance_thread) host->StartMaintenanceThread();
  return host;
}

HostImpl::HostImpl(HostOptions options) {
  context_.clock = options.clock != nullptr ? options.clock : Clock::Real();
  context_.fs = FileSystem::Default();
  context_.sink = options.metrics_sink;
  if (options.memory_budget_mb > 0) {
    budget_ = std::make_unique<internal::MemoryBudget>(options.memory_budget_mb);
    context_.budget = budget_.get();
  }
  context_.services = std::make_unique<internal::ServiceRegistry>(options.kv_max_bytes);
  context_.options = std::move(options);
  context_.SetCoarseNow(context_.clock->Now());
  context_.run_in_background = [this](std::function<void()> task, bool finish_at_shutdown) {
    Schedule(std::move(task), finish_at_shutdown);
  };
  context_.tasks = std::make_unique<internal::TaskThreads>(context_.options.async_threads);
  context_.timer = std::make_unique<internal::DeadlineTimer>(context_.clock);
  context_.poller = std::make_unique<internal::CallPoller>();
  context_.completions = context_.options.completion_executor != nullptr
                             ? context_.options.completion_executor
                             : context_.tasks.get();
}

void HostImpl::StartMaintenanceThread() {
  maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
}

HostImpl::~HostImpl() {
  {
    std::lock_guard<std::mutex> lock(background_mu_);
    stopping_ = true;
  }
  background_cv_.notify_all();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  // Snapshot writes still pending are finished (the next process restores from them); the
  // rest (prewarms) are pointless now.
  std::deque<BackgroundTask> left;
  {
    std::lock_guard<std::mutex> lock(background_mu_);
    left.swap(tasks_);
  }
  for (BackgroundTask& task : left) {
    if (task.finish_at_shutdown) task.run();
  }
  for (const std::shared_ptr<internal::Function>& function : AllFunctions()) {
    function->Shutdown();
  }
  // Every call is over; what is left on the host's threads are completions and the last
  // references to calls. Then nothing can arm a deadline any more.
  context_.poller.reset();
  context_.tasks.reset();
  context_.timer.reset();
}

absl::Status HostImpl::Register(FunctionSpec spec) {
  if (absl::Status status = ValidateSpec(spec); !status.ok()) return status;
  if (absl::Status status = internal::ResolveSandbox(&spec); !status.ok()) return status;
  for (std::string* path : {&spec.module_path, &spec.canary.module_path}) {
    absl::StatusOr<std::string> absolute = AbsoluteModulePath(spec.name, *path);
    if (!absolute.ok()) return absolute.status();
    *path = *std::move(absolute);
  }
  if (budget_ != nullptr && spec.pool.keep_alive.instance_memory_mb > budget_->capacity_mb()) {
    return absl::InvalidArgumentError(FunctionMessage(
        spec.name, "pool.keep_alive.instance_memory_mb ", spec.pool.keep_alive.instance_memory_mb,
        " is more than the host's memory_budget_mb ", budget_->capacity_mb(),
        ": no instance could ever start"));
  }
  const int min_instances = spec.pool.min_instances;
  const CanarySpec canary = spec.canary;
  auto function = std::make_shared<internal::Function>(context_, std::move(spec));
  // Before the name is visible, so that its first call finds it in the budget.
  if (budget_ != nullptr) budget_->Add(function);
  {
    std::unique_lock<std::shared_mutex> lock(functions_mu_);
    for (const std::string& name : function->spec().services) {
      if (std::shared_ptr<const internal::HostService> service = context_.services->Find(name)) {
        absl::Status status = CheckIsolatedGrant(function->spec(), name, service->has_bytes);
        if (!status.ok()) {
          return status;
        }
      }
    }
    auto [it, inserted] = functions_.try_emplace(function->name(), function);
    if (!inserted) {
      return absl::AlreadyExistsError(
          FunctionSentence(function->name(), " is already registered (module ",
                       it->second->spec().module_path, ")"));
    }
  }
  if (min_instances > 0) SchedulePrewarm(function, min_instances);
  if (!canary.module_path.empty()) {
    // Off the caller's path, like a prewarm. A canary that fails leaves the stable version with
    // every call; the failed load shows in the cold-start metrics, and here.
    Schedule([function, canary] {
      absl::Status status = function->SetCanary(canary.module_path, canary.share);
      if (!status.ok() && !absl::IsNotFound(status)) {
        std::fprintf(stderr, "fnhost: canary of '%s' not set: %s\n", function->name().c_str(),
                     std::string(status.message()).c_str());
      }
    }, /*finish_at_shutdown=*/false);
  }
  return absl::OkStatus();
}

absl::Status HostImpl::Unregister(std::string_view name) {
  std::shared_ptr<internal::Function> function;
  {
    std::unique_lock<std::shared_mutex> lock(functions_mu_);
    auto it = functions_.find(AsAbsl(name));
    if (it == functions_.end()) {
      return absl::NotFoundError(absl::StrCat("no function named '", AsAbsl(name), "'"));
    }
    function = std::move(it->second);
    functions_.erase(it);
  }
  function->Unregister();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<internal::Function>> HostImpl::Find(std::string_view name) {
  std::shared_lock<std::shared_mutex> lock(functions_mu_);
  auto it = functions_.find(AsAbsl(name));
  if (it == functions_.end()) {
    return absl::NotFoundError(absl::StrCat("no function named '", AsAbsl(name), "'"));
  }
  return it->second;
}

std::vector<std::shared_ptr<internal::Function>> HostImpl::AllFunctions() {
  std::shared_lock<std::shared_mutex> lock(functions_mu_);
  std::vector<std::shared_ptr<internal::Function>> all;
  all.reserve(functions_.size());
  for (const auto& [name, function] : functions_) all.push_back(function);
  return all;
}

absl::StatusOr<FunctionHandle> HostImpl::Lookup(std::string_view name) {
  absl::StatusOr<std::shared_ptr<internal::Function>> function = Find(name);
  if (!function.ok()) return function.status();
  return FunctionHandle(*std::move(function));
}

absl::StatusOr<std::string> HostImpl::Invoke(std::string_view name, std::string_view request,
                                             const CallOptions& options) {
  absl::StatusOr<std::shared_ptr<internal::Function>> function = Find(name);
  if (!function.ok()) return function.status();
  std::string response;
  if (absl::Status status = (*function)->Invoke(request, &response, options); !status.ok()) {
    return status;
  }
  return response;
}

absl::Status HostImpl::Invoke(const FunctionHandle& function, std::string_view request,
                              std::string* response, const CallOptions& options) {
  if (!function.valid()) return absl::InvalidArgumentError("invalid (empty) FunctionHandle");
  return function.function_->Invoke(request, response, options);
}

void HostImpl::InvokeAsync(const FunctionHandle& function, std::string_view request,
                           std::string* response, InvokeCallback done,
                           const CallOptions& options) {
  if (!function.valid()) [[unlikely]] {
    Executor* executor =
        options.executor != nullptr ? options.executor : context_.completions;
    executor->Post([done = std::move(done), response]() mutable {
      done(absl::InvalidArgumentError("invalid (empty) FunctionHandle"), response);
    });
    return;
  }
  function.function_->InvokeAsync(request, response, std::move(done), options);
}

absl::Status HostImpl::Prewarm(std::string_view name, int instances) {
  absl::StatusOr<std::shared_ptr<internal::Function>> function = Find(name);
  if (!function.ok()) return function.status();
  SchedulePrewarm(*std::move(function), instances);
  return absl::OkStatus();
}

absl::Status HostImpl::PrewarmAndWait(std::string_view name, int instances) {
  absl::StatusOr<std::shared_ptr<internal::Function>> function = Find(name);
  if (!function.ok()) return function.status();
  return (*function)->Prewarm(instances);
}

absl::Status HostImpl::Reload(std::string_view name, std::string_view module_path) {
  absl::StatusOr<std::shared_ptr<internal::Function>> function = Find(name);
  if (!function.ok()) return function.status();
  absl::StatusOr<std::string> absolute = AbsoluteModulePath(name, module_path);
  if (!absolute.ok()) return absolute.status();
  return (*function)->Reload(*absolute);
}

absl::Status HostImpl::SetCanary(std::string_view name, std::string_view module_path,
                                 double share) {
  absl::StatusOr<std::shared_ptr<internal::Function>> function = Find(name);
  if (!function.ok()) return function.status();
  if (module_path.empty()) {
    return absl::InvalidArgumentError(
        FunctionMessage(name, "the canary's module_path is empty"));
  }
  absl::StatusOr<std::string> absolute = AbsoluteModulePath(name, module_path);
  if (!absolute.ok()) return absolute.status();
  return (*function)->SetCanary(*absolute, share);
}

absl::Status HostImpl::SetCanaryShare(std::string_view name, double share) {
  absl::StatusOr<std::shared_ptr<internal::Function>> function = Find(name);
  if (!function.ok()) return function.status();
  return (*function)->SetCanaryShare(share);
}

absl::Status HostImpl::PromoteCanary(std::string_view name) {
  absl::StatusOr<std::shared_ptr<internal::Function>> function = Find(name);
  if (!function.ok()) return function.status();
  return (*function)->PromoteCanary();
}

absl::Status HostImpl::ClearCanary(std::string_view name) {
  absl::StatusOr<std::shared_ptr<internal::Function>> function = Find(name);
  if (!function.ok()) return function.status();
  return (*function)->ClearCanary();
}

std::vector<FunctionStatus> HostImpl::ListFunctions() {
  std::vector<FunctionStatus> all;
  for (const std::shared_ptr<internal::Function>& function : AllFunctions()) {
    all.push_back(function->Status());
  }
  std::sort(all.begin(), all.end(),
            [](const FunctionStatus& a, const FunctionStatus& b) { return a.name < b.name; });
  return all;
}

void HostImpl::SchedulePrewarm(std::shared_ptr<internal::Function> function, int instances) {
  // A failed prewarm is reported through the cold-start metrics; the next call retries.
  Schedule([function = std::move(function), instances] {
    function->Prewarm(instances).IgnoreError();
  }, /*finish_at_shutdown=*/false);
}

void HostImpl::Schedule(std::function<void()> task, bool finish_at_shutdown) {
  {
    std::lock_guard<std::mutex> lock(background_mu_);
    if (stopping_ && !finish_at_shutdown) return;
    tasks_.push_back(BackgroundTask{std::move(task), finish_at_shutdown});
  }
  background_cv_.notify_all();
}

void HostImpl::RunBackgroundTasks() {
  for (;;) {
    BackgroundTask task;
    {
      std::lock_guard<std::mutex> lock(background_mu_);
      if (tasks_.empty() || stopping_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task.run();
  }
}

void HostImpl::RunMaintenance() {
  const absl::Time now = context_.clock->Now();
  const absl::Time wall_now = context_.clock->WallNow();
  context_.SetCoarseNow(now);
  RunBackgroundTasks();
  for (const std::shared_ptr<internal::Function>& function : AllFunctions()) {
    function->Maintain(now, wall_now);
    function->PublishGauges();
  }
  if (budget_ != nullptr) {
    // Calls waiting for memory look again: other functions' instances may have gone idle.
    budget_->Poke();
    PublishHostGauges();
  }
}

absl::Status HostImpl::RegisterService(ServiceSpec service) {
  // Under the functions' lock, so that no function in process isolation is granted a typed-only
  // service between this check and the registration.
  std::unique_lock<std::shared_mutex> lock(functions_mu_);
  if (service.typed != nullptr && !service.bytes) {
    for (const auto& [name, function] : functions_) {
      const std::vector<std::string>& granted = function->spec().services;
      if (std::find(granted.begin(), granted.end(), service.name) == granted.end()) continue;
      absl::Status status = CheckIsolatedGrant(function->spec(), service.name, false);
      if (!status.ok()) {
        return status;
      }
    }
  }
  return context_.services->Register(std::move(service));
}

void HostImpl::PublishGauges() {
  for (const std::shared_ptr<internal::Function>& function : AllFunctions()) {
    function->PublishGauges();
  }
  PublishHostGauges();
}

void HostImpl::PublishHostGauges() {
  if (budget_ != nullptr && context_.sink != nullptr) context_.sink->OnHostGauges(budget_->Gauges());
}

void HostImpl::MaintenanceLoop() {
  absl::Time next = context_.clock->Now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(background_mu_);
      while (!stopping_ && tasks_.empty() && context_.clock->Now() < next) {
        context_.clock->WaitUntil(background_cv_, lock, next);
      }
      if (stopping_) return;
    }
    if (context_.clock->Now() >= next) {
      RunMaintenance();
      next = context_.clock->Now() + context_.options.maintenance_interval;
    } else {
      RunBackgroundTasks();
    }
  }
}

}  // namespace fnhost
