#include "src/cli/flags.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fnhost::cli {

absl::StatusOr<Flags> Flags::Parse(int argc, char** argv, int first,
                                   const std::vector<std::string>& known,
                                   const std::vector<std::string>& switches) {
  auto is = [](const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  Flags flags;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    size_t equals = name.find('=');
    bool has_value = equals != std::string::npos;
    if (has_value) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
    }
    if (is(switches, name)) {
      if (has_value && value != "true" && value != "false") {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      flags.values_.emplace(name, has_value ? value : "true");
      continue;
    }
    if (!is(known, name) && !is(known, name + "*")) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!has_value) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = argv[++i];
    }
    if (flags.Has(name) && !is(known, name + "*")) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " given twice"));
    }
    flags.values_.emplace(name, value);
  }
  return flags;
}

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  std::vector<std::string> all;
  auto [begin, end] = values_.equal_range(name);
  for (auto it = begin; it != end; ++it) all.push_back(it->second);
  return all;
}

absl::StatusOr<int64_t> Flags::GetInt(const std::string& name, int64_t fallback) const {
  if (!Has(name)) return fallback;
  int64_t value;
  if (!absl::SimpleAtoi(Get(name), &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, "=", Get(name), " is not an integer"));
  }
  return value;
}

absl::StatusOr<absl::Duration> Flags::GetDuration(const std::string& name,
                                                  absl::Duration fallback) const {
  if (!Has(name)) return fallback;
  absl::Duration value;
  if (!absl::ParseDuration(Get(name), &value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, "=", Get(name), " is not a duration (e.g. 500ms, 10s, 5m)"));
  }
  return value;
}

bool HelpRequested(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) return false;
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return true;
  }
  return false;
}

int ShowHelp(const char* usage) {
  std::fputs(usage, stdout);
  return 0;
}

}  // namespace fnhost::cli
