// The payloads of the control frames that carry more than a pid (the host's kConfig to a
// zygote is a zygote::ZygoteConfig message): the report of how a module's state was built, which a zygote sends the host
// (kReady, kThreadedInit) and a snapshot builder sends its zygote (kBuilt). Each has its encoder
// and its decoder side by side, so that both ends agree field by field. A decoder never trusts
// its input: it returns false for a payload that ends early or holds a value out of range.
//
// Thread-safety: the functions keep no state.

#ifndef FNHOST_SRC_ISOLATION_ZYGOTE_MESSAGES_H_
#define FNHOST_SRC_ISOLATION_ZYGOTE_MESSAGES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "src/isolation/zygote_client.h"

namespace fnhost::internal {

// How a module's state was built, from the module's table and the process that built it.
// A snapshot builder fills only `start` (its init and snapshot fields).
struct ModuleInfo {
  std::string name;
  std::string version;
  int max_concurrency = 1;
  Zygote::StartReport start;  // `total` aside: the host measures it
};

std::string EncodeModuleInfo(const ModuleInfo& info);
bool DecodeModuleInfo(std::string_view payload, ModuleInfo* info);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_ZYGOTE_MESSAGES_H_
