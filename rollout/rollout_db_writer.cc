#include "rollout/rollout_db_writer.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>

#include "rollout/rollout_schema.h"

namespace r1 {

namespace {

std::string where(const StoredRollout& r) {
  return "step " + std::to_string(r.step) + ", group " + std::to_string(r.group_index) + ", sample " +
         std::to_string(r.sample_index);
}

Status check_names(const std::vector<std::pair<std::string, double>>& values, const std::string& what,
                   bool allow_nan) {
  std::set<std::string> seen;
  for (const auto& [name, value] : values) {
    if (name.empty()) return Status::error(what + " name must not be empty");
    if (!seen.insert(name).second) return Status::error(what + " '" + name + "' appears twice");
    if (!allow_nan && std::isnan(value)) return Status::error(what + " '" + name + "' is NaN");
  }
  return Status();
}

Status check_discard_reason(const std::string& reason) {
  if (reason.empty()) return Status();
  for (const char* known : kDiscardReasons)
    if (reason == known) return Status();
  std::string names;
  for (const char* known : kDiscardReasons) names += (names.empty() ? "" : ", ") + std::string(known);
  return Status::error("discard_reason \"" + reason + "\" is not one of " + names);
}

Status validate_fields(const StoredRollout& r) {
  if (r.step < 0 || r.policy_version < 0 || r.prompt_index < 0 || r.group_index < 0 || r.sample_index < 0)
    return Status::error("step, policy_version, prompt_index, group_index and sample_index must be >= 0");
  if (r.prompt_tokens < 0 || r.completion_tokens < 0) return Status::error("token counts must be >= 0");
  if (r.finish_reason != "stop" && r.finish_reason != "length")
    return Status::error("finish_reason must be \"stop\" or \"length\", got \"" + r.finish_reason + "\"");
  const double numbers[] = {r.total_reward,       r.advantage,        r.old_logprob.sum,
                            r.old_logprob.mean,   r.old_logprob.min,  r.generation_ms};
  for (double x : numbers)
    if (std::isnan(x))
      return Status::error("total_reward, advantage, old log-prob summary and generation_ms must not be NaN");
  R1_RETURN_IF_ERROR(check_discard_reason(r.discard_reason));
  return check_names(r.reward_components, "reward component", false);
}

}  // namespace

Status validate_rollout(const StoredRollout& r) { return validate_fields(r).with_context(where(r)); }

Status validate_metrics(const StepMetrics& m) {
  Status status;
  if (m.step < 0) status = Status::error("step must be >= 0");
  if (status.ok() && !std::isfinite(m.wall_time)) status = Status::error("wall_time must be finite");
  if (status.ok()) status = check_names(m.metrics, "metric", true);
  return status.with_context("metrics of step " + std::to_string(m.step));
}

namespace {

// A new store appears whole: its schema is committed under a temporary name
// and the file then linked into place, so a reader that finds the file (`r1
// inspect` on a run that is starting) never finds it without a schema.
// link() never replaces: a process that loses a race to create the same
// store opens the winner's. Where this fails, the caller's plain open
// reports the error for `path` itself.
void create_whole(const std::string& path) {
  if (::access(path.c_str(), F_OK) == 0) return;
  const std::string tmp = path + ".creating." + std::to_string(::getpid());
  bool made = false;
  {
    Result<SqliteDb> db = SqliteDb::open(tmp, SqliteDb::Mode::kReadWriteCreate);
    made = db.ok() && prepare_rollout_db_for_writing(*db).ok();
  }  // closed: the WAL is checkpointed into the file and removed
  if (made) ::link(tmp.c_str(), path.c_str());
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((tmp + suffix).c_str());
}

}  // namespace

Result<std::unique_ptr<RolloutDbWriter>> RolloutDbWriter::open(const std::string& path) {
  create_whole(path);
  R1_ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::open(path, SqliteDb::Mode::kReadWriteCreate));
  R1_RETURN_IF_ERROR(prepare_rollout_db_for_writing(db));
  std::unique_ptr<RolloutDbWriter> writer(new RolloutDbWriter(std::move(db)));
  R1_RETURN_IF_ERROR(writer->prepare_statements());
  return writer;
}

