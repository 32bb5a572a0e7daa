#include "grpo/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "rollout/rollout_reader.h"
#include "sft/sft_test_util.h"
#include "util/json.h"

namespace r1 {
namespace {

// A tiny random policy on a small arithmetic set, exercising the KL reference,
// μ > 1 (off-policy updates), truncation masking and the overlong penalty.
RLConfig tiny_job(const std::string& dir, const std::string& model) {
  std::string text = R"({"model_name_or_path": ")" + model + R"(", "output_dir": ")" + dir + R"(/run",
    "dataset": {"task": "arithmetic", "n": 12, "max_digits": 1},
    "reward": {"rewards": [{"checker": "math", "name": "accuracy"}, {"checker": "format_lenient", "weight": 0.5}]},
    "num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
    "num_iterations": 2, "beta": 0.04, "sync_ref_model": true, "ref_model_sync_steps": 2,
    "max_completion_length": 6, "overlong_buffer_length": 2, "mask_truncated_completions": true,
    "learning_rate": 1e-3, "lr_scheduler_type": "constant", "bf16": false, "max_steps": 4, "save_steps": 2,
    "logging_steps": 1, "seed": 6, "reward_workers": 1})";
  return value_or_throw(parse_rl_config(text, "tiny_job"));
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// metrics.jsonl of two runs equal line by line (timings aside).
void expect_same_metrics(const std::string& a_path, const std::string& b_path) {
  auto a = lines_of(a_path), b = lines_of(b_path);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    auto ja = value_or_throw(parse_json(a[i], "a")), jb = value_or_throw(parse_json(b[i], "b"));
    for (auto it = ja.MemberBegin(); it != ja.MemberEnd(); ++it) {
      std::string key = it->name.GetString();
      if (key.find("time") != std::string::npos || key.find("per_second") != std::string::npos) continue;
      ASSERT_TRUE(jb.HasMember(key.c_str())) << key;
      EXPECT_DOUBLE_EQ(it->value.GetDouble(), jb[key.c_str()].GetDouble()) << "line " << i << " " << key;
    }
  }
}

TEST(RLTrainer, RunsLogsAndCheckpoints) {
  std::string dir = sft_temp_dir("rl_run");
  RLConfig config = tiny_job(dir, write_tiny_model(dir, 1));
  auto result = run_rl(config, false, nullptr);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->global_step, 4);
  EXPECT_TRUE(std::filesystem::exists(result->model_dir + "/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/run/checkpoint-2/ref_model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/run/checkpoint-4/trainer_state.json"));

  auto metrics = lines_of(dir + "/run/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 4u);
  auto last = value_or_throw(parse_json(metrics.back(), "metrics"));
  for (const char* key : {"reward", "reward_std", "rewards/accuracy/mean", "rewards/format_lenient/mean", "kl",
                          "entropy", "clip_ratio/region_mean", "completions/clipped_ratio", "grad_norm", "step_time"})
    EXPECT_TRUE(last.HasMember(key)) << key;
  // Seed 6 lets some samples stop inside 6 tokens by the last generation, so
  // its loss (truncated samples are masked out) has tokens to take entropy of.
  EXPECT_GT(last["entropy"].GetDouble(), 0.0);
  EXPECT_GT(last["completions/clipped_ratio"].GetDouble(), 0.5);  // a random model rarely stops in 6 tokens

  // Two generations of 2 prompts × 4 samples, each consumed by two steps.
  RolloutReader reader = value_or_throw(RolloutReader::open(dir + "/run/rollouts.db"));
  auto steps = value_or_throw(reader.steps());
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].n, 8);
  EXPECT_EQ(steps[1].n, 0);
  EXPECT_EQ(steps[2].n, 8);
  auto rows = value_or_throw(reader.step_rollouts(3, RolloutOrder::kNatural));
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows[0].policy_version, 2);
  for (const StoredRollout& r : rows) {
    // DAPO's soft penalty over the last 2 of 6 tokens: 0 up to 4 tokens, then -0.5 per token.
    ASSERT_EQ(r.reward_components.size(), 3u);
    EXPECT_EQ(r.reward_components[2].first, "overlong_penalty");
    EXPECT_DOUBLE_EQ(r.reward_components[2].second, -0.5 * std::max<int64_t>(0, r.completion_tokens - 4));
    EXPECT_DOUBLE_EQ(r.total_reward, r.reward_components[0].second + 0.5 * r.reward_components[1].second +
                                         r.reward_components[2].second);
  }

  // A finished run does not start again over its checkpoints.
  auto again = run_rl(config, false, nullptr);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("pass --resume"), std::string::npos);
}

