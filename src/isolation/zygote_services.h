// ZygoteServices: the InitHost of a module's init steps in the processes of process isolation
// (a zygote, its snapshot builder, a worker that builds its own state). require_service is
// answered here, from the description of the function's services that came with the config
// (ModuleConfig.offer), with the same checks and messages as the host's; typed forms never
// cross into these processes. call_host and log lines go to the host as kHostCall and kLog
// frames on the process's channel to it (a snapshot builder's go to its zygote, which forwards
// them), and the process waits for the reply.
//
// Not thread-safe: these processes build their state on one thread.

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_SERVICES_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_SERVICES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "fnhost/runtime.pb.h"
#include "src/isolation/worker_protocol.h"
#include "src/runtime/init_step.h"

namespace fnhost::internal {

class ZygoteServices final : public InitHost {
 public:
  // `config` must outlive this.
  explicit ZygoteServices(const runtime::ModuleConfig& config) : config_(config) {}

  // The channel to the host (or to the zygote, in its snapshot builder). Default: fd 3.
  void set_channel(int fd) { channel_ = fd; }

  int32_t RequireService(std::string_view name, uint32_t min_version, uint32_t forms,
                         fnhost_host_service* service, std::string* message) override;
  int32_t CallHost(uint64_t service_id, std::string_view method, std::string_view request,
                   std::string* response) override;
  void Log(int32_t level, std::string_view message) override;

 private:
  const runtime::ModuleConfig& config_;
  int channel_ = kChildChannelFd;
  std::string frame_;  // an encoded kHostCall, reused
};

// In a snapshot builder's zygote: passes a frame the builder sent (kHostCall, kLog) on to the
// host over `control`, and for a kHostCall the host's reply back to the builder over
// `builder`. False when either channel fails.
bool ForwardToHost(int builder, int control, const FrameHeader& header, std::string_view payload);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_SERVICES_H_
