#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <thread>

#include "model/bpe_trainer.h"
#include "model/chat_template.h"
#include "model/unicode_text.h"
#include "util/json.h"

namespace r1 {
namespace {

std::string byte_char(int b) {
  std::string s;
  append_utf8(s, byte_to_char()[b]);
  return s;
}

struct Spec {
  std::vector<std::string> extra_vocab;  // ids 256, 257, ...
  std::vector<std::pair<std::string, std::string>> merges;
  bool pairs_format = false;
  bool ignore_merges = false;
  std::string added_tokens = "[]";
  std::string pre_tokenizer = R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})";
  std::string normalizer = "null";
  std::string model_type = "BPE";
  std::string decoder = R"({"type":"ByteLevel"})";
};

// A tokenizer.json with the 256 byte symbols at ids 0..255 in byte order.
std::string make_json(const Spec& s) {
  JsonWriter v;
  v.begin_object();
  for (int b = 0; b < 256; ++b) v.key(byte_char(b)).value(b);
  for (size_t i = 0; i < s.extra_vocab.size(); ++i) v.key(s.extra_vocab[i]).value(static_cast<int64_t>(256 + i));
  v.end_object();
  JsonWriter m;
  m.begin_array();
  for (auto& [a, b] : s.merges) {
    if (s.pairs_format)
      m.begin_array().value(a).value(b).end_array();
    else
      m.value(a + " " + b);
  }
  m.end_array();
  return R"({"version":"1.0","truncation":null,"padding":null,"added_tokens":)" + s.added_tokens +
         R"(,"normalizer":)" + s.normalizer + R"(,"pre_tokenizer":)" + s.pre_tokenizer +
         R"(,"post_processor":null,"decoder":)" + s.decoder + R"(,"model":{"type":")" + s.model_type +
         R"(","dropout":null,"unk_token":null,"ignore_merges":)" + (s.ignore_merges ? "true" : "false") +
         R"(,"vocab":)" + v.str() + R"(,"merges":)" + m.str() + "}}";
}

Tokenizer make(const Spec& s) { return value_or_throw(Tokenizer::from_json(make_json(s), "test.json")); }

std::vector<int64_t> bytes_of(const std::string& s) {
  std::vector<int64_t> ids;
  for (char c : s) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

TEST(ByteLevel, MappingIsGpt2AndInvertible) {
  EXPECT_EQ(byte_to_char()['A'], U'A');
  EXPECT_EQ(byte_to_char()[' '], U'\u0120');   // Ġ
  EXPECT_EQ(byte_to_char()['\n'], U'\u010A');  // Ċ
  EXPECT_EQ(byte_to_char()[0xAD], U'\u0143');  // the soft hyphen is not printable
  for (int b = 0; b < 256; ++b) EXPECT_EQ(char_to_byte(byte_to_char()[b]), b);
}

TEST(Utf8, Nfc) { EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9"); }

TEST(Bpe, MergesApplyByRank) {
  Spec s;
  s.extra_vocab = {"bc", "ab", "abc"};
  s.merges = {{"b", "c"}, {"a", "b"}, {"a", "bc"}};
  Tokenizer t = make(s);
  EXPECT_EQ(t.encode("abc"), (std::vector<int64_t>{258}));  // b c first, then a bc
  s.merges = {{"a", "b"}, {"b", "c"}};
  Tokenizer u = make(s);
  EXPECT_EQ(u.encode("abc"), (std::vector<int64_t>{257, 'c'}));
  s.pairs_format = true;
  EXPECT_EQ(make(s).encode("abc"), u.encode("abc"));
  EXPECT_EQ(u.decode(u.encode("abc abc")), "abc abc");
}

TEST(Bpe, IgnoreMergesTakesWholeWordsFromVocab) {
  Spec s;
  s.extra_vocab = {"xyz", "xy"};
  s.merges = {{"x", "y"}};
  EXPECT_EQ(make(s).encode("xyz"), (std::vector<int64_t>{257, 'z'}));
  s.ignore_merges = true;
  EXPECT_EQ(make(s).encode("xyz"), (std::vector<int64_t>{256}));
}

TEST(Bpe, Gpt2RegexSplitsBeforeMerging) {
  Spec s;
  s.extra_vocab = {"a" + byte_char(' ')};  // "a " can never form: the space starts the next word
  s.merges = {{"a", byte_char(' ')}};
  EXPECT_EQ(make(s).encode("a b"), (std::vector<int64_t>{'a', ' ', 'b'}));
}

TEST(AddedTokens, SplitOutOfTextWithStripFlags) {
  Spec s;
  s.added_tokens = R"([{"id":300,"content":"<|im_start|>","special":true,"normalized":false},
    {"id":301,"content":"<mask>","lstrip":true,"rstrip":true,"special":false,"normalized":false},
    {"id":302,"content":"cat","single_word":true,"special":false,"normalized":true}])";
  Tokenizer t = make(s);
  EXPECT_EQ(t.vocab_size(), 303);
  EXPECT_EQ(t.encode("x<|im_start|>y"), (std::vector<int64_t>{'x', 300, 'y'}));
  EXPECT_EQ(t.encode("a  <mask>  b"), (std::vector<int64_t>{'a', 301, 'b'}));
  EXPECT_EQ(t.encode("a cat"), (std::vector<int64_t>{'a', ' ', 302}));
  EXPECT_EQ(t.encode("concat"), bytes_of("concat"));  // single_word: not inside a word
  EXPECT_TRUE(t.is_special(300));
  EXPECT_FALSE(t.is_special(301));
  EXPECT_EQ(t.token_to_id("<mask>"), 301);
  EXPECT_EQ(t.id_to_token(300), "<|im_start|>");
  EXPECT_EQ(t.decode({'x', 300, 'y'}), "x<|im_start|>y");
  EXPECT_EQ(t.decode({'x', 300, 'y'}, /*skip_special_tokens=*/true), "xy");
}

