// VersionLifecycle: the versions of one function by role. The stable version takes the calls;
// during a traffic split a canary takes its share (router.h); a version replaced by a reload,
// a promote or a cleared canary, and every version after an unregister, retires: it takes no
// new call, its idle instances go at once, and it is unloaded once drained (IsDrained, the one
// test of it). A scale to zero retires the stable version too, in favour of a fresh, unloaded
// one of the same build.
//
// Thread-safety: none; the Pool owns it and calls it under its mutex.

#ifndef FNHOST_SRC_HOST_VERSION_LIFECYCLE_H_
#define FNHOST_SRC_HOST_VERSION_LIFECYCLE_H_

#include <array>
#include <memory>
#include <vector>

#include "fnhost/function_spec.h"
#include "src/host/version.h"

namespace fnhost::internal {

class VersionLifecycle {
 public:
  // Starts with an unloaded stable version of `spec`'s module.
  VersionLifecycle(const HostContext& host, const FunctionSpec& spec);

  Version* stable() const { return stable_.get(); }
  Version* canary() const { return canary_.get(); }  // null: no traffic split
  // The versions that take calls: the stable one, then the canary or null.
  std::array<Version*, 2> active() const { return {stable_.get(), canary_.get()}; }
  const std::vector<std::unique_ptr<Version>>& retired() const { return retired_; }

  // Makes `staged` the stable version, or the canary; the version it replaces retires.
  void Install(std::unique_ptr<Version> staged, bool as_canary);
  // The canary becomes the stable version; the old stable version retires. Needs a canary.
  void PromoteCanary();
  // The canary retires. Needs a canary.
  void RetireCanary();
  // Scale to zero: the stable version retires; a fresh, unloaded version of the same build,
  // starting from what the old one learned, takes its place.
  void RefreshStable();
  // Unregister: every version retires; the stable role goes to a placeholder that never loads
  // (callers are refused before they could start a load). Once only.
  void RetireAll();
  bool all_retired() const { return all_retired_; }

  // Whether `version` holds nothing any more: no call, no instance, none starting, no
  // background work, and no instance being destroyed but `destroying_now` (those a caller is
  // about to destroy itself).
  static bool IsDrained(const Version& version, int destroying_now = 0);
  // Moves the drained retired versions into `out`.
  void TakeDrained(std::vector<std::unique_ptr<Version>>* out);

 private:
  void Retire(std::unique_ptr<Version> version);

  const HostContext& host_;
  const FunctionSpec& spec_;
  std::unique_ptr<Version> stable_;
  std::unique_ptr<Version> canary_;
  std::vector<std::unique_ptr<Version>> retired_;  // draining
  bool all_retired_ = false;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_VERSION_LIFECYCLE_H_