TEST(RLTrainer, ResumeRepeatsTheUninterruptedRun) {
  std::string dir = sft_temp_dir("rl_resume");
  std::string model = write_tiny_model(dir, 2);
  RLConfig full = tiny_job(dir + "/a", model);
  ASSERT_TRUE(run_rl(full, false, nullptr).ok());

  RLConfig part = tiny_job(dir + "/b", model);
  ASSERT_TRUE(run_rl(part, false, nullptr).ok());
  // Roll run b back to its step-2 checkpoint, as if killed during step 3.
  std::filesystem::remove_all(dir + "/b/run/checkpoint-4");
  auto resumed = run_rl(part, true, nullptr);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();

  expect_same_metrics(dir + "/a/run/metrics.jsonl", dir + "/b/run/metrics.jsonl");
  RolloutReader ra = value_or_throw(RolloutReader::open(dir + "/a/run/rollouts.db"));
  RolloutReader rb = value_or_throw(RolloutReader::open(dir + "/b/run/rollouts.db"));
  for (int64_t step = 1; step <= 4; ++step) {
    auto xa = value_or_throw(ra.step_rollouts(step, RolloutOrder::kNatural));
    auto xb = value_or_throw(rb.step_rollouts(step, RolloutOrder::kNatural));
    ASSERT_EQ(xa.size(), xb.size()) << "step " << step;
    for (size_t i = 0; i < xa.size(); ++i) {
      EXPECT_EQ(xa[i].completion, xb[i].completion);
      EXPECT_EQ(xa[i].advantage, xb[i].advantage);
    }
  }
  EXPECT_EQ(value_or_throw(rb.resumes()).size(), 1u);
}

// The trainer samples only through the worker it is given: this one wraps
// the local worker and keeps every request, each stamped with the weights
// version it must be sampled with.
class RecordingWorker : public RolloutWorker {
 public:
  RecordingWorker(const Transformer& policy, const Tokenizer& tokenizer, std::vector<RolloutRequest>* requests)
      : local_(policy, &tokenizer), requests_(requests) {}
  Result<RolloutResult> run(const RolloutRequest& request) override {
    requests_->push_back(request);
    return local_.run(request);
  }

 private:
  LocalRolloutWorker local_;
  std::vector<RolloutRequest>* requests_;
};

