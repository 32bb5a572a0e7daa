#include "reward/reward_model_cli.h"

#include <cstdio>
#include <memory>

#include "model/cli_inputs.h"
#include "reward/reward_model.h"
#include "reward/reward_trainer.h"
#include "util/help_config_flag.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

struct ScoreCommand {
  ModelOptions model;
  std::string input;
  std::string output = "-";
  int64_t batch_size = 8;
};

// {"ids": [...]} or {"text": "..."}: the whole sequence, scored as it is.
std::vector<int64_t> read_sequence(const JsonValue& row, const std::string& where, const std::optional<Tokenizer>& tok,
                                   const ModelConfig& config) {
  std::vector<int64_t> ids;
  if (json_has(row, "ids")) {
    ids = value_or_throw(json_int_array(row, "ids", where));
  } else if (json_has(row, "text")) {
    ids = need_tokenizer(tok, where).encode(value_or_throw(json_string(row, "text", where)));
  } else {
    throw Error(where + ": expected 'ids' (token ids) or 'text'");
  }
  if (ids.empty()) throw Error(where + ": the sequence has no tokens");
  if (static_cast<int64_t>(ids.size()) > config.max_position_embeddings)
    throw Error(where + ": " + std::to_string(ids.size()) + " tokens exceed the model's context of " +
                std::to_string(config.max_position_embeddings));
  throw_if_error(config.check_token_ids(ids, where));
  return ids;
}

void run_score(const ScoreCommand& o) {
  Transformer model = load_model(o.model);
  throw_if_error(check_reward_model(model, o.model.model));
  std::optional<Tokenizer> tok = load_tokenizer_if_present(o.model.model);
  JsonlReader reader = value_or_throw(JsonlReader::open(o.input));
  std::vector<std::vector<int64_t>> sequences;
  rapidjson::Document doc;
  while (value_or_throw(reader.next(doc))) sequences.push_back(read_sequence(doc, reader.where(), tok, model.config()));
  at::Tensor scores = score_sequences(model, sequences, o.batch_size).to(at::kDouble);
  JsonlWriter writer = value_or_throw(JsonlWriter::open(o.output));
  for (int64_t i = 0; i < scores.size(0); ++i) {
    JsonWriter w;
    w.begin_object().key("score").value(scores[i].item<double>()).end_object();
    throw_if_error(writer.write(w.str()));
  }
  throw_if_error(writer.commit());
}

void add_score(CLI::App* group) {
  auto o = std::make_shared<ScoreCommand>();
  CLI::App* cmd = group->add_subcommand("score", "Score JSONL sequences ({\"ids\"} or {\"text\"}) with a reward model");
  add_model_options(cmd, o->model);
  cmd->add_option("--input", o->input, "JSONL rows: {\"ids\": [...]} or {\"text\": \"...\"}")->required();
  cmd->add_option("--output", o->output, "JSONL {\"score\"} per row, - for stdout")->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "Rows per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([o] { run_score(*o); });
}

struct TrainCommand {
  std::string config;
  std::vector<std::string> overrides;
  bool resume = false;
};

void run_train(const TrainCommand& o) {
  RewardConfig config = value_or_throw(load_reward_config(o.config, o.overrides));
  TrainerLoopResult r = value_or_throw(run_reward_training(config, o.resume, stderr));
  JsonWriter w;
  w.begin_object().key("global_step").value(r.global_step).key("loss").value(r.last_loss);
  for (const auto& [name, value] : r.eval) w.key(name).value(value);
  w.key("model").value(r.model_dir).end_object();
  std::printf("%s\n", w.str().c_str());
}

void add_train(CLI::App* group) {
  auto o = std::make_shared<TrainCommand>();
  CLI::App* cmd = group->add_subcommand(
      "train", "Train a reward model on preference pairs (Bradley-Terry, TRL's RewardTrainer; docs/rewards.md)");
  cmd->add_option("--config", o->config, "RewardConfig JSON file")->required();
  cmd->add_option("--set", o->overrides,
                  "Override a config key: key=value, VALUE is JSON when it parses as JSON, else a string");
  cmd->add_flag("--resume", o->resume, "Continue from the last complete checkpoint in output_dir");
  add_help_config_flag(cmd, [](std::ostream& out) {
    out << "Keys of an r1 rm train config:\n";
    reward_config_fields().print_help(out);
  });
  cmd->callback([o] { run_train(*o); });
}

}  // namespace

void add_reward_model_commands(CLI::App& app) {
  CLI::App* group = app.add_subcommand("rm", "Reward models (*ForSequenceClassification): score, train");
  group->require_subcommand(1);
  add_score(group);
  add_train(group);
}

}  // namespace r1
