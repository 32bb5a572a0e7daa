#include "grpo/rl_config.h"

#include <gtest/gtest.h>

#include "grpo/rl_job.h"

namespace r1 {
namespace {

const std::string kBase = R"("model_name_or_path": "m", "output_dir": "out", "dataset": "countdown")";

Result<RLConfig> parse(const std::string& body, const std::vector<std::string>& overrides = {}) {
  return parse_rl_config("{" + body + "}", "rl.json", overrides);
}

std::string error_of(const std::string& body, const std::vector<std::string>& overrides = {}) {
  auto c = parse(body, overrides);
  return c.ok() ? "" : c.status().message();
}

TEST(RLConfig, PresetThenFileThenOverrides) {
  auto c = parse(kBase + R"(, "preset": "dr_grpo", "num_generations": 4, "beta": 0.01)",
                 {"learning_rate=1e-4", "run_name=demo", "dataset={\"task\": \"arithmetic\", \"n\": 10}"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->grpo.loss_type, "dr_grpo");  // from the preset
  EXPECT_EQ(c->grpo.scale_rewards, "none");
  EXPECT_EQ(c->grpo.num_generations, 4);    // the file wins over the preset
  EXPECT_DOUBLE_EQ(c->grpo.beta, 0.01);
  EXPECT_DOUBLE_EQ(c->grpo.learning_rate, 1e-4);  // overrides win over the file
  EXPECT_EQ(c->run_name, "demo");
  EXPECT_EQ(c->dataset, R"({"task":"arithmetic","n":10})");
}

TEST(RLConfig, SavedConfigLoadsBackTheSame) {
  auto c = parse(kBase + R"(, "preset": "dapo", "reward": {"rewards": [{"checker": "format"}]})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto again = parse_rl_config(c->to_json(), "saved");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->to_json(), c->to_json());
  EXPECT_EQ(again->grpo.epsilon_high, 0.28);
}

TEST(RLConfig, ErrorsNameTheKey) {
  EXPECT_NE(error_of(kBase + R"(, "num_generation": 4)").find("num_generation"), std::string::npos);
  EXPECT_NE(error_of(R"("output_dir": "o", "dataset": "countdown")").find("field 'model_name_or_path' is required"),
            std::string::npos);
  EXPECT_NE(error_of(kBase + R"(, "num_generations": 1)").find("num_generations"), std::string::npos);
  EXPECT_NE(error_of(kBase + R"(, "dataset": 3)").find("field 'dataset'"), std::string::npos);
  EXPECT_NE(error_of(kBase + R"(, "preset": "r2")").find("unknown GRPO preset 'r2'"), std::string::npos);
  EXPECT_NE(error_of(kBase, {"temperature=hot"}).find("temperature"), std::string::npos);
  EXPECT_NE(error_of(kBase + R"(, "chat_template": "jinja")").find("chat_template"), std::string::npos);
}

TEST(RLConfig, DeviceDtypeAndTheBf16Alias) {
  auto c = parse(kBase + R"(, "device": "cpu", "bf16": false)");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->grpo.compute.device, "cpu");
  EXPECT_EQ(c->grpo.compute.dtype, "float32");
  // The saved config names the dtype, and loads back the same.
  auto again = parse_rl_config(c->to_json(), "saved");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->grpo.compute.dtype, "float32");
  EXPECT_EQ(c->to_json().find("bf16"), std::string::npos);
  // --set means JSON, else a string: `run_name=none` is the string "none".
  auto named = parse(kBase, {"run_name=none", "save_total_limit=null"});
  ASSERT_TRUE(named.ok()) << named.status().message();
  EXPECT_EQ(named->run_name, "none");
  EXPECT_FALSE(named->grpo.save_total_limit.has_value());
}

TEST(RLPlan, TrlBatchArithmetic) {
  GRPOConfig g;
  g.num_generations = 4;
  g.per_device_train_batch_size = 8;
  g.gradient_accumulation_steps = 2;  // 16 completions per optimizer step
  g.steps_per_generation = 4;         // 32 completions per generation: 8 prompts, 2 updates per pass
  g.num_iterations = 3;
  g.max_steps = -1;
  g.num_train_epochs = 2;
  auto p = make_rl_plan(g, 20);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->prompts_per_generation, 8);
  EXPECT_EQ(p->updates_per_pass, 2);
  EXPECT_EQ(p->steps_per_generation, 6);
  EXPECT_TRUE(p->off_policy);
  EXPECT_EQ(p->total_steps, 6 * 6);  // ceil(2 epochs × 20 / 8) = 6 generations

  g.steps_per_generation = 3;
  EXPECT_NE(make_rl_plan(g, 20).status().message().find("steps_per_generation"), std::string::npos);
  g.steps_per_generation = 4;
  EXPECT_NE(make_rl_plan(g, 5).status().message().find("5 prompts, fewer than one generation batch"),
            std::string::npos);

  GRPOConfig on_policy;
  on_policy.max_steps = 7;
  auto q = make_rl_plan(on_policy, 100);
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->off_policy);
  EXPECT_EQ(q->total_steps, 7);
}

}  // namespace
}  // namespace r1
