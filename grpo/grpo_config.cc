#include "grpo/grpo_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <variant>

namespace r1 {
namespace {

using Member = std::variant<int64_t GRPOConfig::*, double GRPOConfig::*, bool GRPOConfig::*, std::string GRPOConfig::*,
                            std::optional<int64_t> GRPOConfig::*, std::optional<double> GRPOConfig::*>;
struct Field {
  const char* name;
  Member member;
};

// The single list of keys: JSON, overrides, to_json and the docs table follow it.
const std::vector<Field>& fields() {
  using C = GRPOConfig;
  static const std::vector<Field> list = {
      {"num_generations", &C::num_generations},
      {"beta", &C::beta},
      {"epsilon", &C::epsilon},
      {"epsilon_high", &C::epsilon_high},
      {"delta", &C::delta},
      {"loss_type", &C::loss_type},
      {"scale_rewards", &C::scale_rewards},
      {"advantage_estimator", &C::advantage_estimator},
      {"importance_sampling_level", &C::importance_sampling_level},
      {"use_bias_correction_kl", &C::use_bias_correction_kl},
      {"num_iterations", &C::num_iterations},
      {"mask_truncated_completions", &C::mask_truncated_completions},
      {"temperature", &C::temperature},
      {"top_p", &C::top_p},
      {"top_k", &C::top_k},
      {"min_p", &C::min_p},
      {"max_prompt_length", &C::max_prompt_length},
      {"max_completion_length", &C::max_completion_length},
      {"generation_batch_size", &C::generation_batch_size},
      {"steps_per_generation", &C::steps_per_generation},
      {"learning_rate", &C::learning_rate},
      {"lr_scheduler_type", &C::lr_scheduler_type},
      {"warmup_steps", &C::warmup_steps},
      {"weight_decay", &C::weight_decay},
      {"adam_beta1", &C::adam_beta1},
      {"adam_beta2", &C::adam_beta2},
      {"adam_epsilon", &C::adam_epsilon},
      {"max_grad_norm", &C::max_grad_norm},
      {"per_device_train_batch_size", &C::per_device_train_batch_size},
      {"gradient_accumulation_steps", &C::gradient_accumulation_steps},
      {"bf16", &C::bf16},
      {"gradient_checkpointing", &C::gradient_checkpointing},
      {"seed", &C::seed},
      {"max_steps", &C::max_steps},
      {"num_train_epochs", &C::num_train_epochs},
      {"logging_steps", &C::logging_steps},
      {"save_steps", &C::save_steps},
      {"save_total_limit", &C::save_total_limit},
      {"sync_ref_model", &C::sync_ref_model},
      {"ref_model_mixup_alpha", &C::ref_model_mixup_alpha},
      {"ref_model_sync_steps", &C::ref_model_sync_steps},
      {"dynamic_sampling", &C::dynamic_sampling},
      {"max_num_gen_batches", &C::max_num_gen_batches},
      {"overlong_buffer_length", &C::overlong_buffer_length},
      {"overlong_penalty_factor", &C::overlong_penalty_factor},
  };
  return list;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

Status unknown_key(std::string_view key, const std::string& where) {
  const Field* best = nullptr;
  size_t best_distance = SIZE_MAX;
  for (const Field& f : fields()) {
    size_t d = edit_distance(key, f.name);
    if (d < best_distance) best = &f, best_distance = d;
  }
  std::string message = where + ": unknown key '" + std::string(key) + "'";
  if (best && best_distance <= std::max<size_t>(3, key.size() / 3))
    message += " (did you mean '" + std::string(best->name) + "'?)";
  return Status::error(message);
}

const Field* find_field(std::string_view key) {
  for (const Field& f : fields())
    if (key == f.name) return &f;
  return nullptr;
}

// ---- typed values from JSON ----

Status bad_type(const Field& f, const char* expected, const std::string& where) {
  return Status::error(where + ": field '" + f.name + "' must be " + expected);
}

Status set_from_json(GRPOConfig& c, const Field& f, const JsonValue& v, const std::string& where) {
  struct Visitor {
    GRPOConfig& c;
    const Field& f;
    const JsonValue& v;
    const std::string& where;
    Status integer(int64_t& out) const {
      if (v.IsInt64()) return out = v.GetInt64(), Status();
      if (v.IsDouble() && std::trunc(v.GetDouble()) == v.GetDouble() && std::abs(v.GetDouble()) < 9e15)
        return out = static_cast<int64_t>(v.GetDouble()), Status();
      return bad_type(f, "an integer", where);
    }
    Status number(double& out) const {
      if (!v.IsNumber()) return bad_type(f, "a number", where);
      return out = v.GetDouble(), Status();
    }
    Status operator()(int64_t GRPOConfig::*m) const { return integer(c.*m); }
    Status operator()(double GRPOConfig::*m) const { return number(c.*m); }
    Status operator()(bool GRPOConfig::*m) const {
      if (!v.IsBool()) return bad_type(f, "true or false", where);
      return c.*m = v.GetBool(), Status();
    }
    Status operator()(std::string GRPOConfig::*m) const {
      if (!v.IsString()) return bad_type(f, "a string", where);
      return c.*m = v.GetString(), Status();
    }
    Status operator()(std::optional<int64_t> GRPOConfig::*m) const {
      if (v.IsNull()) return (c.*m).reset(), Status();
      int64_t x = 0;
      R1_RETURN_IF_ERROR(integer(x).ok() ? Status() : bad_type(f, "an integer or null", where));
      return c.*m = x, Status();
    }
    Status operator()(std::optional<double> GRPOConfig::*m) const {
      if (v.IsNull()) return (c.*m).reset(), Status();
      if (!v.IsNumber()) return bad_type(f, "a number or null", where);
      return c.*m = v.GetDouble(), Status();
    }
  };
  if (v.IsNull() && (std::holds_alternative<int64_t GRPOConfig::*>(f.member) ||
                     std::holds_alternative<double GRPOConfig::*>(f.member) ||
                     std::holds_alternative<bool GRPOConfig::*>(f.member) ||
                     std::holds_alternative<std::string GRPOConfig::*>(f.member)))
    return Status::error(where + ": field '" + f.name + "' may not be null");
  return std::visit(Visitor{c, f, v, where}, f.member);
}

// ---- typed values from "key=value" text ----

bool parse_int(std::string_view s, int64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool parse_double(std::string_view s, double& out) {
  std::string text(s);
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size() && std::isfinite(out);
}

bool is_null_word(std::string_view s) { return s == "null" || s == "none" || s == "None"; }

Status set_from_text(GRPOConfig& c, const Field& f, std::string_view s, const std::string& where) {
  struct Visitor {
    GRPOConfig& c;
    const Field& f;
    std::string_view s;
    const std::string& where;
    Status operator()(int64_t GRPOConfig::*m) const {
      return parse_int(s, c.*m) ? Status() : bad_type(f, "an integer", where);
    }
    Status operator()(double GRPOConfig::*m) const {
      return parse_double(s, c.*m) ? Status() : bad_type(f, "a number", where);
    }
    Status operator()(bool GRPOConfig::*m) const {
      if (s == "true" || s == "1") return c.*m = true, Status();
      if (s == "false" || s == "0") return c.*m = false, Status();
      return bad_type(f, "true or false", where);
    }
    Status operator()(std::string GRPOConfig::*m) const { return c.*m = std::string(s), Status(); }
    Status operator()(std::optional<int64_t> GRPOConfig::*m) const {
      if (is_null_word(s)) return (c.*m).reset(), Status();
      int64_t x = 0;
      if (!parse_int(s, x)) return bad_type(f, "an integer or null", where);
      return c.*m = x, Status();
    }
    Status operator()(std::optional<double> GRPOConfig::*m) const {
      if (is_null_word(s)) return (c.*m).reset(), Status();
      double x = 0;
      if (!parse_double(s, x)) return bad_type(f, "a number or null", where);
      return c.*m = x, Status();
    }
  };
  return std::visit(Visitor{c, f, s, where}, f.member);
}

// ---- validation ----

Status field_error(const char* key, const std::string& what) {
  return Status::error("field '" + std::string(key) + "' " + what);
}

Status one_of(const char* key, const std::string& value, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return {};
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "'" : ", '") + a + "'";
  return field_error(key, "must be one of " + list + ", got '" + value + "'");
}

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

// (condition must hold, key, what the key must be, the value)
struct Rule {
  bool ok;
  const char* key;
  const char* must;
  double value;
};

Status check_rules(const std::vector<Rule>& rules) {
  for (const Rule& r : rules)
    if (!r.ok) return field_error(r.key, std::string("must be ") + r.must + ", got " + num(r.value));
  return {};
}

Status check_ranges(const GRPOConfig& c) {
  double eh = c.epsilon_high.value_or(c.epsilon);
  return check_rules({
      {c.num_generations >= 2, "num_generations", ">= 2 (GRPO needs a group)", double(c.num_generations)},
      {c.beta >= 0, "beta", ">= 0", c.beta},
      {c.epsilon >= 0, "epsilon", ">= 0", c.epsilon},
      {eh >= 0, "epsilon_high", ">= 0", eh},
      {!c.delta || *c.delta > 1.0, "delta", "> 1 when set", c.delta.value_or(0)},
      {c.num_iterations >= 1, "num_iterations", ">= 1", double(c.num_iterations)},
      {c.temperature > 0, "temperature", "> 0", c.temperature},
      {c.top_p > 0 && c.top_p <= 1, "top_p", "in (0, 1]", c.top_p},
      {c.top_k >= 0, "top_k", ">= 0", double(c.top_k)},
      {!c.min_p || (*c.min_p >= 0 && *c.min_p <= 1), "min_p", "in [0, 1]", c.min_p.value_or(0)},
      {c.max_prompt_length >= 1, "max_prompt_length", ">= 1", double(c.max_prompt_length)},
      {c.max_completion_length >= 1, "max_completion_length", ">= 1", double(c.max_completion_length)},
      {c.learning_rate >= 0, "learning_rate", ">= 0", c.learning_rate},
      {c.warmup_steps >= 0 && (c.warmup_steps < 1 || std::trunc(c.warmup_steps) == c.warmup_steps), "warmup_steps",
       "a ratio in [0, 1) or a whole number of steps", c.warmup_steps},
      {c.weight_decay >= 0, "weight_decay", ">= 0", c.weight_decay},
      {c.adam_beta1 >= 0 && c.adam_beta1 < 1, "adam_beta1", "in [0, 1)", c.adam_beta1},
      {c.adam_beta2 >= 0 && c.adam_beta2 < 1, "adam_beta2", "in [0, 1)", c.adam_beta2},
      {c.adam_epsilon > 0, "adam_epsilon", "> 0", c.adam_epsilon},
      {c.max_grad_norm >= 0, "max_grad_norm", ">= 0", c.max_grad_norm},
      {c.per_device_train_batch_size >= 1, "per_device_train_batch_size", ">= 1",
       double(c.per_device_train_batch_size)},
      {c.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", ">= 1",
       double(c.gradient_accumulation_steps)},
      {c.max_steps == -1 || c.max_steps >= 1, "max_steps", "-1 or >= 1", double(c.max_steps)},
      {c.num_train_epochs > 0, "num_train_epochs", "> 0", c.num_train_epochs},
      {c.logging_steps >= 1, "logging_steps", ">= 1", double(c.logging_steps)},
      {c.save_steps >= 1, "save_steps", ">= 1", double(c.save_steps)},
      {!c.save_total_limit || *c.save_total_limit >= 1, "save_total_limit", ">= 1 when set",
       double(c.save_total_limit.value_or(0))},
      {c.ref_model_mixup_alpha >= 0 && c.ref_model_mixup_alpha <= 1, "ref_model_mixup_alpha", "in [0, 1]",
       c.ref_model_mixup_alpha},
      {c.ref_model_sync_steps >= 1, "ref_model_sync_steps", ">= 1", double(c.ref_model_sync_steps)},
      {c.max_num_gen_batches >= 0, "max_num_gen_batches", ">= 0", double(c.max_num_gen_batches)},
      {c.overlong_buffer_length >= 0 && c.overlong_buffer_length < c.max_completion_length, "overlong_buffer_length",
       "in [0, max_completion_length)", double(c.overlong_buffer_length)},
      {c.overlong_penalty_factor >= 0, "overlong_penalty_factor", ">= 0", c.overlong_penalty_factor},
  });
}

Status check_choices(const GRPOConfig& c) {
  // Kept equal to the registries in policy_loss.cc / advantages.cc by a test.
  R1_RETURN_IF_ERROR(one_of("loss_type", c.loss_type, {"bnpo", "dapo", "dr_grpo", "grpo"}));
  R1_RETURN_IF_ERROR(one_of("scale_rewards", c.scale_rewards, {"group", "batch", "none"}));
  R1_RETURN_IF_ERROR(one_of("advantage_estimator", c.advantage_estimator, {"grpo", "rloo"}));
  R1_RETURN_IF_ERROR(one_of("importance_sampling_level", c.importance_sampling_level, {"token", "sequence"}));
  return one_of("lr_scheduler_type", c.lr_scheduler_type, {"linear", "cosine", "constant", "constant_with_warmup"});
}

Status check_batching(const GRPOConfig& c) {
  if (c.generation_batch_size && c.steps_per_generation)
    return field_error("generation_batch_size", "and 'steps_per_generation' cannot both be set");
  if (c.steps_per_generation && *c.steps_per_generation < 1)
    return field_error("steps_per_generation", "must be >= 1, got " + std::to_string(*c.steps_per_generation));
  if (c.generation_batch_size && (*c.generation_batch_size < 1 ||
                                  *c.generation_batch_size % c.per_device_train_batch_size != 0))
    return field_error("generation_batch_size", "must be a positive multiple of per_device_train_batch_size (" +
                                                    std::to_string(c.per_device_train_batch_size) + "), got " +
                                                    std::to_string(*c.generation_batch_size));
  if (c.resolved_generation_batch_size() % c.num_generations != 0)
    return field_error("generation_batch_size", "(" + std::to_string(c.resolved_generation_batch_size()) +
                                                    ") must be divisible by num_generations (" +
                                                    std::to_string(c.num_generations) + ")");
  return {};
}

}  // namespace

Status GRPOConfig::apply_json(const JsonValue& object, const std::string& where) {
  if (!object.IsObject()) return Status::error(where + ": expected a JSON object of GRPO settings");
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    std::string_view key(it->name.GetString(), it->name.GetStringLength());
    const Field* f = find_field(key);
    if (!f) return unknown_key(key, where);
    R1_RETURN_IF_ERROR(set_from_json(*this, *f, it->value, where));
  }
  return {};
}

Status GRPOConfig::apply_override(std::string_view assignment) {
  const std::string where = "override '" + std::string(assignment) + "'";
  size_t eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) return Status::error(where + ": expected key=value");
  std::string_view key = assignment.substr(0, eq);
  const Field* f = find_field(key);
  if (!f) return unknown_key(key, where);
  return set_from_text(*this, *f, assignment.substr(eq + 1), where);
}

