// A hostile module for the isolation tests: request "crash" dies of a real SIGSEGV (a write to
// a PROT_NONE page); any other request is echoed back.
#include <signal.h>
#include <sys/mman.h>

#include <string>

#include "fnhost/module.h"

namespace {

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "crash") {
      // Sanitizer runtimes turn SIGSEGV into a report and exit(1); the test wants the signal.
      ::signal(SIGSEGV, SIG_DFL);
      void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      *static_cast<volatile char*>(page) = 1;
    }
    response.Write(request);
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "segfault", "1.0.0")
