#include "reward/language_consistency.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(LanguageConsistency, WordsByScript) {
  auto c = count_words_by_script("We compute 我们计算 x+1 = 2, Привет мир! カタカナ 한국어 café");
  EXPECT_EQ(c["Latin"], 4);  // We, compute, x, café (é as one letter or e + mark)
  EXPECT_EQ(c["Han"], 4);    // each character
  EXPECT_EQ(c["Cyrillic"], 2);
  EXPECT_EQ(c["Katakana"], 4);
  EXPECT_EQ(c["Hangul"], 1);
  EXPECT_EQ(c.count("Other"), 0u);
  EXPECT_EQ(count_words_by_script("ქართული")["Other"], 1);  // Georgian: not listed
  EXPECT_TRUE(count_words_by_script("123 + 4 = ?!").empty());
  // A combining mark stays in its word.
  EXPECT_EQ(count_words_by_script("cafe\xCC\x81 noir")["Latin"], 2);
}

struct ShareCase {
  const char* completion;
  const char* language;
  double want;
};

TEST(LanguageConsistency, MixedChineseEnglishChainOfThought) {
  const ShareCase cases[] = {
      // 4 Han characters vs 2 Latin words; the answer part is not counted.
      {"<think>首先 compute 总和 sum</think><answer>English words here</answer>", "zh", 4.0 / 6.0},
      {"<think>首先 compute 总和 sum</think><answer>中文中文中文</answer>", "en", 2.0 / 6.0},
      {"<think>Only English reasoning.</think>", "en", 1.0},
      {"<think>只有中文。</think>", "en", 0.0},
      // Unclosed think (truncated): everything after <think>.
      {"<think>one two 三", "en", 2.0 / 3.0},
      // Prefilled "<think>" in the prompt: text before </think>.
      {"deux mots</think><answer>5</answer>", "fr", 1.0},
      // No chain of thought, or no words in it: 0.
      {"<answer>just an answer</answer>", "en", 0.0},
      {"<think>1 + 1 = 2</think>", "en", 0.0},
      // Japanese counts kana and kanji.
      {"<think>これは日本語 text</think>", "ja", 6.0 / 7.0},
  };
  for (const auto& c : cases) {
    rapidjson::Document p;
    p.Parse((std::string(R"({"language": ")") + c.language + "\"}").c_str());
    CheckerParams with_lang(&p, "p");
    auto checker = make_language_checker(with_lang);
    ASSERT_TRUE(checker.ok()) << checker.status().message();
    RewardInput in;
    in.completion = c.completion;
    auto s = (*checker)->score(in);
    ASSERT_TRUE(s.ok());
    EXPECT_DOUBLE_EQ(s->score, c.want) << c.completion << " " << s->details;
  }
}

TEST(LanguageConsistency, UnknownLanguageIsAnError) {
  rapidjson::Document p;
  p.Parse(R"({"language": "xx"})");
  CheckerParams params(&p, "spec: rewards[1].params");
  auto checker = make_language_checker(params);
  ASSERT_FALSE(checker.ok());
  EXPECT_NE(checker.status().message().find("spec: rewards[1].params: param 'language': unknown language 'xx'"),
            std::string::npos)
      << checker.status().message();
}

TEST(LanguageConsistency, ChainOfThought) {
  EXPECT_EQ(chain_of_thought("<think>a</think>b"), "a");
  EXPECT_EQ(chain_of_thought("x<think>a"), "a");
  EXPECT_EQ(chain_of_thought("a</think>b"), "a");
  EXPECT_EQ(chain_of_thought("plain"), std::nullopt);
}

}  // namespace
}  // namespace r1
