// Data-parallel learner steps: two real processes over loopback (c10d's
// TCPStore and Gloo, train/process_group.h) end with the weights one process
// reaches on the same global batch, for dapo, grpo and dr_grpo with a KL
// term and off-policy ratios (the clipped objective of num_iterations > 1),
// for dapo with activation checkpointing on the ranks (the gradients'
// buckets then start from the backward that recomputes each layer), and for
// dapo with the optimizer state sharded over the ranks (ZeRO stage 1,
// train/zero.h), whose checkpoint state must equal the unsharded one's.
//
// Bit for bit, not just close: AdamW turns a gradient at the rounding floor
// into a full-size step of either sign, so "equal within 1e-6" holds only
// when the sums are the same. They are when the one process runs two
// streams of one thread each: stream s sums the micro-batches rank s would
// run (the same split balanced by tokens), in the same order, and the two
// sums are added, which is what a two-rank all-reduce (one addition per
// element, and a + b == b + a) computes.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <fstream>

#include "grpo/learner.h"
#include "model/safetensors.h"
#include "model/test_models.h"
#include "train/train_test_util.h"
#include "train/zero.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

constexpr const char* kChild = "LearnerRanksChild.Rank";
constexpr int kSteps = 3;

Sample row(std::vector<int64_t> prompt, std::vector<int64_t> completion, double advantage) {
  std::vector<float> old;
  for (size_t t = 0; t < completion.size(); ++t) old.push_back(-3.0f - 0.1f * t);
  return {.prompt_ids = std::move(prompt), .token_ids = std::move(completion), .logprobs = old, .advantage = advantage};
}

std::vector<Sample> global_batch() {
  return {row({1, 2, 3}, {7, 8, 9, 10}, 1.0), row({1, 2, 3}, {7, 11}, -1.0), row({4, 5}, {12, 13, 14}, 0.5),
          row({4, 5}, {15}, -0.5),           row({6}, {16, 17}, 0.2),         row({6}, {18, 19, 20, 21, 22}, -0.2),
          row({9, 3}, {23}, 0.7)};
}

LearnerOptions options(const std::string& loss_type) {
  LearnerOptions o;
  o.use_sampling_logprobs = true;  // ratios != 1, so the clipped objective is exercised
  o.loss.loss_type = loss_type;
  o.loss.beta = 0.04;
  o.loss.max_completion_length = 8;
  o.micro_batch_size = 2;  // 4 micro-batches: rank 0 runs two, rank 1 two
  o.learning_rate = 1e-2;
  o.max_grad_norm = 0.5;   // clipping by the global norm is part of what must match
  return o;
}

struct Trained {
  at::Tensor weights;  // flattened
  TensorMap state;     // this rank's optimizer state
  TensorMap whole_state;  // train/zero.h checkpoint_optimizer_state (rank 0's holds every share)
};

// kSteps learner steps; `zero`: the optimizer state sharded over `group`.
Trained train(const std::string& loss_type, ProcessGroup* group, int streams, bool checkpointing = false,
              bool zero = false) {
  Transformer policy = tiny_random_model(32, 0.2, 3, /*trainable=*/true);
  policy.set_gradient_checkpointing(checkpointing);
  Transformer reference = tiny_random_model(32, 0.2, 4);
  AdamW optimizer(policy, with_zero_stage({}, zero ? 1 : 0, policy, group));
  LearnerOptions o = options(loss_type);
  o.group = group;
  o.streams = streams;
  for (int s = 0; s < kSteps; ++s) {
    auto stats = learner_step(policy, &reference, optimizer, global_batch(), o);
    EXPECT_TRUE(stats.ok()) << stats.status().message();
  }
  std::vector<at::Tensor> flat;
  for (const at::Tensor& p : policy.parameters()) flat.push_back(p.detach().reshape({-1}));
  Result<OptimizerCheckpoint> whole = checkpoint_optimizer_state(group, optimizer);
  EXPECT_TRUE(whole.ok()) << whole.status().message();
  return {at::cat(flat), optimizer.state_tensors(), whole.ok() ? whole->state : TensorMap()};
}

