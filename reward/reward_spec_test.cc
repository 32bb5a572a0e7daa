#include "reward/reward_spec.h"

#include <gtest/gtest.h>

#include "reward/shaping_rewards.h"

namespace r1 {
namespace {

Result<RewardFunction> from_text(const std::string& text) { return RewardFunction::from_text(text, "spec.json"); }

TEST(RewardSpec, ComposesWeightedComponents) {
  auto fn = from_text(R"({"rewards": [
      {"checker": "format_lenient", "weight": 0.5},
      {"checker": "countdown", "name": "acc", "params": {"format_score": 0.2}},
      {"checker": "tag_count", "weight": 2}]})");
  ASSERT_TRUE(fn.ok()) << fn.status().message();
  EXPECT_EQ(fn->component_names(), (std::vector<std::string>{"format_lenient", "acc", "tag_count"}));
  rapidjson::Document row;
  row.Parse(R"({"numbers": [3, 4], "target": 7})");
  RewardInput in;
  in.completion = "<think>\nadd\n</think>\n<answer>3 + 4</answer>";
  in.reference = &row;
  auto r = fn->score(in);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->components.size(), 3u);
  EXPECT_EQ(r->components[0].score, 1.0);
  EXPECT_EQ(r->components[1].score, 1.0);
  EXPECT_EQ(r->components[2].score, 0.5);  // "<think>\n" and "\n</think>\n"
  EXPECT_DOUBLE_EQ(r->total, 0.5 * 1.0 + 1.0 + 2 * 0.5);
  EXPECT_EQ(
      r->to_json(),
      R"({"components":{"format_lenient":1.0,"acc":1.0,"tag_count":0.5},"total":2.5,)"
      R"("details":{"format_lenient":{},"acc":{"equation":"3 + 4","numbers_ok":true,"value":7.0},"tag_count":{}}})");
}

// "when" routes an entry by a reference field: rows of the other kind add
// 0 and are never scored by it (they need not have its fields).
TEST(RewardSpec, WhenRoutesAnEntryByAField) {
  auto fn = from_text(R"([{"checker": "countdown", "when": {"field": "kind", "equals": "task"}},
                          {"checker": "tag_count", "when": {"field": "kind", "equals": "general"}}])");
  ASSERT_TRUE(fn.ok()) << fn.status().message();
  rapidjson::Document task, general, unlabeled;
  task.Parse(R"({"kind": "task", "numbers": [3, 4], "target": 7})");
  general.Parse(R"({"kind": "general"})");
  unlabeled.Parse(R"({"numbers": [1]})");
  std::vector<RewardInput> inputs(2);
  for (auto& in : inputs) in.completion = "<think>\nadd\n</think>\n<answer>3 + 4</answer>";
  inputs[0].reference = &task;
  inputs[1].reference = &general;
  for (int workers : {1, 2}) {
    auto r = fn->score_all(inputs, workers);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ((*r)[0].to_json(), R"({"components":{"countdown":1.0,"tag_count":0.0},"total":1.0,"details":)"
                                 R"({"countdown":{"equation":"3 + 4","numbers_ok":true,"value":7.0},)"
                                 R"("tag_count":{"skipped":"when"}}})");
    EXPECT_EQ((*r)[1].components[0].details, R"({"skipped":"when"})");
    EXPECT_EQ((*r)[1].total, 0.5);
  }
  inputs[1].reference = &unlabeled;
  inputs[1].where = "rows.jsonl:2";
  EXPECT_EQ(fn->score_all(inputs, 1).status().message(), "rows.jsonl:2: field 'kind' is missing");
}