TEST(Decode, InvalidUtf8BecomesReplacementAndUnknownIdsAreSkipped) {
  Tokenizer t = make(Spec{});
  EXPECT_EQ(t.decode({0xE2, 0x82}), "\xEF\xBF\xBD");
  EXPECT_EQ(t.decode({'a', 999999, -1, 'b'}), "ab");
  EXPECT_EQ(t.encode("a\xff"), t.encode("a\xEF\xBF\xBD"));  // invalid input is repaired first
}

void expect_error(const Spec& s, const std::string& field) {
  auto r = Tokenizer::from_json(make_json(s), "bad.json");
  ASSERT_FALSE(r.ok()) << field;
  EXPECT_NE(r.status().message().find("bad.json"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("'" + field + "'"), std::string::npos) << r.status().message();
}

TEST(Load, UnsupportedAndMalformedFieldsAreNamed) {
  Spec s;
  s.model_type = "WordPiece";
  expect_error(s, "model.type");
  s = Spec{};
  s.pre_tokenizer = R"({"type":"Metaspace"})";
  expect_error(s, "pre_tokenizer.type");
  s.pre_tokenizer =
      R"({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"a"},"behavior":"Removed"},{"type":"ByteLevel"}]})";
  expect_error(s, "pre_tokenizer.pretokenizers[0].behavior");
  s.pre_tokenizer =
      R"({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(a"},"behavior":"Isolated"},{"type":"ByteLevel"}]})";
  expect_error(s, "pre_tokenizer.pretokenizers[0].pattern");
  s = Spec{};
  s.normalizer = R"({"type":"Lowercase"})";
  expect_error(s, "normalizer.type");
  s = Spec{};
  s.decoder = "null";
  expect_error(s, "decoder");
  s = Spec{};
  s.merges = {{"q", "zz"}};
  expect_error(s, "model.merges[0]");
  s = Spec{};
  s.added_tokens = R"([{"id":300}])";
  expect_error(s, "added_tokens[0].content");
  auto r = Tokenizer::from_json("{\"model\": [", "broken.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("broken.json:1:"), std::string::npos) << r.status().message();
  EXPECT_FALSE(Tokenizer::load("/nonexistent/dir").ok());
}

