#include "pipelines/stages.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "data/data_mix.h"
#include "data/dataset_source.h"
#include "distill/rejection_sampling.h"
#include "distill/sample_config.h"
#include "eval/eval_config.h"
#include "eval/eval_dataset.h"
#include "eval/eval_runner.h"
#include "grpo/rl_config.h"
#include "grpo/trainer.h"
#include "model/device.h"
#include "pipelines/pretrain_toy.h"
#include "reward/reward_config.h"
#include "reward/reward_trainer.h"
#include "sft/sft_config.h"
#include "sft/sft_trainer.h"
#include "train/train_state.h"
#include "util/json.h"
#include "util/registry.h"
#include "util/text_table.h"

namespace r1 {

namespace {

namespace fs = std::filesystem;

Result<SFTConfig> parse_sft_stage(const std::string& type, const rapidjson::Value& config, const std::string& where) {
  R1_ASSIGN_OR_RETURN(SFTConfig c, parse_sft_config(config, where));
  // A distill stage is SFT that learns from a teacher's logits; plain SFT on
  // a teacher's samples is an sft stage.
  if (type == "distill" && (c.distill_alpha <= 0 || c.teacher_model_name_or_path.empty()))
    return Status::error(where + ": a distill stage needs 'teacher_model_name_or_path' and 'distill_alpha' > 0 "
                                 "(for plain SFT on a teacher's samples use type sft)");
  return c;
}

// An on-policy-distill stage is rl with a teacher: the student samples and
// learns the teacher's distributions on its samples.
Result<RLConfig> parse_rl_stage(const std::string& type, const rapidjson::Value& config, const std::string& where) {
  R1_ASSIGN_OR_RETURN(RLConfig c, parse_rl_config(json_to_string(config), where));
  if (type == "on-policy-distill" && c.grpo.teacher_model_name_or_path.empty())
    return Status::error(where + ": an on-policy-distill stage needs 'teacher_model_name_or_path'");
  return c;
}

Status need_model_folder(const std::string& dir, const std::string& where, const std::string& key) {
  if (fs::exists(fs::path(dir) / "config.json")) return Status();
  return Status::error(where + "." + key + ": '" + dir + "' is not a model folder (no config.json)");
}

Status need_file(const std::string& path, const std::string& where, const std::string& key) {
  if (fs::is_regular_file(path)) return Status();
  return Status::error(where + "." + key + ": '" + path + "': no such file");
}

Status check_dataset(const std::string& dataset_json, const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(dataset_json, where + ".dataset"));
  return load_dataset_source(doc, where + ".dataset").status();
}

// The first and the last object of a metrics.jsonl that hold `key`.
struct MetricsEnds {
  rapidjson::Document first, last;
  bool found = false;
};

MetricsEnds metrics_ends(const std::string& path, const char* key) {
  MetricsEnds ends;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document doc;
    doc.Parse(line.c_str(), line.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember(key)) continue;
    if (!ends.found) ends.first.CopyFrom(doc, ends.first.GetAllocator());
    ends.last = std::move(doc);
    ends.found = true;
  }
  return ends;
}

void copy_number(JsonWriter& w, const rapidjson::Value& from, const char* key, const char* as) {
  if (from.IsObject() && from.HasMember(key) && from[key].IsNumber()) w.key(as).value(from[key].GetDouble());
}

// Steps and the loss of a training stage, read back from its metrics.jsonl
// so a stage resumed at its very end reports the same as a straight run.
void training_metrics(JsonWriter& w, const std::string& output_dir) {
  MetricsEnds loss = metrics_ends(output_dir + "/metrics.jsonl", "loss");
  if (loss.found) {
    copy_number(w, loss.last, "step", "steps");
    copy_number(w, loss.last, "loss", "loss");
    copy_number(w, loss.last, "kl", "kl");
  }
  MetricsEnds eval = metrics_ends(output_dir + "/metrics.jsonl", "eval_loss");
  if (eval.found) copy_number(w, eval.last, "eval_loss", "eval_loss");
}

