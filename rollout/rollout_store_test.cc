// Tests against real SQLite files in fresh temp folders: round trips, the
// writer thread, WAL readers, flush, resume (discard_after_step) and a
// SIGKILLed writer process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <atomic>
#include <map>
#include <thread>

#include "rollout/rollout_reader.h"
#include "rollout/rollout_schema.h"
#include "rollout/rollout_store.h"
#include "rollout/sqlite_db.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "r1_store_test_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A step of `groups` x `g` rollouts; `tag` changes the completions so a
// regenerated step is distinguishable from the original.
std::vector<StoredRollout> make_step(int64_t step, int groups, int g, const std::string& tag = "v1") {
  std::vector<StoredRollout> out;
  for (int gi = 0; gi < groups; ++gi) {
    for (int si = 0; si < g; ++si) {
      StoredRollout r;
      r.step = step;
      r.policy_version = step;
      r.prompt_index = (step * groups + gi) % 7;
      r.group_index = gi;
      r.sample_index = si;
      r.prompt = "Question " + std::to_string(r.prompt_index) + ": what is 2+" + std::to_string(r.prompt_index) + "?";
      r.completion = tag + " <think>step " + std::to_string(step) + " sample " + std::to_string(si) +
                     "</think>\nThe answer is \\boxed{" + std::to_string(si) + "} — ünïcode";
      r.prompt_tokens = 20 + gi;
      r.completion_tokens = 50 + 7 * si + step;
      r.finish_reason = si % 3 == 2 ? "length" : "stop";
      double acc = si % 2 == 0 ? 1.0 : 0.0;
      double fmt = si % 3 == 0 ? 1.0 : 0.5;
      r.reward_components = {{"accuracy", acc}, {"format", fmt}};
      r.total_reward = acc + fmt;
      r.advantage = (si - (g - 1) / 2.0) / g;
      r.old_logprob = {-12.5 - si, -0.25 - si / 100.0, -3.0 - step};
      r.generation_ms = 100.0 + si;
      if (gi == 0) r.reference_answer = std::to_string(2 + r.prompt_index);
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::unique_ptr<RolloutStore> open_store(const std::string& path, RolloutStoreOptions options = {}) {
  auto store = RolloutStore::open(path, options);
  EXPECT_TRUE(store.ok()) << store.status().message();
  return std::move(store.value());
}

std::vector<StoredRollout> read_all(const std::string& path, RolloutFilter filter = {}) {
  auto reader = RolloutReader::open(path);
  EXPECT_TRUE(reader.ok()) << reader.status().message();
  std::vector<StoredRollout> out;
  Status status = reader->for_each_rollout(filter, [&](const StoredRollout& r) {
    out.push_back(r);
    return Status();
  });
  EXPECT_TRUE(status.ok()) << status.message();
  return out;
}

int64_t query_int(const std::string& path, const std::string& sql) {
  auto db = SqliteDb::open(path, SqliteDb::Mode::kReadOnly);
  EXPECT_TRUE(db.ok()) << db.status().message();
  auto stmt = SqliteStmt::prepare(*db, sql);
  EXPECT_TRUE(stmt.ok()) << stmt.status().message();
  auto row = stmt->step();
  EXPECT_TRUE(row.ok() && *row) << sql;
  return stmt->col_int(0);
}

void expect_same(const StoredRollout& a, const StoredRollout& b) {
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.policy_version, b.policy_version);
  EXPECT_EQ(a.prompt_index, b.prompt_index);
  EXPECT_EQ(a.group_index, b.group_index);
  EXPECT_EQ(a.sample_index, b.sample_index);
  EXPECT_EQ(a.prompt, b.prompt);
  EXPECT_EQ(a.completion, b.completion);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.completion_tokens, b.completion_tokens);
  EXPECT_EQ(a.finish_reason, b.finish_reason);
  EXPECT_EQ(a.reward_components, b.reward_components);
  EXPECT_EQ(a.total_reward, b.total_reward);
  EXPECT_EQ(a.advantage, b.advantage);
  EXPECT_EQ(a.old_logprob.sum, b.old_logprob.sum);
  EXPECT_EQ(a.old_logprob.mean, b.old_logprob.mean);
  EXPECT_EQ(a.old_logprob.min, b.old_logprob.min);
  EXPECT_EQ(a.generation_ms, b.generation_ms);
  EXPECT_EQ(a.reference_answer, b.reference_answer);
  EXPECT_EQ(a.discard_reason, b.discard_reason);
}

TEST(RolloutStore, RoundTripsRecordsMetricsAndRunInfo) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  std::vector<StoredRollout> written;
  {
    auto store = open_store(db);
    RunInfo info{"run-1", "gsm8k-grpo", R"({"lr":1e-6})", "2026-11-25T15:00:00Z", "/models/qwen", "gsm8k"};
    ASSERT_TRUE(store->write_run_info(info).ok());
    for (int64_t step = 0; step < 3; ++step) {
      auto recs = make_step(step, 2, 4);
      written.insert(written.end(), recs.begin(), recs.end());
      ASSERT_TRUE(store->append(recs).ok());
      StepMetrics m{step, {{"reward", 1.25 + step}, {"kl", std::nan("")}}, 1.7e9 + step};
      ASSERT_TRUE(store->append_metrics(m).ok());
    }
    ASSERT_TRUE(store->close().ok());
  }
  std::vector<StoredRollout> read = read_all(db);
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i) expect_same(read[i], written[i]);

  auto reader = RolloutReader::open(db);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  auto info = reader->run_info();
  ASSERT_TRUE(info.ok() && info->has_value());
  EXPECT_EQ((*info)->run_id, "run-1");
  EXPECT_EQ((*info)->config_json, R"({"lr":1e-6})");
  auto steps = reader->steps();
  ASSERT_TRUE(steps.ok()) << steps.status().message();
  ASSERT_EQ(steps->size(), 3u);
  for (const StepSummary& st : *steps) {
    double sum = 0, sq = 0, len = 0;
    std::vector<double> rewards;
    for (const StoredRollout& r : written)
      if (r.step == st.step) rewards.push_back(r.total_reward), len += r.completion_tokens;
    for (double x : rewards) sum += x;
    double mean = sum / rewards.size();
    for (double x : rewards) sq += (x - mean) * (x - mean);
    EXPECT_EQ(st.n, static_cast<int64_t>(rewards.size()));
    EXPECT_NEAR(st.reward_mean, mean, 1e-12);
    EXPECT_NEAR(st.reward_std, std::sqrt(sq / (rewards.size() - 1)), 1e-12);
    EXPECT_NEAR(st.mean_completion_tokens, len / rewards.size(), 1e-12);
    ASSERT_EQ(st.metrics.size(), 2u);
    EXPECT_EQ(st.metrics[0].first, "kl");
    EXPECT_TRUE(std::isnan(st.metrics[0].second));  // NaN is stored as NULL and read back as NaN
    EXPECT_EQ(st.metrics[1], (std::pair<std::string, double>("reward", 1.25 + st.step)));
    ASSERT_EQ(st.component_means.size(), 2u);
    EXPECT_EQ(st.component_means[0].first, "accuracy");
    EXPECT_NEAR(st.component_means[0].second, 0.5, 1e-12);
  }
}

