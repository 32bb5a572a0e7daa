// A recipe: one JSON file naming the stages of a post-training run, in the
// order they run, each with its type, its config, and the earlier stages'
// outputs it consumes (docs/pipelines.md):
//
//   {"name": "r1-zero-tiny",
//    "vars": {"base_model": ""},
//    "stages": [
//      {"name": "base", "type": "pretrain-toy", "config": {...}},
//      {"name": "rl", "type": "rl", "config": {"model_name_or_path": "${stages.base.model}", ...}},
//      {"name": "eval", "type": "eval", "config": {"model": "${stages.rl.model}", ...}}]}
//
// A string anywhere in a config may hold references: ${stages.NAME.OUTPUT}
// (a path under the run folder) or ${vars.NAME}. This file parses recipes
// and checks everything that needs no stage library: types, names, every
// reference (unknown stage, output or var; a stage used before it runs; a
// cycle). Each error names the file and the key path, e.g.
//   recipe.json: stages[2].config.model_name_or_path: references unknown stage 'rl0'
// No LibTorch here.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "util/status.h"

namespace r1 {

// What a stage type writes into its folder, by the names references use.
struct StageOutput {
  const char* name;  // "model", "samples", ...
  const char* path;  // relative to the stage folder; "" is the folder itself
};

struct StageTypeInfo {
  const char* type;  // "pretrain-toy", "sft", "distill", "rl", "sample", "eval"
  const char* summary;
  std::vector<StageOutput> outputs;
};

const std::vector<StageTypeInfo>& stage_types();
const StageTypeInfo* find_stage_type(const std::string& type);  // nullptr when unknown

// One ${...} in a stage's config.
struct Reference {
  std::string key;     // where it appears: "stages[2].config.dataset.path"
  std::string text;    // "${stages.cold_start.model}"
  std::string scope;   // "stages" or "vars"
  std::string name;    // the stage or var
  std::string output;  // the output kind ("stages" only)
};

struct RecipeStage {
  std::string name;
  std::string type;
  std::string config_json;  // the config as written, --set applied, references unresolved
  std::string compare_to;   // eval stages: the eval stage whose pass@1 the report divides by ("" = none)
  std::vector<Reference> references;
  std::vector<size_t> inputs;  // indices of the stages it consumes, ascending
};

struct Recipe {
  std::string where;  // the file (or label) errors name
  std::string name;   // "name", else the file stem
  std::string description;
  std::vector<std::pair<std::string, std::string>> vars;  // file order
  std::vector<RecipeStage> stages;

  // Index of the stage named `name`, or -1.
  int find_stage(const std::string& name) const;
};

// Parses and checks a recipe. `overrides` are "STAGE.KEY[.KEY...]=VALUE"
// (a key of that stage's config, nested objects created as needed) or
// "vars.NAME=VALUE"; VALUE is parsed as JSON when it is JSON, else taken as a
// string. They are applied before the references are checked.
Result<Recipe> parse_recipe(const std::string& text, const std::string& where,
                            const std::vector<std::string>& overrides = {});
Result<Recipe> load_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

// The recipe as JSON text that parses back to the same recipe (with its
// overrides applied): what a run folder keeps as recipe.json.
std::string recipe_json(const Recipe& recipe);

// The folder a stage writes: <run_dir>/<stage name>.
std::string stage_dir(const std::string& run_dir, const std::string& stage_name);

// Stage `index`'s config with every reference replaced (stage outputs by
// their paths under run_dir) and "output_dir" set to its stage folder.
// Errors: a var that is empty (not given).
Result<rapidjson::Document> resolve_stage_config(const Recipe& recipe, size_t index, const std::string& run_dir);

// "recipe.json: stages[2].config" — the prefix of errors about stage `index`'s config.
std::string stage_where(const Recipe& recipe, size_t index);

// Built-in recipes: $R1_RECIPES_DIR, else <prefix>/share/r1/recipes beside
// an installed binary, else pipelines/recipes of the checkout a build folder
// sits in ("" when none is found).
std::string builtin_recipe_dir();
std::vector<std::string> builtin_recipe_names();
// An existing file is used as is; else a built-in name (".json" optional).
Result<std::string> find_recipe(const std::string& name_or_path);

// The key path of the first difference between two JSON values ("" when
// equal), e.g. "sft.max_steps" or "filters[1]"; `prefix` starts the path.
std::string first_json_difference(const rapidjson::Value& a, const rapidjson::Value& b, const std::string& prefix = "");

}  // namespace r1
