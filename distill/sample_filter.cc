#include "distill/sample_filter.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <set>
#include <utility>

#include "distill/decontamination.h"
#include "reward/checker_params.h"
#include "reward/format_rewards.h"
#include "reward/language_consistency.h"
#include "reward/shaping_rewards.h"

namespace r1 {

namespace {

// A filter that judges each sample on its own.
class PerSampleFilter : public SampleFilter {
 public:
  using Predicate = std::function<bool(const Sample&)>;
  explicit PerSampleFilter(Predicate keep) : keep_(std::move(keep)) {}
  FilterOutcome apply(const std::vector<const Sample*>& samples) const override {
    FilterOutcome out;
    for (const Sample* s : samples) out.keep.push_back(keep_(*s) ? 1 : 0);
    return out;
  }

 private:
  Predicate keep_;
};

using Built = Result<std::unique_ptr<SampleFilter>>;

std::unique_ptr<SampleFilter> per_sample(PerSampleFilter::Predicate keep) {
  return std::make_unique<PerSampleFilter>(std::move(keep));
}

// correct: the reward total (or one component's score) reaches min_score.
class CorrectFilter : public SampleFilter {
 public:
  CorrectFilter(double min_score, std::string component) : min_score_(min_score), component_(std::move(component)) {}
  FilterOutcome apply(const std::vector<const Sample*>& samples) const override {
    FilterOutcome out;
    for (const Sample* s : samples) out.keep.push_back(score(*s) >= min_score_ ? 1 : 0);
    return out;
  }
  Status check_reward(const std::vector<std::string>& components) const override {
    if (component_.empty() || std::find(components.begin(), components.end(), component_) != components.end())
      return Status();
    std::string known;
    for (const auto& c : components) known += (known.empty() ? "" : ", ") + c;
    return Status::error("correct: component '" + component_ + "' is not in the reward spec (components: " + known +
                         ")");
  }

 private:
  double score(const Sample& s) const {
    if (component_.empty()) return s.reward.total;
    for (const auto& c : s.reward.components)
      if (c.name == component_) return c.score;
    return -std::numeric_limits<double>::infinity();  // excluded by check_reward
  }
  double min_score_;
  std::string component_;
};

Built make_correct(CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(double min_score, p.number("min_score", 1.0));
  R1_ASSIGN_OR_RETURN(std::string component, p.string("component", ""));
  return std::unique_ptr<SampleFilter>(std::make_unique<CorrectFilter>(min_score, component));
}

// format: <think>...</think> then <answer>...</answer>. Leading whitespace is
// ignored: the R1-Zero prompt ends in "Assistant:", so completions start with
// a space.
Built make_format(CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(bool strict, p.boolean("strict", false));
  return per_sample([=](const Sample& s) {
    size_t start = s.completion.find_first_not_of(" \t\r\n");
    std::string_view text =
        start == std::string::npos ? std::string_view() : std::string_view(s.completion).substr(start);
    return (strict ? format_reward_strict(text) : format_reward_lenient(text)) == 1.0;
  });
}

Built make_not_truncated(CheckerParams&) {
  return per_sample([](const Sample& s) { return s.finish_reason != "length"; });
}

// length: min_tokens <= num_tokens <= max_tokens (0: no upper bound).
Built make_length(CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(int64_t min_tokens, p.integer("min_tokens", 0));
  R1_ASSIGN_OR_RETURN(int64_t max_tokens, p.integer("max_tokens", 0));
  if (min_tokens < 0 || max_tokens < 0) return p.error("min_tokens and max_tokens must be >= 0");
  if (max_tokens > 0 && max_tokens < min_tokens) return p.error("max_tokens must be >= min_tokens");
  return per_sample([=](const Sample& s) {
    return std::ssize(s.token_ids) >= min_tokens && (max_tokens == 0 || std::ssize(s.token_ids) <= max_tokens);
  });
}

// language: the share of the completion's words not in the target language's
// script(s) is at most max_mixing. The R1 tags are not words of the text; a
// completion without words (only digits and symbols) mixes nothing.
std::string without_tags(std::string_view text) {
  static const std::string_view kTags[] = {"<think>", "</think>", "<answer>", "</answer>"};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    size_t matched = 0;
    for (std::string_view tag : kTags)
      if (text.substr(i, tag.size()) == tag) matched = tag.size();
    if (matched) {
      out += ' ';
      i += matched;
    } else {
      out += text[i++];
    }
  }
  return out;
}

Built make_language(CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(std::string language, p.string("language", "en"));
  R1_ASSIGN_OR_RETURN(double max_mixing, p.number("max_mixing", 0.1));
  if (max_mixing < 0 || max_mixing > 1) return p.error("max_mixing must be in [0, 1]");
  Result<std::vector<std::string>> scripts = language_scripts(language);
  if (!scripts.ok()) return scripts.status().with_context(p.where());
  return per_sample([=, scripts = *scripts](const Sample& s) {
    LanguageShare share = language_share(without_tags(s.completion), scripts);
    double mixing = share.total_words > 0 ? 1.0 - share.share : 0.0;
    return mixing <= max_mixing;
  });
}

// repetition: 1 - distinct/total word n-grams is at most max_ratio.
Built make_repetition(CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(int64_t n, p.integer("ngram", 4));
  R1_ASSIGN_OR_RETURN(double max_ratio, p.number("max_ratio", 0.5));
  if (n < 1) return p.error("ngram must be >= 1");
  if (max_ratio < 0 || max_ratio > 1) return p.error("max_ratio must be in [0, 1]");
  return per_sample([=](const Sample& s) { return ngram_repetition_ratio(s.completion, n) <= max_ratio; });
}

// dedup: within each prompt, a completion equal (up to whitespace) to an
// earlier kept one is removed.
class DedupFilter : public SampleFilter {
 public:
  FilterOutcome apply(const std::vector<const Sample*>& samples) const override {
    FilterOutcome out;
    std::set<std::pair<int64_t, std::string>> seen;
    for (const Sample* s : samples)
      out.keep.push_back(seen.emplace(s->prompt_index, collapse_whitespace(s->completion)).second ? 1 : 0);
    return out;
  }
};

Built make_dedup(CheckerParams&) { return std::unique_ptr<SampleFilter>(std::make_unique<DedupFilter>()); }

// max_per_prompt: the first n survivors of each prompt (by sample index).
class MaxPerPromptFilter : public SampleFilter {
 public:
  explicit MaxPerPromptFilter(int64_t n) : n_(n) {}
  FilterOutcome apply(const std::vector<const Sample*>& samples) const override {
    FilterOutcome out;
    std::map<int64_t, int64_t> taken;
    for (const Sample* s : samples) out.keep.push_back(taken[s->prompt_index]++ < n_ ? 1 : 0);
    return out;
  }

