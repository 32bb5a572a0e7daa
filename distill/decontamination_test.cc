#include "distill/decontamination.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "data/jsonl_dataset.h"

namespace r1 {
namespace {

using Words = std::vector<std::string>;

TEST(NgramWords, LowercaseDropPunctuationSplitOnSpace) {
  EXPECT_EQ(ngram_words("Janet’s ducks lay 16 eggs."), (Words{"janets", "ducks", "lay", "16", "eggs"}));
  EXPECT_EQ(ngram_words("  16-3=13,\tthen\n$2 ÉTÉ  "), (Words{"16313", "then", "2", "été"}));
  EXPECT_EQ(ngram_words("x^2 + y"), (Words{"x2", "y"}));  // a lone symbol is no word
  EXPECT_EQ(ngram_words("首先计算"), (Words{"首先计算"}));
  EXPECT_EQ(ngram_words("a\xff" "b"), (Words{"ab"}));  // invalid bytes dropped
  EXPECT_TRUE(ngram_words(" ... ").empty());
}

TEST(NgramIndex, MatchesSharedNgramsAndTagsTheirSets) {
  NgramIndex index(3);
  EXPECT_TRUE(index.add(0, "the quick brown fox jumps"));
  EXPECT_TRUE(index.add(2, "Jumps over the lazy dog"));
  EXPECT_FALSE(index.add(1, "too short"));
  EXPECT_EQ(index.size(), 3u + 3u);
  EXPECT_EQ(index.match("I saw THE QUICK, brown dog"), 1u);       // "the quick brown"
  EXPECT_EQ(index.match("over the lazy dog and the quick brown"), 1u | 4u);
  EXPECT_EQ(index.match("the quick fox brown"), 0u);               // word order matters
  EXPECT_EQ(index.match("quick brown"), 0u);                        // shorter than n
  NgramIndex both(2);
  both.add(0, "shared words here");
  both.add(1, "also shared words");
  EXPECT_EQ(both.match("shared words"), 3u);
}

bool shared_data_present() { return std::filesystem::exists(data_root() + "/gsm8k/test.jsonl"); }

EvalSet eval_set(const std::string& source_json) {
  rapidjson::Document doc = value_or_throw(parse_json(source_json, "test"));
  return value_or_throw(load_eval_set(doc, "test"));
}

TEST(DecontaminationIndex, CatchesAGsm8kTestQuestionAndNotUnrelatedText) {
  if (!shared_data_present()) GTEST_SKIP() << "no shared data at " << data_root();
  DecontaminationIndex idx =
      value_or_throw(build_decontamination_index({eval_set("\"gsm8k_test\""), eval_set("\"aime24\"")}, 10));
  EXPECT_EQ(idx.set_names, (Words{"gsm8k_test", "aime24"}));
  EXPECT_EQ(idx.texts, (std::vector<int64_t>{1319, 30}));
  // The first GSM8K test question, reworded around a 10-word stretch and
  // with its punctuation and case changed.
  std::string question =
      "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
      "friends every day with four.";
  EXPECT_EQ(idx.index.match(question), 1u);
  EXPECT_EQ(idx.names(idx.index.match("so... SHE EATS THREE FOR BREAKFAST, every morning AND bakes muffins!")),
            (Words{"gsm8k_test"}));
  EXPECT_EQ(idx.index.match("Using the numbers [3, 5, 7], create an equation that equals 22. Think step by step "
                            "and show the reasoning before the final answer in tags."),
            0u);
  // Nine of the ten words are not enough.
  EXPECT_EQ(idx.index.match("she eats three for breakfast every morning and bakes"), 0u);
}

TEST(DecontaminationIndex, EverySharedEvalSetLoads) {
  if (!shared_data_present()) GTEST_SKIP() << "no shared data at " << data_root();
  std::vector<EvalSet> sets;
  for (const std::string& name : default_decontamination_sets()) sets.push_back(eval_set("\"" + name + "\""));
  DecontaminationIndex idx = value_or_throw(build_decontamination_index(sets, 10));
  EXPECT_EQ(idx.set_names, default_decontamination_sets());
  for (size_t i = 0; i < sets.size(); ++i) {
    EXPECT_GT(idx.texts[i], 0) << idx.set_names[i];
    EXPECT_LT(idx.short_texts[i], idx.texts[i]) << idx.set_names[i];
  }
}

TEST(DecontaminationIndex, SetsAreNamedAndShortPromptsCounted) {
  std::string path = std::string(::testing::TempDir()) + "/distill_evalset.jsonl";
  std::FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("{\"prompt\": \"p\", \"question\": \"one two three\"}\n{\"prompt\": \"q\", \"question\": \"just two\"}\n",
             f);
  std::fclose(f);
  EXPECT_EQ(eval_set("\"" + path + "\"").name, "distill_evalset");
  EvalSet set = eval_set(R"({"path": ")" + path + R"(", "prompt_field": "question", "name": "mine"})");
  EXPECT_EQ(set.name, "mine");
  EXPECT_EQ(set.prompts, (Words{"one two three", "just two"}));
  DecontaminationIndex idx = value_or_throw(build_decontamination_index({set}, 3));
  EXPECT_EQ(idx.short_texts, (std::vector<int64_t>{1}));
  EXPECT_EQ(idx.names(idx.index.match("ONE two, three!")), (Words{"mine"}));
}

TEST(DecontaminationIndex, ErrorsNameTheSet) {
  rapidjson::Document doc = value_or_throw(parse_json("\"/no/such/dir/evalset.jsonl\"", "test"));
  Status s = load_eval_set(doc, "cfg.json: datasets[0]").status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/no/such/dir/evalset.jsonl"), std::string::npos) << s.message();
  EXPECT_FALSE(build_decontamination_index({}, 10).ok());
  EXPECT_FALSE(build_decontamination_index({EvalSet{"x", {"a b"}}}, 0).ok());
}

}  // namespace
}  // namespace r1
