#include "grpo/grpo_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace r1 {
namespace {

Result<GRPOConfig> from_json(const std::string& text, GRPOConfig base = {}) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, "cfg.json"));
  R1_RETURN_IF_ERROR(grpo_config_fields().apply_json(base, doc, "cfg.json"));
  R1_RETURN_IF_ERROR(base.validate());
  return base;
}

std::string error_of(const Result<GRPOConfig>& r) { return r.ok() ? "ok" : r.status().message(); }

TEST(GRPOConfig, DefaultsAreTrlDefaultsAndValid) {
  GRPOConfig c;
  EXPECT_TRUE(c.validate().ok());
  EXPECT_EQ(c.num_generations, 8);
  EXPECT_EQ(c.loss_type, "dapo");
  EXPECT_EQ(c.scale_rewards, "group");
  EXPECT_DOUBLE_EQ(c.beta, 0.0);
  EXPECT_DOUBLE_EQ(c.learning_rate, 1e-6);
  EXPECT_FALSE(c.epsilon_high.has_value());
  EXPECT_EQ(c.resolved_steps_per_generation(), 1);
  EXPECT_EQ(c.resolved_generation_batch_size(), 8);
  EXPECT_EQ(c.compute.dtype, "auto");  // bfloat16 for rl, as TRL's bf16=True
  EXPECT_FALSE(c.gradient_checkpointing);
}

TEST(GRPOConfig, JsonSetsTypedValues) {
  auto c = from_json(R"({"beta": 0.04, "num_generations": 4, "epsilon_high": 0.28, "loss_type": "grpo",
                         "mask_truncated_completions": true, "save_total_limit": 3, "min_p": null})");
  ASSERT_TRUE(c.ok()) << error_of(c);
  EXPECT_DOUBLE_EQ(c->beta, 0.04);
  EXPECT_EQ(c->num_generations, 4);
  EXPECT_DOUBLE_EQ(*c->epsilon_high, 0.28);
  EXPECT_EQ(c->loss_type, "grpo");
  EXPECT_TRUE(c->mask_truncated_completions);
  EXPECT_EQ(*c->save_total_limit, 3);
  EXPECT_FALSE(c->min_p.has_value());
}

TEST(GRPOConfig, UnknownKeySuggestsNearest) {
  EXPECT_EQ(error_of(from_json(R"({"num_generation": 4})")),
            "cfg.json: unknown key 'num_generation' (did you mean 'num_generations'?)");
  EXPECT_EQ(error_of(from_json(R"({"espilon": 0.1})")), "cfg.json: unknown key 'espilon' (did you mean 'epsilon'?)");
  EXPECT_EQ(error_of(from_json(R"({"completely_unrelated_setting": 1})")),
            "cfg.json: unknown key 'completely_unrelated_setting'");
}

TEST(GRPOConfig, GradientCheckpointingIsABool) {
  EXPECT_TRUE(from_json(R"({"gradient_checkpointing": true})")->gradient_checkpointing);
  EXPECT_NE(error_of(from_json(R"({"gradient_checkpointing": 1})")).find("gradient_checkpointing"), std::string::npos);
  EXPECT_FALSE(GRPOConfig{}.gradient_checkpointing);
}

TEST(GRPOConfig, WrongTypesNameTheKey) {
  EXPECT_EQ(error_of(from_json(R"({"num_generations": "8"})")), "cfg.json: field 'num_generations' must be an integer");
  EXPECT_EQ(error_of(from_json(R"({"num_generations": 2.5})")), "cfg.json: field 'num_generations' must be an integer");
  EXPECT_EQ(error_of(from_json(R"({"beta": true})")), "cfg.json: field 'beta' must be a number");
  EXPECT_EQ(error_of(from_json(R"({"bf16": 1})")), "cfg.json: field 'bf16' must be true or false");
  EXPECT_EQ(error_of(from_json(R"({"loss_type": 3})")), "cfg.json: field 'loss_type' must be a string");
  EXPECT_EQ(error_of(from_json(R"({"epsilon": null})")), "cfg.json: field 'epsilon' may not be null");
  // One wording for every config since the field table (was "expected a JSON object of GRPO settings").
  EXPECT_EQ(error_of(from_json(R"([1, 2])")), "cfg.json: the GRPO settings must be a JSON object");
}