TEST(RLTrainer, SamplesThroughTheWorkerItIsGiven) {
  std::string dir = sft_temp_dir("rl_worker");
  RLConfig config = tiny_job(dir, write_tiny_model(dir, 4));
  std::vector<RolloutRequest> requests;
  auto result = run_rl(config, false, nullptr, [&](const Transformer& policy, const Tokenizer& tokenizer) {
    return std::make_unique<RecordingWorker>(policy, tokenizer, &requests);
  });
  ASSERT_TRUE(result.ok()) << result.status().message();
  // Two generations (steps 1 and 3), 2 prompts each, sampled by versions 0 and 2.
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].policy_version, 0);
  EXPECT_EQ(requests[1].policy_version, 2);
  EXPECT_EQ(requests[1].step, 3);
  EXPECT_EQ(requests[0].prompts.size(), 2u);
  EXPECT_NE(requests[0].sampling.seed, requests[1].sampling.seed);
  RolloutReader reader = value_or_throw(RolloutReader::open(dir + "/run/rollouts.db"));
  auto rows = value_or_throw(reader.step_rollouts(3, RolloutOrder::kNatural));
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows[0].prompt_index, requests[1].prompts[0].prompt_index);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// async_generation with no room for staleness (max_staleness 0, or 1 when a
// generation has two updates) samples each generation with the weights of
// its first update, on the background thread: the run equals the
// synchronous one.
TEST(RLTrainer, AsyncWithoutLagEqualsSync) {
  std::string dir = sft_temp_dir("rl_async_sync");
  std::string model = write_tiny_model(dir, 5);
  RLConfig sync = tiny_job(dir + "/sync", model);
  ASSERT_TRUE(run_rl(sync, false, nullptr).ok());
  for (int max_staleness : {0, 1}) {
    std::string name = "/async" + std::to_string(max_staleness);
    RLConfig async = tiny_job(dir + name, model);
    async.grpo.async_generation = true;
    async.grpo.max_staleness = max_staleness;
    ASSERT_EQ(async.grpo.generation_lag(2), 0);
    auto result = run_rl(async, false, nullptr);
    ASSERT_TRUE(result.ok()) << result.status().message();
    expect_same_metrics(dir + "/sync/run/metrics.jsonl", dir + name + "/run/metrics.jsonl");
    EXPECT_EQ(file_bytes(dir + "/sync/run/model/model.safetensors"),
              file_bytes(dir + name + "/run/model/model.safetensors"));
  }
}

// One update per generation and max_staleness 1: generation g + 1 is sampled
// with the weights generation g is trained from, and corrected for it.
RLConfig async_job(const std::string& dir, const std::string& model) {
  RLConfig c = tiny_job(dir, model);
  c.grpo.num_iterations = 1;
  c.grpo.gradient_accumulation_steps = 1;
  c.grpo.per_device_train_batch_size = 8;
  c.grpo.async_generation = true;
  c.grpo.max_staleness = 1;
  c.grpo.importance_sampling_mode = "token_mask";
  c.grpo.importance_sampling_clip_min = 0.5;  // IcePop's band
  c.grpo.importance_sampling_clip_max = 2.0;
  return c;
}

TEST(RLTrainer, AsyncSamplesAheadWithBoundedStaleness) {
  std::string dir = sft_temp_dir("rl_async");
  RLConfig config = async_job(dir, write_tiny_model(dir, 7));
  std::vector<RolloutRequest> requests;
  std::mutex mutex;  // the factory and the worker run on the sampling thread
  auto result = run_rl(config, false, nullptr, [&](const Transformer& policy, const Tokenizer& tokenizer) {
    std::lock_guard<std::mutex> lock(mutex);
    return std::make_unique<RecordingWorker>(policy, tokenizer, &requests);
  });
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->global_step, 4);
  ASSERT_EQ(requests.size(), 4u);
  const int64_t versions[] = {0, 0, 1, 2};
  for (int g = 0; g < 4; ++g) {
    EXPECT_EQ(requests[g].policy_version, versions[g]) << g;
    EXPECT_EQ(requests[g].step, g + 1) << g;
  }
  auto metrics = lines_of(dir + "/run/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 4u);
  for (size_t i = 0; i < metrics.size(); ++i) {
    auto m = value_or_throw(parse_json(metrics[i], "metrics"));
    EXPECT_EQ(m["staleness/max"].GetDouble(), i == 0 ? 0.0 : 1.0) << i;
    // The first generation is on-policy; the others carry the correction's metrics.
    EXPECT_EQ(m.HasMember("mismatch_kl"), i > 0) << i;
    if (i == 0) continue;
    EXPECT_GE(m["mismatch_kl"].GetDouble(), 0.0);
    EXPECT_GE(m["sampling/importance_sampling_ratio/min"].GetDouble(), 0.0);
    EXPECT_LE(m["sampling/importance_sampling_ratio/max"].GetDouble(), 2.0);
    EXPECT_GE(m["sampling/masked_fraction"].GetDouble(), 0.0);
    EXPECT_LE(m["sampling/masked_fraction"].GetDouble(), 1.0);
  }
  RolloutReader reader = value_or_throw(RolloutReader::open(dir + "/run/rollouts.db"));
  for (int64_t step = 1; step <= 4; ++step) {
    auto rows = value_or_throw(reader.step_rollouts(step, RolloutOrder::kNatural));
    ASSERT_EQ(rows.size(), 8u) << step;
    EXPECT_EQ(rows[0].policy_version, versions[step - 1]) << step;
  }
}