TEST(RolloutStore, BestAndWorstOfAStepAndPromptAcrossSteps) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  {
    auto store = open_store(db);
    for (int64_t step = 0; step < 7; ++step) ASSERT_TRUE(store->append(make_step(step, 2, 4)).ok());
  }
  auto reader = RolloutReader::open(db);
  ASSERT_TRUE(reader.ok());
  auto best = reader->step_rollouts(3, RolloutOrder::kBest, 3);
  auto worst = reader->step_rollouts(3, RolloutOrder::kWorst, 2);
  ASSERT_TRUE(best.ok() && worst.ok());
  ASSERT_EQ(best->size(), 3u);
  ASSERT_EQ(worst->size(), 2u);
  std::vector<StoredRollout> all = read_all(db, {3, std::nullopt});
  double max_reward = -1e9, min_reward = 1e9;
  for (const auto& r : all)
    max_reward = std::max(max_reward, r.total_reward), min_reward = std::min(min_reward, r.total_reward);
  EXPECT_EQ((*best)[0].total_reward, max_reward);
  EXPECT_EQ((*worst)[0].total_reward, min_reward);
  for (size_t i = 1; i < best->size(); ++i) EXPECT_GE((*best)[i - 1].total_reward, (*best)[i].total_reward);

  auto found = reader->find_prompts("what is 2+3?");
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].first, 3);
  auto follow = reader->follow_prompt(3);
  ASSERT_TRUE(follow.ok()) << follow.status().message();
  std::map<int64_t, std::pair<int64_t, double>> expected;  // step -> (n, max reward)
  for (const auto& r : read_all(db, {std::nullopt, 3})) {
    auto& e = expected[r.step];
    e.second = e.first == 0 ? r.total_reward : std::max(e.second, r.total_reward);
    e.first += 1;
  }
  ASSERT_EQ(follow->size(), expected.size());
  for (const PromptStep& ps : *follow) {
    EXPECT_EQ(ps.n, expected[ps.step].first);
    EXPECT_EQ(ps.reward_max, expected[ps.step].second);
  }
}