Result<std::string> run_sft_stage(const std::string& type, const rapidjson::Value& config, const std::string& where,
                                  std::FILE* log) {
  R1_ASSIGN_OR_RETURN(SFTConfig c, parse_sft_stage(type, config, where));
  R1_ASSIGN_OR_RETURN(std::string last, find_last_checkpoint(c.output_dir));
  R1_RETURN_IF_ERROR(run_sft(c, !last.empty(), log).status());
  JsonWriter w;
  w.begin_object();
  training_metrics(w, c.output_dir);
  w.end_object();
  return w.str();
}

Result<std::string> run_rm_stage(const rapidjson::Value& config, const std::string& where, std::FILE* log) {
  R1_ASSIGN_OR_RETURN(RewardConfig c, reward_config_fields().parse(config, where));
  R1_ASSIGN_OR_RETURN(std::string last, find_last_checkpoint(c.output_dir));
  R1_ASSIGN_OR_RETURN(TrainerLoopResult r, run_reward_training(c, !last.empty(), log));
  JsonWriter w;
  w.begin_object();
  training_metrics(w, c.output_dir);
  for (const auto& [name, value] : r.eval)
    if (name == "eval_accuracy" || name == "eval_margin") w.key(name).value(value);
  w.end_object();
  return w.str();
}

Result<std::string> run_pretrain_stage(const rapidjson::Value& config, const std::string& where, std::FILE* log) {
  R1_ASSIGN_OR_RETURN(PretrainToyConfig c, parse_pretrain_toy_config(config, where));
  R1_ASSIGN_OR_RETURN(PretrainToyResult r, run_pretrain_toy(c, log));
  JsonWriter w;
  w.begin_object().key("corpus_texts").value(r.corpus_texts).key("parameters").value(r.parameters);
  w.key("vocab_size").value(r.vocab_size);
  training_metrics(w, c.output_dir);
  w.end_object();
  return w.str();
}

Result<std::string> run_rl_stage(const std::string& type, const rapidjson::Value& config, const std::string& where,
                                 std::FILE* log) {
  R1_ASSIGN_OR_RETURN(RLConfig c, parse_rl_stage(type, config, where));
  // With no checkpoint, resume starts from the beginning (and clears what a
  // run killed before its first checkpoint left in rollouts.db).
  R1_RETURN_IF_ERROR(run_rl(c, /*resume=*/true, log).status());
  MetricsEnds ends = metrics_ends(c.output_dir + "/metrics.jsonl", "reward");
  JsonWriter w;
  w.begin_object();
  if (ends.found) {
    copy_number(w, ends.last, "step", "steps");
    copy_number(w, ends.first, "reward", "reward_first");
    copy_number(w, ends.last, "reward", "reward");
    copy_number(w, ends.first, "rewards/accuracy/mean", "accuracy_first");
    copy_number(w, ends.last, "rewards/accuracy/mean", "accuracy");
    copy_number(w, ends.last, "completions/mean_length", "mean_length");
  }
  w.end_object();
  return w.str();
}

Result<std::string> run_sample_stage(const rapidjson::Value& config, const std::string& where, std::FILE* log) {
  R1_ASSIGN_OR_RETURN(SampleConfig c, parse_sample_config(config, where));
  R1_ASSIGN_OR_RETURN(SampleReport r, run_sample(c, log));
  // Later stages train on the samples; an empty file would fail there, less clearly.
  if (r.kept == 0)
    return Status::error(where + ": the filters kept none of the " + std::to_string(r.generated) +
                         " samples (see " + r.report_path + ")");
  JsonWriter w;
  w.begin_object().key("prompts").value(r.prompts).key("generated").value(r.generated).key("kept").value(r.kept);
  w.key("kept_fraction").value(r.generated > 0 ? static_cast<double>(r.kept) / r.generated : 0.0);
  w.key("prompts_with_kept").value(r.prompts_with_kept);
  w.key("mean_reward").value(r.mean_reward_generated).end_object();
  return w.str();
}

