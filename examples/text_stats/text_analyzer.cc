// Word, sentence and term counting for the text_stats module. See text_analyzer.h.
#include "examples/text_stats/text_analyzer.h"

#include <algorithm>
#include <charconv>
#include <unordered_map>

namespace text_stats {
namespace {

bool IsAsciiWordChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Length of the UTF-8 sequence that starts with `lead`, or 0 for a byte that cannot start one.
int SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

void AppendFixed(std::string* out, double value) {
  char buffer[32];
  auto [end, error] =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed, 2);
  out->append(buffer, end);
}

}  // namespace

int64_t FindInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    int length = SequenceLength(s[i]);
    if (length == 0 || i + length > text.size()) return static_cast<int64_t>(i);
    for (int j = 1; j < length; ++j) {
      if ((s[i + j] & 0xC0) != 0x80) return static_cast<int64_t>(i);
    }
    // The lead byte alone does not exclude overlong 3- and 4-byte forms, surrogates
    // (U+D800..DFFF) or code points above U+10FFFF; the second byte does.
    if ((s[i] == 0xE0 && s[i + 1] < 0xA0) || (s[i] == 0xED && s[i + 1] > 0x9F) ||
        (s[i] == 0xF0 && s[i + 1] < 0x90) || (s[i] == 0xF4 && s[i + 1] > 0x8F)) {
      return static_cast<int64_t>(i);
    }
    i += length;
  }
  return -1;
}

TextStats Analyze(std::string_view text, const AnalyzerOptions& options) {
  TextStats stats;
  stats.bytes = text.size();
  std::unordered_map<std::string, uint64_t> counts;
  uint64_t characters = 0;
  bool words_since_sentence_end = false;
  std::string word;
  size_t word_characters = 0;

  auto end_word = [&] {
    while (!word.empty() && word.back() == '\'') {  // "dogs'" counts as "dogs"
      word.pop_back();
      --word_characters;
    }
    if (word.empty()) return;
    ++stats.words;
    characters += word_characters;
    ++counts[word];
    words_since_sentence_end = true;
    word.clear();
    word_characters = 0;
  };

  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const int length = SequenceLength(c);  // the text is valid UTF-8: never 0
    if (length > 1 || IsAsciiWordChar(c)) {
      word.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
      word.append(text.substr(i + 1, length - 1));
      ++word_characters;
    } else if (c == '\'' && !word.empty()) {
      word.push_back('\'');
      ++word_characters;
    } else {
      end_word();
      if ((c == '.' || c == '!' || c == '?') && words_since_sentence_end) {
        ++stats.sentences;
        words_since_sentence_end = false;
      }
    }
    i += length;
  }
  end_word();
  if (words_since_sentence_end) ++stats.sentences;

  stats.unique_words = counts.size();
  if (stats.words > 0) {
    stats.average_word_length = static_cast<double>(characters) / stats.words;
    stats.reading_time_s = 60.0 * stats.words / options.words_per_minute;
  }
  for (auto& [term, count] : counts) {
    if (!std::binary_search(options.stopwords.begin(), options.stopwords.end(), term)) {
      stats.top.emplace_back(term, count);
    }
  }
  auto by_count = [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  const size_t top = std::min<size_t>(options.top, stats.top.size());
  std::partial_sort(stats.top.begin(), stats.top.begin() + top, stats.top.end(), by_count);
  stats.top.resize(top);
  return stats;
}

std::string ToJson(const TextStats& stats) {
  std::string out = "{\"bytes\":" + std::to_string(stats.bytes) +
                    ",\"words\":" + std::to_string(stats.words) +
                    ",\"unique_words\":" + std::to_string(stats.unique_words) +
                    ",\"sentences\":" + std::to_string(stats.sentences) +
                    ",\"average_word_length\":";
  AppendFixed(&out, stats.average_word_length);
  out += ",\"reading_time_s\":";
  AppendFixed(&out, stats.reading_time_s);
  out += ",\"top\":[";
  for (size_t i = 0; i < stats.top.size(); ++i) {
    // Words hold only letters, digits, apostrophes and valid UTF-8, so they need no escaping.
    out += (i == 0 ? "{\"word\":\"" : ",{\"word\":\"") + stats.top[i].first +
           "\",\"count\":" + std::to_string(stats.top[i].second) + "}";
  }
  out += "]}";
  return out;
}

std::vector<std::string> DefaultStopwords() {
  std::vector<std::string> words = {
      "a",     "about", "after", "all",   "also",  "an",    "and",   "any",   "are",
      "as",    "at",    "be",    "been",  "but",   "by",    "can",   "could", "did",
      "do",    "does",  "for",   "from",  "had",   "has",   "have",  "he",    "her",
      "his",   "how",   "i",     "if",    "in",    "into",  "is",    "it",    "its",
      "just",  "me",    "more",  "my",    "no",    "not",   "of",    "on",    "one",
      "or",    "other", "our",   "out",   "over",  "she",   "so",    "some",  "such",
      "than",  "that",  "the",   "their", "them",  "then",  "there", "these", "they",
      "this",  "to",    "up",    "us",    "was",   "we",    "were",  "what",  "when",
      "which", "who",   "will",  "with",  "would", "you",   "your",
  };
  std::sort(words.begin(), words.end());
  return words;
}

}  // namespace text_stats