TEST(RolloutStore, InvalidRecordsAreRejectedBeforeQueueing) {
  TempDir dir;
  auto store = open_store(dir.file("rollouts.db"));
  auto recs = make_step(0, 2, 3);
  recs[5].finish_reason = "eos";
  Status status = store->append(recs);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("step 0, group 1, sample 2"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("finish_reason"), std::string::npos) << status.message();
  recs = make_step(0, 1, 2);
  recs[1].advantage = std::nan("");
  EXPECT_NE(store->append(recs).message().find("NaN"), std::string::npos);
  recs = make_step(0, 1, 2);
  recs[0].reward_components.push_back({"accuracy", 0.0});
  EXPECT_NE(store->append(recs).message().find("'accuracy' appears twice"), std::string::npos);
  // Validation errors leave the store usable.
  ASSERT_TRUE(store->append(make_step(0, 1, 2)).ok());
  ASSERT_TRUE(store->flush().ok());
}

TEST(RolloutStore, DuplicateKeyFailsTheWholeBatchAndIsReportedOnFlush) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  auto store = open_store(db);
  ASSERT_TRUE(store->append(make_step(0, 2, 3)).ok());
  ASSERT_TRUE(store->flush().ok());
  auto batch = make_step(1, 2, 3);
  batch.push_back(batch[0]);  // the same key twice: the whole step must be rolled back
  ASSERT_TRUE(store->append(batch).ok());  // queued; the writer finds the duplicate
  Status status = store->flush();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("step 1, group 0, sample 0 is already stored"), std::string::npos)
      << status.message();
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM rollouts WHERE step = 1"), 0);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM rollouts WHERE step = 0"), 6);
  // Sticky: later calls keep reporting it instead of silently dropping data.
  EXPECT_EQ(store->append(make_step(2, 1, 1)).message(), status.message());
  EXPECT_EQ(store->close().message(), status.message());
}

TEST(RolloutStore, ManyAppendsThroughASmallQueueAreAllCommitted) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  RolloutStoreOptions options;
  options.max_queued_jobs = 2;  // producers block on the writer
  auto store = open_store(db, options);
  for (int64_t step = 0; step < 60; ++step) {
    ASSERT_TRUE(store->append(make_step(step, 3, 4)).ok());
    ASSERT_TRUE(store->append_metrics({step, {{"reward", 1.0 * step}}, 1.7e9}).ok());
  }
  ASSERT_TRUE(store->flush().ok());
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM rollouts"), 60 * 12);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM reward_components"), 60 * 12 * 2);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM step_metrics"), 60);
  EXPECT_EQ(query_int(db, "SELECT count(DISTINCT step) FROM rollouts"), 60);
}

TEST(RolloutStore, FlushMakesEverythingVisibleToANewReader) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  auto store = open_store(db);
  EXPECT_TRUE(store->flush().ok());  // nothing queued
  for (int64_t step = 0; step < 10; ++step) {
    ASSERT_TRUE(store->append(make_step(step, 2, 2)).ok());
    ASSERT_TRUE(store->append_metrics({step, {{"kl", 0.01}}, 1.7e9}).ok());
    ASSERT_TRUE(store->flush().ok());
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM rollouts"), (step + 1) * 4);
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM steps"), step + 1);
  }
}

TEST(RolloutStore, DestructionFlushesQueuedWork) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  {
    auto store = open_store(db);
    for (int64_t step = 0; step < 20; ++step) ASSERT_TRUE(store->append(make_step(step, 2, 2)).ok());
  }
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM rollouts"), 80);
}

std::string query_text(SqliteDb& db, const std::string& sql) {
  auto stmt = SqliteStmt::prepare(db, sql);
  EXPECT_TRUE(stmt.ok()) << stmt.status().message();
  auto row = stmt->step();
  EXPECT_TRUE(row.ok() && *row) << sql;
  return stmt->col_text(0);
}