// check_reference reads each row as scoring will, without a completion:
// the fields of every checker that applies to it (by "when"), named with
// the row and the reward.
TEST(RewardSpec, CheckReferencesReadsWhatScoringReads) {
  auto fn = from_text(R"([{"checker": "countdown", "when": {"field": "kind", "equals": "task"}},
                          {"checker": "math", "name": "acc", "when": {"field": "kind", "equals": "math"}},
                          {"checker": "cosine",
                           "params": {"correctness": {"checker": "gsm8k", "params": {"answer_field": "solution"}}},
                           "when": {"field": "kind", "equals": "gsm8k"}},
                          {"checker": "tag_count"}])");
  ASSERT_TRUE(fn.ok()) << fn.status().message();
  std::vector<std::string> texts = {R"({"kind": "task", "numbers": [3, 4], "target": 7})",
                                    R"({"kind": "math", "answer": 12})", R"({"kind": "gsm8k", "solution": "#### 4"})",
                                    R"({"kind": "general"})"};
  std::vector<rapidjson::Document> docs(texts.size());
  std::vector<RewardInput> rows(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    docs[i].Parse(texts[i].c_str());
    rows[i].reference = &docs[i];
    rows[i].where = "d.jsonl:" + std::to_string(i + 1);
  }
  auto check_all = [&] {  // the first row's error, as check_reward_references reports it
    for (const RewardInput& row : rows) R1_RETURN_IF_ERROR(fn->check_reference(row));
    return Status();
  };
  EXPECT_TRUE(check_all().ok()) << check_all().message();
  auto fails_with = [&](size_t i, const char* text) {
    docs[i].Parse(text);
    return check_all().message();
  };
  EXPECT_EQ(fails_with(1, R"({"kind": "math"})"), "d.jsonl:2: field 'answer' is missing (for reward 'acc')");
  EXPECT_EQ(fails_with(1, R"({"kind": "math", "answer": [1]})"),
            "d.jsonl:2: field 'answer' must be a string or a number (for reward 'acc')");
  docs[1].Parse(texts[1].c_str());
  EXPECT_EQ(fails_with(0, R"({"kind": "task", "numbers": [3, 4.5], "target": 7})"),
            "d.jsonl:1: field 'numbers' must be a list of integers (for reward 'countdown')");
  docs[0].Parse(texts[0].c_str());
  EXPECT_EQ(fails_with(2, R"({"kind": "gsm8k", "answer": "4"})"),
            "d.jsonl:3: field 'solution' is missing (for reward 'cosine')");
  EXPECT_EQ(fails_with(2, R"({"answer": "4"})"), "d.jsonl:3: field 'kind' is missing");
}

TEST(RewardSpec, EntryErrorsNameTheEntry) {
  EXPECT_EQ(from_text(R"([{"checker": "format", "model": "m"}])").status().message(),
            "spec.json: rewards[0]: give one of 'checker' (a rule), 'model' (a reward model folder) or 'judge' (an "
            "LLM judge's folder)");
  EXPECT_EQ(from_text(R"([{"checker": "format", "when": {"field": "kind"}}])").status().message(),
            "spec.json: rewards[0]: field 'when' must be {\"field\": NAME, \"equals\": VALUE}");
  // This test program installs no reward-model factory (the r1 binary does).
  EXPECT_EQ(from_text(R"([{"model": "runs/rm/model"}])").status().message(),
            "spec.json: rewards[0]: model entries need a program built with reward models (the r1 binary)");
  EXPECT_EQ(from_text(R"([{"judge": "runs/judge"}])").status().message(),
            "spec.json: rewards[0]: a judge needs 'template' (its rubric prompt)");
  EXPECT_EQ(from_text(R"([{"checker": "format", "template": "x"}])").status().message(),
            "spec.json: rewards[0]: 'template' belongs to judge entries");
}

