#include "fnhost/testing.h"

#include <cstdio>
#include <cstdlib>

#include "src/host/host_impl.h"

namespace fnhost {

absl::StatusOr<std::unique_ptr<Host>> HostForTesting::Create(HostOptions options) {
  return CreateHost(std::move(options), /*maintenance_thread=*/false);
}

void HostForTesting::RunMaintenance(Host& host) {
  auto* impl = dynamic_cast<HostImpl*>(&host);
  if (impl == nullptr) {
    std::fprintf(stderr, "HostForTesting::RunMaintenance: the host was not made by fnhost\n");
    std::abort();
  }
  impl->RunMaintenance();
}

}  // namespace fnhost