TEST(RolloutStore, ReaderQueriesWhileTheWriterCommits) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  auto store = open_store(db);
  ASSERT_TRUE(store->append(make_step(0, 2, 3)).ok());
  ASSERT_TRUE(store->flush().ok());
  auto reader = RolloutReader::open(db);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ASSERT_EQ(reader->steps()->size(), 1u);

  // A reader holding an open read transaction: in WAL mode the writer still
  // commits (a rollback journal would block it), and the reader keeps its snapshot.
  auto raw = SqliteDb::open(db, SqliteDb::Mode::kReadOnly);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(query_text(*raw, "PRAGMA journal_mode"), "wal");
  ASSERT_TRUE(raw->exec("BEGIN").ok());
  EXPECT_EQ(query_text(*raw, "SELECT count(*) FROM rollouts"), "6");
  ASSERT_TRUE(store->append(make_step(1, 2, 3)).ok());
  ASSERT_TRUE(store->append_metrics({1, {{"reward", 0.5}}, 1.7e9}).ok());
  ASSERT_TRUE(store->flush().ok());
  EXPECT_EQ(query_text(*raw, "SELECT count(*) FROM rollouts"), "6");
  ASSERT_TRUE(raw->exec("COMMIT").ok());
  EXPECT_EQ(query_text(*raw, "SELECT count(*) FROM rollouts"), "12");
  // The long-lived reader sees the new step on its next query.
  auto steps = reader->steps();
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_EQ((*steps)[1].n, 6);
}

TEST(RolloutStore, ConcurrentReaderNeverSeesAPartialStep) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  auto store = open_store(db);
  ASSERT_TRUE(store->append(make_step(0, 3, 4)).ok());
  ASSERT_TRUE(store->flush().ok());
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int64_t step = 1; step < 80; ++step) EXPECT_TRUE(store->append(make_step(step, 3, 4)).ok());
    EXPECT_TRUE(store->flush().ok());
    done = true;
  });
  auto reader = SqliteDb::open(db, SqliteDb::Mode::kReadOnly);
  ASSERT_TRUE(reader.ok());
  sqlite3_busy_timeout(reader->handle(), 5000);
  int64_t seen = 0;
  for (bool last_read = false; !last_read;) {
    last_read = done.load();  // the read after the producer finished sees everything
    // One statement = one snapshot: both numbers come from the same state.
    std::string row = query_text(*reader, "SELECT count(*) || ' ' || (SELECT count(*) FROM (SELECT step FROM "
                                          "rollouts GROUP BY step HAVING count(*) != 12)) FROM rollouts");
    int64_t total = std::stoll(row.substr(0, row.find(' ')));
    EXPECT_EQ(row.substr(row.find(' ') + 1), "0") << "partial step visible at " << total << " rows";
    EXPECT_GE(total, seen);
    EXPECT_EQ(total % 12, 0);
    seen = total;
    if (::testing::Test::HasFailure()) break;
  }
  producer.join();
  EXPECT_EQ(seen, 80 * 12);
}

TEST(RolloutStore, DiscardAfterStepThenReappendLosesAndDuplicatesNothing) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  const int64_t checkpoint = 6;
  {
    auto store = open_store(db);
    for (int64_t step = 0; step < 10; ++step) {
      ASSERT_TRUE(store->append(make_step(step, 2, 3)).ok());
      ASSERT_TRUE(store->append_metrics({step, {{"reward", 1.0}, {"kl", 0.1}}, 1.7e9}).ok());
    }
  }
  std::vector<StoredRollout> before = read_all(db);
  {
    auto store = open_store(db);  // the resumed run
    auto deleted = store->discard_after_step(checkpoint);
    ASSERT_TRUE(deleted.ok()) << deleted.status().message();
    EXPECT_EQ(*deleted, 3 * 6);
    for (int64_t step = checkpoint + 1; step < 12; ++step) {
      ASSERT_TRUE(store->append(make_step(step, 2, 3, "v2")).ok());
      ASSERT_TRUE(store->append_metrics({step, {{"reward", 2.0}}, 1.7e9}).ok());
    }
    ASSERT_TRUE(store->close().ok());
  }
  std::vector<StoredRollout> after = read_all(db);
  ASSERT_EQ(after.size(), 12u * 6);
  std::map<std::tuple<int64_t, int64_t, int64_t>, int> keys;
  for (const StoredRollout& r : after) keys[{r.step, r.group_index, r.sample_index}]++;
  EXPECT_EQ(keys.size(), after.size());
  for (size_t i = 0; i < after.size(); ++i) {
    if (after[i].step <= checkpoint) expect_same(after[i], before[i]);  // kept as committed
    else EXPECT_EQ(after[i].completion.substr(0, 2), "v2");            // regenerated
  }
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM reward_components"), 12 * 6 * 2);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM reward_components WHERE rollout_id NOT IN (SELECT id FROM rollouts)"),
            0);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM step_metrics WHERE step > 6 AND name = 'kl'"), 0);
  EXPECT_EQ(query_int(db, "SELECT sum(value) FROM step_metrics WHERE step > 6"), 2 * 5);
  auto reader = RolloutReader::open(db);
  auto resumes = reader->resumes();
  ASSERT_TRUE(resumes.ok());
  ASSERT_EQ(resumes->size(), 1u);
  EXPECT_EQ((*resumes)[0].after_step, checkpoint);
  EXPECT_EQ((*resumes)[0].discarded_rollouts, 18);
  EXPECT_EQ((*resumes)[0].discarded_metric_steps, 3);
}

