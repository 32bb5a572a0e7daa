#include "reward/model_checkers.h"

#include <cmath>
#include <memory>
#include <optional>

#include "data/prompt_set.h"
#include "model/chat_template.h"
#include "model/device.h"
#include "model/tokenizer.h"
#include "reward/checker_registry.h"
#include "reward/judge_verdict.h"
#include "reward/reward_model.h"
#include "rollout/rollout_worker.h"
#include "util/utf8.h"

namespace r1 {

namespace {

struct Normalize {
  enum class Kind { none, sigmoid, standardise } kind = Kind::none;
  double mean = 0, std = 1;

  double apply(double raw) const {
    switch (kind) {
      case Kind::none: return raw;
      case Kind::sigmoid: return 1.0 / (1.0 + std::exp(-raw));
      case Kind::standardise: return (raw - mean) / std;
    }
    return raw;
  }
};

Result<Normalize> parse_normalize(CheckerParams& p) {
  Normalize n;
  const JsonValue* v = p.raw("normalize");
  if (v == nullptr || (v->IsString() && std::string(v->GetString()) == "none")) return n;
  if (v->IsString() && std::string(v->GetString()) == "sigmoid") {
    n.kind = Normalize::Kind::sigmoid;
    return n;
  }
  if (v->IsObject() && v->MemberCount() == 2 && v->HasMember("mean") && v->HasMember("std") &&
      (*v)["mean"].IsNumber() && (*v)["std"].IsNumber() && (*v)["std"].GetDouble() > 0) {
    n.kind = Normalize::Kind::standardise;
    n.mean = (*v)["mean"].GetDouble();
    n.std = (*v)["std"].GetDouble();
    return n;
  }
  return p.error("'normalize' must be \"none\", \"sigmoid\" or {\"mean\": m, \"std\": s > 0}");
}

class RewardModelChecker : public BatchedRewardChecker {
 public:
  RewardModelChecker(Transformer model, Tokenizer tok, std::optional<ChatTemplate> tmpl, Normalize normalize,
                     int64_t batch_size)
      : model_(std::move(model)), tok_(std::move(tok)), template_(tmpl), normalize_(normalize),
        batch_size_(batch_size) {}

  Result<std::vector<RewardScore>> score_many(const std::vector<const RewardInput*>& inputs) const override {
    std::vector<std::vector<int64_t>> sequences;
    std::vector<bool> truncated;
    const int64_t context = model_.config().max_position_embeddings;
    for (const RewardInput* in : inputs) {
      R1_ASSIGN_OR_RETURN(std::vector<int64_t> ids, conversation_ids(*in));
      truncated.push_back(static_cast<int64_t>(ids.size()) > context);
      if (truncated.back()) ids.erase(ids.begin(), ids.end() - context);
      sequences.push_back(std::move(ids));
    }
    at::Tensor raw = score_sequences(model_, sequences, batch_size_).to(at::kDouble);
    std::vector<RewardScore> out;
    for (size_t i = 0; i < inputs.size(); ++i) {
      double r = raw[static_cast<int64_t>(i)].item<double>();
      JsonWriter w;
      w.begin_object().key("raw").value(r).key("tokens").value(static_cast<int64_t>(sequences[i].size()));
      if (truncated[i]) w.key("truncated").value(true);
      w.end_object();
      out.push_back({normalize_.apply(r), w.str()});
    }
    return out;
  }

 private:
  // The conversation the completion ends, tokenized as TRL's RewardTrainer does (reward/reward_model.h).
  Result<std::vector<int64_t>> conversation_ids(const RewardInput& in) const {
    if (!template_) return plain_text_ids(tok_, in.prompt + in.completion, eos_id(model_.config()));
    std::vector<ChatMessage> messages;
    if (!in.system.empty()) messages.push_back({"system", in.system});
    messages.push_back({"user", in.prompt});
    messages.push_back({"assistant", in.completion});
    return chat_ids(tok_, *template_, messages, in.where);
  }

