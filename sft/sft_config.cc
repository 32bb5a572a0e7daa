#include "sft/sft_config.h"

#include "util/json.h"

namespace r1 {

namespace {

Status validate(SFTConfig& c) {
  R1_RETURN_IF_ERROR(check_training_arguments(c));
  R1_RETURN_IF_ERROR(check_field_rules({
      {c.max_length > 1, "max_length", "> 1", double(c.max_length)},
      {c.distill_alpha >= 0 && c.distill_alpha <= 1, "distill_alpha", "in [0, 1]", c.distill_alpha},
      {c.distill_temperature > 0, "distill_temperature", "> 0", c.distill_temperature},
  }));
  if (c.distill_alpha > 0 && c.teacher_model_name_or_path.empty())
    return field_error("distill_alpha", "> 0 needs 'teacher_model_name_or_path'");
  return field_one_of("chat_template", c.chat_template, {"auto", "chatml", "llama3", "r1_zero", "none"});
}

}  // namespace

const ConfigFields<SFTConfig>& sft_config_fields() {
  using C = SFTConfig;
  static const ConfigFields<C> fields =
      ConfigFields<C>("SFT config", validate)
          .include_base(training_arguments_fields())
          .add("chat_template", &C::chat_template, "auto, chatml, llama3, r1_zero, or none (plain concatenation)")
          .add("dataset_text_field", &C::dataset_text_field, "the field of plain-text rows")
          // sequences and loss
          .add("max_length", &C::max_length, "tokens per sample (truncated on the right) and per packed row")
          .add("packing", &C::packing, "pack samples into rows of max_length tokens")
          .add("completion_only_loss", &C::completion_only_loss, "false trains on prompt tokens too")
          .add("add_eos", &C::add_eos, "append the first eos_token_id unless a ChatML/Llama-3 template ends the turn")
          // logit distillation (distill/distill_loss.h)
          .add("teacher_model_name_or_path", &C::teacher_model_name_or_path,
               "the teacher of logit distillation (same vocabulary as the student)")
          .add("distill_alpha", &C::distill_alpha,
               "loss = (1 - alpha) CE + alpha T^2 KL(teacher || student); 0 = plain SFT, no teacher loaded")
          .add("distill_temperature", &C::distill_temperature, "T of both softmaxes in the KL");
  return fields;
}

Result<SFTConfig> parse_sft_config(const rapidjson::Value& obj, const std::string& where) {
  return sft_config_fields().parse(obj, where);
}

Result<SFTConfig> load_sft_config(const std::string& path, const std::vector<std::string>& overrides) {
  return sft_config_fields().load(path, overrides);
}

std::string sft_config_json(const SFTConfig& c) { return sft_config_fields().to_json(c); }

}  // namespace r1