TEST(RolloutStore, ChangedPromptTextForAnIndexIsAnError) {
  TempDir dir;
  auto store = open_store(dir.file("rollouts.db"));
  ASSERT_TRUE(store->append(make_step(0, 1, 2)).ok());
  auto recs = make_step(1, 1, 2);
  recs[0].prompt_index = make_step(0, 1, 2)[0].prompt_index;
  recs[1].prompt_index = recs[0].prompt_index;
  recs[0].prompt = recs[1].prompt = "another text";
  ASSERT_TRUE(store->append(recs).ok());
  Status status = store->flush();
  EXPECT_NE(status.message().find("prompt text differs"), std::string::npos) << status.message();
}

// Text that is not UTF-8 (a dataset's prompt with stray bytes) is stored
// repaired, U+FFFD for each bad sequence as the JSON writer does, so every
// reader can decode the store; appending the same text again is no change.
TEST(RolloutStore, TextThatIsNotUtf8IsStoredRepaired) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  {
    auto store = open_store(db);
    auto recs = make_step(0, 1, 2);
    for (auto& r : recs) r.prompt = "bad \xff\xfe bytes";
    recs[1].completion = "cut \xE2\x82";
    ASSERT_TRUE(store->append(recs).ok());
    auto again = make_step(1, 1, 2);
    for (auto& r : again) r.prompt = "bad \xff\xfe bytes", r.prompt_index = recs[0].prompt_index;
    ASSERT_TRUE(store->append(again).ok());
    ASSERT_TRUE(store->close().ok()) << "the same bytes again are the same prompt";
  }
  std::vector<StoredRollout> read = read_all(db);
  ASSERT_EQ(read.size(), 4u);
  for (const StoredRollout& r : read) EXPECT_EQ(r.prompt, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
  EXPECT_EQ(read[1].completion, "cut \xEF\xBF\xBD");
}

// The child writes steps forever, flushing every other step and reporting it
// through a pipe; the parent SIGKILLs it while it is still writing.
[[noreturn]] void write_until_killed(const std::string& db, int report_fd) {
  auto store = RolloutStore::open(db);
  if (!store.ok()) _exit(2);
  std::string pad(1500, 'x');
  for (int64_t step = 0;; ++step) {
    auto recs = make_step(step, 8, 8);
    for (auto& r : recs) r.completion += pad;
    if (!(*store)->append(std::move(recs)).ok()) _exit(3);
    if (step % 2 == 1) {
      if (!(*store)->flush().ok()) _exit(4);
      if (write(report_fd, &step, sizeof step) != sizeof step) _exit(5);
    }
  }
}

// Forks a writer, waits for its report of step 9, lets it run on for
// `delay_us` so the kill lands at a different point of a transaction in each
// round, then SIGKILLs it. Returns the last step it reported as flushed.
int64_t run_and_kill_writer(const std::string& db, int delay_us) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    write_until_killed(db, fds[1]);
  }
  close(fds[1]);
  int64_t reported = -1;
  while (reported < 9 && read(fds[0], &reported, sizeof reported) == (ssize_t)sizeof reported) {
  }
  usleep(delay_us);
  EXPECT_EQ(kill(pid, SIGKILL), 0);
  int wstatus = 0;
  EXPECT_EQ(waitpid(pid, &wstatus, 0), pid);
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) << "child exited early: " << wstatus;
  return reported;
}

