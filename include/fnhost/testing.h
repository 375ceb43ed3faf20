// Testing support for programs that embed fnhost: a Host whose maintenance runs only when the
// test asks for it. With a FakeClock (clock.h) driving time, the test then decides exactly when
// idle instances are evicted, modules unloaded, min_instances and predicted prewarms started,
// background snapshot writes done and pool gauges reported, and so never sleeps.
//
// Not for production: a host created here does none of that on its own.
//
// Thread-safety: as Host; RunMaintenance may run while other threads call the host.

#ifndef FNHOST_TESTING_H_
#define FNHOST_TESTING_H_

#include <memory>

#include "absl/status/statusor.h"
#include "fnhost/clock.h"
#include "fnhost/host.h"

namespace fnhost {

class HostForTesting {
 public:
  // A host as Host::Create makes it, but without the maintenance thread.
  static absl::StatusOr<std::unique_ptr<Host>> Create(HostOptions options = {});

  // One pass of the maintenance work, on the calling thread: evict idle instances past their
  // keep-alive, unload idle modules, top pools up to min_instances, run scheduled and
  // predicted prewarms and the background work scheduled since the last pass (prewarms after
  // Register, snapshot writes), and report pool gauges. `host` must have been made by
  // Host::Create or HostForTesting::Create.
  static void RunMaintenance(Host& host);
};

}  // namespace fnhost

#endif  // FNHOST_TESTING_H_
