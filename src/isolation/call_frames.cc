#include "src/isolation/call_frames.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace fnhost::internal {
namespace {

template <typename T>
void Put(std::string* out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out->append(bytes, sizeof(T));
}

void PutBytes(std::string* out, std::string_view bytes) {
  Put<uint32_t>(out, static_cast<uint32_t>(bytes.size()));
  out->append(bytes);
}

// Reads fields off the front of a block; any read past its end makes ok() false for good.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}
  template <typename T>
  T Take() {
    T value{};
    if (rest_.size() < sizeof(T)) {
      ok_ = false;
      return value;
    }
    std::memcpy(&value, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return value;
  }
  std::string_view TakeBytes(size_t size) {
    if (!ok_ || rest_.size() < size) {
      ok_ = false;
      return {};
    }
    std::string_view bytes = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return bytes;
  }
  std::string_view TakeSized() { return TakeBytes(Take<uint32_t>()); }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && rest_.empty(); }

 private:
  std::string_view rest_;
  bool ok_ = true;
};

}  // namespace

void EncodeRequestContext(const CallRecord& record, std::string* out) {
  out->clear();
  Put<int64_t>(out, record.deadline_ns());
  PutBytes(out, record.call_id());
  PutBytes(out, record.traceparent());
  PutBytes(out, record.tracestate());
  Put<uint32_t>(out, static_cast<uint32_t>(record.metadata().size()));
  for (const Metadata& entry : record.metadata()) {
    PutBytes(out, entry.key());
    PutBytes(out, entry.value());
  }
}

absl::Status DecodeRequestContext(std::string_view block, RequestContext* context) {
  Reader reader(block);
  context->deadline_ns = reader.Take<int64_t>();
  context->call_id = reader.TakeSized();
  context->traceparent = reader.TakeSized();
  context->tracestate = reader.TakeSized();
  const uint32_t count = reader.Take<uint32_t>();
  context->metadata.clear();
  // Each pair takes at least 8 bytes: a count above that is a lie, not an allocation to make.
  if (!reader.ok() || count > block.size() / 8) {
    return absl::DataLossError("malformed call context in a request frame");
  }
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view key = reader.TakeSized();
    std::string_view value = reader.TakeSized();
    context->metadata.push_back({{key.data(), key.size()}, {value.data(), value.size()}});
  }
  if (!reader.done()) return absl::DataLossError("malformed call context in a request frame");
  return absl::OkStatus();
}

void AppendResponseMetadata(const std::vector<std::pair<std::string, std::string>>& metadata,
                            std::string* payload) {
  const size_t start = payload->size();
  for (const auto& [key, value] : metadata) {
    PutBytes(payload, key);
    PutBytes(payload, value);
  }
  Put<uint32_t>(payload, static_cast<uint32_t>(metadata.size()));
  Put<uint32_t>(payload, static_cast<uint32_t>(payload->size() - start + sizeof(uint32_t)));
}

absl::Status TakeResponseMetadata(std::string* payload, CallRecord& record) {
  auto malformed = [] { return absl::DataLossError("malformed response metadata"); };
  uint32_t block_size = 0;
  if (payload->size() < 2 * sizeof(uint32_t)) return malformed();
  std::memcpy(&block_size, payload->data() + payload->size() - sizeof(uint32_t), sizeof(uint32_t));
  if (block_size < 2 * sizeof(uint32_t) || block_size > payload->size()) return malformed();
  const size_t start = payload->size() - block_size;
  const std::string_view block(payload->data() + start, block_size - 2 * sizeof(uint32_t));
  uint32_t count = 0;
  std::memcpy(&count, payload->data() + payload->size() - 2 * sizeof(uint32_t), sizeof(count));
  Reader reader(block);
  for (uint32_t i = 0; i < count && reader.ok(); ++i) {
    std::string_view key = reader.TakeSized();
    std::string_view value = reader.TakeSized();
    if (reader.ok() && record.SetResponseMetadata(key, value) != FNHOST_STATUS_OK) {
      return absl::DataLossError(
          absl::StrCat("response metadata refused (bad key or too many pairs)"));
    }
  }
  if (!reader.done()) return malformed();
  payload->resize(start);
  return absl::OkStatus();
}

void EncodeHostCall(const HostCall& call, std::string* out) {
  out->clear();
  Put<uint64_t>(out, call.service_id);
  PutBytes(out, call.method);
  out->append(call.request);
}

absl::Status DecodeHostCall(std::string_view payload, HostCall* call) {
  Reader reader(payload);
  call->service_id = reader.Take<uint64_t>();
  const uint32_t method_size = reader.Take<uint32_t>();
  if (!reader.ok() || method_size > kMaxMethodBytes) {
    return absl::DataLossError(absl::StrCat("malformed host-service call (", payload.size(),
                                            " bytes, method of ", method_size, " bytes)"));
  }
  call->method = reader.TakeBytes(method_size);
  if (!reader.ok()) {
    return absl::DataLossError("malformed host-service call: its method runs past its end");
  }
  call->request = payload.substr(sizeof(uint64_t) + sizeof(uint32_t) + method_size);
  return absl::OkStatus();
}

}  // namespace fnhost::internal
