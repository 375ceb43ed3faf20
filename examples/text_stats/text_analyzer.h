// Counts words, sentences and the most frequent terms of a UTF-8 text, for the text_stats
// module. Pure functions; thread-safe.
//
// A word is a run of ASCII letters and digits, apostrophes inside such a run ("don't"), and
// non-ASCII characters (so "naïve" and "日本語" are words); ASCII letters are lower-cased. A
// sentence ends at '.', '!' or '?' after at least one word, or at the end of the text.

#ifndef FNHOST_EXAMPLES_TEXT_STATS_TEXT_ANALYZER_H_
#define FNHOST_EXAMPLES_TEXT_STATS_TEXT_ANALYZER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fnhost/module.h"

namespace text_stats {

struct AnalyzerOptions {
  // How many of the most frequent terms to report.
  uint32_t top = 5;
  // Reading speed for reading_time_s.
  uint32_t words_per_minute = 238;
  // Words left out of the top terms, lower case, sorted.
  std::vector<std::string> stopwords;
};

struct TextStats {
  uint64_t bytes = 0;
  uint64_t words = 0;
  uint64_t unique_words = 0;
  uint64_t sentences = 0;
  // In characters (code points), over all words.
  double average_word_length = 0;
  double reading_time_s = 0;
  // Most frequent words that are not stopwords, by count and then alphabetically.
  std::vector<std::pair<std::string, uint64_t>> top;
};

// The byte offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code
// points above U+10FFFF included), or -1 if `text` is valid.
int64_t FindInvalidUtf8(std::string_view text);

// Analyses `text`, which must be valid UTF-8.
TextStats Analyze(std::string_view text, const AnalyzerOptions& options);

// The stats as one JSON object:
// {"bytes":..,"words":..,"unique_words":..,"sentences":..,"average_word_length":..,
//  "reading_time_s":..,"top":[{"word":"..","count":..},..]}
std::string ToJson(const TextStats& stats);

// The stopwords used by default: common English function words, sorted.
std::vector<std::string> DefaultStopwords();

}  // namespace text_stats

#endif  // FNHOST_EXAMPLES_TEXT_STATS_TEXT_ANALYZER_H_
