#include "rollout/rollout_reader.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "rollout/rollout_schema.h"

namespace r1 {

namespace {

// Version 1 stores have no discard_reason column: read as none.
std::string rollout_columns(int64_t schema_version) {
  return std::string(
             "SELECT r.id, r.step, r.policy_version, r.prompt_index, r.group_index, r.sample_index, p.prompt, "
             "r.completion, r.prompt_tokens, r.completion_tokens, r.finish_reason, r.total_reward, "
             "r.advantage, r.logprob_sum, r.logprob_mean, r.logprob_min, r.generation_ms, "
             "p.reference_answer, ") +
         (schema_version >= 2 ? "r.discard_reason" : "NULL") + " FROM rollouts r JOIN prompts p USING (prompt_index) ";
}

StoredRollout read_rollout(const SqliteStmt& s) {
  StoredRollout r;
  r.step = s.col_int(1);
  r.policy_version = s.col_int(2);
  r.prompt_index = s.col_int(3);
  r.group_index = s.col_int(4);
  r.sample_index = s.col_int(5);
  r.prompt = s.col_text(6);
  r.completion = s.col_text(7);
  r.prompt_tokens = s.col_int(8);
  r.completion_tokens = s.col_int(9);
  r.finish_reason = s.col_text(10);
  r.total_reward = s.col_double(11);
  r.advantage = s.col_double(12);
  r.old_logprob = {s.col_double(13), s.col_double(14), s.col_double(15)};
  r.generation_ms = s.col_double(16);
  if (!s.col_null(17)) r.reference_answer = s.col_text(17);
  if (!s.col_null(18)) r.discard_reason = s.col_text(18);
  return r;
}

double value_or_nan(const SqliteStmt& s, int i) {
  return s.col_null(i) ? std::numeric_limits<double>::quiet_NaN() : s.col_double(i);
}

}  // namespace

Result<RolloutReader> RolloutReader::open(const std::string& path) {
  R1_ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::open(path, SqliteDb::Mode::kReadOnly));
  Result<int64_t> version = check_rollout_db_for_reading(db);
  if (version.ok()) return RolloutReader(std::move(db), *version);
  Status status = version.status();
  // A WAL reader must create the -shm file, which fails in a folder we cannot
  // write. Without a -wal file no writer is active (a WAL writer keeps one
  // open), so the file is complete and can be read as immutable.
  std::error_code ec;
  if ((sqlite3_errcode(db.handle()) & 0xff) != SQLITE_READONLY || std::filesystem::exists(path + "-wal", ec))
    return status;
  R1_ASSIGN_OR_RETURN(SqliteDb frozen, SqliteDb::open(path, SqliteDb::Mode::kImmutable));
  R1_ASSIGN_OR_RETURN(int64_t frozen_version, check_rollout_db_for_reading(frozen));
  return RolloutReader(std::move(frozen), frozen_version);
}

Result<std::optional<RunInfo>> RolloutReader::run_info() {
  R1_ASSIGN_OR_RETURN(SqliteStmt s, SqliteStmt::prepare(db_, "SELECT run_id, name, config_json, created_at, "
                                                             "model_path, dataset FROM run_info WHERE id = 1"));
  R1_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return std::optional<RunInfo>();
  return std::optional<RunInfo>(
      RunInfo{s.col_text(0), s.col_text(1), s.col_text(2), s.col_text(3), s.col_text(4), s.col_text(5)});
}

namespace {

// Per-step aggregates: read from the writer's per-step sums (version 2), or
// computed from every rollout (version 1 stores, which have none). Columns:
// step, n, reward mean, squared deviations from it, mean length, truncated.
constexpr const char* kStepStatsSql = R"sql(
SELECT step, n, reward_sum / n, reward_m2, completion_tokens_sum * 1.0 / n, truncated * 1.0 / n FROM step_rollout_stats
UNION ALL
SELECT step, 0, 0, 0, 0, 0 FROM steps WHERE step NOT IN (SELECT step FROM step_rollout_stats)
ORDER BY 1)sql";
// Two passes (mean, then squared deviations) keep the std accurate.
constexpr const char* kStepStatsV1Sql = R"sql(
WITH m AS (SELECT step, avg(total_reward) AS mean FROM rollouts GROUP BY step)
SELECT r.step, count(*), m.mean, sum((r.total_reward - m.mean) * (r.total_reward - m.mean)),
       avg(r.completion_tokens), avg(r.finish_reason = 'length')