Status RolloutDbWriter::prepare_statements() {
  auto make = [&](std::unique_ptr<SqliteStmt>& out, const char* sql) -> Status {
    R1_ASSIGN_OR_RETURN(SqliteStmt stmt, SqliteStmt::prepare(db_, sql));
    out = std::make_unique<SqliteStmt>(std::move(stmt));
    return Status();
  };
  R1_RETURN_IF_ERROR(make(prompt_text_, "SELECT prompt, reference_answer IS NULL FROM prompts WHERE prompt_index = ?"));
  R1_RETURN_IF_ERROR(make(insert_prompt_,
                          "INSERT INTO prompts(prompt_index, prompt, reference_answer) VALUES (?, ?, ?) "
                          "ON CONFLICT(prompt_index) DO UPDATE SET reference_answer = excluded.reference_answer"));
  R1_RETURN_IF_ERROR(make(insert_rollout_,
                          "INSERT INTO rollouts(step, policy_version, prompt_index, group_index, sample_index, "
                          "completion, prompt_tokens, completion_tokens, finish_reason, total_reward, advantage, "
                          "logprob_sum, logprob_mean, logprob_min, generation_ms, discard_reason) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  return make(insert_component_, "INSERT INTO reward_components(rollout_id, name, value) VALUES (?, ?, ?)");
}

Status RolloutDbWriter::in_transaction(const std::function<Status()>& body) {
  R1_RETURN_IF_ERROR(db_.exec("BEGIN IMMEDIATE"));
  Status status = body();
  if (!status.ok()) {
    db_.exec("ROLLBACK");
    return status;
  }
  return db_.exec("COMMIT");
}

// The prompt of an index is stored once; a different text for a stored index
// means the dataset or chat template changed under a resumed run.
Status RolloutDbWriter::insert_prompt(const StoredRollout& r) {
  prompt_text_->bind(1, r.prompt_index);
  R1_ASSIGN_OR_RETURN(bool found, prompt_text_->step());
  std::string stored = found ? prompt_text_->col_text(0) : "";
  bool missing_answer = found && prompt_text_->col_int(1) != 0;
  prompt_text_->reset();
  if (found && stored != sqlite_text(r.prompt))
    return Status::error(
        db_.path() + ": prompt_index " + std::to_string(r.prompt_index) +
        ": prompt text differs from the one stored earlier (did the dataset or chat template change?)");
  if (found && !(missing_answer && r.reference_answer)) return Status();
  insert_prompt_->bind(1, r.prompt_index).bind(2, r.prompt).bind(3, r.reference_answer);
  return insert_prompt_->run();
}

Status RolloutDbWriter::insert_rollout(const StoredRollout& r) {
  insert_rollout_->bind(1, r.step).bind(2, r.policy_version).bind(3, r.prompt_index).bind(4, r.group_index);
  insert_rollout_->bind(5, r.sample_index).bind(6, r.completion).bind(7, r.prompt_tokens);
  insert_rollout_->bind(8, r.completion_tokens).bind(9, r.finish_reason).bind(10, r.total_reward);
  insert_rollout_->bind(11, r.advantage).bind(12, r.old_logprob.sum).bind(13, r.old_logprob.mean);
  insert_rollout_->bind(14, r.old_logprob.min).bind(15, r.generation_ms);
  insert_rollout_->bind(16, r.discard_reason.empty() ? std::nullopt : std::optional<std::string>(r.discard_reason));
  Status status = insert_rollout_->run();
  if (!status.ok() && sqlite3_extended_errcode(db_.handle()) == SQLITE_CONSTRAINT_UNIQUE)
    return Status::error(db_.path() + ": " + where(r) +
                         " is already stored (when resuming, call discard_after_step(checkpoint step) first)");
  R1_RETURN_IF_ERROR(status);
  int64_t id = sqlite3_last_insert_rowid(db_.handle());
  for (const auto& [name, value] : r.reward_components) {
    insert_component_->bind(1, id).bind(2, name).bind(3, value);
    R1_RETURN_IF_ERROR(insert_component_->run());
  }
  return Status();
}

Status RolloutDbWriter::write_rollouts(const std::vector<StoredRollout>& records) {
  return in_transaction([&]() -> Status {
    std::unordered_map<int64_t, const std::string*> prompts_seen;
    for (const StoredRollout& r : records) {
      auto [it, inserted] = prompts_seen.emplace(r.prompt_index, &r.prompt);
      if (inserted || r.reference_answer) R1_RETURN_IF_ERROR(insert_prompt(r));
      else if (*it->second != r.prompt)
        return Status::error(db_.path() + ": " + where(r) + ": prompt_index " + std::to_string(r.prompt_index) +
                             " has two different prompt texts in one append");
      R1_RETURN_IF_ERROR(insert_rollout(r));
    }
    return add_step_stats(records);
  });
}

namespace {

struct StepSums {
  int64_t n = 0, tokens = 0, truncated = 0;
  double reward_sum = 0, m2 = 0;
  std::map<std::string, std::pair<int64_t, double>> components;  // name -> (n, sum)
};

// The step sums of one append; squared deviations in a second pass over
// the step's rewards, as the reader's summaries always computed them.
std::map<int64_t, StepSums> step_sums(const std::vector<StoredRollout>& records) {
  std::map<int64_t, StepSums> sums;
  for (const StoredRollout& r : records) {
    StepSums& s = sums[r.step];
    ++s.n;
    s.reward_sum += r.total_reward;
    s.tokens += r.completion_tokens;
    s.truncated += r.finish_reason == "length";
    for (const auto& [name, value] : r.reward_components) {
      auto& [n, sum] = s.components[name];
      ++n;
      sum += value;
    }
  }
  for (const StoredRollout& r : records) {
    StepSums& s = sums[r.step];
    double d = r.total_reward - s.reward_sum / static_cast<double>(s.n);
    s.m2 += d * d;
  }
  return sums;
}

}  // namespace

// A step appended in several transactions merges its sums; the squared
// deviations merge as Chan et al.'s parallel variance (SET reads the old row).
Status RolloutDbWriter::add_step_stats(const std::vector<StoredRollout>& records) {
  R1_ASSIGN_OR_RETURN(SqliteStmt add_step, SqliteStmt::prepare(db_, R"sql(
INSERT INTO step_rollout_stats(step, n, reward_sum, reward_m2, completion_tokens_sum, truncated) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT(step) DO UPDATE SET
  reward_m2 = reward_m2 + excluded.reward_m2 + (excluded.reward_sum / excluded.n - reward_sum / n) *
              (excluded.reward_sum / excluded.n - reward_sum / n) * n * excluded.n / (n + excluded.n),
  n = n + excluded.n, reward_sum = reward_sum + excluded.reward_sum,
  completion_tokens_sum = completion_tokens_sum + excluded.completion_tokens_sum,
  truncated = truncated + excluded.truncated)sql"));
  R1_ASSIGN_OR_RETURN(SqliteStmt add_component,
                      SqliteStmt::prepare(db_,
                                          "INSERT INTO step_component_stats(step, name, n, value_sum) VALUES "
                                          "(?, ?, ?, ?) ON CONFLICT(step, name) DO UPDATE SET n = n + "
                                          "excluded.n, value_sum = value_sum + excluded.value_sum"));
  for (const auto& [step, s] : step_sums(records)) {
    add_step.bind(1, step).bind(2, s.n).bind(3, s.reward_sum).bind(4, s.m2).bind(5, s.tokens);
    R1_RETURN_IF_ERROR(add_step.bind(6, s.truncated).run());
    for (const auto& [name, ns] : s.components)
      R1_RETURN_IF_ERROR(add_component.bind(1, step).bind(2, name).bind(3, ns.first).bind(4, ns.second).run());
  }
  return Status();
}

Status RolloutDbWriter::write_metrics(const StepMetrics& m) {
  return in_transaction([&]() -> Status {
    R1_ASSIGN_OR_RETURN(SqliteStmt step,
                        SqliteStmt::prepare(db_,
                                            "INSERT INTO steps(step, wall_time) VALUES (?, ?) "
                                            "ON CONFLICT(step) DO UPDATE SET wall_time = excluded.wall_time"));
    R1_RETURN_IF_ERROR(step.bind(1, m.step).bind(2, m.wall_time).run());
    R1_ASSIGN_OR_RETURN(SqliteStmt metric,
                        SqliteStmt::prepare(db_, "INSERT INTO step_metrics(step, name, value) VALUES (?, ?, ?) "
                                                 "ON CONFLICT(step, name) DO UPDATE SET value = excluded.value"));
    for (const auto& [name, value] : m.metrics)
      R1_RETURN_IF_ERROR(metric.bind(1, m.step).bind(2, name).bind(3, value).run());
    return Status();
  });
}

Status RolloutDbWriter::write_run_info(const RunInfo& info) {
  return in_transaction([&]() -> Status {
    R1_ASSIGN_OR_RETURN(SqliteStmt stmt,
                        SqliteStmt::prepare(db_, "INSERT OR REPLACE INTO run_info(id, run_id, name, config_json, "
                                                 "created_at, model_path, dataset) VALUES (1, ?, ?, ?, ?, ?, ?)"));
    stmt.bind(1, info.run_id).bind(2, info.name).bind(3, info.config_json).bind(4, info.created_at);
    return stmt.bind(5, info.model_path).bind(6, info.dataset).run();
  });
}

Result<int64_t> RolloutDbWriter::discard_after_step(int64_t step) {
  int64_t rollouts = 0;
  Status status = in_transaction([&]() -> Status {
    auto run = [&](const char* sql) -> Result<int64_t> {
      R1_ASSIGN_OR_RETURN(SqliteStmt stmt, SqliteStmt::prepare(db_, sql));
      R1_RETURN_IF_ERROR(stmt.bind(1, step).run());
      return static_cast<int64_t>(sqlite3_changes(db_.handle()));
    };
    R1_RETURN_IF_ERROR(
        run("DELETE FROM reward_components WHERE rollout_id IN (SELECT id FROM rollouts WHERE step > ?)").status());
    R1_ASSIGN_OR_RETURN(rollouts, run("DELETE FROM rollouts WHERE step > ?"));
    R1_RETURN_IF_ERROR(run("DELETE FROM step_rollout_stats WHERE step > ?").status());
    R1_RETURN_IF_ERROR(run("DELETE FROM step_component_stats WHERE step > ?").status());
    R1_RETURN_IF_ERROR(run("DELETE FROM step_metrics WHERE step > ?").status());
    R1_ASSIGN_OR_RETURN(int64_t steps, run("DELETE FROM steps WHERE step > ?"));
    R1_ASSIGN_OR_RETURN(SqliteStmt log, SqliteStmt::prepare(db_, "INSERT INTO resumes(after_step, discarded_rollouts, "
                                                                 "discarded_metric_steps) VALUES (?, ?, ?)"));
    return log.bind(1, step).bind(2, rollouts).bind(3, steps).run();
  });
  if (!status.ok()) return status;
  return rollouts;
}

}  // namespace r1