 private:
  int64_t n_;
};

Built make_max_per_prompt(CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(int64_t n, p.required_integer("n"));
  if (n < 1) return p.error("n must be >= 1");
  return std::unique_ptr<SampleFilter>(std::make_unique<MaxPerPromptFilter>(n));
}

// decontaminate: the prompt or the completion shares a word n-gram with an
// evaluation set's prompts. Details count removals per set matched.
class DecontaminateFilter : public SampleFilter {
 public:
  explicit DecontaminateFilter(DecontaminationIndex index) : index_(std::move(index)) {}
  FilterOutcome apply(const std::vector<const Sample*>& samples) const override {
    FilterOutcome out;
    for (const Sample* s : samples) {
      uint64_t mask = index_.index.match(s->prompt) | index_.index.match(s->completion);
      out.keep.push_back(mask == 0 ? 1 : 0);
      for (const std::string& name : index_.names(mask)) ++out.details[name];
    }
    return out;
  }

 private:
  DecontaminationIndex index_;
};

Built make_decontaminate(CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(int64_t n, p.integer("ngram", 10));
  if (n < 1) return p.error("ngram must be >= 1");
  rapidjson::Document defaults;
  const JsonValue* list = p.raw("datasets");
  if (!list) {
    defaults.SetArray();
    for (const std::string& name : default_decontamination_sets())
      defaults.PushBack(rapidjson::Value(name.c_str(), defaults.GetAllocator()), defaults.GetAllocator());
    list = &defaults;
  }
  if (!list->IsArray() || list->Empty())
    return p.error("'datasets' must be a non-empty list of dataset names, .jsonl paths or spec objects");
  R1_RETURN_IF_ERROR(p.check_no_unknown());  // before the sets are read
  std::vector<EvalSet> sets;
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    R1_ASSIGN_OR_RETURN(EvalSet set, load_eval_set((*list)[i], p.where() + ": datasets[" + std::to_string(i) + "]"));
    sets.push_back(std::move(set));
  }
  Result<DecontaminationIndex> index = build_decontamination_index(sets, n);
  if (!index.ok()) return index.status().with_context(p.where());
  return std::unique_ptr<SampleFilter>(std::make_unique<DecontaminateFilter>(std::move(*index)));
}

using Factory = Built (*)(CheckerParams&);

const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> table = {
      {"correct", make_correct},
      {"format", make_format},
      {"not_truncated", make_not_truncated},
      {"length", make_length},
      {"language", make_language},
      {"repetition", make_repetition},
      {"dedup", make_dedup},
      {"decontaminate", make_decontaminate},
      {"max_per_prompt", make_max_per_prompt},
  };
  return table;
}

Result<Factory> find_factory(const JsonValue& entry, const std::string& where) {
  if (!entry.IsObject()) return Status::error(where + " must be an object {\"filter\": name, ...params}");
  R1_ASSIGN_OR_RETURN(std::string name, json_string(entry, "filter", where));
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : sample_filter_names()) known += (known.empty() ? "" : ", ") + n;
    return Status::error(where + ": unknown filter '" + name + "' (known: " + known + ")");
  }
  return it->second;
}

}  // namespace

Status check_sample_filter_entry(const JsonValue& entry, const std::string& where) {
  return find_factory(entry, where).status();
}

Result<std::unique_ptr<SampleFilter>> make_sample_filter(const JsonValue& entry, const std::string& where) {
  R1_ASSIGN_OR_RETURN(Factory factory, find_factory(entry, where));
  std::string name = entry["filter"].GetString();
  CheckerParams params(&entry, where + " (" + name + ")");
  params.raw("filter");
  R1_ASSIGN_OR_RETURN(std::unique_ptr<SampleFilter> filter, factory(params));
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  return filter;
}

std::vector<std::string> sample_filter_names() {
  std::vector<std::string> names;
  for (const auto& [name, f] : registry()) names.push_back(name);
  return names;
}

const char* default_filter_chain_json() {
  return R"([{"filter": "not_truncated"}, {"filter": "correct"}, {"filter": "format"}, {"filter": "language"},)"
         R"( {"filter": "repetition"}, {"filter": "dedup"}, {"filter": "decontaminate"}])";
}

std::string collapse_whitespace(const std::string& text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

double ngram_repetition_ratio(const std::string& text, int64_t n) {
  return -repetition_penalty(text, n, -1.0);
}

}  // namespace r1
