#include "pipelines/stages.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "model/bpe_trainer.h"
#include "model/model_presets.h"
#include "model/transformer.h"
#include "pipelines/pipeline.h"
#include "util/file.h"
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
  EXPECT_EQ(format("rm", R"({"steps": 60, "loss": 0.01, "eval_loss": 0.02, "eval_accuracy": 0.95})"),
            "steps 60, loss 0.0100, eval_loss 0.0200, eval_accuracy 0.9500");
}

TEST(Stages, NothingForAStageNotDone) {
  for (const char* type : {"pretrain-toy", "sft", "distill", "rm", "rl", "on-policy-distill", "sample", "eval"})
    EXPECT_EQ(format(type, "{}"), "");
}

// A model folder whose embedding has fewer rows than its tokenizer has
// tokens: LibTorch's embedding lookup throws (c10::Error) on the first batch.
std::string write_small_vocab_model(const std::string& dir) {
  BpeTrainerOptions t;
  t.vocab_size = 256 + static_cast<int64_t>(t.special_tokens.size());
  throw_if_error(make_dirs(dir + "/tokenizer"));
  throw_if_error(write_tokenizer_files(dir + "/tokenizer", {}, t));
  ModelConfig c = value_or_throw(preset_config(ModelFamily::qwen2, "tiny"));
  c.num_hidden_layers = 1;
  c.vocab_size = 8;
  throw_if_error(Transformer::random(c, 1).save(dir + "/model", dir + "/tokenizer"));
  return dir + "/model";
}

TEST(Stages, ALibTorchErrorInsideAStageNamesTheStage) {
  std::string dir = ::testing::TempDir() + "/r1_stage_error_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::string model = write_small_vocab_model(dir);
  throw_if_error(write_file_atomic(dir + "/rows.jsonl", "{\"text\": \"zzzz zzzz\"}\n"));
  std::string recipe = R"({"stages": [{"name": "tune", "type": "sft", "config": {"model_name_or_path": ")" + model +
                       R"(", "train_file": ")" + dir + R"(/rows.jsonl", "max_steps": 1, "save_steps": 0,
                       "add_eos": false, "device": "cpu"}}]})";
  Recipe r = value_or_throw(parse_recipe(recipe, "t.json"));
  Result<PipelineReport> run = run_pipeline(r, dir + "/run", nullptr);
  ASSERT_FALSE(run.ok());
  const std::string& message = run.status().message();
  EXPECT_EQ(message.rfind("stage 'tune' (sft): t.json: stages[0].config: LibTorch error: ", 0), 0u) << message;
  EXPECT_NE(message.find("index out of range"), std::string::npos) << message;
  EXPECT_EQ(message.find("Exception raised from"), std::string::npos) << "no C++ backtrace: " << message;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace r1
