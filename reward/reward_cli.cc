#include "reward/reward_cli.h"

#include <iostream>
#include <memory>
#include <vector>

#include "reward/reward_spec.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

struct ScoreOptions {
  std::string spec;
  std::string input;
  std::string output = "-";
  int workers = 0;
};

// Rows own the reference JSON the inputs point into; `docs` is filled before
// any pointer is taken so it never reallocates under them.
struct Rows {
  std::vector<rapidjson::Document> docs;
  std::vector<RewardInput> inputs;
};

Result<RewardInput> row_input(const rapidjson::Document& doc, const std::string& where) {
  RewardInput in;
  R1_ASSIGN_OR_RETURN(in.completion, json_string(doc, "completion", where));
  if (json_has(doc, "num_tokens")) {
    R1_ASSIGN_OR_RETURN(in.num_tokens, json_int(doc, "num_tokens", where));
  }
  if (json_has(doc, "finish_reason")) {
    R1_ASSIGN_OR_RETURN(in.finish_reason, json_string(doc, "finish_reason", where));
  }
  for (auto [key, field] : {std::pair{"prompt", &in.prompt}, {"system", &in.system}})
    if (json_has(doc, key)) {
      R1_ASSIGN_OR_RETURN(*field, json_string(doc, key, where));
    }
  in.reference = &doc;
  in.where = where;
  return in;
}

Result<Rows> read_rows(const std::string& path) {
  R1_ASSIGN_OR_RETURN(JsonlReader reader, JsonlReader::open(path));
  Rows rows;
  std::vector<std::string> wheres;
  for (;;) {
    rapidjson::Document doc;
    R1_ASSIGN_OR_RETURN(bool more, reader.next(doc));
    if (!more) break;
    rows.docs.push_back(std::move(doc));
    wheres.push_back(reader.where());
  }
  for (size_t i = 0; i < rows.docs.size(); ++i) {
    R1_ASSIGN_OR_RETURN(RewardInput in, row_input(rows.docs[i], wheres[i]));
    rows.inputs.push_back(std::move(in));
  }
  return rows;
}

void run_score(const ScoreOptions& o) {
  RewardFunction fn = value_or_throw(RewardFunction::from_file(o.spec));
  Rows rows = value_or_throw(read_rows(o.input));
  std::vector<RewardResult> results = value_or_throw(fn.score_all(rows.inputs, o.workers));
  // Opened only after every row scored, so a bad row leaves no output at all.
  JsonlWriter writer = value_or_throw(JsonlWriter::open(o.output));
  double sum = 0.0;
  for (const RewardResult& r : results) {
    throw_if_error(writer.write(r.to_json()));
    sum += r.total;
  }
  throw_if_error(writer.commit());
  std::cerr << "r1 reward score: " << results.size() << " rows, mean total "
            << (results.empty() ? 0.0 : sum / static_cast<double>(results.size())) << "\n";
}

void add_score(CLI::App* group) {
  auto o = std::make_shared<ScoreOptions>();
  CLI::App* cmd = group->add_subcommand(
      "score", "Score JSONL rows {\"completion\", reference fields...} with a reward spec (see docs/rewards.md)");
  cmd->add_option("--spec", o->spec, "Reward spec JSON file")->required();
  cmd->add_option("--input", o->input, "JSONL rows, - for stdin")->required();
  cmd->add_option("--output", o->output, "JSONL output, one line per row; - for stdout")->capture_default_str();
  cmd->add_option("--workers", o->workers, "Scoring threads (0: one per CPU)")->capture_default_str()->check(
      CLI::NonNegativeNumber);
  cmd->callback([o] { run_score(*o); });
}

}  // namespace

void add_reward_commands(CLI::App& app) {
  CLI::App* group = app.add_subcommand("reward", "Rule-based rewards");
  group->require_subcommand(1);
  add_score(group);
}

}  // namespace r1