// A sequence whose importance weight the correction zeroes is out of the
// loss, and the store says why.
TEST(RLTrainer, AsyncRecordsSamplesTheCorrectionMasked) {
  std::string dir = sft_temp_dir("rl_async_masked");
  RLConfig config = async_job(dir, write_tiny_model(dir, 9));
  config.grpo.mask_truncated_completions = false;  // every sample has loss tokens
  config.grpo.importance_sampling_mode = "sequence_mask";
  config.grpo.importance_sampling_clip_min = 0.999;  // any sequence whose weights moved is masked
  config.grpo.importance_sampling_clip_max = 1.001;
  auto result = run_rl(config, false, nullptr);
  ASSERT_TRUE(result.ok()) << result.status().message();
  RolloutReader reader = value_or_throw(RolloutReader::open(dir + "/run/rollouts.db"));
  int64_t masked = 0;
  for (int64_t step = 1; step <= 4; ++step) {
    for (const StoredRollout& r : value_or_throw(reader.step_rollouts(step, RolloutOrder::kNatural))) {
      if (step == 1) {
        EXPECT_EQ(r.discard_reason, "") << "the first generation is on-policy";
      }
      masked += r.discard_reason == kDiscardIsMasked;
    }
  }
  EXPECT_GT(masked, 0);
  auto last = value_or_throw(parse_json(lines_of(dir + "/run/metrics.jsonl").back(), "metrics"));
  EXPECT_GT(last["sampling/masked_fraction"].GetDouble(), 0.0);
}

// A checkpoint holds the weights of the generation sampled ahead, so a
// resumed async run samples it again and ends as the uninterrupted one.
TEST(RLTrainer, AsyncResumeRepeatsTheUninterruptedRun) {
  std::string dir = sft_temp_dir("rl_async_resume");
  std::string model = write_tiny_model(dir, 8);
  ASSERT_TRUE(run_rl(async_job(dir + "/a", model), false, nullptr).ok());
  RLConfig part = async_job(dir + "/b", model);
  ASSERT_TRUE(run_rl(part, false, nullptr).ok());
  EXPECT_TRUE(std::filesystem::exists(dir + "/b/run/checkpoint-2/sampling_policy.generation_2.safetensors"));
  std::filesystem::remove_all(dir + "/b/run/checkpoint-4");
  auto resumed = run_rl(part, true, nullptr);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  expect_same_metrics(dir + "/a/run/metrics.jsonl", dir + "/b/run/metrics.jsonl");
  EXPECT_EQ(file_bytes(dir + "/a/run/model/model.safetensors"), file_bytes(dir + "/b/run/model/model.safetensors"));
}

TEST(RLTrainer, BadInputFailsBeforeTraining) {
  std::string dir = sft_temp_dir("rl_bad");
  std::string model = write_tiny_model(dir, 3);
  RLConfig config = tiny_job(dir, model);
  config.dataset = R"({"task": "arithmetic", "n": 1})";
  auto small = run_rl(config, false, nullptr);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("fewer than one generation batch"), std::string::npos);

  std::ofstream(dir + "/rows.jsonl") << R"({"prompt": "1+1?", "answer": "2"})" << "\n{broken\n";
  config.dataset = "\"" + dir + "/rows.jsonl\"";
  auto broken = run_rl(config, false, nullptr);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("rows.jsonl:2"), std::string::npos) << broken.status().message();

  config.dataset = R"({"task": "arithmetic", "n": 12})";
  config.reward = R"({"rewards": [{"checker": "countdown"}]})";  // arithmetic rows have no numbers/target
  auto wrong = run_rl(config, false, nullptr);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("numbers"), std::string::npos) << wrong.status().message();
  EXPECT_FALSE(std::filesystem::exists(dir + "/run/checkpoint-2"));
}

}  // namespace
}  // namespace r1