FROM rollouts r JOIN m USING (step) GROUP BY r.step
UNION ALL
SELECT step, 0, 0, 0, 0, 0 FROM steps WHERE step NOT IN (SELECT step FROM rollouts)
ORDER BY 1)sql";

}  // namespace

Result<std::vector<StepSummary>> RolloutReader::steps() {
  R1_ASSIGN_OR_RETURN(SqliteStmt s, SqliteStmt::prepare(db_, schema_version_ >= 2 ? kStepStatsSql : kStepStatsV1Sql));
  std::vector<StepSummary> out;
  for (;;) {
    R1_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    StepSummary st;
    st.step = s.col_int(0);
    st.n = s.col_int(1);
    st.reward_mean = s.col_double(2);
    st.reward_std = st.n > 1 ? std::sqrt(s.col_double(3) / static_cast<double>(st.n - 1)) : 0.0;
    st.mean_completion_tokens = s.col_double(4);
    st.truncated_fraction = s.col_double(5);
    out.push_back(std::move(st));
  }
  R1_RETURN_IF_ERROR(add_components(out));
  R1_RETURN_IF_ERROR(add_metrics(out));
  return out;
}

namespace {

// Appends (step, name, value) rows of `s` to the summaries of their steps.
Status attach_named(SqliteStmt& s, std::vector<StepSummary>& steps, NamedValues StepSummary::*field) {
  std::map<int64_t, StepSummary*> by_step;
  for (StepSummary& st : steps) by_step[st.step] = &st;
  for (;;) {
    R1_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return Status();
    auto it = by_step.find(s.col_int(0));
    if (it != by_step.end()) (it->second->*field).emplace_back(s.col_text(1), value_or_nan(s, 2));
  }
}

}  // namespace

Status RolloutReader::add_components(std::vector<StepSummary>& steps) {
  R1_ASSIGN_OR_RETURN(
      SqliteStmt s,
      SqliteStmt::prepare(db_, schema_version_ >= 2 ? "SELECT step, name, value_sum / n FROM step_component_stats "
                                                      "ORDER BY 1, 2"
                                                    : "SELECT r.step, c.name, avg(c.value) FROM reward_components c "
                                                      "JOIN rollouts r ON r.id = c.rollout_id GROUP BY r.step, c.name "
                                                      "ORDER BY 1, 2"));
  return attach_named(s, steps, &StepSummary::component_means);
}

Status RolloutReader::add_metrics(std::vector<StepSummary>& steps) {
  R1_ASSIGN_OR_RETURN(SqliteStmt s,
                      SqliteStmt::prepare(db_, "SELECT step, name, value FROM step_metrics ORDER BY 1, 2"));
  return attach_named(s, steps, &StepSummary::metrics);
}

Status RolloutReader::scan(const RolloutFilter& filter, const std::string& order_limit,
                           const std::function<Status(const StoredRollout&)>& fn) {
  std::string where = "WHERE 1";
  if (filter.step) where += " AND r.step = " + std::to_string(*filter.step);
  if (filter.prompt_index) where += " AND r.prompt_index = " + std::to_string(*filter.prompt_index);
  bool has_reason = schema_version_ >= 2;  // version 1: nothing is discarded
  if (filter.discarded_only || filter.discard_reason)
    where += has_reason ? " AND r.discard_reason IS NOT NULL" : " AND 0";
  if (filter.discard_reason && has_reason) where += " AND r.discard_reason = ?1";
  if (filter.text) where += " AND instr(r.completion, ?2) > 0";
  R1_ASSIGN_OR_RETURN(SqliteStmt s, SqliteStmt::prepare(db_, rollout_columns(schema_version_) + where + order_limit));
  if (filter.discard_reason && has_reason) s.bind(1, *filter.discard_reason);
  if (filter.text) s.bind(2, *filter.text);
  R1_ASSIGN_OR_RETURN(SqliteStmt comps, SqliteStmt::prepare(db_, "SELECT name, value FROM reward_components "
                                                                 "WHERE rollout_id = ? ORDER BY name"));
  for (;;) {
    R1_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return Status();
    StoredRollout r = read_rollout(s);
    comps.bind(1, s.col_int(0));
    for (;;) {
      R1_ASSIGN_OR_RETURN(bool crow, comps.step());
      if (!crow) break;
      r.reward_components.emplace_back(comps.col_text(0), comps.col_double(1));
    }
    comps.reset();
    R1_RETURN_IF_ERROR(fn(r));
  }
}

Status RolloutReader::for_each_rollout(const RolloutFilter& filter,
                                       const std::function<Status(const StoredRollout&)>& fn) {
  return scan(filter, " ORDER BY r.step, r.group_index, r.sample_index", fn);
}