TEST(RolloutStore, SigkilledWriterLeavesOnlyWholeSteps) {
  for (int round = 0; round < 6; ++round) {
    TempDir dir;
    std::string db = dir.file("rollouts.db");
    int64_t reported = run_and_kill_writer(db, round * 4000);
    ASSERT_EQ(reported, 9);

    auto raw = SqliteDb::open(db, SqliteDb::Mode::kReadOnly);
    ASSERT_TRUE(raw.ok()) << raw.status().message();
    EXPECT_EQ(query_text(*raw, "PRAGMA integrity_check"), "ok");
    int64_t steps = query_int(db, "SELECT count(DISTINCT step) FROM rollouts");
    int64_t max_step = query_int(db, "SELECT max(step) FROM rollouts");
    EXPECT_GE(max_step, reported);  // everything flushed before the kill is there
    EXPECT_EQ(steps, max_step + 1);  // no gaps
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM (SELECT step FROM rollouts GROUP BY step HAVING count(*) != 64)"),
              0) << "partial step in round " << round;
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM reward_components"), steps * 64 * 2);

    // The resumed run reopens it for writing and continues after its checkpoint.
    auto store = open_store(db);
    auto deleted = store->discard_after_step(reported - 2);
    ASSERT_TRUE(deleted.ok()) << deleted.status().message();
    EXPECT_EQ(*deleted, (max_step - reported + 2) * 64);
    ASSERT_TRUE(store->append(make_step(reported - 1, 8, 8)).ok());
    ASSERT_TRUE(store->close().ok());
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM rollouts"), reported * 64);
  }
}

TEST(RolloutStore, BadPathsGiveClearErrors) {
  TempDir dir;
  auto missing = RolloutStore::open(dir.file("no/such/dir/rollouts.db"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos) << missing.status().message();

  auto is_dir = RolloutStore::open(dir.file(""));
  ASSERT_FALSE(is_dir.ok());
  EXPECT_NE(is_dir.status().message().find("cannot open or create"), std::string::npos) << is_dir.status().message();

  // /proc refuses new files even for root, unlike a chmod 0555 folder.
  auto read_only = RolloutStore::open("/proc/self/rollouts.db");
  ASSERT_FALSE(read_only.ok());
  EXPECT_NE(read_only.status().message().find("/proc/self/rollouts.db: cannot open or create"), std::string::npos)
      << read_only.status().message();

  if (geteuid() != 0) {  // root ignores folder permissions
    fs::create_directory(dir.file("ro"));
    fs::permissions(dir.file("ro"), fs::perms::owner_read | fs::perms::owner_exec);
    auto denied = RolloutStore::open(dir.file("ro/rollouts.db"));
    ASSERT_FALSE(denied.ok());
    EXPECT_NE(denied.status().message().find("cannot open or create"), std::string::npos) << denied.status().message();
    fs::permissions(dir.file("ro"), fs::perms::owner_all);
  }

  std::string garbage = dir.file("garbage.db");
  std::ofstream(garbage) << "this is not a database, just some text that is long enough to have a header....\n";
  auto bad = RolloutStore::open(garbage);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(garbage + ": "), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("not a database"), std::string::npos) << bad.status().message();

  std::string foreign = dir.file("foreign.db");
  {
    auto db = SqliteDb::open(foreign, SqliteDb::Mode::kReadWriteCreate);
    ASSERT_TRUE(db->exec("CREATE TABLE t(x)").ok());
  }
  EXPECT_NE(RolloutStore::open(foreign).status().message().find("not an r1 rollout store"), std::string::npos);
  EXPECT_NE(RolloutReader::open(foreign).status().message().find("not an r1 rollout store"), std::string::npos);

  std::string newer = dir.file("newer.db");
  open_store(newer).reset();
  {
    auto db = SqliteDb::open(newer, SqliteDb::Mode::kReadWriteCreate);
    ASSERT_TRUE(db->exec("PRAGMA user_version = 99").ok());
  }
  EXPECT_NE(RolloutStore::open(newer).status().message().find("newer r1"), std::string::npos);
  EXPECT_NE(RolloutReader::open(newer).status().message().find("newer r1"), std::string::npos);

  auto absent = RolloutReader::open(dir.file("absent.db"));
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("cannot open for reading"), std::string::npos) << absent.status().message();
}

// A reader that finds a store being created (`r1 inspect` on a run that is
// starting) finds its schema too: the file appears whole.
TEST(RolloutStore, ANewStoreNeverAppearsWithoutItsSchema) {
  TempDir dir;
  constexpr int kStores = 40;
  auto path = [&](int i) { return dir.file("s" + std::to_string(i) + ".db"); };
  std::atomic<bool> done{false};
  std::thread creator([&] {
    for (int i = 0; i < kStores; ++i) open_store(path(i)).reset();
    done = true;
  });
  for (int i = 0; i < kStores && !::testing::Test::HasFailure(); ++i) {
    while (!fs::exists(path(i))) {
      ASSERT_FALSE(done.load() && !fs::exists(path(i))) << path(i) << " was never created";
      std::this_thread::yield();
    }
    auto reader = RolloutReader::open(path(i));
    EXPECT_TRUE(reader.ok()) << reader.status().message();
  }
  creator.join();
  for (const auto& entry : fs::directory_iterator(dir.file("")))
    EXPECT_EQ(entry.path().string().find(".creating."), std::string::npos) << entry.path() << " was left behind";
}

