// HostImpl: the Host behind the public interface — the name table, the background thread that
// runs maintenance and prewarms, and the plumbing from Host calls to Function.
// Thread-safety: as Host.

#ifndef FNHOST_SRC_HOST_HOST_IMPL_H_
#define FNHOST_SRC_HOST_HOST_IMPL_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "fnhost/host.h"
#include "src/host/function.h"
#include "src/host/host_context.h"
#include "src/host/memory_budget.h"

namespace fnhost {

// Host::Create, and with `maintenance_thread` false HostForTesting::Create: a host whose
// maintenance runs only when RunMaintenance is called (also `fnhost run`, which makes a few
// calls and exits).
absl::StatusOr<std::unique_ptr<Host>> CreateHost(HostOptions options, bool maintenance_thread);

class HostImpl final : public Host {
 public:
  explicit HostImpl(HostOptions options);
  ~HostImpl() override;

  absl::Status Register(FunctionSpec spec) override;
  absl::Status Unregister(std::string_view name) override;
  absl::StatusOr<FunctionHandle> Lookup(std::string_view name) override;
  absl::StatusOr<std::string> Invoke(std::string_view name, std::string_view request,
                                     const CallOptions& options) override;
  absl::Status Invoke(const FunctionHandle& function, std::string_view request,
                      std::string* response, const CallOptions& options) override;
  void InvokeAsync(const FunctionHandle& function, std::string_view request,
                   std::string* response, InvokeCallback done,
                   const CallOptions& options) override;
  absl::Status Prewarm(std::string_view name, int instances) override;
  absl::Status PrewarmAndWait(std::string_view name, int instances) override;
  absl::Status Reload(std::string_view name, std::string_view module_path) override;
  absl::Status SetCanary(std::string_view name, std::string_view module_path,
                         double share) override;
  absl::Status SetCanaryShare(std::string_view name, double share) override;
  absl::Status PromoteCanary(std::string_view name) override;
  absl::Status ClearCanary(std::string_view name) override;
  std::vector<FunctionStatus> ListFunctions() override;
  void PublishGauges() override;
  absl::Status RegisterService(ServiceSpec service) override;

  // One pass of the maintenance work (see HostForTesting::RunMaintenance); the maintenance
  // thread's loop, or a test.
  void RunMaintenance();
  void StartMaintenanceThread();

 private:
  struct BackgroundTask {
    std::function<void()> run;
    bool finish_at_shutdown = false;
  };

  absl::StatusOr<std::shared_ptr<internal::Function>> Find(std::string_view name);
  std::vector<std::shared_ptr<internal::Function>> AllFunctions();
  void SchedulePrewarm(std::shared_ptr<internal::Function> function, int instances);
  void Schedule(std::function<void()> task, bool finish_at_shutdown);
  void RunBackgroundTasks();
  void MaintenanceLoop();
  void PublishHostGauges();

  // Outlives the functions, which hold it through context_.
  std::unique_ptr<internal::MemoryBudget> budget_;
  internal::HostContext context_;

  std::shared_mutex functions_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<internal::Function>> functions_;

  std::mutex background_mu_;
  std::condition_variable background_cv_;
  std::deque<BackgroundTask> tasks_;
  bool stopping_ = false;
  std::thread maintenance_thread_;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_HOST_HOST_IMPL_H_
