#include "reward/reward_config.h"

namespace r1 {

namespace {

Status validate(RewardConfig& c) {
  R1_RETURN_IF_ERROR(check_training_arguments(c));
  R1_RETURN_IF_ERROR(check_field_rules({
      {c.max_length > 1, "max_length", "> 1", double(c.max_length)},
      {c.center_rewards_coefficient.value_or(0) >= 0, "center_rewards_coefficient", ">= 0 or null",
       c.center_rewards_coefficient.value_or(0)},
  }));
  return field_one_of("chat_template", c.chat_template, {"auto", "chatml", "llama3"});
}

}  // namespace

const ConfigFields<RewardConfig>& reward_config_fields() {
  using C = RewardConfig;
  static const ConfigFields<C> fields =
      ConfigFields<C>("reward config", validate)
          .include_base(training_arguments_fields())
          .add("chat_template", &C::chat_template,
               "renders conversational pairs: auto (detected from the tokenizer), chatml or llama3")
          .add("max_length", &C::max_length,
               "pairs with a longer chosen or rejected sequence are left out (TRL), never truncated")
          .add("center_rewards_coefficient", &C::center_rewards_coefficient,
               "weight of mean((r_chosen + r_rejected)^2), which centres rewards on 0; null = none (TRL)");
  return fields;
}

Result<RewardConfig> load_reward_config(const std::string& path, const std::vector<std::string>& overrides) {
  return reward_config_fields().load(path, overrides);
}

}  // namespace r1