TEST(GRPOConfig, InvalidValuesNameTheKey) {
  EXPECT_EQ(error_of(from_json(R"({"epsilon": -0.1})")), "field 'epsilon' must be >= 0, got -0.1");
  EXPECT_EQ(error_of(from_json(R"({"num_generations": 1})")),
            "field 'num_generations' must be >= 2 (GRPO needs a group), got 1");
  EXPECT_EQ(error_of(from_json(R"({"loss_type": "ppo"})")),
            "field 'loss_type' must be one of 'bnpo', 'dapo', 'dr_grpo', 'grpo', got 'ppo'");
  EXPECT_EQ(error_of(from_json(R"({"scale_rewards": "prompt"})")),
            "field 'scale_rewards' must be one of 'group', 'batch', 'none', got 'prompt'");
  EXPECT_EQ(error_of(from_json(R"({"top_p": 0})")), "field 'top_p' must be in (0, 1], got 0");
  EXPECT_EQ(error_of(from_json(R"({"warmup_steps": 2.5})")),
            "field 'warmup_steps' must be a ratio in [0, 1) or a whole number of steps, got 2.5");
  EXPECT_EQ(error_of(from_json(R"({"overlong_buffer_length": 600, "max_completion_length": 512})")),
            "field 'overlong_buffer_length' must be in [0, max_completion_length), got 600");
  EXPECT_EQ(error_of(from_json(R"({"ddp_backend": "mpi"})")),
            "field 'ddp_backend' must be one of 'auto', 'gloo', 'nccl', got 'mpi'");
  EXPECT_EQ(error_of(from_json(R"({"ddp_bucket_cap_mb": 0})")), "field 'ddp_bucket_cap_mb' must be > 0, got 0");
}

TEST(GRPOConfig, BatchingRulesFollowTrl) {
  EXPECT_EQ(error_of(from_json(R"({"generation_batch_size": 16, "steps_per_generation": 2})")),
            "field 'generation_batch_size' and 'steps_per_generation' cannot both be set");
  EXPECT_EQ(error_of(from_json(R"({"generation_batch_size": 12, "per_device_train_batch_size": 8})")),
            "field 'generation_batch_size' must be a positive multiple of per_device_train_batch_size (8), got 12");
  EXPECT_EQ(error_of(from_json(R"({"per_device_train_batch_size": 6})")),
            "field 'generation_batch_size' (6) must be divisible by num_generations (8)");
  auto c = from_json(R"({"per_device_train_batch_size": 4, "generation_batch_size": 32})");
  ASSERT_TRUE(c.ok()) << error_of(c);
  EXPECT_EQ(c->resolved_steps_per_generation(), 8);
  c = from_json(R"({"per_device_train_batch_size": 4, "gradient_accumulation_steps": 4})");
  ASSERT_TRUE(c.ok()) << error_of(c);
  EXPECT_EQ(c->resolved_steps_per_generation(), 4);
  EXPECT_EQ(c->resolved_generation_batch_size(), 16);
}

TEST(GRPOConfig, AsyncGenerationLagKeepsStalenessWithinTheBound) {
  GRPOConfig c;
  EXPECT_EQ(c.generation_lag(1), 0);  // synchronous unless asked
  c.async_generation = true;
  c.max_staleness = 0;
  EXPECT_EQ(c.generation_lag(1), 0);
  c.max_staleness = 1;
  EXPECT_EQ(c.generation_lag(1), 1);  // the last update lags (1 + 1) * 1 - 1 = 1 step
  EXPECT_EQ(c.generation_lag(2), 0);  // a lag of one generation would reach 3
  c.max_staleness = 3;
  EXPECT_EQ(c.generation_lag(2), 1);
  c.max_staleness = 4;
  EXPECT_EQ(c.generation_lag(1), 4);
  EXPECT_EQ(c.generation_lag(4), 0);
}