Result<std::string> run_eval_stage(const rapidjson::Value& config, const std::string& where, std::FILE* log) {
  R1_ASSIGN_OR_RETURN(EvalConfig c, parse_eval_config(config, where));
  R1_ASSIGN_OR_RETURN(EvalSummary s, run_eval(c, log));
  JsonWriter w;
  w.begin_object().key("dataset").value(s.dataset).key("examples").value(s.metrics.examples);
  w.key("samples").value(s.metrics.k).key("pass@1").value(s.metrics.pass_at_1).key("pass@k").value(s.metrics.pass_at_k);
  if (s.metrics.maj_at_k) w.key("maj@k").value(*s.metrics.maj_at_k);
  w.key("mean_completion_tokens").value(s.mean_completion_tokens);
  w.key("truncated_fraction").value(s.truncated_fraction).key("reward_mean").value(s.reward_mean);
  // Each reward component's mean (a reward model's mean score, say), beside pass@1.
  w.key("components").begin_object();
  for (const auto& [name, mean] : s.component_means) w.key(name).value(mean);
  w.end_object().end_object();
  return w.str();
}

std::string string_at(const rapidjson::Value& config, const char* key) {
  return config.HasMember(key) && config[key].IsString() ? config[key].GetString() : "";
}

// What the runner asks of one stage before and while running it.
struct StageInputs {
  const rapidjson::Value& config;
  const std::string& where;
  const std::set<std::string>& from_stages;

  bool external(const char* key) const { return !from_stages.count(key) && !string_at(config, key).empty(); }
  Status model(const char* key) const {
    return external(key) ? need_model_folder(string_at(config, key), where, key) : Status();
  }
  Status dataset(const std::string& dataset_json) const {
    return from_stages.count("dataset") ? Status() : check_dataset(dataset_json, where);
  }
  // A device that is not there fails before the first stage runs.
  Status device(const ComputeOptions& compute) const {
    return resolve_device(compute.device).status().with_context(where);
  }
};

Status pretrain_inputs(const StageInputs& in) {
  R1_ASSIGN_OR_RETURN(PretrainToyConfig c, parse_pretrain_toy_config(in.config, in.where));
  R1_RETURN_IF_ERROR(in.device(c.compute));
  // Generating the corpus is cheap and the only way to know the task's
  // ranges hold enough distinct problems.
  return generate_tasks(*c.corpus).status().with_context(in.where + ".corpus");
}

Status sft_inputs(const std::string& type, const StageInputs& in) {
  R1_ASSIGN_OR_RETURN(SFTConfig c, parse_sft_stage(type, in.config, in.where));
  R1_RETURN_IF_ERROR(in.device(c.compute));
  R1_RETURN_IF_ERROR(in.model("model_name_or_path"));
  if (c.distill_alpha > 0) R1_RETURN_IF_ERROR(in.model("teacher_model_name_or_path"));
  for (const char* key : {"train_file", "eval_file"})
    if (in.external(key)) R1_RETURN_IF_ERROR(need_file(string_at(in.config, key), in.where, key));
  return Status();
}

Status rm_inputs(const StageInputs& in) {
  R1_ASSIGN_OR_RETURN(RewardConfig c, reward_config_fields().parse(in.config, in.where));
  R1_RETURN_IF_ERROR(in.device(c.compute));
  R1_RETURN_IF_ERROR(in.model("model_name_or_path"));
  for (const char* key : {"train_file", "eval_file"})
    if (in.external(key)) R1_RETURN_IF_ERROR(need_file(string_at(in.config, key), in.where, key));
  return Status();
}

Status rl_inputs(const std::string& type, const StageInputs& in) {
  R1_ASSIGN_OR_RETURN(RLConfig c, parse_rl_stage(type, in.config, in.where));
  R1_RETURN_IF_ERROR(in.device(c.grpo.compute));
  R1_RETURN_IF_ERROR(in.model("model_name_or_path"));
  if (!c.grpo.teacher_model_name_or_path.empty()) R1_RETURN_IF_ERROR(in.model("teacher_model_name_or_path"));
  return in.dataset(c.dataset);
}

Status sample_inputs(const StageInputs& in) {
  R1_ASSIGN_OR_RETURN(SampleConfig c, parse_sample_config(in.config, in.where));
  R1_RETURN_IF_ERROR(in.device(c.compute));
  R1_RETURN_IF_ERROR(in.model("model"));
  return in.dataset(c.dataset);
}

