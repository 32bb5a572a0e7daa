#include "reward/language_consistency.h"

#include <algorithm>

#include "reward/pcre_regex.h"

namespace r1 {

namespace {

struct Script {
  const char* name;
  bool per_character;  // written without spaces between words
};

const std::vector<Script>& scripts() {
  static const std::vector<Script> kScripts = {
      {"Han", true},      {"Hiragana", true}, {"Katakana", true}, {"Hangul", false},
      {"Latin", false},   {"Cyrillic", false}, {"Greek", false},   {"Arabic", false},
      {"Hebrew", false},  {"Devanagari", false}, {"Thai", false},
  };
  return kScripts;
}

// One alternative per script, in scripts() order, then "Other": letters of
// none of the listed scripts.
const PcreRegex& word_regex() {
  static const PcreRegex kRegex = [] {
    std::string pattern, none_of;
    for (const Script& s : scripts()) {
      std::string p = std::string("\\p{") + s.name + "}";
      if (!pattern.empty()) pattern += "|";
      pattern += s.per_character ? "(" + p + ")" : "(" + p + "[" + p + "\\p{M}]*)";
      none_of += p;
    }
    pattern += "|((?:[^\\P{L}" + none_of + "]\\p{M}*)+)";
    return PcreRegex::must_compile(pattern);
  }();
  return kRegex;
}

class LanguageChecker : public RewardChecker {
 public:
  LanguageChecker(std::string language, std::vector<std::string> target)
      : language_(std::move(language)), target_(std::move(target)) {}
  Result<RewardScore> score(const RewardInput& input) const override {
    std::optional<std::string_view> cot = chain_of_thought(input.completion);
    JsonWriter w;
    w.begin_object().key("language").value(language_).key("has_think").value(cot.has_value());
    if (!cot) return RewardScore{0.0, w.end_object().str()};
    LanguageShare share = language_share(*cot, target_);
    w.key("target_words").value(share.target_words).key("total_words").value(share.total_words).key("words");
    w.begin_object();
    for (const auto& [name, n] : share.words) w.key(name).value(n);
    w.end_object().end_object();
    return RewardScore{share.share, w.str()};
  }

 private:
  std::string language_;
  std::vector<std::string> target_;
};

}  // namespace

std::map<std::string, int64_t> count_words_by_script(std::string_view text) {
  std::map<std::string, int64_t> counts;
  Result<std::vector<RegexMatch>> all = word_regex().find_all(text);
  if (!all.ok()) return counts;
  for (const RegexMatch& m : *all) {
    for (size_t g = 1; g < m.groups.size(); ++g) {
      if (!m.has(g)) continue;
      counts[g <= scripts().size() ? scripts()[g - 1].name : "Other"] += 1;
      break;
    }
  }
  return counts;
}

Result<std::vector<std::string>> language_scripts(const std::string& language) {
  static const std::map<std::string, std::vector<std::string>> kLanguages = {
      {"en", {"Latin"}},    {"fr", {"Latin"}},      {"de", {"Latin"}},  {"es", {"Latin"}},
      {"it", {"Latin"}},    {"pt", {"Latin"}},      {"nl", {"Latin"}},  {"vi", {"Latin"}},
      {"zh", {"Han"}},      {"ja", {"Han", "Hiragana", "Katakana"}},    {"ko", {"Hangul"}},
      {"ru", {"Cyrillic"}}, {"uk", {"Cyrillic"}},   {"el", {"Greek"}},  {"ar", {"Arabic"}},
      {"he", {"Hebrew"}},   {"hi", {"Devanagari"}}, {"th", {"Thai"}},
  };
  auto it = kLanguages.find(language);
  if (it != kLanguages.end()) return it->second;
  std::string known;
  for (const auto& [code, _] : kLanguages) known += (known.empty() ? "" : ", ") + code;
  return Status::error("unknown language '" + language + "' (known: " + known + ")");
}

std::optional<std::string_view> chain_of_thought(std::string_view completion) {
  constexpr std::string_view kOpen = "<think>", kClose = "</think>";
  size_t open = completion.find(kOpen);
  size_t start = open == std::string_view::npos ? 0 : open + kOpen.size();
  size_t close = completion.find(kClose, start);
  if (open == std::string_view::npos && close == std::string_view::npos) return std::nullopt;
  return completion.substr(start, close == std::string_view::npos ? std::string_view::npos : close - start);
}

LanguageShare language_share(std::string_view text, const std::vector<std::string>& target_scripts) {
  LanguageShare out;
  out.words = count_words_by_script(text);
  for (const auto& [name, n] : out.words) {
    out.total_words += n;
    if (std::find(target_scripts.begin(), target_scripts.end(), name) != target_scripts.end()) out.target_words += n;
  }
  if (out.total_words > 0) out.share = static_cast<double>(out.target_words) / static_cast<double>(out.total_words);
  return out;
}

Result<std::unique_ptr<RewardChecker>> make_language_checker(CheckerParams& params) {
  R1_ASSIGN_OR_RETURN(std::string language, params.string("language", "en"));
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  Result<std::vector<std::string>> target = language_scripts(language);
  if (!target.ok()) return params.error("param 'language': " + target.status().message());
  return std::unique_ptr<RewardChecker>(new LanguageChecker(language, *target));
}

}  // namespace r1
