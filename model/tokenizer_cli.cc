#include "model/tokenizer_cli.h"

#include <memory>
#include <optional>
#include <thread>

#include "model/bpe_trainer.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string input = "-";
  std::string output = "-";
  bool decode = false;
  bool add_special_tokens = false;   // encode: the post_processor's tokens (e.g. Llama-3 BOS)
  bool skip_special_tokens = false;  // decode
  int threads = 1;                   // lines of a batch are encoded in parallel, written in input order
};

Result<std::string> encode_line(const Tokenizer& tok, const TokenizeOptions& o, const rapidjson::Document& doc,
                                const std::string& where) {
  R1_ASSIGN_OR_RETURN(std::string text, json_string(doc, "text", where));
  std::vector<int64_t> ids = o.add_special_tokens ? tok.encode_with_special_tokens(text) : tok.encode(text);
  return JsonWriter().begin_object().key("ids").array(ids).end_object().str();
}

Result<std::string> decode_line(const Tokenizer& tok, const TokenizeOptions& o, const rapidjson::Document& doc,
                                const std::string& where) {
  auto it = doc.FindMember("ids");
  if (it == doc.MemberEnd() || !it->value.IsArray())
    return Status::error(where + ": field 'ids' must be an array of token ids");
  std::vector<int64_t> ids;
  for (const auto& v : it->value.GetArray()) {
    if (!v.IsInt64() || v.GetInt64() < 0 || v.GetInt64() >= tok.vocab_size())
      return Status::error(where + ": field 'ids' must hold integers in [0, " + std::to_string(tok.vocab_size()) +
                           "), got " + json_to_string(v));
    ids.push_back(v.GetInt64());
  }
  return JsonWriter().begin_object().key("text").value(tok.decode(ids, o.skip_special_tokens)).end_object().str();
}

// Converts lines [begin, end) of a batch; each thread owns its own slots.
void convert_range(const Tokenizer& tok, const TokenizeOptions& o, const std::vector<rapidjson::Document>& docs,
                   const std::vector<std::string>& wheres, std::vector<std::optional<Result<std::string>>>& out,
                   size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i)
    out[i] = o.decode ? decode_line(tok, o, docs[i], wheres[i]) : encode_line(tok, o, docs[i], wheres[i]);
}

void run_tokenize(const TokenizeOptions& o) {
  constexpr size_t kBatch = 4096;
  if (o.threads < 1) throw Error("--threads must be at least 1");
  Tokenizer tok = value_or_throw(Tokenizer::load(o.tokenizer));
  JsonlReader reader = value_or_throw(JsonlReader::open(o.input));
  JsonlWriter writer = value_or_throw(JsonlWriter::open(o.output));
  bool more = true;
  while (more) {
    std::vector<rapidjson::Document> docs;
    std::vector<std::string> wheres;
    while (docs.size() < kBatch) {
      rapidjson::Document doc;  // fresh each time: a moved-from Document has no allocator
      if (!(more = value_or_throw(reader.next(doc)))) break;
      docs.push_back(std::move(doc));
      wheres.push_back(reader.where());
    }
    std::vector<std::optional<Result<std::string>>> out(docs.size());
    size_t n = docs.size(), t = std::min<size_t>(o.threads, std::max<size_t>(n, 1));
    std::vector<std::thread> pool;
    for (size_t k = 1; k < t; ++k)
      pool.emplace_back(convert_range, std::cref(tok), std::cref(o), std::cref(docs), std::cref(wheres),
                        std::ref(out), n * k / t, n * (k + 1) / t);
    convert_range(tok, o, docs, wheres, out, 0, n / t);
    for (auto& th : pool) th.join();
    for (auto& line : out) throw_if_error(writer.write(value_or_throw(std::move(*line))));
  }
  throw_if_error(writer.commit());
}