void save(const at::Tensor& t, const fs::path& path) {
  at::Tensor c = t.contiguous().to(at::kFloat);
  std::ofstream(path, std::ios::binary).write(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
}

at::Tensor load(const fs::path& path, int64_t n) {
  at::Tensor t = at::empty({n}, at::kFloat);
  std::ifstream(path, std::ios::binary).read(static_cast<char*>(t.data_ptr()), n * sizeof(float));
  return t;
}

// A rank started by the test below; its role is the loss type.
TEST(LearnerRanksChild, Rank) {
  if (!rank_role()) GTEST_SKIP() << "a rank started by the test below";
  ProcessInfo p = value_or_throw(read_process_info([](const char* n) { return std::getenv(n); }));
  // 16 KB buckets: the gradients travel in several, most started inside the
  // last micro-batch's backward (train/grad_buckets.h).
  auto group = value_or_throw(ProcessGroup::join(p, {60, "auto", 16.0 / 1024}));
  at::set_num_threads(1);  // as one stream of the two-stream process
  // "<loss type>", "<loss type>+checkpointing" (the gradients' buckets then
  // start from inside the recomputing backward) or "<loss type>+zero".
  std::string role = rank_role(), loss_type = role.substr(0, role.find('+'));
  const bool zero = role == loss_type + "+zero";
  Trained t = train(loss_type, group.get(), 1, role == loss_type + "+checkpointing", zero);
  const std::string rank = std::to_string(p.rank);
  save(t.weights, rank_dir() / ("weights" + rank));
  if (zero) {
    ASSERT_TRUE(save_safetensors((rank_dir() / ("state" + rank + ".safetensors")).string(), t.state).ok());
    if (p.rank == 0) {
      ASSERT_TRUE(save_safetensors((rank_dir() / "whole_state.safetensors").string(), t.whole_state).ok());
    }
  }
  // One micro-batch cannot be split over two ranks: refused on each rank
  // before any collective, so neither waits for the other.
  Transformer policy = tiny_random_model(32, 0.2, 3, /*trainable=*/true);
  LearnerOptions o = options("dapo");
  o.loss.beta = 0;
  o.micro_batch_size = 7;
  o.group = group.get();
  EXPECT_EQ(accumulate_policy_gradients(policy, nullptr, global_batch(), o).status().message(),
            "the step's 1 micro-batches cannot be split over 2 ranks: every rank needs at least one (lower "
            "per_device_train_batch_size)");
}

TEST(LearnerRanks, TwoRanksReachOneProcesssWeights) {
  for (std::string role : {"dapo", "grpo", "dr_grpo", "dapo+checkpointing", "dapo+zero"}) {
    SCOPED_TRACE(role);
    fs::path dir = run_two_ranks("learner_ranks_" + role, role, kChild);
    if (HasFailure()) return;
    int threads = at::get_num_threads();
    at::set_num_threads(2);  // two streams of one thread each
    Trained alone = train(role.substr(0, role.find('+')), nullptr, 2);  // unsharded, without checkpointing
    at::set_num_threads(threads);
    for (int rank : {0, 1}) {
      at::Tensor ranked = load(dir / ("weights" + std::to_string(rank)), alone.weights.numel());
      EXPECT_TRUE(at::equal(ranked, alone.weights))
          << "rank " << rank << ": largest difference " << (ranked - alone.weights).abs().max().item<double>();
    }
    if (role != "dapo+zero") continue;
    // Each rank kept a share of the state (disjoint, together all of it, each
    // a good part); rank 0's checkpoint state is the unsharded optimizer's.
    TensorMap shares[2];
    int64_t elements[2] = {0, 0}, total = 0;
    for (int rank : {0, 1}) {
      auto file = load_safetensors((dir / ("state" + std::to_string(rank) + ".safetensors")).string());
      ASSERT_TRUE(file.ok()) << file.status().message();
      shares[rank] = file->tensors;
      for (const auto& [name, t] : shares[rank]) elements[rank] += t.numel();
    }
    for (const auto& [name, t] : alone.state) {
      total += t.numel();
      EXPECT_NE(shares[0].count(name), shares[1].count(name)) << name << " must be in exactly one share";
    }
    EXPECT_EQ(shares[0].size() + shares[1].size(), alone.state.size());
    for (int rank : {0, 1}) EXPECT_GT(elements[rank], total / 4) << "rank " << rank << " holds too little";
    auto whole = load_safetensors((dir / "whole_state.safetensors").string());
    ASSERT_TRUE(whole.ok()) << whole.status().message();
    ASSERT_EQ(whole->tensors.size(), alone.state.size());
    for (const auto& [name, t] : alone.state) {
      ASSERT_TRUE(whole->tensors.count(name)) << name;
      EXPECT_TRUE(at::equal(whole->tensors.at(name), t)) << name;
    }
  }
}

}  // namespace
}  // namespace r1