  Transformer model_;
  Tokenizer tok_;
  std::optional<ChatTemplate> template_;  // nullopt: plain text
  Normalize normalize_;
  int64_t batch_size_;
};

// What both kinds load: the model (without gradients) and its tokenizer,
// and the chat template from params ("auto": the tokenizer's; "none": plain).
struct LoadedModel {
  Transformer model;
  Tokenizer tok;
  std::optional<ChatTemplate> chat_template;
};

Result<LoadedModel> load_for_checker(const std::string& dir, CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(std::string template_name, p.string("chat_template", "auto"));
  ComputeOptions compute;
  R1_ASSIGN_OR_RETURN(compute.device, p.string("device", "auto"));
  R1_ASSIGN_OR_RETURN(compute.dtype, p.string("dtype", "auto"));
  R1_ASSIGN_OR_RETURN(LoadOptions load, resolve_load_options(compute, at::ScalarType::Undefined, false));
  auto model = Transformer::load(dir, load);
  if (!model.ok()) return model.status().with_context(p.where());
  auto tok = Tokenizer::load(dir);
  if (!tok.ok()) return tok.status().with_context(p.where());
  auto tmpl = resolve_chat_template(template_name, *tok);
  if (!tmpl.ok())
    return p.error(tmpl.status().message() + " (param 'chat_template': auto, chatml, llama3, r1_zero or none)");
  return LoadedModel{std::move(*model), std::move(*tok), *tmpl};
}

Result<std::unique_ptr<RewardChecker>> make_reward_model_checker(const std::string& dir, CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(Normalize normalize, parse_normalize(p));
  R1_ASSIGN_OR_RETURN(int64_t batch_size, p.integer("batch_size", 16));
  if (batch_size <= 0) return p.error("'batch_size' must be > 0");
  R1_ASSIGN_OR_RETURN(LoadedModel m, load_for_checker(dir, p));
  R1_RETURN_IF_ERROR(p.check_no_unknown());
  R1_RETURN_IF_ERROR(check_reward_model(m.model, p.where() + ": " + dir));
  return std::unique_ptr<RewardChecker>(
      new RewardModelChecker(std::move(m.model), std::move(m.tok), m.chat_template, normalize, batch_size));
}

// The judge's prompt: `tmpl` with {prompt}, {completion} and {answer} (the
// row's reference answer) filled in; other braces stay as they are.
Result<std::string> fill_template(const std::string& tmpl, const RewardInput& in) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    bool done = false;
    for (const char* key : {"{prompt}", "{completion}", "{answer}"}) {
      std::string_view k(key);
      if (tmpl.compare(i, k.size(), k) != 0) continue;
      if (k == "{prompt}") {
        out += in.prompt;
      } else if (k == "{completion}") {
        out += in.completion;
      } else {
        R1_ASSIGN_OR_RETURN(const JsonValue* answer, reference_field(in, "answer"));
        out += answer->IsString() ? std::string(answer->GetString()) : json_to_string(*answer);
      }
      i += k.size();
      done = true;
      break;
    }
    if (!done) out += tmpl[i++];
  }
  return out;
}

class JudgeChecker : public BatchedRewardChecker {
 public:
  JudgeChecker(LoadedModel m, std::string tmpl, VerdictKind kind, double max_score, int64_t max_new_tokens,
               int64_t batch_size)
      : m_(std::move(m)), template_(std::move(tmpl)), kind_(kind), max_score_(max_score),
        max_new_tokens_(max_new_tokens), batch_size_(batch_size) {}

  Result<std::vector<RewardScore>> score_many(const std::vector<const RewardInput*>& inputs) const override {
    std::vector<RewardScore> out;
    for (size_t start = 0; start < inputs.size(); start += batch_size_) {
      RolloutRequest request;
      request.sampling.options.temperature = 0.0;
      request.sampling.max_completion_length = max_new_tokens_;
      size_t end = std::min(inputs.size(), start + static_cast<size_t>(batch_size_));
      for (size_t i = start; i < end; ++i) {
        R1_ASSIGN_OR_RETURN(std::vector<int64_t> ids, judge_prompt(*inputs[i]));
        request.prompts.push_back({.prompt_index = static_cast<int64_t>(i), .prompt_ids = std::move(ids)});
      }
      LocalRolloutWorker worker(m_.model, &m_.tok);
      R1_ASSIGN_OR_RETURN(RolloutResult result, worker.run(request));
      for (const Sample& s : result.samples) out.push_back(verdict_score(s));
    }
    return out;
  }
  // The template's {answer}, the one thing it reads from the row.
  Status check_reference(const RewardInput& row) const override { return fill_template(template_, row).status(); }