// Config checks read no file: a reward model or judge an earlier recipe
// stage trains need not exist yet; the entries' structure is still checked.
TEST(RewardSpec, CheckTextLoadsNoModel) {
  EXPECT_TRUE(RewardFunction::check_text(R"([{"model": "runs/not-yet/model", "when": {"field": "kind",
      "equals": "general"}}, {"checker": "format"}])", "spec.json").ok());
  EXPECT_EQ(RewardFunction::check_text(R"([{"model": "m", "when": {"field": "kind"}}])", "spec.json").message(),
            "spec.json: rewards[0]: field 'when' must be {\"field\": NAME, \"equals\": VALUE}");
  EXPECT_EQ(RewardFunction::check_text(R"([{"checker": "no_such"}])", "spec.json").message(),
            from_text(R"([{"checker": "no_such"}])").status().message());
}

TEST(RewardSpec, BareListAndCosineWithNestedChecker) {
  auto fn = from_text(R"([{"checker": "cosine", "params": {"correctness": "gsm8k", "max_len": 100}},
                          {"checker": "cosine", "name": "cos_tok",
                           "params": {"correctness": {"checker": "gsm8k"}, "max_len": 100, "length_unit": "tokens"}}])");
  ASSERT_TRUE(fn.ok()) << fn.status().message();
  rapidjson::Document row;
  row.Parse(R"({"answer": "#### 5"})");
  RewardInput in;
  in.completion = "#### 5";  // 6 characters
  in.num_tokens = 50;
  in.reference = &row;
  auto r = fn->score(in);
  ASSERT_TRUE(r.ok()) << r.status().message();
  CosineOptions o;
  o.max_len = 100;
  EXPECT_DOUBLE_EQ(r->components[0].score, cosine_scaled_reward(true, 6, o));
  EXPECT_DOUBLE_EQ(r->components[1].score, 0.75);
  in.completion = "#### 4";
  EXPECT_DOUBLE_EQ(fn->score(in)->components[1].score, -0.75);
}

struct BadSpec {
  const char* spec;
  const char* error;
};

TEST(RewardSpec, ErrorsNameTheKeyAndIndex) {
  const BadSpec cases[] = {
      {R"({"rewards": [{"checker": "format"}, {"checker": "fromat"}]})",
       "spec.json: rewards[1]: unknown checker 'fromat'"},
      {R"({"rewards": [{"checker": "repetition", "params": {"ngram": 3}}]})",
       "spec.json: rewards[0] (repetition): params: unknown param 'ngram' (known: max_penalty, ngram_size)"},
      {R"({"rewards": [{"checker": "format", "weight": "1"}]})",
       "spec.json: rewards[0]: field 'weight' must be a number"},
      {R"({"rewards": [{"checker": "overlong", "params": {"max_completion_length": 1.5, "overlong_buffer": 1}}]})",
       "spec.json: rewards[0] (overlong): params: field 'max_completion_length' must be an integer"},
      {R"({"rewards": [{"checker": "format", "wieght": 1}]})", "spec.json: rewards[0]: unknown key 'wieght'"},
      {R"({"rewards": [{"weight": 1}]})",
       "spec.json: rewards[0]: give one of 'checker' (a rule), 'model' (a reward model folder) or 'judge' (an LLM "
       "judge's folder)"},
      {R"({"rewards": [{"checker": "format"}, {"checker": "format"}]})",
       "spec.json: rewards[1]: component name 'format' is used twice"},
      {R"({"rewards": [{"checker": "format", "params": [1]}]})",
       "spec.json: rewards[0]: field 'params' must be an object"},
      {R"({"reward": []})", "spec.json: unknown key 'reward'"},
      {R"({"rewards": []})", "spec.json: 'rewards' is empty"},
      {R"(7)", "spec.json: 'rewards' must be a list"},
      {R"([{"checker": "cosine", "params": {"correctness": {"checker": "nope"}}}])",
       "spec.json: rewards[0] (cosine): params.correctness: unknown checker 'nope'"},
      {R"([{"checker": "cosine"}])", "spec.json: rewards[0] (cosine): params: param 'correctness' is missing"},
  };
  for (const auto& c : cases) {
    auto fn = from_text(c.spec);
    ASSERT_FALSE(fn.ok()) << c.spec;
    EXPECT_EQ(fn.status().message().rfind(c.error, 0), 0u) << fn.status().message() << "\nwant: " << c.error;
  }
}

