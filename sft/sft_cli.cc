#include "sft/sft_cli.h"

#include <cstdio>
#include <memory>

#include "sft/sft_config.h"
#include "sft/sft_trainer.h"
#include "util/help_config_flag.h"
#include "util/json.h"

namespace r1 {

namespace {

struct SftCliOptions {
  std::string config;
  std::vector<std::string> overrides;
  bool resume = false;
  bool eval_only = false;
  std::string eval_model;  // --eval-only: model folder (default: model_name_or_path)
};

void run_cli(const SftCliOptions& o) {
  SFTConfig config = value_or_throw(load_sft_config(o.config, o.overrides));
  if (o.eval_only) {
    std::string file = config.eval_file.empty() ? config.train_file : config.eval_file;
    std::string model = o.eval_model.empty() ? config.model_name_or_path : o.eval_model;
    EvalResult e = value_or_throw(evaluate_file(config, model, file));
    JsonWriter w;
    w.begin_object().key("loss").value(e.loss).key("tokens").value(e.tokens);
    if (e.kl) {  // distilling: the KL and the training objective too
      double a = config.distill_alpha, t = config.distill_temperature;
      w.key("kl").value(*e.kl).key("distill_loss").value((1 - a) * e.loss + a * t * t * *e.kl);
    }
    w.end_object();
    std::printf("%s\n", w.str().c_str());
    return;
  }
  SftRunResult r = value_or_throw(run_sft(config, o.resume, stderr));
  JsonWriter w;
  w.begin_object().key("global_step").value(r.global_step).key("loss").value(r.last_loss);
  w.key("eval_loss");
  if (r.eval_loss)
    w.value(*r.eval_loss);
  else
    w.null();
  w.key("model").value(r.model_dir).end_object();
  std::printf("%s\n", w.str().c_str());
}

}  // namespace

void add_sft_commands(CLI::App& app) {
  auto o = std::make_shared<SftCliOptions>();
  CLI::App* cmd = app.add_subcommand("sft", "Supervised fine-tuning from a JSON config (see docs/sft.md)");
  cmd->add_option("--config", o->config, "SFTConfig JSON file")->required();
  cmd->add_option("--set", o->overrides,
                  "Override a config key: key=value, VALUE is JSON when it parses as JSON, else a string");
  cmd->add_flag("--resume", o->resume, "Continue from the last complete checkpoint in output_dir");
  cmd->add_flag("--eval-only", o->eval_only,
                "Print the token-mean loss {loss, tokens} of eval_file (else train_file) and exit; with "
                "distill_alpha > 0 also {kl, distill_loss}");
  cmd->add_option("--model", o->eval_model, "With --eval-only: the model folder (default model_name_or_path)");
  add_help_config_flag(cmd, [](std::ostream& out) {
    out << "Keys of an r1 sft config:\n";
    sft_config_fields().print_help(out);
  });
  cmd->callback([o] { run_cli(*o); });
}

}  // namespace r1
