#include "pipelines/recipe.h"

#include <gtest/gtest.h>

#include "pipelines/pipeline.h"
#include "util/json.h"

namespace r1 {
namespace {

// Three stages: a toy base model, RL on it, eval of the RL model.
const char* kRecipe = R"({
  "name": "t",
  "vars": {"steps": 4, "base": ""},
  "stages": [
    {"name": "base", "type": "pretrain-toy",
     "config": {"corpus": {"task": "arithmetic", "n": 50}, "sft": {"max_steps": 2}}},
    {"name": "rl", "type": "rl",
     "config": {"model_name_or_path": "${stages.base.model}", "dataset": "arithmetic", "max_steps": "${vars.steps}"}},
    {"name": "eval", "type": "eval",
     "config": {"model": "${stages.rl.model}", "dataset": "arithmetic:heldout", "name": "of ${stages.rl.output_dir}"}}
  ]})";

std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  Result<Recipe> r = parse_recipe(text, "recipe.json", overrides);
  return r.ok() ? "" : r.status().message();
}

// kRecipe with `from` replaced by `to` (the first occurrence).
std::string edit(const std::string& from, const std::string& to) {
  std::string s = kRecipe;
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(Recipe, ParsesStagesReferencesAndInputs) {
  Recipe r = value_or_throw(parse_recipe(kRecipe, "recipe.json"));
  EXPECT_EQ(r.name, "t");
  ASSERT_EQ(r.stages.size(), 3u);
  EXPECT_EQ(r.stages[1].type, "rl");
  EXPECT_EQ(r.stages[1].inputs, std::vector<size_t>{0});
  EXPECT_EQ(r.stages[2].inputs, std::vector<size_t>{1});
  ASSERT_EQ(r.stages[1].references.size(), 2u);
  EXPECT_EQ(r.stages[1].references[0].key, "stages[1].config.model_name_or_path");
  EXPECT_EQ(r.stages[1].references[0].output, "model");
  EXPECT_EQ(r.stages[1].references[1].scope, "vars");
  EXPECT_EQ(r.find_stage("eval"), 2);
  EXPECT_EQ(r.find_stage("nope"), -1);
}

TEST(Recipe, UnknownStageTypeNamesTheKey) {
  EXPECT_EQ(error_of(edit("\"type\": \"rl\"", "\"type\": \"ppo\"")),
            "recipe.json: stages[1].type: unknown stage type 'ppo' (known: pretrain-toy, sft, distill, rm, rl, "
            "on-policy-distill, data, sample, eval)");
}

TEST(Recipe, ReferenceToAMissingStageNamesTheKey) {
  EXPECT_EQ(error_of(edit("${stages.base.model}", "${stages.rl0.model}")),
            "recipe.json: stages[1].config.model_name_or_path: references unknown stage 'rl0'");
}

TEST(Recipe, ReferenceToAnOutputTheStageDoesNotWrite) {
  EXPECT_EQ(error_of(edit("${stages.base.model}", "${stages.base.samples}")),
            "recipe.json: stages[1].config.model_name_or_path: stage 'base' (pretrain-toy) has no output 'samples' "
            "(it writes: model, corpus, metrics, output_dir)");
}

TEST(Recipe, ForwardReferenceAndCycle) {
  // rl uses eval's output: eval runs later, and eval uses rl: a cycle.
  std::string e = error_of(edit("${stages.base.model}", "${stages.eval.output_dir}"));
  EXPECT_EQ(e, "recipe.json: stages[1].config.model_name_or_path: references stage 'eval', which forms a cycle: "
               "rl -> eval -> rl (each arrow: uses the output of)");
  // base uses eval, which (given its model directly) uses nothing: later, but no cycle.
  e = error_of(edit("\"n\": 50}", "\"n\": 50, \"path\": \"${stages.eval.eval}\"}"),
               {"eval.model=/models/m", "eval.name=x"});
  EXPECT_EQ(e, "recipe.json: stages[0].config.corpus.path: references stage 'eval', which runs later (stages[2]); "
               "a stage can only use the outputs of stages before it");
  e = error_of(edit("${stages.base.model}", "${stages.rl.model}"));
  EXPECT_EQ(e, "recipe.json: stages[1].config.model_name_or_path: a stage cannot use its own output "
               "'${stages.rl.model}'");
}

TEST(Recipe, StructureErrorsNameTheKey) {
  EXPECT_EQ(error_of(edit("\"name\": \"eval\"", "\"name\": \"rl\"")),
            "recipe.json: stages[2].name: duplicate stage name 'rl' (also stages[1])");
  EXPECT_EQ(error_of(edit("\"name\": \"eval\"", "\"name\": \"a/b\"")).substr(0, 49),
            "recipe.json: stages[2].name: 'a/b' is not a valid");
  EXPECT_EQ(error_of(edit("\"name\": \"t\"", "\"nam\": \"t\"")),
            "recipe.json: unknown key 'nam' (known: name, description, vars, stages)");
  EXPECT_EQ(error_of(edit("\"type\": \"rl\"", "\"type\": \"rl\", \"input\": \"base\"")),
            "recipe.json: stages[1]: unknown key 'input' (known: name, type, config, compare_to, description)");
  EXPECT_EQ(error_of(edit("\"dataset\": \"arithmetic\"", "\"output_dir\": \"x\", \"dataset\": \"arithmetic\"")),
            "recipe.json: stages[1].config.output_dir: set by the runner (<run dir>/rl); remove it");
  EXPECT_EQ(error_of(edit("${vars.steps}", "${var.steps}")),
            "recipe.json: stages[1].config.max_steps: unknown reference '${var.steps}' (write ${stages.NAME.OUTPUT} "
            "or ${vars.NAME})");
  EXPECT_EQ(error_of(edit("${vars.steps}", "${vars.stepz}")),
            "recipe.json: stages[1].config.max_steps: references unknown var 'stepz' (declare it in \"vars\")");
  EXPECT_EQ(error_of(R"({"stages": []})"), "recipe.json: stages: must be a non-empty list");
  EXPECT_EQ(error_of(edit("\"base\": \"\"", "\"a.b\": \"\"")),
            "recipe.json: vars.a.b: not a valid var name (letters, digits, '_' and '-')");
  EXPECT_NE(error_of("{\"stages\": [}").find("recipe.json:1:"), std::string::npos);
}

TEST(Recipe, CompareToMustNameAnotherEvalStage) {
  EXPECT_EQ(error_of(edit("\"type\": \"eval\",", "\"type\": \"eval\", \"compare_to\": \"rl\",")),
            "recipe.json: stages[2].compare_to: must name another eval stage, 'rl' is rl");
  EXPECT_EQ(error_of(edit("\"type\": \"eval\",", "\"type\": \"eval\", \"compare_to\": \"x\",")),
            "recipe.json: stages[2].compare_to: no stage 'x'");
  EXPECT_EQ(error_of(edit("\"type\": \"rl\",", "\"type\": \"rl\", \"compare_to\": \"eval\",")),
            "recipe.json: stages[1].compare_to: only an eval stage may name another eval stage to compare with");
}

TEST(Recipe, ResolvesPathsVarsAndOutputDir) {
  Recipe r = value_or_throw(parse_recipe(kRecipe, "recipe.json"));
  rapidjson::Document rl = value_or_throw(resolve_stage_config(r, 1, "/runs/x"));
  EXPECT_STREQ(rl["model_name_or_path"].GetString(), "/runs/x/base/model");
  ASSERT_TRUE(rl["max_steps"].IsInt());  // a lone var reference keeps the var's type
  EXPECT_EQ(rl["max_steps"].GetInt(), 4);
  EXPECT_STREQ(rl["output_dir"].GetString(), "/runs/x/rl");
  rapidjson::Document ev = value_or_throw(resolve_stage_config(r, 2, "/runs/x"));
  EXPECT_STREQ(ev["name"].GetString(), "of /runs/x/rl");
  EXPECT_STREQ(ev["model"].GetString(), "/runs/x/rl/model");
}

TEST(Recipe, AnUnsetVarIsAnErrorWhenResolved) {
  Recipe r = value_or_throw(parse_recipe(edit("\"${stages.base.model}\"", "\"${vars.base}\""), "recipe.json"));
  EXPECT_EQ(resolve_stage_config(r, 1, "/runs/x").status().message(),
            "recipe.json: stages[1].config.model_name_or_path: ${vars.base} is not set; give it with --set "
            "vars.base=VALUE");
  r = value_or_throw(
      parse_recipe(edit("\"${stages.base.model}\"", "\"${vars.base}\""), "recipe.json", {"vars.base=/models/q"}));
  EXPECT_STREQ(value_or_throw(resolve_stage_config(r, 1, "/runs/x"))["model_name_or_path"].GetString(), "/models/q");
}

TEST(Recipe, OverridesSetNestedKeysAndVars) {
  Recipe r = value_or_throw(
      parse_recipe(kRecipe, "recipe.json", {"base.sft.learning_rate=0.01", "rl.beta=0.04", "vars.steps=9",
                                            "eval.dataset={\"task\": \"arithmetic\", \"n\": 5}"}));
  rapidjson::Document base = value_or_throw(resolve_stage_config(r, 0, "/r"));
  EXPECT_DOUBLE_EQ(base["sft"]["learning_rate"].GetDouble(), 0.01);
  EXPECT_EQ(base["sft"]["max_steps"].GetInt(), 2);
  rapidjson::Document rl = value_or_throw(resolve_stage_config(r, 1, "/r"));
  EXPECT_DOUBLE_EQ(rl["beta"].GetDouble(), 0.04);
  EXPECT_EQ(rl["max_steps"].GetInt(), 9);
  EXPECT_EQ(value_or_throw(resolve_stage_config(r, 2, "/r"))["dataset"]["n"].GetInt(), 5);

  EXPECT_EQ(error_of(kRecipe, {"sft.max_steps=3"}), "--set 'sft.max_steps=3': no stage 'sft' (stages: base, rl, eval)");
  EXPECT_EQ(error_of(kRecipe, {"vars.x=1"}), "--set 'vars.x=1': the recipe declares no var 'x' (vars: steps, base)");
  EXPECT_EQ(error_of(kRecipe, {"rl"}), "--set 'rl': expected STAGE.KEY=VALUE or vars.NAME=VALUE");
  EXPECT_EQ(error_of(kRecipe, {"rl.dataset.n=3"}), "--set 'rl.dataset.n=3': key 'dataset' is not an object");
  // An override that adds a bad reference is caught like one in the file.
  EXPECT_EQ(error_of(kRecipe, {"eval.model=${stages.nope.model}"}),
            "recipe.json: stages[2].config.model: references unknown stage 'nope'");
}

TEST(Recipe, JsonRoundTrip) {
  Recipe r = value_or_throw(parse_recipe(kRecipe, "recipe.json", {"rl.beta=0.5"}));
  Recipe back = value_or_throw(parse_recipe(recipe_json(r), "saved.json"));
  EXPECT_EQ(recipe_json(back), recipe_json(r));
  EXPECT_EQ(back.stages[1].config_json, r.stages[1].config_json);
}

TEST(Recipe, FirstJsonDifference) {
  auto diff = [](const char* a, const char* b) {
    return first_json_difference(value_or_throw(parse_json(a, "a")), value_or_throw(parse_json(b, "b")));
  };
  EXPECT_EQ(diff(R"({"a": 1, "b": {"c": [1, 2]}})", R"({"b": {"c": [1, 2]}, "a": 1})"), "");
  EXPECT_EQ(diff(R"({"a": 1, "b": {"c": [1, 2]}})", R"({"a": 1, "b": {"c": [1, 3]}})"), "b.c[1]");
  EXPECT_EQ(diff(R"({"a": 1})", R"({"a": 1, "z": 0})"), "z");
  EXPECT_EQ(diff(R"({"a": 1})", R"({"a": 1.5})"), "a");
}

// The stage configs are checked by each stage's own parser, with the error
// naming the stage.
TEST(Recipe, CheckRecipeRunsEachStagesParser) {
  Recipe r = value_or_throw(parse_recipe(edit("\"max_steps\": \"${vars.steps}\"", "\"max_step\": 3"), "recipe.json"));
  Status s = check_recipe(r, "/runs/x", /*check_inputs=*/false);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("recipe.json: stages[1].config"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("max_step"), std::string::npos) << s.message();

  r = value_or_throw(
      parse_recipe(edit("\"sft\": {\"max_steps\": 2}", "\"sft\": {\"train_file\": \"x\"}"), "recipe.json"));
  EXPECT_EQ(check_recipe(r, "/runs/x", false).message(),
            "recipe.json: stages[0].config: sft.train_file: set by the stage (init/, corpus.jsonl, the stage folder)");
  r = value_or_throw(parse_recipe(kRecipe, "recipe.json"));
  EXPECT_TRUE(check_recipe(r, "/runs/x", false).ok()) << check_recipe(r, "/runs/x", false).message();
}

// Each stage with an error reports its first one, a line each, so that one
// run of `r1 pipeline validate` shows every stage to fix.
TEST(Recipe, CheckRecipeReportsEveryStageWithAnError) {
  const char* text = R"({"stages": [
      {"name": "s", "type": "sample", "config": {"model": "m", "dataset": "countdown", "temperature": -1}},
      {"name": "ok", "type": "eval", "config": {"model": "m", "dataset": "countdown:heldout"}},
      {"name": "e", "type": "eval", "config": {"model": "m", "dataset": "countdown:heldout", "top_p": 2, "limit": -1}}]})";
  Recipe r = value_or_throw(parse_recipe(text, "two.json"));
  EXPECT_EQ(check_recipe(r, "/r", false).message(),
            "two.json: stages[0].config: field 'temperature' must be >= 0 (0 = greedy), got -1\n"
            "two.json: stages[2].config: field 'limit' must be >= 0 (0 = all examples), got -1");
}