Status eval_inputs(const StageInputs& in) {
  R1_ASSIGN_OR_RETURN(EvalConfig c, parse_eval_config(in.config, in.where));
  R1_RETURN_IF_ERROR(in.device(c.compute));
  R1_RETURN_IF_ERROR(in.model("model"));
  if (in.from_stages.count("dataset")) return Status();
  return load_eval_dataset(c).status().with_context(in.where + ".dataset");
}

Status data_inputs(const StageInputs& in) {
  R1_ASSIGN_OR_RETURN(DataMixConfig c, data_mix_config_fields().parse(in.config, in.where));
  return check_data_mix_inputs(c, !in.from_stages.count("parts")).with_context(in.where);
}

Result<std::string> run_data_stage(const JsonValue& config, const std::string& where, std::FILE* log) {
  R1_ASSIGN_OR_RETURN(DataMixConfig c, data_mix_config_fields().parse(config, where));
  Result<DataMixSummary> s = run_data_mix(c);
  if (!s.ok()) return s.status().with_context(where);
  std::fprintf(log, "%s: %lld rows -> %s\n", where.c_str(), static_cast<long long>(s->rows), s->file.c_str());
  JsonWriter w;
  w.begin_object().key("rows").value(s->rows).key("part_rows").array(s->part_rows).end_object();
  return w.str();
}

// What a stage type does: its config's parser, its input checks, its run,
// and its keys for --help-config.
struct StageKind {
  std::function<Status(const rapidjson::Value& config, const std::string& where)> check_config;
  std::function<Status(const StageInputs& inputs)> check_inputs;
  std::function<Result<std::string>(const rapidjson::Value& config, const std::string& where, std::FILE* log)> run;
  std::function<void(std::ostream& out)> print_keys;
};

// One entry per stage type: the one place a type name is looked up.
const Registry<StageKind>& stage_kinds() {
  // Types that share a job and tell it their name (sft/distill, rl/on-policy-distill).
  auto named_kind = [](const char* type, auto parse, auto inputs, auto run, const auto& fields) {
    return StageKind{
        [type, parse](const JsonValue& c, const std::string& w) { return parse(type, c, w).status(); },
        [type, inputs](const StageInputs& in) { return inputs(type, in); },
        [type, run](const JsonValue& c, const std::string& w, std::FILE* log) { return run(type, c, w, log); },
        [&fields](std::ostream& out) { fields.print_help(out); }};
  };
  auto sft_kind = [&](const char* type) {
    return named_kind(type, parse_sft_stage, sft_inputs, run_sft_stage, sft_config_fields());
  };
  auto rl_kind = [&](const char* type) {
    return named_kind(type, parse_rl_stage, rl_inputs, run_rl_stage, rl_config_fields());
  };
  static const Registry<StageKind> kinds = {
      {"pretrain-toy",
       {[](const JsonValue& c, const std::string& w) { return parse_pretrain_toy_config(c, w).status(); },
        pretrain_inputs, run_pretrain_stage, [](std::ostream& out) { pretrain_toy_config_fields().print_help(out); }}},
      {"sft", sft_kind("sft")},
      {"distill", sft_kind("distill")},
      {"rm",
       {[](const JsonValue& c, const std::string& w) { return reward_config_fields().parse(c, w).status(); },
        rm_inputs, run_rm_stage, [](std::ostream& out) { reward_config_fields().print_help(out); }}},
      {"rl", rl_kind("rl")},
      {"on-policy-distill", rl_kind("on-policy-distill")},
      {"data",
       {[](const JsonValue& c, const std::string& w) { return data_mix_config_fields().parse(c, w).status(); },
        data_inputs, run_data_stage, [](std::ostream& out) { data_mix_config_fields().print_help(out); }}},
      {"sample",
       {[](const JsonValue& c, const std::string& w) { return parse_sample_config(c, w).status(); }, sample_inputs,
        run_sample_stage, [](std::ostream& out) { sample_config_fields().print_help(out); }}},
      {"eval",
       {[](const JsonValue& c, const std::string& w) { return parse_eval_config(c, w).status(); }, eval_inputs,
        run_eval_stage, [](std::ostream& out) { eval_config_fields().print_help(out); }}},
  };
  return kinds;
}