TEST(RewardSpec, MissingReferenceFieldIsAnErrorNotZero) {
  auto fn = from_text(R"([{"checker": "gsm8k"}])");
  ASSERT_TRUE(fn.ok());
  rapidjson::Document row;
  row.Parse(R"({"question": "q"})");
  RewardInput in;
  in.completion = "#### 1";
  in.reference = &row;
  in.where = "rows.jsonl:9";
  auto r = fn->score(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "rows.jsonl:9: field 'answer' is missing");
}

TEST(RewardSpec, BrokenUtf8IsRepairedLikePython) {
  auto fn = from_text(R"([{"checker": "format"}])");
  ASSERT_TRUE(fn.ok());
  RewardInput in;
  in.completion = "<think>\n\xff\n</think>\n<answer>\n1\n</answer>";
  EXPECT_EQ(fn->score(in)->total, 1.0);
}

// Parallel scoring must equal sequential scoring, row for row.
TEST(BatchScorer, ParallelEqualsSequential) {
  auto fn = from_text(R"([{"checker": "countdown"}, {"checker": "format"}, {"checker": "repetition"},
                          {"checker": "language", "params": {"language": "zh"}},
                          {"checker": "overlong", "params": {"max_completion_length": 64, "overlong_buffer": 16}}])");
  ASSERT_TRUE(fn.ok()) << fn.status().message();
  std::vector<rapidjson::Document> rows(300);
  std::vector<RewardInput> inputs(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    int a = static_cast<int>(i % 17), b = static_cast<int>(i % 5) + 1;
    rows[i].Parse(("{\"numbers\": [" + std::to_string(a) + ", " + std::to_string(b) + "], \"target\": " +
                   std::to_string(a + b + static_cast<int>(i % 3)) + "}")
                      .c_str());
    inputs[i].reference = &rows[i];
    inputs[i].num_tokens = static_cast<int64_t>(i % 80);
    std::string think = i % 2 ? "我们 add them 然后 check" : "add add add them them";
    inputs[i].completion = "<think>\n" + think + "\n</think>\n<answer>" + std::to_string(a) + " + " +
                           std::to_string(b) + "</answer>";
  }
  auto sequential = fn->score_all(inputs, 1);
  ASSERT_TRUE(sequential.ok());
  for (int workers : {2, 3, 8}) {
    auto parallel = fn->score_all(inputs, workers);
    ASSERT_TRUE(parallel.ok());
    ASSERT_EQ(parallel->size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ((*parallel)[i].to_json(), (*sequential)[i].to_json()) << i;
      EXPECT_EQ((*parallel)[i].to_json(), fn->score(inputs[i])->to_json()) << i;
    }
  }
  // Scores are not all alike, so the comparison above means something.
  EXPECT_NE((*sequential)[0].total, (*sequential)[1].total);
}

TEST(BatchScorer, ReportsTheFirstFailingRow) {
  auto fn = from_text(R"([{"checker": "countdown"}])");
  ASSERT_TRUE(fn.ok());
  rapidjson::Document good, bad;
  good.Parse(R"({"numbers": [1], "target": 1})");
  bad.Parse(R"({"numbers": [1]})");
  std::vector<RewardInput> inputs(100);
  for (size_t i = 0; i < inputs.size(); ++i) {
    inputs[i].completion = "<answer>1</answer>";
    inputs[i].reference = (i == 40 || i == 70) ? &bad : &good;
    inputs[i].where = "rows:" + std::to_string(i + 1);
  }
  for (int workers : {1, 4}) {
    auto r = fn->score_all(inputs, workers);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "rows:41: field 'target' is missing");
  }
  EXPECT_TRUE(fn->score_all({}, 4).ok());
}

}  // namespace
}  // namespace r1
