// Loads the module built next to it and checks the reply; exit code 0 on success.
#include <cstdio>
#include <string>

#include "fnhost/host.h"

int main(int argc, char** argv) {
  auto host = fnhost::Host::Create();
  if (!host.ok()) return 1;
  fnhost::FunctionSpec spec;
  spec.name = "m";
  spec.module_path = argv[1];
  if (!(*host)->Register(spec).ok()) return 1;
  absl::StatusOr<std::string> reply = (*host)->Invoke("m", "ping");
  if (!reply.ok()) {
    std::fprintf(stderr, "%s\n", std::string(reply.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", reply->c_str());
  return *reply == "pong" ? 0 : 1;
}
