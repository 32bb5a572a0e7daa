#include "reward/reward_trainer.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <memory>

#include "data/prompt_set.h"
#include "reward/reward_model.h"

namespace r1 {

namespace {

// Chosen sides, then rejected sides, of `pairs`, as one right-padded batch.
TokenBatch pair_batch(const std::vector<const PreferencePair*>& pairs, at::Device device) {
  std::vector<std::vector<int64_t>> sequences;
  for (const PreferencePair* p : pairs) sequences.push_back(p->chosen);
  for (const PreferencePair* p : pairs) sequences.push_back(p->rejected);
  return make_token_batch(sequences, device);
}

at::Tensor pair_margins(const std::vector<const PreferencePair*>& pairs, at::Device device) {
  if (pairs.empty() || !pairs.front()->margin) return at::Tensor();
  std::vector<double> margins;
  for (const PreferencePair* p : pairs) margins.push_back(*p->margin);
  return at::tensor(margins, at::kDouble).to(device, at::kFloat);
}

// Per-pair losses and the sums the metrics need: [loss, correct, margin,
// reward] summed over the micro-batch's pairs (rewards over both sides / 2).
struct PairTerms {
  at::Tensor losses;  // [P]
  at::Tensor sums;    // [4]
};

PairTerms pair_terms(const Transformer& model, const std::vector<const PreferencePair*>& pairs,
                     const PreferenceLossOptions& options) {
  int64_t P = static_cast<int64_t>(pairs.size());
  at::Tensor scores = reward_model_scores(model, pair_batch(pairs, model.device()));  // [2P]
  at::Tensor chosen = scores.narrow(0, 0, P), rejected = scores.narrow(0, P, P);
  at::Tensor losses = preference_pair_losses(chosen, rejected, pair_margins(pairs, model.device()), options);
  at::Tensor c = chosen.detach().to(at::kDouble), r = rejected.detach().to(at::kDouble);
  at::Tensor sums = at::stack({losses.detach().to(at::kDouble).sum(), (c > r).to(at::kDouble).sum(), (c - r).sum(),
                               (c + r).sum() / 2});
  return {losses, sums};
}

PreferenceLossOptions loss_options(const RewardConfig& c) {
  return {.center_rewards_coefficient = c.center_rewards_coefficient.value_or(0.0)};
}

class RewardObjective : public TrainingObjective {
 public:
  static Result<std::unique_ptr<TrainingObjective>> make(const RewardConfig& c, const Transformer& model,
                                                         std::FILE* log) {
    R1_RETURN_IF_ERROR(check_reward_model(model, c.model_name_or_path));
    auto o = std::make_unique<RewardObjective>(c);
    R1_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::load(c.model_name_or_path));
    PreferenceDataOptions data;
    data.max_length = c.max_length;
    data.vocab_size = model.config().vocab_size;
    // Plain-text pairs need no template: a tokenizer without one is an error
    // only when a conversational row asks for it.
    auto tmpl = resolve_chat_template(c.chat_template, tok);
    if (tmpl.ok()) {
      data.chat_template = *tmpl;
    } else if (c.chat_template != "auto") {
      return tmpl.status();
    }
    data.eos_id = eos_id(model.config());
    R1_ASSIGN_OR_RETURN(o->train_, load(c.train_file, tok, data, log));
    if (!c.eval_file.empty()) {
      R1_ASSIGN_OR_RETURN(o->eval_, load(c.eval_file, tok, data, log));
    }
    return std::unique_ptr<TrainingObjective>(std::move(o));
  }

  explicit RewardObjective(const RewardConfig& c) : config_(c) {}

  int64_t num_rows() const override { return static_cast<int64_t>(train_.size()); }

