#include "distill/rejection_sampling.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "data/jsonl_dataset.h"
#include "data/dataset_source.h"
#include "model/chat_template.h"
#include "model/generate.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "reward/batch_scorer.h"
#include "util/file.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

Result<RewardFunction> load_reward(const SampleConfig& c, const Dataset& dataset) {
  std::string text = c.reward.empty() ? default_reward_spec(dataset) : c.reward;
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, "key 'reward'"));
  if (doc.IsString()) return RewardFunction::from_file(doc.GetString());
  return RewardFunction::from_json(doc, "reward");
}

std::string dataset_name(const Dataset& ds) {
  return ds.spec.name.empty() ? std::filesystem::path(ds.spec.path).stem().string() : ds.spec.name;
}

Result<std::optional<ChatTemplate>> resolve_template(const std::string& name, const Tokenizer& tok) {
  if (name == "auto") {
    R1_ASSIGN_OR_RETURN(ChatTemplate t, detect_chat_template(tok));
    return std::optional<ChatTemplate>(t);
  }
  return spec_chat_template(name);
}

// The row `r1 sft` trains on: the prompt as the user message (with the
// system message, as a message list), so that `r1 sft` with the same
// chat_template renders exactly the text the model was prompted with.
std::string sample_row(const Example& e, const ScoredSample& s, const std::string& removed_by) {
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
  w.key("num_tokens").value(s.num_tokens).key("finish_reason").value(s.finish_reason);
  if (!removed_by.empty()) w.key("removed_by").value(removed_by);
  w.end_object();
  return w.str();
}

// Writes samples[i] for each i in `which`; removed_by[i] names the filter
// that removed it ("" for kept samples).
Status write_rows(const std::string& path, const std::vector<Example>& examples,
                  const std::vector<ScoredSample>& samples, const std::vector<int64_t>& which,
                  const std::vector<std::string>& removed_by) {
  R1_ASSIGN_OR_RETURN(JsonlWriter writer, JsonlWriter::open(path));
  for (int64_t i : which) {
    const ScoredSample& s = samples[i];
    R1_RETURN_IF_ERROR(writer.write(sample_row(examples[s.prompt_index], s, removed_by[i])));
  }
  return writer.commit();
}

struct Prompts {
  std::vector<std::vector<int64_t>> ids;
  std::vector<rapidjson::Document> references;
};

Result<Prompts> encode_prompts(const std::vector<Example>& examples, const std::optional<ChatTemplate>& tmpl,
                               const Tokenizer& tok) {
  Prompts p;
  for (const Example& e : examples) {
    R1_ASSIGN_OR_RETURN(std::string text, render_prompt(e, tmpl));
    p.ids.push_back(tok.encode(text));
    R1_ASSIGN_OR_RETURN(rapidjson::Document ref, reference_document(e));
    p.references.push_back(std::move(ref));
  }
  return p;
}

}  // namespace

