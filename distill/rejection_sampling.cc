#include "distill/rejection_sampling.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "data/dataset_source.h"
#include "data/jsonl_dataset.h"
#include "data/prompt_set.h"
#include "model/device.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "rollout/rollout_worker_pool.h"
#include "rollout/sample_and_score.h"
#include "util/file.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

Result<RewardFunction> load_reward(const SampleConfig& c, const Dataset& dataset) {
  std::string text = c.reward.empty() ? default_reward_spec(dataset) : c.reward;
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, "field 'reward'"));
  if (doc.IsString()) return RewardFunction::from_file(doc.GetString());
  return RewardFunction::from_json(doc, "reward");
}

std::string dataset_name(const Dataset& ds) {
  return ds.spec.name.empty() ? std::filesystem::path(ds.spec.path).stem().string() : ds.spec.name;
}

// The row `r1 sft` trains on: the prompt as the user message (with the
// system message, as a message list), so that `r1 sft` with the same
// chat_template renders exactly the text the model was prompted with.
std::string sample_row(const Example& e, const Sample& s, const std::string& removed_by) {
  JsonWriter w;
  w.begin_object().key("prompt");
  if (e.system.empty()) {
    w.value(e.prompt);
  } else {
    w.begin_array();
    w.begin_object().key("role").value("system").key("content").value(e.system).end_object();
    w.begin_object().key("role").value("user").key("content").value(e.prompt).end_object();
    w.end_array();
  }
  w.key("completion").value(s.completion);
  w.key("id").value(e.id + "/" + std::to_string(s.sample_index)).key("prompt_id").value(e.id);
  w.key("sample_index").value(s.sample_index);
  w.key("reward").value(s.reward.total).key("components").begin_object();
  for (const auto& c : s.reward.components) w.key(c.name).value(c.score);
  w.end_object();
  w.key("num_tokens").value(static_cast<int64_t>(s.token_ids.size())).key("finish_reason").value(s.finish_reason);
  if (!removed_by.empty()) w.key("removed_by").value(removed_by);
  w.end_object();
  return w.str();
}

// Writes samples[i] for each i in `which`; removed_by[i] names the filter
// that removed it ("" for kept samples).
Status write_rows(const std::string& path, const std::vector<Example>& examples,
                  const std::vector<Sample>& samples, const std::vector<int64_t>& which,
                  const std::vector<std::string>& removed_by) {
  R1_ASSIGN_OR_RETURN(JsonlWriter writer, JsonlWriter::open(path));
  for (int64_t i : which) {
    const Sample& s = samples[i];
    R1_RETURN_IF_ERROR(writer.write(sample_row(examples[s.prompt_index], s, removed_by[i])));
  }
  return writer.commit();
}

RolloutSampling sample_sampling(const SampleConfig& c) {
  return {.num_generations = c.samples_per_prompt,
          .max_completion_length = c.max_new_tokens,
          .options = c.sampling_options(),
          .stop_token_ids = {},
          .stop_strings = c.stop,
          .seed = static_cast<uint64_t>(c.seed)};
}

}  // namespace

