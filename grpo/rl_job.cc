#include "grpo/rl_job.h"

#include <cmath>

#include "data/dataset_source.h"
#include "model/chat_template.h"
#include "rollout/sample_and_score.h"

namespace r1 {

namespace {

Result<RewardFunction> job_reward(const RLConfig& c, const Dataset& ds, std::string& spec_text) {
  const std::string where = "field 'reward'";
  if (c.reward.empty()) {
    spec_text = default_reward_spec(ds);
    return RewardFunction::from_text(spec_text, where + " (the dataset's default)");
  }
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(c.reward, where));
  if (!doc.IsString()) {
    spec_text = c.reward;
    return RewardFunction::from_json(doc, where);
  }
  R1_ASSIGN_OR_RETURN(rapidjson::Document file, read_json_file(doc.GetString()));
  spec_text = json_to_string(file);
  return RewardFunction::from_json(file, doc.GetString());
}

}  // namespace

Result<RLPlan> make_rl_plan(const GRPOConfig& c, int64_t dataset_size) {
  RLPlan p;
  p.num_generations = c.num_generations;
  p.prompts_per_generation = c.resolved_generation_batch_size() / c.num_generations;
  int64_t micro_steps = c.resolved_steps_per_generation();
  if (micro_steps % c.gradient_accumulation_steps != 0)
    return Status::error("field 'steps_per_generation' (" + std::to_string(micro_steps) +
                         ") must be a multiple of gradient_accumulation_steps (" +
                         std::to_string(c.gradient_accumulation_steps) + ")");
  p.updates_per_pass = micro_steps / c.gradient_accumulation_steps;
  p.steps_per_generation = c.num_iterations * p.updates_per_pass;
  p.off_policy = p.steps_per_generation > 1;
  if (dataset_size < p.prompts_per_generation)
    return Status::error("field 'dataset': " + std::to_string(dataset_size) +
                         " prompts, fewer than one generation batch needs (generation_batch_size / num_generations = " +
                         std::to_string(p.prompts_per_generation) + ")");
  if (c.max_steps > 0) {
    p.total_steps = c.max_steps;
  } else {
    double generations_per_epoch = std::ceil(static_cast<double>(dataset_size) / p.prompts_per_generation);
    p.total_steps =
        static_cast<int64_t>(std::ceil(c.num_train_epochs * generations_per_epoch)) * p.steps_per_generation;
  }
  return p;
}

Result<RLJob> load_rl_job(const RLConfig& c, const Tokenizer& tok) {
  RLJob job;
  R1_ASSIGN_OR_RETURN(rapidjson::Document source, parse_json(c.dataset, "field 'dataset'"));
  R1_ASSIGN_OR_RETURN(job.dataset, load_dataset_source(source, "field 'dataset'"));
  R1_ASSIGN_OR_RETURN(job.reward, job_reward(c, job.dataset, job.reward_spec));
  std::string template_name = c.chat_template.empty() ? job.dataset.spec.template_name : c.chat_template;
  R1_ASSIGN_OR_RETURN(std::optional<ChatTemplate> tmpl, resolve_chat_template(template_name, tok));
  // TRL keeps the last max_prompt_length tokens.
  R1_ASSIGN_OR_RETURN(job.prompts, make_prompt_set(job.dataset.examples, tmpl, tok, c.grpo.max_prompt_length));
  if (job.reward) R1_RETURN_IF_ERROR(check_reward_references(*job.reward, job.prompts));
  R1_ASSIGN_OR_RETURN(job.plan, make_rl_plan(c.grpo, static_cast<int64_t>(job.dataset.examples.size())));
  return job;
}

}  // namespace r1