Status GRPOConfig::validate() const {
  if (gradient_checkpointing)
    return field_error("gradient_checkpointing",
                       "true is not implemented yet (activation checkpointing comes with the GPU work); set it to false");
  R1_RETURN_IF_ERROR(check_ranges(*this));
  R1_RETURN_IF_ERROR(check_choices(*this));
  return check_batching(*this);
}

std::string GRPOConfig::to_json() const {
  JsonWriter w;
  w.begin_object();
  for (const Field& f : fields()) {
    w.key(f.name);
    std::visit(
        [&](auto member) {
          const auto& v = this->*member;
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::optional<int64_t>> || std::is_same_v<V, std::optional<double>>) {
            if (v) w.value(*v);
            else w.null();
          } else {
            w.value(v);
          }
        },
        f.member);
  }
  w.end_object();
  return w.str();
}

int64_t GRPOConfig::resolved_steps_per_generation() const {
  if (steps_per_generation) return *steps_per_generation;
  if (generation_batch_size) return *generation_batch_size / per_device_train_batch_size;
  return gradient_accumulation_steps;
}

int64_t GRPOConfig::resolved_generation_batch_size() const {
  if (generation_batch_size) return *generation_batch_size;
  return per_device_train_batch_size * resolved_steps_per_generation();
}

std::vector<std::string> grpo_config_keys() {
  std::vector<std::string> keys;
  for (const Field& f : fields()) keys.push_back(f.name);
  return keys;
}

Result<GRPOConfig> load_grpo_config(std::string_view preset, const std::string& json_path,
                                    const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(GRPOConfig config, grpo_config_preset(preset));
  if (!json_path.empty()) {
    R1_ASSIGN_OR_RETURN(rapidjson::Document doc, read_json_file(json_path));
    R1_RETURN_IF_ERROR(config.apply_json(doc, json_path));
  }
  for (const std::string& o : overrides) R1_RETURN_IF_ERROR(config.apply_override(o));
  R1_RETURN_IF_ERROR(config.validate().with_context("GRPO config"));
  return config;
}

}  // namespace r1
