// Example module: text statistics for a content pipeline. The request is a UTF-8 text; the
// response is a JSON object with its byte, word, unique-word and sentence counts, the average
// word length, the reading time and the most frequent terms that are not stopwords (see
// text_analyzer.h for the exact rules and the JSON shape).
//
// Init config keys (all optional):
//   top=N              terms to report                                   (default 5, max 100)
//   wpm=N              reading speed in words per minute                 (default 238)
//   stopwords=builtin  common English function words                     (the default)
//   stopwords=none     report every word
//   stopwords=PATH     a file with one stopword per line ('#' comments)
//   max_bytes=N        largest request accepted                          (default 1048576)
//
// Errors: INVALID_ARGUMENT for a bad init config, a request that is not valid UTF-8 (the
// message gives the byte offset) or one larger than max_bytes; NOT_FOUND for a missing
// stopwords file. Invoke only reads the state, so one instance serves many calls at once.
#include <algorithm>
#include <fstream>
#include <string>

#include "examples/common/key_value.h"
#include "examples/text_stats/text_analyzer.h"
#include "fnhost/module.h"

namespace text_stats {
namespace {

using fnhost::sdk::InvalidArgumentError;
using fnhost::sdk::Status;

constexpr std::string_view kWhat = "text_stats: init config";

Status LoadStopwords(const std::string& path, std::vector<std::string>* words) {
  std::ifstream file(path);
  if (!file) return fnhost::sdk::NotFoundError("text_stats: cannot open stopwords " + path);
  std::string line;
  while (std::getline(file, line)) {
    line.erase(0, line.find_first_not_of(" \t"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty() || line[0] == '#') continue;
    std::transform(line.begin(), line.end(), line.begin(),
                   [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; });
    words->push_back(line);
  }
  std::sort(words->begin(), words->end());
  return Status::Ok();
}

class State {
 public:
  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* out) {
    auto state = std::make_unique<State>();
    std::string stopwords = "builtin";
    Status status = examples::ForEachKeyValue(
        context.init_config(), kWhat, [&](std::string_view key, std::string_view value) {
          using examples::ParseNumber;
          if (key == "top") return ParseNumber(kWhat, key, value, &state->options_.top);
          if (key == "wpm") {
            return ParseNumber(kWhat, key, value, &state->options_.words_per_minute);
          }
          if (key == "max_bytes") return ParseNumber(kWhat, key, value, &state->max_bytes_);
          if (key == "stopwords") {
            stopwords = std::string(value);
            return Status::Ok();
          }
          return InvalidArgumentError(std::string(kWhat) + ": unknown key '" +
                                      std::string(key) + "'");
        });
    if (!status.ok()) return status;
    if (state->options_.top > 100) return InvalidArgumentError("text_stats: top must be <= 100");
    if (state->options_.words_per_minute == 0) {
      return InvalidArgumentError("text_stats: wpm must be >= 1");
    }
    if (stopwords == "builtin") {
      state->options_.stopwords = DefaultStopwords();
    } else if (stopwords != "none") {
      status = LoadStopwords(stopwords, &state->options_.stopwords);
      if (!status.ok()) return status;
    }
    *out = std::move(state);
    return Status::Ok();
  }

  const AnalyzerOptions& options() const { return options_; }
  uint64_t max_bytes() const { return max_bytes_; }

 private:
  AnalyzerOptions options_;
  uint64_t max_bytes_ = 1 << 20;
};

class Instance {
 public:
  static constexpr uint32_t kMaxConcurrency = 8;
  explicit Instance(const State& state) : state_(state) {}

  Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request.size() > state_.max_bytes()) {
      return InvalidArgumentError("text_stats: request has " + std::to_string(request.size()) +
                                  " bytes, more than max_bytes=" +
                                  std::to_string(state_.max_bytes()));
    }
    if (int64_t offset = FindInvalidUtf8(request); offset >= 0) {
      return InvalidArgumentError("text_stats: request is not valid UTF-8 at byte " +
                                  std::to_string(offset));
    }
    if (!response.Write(ToJson(Analyze(request, state_.options())))) {
      return fnhost::sdk::ResourceExhaustedError("text_stats: no response buffer");
    }
    return Status::Ok();
  }

 private:
  const State& state_;
};

}  // namespace
}  // namespace text_stats

FNHOST_MODULE(text_stats::State, text_stats::Instance, "text_stats", "1.0.0")