TEST(GRPOConfig, AsyncSettingsAreChecked) {
  EXPECT_NE(error_of(from_json(R"({"async_generation": true, "epsilon_high": 5.0})")).find(
                "field 'async_generation' needs a clipped loss"),
            std::string::npos);
  EXPECT_NE(error_of(from_json(R"({"async_generation": true, "max_staleness": -1})"))
                .find("field 'max_staleness' must be >= 0"),
            std::string::npos);
  EXPECT_NE(error_of(from_json(R"({"async_generation": true, "importance_sampling_mode": "icepop"})")).find(
                "field 'importance_sampling_mode' must be one of"),
            std::string::npos);
  EXPECT_NE(error_of(from_json(R"({"async_generation": true, "importance_sampling_clip_min": 2.0, )"
                               R"("importance_sampling_clip_max": 1.5})"))
                .find("field 'importance_sampling_clip_max' must be > importance_sampling_clip_min"),
            std::string::npos);
  EXPECT_NE(error_of(from_json(R"({"importance_sampling_mode": "token_mask"})"))
                .find("field 'importance_sampling_mode' takes effect only with async_generation: true"),
            std::string::npos);
  auto ok = from_json(R"({"async_generation": true, "max_staleness": 2, "importance_sampling_mode": "token_mask",
                          "importance_sampling_clip_min": 0.5, "importance_sampling_clip_max": 2.0})");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->importance_sampling_mode, "token_mask");
}

TEST(GRPOConfig, OverridesUseTheSameChecks) {
  GRPOConfig c;
  auto set = [&](const char* assignment) { return grpo_config_fields().apply_override(c, assignment); };
  ASSERT_TRUE(set("beta=0.001").ok());
  ASSERT_TRUE(set("epsilon_high=0.28").ok());
  ASSERT_TRUE(set("bf16=false").ok());
  ASSERT_TRUE(set("loss_type=bnpo").ok());
  EXPECT_DOUBLE_EQ(c.beta, 0.001);
  EXPECT_DOUBLE_EQ(*c.epsilon_high, 0.28);
  EXPECT_EQ(c.compute.dtype, "float32");  // bf16=false
  EXPECT_EQ(c.loss_type, "bnpo");
  ASSERT_TRUE(set("epsilon_high=null").ok());
  EXPECT_FALSE(c.epsilon_high.has_value());
  EXPECT_EQ(set("betta=1").message(), "override 'betta=1': unknown key 'betta' (did you mean 'beta'?)");
  EXPECT_EQ(set("beta=abc").message(), "override 'beta=abc': field 'beta' must be a number");
  EXPECT_EQ(set("top_k=1.5").message(), "override 'top_k=1.5': field 'top_k' must be an integer");
  EXPECT_EQ(set("beta").message(), "override 'beta': expected key=value");
  // A value is JSON, else a string, in every command: "none" is not null.
  EXPECT_EQ(set("epsilon_high=none").message(),
            "override 'epsilon_high=none': field 'epsilon_high' must be a number or null");
  ASSERT_TRUE(set("epsilon=-1").ok());  // parsed; the range check is validate()'s
  EXPECT_EQ(c.validate().message(), "field 'epsilon' must be >= 0, got -1");
}

TEST(GRPOConfig, Bf16IsAnAliasOfDtype) {
  auto c = from_json(R"({"bf16": true})");
  ASSERT_TRUE(c.ok()) << error_of(c);
  EXPECT_EQ(c->compute.dtype, "bfloat16");
  EXPECT_EQ(from_json(R"({"bf16": true, "dtype": "float32"})")->compute.dtype, "float32");  // the later key wins
  EXPECT_EQ(error_of(from_json(R"({"dtype": "float16"})")),
            "field 'dtype' must be auto, float32 or bfloat16 for training (float16 would need a loss scaler)");
  EXPECT_EQ(error_of(from_json(R"({"dtype": "fp32"})")),
            "cfg.json: field 'dtype': must be auto, float32, bfloat16 or float16, got 'fp32'");
  EXPECT_EQ(error_of(from_json(R"({"device": "gpu"})")),
            "cfg.json: field 'device': must be cpu, cuda, cuda:N or auto, got 'gpu'");
  // The alias is read, never written: the saved config names the dtype.
  auto doc = parse_json(c->to_json(), "to_json");
  ASSERT_TRUE(doc.ok());
  EXPECT_FALSE(doc->HasMember("bf16"));
  EXPECT_STREQ((*doc)["dtype"].GetString(), "bfloat16");
}

