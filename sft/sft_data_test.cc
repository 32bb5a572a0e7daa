#include "sft/sft_data.h"

#include <gtest/gtest.h>

#include "sft/sft_test_util.h"

namespace r1 {
namespace {

class SftData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = sft_temp_dir("data");
    tok_ = std::make_unique<Tokenizer>(*Tokenizer::load(write_tiny_model(dir_, 1)));
    eos_ = *tok_->token_to_id("<|im_end|>");
  }
  SftDataOptions options(std::optional<ChatTemplate> tmpl = std::nullopt) {
    SftDataOptions o;
    o.chat_template = tmpl;
    o.eos_id = eos_;
    o.max_length = 64;
    return o;
  }
  std::string write(const std::string& text) {
    std::string path = dir_ + "/d.jsonl";
    throw_if_error(write_file_atomic(path, text));
    return path;
  }
  std::string dir_;
  std::unique_ptr<Tokenizer> tok_;
  int64_t eos_ = 0;
};

TEST_F(SftData, PromptTokensAreMaskedAndEosAppended) {
  auto s = *load_sft_samples(write(R"({"prompt": "2+2=", "completion": "4"})"), *tok_, options());
  ASSERT_EQ(s.size(), 1u);
  // Bytes-only tokenizer: one token per byte.
  EXPECT_EQ(s[0].ids, (std::vector<int64_t>{*tok_->token_to_id("2"), *tok_->token_to_id("+"),
                                             *tok_->token_to_id("2"), *tok_->token_to_id("="),
                                             *tok_->token_to_id("4"), eos_}));
  EXPECT_EQ(s[0].trained, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1}));
  SftDataOptions all = options();
  all.completion_only_loss = false;
  auto t = *load_sft_samples(write(R"({"prompt": "2+2=", "completion": "4"})"), *tok_, all);
  EXPECT_EQ(t[0].trained, (std::vector<uint8_t>{0, 1, 1, 1, 1, 1}));
}

TEST_F(SftData, NulCharactersDoNotCutTheText) {
  // Sampled completions can hold any byte (a tiny model's noise, `r1 sample`).
  auto s = *load_sft_samples(write(R"({"prompt": "a\u0000b", "completion": "c\u0000d"})"), *tok_, options());
  std::vector<int64_t> want = tok_->encode(std::string("a\0b", 3)), completion = tok_->encode(std::string("c\0d", 3));
  want.insert(want.end(), completion.begin(), completion.end());
  want.push_back(eos_);
  EXPECT_EQ(want.size(), 7u);  // one token per byte
  EXPECT_EQ(s[0].ids, want);
}

TEST_F(SftData, MessagesUseTheTemplateAndTrainTheLastTurn) {
  ChatTemplate chatml = *parse_chat_template("chatml");
  auto s = *load_sft_samples(
      write(R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})"), *tok_,
      options(chatml));
  std::string prompt = *render_chat(chatml, {{"user", "hi"}}, true);
  size_t p = tok_->encode(prompt).size();
  // The template closes the turn, so no extra eos.
  ASSERT_EQ(tok_->decode(s[0].ids), prompt + "yo<|im_end|>\n");
  for (size_t t = 0; t < s[0].ids.size(); ++t) EXPECT_EQ(s[0].trained[t], t >= p) << t;
}

TEST_F(SftData, TextRowsTrainEveryTokenAndTruncate) {
  SftDataOptions o = options();
  o.max_length = 4;
  auto s = *load_sft_samples(write("{\"text\": \"abcdefgh\"}\n"), *tok_, o);
  EXPECT_EQ(s[0].ids.size(), 4u);
  EXPECT_EQ(s[0].trained, (std::vector<uint8_t>{0, 1, 1, 1}));
}

TEST_F(SftData, BadRowsNameFileLineAndField) {
  auto a = load_sft_samples(write("{\"text\": \"ok\"}\n{\"prompt\": \"x\"}\n"), *tok_, options());
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("d.jsonl:2"), std::string::npos) << a.status().message();
  EXPECT_NE(a.status().message().find("completion"), std::string::npos);
  auto b = load_sft_samples(write(R"({"messages": [{"role": "user", "content": "x"}]})"), *tok_, options());
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("assistant"), std::string::npos);
  auto c = load_sft_samples(write(R"({"other": 1})"), *tok_, options());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("d.jsonl:1"), std::string::npos);
}

TEST(SftRows, PackingRestartsPositionsAndKeepsLabelsInsideSamples) {
  std::vector<SftSample> samples = {{{1, 2, 3}, {0, 1, 1}}, {{4, 5}, {0, 1}}, {{6, 7, 8, 9}, {0, 0, 1, 1}}};
  auto rows = make_rows(samples, /*packing=*/true, 6);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].ids, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(rows[0].positions, (std::vector<int64_t>{0, 1, 2, 0, 1}));
  EXPECT_EQ(rows[0].labels, (std::vector<int64_t>{2, 3, -100, 5, -100}));
  EXPECT_EQ(rows[1].labels, (std::vector<int64_t>{-100, 8, 9, -100}));
  SftBatch b = collate({&rows[0], &rows[1]});
  EXPECT_EQ(b.target_tokens, 5);
  EXPECT_EQ(b.input_tokens, 9);
  // Padding-free: the 9 real tokens of [2, 5]; the targets as rows of those.
  EXPECT_TRUE(at::equal(b.packed, at::tensor(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8})));
  EXPECT_TRUE(at::equal(b.targets, at::tensor(std::vector<int64_t>{0, 1, 3, 6, 7})));
  EXPECT_TRUE(at::equal(b.target_labels, at::tensor(std::vector<int64_t>{2, 3, 5, 8, 9})));
  // No padding: no packing, the targets index the flattened [1, 5].
  SftBatch full = collate({&rows[0]});
  EXPECT_FALSE(full.packed.defined());
  EXPECT_TRUE(at::equal(full.targets, at::tensor(std::vector<int64_t>{0, 1, 3})));
  // Query 3 (second sample's first token) sees only itself; query 4 sees 3 and 4.
  EXPECT_TRUE(at::equal(b.allowed[0][3], at::tensor({0, 0, 0, 1, 0}, at::kLong).to(at::kBool)));
  EXPECT_TRUE(at::equal(b.allowed[0][4], at::tensor({0, 0, 0, 1, 1}, at::kLong).to(at::kBool)));
  EXPECT_TRUE(at::equal(b.allowed[1][4], at::tensor({0, 0, 0, 0, 1}, at::kLong).to(at::kBool)));  // pad: itself
  EXPECT_EQ(make_rows(samples, false, 6).size(), 3u);
}

}  // namespace
}  // namespace r1
