#include "pipelines/pipeline_cli.h"

#include <iostream>
#include <memory>

#include "pipelines/pipeline.h"
#include "pipelines/recipe.h"
#include "pipelines/stages.h"
#include "util/help_config_flag.h"
#include "util/text_table.h"

namespace r1 {

namespace {

struct PipelineCliOptions {
  std::string recipe;  // a file, or a built-in recipe's name
  std::string out;
  std::vector<std::string> overrides;
};

Recipe load(const PipelineCliOptions& o) {
  std::string path = value_or_throw(find_recipe(o.recipe));
  return value_or_throw(load_recipe(path, o.overrides));
}

void run_run(const PipelineCliOptions& o) {
  Recipe recipe = load(o);
  PipelineReport report = value_or_throw(run_pipeline(recipe, o.out, stderr));
  report.print(std::cout);
}

// Prints each stage with what it consumes and writes.
void run_validate(const PipelineCliOptions& o) {
  Recipe recipe = load(o);
  throw_if_error(check_recipe(recipe, o.out.empty() ? "RUN_DIR" : o.out, /*check_inputs=*/true));
  TextTable t({"stage", "type", "uses", "writes"});
  for (const RecipeStage& s : recipe.stages) {
    std::string uses, writes;
    for (const Reference& ref : s.references)
      if (uses.find(ref.text) == std::string::npos) uses += (uses.empty() ? "" : " ") + ref.text;
    for (const StageOutput& out : find_stage_type(s.type)->outputs)
      if (*out.path) writes += (writes.empty() ? "" : ", ") + std::string(out.name);
    t.add_row({s.name, s.type, uses.empty() ? "-" : uses, writes});
  }
  std::cout << "recipe " << recipe.name << ": " << recipe.stages.size() << " stages, ok\n";
  t.print(std::cout);
}

void run_status(const std::string& run_dir) { value_or_throw(pipeline_status(run_dir)).print(std::cout); }

void run_list() {
  TextTable t({"recipe", "stages", "description"});
  for (const std::string& name : builtin_recipe_names()) {
    Recipe r = value_or_throw(load_recipe(builtin_recipe_dir() + "/" + name + ".json"));
    std::string stages;
    for (const RecipeStage& s : r.stages) stages += (stages.empty() ? "" : " -> ") + s.name;
    t.add_row({name, stages, r.description});
  }
  t.print(std::cout);
}

// A recipe's keys, then every stage type's config keys.
void print_recipe_keys(std::ostream& out) {
  out << "Keys of a recipe (docs/pipelines.md):\n"
         "  name (a string; default the file's stem)\n"
         "  description (a string)\n"
         "  vars (an object of NAME: value; ${vars.NAME} in a config is its value, given with --set vars.NAME=)\n"
         "  stages (a list of {name, type, config, compare_to, description}; they run in order)\n"
         "      name: the stage's folder in the run folder; type: one of the types below; config: that type's keys,\n"
         "      where ${stages.NAME.OUTPUT} is an earlier stage's output; compare_to: (eval) another eval stage\n"
         "      whose pass@1 the report divides by\n";
  for (const StageTypeInfo& t : stage_types()) {
    out << "\nConfig keys of a " << t.type << " stage (" << t.summary << "; output_dir is set by the runner):\n";
    print_stage_keys(t.type, out);
  }
}

void add_recipe_options(CLI::App* cmd, PipelineCliOptions& o) {
  cmd->add_option("recipe", o.recipe, "Recipe JSON file, or a built-in recipe name (r1 pipeline list)")->required();
  cmd->add_option("--set", o.overrides,
                  "Override a stage's config key: STAGE.KEY=VALUE (nested: STAGE.KEY.SUBKEY=VALUE), or a recipe "
                  "var: vars.NAME=VALUE; VALUE is parsed as JSON when it is JSON");
}

}  // namespace

void add_pipeline_commands(CLI::App& app) {
  CLI::App* group = app.add_subcommand("pipeline", "Run recipes of stages: pretrain-toy, sft, distill, rl, sample, "
                                                   "eval (see docs/pipelines.md)");
  group->require_subcommand(1);
  add_help_config_flag(group, print_recipe_keys);

  auto run = std::make_shared<PipelineCliOptions>();
  CLI::App* cmd = group->add_subcommand(
      "run", "Run a recipe's stages in order; a rerun skips finished stages and resumes the interrupted one");
  add_recipe_options(cmd, *run);
  cmd->add_option("--out", run->out, "Run folder: one subfolder per stage, recipe.json, report.json")->required();
  cmd->callback([run] { run_run(*run); });

  auto validate = std::make_shared<PipelineCliOptions>();
  cmd = group->add_subcommand("validate", "Check a recipe (stages, references, every stage's config, inputs) "
                                          "without running anything");
  add_recipe_options(cmd, *validate);
  cmd->add_option("--out", validate->out, "Resolve stage paths under this run folder (default: RUN_DIR)");
  cmd->callback([validate] { run_validate(*validate); });

  auto status_dir = std::make_shared<std::string>();
  cmd = group->add_subcommand("status", "Show each stage of a run folder: done, interrupted, pending, and metrics");
  cmd->add_option("run_dir", *status_dir, "Run folder (the --out of r1 pipeline run)")->required();
  cmd->callback([status_dir] { run_status(*status_dir); });

  cmd = group->add_subcommand("list", "List the built-in recipes");
  cmd->callback([] { run_list(); });
}

}  // namespace r1
