// The `r1` command line: every stage registers its subcommands here.
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include <iostream>

#include "data/data_cli.h"
#include "distill/distill_cli.h"
#include "eval/eval_cli.h"
#include "grpo/rl_cli.h"
#include "inspect/inspect_cli.h"
#include "model/model_cli.h"
#include "model/tokenizer_cli.h"
#include "pipelines/pipeline_cli.h"
#include "reward/code_cli.h"
#include "reward/math_cli.h"
#include "reward/reward_cli.h"
#include "reward/model_checkers.h"
#include "reward/reward_model_cli.h"
#include "rollout/generate_cli.h"
#include "rollout/rollout_serve_cli.h"
#include "rollout/rollouts_cli.h"
#include "sft/sft_cli.h"
#include "train/plot_cli.h"
#include "util/status.h"
#include "util/malloc_tuning.h"

int main(int argc, char** argv) {
  r1::keep_freed_memory_for_reuse();
  r1::install_model_checkers();  // {"model": DIR} and {"judge": DIR} entries in reward specs
  CLI::App app{"r1: DeepSeek-R1-style reasoning post-training (GRPO, SFT, distillation)"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  r1::add_model_commands(app);
  r1::add_generate_command(app);
  r1::add_rollout_commands(app);
  r1::add_tokenizer_commands(app);
  r1::add_code_commands(app);
  r1::add_math_commands(app);
  r1::add_reward_commands(app);
  r1::add_reward_model_commands(app);
  r1::add_rollouts_commands(app);
  r1::add_sft_commands(app);
  r1::add_data_commands(app);
  r1::add_distill_commands(app);
  r1::add_eval_commands(app);
  r1::add_rl_commands(app);
  r1::add_pipeline_commands(app);
  r1::add_plot_command(app);
  r1::add_inspect_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --help-all
    // A command-line mistake: the same "r1: error:" form as every other
    // input error, and exit status 2 (usage), not CLI11's per-kind 100+ codes.
    std::cerr << "r1: error: " << e.what() << "\nRun with --help for the options.\n";
    return 2;
  } catch (const r1::Error& e) {
    std::cerr << "r1: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "r1: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "r1: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
