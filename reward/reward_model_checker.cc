#include "reward/reward_model_checker.h"

#include <cmath>
#include <memory>
#include <optional>

#include "model/chat_template.h"
#include "model/device.h"
#include "model/tokenizer.h"
#include "reward/checker_registry.h"
#include "reward/reward_model.h"

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

class RewardModelChecker : public RewardChecker {
 public:
  RewardModelChecker(Transformer model, Tokenizer tok, std::optional<ChatTemplate> tmpl, Normalize normalize,
                     int64_t batch_size)
      : model_(std::move(model)), tok_(std::move(tok)), template_(tmpl), normalize_(normalize),
        batch_size_(batch_size) {}

  bool batched() const override { return true; }

  Result<RewardScore> score(const RewardInput& input) const override {
    R1_ASSIGN_OR_RETURN(std::vector<RewardScore> one, score_many({&input}));
    return one.front();
  }

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
  Result<std::vector<int64_t>> conversation_ids(const RewardInput& in) const {
    if (!template_) {
      std::vector<int64_t> ids = tok_.encode_with_special_tokens(in.prompt + in.completion);
      const auto& eos = model_.config().eos_token_ids;
      if (!eos.empty() && (ids.empty() || ids.back() != eos.front())) ids.push_back(eos.front());
      return ids;
    }
    std::vector<ChatMessage> messages;
    if (!in.system.empty()) messages.push_back({"system", in.system});
    messages.push_back({"user", in.prompt});
    messages.push_back({"assistant", in.completion});
    auto text = render_chat(*template_, messages, /*add_generation_prompt=*/false);
    if (!text.ok()) return text.status().with_context(in.where);
    std::vector<int64_t> ids = tok_.encode(*text);
    if (ids.empty()) return Status::error(in.where + ": nothing to score (empty conversation)");
    return ids;
  }

  Transformer model_;
  Tokenizer tok_;
  std::optional<ChatTemplate> template_;  // nullopt: plain text
  Normalize normalize_;
  int64_t batch_size_;
};

Result<std::unique_ptr<RewardChecker>> make_reward_model_checker(const std::string& dir, CheckerParams& p) {
  R1_ASSIGN_OR_RETURN(Normalize normalize, parse_normalize(p));
  R1_ASSIGN_OR_RETURN(int64_t batch_size, p.integer("batch_size", 16));
  if (batch_size <= 0) return p.error("'batch_size' must be > 0");
  R1_ASSIGN_OR_RETURN(std::string template_name, p.string("chat_template", "auto"));
  ComputeOptions compute;
  R1_ASSIGN_OR_RETURN(compute.device, p.string("device", "auto"));
  R1_ASSIGN_OR_RETURN(compute.dtype, p.string("dtype", "auto"));
  R1_RETURN_IF_ERROR(p.check_no_unknown());
  R1_ASSIGN_OR_RETURN(LoadOptions load, resolve_load_options(compute, at::ScalarType::Undefined, false));
  auto model = Transformer::load(dir, load);
  if (!model.ok()) return model.status().with_context(p.where());
  R1_RETURN_IF_ERROR(check_reward_model(*model, p.where() + ": " + dir));
  auto tok = Tokenizer::load(dir);
  if (!tok.ok()) return tok.status().with_context(p.where());
  std::optional<ChatTemplate> tmpl;
  if (template_name == "auto") {
    auto detected = detect_chat_template(*tok);
    if (!detected.ok())
      return p.error("the reward model's tokenizer has no chat template to detect (" + detected.status().message() +
                     "); set 'chat_template' to chatml, llama3 or none");
    tmpl = *detected;
  } else if (template_name != "none") {
    auto parsed = parse_chat_template(template_name);
    if (!parsed.ok()) return p.error(parsed.status().message());
    tmpl = *parsed;
  }
  return std::unique_ptr<RewardChecker>(
      new RewardModelChecker(std::move(*model), std::move(*tok), tmpl, normalize, batch_size));
}

}  // namespace

void install_reward_model_checker() { CheckerRegistry::install_model_factory(make_reward_model_checker); }

}  // namespace r1
