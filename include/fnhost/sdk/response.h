// The response of one call, written into a buffer the host owns (no copy on the way out).
//
// Part of the module SDK (fnhost/module.h). A Response is valid only during the Invoke it was
// passed to, and is used by one thread at a time.

#ifndef FNHOST_SDK_RESPONSE_H_
#define FNHOST_SDK_RESPONSE_H_

#include <cstddef>
#include <cstring>
#include <string_view>

#include "fnhost/abi.h"

namespace fnhost::sdk {

class Response {
 public:
  explicit Response(fnhost_host_output* raw) : raw_(raw) {}

  // A writable buffer of `size` bytes that becomes the whole response; nullptr if the host
  // cannot provide it. A later call replaces the earlier buffer.
  char* Allocate(size_t size) {
    return reinterpret_cast<char*>(raw_->allocate_response(raw_->host_data, size));
  }
  // Sets the response to a copy of `bytes`. False if the host cannot provide the buffer.
  bool Write(std::string_view bytes) {
    char* buffer = Allocate(bytes.size());
    if (buffer == nullptr) return false;
    if (!bytes.empty()) std::memcpy(buffer, bytes.data(), bytes.size());
    return true;
  }

 private:
  fnhost_host_output* raw_;
};

}  // namespace fnhost::sdk

#endif  // FNHOST_SDK_RESPONSE_H_
