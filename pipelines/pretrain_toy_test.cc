#include "pipelines/pretrain_toy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/file.h"
#include "util/json.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

Result<PretrainToyConfig> parse(const std::string& text) {
  rapidjson::Document doc = value_or_throw(parse_json(text, "t"));
  return parse_pretrain_toy_config(doc, "stage");
}

TEST(PretrainToy, ParsesAndFillsTheSftPaths) {
  PretrainToyConfig c = value_or_throw(parse(R"({"corpus": {"task": "countdown", "n": 30, "max_number": 9},
      "preset": "tiny", "num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2, "num_key_value_heads": 1,
      "tokenizer_vocab": 300, "seed": 3, "sft": {"learning_rate": 0.003, "max_steps": 7}, "output_dir": "/r/base"})"));
  EXPECT_EQ(c.corpus->task, "countdown");
  EXPECT_EQ(c.corpus->max_number, 9);
  EXPECT_EQ(c.sft.model_name_or_path, "/r/base/init");
  EXPECT_EQ(c.sft.train_file, "/r/base/corpus.jsonl");
  EXPECT_EQ(c.sft.output_dir, "/r/base");
  EXPECT_EQ(c.sft.max_steps, 7);
  ModelConfig m = value_or_throw(c.model_config());
  EXPECT_EQ(m.num_hidden_layers, 1);
  EXPECT_EQ(m.hidden_size, 32);
  EXPECT_EQ(m.head_dim, 16);
  EXPECT_EQ(m.num_key_value_heads, 1);
  EXPECT_EQ(m.intermediate_size, 176);  // the preset's
  // The stage's sft object is what differs from SFT's defaults.
  EXPECT_NE(pretrain_toy_config_fields().to_json(c).find(R"("sft":{"learning_rate":0.003,"max_steps":7})"),
            std::string::npos);
}

TEST(PretrainToy, DeviceAndDtypeAreTheStagesOwnKeys) {
  PretrainToyConfig c = value_or_throw(parse(R"({"corpus": {"task": "countdown"}, "output_dir": "/r/base",
      "device": "cpu", "dtype": "bfloat16"})"));
  EXPECT_EQ(c.sft.compute.device, "cpu");
  EXPECT_EQ(c.sft.compute.dtype, "bfloat16");
}

TEST(PretrainToy, ErrorsNameTheKey) {
  auto error = [](const std::string& text) { return parse(text).status().message(); };
  // Required keys are the table's check since ConfigFields::required(): its
  // message says what the key is from its help (was "(a task object)").
  EXPECT_EQ(error(R"({"output_dir": "o"})"),
            "stage: field 'corpus' is required: the train-split problems to pretrain on: {\"task\": \"arithmetic\" "
            "| \"countdown\", \"n\": ..., task keys as in docs/data.md}");
  // Unknown keys read as in every config since the field table (was a list of the known keys).
  EXPECT_EQ(error(R"({"corpus": {"task": "arithmetic"}, "output_dir": "o", "layers": 2})"),
            "stage: unknown key 'layers'");
  EXPECT_EQ(error(R"({"corpus": {"task": "arithmetic", "split": "heldout"}, "output_dir": "o"})"),
            "stage: corpus.split: the pretraining corpus is always the train split");
  EXPECT_EQ(error(R"({"corpus": {"task": "arithmetic"}, "output_dir": "o", "sft": {"output_dir": "x"}})"),
            "stage: sft.output_dir: set by the stage (init/, corpus.jsonl, the stage folder)");
  EXPECT_EQ(error(R"({"corpus": {"task": "arithmetic"}, "output_dir": "o", "hidden_size": 66})"),
            "stage: field 'hidden_size' (66) must be a multiple of 'num_attention_heads' (4)");
  EXPECT_EQ(error(R"({"corpus": {"task": "arithmetic"}, "output_dir": "o", "hidden_size": 60})"),
            "stage: hidden_size / num_attention_heads = 15 must be even (RoPE)");
  EXPECT_EQ(error(R"({"corpus": {"task": "arithmetic"}, "output_dir": "o", "sft": {"max_step": 3}})"),
            "stage: sft: unknown key 'max_step' (did you mean 'max_steps'?)");
  EXPECT_EQ(error(R"({"corpus": {"task": "arithmetic"}, "output_dir": "o", "sft": {"dtype": "bfloat16"}})"),
            "stage: sft.dtype: give it as the stage's own 'dtype' key");
  EXPECT_NE(error(R"({"corpus": {"task": "arithmetic", "ops": "/"}, "output_dir": "o"})").find("corpus"),
            std::string::npos);
}

std::string read(const fs::path& p) { return value_or_throw(read_file(p.string())); }

// A run writes corpus, init and model; a second run resumes from the final
// checkpoint and leaves the same model.
TEST(PretrainToy, RunsAndResumes) {
  fs::path dir = fs::temp_directory_path() / ("r1_pretrain_toy_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  PretrainToyConfig c = value_or_throw(parse(R"({"corpus": {"task": "arithmetic", "n": 24, "max_digits": 1},
      "num_hidden_layers": 1, "tokenizer_vocab": 280, "seed": 1,
      "sft": {"learning_rate": 0.003, "max_steps": 4, "per_device_train_batch_size": 4, "save_steps": 2,
              "logging_steps": 1}, "output_dir": ")" + dir.string() + "\"}"));
  PretrainToyResult first = value_or_throw(run_pretrain_toy(c, nullptr));
  EXPECT_EQ(first.corpus_texts, 24);
  EXPECT_EQ(first.steps, 4);
  EXPECT_GT(first.parameters, 0);
  EXPECT_TRUE(fs::exists(dir / "init" / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(dir / "checkpoint-4"));
  std::string weights = read(dir / "model" / "model.safetensors");
  std::string init = read(dir / "init" / "model.safetensors");
  EXPECT_NE(weights, init);  // trained

  PretrainToyResult again = value_or_throw(run_pretrain_toy(c, nullptr));
  EXPECT_EQ(again.steps, 4);
  EXPECT_EQ(read(dir / "model" / "model.safetensors"), weights);
  EXPECT_EQ(read(dir / "init" / "model.safetensors"), init);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace r1