void add_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Encode JSONL {\"text\"} lines to {\"ids\"}, or decode with --decode");
  cmd->add_option("--tokenizer", o->tokenizer, "Folder with tokenizer.json (or the file)")->required();
  cmd->add_option("--input", o->input, "JSONL input file, - for stdin")->capture_default_str();
  cmd->add_option("--output", o->output, "JSONL output file, - for stdout")->capture_default_str();
  cmd->add_flag("--decode", o->decode, "Decode {\"ids\": [...]} lines to {\"text\": ...}");
  cmd->add_flag("--add-special-tokens", o->add_special_tokens, "Encode: add the post-processor's tokens (e.g. BOS)");
  cmd->add_flag("--skip-special-tokens", o->skip_special_tokens, "Decode: drop special tokens");
  cmd->add_option("--threads", o->threads, "Worker threads (output order and content do not depend on it)")
      ->capture_default_str();
  cmd->callback([o] { run_tokenize(*o); });
}

struct TrainCommandOptions {
  std::string corpus;
  std::string out;
  BpeTrainerOptions trainer;
};

void add_train(CLI::App* group) {
  auto o = std::make_shared<TrainCommandOptions>();
  CLI::App* cmd = group->add_subcommand("train", "Train a byte-level BPE tokenizer (Qwen2-style) on a corpus");
  cmd->add_option("--corpus", o->corpus, "Text file (one document per line) or JSONL with a \"text\" field")
      ->required();
  cmd->add_option("--vocab-size", o->trainer.vocab_size, "Target vocabulary size incl. bytes and special tokens")
      ->required();
  cmd->add_option("--min-frequency", o->trainer.min_frequency, "Smallest pair count that is still merged")
      ->capture_default_str();
  cmd->add_option("--model-max-length", o->trainer.model_max_length, "model_max_length in tokenizer_config.json")
      ->capture_default_str();
  cmd->add_option("--out", o->out, "Output folder for tokenizer.json and tokenizer_config.json")->required();
  cmd->callback([o] {
    std::vector<std::string> texts = value_or_throw(read_corpus(o->corpus));
    throw_if_error(write_tokenizer_files(o->out, texts, o->trainer));
  });
}

struct ChatCommandOptions {
  std::string template_name;
  std::string tokenizer;  // for --template auto
  std::string input = "-";
  std::string output = "-";
  bool no_generation_prompt = false;
};

Result<std::vector<ChatMessage>> read_messages(const rapidjson::Document& doc, const std::string& where) {
  if (!json_has(doc, "messages")) return Status::error(where + ": field 'messages' is missing");
  return parse_chat_messages(doc["messages"], where, "messages");
}

void run_chat(const ChatCommandOptions& o) {
  ChatTemplate tmpl = o.template_name == "auto"
                          ? value_or_throw(detect_chat_template(value_or_throw(Tokenizer::load(o.tokenizer))))
                          : value_or_throw(parse_chat_template(o.template_name));
  JsonlReader reader = value_or_throw(JsonlReader::open(o.input));
  JsonlWriter writer = value_or_throw(JsonlWriter::open(o.output));
  rapidjson::Document doc;
  while (value_or_throw(reader.next(doc))) {
    auto messages = value_or_throw(read_messages(doc, reader.where()));
    auto text = render_chat(tmpl, messages, !o.no_generation_prompt);
    if (!text.ok()) throw Error(text.status().with_context(reader.where()));
    throw_if_error(writer.write(JsonWriter().begin_object().key("text").value(*text).end_object().str()));
  }
  throw_if_error(writer.commit());
}

void add_chat(CLI::App* group) {
  auto o = std::make_shared<ChatCommandOptions>();
  CLI::App* cmd = group->add_subcommand("chat", "Render JSONL {\"messages\": [...]} lines with a chat template");
  cmd->add_option("--template", o->template_name, "chatml, llama3, r1_zero, or auto (needs --tokenizer)")
      ->required();
  cmd->add_option("--tokenizer", o->tokenizer, "Tokenizer folder, for --template auto");
  cmd->add_option("--input", o->input, "JSONL input file, - for stdin")->capture_default_str();
  cmd->add_option("--output", o->output, "JSONL output file, - for stdout")->capture_default_str();
  cmd->add_flag("--no-generation-prompt", o->no_generation_prompt, "Do not open an assistant turn at the end");
  cmd->callback([o] { run_chat(*o); });
}

}  // namespace

void add_tokenizer_commands(CLI::App& app) {
  add_tokenize(app);
  CLI::App* group = app.add_subcommand("tokenizer", "Tokenizer tools: train, chat templates");
  group->require_subcommand(1);
  add_train(group);
  add_chat(group);
}

}  // namespace r1
