// InspectApi over real stores in temp folders (no sockets: the Python tests
// cover HTTP): routing, refusals, and errors for unreadable databases.
#include "inspect/inspect_api.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "rollout/rollout_store.h"
#include "util/json.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "r1_inspect_test_XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

void write_run(const std::string& dir) {
  fs::create_directories(dir);
  auto store = std::move(RolloutStore::open(dir + "/rollouts.db").value());
  std::vector<StoredRollout> rows;
  for (int s = 0; s < 4; ++s) {
    StoredRollout r;
    r.step = 1;
    r.prompt_index = 3;
    r.group_index = 0;
    r.sample_index = s;
    r.prompt = "What is 1+1?";
    r.completion = "<think>add</think><answer>" + std::to_string(s) + "</answer>";
    r.total_reward = s == 2 ? 1.0 : 0.0;
    r.reward_components = {{"accuracy", r.total_reward}};
    r.completion_tokens = 5 + s;
    r.discard_reason = s == 3 ? kDiscardTruncated : "";
    rows.push_back(r);
  }
  ASSERT_TRUE(store->append(rows).ok());
  ASSERT_TRUE(store->close().ok());
  std::ofstream(dir + "/metrics.jsonl") << "{\"step\": 1, \"reward\": 0.25, \"kl\": 0.5}\n";
}

InspectApi api_for(const std::vector<std::string>& paths) { return InspectApi(resolve_inspect_sources(paths).value()); }

rapidjson::Document body_of(const HttpReply& reply) { return std::move(parse_json(reply.body, "reply").value()); }

TEST(InspectApi, ServesThePageAndTheRunsNumbers) {
  TempDir dir;
  write_run(dir.path + "/run");
  InspectApi api = api_for({dir.path + "/run"});
  HttpReply page = api.get("/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  rapidjson::Document runs = body_of(api.get("/api/runs"));
  EXPECT_EQ(runs["runs"].Size(), 1u);
  EXPECT_TRUE(runs["runs"][0]["error"].IsNull());
  rapidjson::Document steps = body_of(api.get("/api/runs/0/steps"));
  EXPECT_EQ(steps["steps"][0]["n"].GetInt(), 4);
  EXPECT_DOUBLE_EQ(steps["steps"][0]["reward_mean"].GetDouble(), 0.25);
  EXPECT_EQ(steps["discarded"]["truncated"].GetDouble(), 1.0);
  rapidjson::Document step = body_of(api.get("/api/runs/0/steps/1?sort=reward&discarded=no"));
  EXPECT_EQ(step["samples"].Size(), 3u);
  EXPECT_EQ(step["samples"][0]["sample_index"].GetInt(), 2);
  EXPECT_DOUBLE_EQ(step["groups"][0]["pass_rate"].GetDouble(), 0.25);
  rapidjson::Document metrics = body_of(api.get("/api/runs/0/metrics"));
  EXPECT_DOUBLE_EQ(metrics["metrics"]["kl"][0][1].GetDouble(), 0.5);
  rapidjson::Document found = body_of(api.get("/api/runs/0/search?q=%3Canswer%3E2"));
  EXPECT_EQ(found["samples"].Size(), 1u);
}

TEST(InspectApi, RefusesPathsParametersAndRunsItWasNotGiven) {
  TempDir dir;
  write_run(dir.path + "/run");
  InspectApi api = api_for({dir.path + "/run"});
  EXPECT_EQ(api.get("/api/runs/0/../../../etc/passwd").status, 403u);
  EXPECT_EQ(api.get("/%2e%2e/etc/passwd").status, 403u);
  HttpReply other = api.get("/etc/passwd");
  EXPECT_EQ(other.status, 404u);
  EXPECT_NE(other.content_type.find("text/html"), std::string::npos);
  EXPECT_EQ(api.get("/api/runs/1/steps").status, 404u);
  HttpReply param = api.get("/api/runs/0/steps?db=/etc/passwd");
  EXPECT_EQ(param.status, 400u);
  EXPECT_NE(param.body.find("unknown parameter 'db'"), std::string::npos);
  EXPECT_EQ(api.get("/api/runs/0/search").status, 400u);
  EXPECT_EQ(api.get("/api/runs/0/discarded?limit=x").status, 400u);
}

TEST(InspectApi, SymlinksOutOfARunAreRefused) {
  TempDir dir;
  write_run(dir.path + "/outside");
  fs::create_directories(dir.path + "/run");
  fs::create_symlink(dir.path + "/outside/rollouts.db", dir.path + "/run/rollouts.db");
  auto refused = resolve_inspect_sources({dir.path + "/run"});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("leads out of"), std::string::npos) << refused.status().message();

  // Swapped in after the server started: refused when opened.
  write_run(dir.path + "/run2");
  InspectApi api = api_for({dir.path + "/run2"});
  fs::remove(dir.path + "/run2/rollouts.db");
  fs::create_symlink(dir.path + "/outside/rollouts.db", dir.path + "/run2/rollouts.db");
  HttpReply reply = api.get("/api/runs/0/steps");
  EXPECT_EQ(reply.status, 500u);
  EXPECT_NE(reply.body.find("leads out of"), std::string::npos) << reply.body;
}

TEST(InspectApi, UnreadableDatabasesAreJsonErrors) {
  TempDir dir;
  fs::create_directories(dir.path + "/bad");
  std::ofstream(dir.path + "/bad/rollouts.db") << "this is not a database, just text that is long enough......";
  fs::create_directories(dir.path + "/early");
  std::ofstream(dir.path + "/early/metrics.jsonl") << "";
  InspectApi api = api_for({dir.path + "/bad", dir.path + "/early"});
  HttpReply bad = api.get("/api/runs/0/steps");
  EXPECT_EQ(bad.status, 500u);
  EXPECT_NE(body_of(bad)["error"].GetString(), std::string()) << bad.body;
  HttpReply early = api.get("/api/runs/1/steps");
  EXPECT_EQ(early.status, 500u);
  EXPECT_NE(early.body.find("does not exist (yet)"), std::string::npos) << early.body;
  rapidjson::Document runs = body_of(api.get("/api/runs"));
  EXPECT_TRUE(runs["runs"][0]["error"].IsString());
  EXPECT_FALSE(resolve_inspect_sources({dir.path + "/absent"}).ok());
}

}  // namespace
}  // namespace r1