Result<SampleReport> run_sample(const SampleConfig& c, std::FILE* log) {
  // Everything that can be wrong with the config fails before the model loads.
  R1_ASSIGN_OR_RETURN(std::vector<FilterStage> chain,
                      make_filter_chain(c.filters.empty() ? default_filter_chain_json() : c.filters, "filters"));
  R1_ASSIGN_OR_RETURN(rapidjson::Document dataset_doc, parse_json(c.dataset, "key 'dataset'"));
  R1_ASSIGN_OR_RETURN(Dataset source, load_dataset_source(dataset_doc, "dataset"));
  if (c.max_prompts > 0 && static_cast<int64_t>(source.examples.size()) > c.max_prompts)
    source.examples.resize(static_cast<size_t>(c.max_prompts));
  R1_ASSIGN_OR_RETURN(RewardFunction reward, load_reward(c, source));
  for (const FilterStage& stage : chain)
    R1_RETURN_IF_ERROR(stage.filter->check_reward(reward.component_names()).with_context("filters"));

  LoadOptions load;
  if (c.dtype == "float32") load.dtype = at::kFloat;
  if (c.dtype == "bfloat16") load.dtype = at::kBFloat16;
  R1_ASSIGN_OR_RETURN(Transformer model, Transformer::load(c.model, load));
  R1_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::load(c.model));
  std::string template_name = c.template_name.empty() ? source.spec.template_name : c.template_name;
  R1_ASSIGN_OR_RETURN(std::optional<ChatTemplate> tmpl, resolve_template(template_name, tok));
  R1_ASSIGN_OR_RETURN(Prompts prompts, encode_prompts(source.examples, tmpl, tok));

  GenerationOptions gen;
  gen.max_new_tokens = c.max_new_tokens;
  gen.num_samples = c.samples_per_prompt;
  gen.sampling.temperature = c.temperature;
  gen.sampling.top_p = c.top_p;
  gen.sampling.top_k = c.top_k;
  gen.stop_strings = c.stop_strings;
  if (!gen.stop_strings.empty()) gen.decode = [&tok](const std::vector<int64_t>& ids) { return tok.decode(ids); };

  const int64_t P = static_cast<int64_t>(prompts.ids.size());
  const int64_t batches = (P + c.batch_size - 1) / c.batch_size;
  if (log)
    std::fprintf(log, "r1 sample: %lld prompts of %s x %lld samples, template %s, %lld batches\n", (long long)P,
                 dataset_name(source).c_str(), (long long)c.samples_per_prompt, template_name.c_str(), (long long)batches);
  std::vector<ScoredSample> samples;
  for (int64_t b = 0; b < batches; ++b) {
    int64_t first = b * c.batch_size, last = std::min(P, first + c.batch_size);
    std::vector<std::vector<int64_t>> batch(prompts.ids.begin() + first, prompts.ids.begin() + last);
    gen.seed = static_cast<uint64_t>(c.seed + b);
    GenerationStats stats;
    Result<std::vector<Completion>> generated = generate(model, batch, gen, &stats);
    if (!generated.ok())
      return generated.status().with_context("prompts " + std::to_string(first) + ".." + std::to_string(last - 1));
    std::vector<Completion>& completions = *generated;
    std::vector<ScoredSample> scored;
    std::vector<RewardInput> inputs;
    for (const Completion& comp : completions) {
      const Example& e = source.examples[first + comp.prompt_index];
      ScoredSample s;
      s.prompt_index = first + comp.prompt_index;
      s.sample_index = comp.sample_index;
      s.prompt = e.prompt;
      // As `r1 generate`: eos and other special tokens are not in the text.
      s.completion = tok.decode(comp.token_ids, /*skip_special_tokens=*/true);
      s.num_tokens = static_cast<int64_t>(comp.token_ids.size());
      s.finish_reason = comp.finish_reason;
      inputs.push_back({s.completion, s.num_tokens, s.finish_reason, &prompts.references[s.prompt_index], e.where});
      scored.push_back(std::move(s));
    }
    R1_ASSIGN_OR_RETURN(std::vector<RewardResult> rewards, score_batch(reward, inputs, static_cast<int>(c.reward_workers)));
    double total = 0;
    for (size_t i = 0; i < scored.size(); ++i) {
      scored[i].reward = std::move(rewards[i]);
      total += scored[i].reward.total;
      samples.push_back(std::move(scored[i]));
    }
    if (log)
      std::fprintf(log, "batch %lld/%lld: %zu completions, %lld tokens at %.1f tok/s, mean reward %.3f\n",
                   (long long)(b + 1), (long long)batches, scored.size(), (long long)stats.decode_tokens,
                   stats.decode_tokens / std::max(stats.decode_seconds + stats.prefill_seconds, 1e-9),
                   scored.empty() ? 0.0 : total / static_cast<double>(scored.size()));
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