Result<SampleReport> run_sample(const SampleConfig& c, std::FILE* log) {
  // Everything that can be wrong with the config fails before the model loads.
  R1_ASSIGN_OR_RETURN(std::vector<FilterStage> chain,
                      make_filter_chain(c.filters.empty() ? default_filter_chain_json() : c.filters, "filters"));
  R1_ASSIGN_OR_RETURN(rapidjson::Document dataset_doc, parse_json(c.dataset, "field 'dataset'"));
  R1_ASSIGN_OR_RETURN(Dataset source, load_dataset_source(dataset_doc, "dataset"));
  if (c.max_prompts > 0 && static_cast<int64_t>(source.examples.size()) > c.max_prompts)
    source.examples.resize(static_cast<size_t>(c.max_prompts));
  R1_ASSIGN_OR_RETURN(RewardFunction reward, load_reward(c, source));
  for (const FilterStage& stage : chain)
    R1_RETURN_IF_ERROR(stage.filter->check_reward(reward.component_names()).with_context("filters"));

  R1_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::load(c.model));
  auto load_model = [&]() -> Result<Transformer> {
    R1_ASSIGN_OR_RETURN(LoadOptions load, resolve_load_options(c.compute, at::ScalarType::Undefined, false));
    return Transformer::load(c.model, load);
  };
  R1_ASSIGN_OR_RETURN(JobWorker worker, make_job_worker(c.rollout, load_model, tok, log));
  std::string template_name = c.template_name.empty() ? source.spec.template_name : c.template_name;
  R1_ASSIGN_OR_RETURN(std::optional<ChatTemplate> tmpl, resolve_chat_template(template_name, tok));
  R1_ASSIGN_OR_RETURN(PromptSet prompts, make_prompt_set(source.examples, tmpl, tok));
  R1_RETURN_IF_ERROR(check_reward_references(reward, prompts));

  const int64_t P = static_cast<int64_t>(prompts.size());
  const int64_t batches = (P + c.batch_size - 1) / c.batch_size;
  if (log)
    std::fprintf(log, "r1 sample: %lld prompts of %s x %lld samples, template %s, %lld batches\n", (long long)P,
                 dataset_name(source).c_str(), (long long)c.samples_per_prompt, template_name.c_str(),
                 (long long)batches);
  std::vector<Sample> samples;
  for (int64_t b = 0; b < batches; ++b) {
    int64_t first = b * c.batch_size, last = std::min(P, first + c.batch_size);
    std::vector<int64_t> indices;
    for (int64_t i = first; i < last; ++i) indices.push_back(i);
    Result<ScoredRollout> scored =
        sample_and_score(*worker.worker, make_rollout_request(prompts, indices, sample_sampling(c)), prompts, reward,
                         static_cast<int>(c.reward_workers));
    if (!scored.ok())
      return scored.status().with_context("prompts " + std::to_string(first) + ".." + std::to_string(last - 1));
    const RolloutResult& result = scored->result;
    double total = 0;
    size_t n = result.samples.size();
    for (Sample& s : scored->result.samples) {
      total += s.reward.total;
      samples.push_back(std::move(s));
    }
    if (log)
      std::fprintf(log, "batch %lld/%lld: %zu completions, %lld tokens at %.1f tok/s, mean reward %.3f\n",
                   (long long)(b + 1), (long long)batches, n, (long long)result.completion_tokens,
                   result.completion_tokens / std::max(scored->sample_seconds, 1e-9),
                   n == 0 ? 0.0 : total / static_cast<double>(n));
  }

  ChainResult result = apply_filter_chain(chain, samples);
  SampleReport report = summarize(samples, result, P);
  report.samples_path = c.output_dir + "/samples.jsonl";
  report.report_path = c.output_dir + "/report.json";
  R1_RETURN_IF_ERROR(make_dirs(c.output_dir));
  std::error_code ec;  // a report left by an earlier run must not describe these samples
  std::filesystem::remove(report.report_path, ec);
  if (ec) return Status::error(report.report_path + ": cannot remove the old report: " + ec.message());
  R1_RETURN_IF_ERROR(write_file_atomic(c.output_dir + "/sample_config.json", sample_config_json(c) + "\n"));
  std::vector<std::string> removed_by(samples.size());
  std::vector<int64_t> rejected;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (result.removed_by[i] < 0) continue;
    removed_by[i] = chain[result.removed_by[i]].name;
    rejected.push_back(static_cast<int64_t>(i));
  }
  R1_RETURN_IF_ERROR(write_rows(report.samples_path, source.examples, samples, result.kept, removed_by));
  if (c.save_rejected)
    R1_RETURN_IF_ERROR(write_rows(c.output_dir + "/rejected.jsonl", source.examples, samples, rejected, removed_by));
  // The report goes last: its presence marks a complete run.
  R1_RETURN_IF_ERROR(write_file_atomic(report.report_path, report.to_json() + "\n"));
  if (log) {
    std::fprintf(log, "kept %lld of %lld samples (%lld of %lld prompts covered)\n", (long long)report.kept,
                 (long long)report.generated, (long long)report.prompts_with_kept, (long long)report.prompts);
    for (const FilterCount& f : report.filters)
      std::fprintf(log, "  %-15s removed %lld of %lld\n", f.filter.c_str(), (long long)f.removed, (long long)f.input);
  }
  return report;
}

}  // namespace r1
