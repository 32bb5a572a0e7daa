#include "pipelines/stages.h"

#include <gtest/gtest.h>

#include "util/json.h"

namespace r1 {
namespace {

std::string format(const std::string& type, const char* metrics) {
  return format_stage_metrics(type, value_or_throw(parse_json(metrics, "m")));
}

TEST(Stages, FormatsEachTypesMetrics) {
  EXPECT_EQ(format("eval", R"({"dataset": "gsm8k_test", "examples": 200, "samples": 1, "pass@1": 0.25})"),
            "pass@1 0.2500 on gsm8k_test (200)");
  EXPECT_EQ(format("eval", R"({"dataset": "d", "examples": 8, "samples": 4, "pass@1": 0.25, "maj@k": 0.5,
                               "pass@k": 0.75})"),
            "pass@1 0.2500 on d (8), maj@4 0.5000, pass@4 0.7500");
  EXPECT_EQ(format("rl", R"({"steps": 40, "reward_first": 0.1, "reward": 0.45})"), "steps 40, reward 0.100 -> 0.450");
  EXPECT_EQ(format("sample", R"({"prompts": 10, "generated": 40, "kept": 10, "kept_fraction": 0.25,
                                 "prompts_with_kept": 6})"),
            "kept 10 of 40 (25.0%), 6 of 10 prompts");
  EXPECT_EQ(format("pretrain-toy", R"({"parameters": 120000, "steps": 300, "loss": 0.14})"),
            "0.12M params, steps 300, loss 0.1400");
  EXPECT_EQ(format("distill", R"({"steps": 60, "loss": 1.0, "kl": 0.9})"), "steps 60, loss 1.0000, kl 0.9000");
}

TEST(Stages, NothingForAStageNotDone) {
  for (const char* type : {"pretrain-toy", "sft", "distill", "rl", "sample", "eval"}) EXPECT_EQ(format(type, "{}"), "");
}

}  // namespace
}  // namespace r1
