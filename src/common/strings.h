// Bridges std::string_view (our API) and absl::string_view (Debian's Abseil is built with its
// own string_view type, not an alias of the standard one).

#ifndef FNHOST_SRC_COMMON_STRINGS_H_
#define FNHOST_SRC_COMMON_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace fnhost {

inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view AsStd(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace fnhost

#endif  // FNHOST_SRC_COMMON_STRINGS_H_