Result<StageKind> find_kind(const std::string& type, const std::string& where) {
  Result<StageKind> kind = registry_lookup(stage_kinds(), type, "stage type");
  if (!kind.ok()) return kind.status().with_context(where);
  return kind;
}

}  // namespace

Status check_stage_config(const std::string& type, const rapidjson::Value& config, const std::string& where) {
  R1_ASSIGN_OR_RETURN(StageKind kind, find_kind(type, where));
  return kind.check_config(config, where);
}

Status check_stage_inputs(const std::string& type, const rapidjson::Value& config, const std::string& where,
                          const std::set<std::string>& from_stages) {
  R1_ASSIGN_OR_RETURN(StageKind kind, find_kind(type, where));
  return kind.check_inputs(StageInputs{config, where, from_stages});
}

Result<std::string> run_stage(const std::string& type, const rapidjson::Value& config, const std::string& where,
                              std::FILE* log) {
  R1_ASSIGN_OR_RETURN(StageKind kind, find_kind(type, where));
  // The stage boundary: whatever a stage's libraries throw (LibTorch's
  // c10::Error above all) becomes an error the runner names the stage in.
  try {
    return kind.run(config, where, log);
  } catch (const c10::Error& e) {
    return Status::error(where + ": LibTorch error: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Status::error(where + ": " + e.what());
  }
}

void print_stage_keys(const std::string& type, std::ostream& out) {
  auto it = stage_kinds().find(type);
  if (it != stage_kinds().end()) it->second.print_keys(out);
}

std::string format_stage_metrics(const std::string& type, const rapidjson::Value& m) {
  if (!m.IsObject() || m.ObjectEmpty()) return "";  // a stage not done yet
  auto num = [&](const char* key) { return m.HasMember(key) && m[key].IsNumber() ? m[key].GetDouble() : NAN; };
  auto has = [&](const char* key) { return m.HasMember(key) && m[key].IsNumber(); };
  auto count = [&](const char* key) { return std::to_string(static_cast<long long>(num(key))); };
  std::string out;
  auto add = [&](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (type == "pretrain-toy" || type == "sft" || type == "distill" || type == "rm") {
    if (has("parameters")) add(fixed(num("parameters") / 1e6, 2) + "M params");
    if (has("steps")) add("steps " + count("steps"));
    if (has("loss")) add("loss " + fixed(num("loss"), 4));
    if (has("kl")) add("kl " + fixed(num("kl"), 4));
    if (has("eval_loss")) add("eval_loss " + fixed(num("eval_loss"), 4));
    if (has("eval_accuracy")) add("eval_accuracy " + fixed(num("eval_accuracy"), 4));
  } else if (type == "rl" || type == "on-policy-distill") {
    if (has("steps")) add("steps " + count("steps"));
    if (has("reward")) add("reward " + fixed(num("reward_first"), 3) + " -> " + fixed(num("reward"), 3));
    if (has("accuracy")) add("accuracy " + fixed(num("accuracy_first"), 3) + " -> " + fixed(num("accuracy"), 3));
  } else if (type == "data") {
    add(count("rows") + " rows");
  } else if (type == "sample") {
    add("kept " + count("kept") + " of " + count("generated") + " (" + fixed(100 * num("kept_fraction"), 1) + "%)");
    add(count("prompts_with_kept") + " of " + count("prompts") + " prompts");
  } else if (type == "eval") {
    std::string dataset = m.HasMember("dataset") && m["dataset"].IsString() ? m["dataset"].GetString() : "?";
    add("pass@1 " + fixed(num("pass@1"), 4) + " on " + dataset + " (" + count("examples") + ")");
    // Components other than accuracy: what a reward model or judge gave.
    if (m.HasMember("components") && m["components"].IsObject())
      for (auto it = m["components"].MemberBegin(); it != m["components"].MemberEnd(); ++it)
        if (std::string(it->name.GetString()) != "accuracy" && it->value.IsNumber())
          add("mean " + std::string(it->name.GetString()) + " " + fixed(it->value.GetDouble(), 4));
    if (num("samples") > 1) {
      if (has("maj@k")) add("maj@" + count("samples") + " " + fixed(num("maj@k"), 4));
      add("pass@" + count("samples") + " " + fixed(num("pass@k"), 4));
    }
  }
  return out;
}

}  // namespace r1