TEST(RolloutReader, ReadsAFinishedRunInAFolderItCannotWrite) {
  TempDir dir;
  std::string odd = dir.file("run 50%?#x.db");  // characters a SQLite URI must escape
  open_store(odd)->append(make_step(0, 1, 2));
  auto frozen = SqliteDb::open(odd, SqliteDb::Mode::kImmutable);
  ASSERT_TRUE(frozen.ok()) << frozen.status().message();
  EXPECT_EQ(query_text(*frozen, "SELECT count(*) FROM rollouts"), "2");
  if (geteuid() == 0) return;  // root ignores folder permissions
  fs::create_directory(dir.file("ro"));
  std::string db = dir.file("ro/rollouts.db");
  open_store(db)->append(make_step(0, 2, 2));
  fs::permissions(dir.file("ro"), fs::perms::owner_read | fs::perms::owner_exec);
  auto reader = RolloutReader::open(db);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ(reader->steps()->at(0).n, 4);
  fs::permissions(dir.file("ro"), fs::perms::owner_all);
}

TEST(RolloutStore, ReopeningKeepsDataAndSchemaVersion) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  open_store(db)->append(make_step(0, 1, 2));
  open_store(db)->append(make_step(1, 1, 2));
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM rollouts"), 4);
  EXPECT_EQ(query_int(db, "PRAGMA user_version"), kRolloutSchemaVersion);
  EXPECT_EQ(query_int(db, "PRAGMA application_id"), kRolloutApplicationId);
}

TEST(RolloutStore, KeepsDiscardReasonsAndFiltersByThem) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  std::vector<StoredRollout> step = make_step(0, 2, 3);
  step[1].discard_reason = kDiscardZeroStd;
  step[4].discard_reason = kDiscardTruncated;
  open_store(db)->append(step);
  std::vector<StoredRollout> all = read_all(db);
  ASSERT_EQ(all.size(), step.size());
  for (size_t i = 0; i < all.size(); ++i) expect_same(all[i], step[i]);
  RolloutFilter discarded;
  discarded.discarded_only = true;
  std::vector<StoredRollout> only = read_all(db, discarded);
  ASSERT_EQ(only.size(), 2u);
  EXPECT_EQ(only[0].discard_reason, kDiscardZeroStd);
  discarded.discard_reason = kDiscardTruncated;
  ASSERT_EQ(read_all(db, discarded).size(), 1u);
  auto reader = RolloutReader::open(db);
  ASSERT_TRUE(reader.ok());
  NamedValues counts = reader->discard_counts().value();
  EXPECT_EQ(counts, (NamedValues{{kDiscardTruncated, 1.0}, {kDiscardZeroStd, 1.0}}));

  step = make_step(1, 1, 1);
  step[0].discard_reason = "bored";
  Status status = open_store(db)->append(step);
  EXPECT_NE(status.message().find("discard_reason \"bored\" is not one of"), std::string::npos) << status.message();
}

TEST(RolloutStore, ReadsAndMigratesAVersion1Store) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  open_store(db)->append(make_step(0, 1, 2));
  {  // what a version 1 writer left: no discard_reason column
    auto conn = SqliteDb::open(db, SqliteDb::Mode::kReadWriteCreate);
    ASSERT_TRUE(conn->exec("DROP INDEX rollouts_discarded; ALTER TABLE rollouts DROP COLUMN discard_reason; "
                           "DROP TABLE step_rollout_stats; DROP TABLE step_component_stats; "
                           "PRAGMA user_version = 1")
                    .ok());
  }
  auto reader = RolloutReader::open(db);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ(reader->schema_version(), 1);
  std::vector<StepSummary> v1_steps = reader->steps().value();  // from the rows
  RolloutFilter discarded;
  discarded.discarded_only = true;
  EXPECT_TRUE(reader->rollouts(discarded, 10)->empty());
  EXPECT_TRUE(reader->discard_counts()->empty());
  EXPECT_EQ(read_all(db).size(), 2u);
  std::vector<StoredRollout> next = make_step(1, 1, 2);
  next[0].discard_reason = kDiscardSurplus;
  ASSERT_TRUE(open_store(db)->append(next).ok());
  EXPECT_EQ(query_int(db, "PRAGMA user_version"), kRolloutSchemaVersion);
  EXPECT_EQ(read_all(db, discarded).at(0).discard_reason, kDiscardSurplus);
  // The migration filled the per-step sums from the rows already stored.
  std::vector<StepSummary> v2_steps = RolloutReader::open(db)->steps().value();
  ASSERT_EQ(v2_steps.size(), 2u);
  EXPECT_EQ(v2_steps[0].n, v1_steps[0].n);
  EXPECT_DOUBLE_EQ(v2_steps[0].reward_mean, v1_steps[0].reward_mean);
  EXPECT_DOUBLE_EQ(v2_steps[0].reward_std, v1_steps[0].reward_std);
  EXPECT_EQ(v2_steps[0].component_means, v1_steps[0].component_means);
}

