#include "eval/eval_cli.h"

#include <iostream>
#include <memory>
#include <optional>

#include "eval/eval_config.h"
#include "eval/eval_runner.h"
#include "util/help_config_flag.h"
#include "util/json.h"
#include "util/process.h"
#include "util/text_table.h"

namespace r1 {

namespace {

// Flags are config keys; each one given replaces the --config file's value,
// and --set comes last.
struct EvalCliOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::optional<std::string> model, dataset, template_name, device, dtype, out;
  std::optional<int64_t> samples, limit, max_new_tokens, batch_size, seed, threads;
  std::optional<double> temperature, top_p;
  bool quiet = false;
};

// The flags given, as an object of config keys.
rapidjson::Document flag_keys(const EvalCliOptions& o) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& alloc = doc.GetAllocator();
  auto set = [&](const char* key, auto value) { doc.AddMember(rapidjson::StringRef(key), value, alloc); };
  for (auto [key, v] : {std::pair{"model", &o.model}, std::pair{"dataset", &o.dataset},
                        std::pair{"template", &o.template_name}, std::pair{"device", &o.device},
                        std::pair{"dtype", &o.dtype}, std::pair{"output_dir", &o.out}})
    if (*v) set(key, rapidjson::Value((*v)->c_str(), alloc));
  for (auto [key, v] : {std::pair{"samples", &o.samples}, std::pair{"limit", &o.limit},
                        std::pair{"max_new_tokens", &o.max_new_tokens}, std::pair{"batch_size", &o.batch_size},
                        std::pair{"seed", &o.seed}, std::pair{"threads", &o.threads}})
    if (*v) set(key, rapidjson::Value(**v));
  for (auto [key, v] : {std::pair{"temperature", &o.temperature}, std::pair{"top_p", &o.top_p}})
    if (*v) set(key, rapidjson::Value(**v));
  return doc;
}

// The --config file, then the flags, then --set.
EvalConfig load_config(const EvalCliOptions& o) {
  const ConfigFields<EvalConfig>& fields = eval_config_fields();
  EvalConfig file;
  if (!o.config.empty())
    throw_if_error(fields.apply_json(file, value_or_throw(read_json_file(o.config)), o.config));
  std::string where = o.config.empty() ? "eval config" : o.config;
  return value_or_throw(fields.parse(flag_keys(o), where, o.overrides, std::move(file)));
}

void print_table(const EvalSummary& s) {
  const std::string k = std::to_string(s.metrics.k);
  TextTable t({"metric", "value"});
  t.add_row({"dataset", s.dataset + " (" + std::to_string(s.metrics.examples) + " of " +
                            std::to_string(s.total_examples) + " examples)"});
  t.add_row({"samples", k});
  t.add_row({"pass@1", fixed(s.metrics.pass_at_1, 4)});
  // With one sample both equal pass@1 (maj@1 also needs an answer, which a correct sample has).
  if (s.metrics.k > 1) {
    if (s.metrics.maj_at_k) t.add_row({"maj@" + k, fixed(*s.metrics.maj_at_k, 4)});
    t.add_row({"pass@" + k, fixed(s.metrics.pass_at_k, 4)});
  }
  for (const auto& [name, mean] : s.component_means) t.add_row({"reward " + name, fixed(mean, 4)});
  t.add_row({"mean length", fixed(s.mean_completion_tokens, 1) + " tokens"});
  t.add_row({"truncated", fixed(100.0 * s.truncated_fraction, 1) + " %"});
  t.add_row({"output", s.output_dir + "/eval.json, eval.db"});
  t.print(std::cout);
}

void run_cli(const EvalCliOptions& o) {
  throw_if_error(one_process_only(value_or_throw(process_info_from_env()), "r1 eval"));
  EvalConfig config = load_config(o);
  EvalSummary summary = value_or_throw(run_eval(config, o.quiet ? nullptr : stderr));
  print_table(summary);
}

}  // namespace

void add_eval_commands(CLI::App& app) {
  auto o = std::make_shared<EvalCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Evaluate a model on a dataset with the reward checkers: pass@1, maj@k, pass@k (see docs/eval.md)");
  cmd->add_option("--model", o->model, "HF model folder (with tokenizer.json)");
  cmd->add_option("--dataset", o->dataset,
                  "gsm8k_test, math500, aime24, amc23, humaneval, mbpp, countdown:heldout, ... or FILE.jsonl");
  cmd->add_option("--samples", o->samples, "k completions per example (default 1)");
  cmd->add_option("--limit", o->limit, "Evaluate the first N examples (default all)");
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "Tokens per completion at most (default 512)");
  cmd->add_option("--temperature", o->temperature, "Default 0 (greedy) for k = 1, else 0.6");
  cmd->add_option("--top-p", o->top_p, "Default 1 for k = 1, else 0.95");
  cmd->add_option("--batch-size", o->batch_size, "Examples per generation batch (default 8)");
  cmd->add_option("--seed", o->seed, "Sampling seed (default 0)");
  cmd->add_option("--template", o->template_name, "auto | chatml | llama3 | r1_zero | none (default: the dataset's)");
  cmd->add_option("--device", o->device, "cpu | cuda | cuda:N | auto (default: cuda when a GPU is visible)");
  cmd->add_option("--dtype", o->dtype, "float32 | bfloat16 | float16 | auto (default: the checkpoint's)");
  cmd->add_option("--threads", o->threads, "CPU threads (default all cores)");
  cmd->add_option("--out", o->out, "Output folder for eval.json and eval.db (default runs/eval-<dataset>)");
  cmd->add_option("--config", o->config, "Eval config JSON file; flags override its keys");
  cmd->add_option("--set", o->overrides,
                  "Override a config key: key=value (VALUE is JSON when it parses as JSON, else a string)");
  cmd->add_flag("--quiet", o->quiet, "No progress lines on stderr");
  add_help_config_flag(cmd, [](std::ostream& out) {
    out << "Keys of an r1 eval config (each flag sets the key of its name):\n";
    eval_config_fields().print_help(out);
  });
  cmd->callback([o] { run_cli(*o); });
}

}  // namespace r1