TEST(Tokenizer, ConcurrentEncodeMatchesSerial) {
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back("line " + std::to_string(i) + ": caf\xC3\xA9 \xE6\x95\xB0\xE5\xAD\xA6 <|im_end|> x" +
                    std::string(i % 7, ' ') + "end");
  BpeTrainerOptions opt;
  opt.vocab_size = 400;
  Tokenizer t = value_or_throw(Tokenizer::from_json(value_or_throw(train_bpe_tokenizer_json(texts, opt)), "t"));
  std::vector<std::vector<int64_t>> expected;
  for (auto& s : texts) expected.push_back(Tokenizer(t).encode(s));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 20; ++rep)
        for (size_t i = (k * 13) % texts.size(), n = 0; n < texts.size(); ++n, i = (i + 1) % texts.size()) {
          if (t.encode(texts[i]) != expected[i] || t.decode(expected[i]) != texts[i]) ++mismatches[k];
        }
    });
  }
  for (auto& th : threads) th.join();
  for (int k = 0; k < 8; ++k) EXPECT_EQ(mismatches[k], 0) << "thread " << k;
}

TEST(Trainer, DeterministicAndRoundTrips) {
  std::vector<std::string> texts = {"the cat sat on the mat", "the dog sat on the log", "猫坐在垫子上",
                                    "x = 1 + 2\n\ty = x * 3", "<|im_start|>user\nhi<|im_end|>"};
  BpeTrainerOptions opt;
  opt.vocab_size = 290;
  std::string a = value_or_throw(train_bpe_tokenizer_json(texts, opt));
  EXPECT_EQ(a, value_or_throw(train_bpe_tokenizer_json(texts, opt)));
  Tokenizer t = value_or_throw(Tokenizer::from_json(a, "trained"));
  EXPECT_LE(t.vocab_size(), 290);
  EXPECT_GT(t.vocab_size(), 259);  // some merges were learned
  for (auto& s : texts) EXPECT_EQ(t.decode(t.encode(s)), s);
  EXPECT_EQ(t.encode("the")[0], t.token_to_id(byte_char('t') + "he").value_or(-1));
  EXPECT_EQ(t.token_to_id("<|im_start|>"), 1);
  EXPECT_TRUE(t.is_special(2));

  opt.vocab_size = 259;  // no merges: a pure byte tokenizer
  Tokenizer bytes = value_or_throw(Tokenizer::from_json(value_or_throw(train_bpe_tokenizer_json(texts, opt)), "b"));
  EXPECT_EQ(bytes.encode("ab"), (std::vector<int64_t>{3 + 'a', 3 + 'b'}));
  opt.vocab_size = 10;
  EXPECT_FALSE(train_bpe_tokenizer_json(texts, opt).ok());
}

TEST(ChatTemplate, RendersAndDetects) {
  std::vector<ChatMessage> msgs = {{"system", "Be brief."}, {"user", "Hi"}};
  EXPECT_EQ(*render_chat(*parse_chat_template("chatml"), msgs, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(*render_chat(*parse_chat_template("llama3"), {{"user", " Hi\n"}}, true),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  std::string r1 = *render_chat(*parse_chat_template("r1_zero"), {{"user", "What is 2+2"}}, true);
  EXPECT_EQ(r1.substr(0, 43), "A conversation between User and Assistant. ");
  EXPECT_EQ(r1.substr(r1.size() - 40), "</answer>. User: What is 2+2. Assistant:");
  EXPECT_FALSE(render_chat(*parse_chat_template("r1_zero"), msgs, true).ok());
  EXPECT_FALSE(parse_chat_template("alpaca").ok());
  ChatTemplate smol{ChatTemplateKind::kChatMl, "You are helpful."};  // SmolLM2/Qwen2.5 insert a default system turn
  EXPECT_EQ(*render_chat(smol, {{"user", "Hi"}}, false),
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
  EXPECT_EQ(*render_chat(smol, msgs, false), *render_chat(*parse_chat_template("chatml"), msgs, false));
  BpeTrainerOptions opt;
  opt.vocab_size = 259;
  Tokenizer t = value_or_throw(Tokenizer::from_json(value_or_throw(train_bpe_tokenizer_json({"x"}, opt)), "t"));
  EXPECT_EQ(detect_chat_template(t)->kind, ChatTemplateKind::kChatMl);
  EXPECT_FALSE(detect_chat_template(make(Spec{})).ok());
}

}  // namespace
}  // namespace r1