TEST(GRPOConfig, ToJsonRoundTripsEveryKey) {
  auto preset = grpo_config_preset("dapo");
  ASSERT_TRUE(preset.ok());
  GRPOConfig c = *preset;
  c.save_total_limit = 2;
  c.seed = 7;
  std::string text = c.to_json();
  auto doc = parse_json(text, "to_json");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->MemberCount(), grpo_config_keys().size());
  auto back = from_json(text, GRPOConfig{});
  ASSERT_TRUE(back.ok()) << error_of(back);
  EXPECT_EQ(back->to_json(), text);
  EXPECT_DOUBLE_EQ(*back->epsilon_high, 0.28);
  EXPECT_EQ(*back->save_total_limit, 2);
  EXPECT_EQ(back->seed, 7);
}

TEST(GRPOConfig, PresetsAreValidAndDistinct) {
  for (const auto& name : grpo_config_preset_names()) {
    auto c = grpo_config_preset(name);
    ASSERT_TRUE(c.ok()) << name;
    EXPECT_TRUE(c->validate().ok()) << name << ": " << c->validate().message();
  }
  auto r1 = *grpo_config_preset("r1_zero");
  EXPECT_DOUBLE_EQ(r1.beta, 0.001);
  EXPECT_DOUBLE_EQ(r1.learning_rate, 3e-6);
  EXPECT_EQ(r1.num_generations, 16);
  EXPECT_EQ(r1.per_device_train_batch_size * r1.gradient_accumulation_steps, 512);
  EXPECT_EQ(r1.resolved_generation_batch_size(), 16 * 512);  // 16 optimizer steps per rollout batch
  EXPECT_EQ(r1.ref_model_sync_steps, 400);
  auto dapo = *grpo_config_preset("dapo");
  EXPECT_EQ(dapo.loss_type, "dapo");
  EXPECT_TRUE(dapo.dynamic_sampling);
  EXPECT_GT(*dapo.epsilon_high, dapo.epsilon);
  EXPECT_EQ(dapo.resolved_generation_batch_size(), 512 * 16);
  auto dr = *grpo_config_preset("dr_grpo");
  EXPECT_EQ(dr.loss_type, "dr_grpo");
  EXPECT_EQ(dr.scale_rewards, "none");
  EXPECT_EQ(grpo_config_preset("r1").status().message(),
            "unknown GRPO preset 'r1' (known: dapo, default, dr_grpo, r1_zero)");
}

TEST(GRPOConfig, LoadAppliesPresetFileThenOverrides) {
  auto path = (std::filesystem::temp_directory_path() / "r1_grpo_config_test.json").string();
  std::ofstream(path) << R"({"beta": 0.01, "num_generations": 4})";
  auto c = load_grpo_config("r1_zero", path, {"beta=0.02"});
  ASSERT_TRUE(c.ok()) << error_of(c);
  EXPECT_DOUBLE_EQ(c->beta, 0.02);
  EXPECT_EQ(c->num_generations, 4);
  EXPECT_DOUBLE_EQ(c->learning_rate, 3e-6);
  auto bad = load_grpo_config("default", path, {"num_generations=1"});
  EXPECT_EQ(error_of(bad), "GRPO config: field 'num_generations' must be >= 2 (GRPO needs a group), got 1");
  std::ofstream(path) << R"({"num_generatoins": 4})";
  EXPECT_EQ(error_of(load_grpo_config("default", path, {})),
            path + ": unknown key 'num_generatoins' (did you mean 'num_generations'?)");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace r1