// Per-step summaries recomputed here from the rows: n, mean, sample std,
// mean length, truncated share, component means.
void expect_summary(const StepSummary& st, const std::vector<StoredRollout>& rows) {
  double sum = 0, sq = 0, tokens = 0, truncated = 0;
  std::map<std::string, double> comps;
  for (const auto& r : rows) {
    sum += r.total_reward, tokens += r.completion_tokens, truncated += r.finish_reason == "length";
    for (const auto& [name, v] : r.reward_components) comps[name] += v / rows.size();
  }
  double n = rows.size(), mean = sum / n;
  for (const auto& r : rows) sq += (r.total_reward - mean) * (r.total_reward - mean);
  EXPECT_EQ(st.n, static_cast<int64_t>(rows.size()));
  EXPECT_NEAR(st.reward_mean, mean, 1e-12);
  EXPECT_NEAR(st.reward_std, std::sqrt(sq / (n - 1)), 1e-12);
  EXPECT_NEAR(st.mean_completion_tokens, tokens / n, 1e-12);
  EXPECT_NEAR(st.truncated_fraction, truncated / n, 1e-12);
  ASSERT_EQ(st.component_means.size(), comps.size());
  for (const auto& [name, v] : st.component_means) EXPECT_NEAR(v, comps[name], 1e-12) << name;
}

TEST(RolloutStore, StepSummariesMergeAppendsAndFollowDiscards) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  std::vector<StoredRollout> step0 = make_step(0, 4, 3), step1 = make_step(1, 2, 5);
  for (size_t i = 0; i < step0.size(); ++i) step0[i].total_reward += 0.37 * static_cast<double>(i);  // uneven groups
  auto store = open_store(db);
  ASSERT_TRUE(store->append(std::vector<StoredRollout>(step0.begin(), step0.begin() + 5)).ok());
  ASSERT_TRUE(store->append(std::vector<StoredRollout>(step0.begin() + 5, step0.end())).ok());
  ASSERT_TRUE(store->append(step1).ok());
  ASSERT_TRUE(store->flush().ok());
  std::vector<StepSummary> steps = RolloutReader::open(db)->steps().value();
  ASSERT_EQ(steps.size(), 2u);
  expect_summary(steps[0], step0);
  expect_summary(steps[1], step1);
  ASSERT_EQ(store->discard_after_step(0).value(), static_cast<int64_t>(step1.size()));
  ASSERT_TRUE(store->append(make_step(1, 1, 2, "v2")).ok());
  ASSERT_TRUE(store->close().ok());
  steps = RolloutReader::open(db)->steps().value();
  ASSERT_EQ(steps.size(), 2u);
  expect_summary(steps[0], step0);
  expect_summary(steps[1], make_step(1, 1, 2, "v2"));
}

TEST(RolloutReader, FindsRolloutsByTextWithLimitAndOffset) {
  TempDir dir;
  std::string db = dir.file("rollouts.db");
  auto store = open_store(db);
  store->append(make_step(0, 2, 3));
  store->append(make_step(1, 2, 3, "v2"));
  ASSERT_TRUE(store->close().ok());
  auto reader = RolloutReader::open(db);
  RolloutFilter filter;
  filter.text = "v2 <think>";
  std::vector<StoredRollout> page = reader->rollouts(filter, 4, 1).value();
  ASSERT_EQ(page.size(), 4u);
  EXPECT_EQ(page[0].step, 1);
  EXPECT_EQ(page[0].sample_index, 1);
  filter.text = "what is 2+";  // in the prompts only
  EXPECT_TRUE(reader->rollouts(filter, 100)->empty());
  filter.text = "<think>";
  EXPECT_EQ(reader->rollouts(filter, 100)->size(), 12u);
}

}  // namespace
}  // namespace r1
