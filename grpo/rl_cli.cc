#include "grpo/rl_cli.h"

#include <cstdio>
#include <memory>

#include "grpo/trainer.h"
#include "util/help_config_flag.h"
#include "util/json.h"

namespace r1 {

namespace {

struct RlCliOptions {
  std::string config;
  std::string preset;
  std::vector<std::string> overrides;
  bool resume = false;
  bool print_config = false;
};

void run_cli(RlCliOptions o) {
  if (!o.preset.empty()) o.overrides.insert(o.overrides.begin(), "preset=" + o.preset);
  RLConfig config = value_or_throw(load_rl_config(o.config, o.overrides));
  if (o.print_config) {
    std::printf("%s\n", config.to_json().c_str());
    return;
  }
  RLRunResult r = value_or_throw(run_rl(config, o.resume, stderr));
  JsonWriter w;
  w.begin_object().key("global_step").value(r.global_step).key("reward").value(r.last_reward);
  w.key("model").value(r.model_dir).end_object();
  std::printf("%s\n", w.str().c_str());
}

}  // namespace

void add_rl_commands(CLI::App& app) {
  auto o = std::make_shared<RlCliOptions>();
  CLI::App* cmd = app.add_subcommand("rl", "GRPO reinforcement learning from a JSON config (see docs/grpo.md)");
  cmd->add_option("--config", o->config, "RL config JSON: job keys plus GRPOConfig keys")->required();
  cmd->add_option("--preset", o->preset, "GRPO preset (default, r1_zero, dapo, dr_grpo); overrides the file's");
  cmd->add_option("--set", o->overrides,
                  "Override a key: key=value, VALUE is JSON when it parses as JSON, else a string (repeatable)");
  cmd->add_flag("--resume", o->resume, "Continue from the last complete checkpoint in output_dir");
  cmd->add_flag("--print-config", o->print_config, "Print the resolved config as JSON and exit");
  // After --preset, so its defaults are the preset's.
  add_help_config_flag(cmd, [o](std::ostream& out) {
    RLConfig defaults;
    if (!o->preset.empty()) defaults.preset = o->preset;
    defaults.grpo = value_or_throw(grpo_config_preset(defaults.preset));
    out << "Keys of an r1 rl config (preset " << defaults.preset << "):\n";
    rl_config_fields().print_help(out, defaults);
  });
  cmd->callback([o] { run_cli(*o); });
}

}  // namespace r1
