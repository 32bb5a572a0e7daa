#include "distill/filter_chain.h"

#include "util/json.h"

namespace r1 {

Result<std::vector<FilterStage>> make_filter_chain(const std::string& filters_json, const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(filters_json, where));
  if (!doc.IsArray()) return Status::error(where + " must be a list of {\"filter\": name, ...}");
  std::vector<FilterStage> chain;
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    FilterStage stage;
    R1_ASSIGN_OR_RETURN(stage.filter, make_sample_filter(doc[i], where + "[" + std::to_string(i) + "]"));
    stage.name = doc[i]["filter"].GetString();
    chain.push_back(std::move(stage));
  }
  return chain;
}

ChainResult apply_filter_chain(const std::vector<FilterStage>& chain, const std::vector<Sample>& samples) {
  ChainResult out;
  out.removed_by.assign(samples.size(), -1);
  std::vector<int64_t> alive(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) alive[i] = static_cast<int64_t>(i);
  for (size_t s = 0; s < chain.size(); ++s) {
    std::vector<const Sample*> input;
    for (int64_t i : alive) input.push_back(&samples[i]);
    FilterOutcome outcome = chain[s].filter->apply(input);
    FilterCount count{chain[s].name, static_cast<int64_t>(alive.size()), 0, std::move(outcome.details)};
    std::vector<int64_t> next;
    for (size_t j = 0; j < alive.size(); ++j) {
      if (outcome.keep.at(j)) {
        next.push_back(alive[j]);
      } else {
        out.removed_by[alive[j]] = static_cast<int>(s);
        ++count.removed;
      }
    }
    out.counts.push_back(std::move(count));
    alive = std::move(next);
  }
  out.kept = std::move(alive);
  return out;
}

SampleReport summarize(const std::vector<Sample>& samples, const ChainResult& chain, int64_t prompts) {
  SampleReport r;
  r.prompts = prompts;
  r.generated = static_cast<int64_t>(samples.size());
  r.kept = static_cast<int64_t>(chain.kept.size());
  r.filters = chain.counts;
  std::vector<int64_t> per_prompt(static_cast<size_t>(prompts), 0);
  double tokens = 0, reward = 0;
  for (const Sample& s : samples) {
    tokens += static_cast<double>(s.token_ids.size());
    reward += s.reward.total;
    if (s.finish_reason == "length") ++r.truncated;
  }
  double kept_tokens = 0, kept_reward = 0;
  for (int64_t i : chain.kept) {
    kept_tokens += static_cast<double>(samples[i].token_ids.size());
    kept_reward += samples[i].reward.total;
    ++per_prompt.at(static_cast<size_t>(samples[i].prompt_index));
  }
  for (int64_t n : per_prompt) {
    ++r.kept_per_prompt[n];
    if (n > 0) ++r.prompts_with_kept;
  }
  if (r.generated > 0) {
    r.mean_tokens_generated = tokens / static_cast<double>(r.generated);
    r.mean_reward_generated = reward / static_cast<double>(r.generated);
  }
  if (r.kept > 0) {
    r.mean_tokens_kept = kept_tokens / static_cast<double>(r.kept);
    r.mean_reward_kept = kept_reward / static_cast<double>(r.kept);
  }
  return r;
}

std::string SampleReport::to_json() const {
  JsonWriter w;
  w.begin_object();
  w.key("prompts").value(prompts).key("generated").value(generated).key("kept").value(kept);
  w.key("filters").begin_array();
  for (const FilterCount& f : filters) {
    w.begin_object().key("filter").value(f.filter).key("input").value(f.input).key("removed").value(f.removed);
    w.key("details").begin_object();
    for (const auto& [k, v] : f.details) w.key(k).value(v);
    w.end_object().end_object();
  }
  w.end_array();
  w.key("coverage").begin_object();
  w.key("prompts_with_kept").value(prompts_with_kept);
  w.key("fraction").value(prompts > 0 ? static_cast<double>(prompts_with_kept) / static_cast<double>(prompts) : 0.0);
  w.key("kept_per_prompt").begin_object();
  for (const auto& [n, count] : kept_per_prompt) w.key(std::to_string(n)).value(count);
  w.end_object().end_object();
  w.key("truncated").value(truncated);
  w.key("mean_completion_tokens").begin_object();
  w.key("generated").value(mean_tokens_generated).key("kept").value(mean_tokens_kept).end_object();
  w.key("mean_reward").begin_object();
  w.key("generated").value(mean_reward_generated).key("kept").value(mean_reward_kept).end_object();
  w.key("samples").value(samples_path).key("report").value(report_path);
  w.end_object();
  return w.str();
}

}  // namespace r1
