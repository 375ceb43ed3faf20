// CanaryRouter: the routing decisions of a traffic split between a function's stable version
// and its canary. With a canary share of p millionths, a credit grows by p per call and a call
// goes to the canary when the credit reaches one million (which is then taken off). The credit
// starts at half a million whenever the share is set, so the first N calls after that give the
// canary round(N*p/1e6) calls, and any N consecutive calls floor(N*p/1e6) or one more, with no
// randomness.
//
// Thread-safety: none; the pool calls it under its mutex, in the order calls take it.

#ifndef FNHOST_SRC_HOST_ROUTER_H_
#define FNHOST_SRC_HOST_ROUTER_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace fnhost::internal {

class CanaryRouter {
 public:
  static constexpr uint32_t kMillion = 1'000'000;

  // `share` (0 to 1) in millionths; INVALID_ARGUMENT naming `function` outside [0, 1].
  static absl::StatusOr<uint32_t> ShareInMillionths(std::string_view function, double share);

  // Sets the canary's share and restarts the credit.
  void SetShare(uint32_t millionths) {
    millionths_ = millionths;
    credit_ = kMillion / 2;  // rounds: N calls give round(N * share)
  }
  // Every call to the stable version.
  void Clear() { millionths_ = 0; }

  // The next call's decision: true sends it to the canary.
  bool Next() {
    credit_ += millionths_;
    if (credit_ < kMillion) return false;
    credit_ -= kMillion;
    return true;
  }

  double share() const { return static_cast<double>(millionths_) / kMillion; }

 private:
  uint32_t millionths_ = 0;
  uint32_t credit_ = 0;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_ROUTER_H_
