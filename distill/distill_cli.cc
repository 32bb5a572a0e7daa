#include "distill/distill_cli.h"

#include <cstdio>
#include <memory>

#include "distill/rejection_sampling.h"
#include "distill/sample_config.h"
#include "util/help_config_flag.h"
#include "util/process.h"

namespace r1 {

namespace {

struct SampleCliOptions {
  std::string config;
  std::vector<std::string> overrides;
  bool quiet = false;
};

void run_cli(const SampleCliOptions& o) {
  throw_if_error(one_process_only(value_or_throw(process_info_from_env()), "r1 sample"));
  SampleConfig config = value_or_throw(load_sample_config(o.config, o.overrides));
  SampleReport report = value_or_throw(run_sample(config, o.quiet ? nullptr : stderr));
  std::printf("%s\n", report.to_json().c_str());
}

}  // namespace

void add_distill_commands(CLI::App& app) {
  auto o = std::make_shared<SampleCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sample", "Rejection sampling: k completions per prompt, scored and filtered into SFT rows (docs/distill.md)");
  cmd->add_option("--config", o->config, "SampleConfig JSON file")->required();
  cmd->add_option("--set", o->overrides,
                  "Override a config key: key=value, VALUE is JSON when it parses as JSON, else a string");
  cmd->add_flag("--quiet", o->quiet, "No progress lines on stderr");
  add_help_config_flag(cmd, [](std::ostream& out) {
    out << "Keys of an r1 sample config:\n";
    sample_config_fields().print_help(out);
  });
  cmd->callback([o] { run_cli(*o); });
}

}  // namespace r1
