#include "src/host/router.h"

#include <cmath>

#include "src/common/function_error.h"

namespace fnhost::internal {

absl::StatusOr<uint32_t> CanaryRouter::ShareInMillionths(std::string_view function,
                                                         double share) {
  if (!(share >= 0.0 && share <= 1.0)) {  // NaN fails both
    return absl::InvalidArgumentError(
        FunctionMessage(function, "canary share ", share, " must be between 0 and 1"));
  }
  return static_cast<uint32_t>(std::llround(share * kMillion));
}

}  // namespace fnhost::internal
