// Generation and parsing of the recommender's text model. See model_file.h.
#include "examples/recommender/model_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

namespace recommender {
namespace {

using fnhost::sdk::Status;

constexpr uint64_t kFirstId = 1000000;

// splitmix64: tiny, and unlike the std distributions its output is fixed by the seed alone,
// so a model file is the same wherever it is generated.
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1].
  double Uniform() { return (static_cast<double>(Next() >> 11) + 1.0) * 0x1.0p-53; }
  // Standard normal (Box-Muller).
  double Normal() {
    return std::sqrt(-2.0 * std::log(Uniform())) * std::cos(2.0 * M_PI * Uniform());
  }

 private:
  uint64_t state_;
};

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<FILE, FileCloser>;

// Reports the errno of the failed call; call it before anything else can change errno.
Status IoError(const std::string& what, const std::string& path) {
  const int error = errno;
  return Status(error == ENOENT ? fnhost::sdk::StatusCode::kNotFound
                                : fnhost::sdk::StatusCode::kFailedPrecondition,
                "recommender: " + what + " " + path + ": " + std::strerror(error));
}

void AppendNumber(std::string* out, auto value) {
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, end);
}

}  // namespace

Status GenerateModelFile(const Params& params, const std::string& path) {
  SplitMix rng(params.seed);
  std::vector<float> topics(size_t{params.topics} * params.dim);
  for (float& x : topics) x = static_cast<float>(rng.Normal());

  std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." +
                     std::to_string(std::random_device()());
  File file(std::fopen(temp.c_str(), "wb"));
  if (file == nullptr) return IoError("cannot create", temp);
  std::string chunk;
  bool write_ok = true;
  for (uint64_t i = 0; i < params.items && write_ok; ++i) {
    const float* topic = &topics[(rng.Next() % params.topics) * params.dim];
    AppendNumber(&chunk, kFirstId + i);
    for (uint32_t d = 0; d < params.dim; ++d) {
      chunk.push_back(' ');
      AppendNumber(&chunk, topic[d] + static_cast<float>(0.6 * rng.Normal()));
    }
    chunk.push_back('\n');
    if (chunk.size() >= (1u << 20) || i + 1 == params.items) {
      write_ok = std::fwrite(chunk.data(), 1, chunk.size(), file.get()) == chunk.size();
      chunk.clear();
    }
  }
  if (!write_ok || std::fclose(file.release()) != 0) {
    Status status = IoError("cannot write", temp);
    std::remove(temp.c_str());
    return status;
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    Status status = IoError("cannot rename " + temp + " to", path);
    std::remove(temp.c_str());
    return status;
  }
  return Status::Ok();
}

Status ReadModelFile(const std::string& path, uint32_t dim, Model* model) {
  File file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return IoError("cannot open model", path);
  std::string text;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) text.append(buffer, n);
  if (std::ferror(file.get())) return IoError("cannot read model", path);

  model->ids.clear();
  model->vectors.clear();
  const char* p = text.data();
  const char* const end = text.data() + text.size();
  for (size_t line = 1; p < end; ++line) {
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (eol == nullptr) eol = end;
    auto skip_blanks = [&] {
      while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
    };
    auto bad_line = [&](const std::string& why) {
      return fnhost::sdk::InvalidArgumentError("recommender: " + path + ":" +
                                               std::to_string(line) + ": " + why);
    };
    skip_blanks();
    if (p < eol && *p != '#') {
      uint64_t id;
      auto [id_end, id_error] = std::from_chars(p, eol, id);
      if (id_error != std::errc()) return bad_line("expected an item id");
      p = id_end;
      uint32_t values = 0;
      for (skip_blanks(); p < eol; skip_blanks(), ++values) {
        float value;
        auto [value_end, value_error] = std::from_chars(p, eol, value);
        if (value_error != std::errc() || !std::isfinite(value)) {
          return bad_line("bad value '" + std::string(p, std::min(eol, p + 20)) + "'");
        }
        if (values < dim) model->vectors.push_back(value);
        p = value_end;
      }
      if (values != dim) {
        return bad_line("has " + std::to_string(values) + " values, expected dim=" +
                        std::to_string(dim));
      }
      model->ids.push_back(id);
    }
    p = eol + 1;
  }
  return Status::Ok();
}

}  // namespace recommender
