// Reward-model training (`r1 rm train`, TRL's RewardTrainer): the
// Bradley-Terry loss over preference pairs (reward/preference_loss.h) on a
// *ForSequenceClassification model, run by the shared trainer loop
// (train/trainer_loop.h). Starting from a causal LM replaces its LM head
// with a fresh one-label score head, as AutoModelForSequenceClassification
// does. Logged per step, with TRL's names: loss, accuracy (share of pairs
// whose chosen side scores higher), margin (mean r_chosen - r_rejected) and
// mean_reward; held out: the same with eval_ in front, and eval_pairs.
#pragma once

#include <cstdio>
#include <vector>

#include "model/transformer.h"
#include "reward/preference_data.h"
#include "reward/preference_loss.h"
#include "reward/reward_config.h"
#include "train/trainer_loop.h"

namespace r1 {

// `model` as a reward model: unchanged when it already is one (an error if
// it has other than one label); a causal LM gets a score head [1, hidden]
// drawn from N(0, initializer_range) with `seed`, and pad_token_id = its
// first eos id when it has none (transformers pools by it).
Result<Transformer> as_reward_model(Transformer model, uint64_t seed);

// Held-out metrics of `pairs` (no gradients), in batches of `batch_size` pairs.
Metrics evaluate_pairs(const Transformer& model, const std::vector<PreferencePair>& pairs, int64_t batch_size,
                       const PreferenceLossOptions& options);

Result<TrainerLoopResult> run_reward_training(const RewardConfig& config, bool resume, std::FILE* log);

}  // namespace r1