 private:
  Result<std::vector<int64_t>> judge_prompt(const RewardInput& in) const {
    R1_ASSIGN_OR_RETURN(std::string text, fill_template(template_, in));
    if (m_.chat_template) {
      auto rendered = render_chat(*m_.chat_template, {{"user", text}}, /*add_generation_prompt=*/true);
      if (!rendered.ok()) return rendered.status().with_context(in.where);
      text = *rendered;
    }
    std::vector<int64_t> ids = m_.tok.encode(text);
    int64_t room = m_.model.config().max_position_embeddings - max_new_tokens_;
    if (static_cast<int64_t>(ids.size()) > room)
      return Status::error(in.where + ": the judge's prompt has " + std::to_string(ids.size()) +
                           " tokens; with max_new_tokens " + std::to_string(max_new_tokens_) +
                           " the judge's context holds " + std::to_string(std::max<int64_t>(room, 0)));
    return ids;
  }

  RewardScore verdict_score(const Sample& s) const {
    JudgeVerdict v = parse_judge_verdict(s.completion, kind_, max_score_);
    // The output's end, where verdicts are, as valid UTF-8 for the details.
    std::string tail = s.completion.size() > 200 ? s.completion.substr(s.completion.size() - 200) : s.completion;
    JsonWriter w;
    w.begin_object().key("status").value(v.status);
    if (v.status != "no_verdict") w.key("verdict").value(v.value);
    w.key("output").value(utf8_lossy(tail)).end_object();
    return {v.reward, w.str()};
  }

  LoadedModel m_;
  std::string template_;
  VerdictKind kind_;
  double max_score_;
  int64_t max_new_tokens_;
  int64_t batch_size_;
};

Result<std::unique_ptr<RewardChecker>> make_judge_checker(const std::string& dir, const std::string& tmpl,
                                                          CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(std::string verdict, p.string("verdict", "binary"));
  if (verdict != "binary" && verdict != "score") return p.error("'verdict' must be \"binary\" or \"score\"");
  R1_ASSIGN_OR_RETURN(double max_score, p.number("max_score", 10));
  if (max_score <= 0) return p.error("'max_score' must be > 0");
  R1_ASSIGN_OR_RETURN(int64_t max_new_tokens, p.integer("max_new_tokens", 256));
  R1_ASSIGN_OR_RETURN(int64_t batch_size, p.integer("batch_size", 16));
  if (max_new_tokens <= 0 || batch_size <= 0) return p.error("'max_new_tokens' and 'batch_size' must be > 0");
  R1_ASSIGN_OR_RETURN(LoadedModel m, load_for_checker(dir, p));
  R1_RETURN_IF_ERROR(p.check_no_unknown());
  if (m.model.config().head != ModelHead::causal_lm)
    return p.error(dir + " is a sequence classifier; a judge is a causal LM that writes its verdict");
  if (tmpl.find("{completion}") == std::string::npos)
    return p.error("the judge's template must contain {completion}");
  VerdictKind kind = verdict == "score" ? VerdictKind::score : VerdictKind::binary;
  return std::unique_ptr<RewardChecker>(
      new JudgeChecker(std::move(m), tmpl, kind, max_score, max_new_tokens, batch_size));
}

Result<std::unique_ptr<RewardChecker>> make_model_checker(const std::string& kind, const JsonValue& entry,
                                                          CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(std::string dir, json_string(entry, kind.c_str(), p.where()));
  if (kind == "model") return make_reward_model_checker(dir, p);
  R1_ASSIGN_OR_RETURN(std::string tmpl, json_string(entry, "template", p.where()));
  return make_judge_checker(dir, tmpl, p);
}

}  // namespace

void install_model_checkers() { CheckerRegistry::install_model_factory(make_model_checker); }

}  // namespace r1