TEST(Recipe, DistillStageNeedsATeacher) {
  const char* text = R"({"stages": [{"name": "s", "type": "distill",
      "config": {"model_name_or_path": "m", "train_file": "t.jsonl"}}]})";
  Recipe r = value_or_throw(parse_recipe(text, "d.json"));
  EXPECT_NE(check_recipe(r, "/r", false).message().find("a distill stage needs 'teacher_model_name_or_path'"),
            std::string::npos);
}

// Every built-in recipe parses and its stages' configs pass their parsers
// (vars set to a placeholder path; nothing is read).
TEST(Recipe, BuiltinRecipesAreValid) {
  std::vector<std::string> names = builtin_recipe_names();
  for (const char* expected : {"r1-zero", "r1-zero-tiny", "r1", "r1-tiny", "distill", "distill-tiny"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  for (const std::string& name : names) {
    std::string path = value_or_throw(find_recipe(name));
    Recipe plain = value_or_throw(load_recipe(path));
    std::vector<std::string> overrides;
    for (const auto& [var, value] : plain.vars) overrides.push_back("vars." + var + "=/models/" + var);
    Result<Recipe> r = load_recipe(path, overrides);
    ASSERT_TRUE(r.ok()) << r.status().message();
    Status s = check_recipe(*r, "/runs/" + name, false);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  EXPECT_FALSE(find_recipe("no-such-recipe").ok());
}

}  // namespace
}  // namespace r1