Result<std::vector<StoredRollout>> RolloutReader::rollouts(const RolloutFilter& filter, int64_t limit, int64_t offset) {
  std::vector<StoredRollout> out;
  R1_RETURN_IF_ERROR(scan(filter,
                          " ORDER BY r.step, r.group_index, r.sample_index LIMIT " + std::to_string(limit) +
                              " OFFSET " + std::to_string(offset),
                          [&](const StoredRollout& r) {
                            out.push_back(r);
                            return Status();
                          }));
  return out;
}

Result<NamedValues> RolloutReader::discard_counts() {
  NamedValues out;
  if (schema_version_ < 2) return out;
  R1_ASSIGN_OR_RETURN(SqliteStmt s, SqliteStmt::prepare(db_,
                                                        "SELECT discard_reason, count(*) FROM rollouts WHERE "
                                                        "discard_reason IS NOT NULL GROUP BY 1 ORDER BY 1"));
  for (;;) {
    R1_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return out;
    out.emplace_back(s.col_text(0), static_cast<double>(s.col_int(1)));
  }
}

Result<std::vector<StoredRollout>> RolloutReader::step_rollouts(int64_t step, RolloutOrder order, int64_t limit) {
  // Best/worst walk the (step, total_reward) index; ties keep (group, sample) order.
  std::string order_limit =
      order == RolloutOrder::kBest    ? " ORDER BY r.total_reward DESC, r.group_index, r.sample_index"
      : order == RolloutOrder::kWorst ? " ORDER BY r.total_reward ASC, r.group_index, r.sample_index"
                                      : " ORDER BY r.group_index, r.sample_index";
  if (limit >= 0) order_limit += " LIMIT " + std::to_string(limit);
  std::vector<StoredRollout> out;
  R1_RETURN_IF_ERROR(scan({.step = step}, order_limit, [&](const StoredRollout& r) {
    out.push_back(r);
    return Status();
  }));
  return out;
}

Result<std::vector<std::pair<int64_t, std::string>>> RolloutReader::find_prompts(const std::string& text) {
  R1_ASSIGN_OR_RETURN(SqliteStmt s, SqliteStmt::prepare(db_, "SELECT prompt_index, prompt FROM prompts "
                                                             "WHERE instr(prompt, ?) > 0 ORDER BY prompt_index"));
  s.bind(1, text);
  std::vector<std::pair<int64_t, std::string>> out;
  for (;;) {
    R1_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return out;
    out.emplace_back(s.col_int(0), s.col_text(1));
  }
}

Result<std::optional<std::string>> RolloutReader::prompt_text(int64_t prompt_index) {
  R1_ASSIGN_OR_RETURN(SqliteStmt s, SqliteStmt::prepare(db_, "SELECT prompt FROM prompts WHERE prompt_index = ?"));
  s.bind(1, prompt_index);
  R1_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.col_text(0));
}

Result<std::vector<PromptStep>> RolloutReader::follow_prompt(int64_t prompt_index) {
  R1_ASSIGN_OR_RETURN(SqliteStmt s, SqliteStmt::prepare(db_, R"sql(
SELECT step, n, mean, lo, hi, len, completion FROM (
  SELECT step, completion, count(*) OVER w AS n, avg(total_reward) OVER w AS mean,
         min(total_reward) OVER w AS lo, max(total_reward) OVER w AS hi, avg(completion_tokens) OVER w AS len,
         row_number() OVER (PARTITION BY step ORDER BY total_reward DESC, group_index, sample_index) AS rank
  FROM rollouts WHERE prompt_index = ? WINDOW w AS (PARTITION BY step))
WHERE rank = 1 ORDER BY step)sql"));
  s.bind(1, prompt_index);
  std::vector<PromptStep> out;
  for (;;) {
    R1_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return out;
    out.push_back({s.col_int(0), s.col_int(1), s.col_double(2), s.col_double(3), s.col_double(4), s.col_double(5),
                   s.col_text(6)});
  }
}

Result<std::vector<ResumeEvent>> RolloutReader::resumes() {
  R1_ASSIGN_OR_RETURN(SqliteStmt s, SqliteStmt::prepare(db_, "SELECT after_step, discarded_rollouts, "
                                                             "discarded_metric_steps, at FROM resumes ORDER BY id"));
  std::vector<ResumeEvent> out;
  for (;;) {
    R1_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) return out;
    out.push_back({s.col_int(0), s.col_int(1), s.col_int(2), s.col_text(3)});
  }
}

}  // namespace r1