  Result<StepOutcome> accumulate(const Transformer& model, const std::vector<std::vector<int64_t>>& micro_batches,
                                 const MicroBatchOptions& split) override {
    std::vector<std::vector<const PreferencePair*>> batches;
    StepOutcome out;
    int64_t pairs = 0;
    std::vector<int64_t> costs;  // tokens per micro-batch
    for (const auto& indices : micro_batches) {
      batches.emplace_back();
      costs.push_back(0);
      for (int64_t i : indices) {
        batches.back().push_back(&train_[i]);
        costs.back() += static_cast<int64_t>(train_[i].chosen.size() + train_[i].rejected.size());
      }
      out.tokens += static_cast<double>(costs.back());
      pairs += static_cast<int64_t>(indices.size());
    }
    const double denom = static_cast<double>(std::max<int64_t>(1, pairs));
    const PreferenceLossOptions options = loss_options(config_);
    // The step's loss is the mean over all its pairs, whatever the split.
    auto run = [&](int64_t m) {
      PairTerms t = pair_terms(model, batches[m], options);
      return MicroBatchLoss{.loss = t.losses.sum() / denom, .stats = t.sums};
    };
    R1_ASSIGN_OR_RETURN(at::Tensor sums, accumulate_micro_batches(model.parameters(), costs, 4, run, split));
    out.loss = sums[0].item<double>() / denom;
    out.metrics = {{"accuracy", sums[1].item<double>() / denom},
                   {"margin", sums[2].item<double>() / denom},
                   {"mean_reward", sums[3].item<double>() / denom}};
    return out;
  }

  Result<Metrics> evaluate(const Transformer& model) override {
    if (eval_.empty()) return Metrics();
    return evaluate_pairs(model, eval_, config_.per_device_eval_batch_size, loss_options(config_));
  }

 private:
  static Result<std::vector<PreferencePair>> load(const std::string& file, const Tokenizer& tok,
                                                  const PreferenceDataOptions& data, std::FILE* log) {
    R1_ASSIGN_OR_RETURN(PreferenceData d, load_preference_pairs(file, tok, data));
    if (log)
      std::fprintf(log, "%s: %zu preference pairs, %lld left out (longer than max_length %lld)\n", file.c_str(),
                   d.pairs.size(), static_cast<long long>(d.too_long), static_cast<long long>(data.max_length));
    return std::move(d.pairs);
  }

  const RewardConfig& config_;
  std::vector<PreferencePair> train_, eval_;
};

}  // namespace

Result<Transformer> as_reward_model(Transformer model, uint64_t seed) {
  ModelConfig c = model.config();
  if (c.head == ModelHead::sequence_classification) {
    R1_RETURN_IF_ERROR(check_reward_model(model, "the reward model"));
    return model;
  }
  c.head = ModelHead::sequence_classification;
  c.num_labels = 1;
  if (!c.pad_token_id && !c.eos_token_ids.empty()) c.pad_token_id = c.eos_token_ids.front();
  TensorMap tensors;
  for (const auto& [name, t] : model.tensors())
    if (name != "lm_head.weight") tensors.emplace(name, t.detach());
  at::Generator gen = at::detail::createCPUGenerator(seed);
  tensors.emplace("score.weight", at::normal(0.0, c.initializer_range, {1, c.hidden_size}, gen));
  bool trainable = !model.parameters().empty() && model.parameters().front().requires_grad();
  auto converted = Transformer::from_tensors(c, std::move(tensors), {model.dtype(), trainable, model.device()});
  if (!converted.ok()) return converted.status();
  converted->set_gradient_checkpointing(model.gradient_checkpointing());
  return converted;
}

Metrics evaluate_pairs(const Transformer& model, const std::vector<PreferencePair>& pairs, int64_t batch_size,
                       const PreferenceLossOptions& options) {
  at::NoGradGuard no_grad;
  at::Tensor sums = at::zeros({4}, at::kDouble);
  for (size_t i = 0; i < pairs.size(); i += batch_size) {
    std::vector<const PreferencePair*> part;
    for (size_t j = i; j < std::min(pairs.size(), i + batch_size); ++j) part.push_back(&pairs[j]);
    sums += pair_terms(model, part, options).sums.cpu();
  }
  double n = static_cast<double>(std::max<size_t>(1, pairs.size()));
  return {{"eval_loss", sums[0].item<double>() / n},
          {"eval_accuracy", sums[1].item<double>() / n},
          {"eval_margin", sums[2].item<double>() / n},
          {"eval_mean_reward", sums[3].item<double>() / n},
          {"eval_pairs", static_cast<double>(pairs.size())}};
}

Result<TrainerLoopResult> run_reward_training(const RewardConfig& c, bool resume, std::FILE* log) {
  TrainerLoopOptions options{.config_file_name = "reward_config.json",
                             .config_json = reward_config_fields().to_json(c),
                             .prepare_model = [seed = c.seed](Transformer m) {
                               return as_reward_model(std::move(m), static_cast<uint64_t>(seed));
                             }};
  auto make = [&c](const Transformer& model, std::FILE* log) { return RewardObjective::make(c, model, log); };
  return run_trainer_loop(c, options, make, resume, log);
}

}  // namespace r1
