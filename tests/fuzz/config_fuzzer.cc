// libFuzzer target for the two text inputs an operator hands fnhost: a host config
// (ParseHostConfig, protobuf text format plus our own checks) and a keep-alive policy spec
// (ParsePolicySpec, as given to `fnhost sim --policy`). The input is used as a config and as a
// spec, and also, from its first newline on, as a config whose first function's keep_alive
// holds the fuzzed fields, so that mutations reach the keep-alive checks quickly.
//
// Crashes on an out-of-bounds read or undefined behaviour (AddressSanitizer, UBSan), and when
// an accepted input breaks a promise: every function of an accepted config passes
// ValidateKeepAliveOptions, and an accepted spec formats to a spec that parses back to the
// same canonical form.

#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/config/config_loader.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost {
namespace {

void CheckConfig(std::string_view text) {
  absl::StatusOr<HostConfig> config = ParseHostConfig(text, "fuzz.textproto");
  if (!config.ok()) return;
  for (const FunctionSpec& spec : config->functions) {
    if (!ValidateKeepAliveOptions(spec.pool.keep_alive).ok()) std::abort();
    MakeKeepAlivePolicy(spec.pool.keep_alive, absl::UTCTimeZone())->Describe();
  }
}

void CheckSpec(std::string_view spec) {
  absl::StatusOr<KeepAliveOptions> options = ParsePolicySpec(spec);
  if (!options.ok()) return;
  if (!ValidateKeepAliveOptions(*options).ok()) std::abort();
  const std::string canonical = FormatPolicySpec(*options);
  absl::StatusOr<KeepAliveOptions> again = ParsePolicySpec(canonical);
  if (!again.ok() || FormatPolicySpec(*again) != canonical) std::abort();
}

void FuzzOne(std::string_view input) {
  CheckConfig(input);
  CheckSpec(input);
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return;
  CheckConfig("function { name: \"f\" module_path: \"f.so\" pool { keep_alive { " +
              std::string(input.substr(newline + 1)) + " } } }");
}

}  // namespace
}  // namespace fnhost

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The text-format parser logs what it rejects (also returned as a Status).
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fnhost::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
