#include "model/model_cli.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "model/bpe_trainer.h"
#include "model/chat_template.h"
#include "model/generate.h"
#include "model/model_init.h"
#include "model/model_presets.h"
#include "model/scoring.h"
#include "model/tokenizer.h"
#include "util/file.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

// ---- r1 model init -------------------------------------------------------

struct InitOptions {
  std::string arch = "qwen2";
  std::string preset = "tiny";
  std::string out;
  std::string corpus;              // train the tokenizer on it; bytes only when empty
  int64_t tokenizer_vocab = 512;   // with --corpus
  int64_t vocab_size = 0;          // model vocab; 0 = the tokenizer's
  std::string dtype = "float32";
  uint64_t seed = 0;
};

void run_init(const InitOptions& o) {
  ModelFamily family = value_or_throw(parse_model_family(o.arch));
  ModelInitOptions init;
  init.config = value_or_throw(preset_config(family, o.preset));
  if (!o.corpus.empty()) init.corpus = value_or_throw(read_corpus(o.corpus));
  init.tokenizer_vocab = o.tokenizer_vocab;
  init.vocab_size = o.vocab_size;
  init.dtype = o.dtype;
  init.seed = o.seed;
  ModelConfig config = value_or_throw(init_model(init, o.out));
  std::fprintf(stderr, "r1 model init: %s %s, %.2fM parameters, vocab %lld -> %s\n", o.arch.c_str(), o.preset.c_str(),
               config.num_parameters() / 1e6, static_cast<long long>(config.vocab_size), o.out.c_str());
}

void add_init(CLI::App* group) {
  auto o = std::make_shared<InitOptions>();
  CLI::App* cmd = group->add_subcommand("init", "Write a randomly initialised model with a tokenizer as an HF folder");
  cmd->add_option("--arch", o->arch, "qwen2 | llama | qwen3")->capture_default_str();
  cmd->add_option("--preset", o->preset, "tiny | small | medium | qwen2.5-0.5b")->capture_default_str();
  cmd->add_option("--out", o->out, "Output folder")->required();
  cmd->add_option("--corpus", o->corpus, "Train the BPE tokenizer on this text/JSONL corpus (else bytes only)");
  cmd->add_option("--tokenizer-vocab", o->tokenizer_vocab, "Tokenizer vocabulary size with --corpus")->capture_default_str();
  cmd->add_option("--vocab-size", o->vocab_size, "Model vocabulary (>= the tokenizer's; padded rows unused)");
  cmd->add_option("--dtype", o->dtype, "float32 | bfloat16 | float16")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Initialisation seed")->capture_default_str();
  cmd->callback([o] { run_init(*o); });
}

// ---- shared by generate and logprobs ------------------------------------

struct ModelOptions {
  std::string model;
  std::string dtype;  // empty keeps the checkpoint's
  int threads = 0;
};

void add_model_options(CLI::App* cmd, ModelOptions& o) {
  cmd->add_option("--model", o.model, "HF model folder")->required();
  cmd->add_option("--dtype", o.dtype, "Compute dtype: float32 | bfloat16 (default: the checkpoint's)")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  cmd->add_option("--threads", o.threads, "CPU threads (default: all cores)");
}

Transformer load_model(const ModelOptions& o) {
  if (o.threads > 0) at::set_num_threads(o.threads);
  LoadOptions load;
  if (o.dtype == "float32") load.dtype = at::kFloat;
  if (o.dtype == "bfloat16") load.dtype = at::kBFloat16;
  if (o.dtype == "float16") load.dtype = at::kHalf;
  return value_or_throw(Transformer::load(o.model, load));
}

std::optional<Tokenizer> load_tokenizer_if_present(const std::string& dir) {
  if (!std::filesystem::exists(dir + "/tokenizer.json")) return std::nullopt;
  return value_or_throw(Tokenizer::load(dir));
}

const Tokenizer& need_tokenizer(const std::optional<Tokenizer>& tok, const std::string& where) {
  if (!tok) throw Error(where + ": text input needs a tokenizer.json in the model folder; give token ids instead");
  return *tok;
}

Result<std::vector<ChatMessage>> parse_messages(const JsonValue& row, const std::string& where) {
  const JsonValue& list = row["messages"];
  if (!list.IsArray()) return Status::error(where + ": field 'messages' must be an array of {role, content}");
  std::vector<ChatMessage> messages;
  for (const auto& m : list.GetArray()) {
    ChatMessage msg;
    R1_ASSIGN_OR_RETURN(msg.role, json_string(m, "role", where + ": messages[]"));
    R1_ASSIGN_OR_RETURN(msg.content, json_string(m, "content", where + ": messages[]"));
    messages.push_back(std::move(msg));
  }
  return messages;
}

// A prompt row: {"prompt_ids": [...]}, {"prompt": "..."} or {"messages": [...]}.
struct PromptText {
  std::string text;
  std::vector<int64_t> ids;
};

PromptText read_prompt(const JsonValue& row, const std::string& where, const std::optional<Tokenizer>& tok,
                       const std::string& template_name) {
  PromptText p;
  if (json_has(row, "prompt_ids")) {
    p.ids = value_or_throw(json_int_array(row, "prompt_ids", where));
    if (tok) p.text = tok->decode(p.ids);
    return p;
  }
  const Tokenizer& t = need_tokenizer(tok, where);
  std::vector<ChatMessage> messages;
  if (json_has(row, "messages")) {
    messages = value_or_throw(parse_messages(row, where));
  } else {
    std::string prompt = value_or_throw(json_string(row, "prompt", where));
    if (template_name == "none") {
      p.text = prompt;
    } else {
      if (json_has(row, "system")) messages.push_back({"system", value_or_throw(json_string(row, "system", where))});
      messages.push_back({"user", prompt});
    }
  }
  if (!messages.empty()) {
    if (template_name == "none") throw Error(where + ": 'messages' need a chat template (--template)");
    ChatTemplate tmpl = template_name == "auto" ? value_or_throw(detect_chat_template(t))
                                                : value_or_throw(parse_chat_template(template_name));
    p.text = value_or_throw(render_chat(tmpl, messages, /*add_generation_prompt=*/true));
  }
  p.ids = t.encode(p.text);
  return p;
}

// ---- r1 generate ---------------------------------------------------------

struct GenerateCommand {
  ModelOptions model;
  std::string prompts;
  std::string output = "-";
  std::string template_name = "none";
  GenerationOptions gen;
  bool quiet = false;
};

void run_generate(GenerateCommand& o) {
  Transformer model = load_model(o.model);
  std::optional<Tokenizer> tok = load_tokenizer_if_present(o.model.model);
  if (tok && !o.gen.stop_strings.empty()) o.gen.decode = [&](const std::vector<int64_t>& ids) { return tok->decode(ids); };
  JsonlReader reader = value_or_throw(JsonlReader::open(o.prompts));
  std::vector<PromptText> prompts;
  rapidjson::Document doc;
  while (value_or_throw(reader.next(doc))) prompts.push_back(read_prompt(doc, reader.where(), tok, o.template_name));
  if (prompts.empty()) throw Error(o.prompts + ": no prompts");
  std::vector<std::vector<int64_t>> ids;
  for (const auto& p : prompts) ids.push_back(p.ids);
  GenerationStats stats;
  auto completions = generate(model, ids, o.gen, &stats);
  if (!completions.ok()) throw Error(completions.status().with_context(o.prompts));
  JsonlWriter writer = value_or_throw(JsonlWriter::open(o.output));
  for (const Completion& c : *completions) {
    std::vector<double> logprobs(c.logprobs.begin(), c.logprobs.end());
    JsonWriter w;
    w.begin_object().key("prompt_index").value(c.prompt_index).key("sample_index").value(c.sample_index);
    w.key("prompt").value(prompts[c.prompt_index].text);
    // Like vLLM and batch_decode(skip_special_tokens=True): eos and other special
    // tokens stay in token_ids but not in the text the reward checkers read.
    w.key("completion").value(tok ? tok->decode(c.token_ids, /*skip_special_tokens=*/true) : std::string());
    w.key("token_ids").array(c.token_ids).key("logprobs").array(logprobs);
    w.key("finish_reason").value(c.finish_reason).end_object();
    throw_if_error(writer.write(w.str()));
  }
  throw_if_error(writer.commit());
  if (!o.quiet)
    std::fprintf(stderr, "r1 generate: prefill %lld tok in %.3fs (%.1f tok/s), decode %lld tok in %.3fs (%.1f tok/s)\n",
                 static_cast<long long>(stats.prefill_tokens), stats.prefill_seconds,
                 stats.prefill_tokens / std::max(stats.prefill_seconds, 1e-9),
                 static_cast<long long>(stats.decode_tokens), stats.decode_seconds,
                 stats.decode_tokens / std::max(stats.decode_seconds, 1e-9));
}

void add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateCommand>();
  CLI::App* cmd = app.add_subcommand("generate", "Sample completions for JSONL prompts");
  add_model_options(cmd, o->model);
  cmd->add_option("--prompts", o->prompts, "JSONL rows with prompt_ids, prompt or messages")->required();
  cmd->add_option("--output", o->output, "JSONL output, - for stdout")->capture_default_str();
  cmd->add_option("--template", o->template_name, "none | auto | chatml | llama3 | r1_zero")
      ->check(CLI::IsMember({"none", "auto", "chatml", "llama3", "r1_zero"}))
      ->capture_default_str();
  cmd->add_option("--num-samples", o->gen.num_samples, "Completions per prompt")->capture_default_str();
  cmd->add_option("--max-new-tokens", o->gen.max_new_tokens, "Tokens per completion at most")->capture_default_str();
  cmd->add_option("--temperature", o->gen.sampling.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", o->gen.sampling.top_k, "0 = off")->capture_default_str();
  cmd->add_option("--top-p", o->gen.sampling.top_p, "1 = off")->capture_default_str();
  cmd->add_option("--min-p", o->gen.sampling.min_p, "0 = off")->capture_default_str();
  cmd->add_option("--stop", o->gen.stop_strings, "Stop string (repeatable)");
  cmd->add_option("--stop-token-id", o->gen.stop_token_ids, "Stop token id besides eos (repeatable)");
  cmd->add_option("--seed", o->gen.seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "No throughput line on stderr");
  cmd->callback([o] { run_generate(*o); });
}

// ---- r1 logprobs ---------------------------------------------------------

struct LogprobsCommand {
  ModelOptions model;
  std::string input;
  std::string output = "-";
  std::string dump_logits;
  double temperature = 1.0;
  int64_t batch_size = 8;
};

// A scoring row: prompt_ids + completion_ids, or prompt + completion text.
std::pair<std::vector<int64_t>, int64_t> read_scoring_row(const JsonValue& row, const std::string& where,
                                                          const std::optional<Tokenizer>& tok) {
  std::vector<int64_t> prompt, completion;
  if (json_has(row, "prompt_ids")) {
    prompt = value_or_throw(json_int_array(row, "prompt_ids", where));
    completion = value_or_throw(json_int_array(row, "completion_ids", where));
  } else {
    const Tokenizer& t = need_tokenizer(tok, where);
    prompt = t.encode(value_or_throw(json_string(row, "prompt", where)));
    completion = t.encode(value_or_throw(json_string(row, "completion", where)));
  }
  if (prompt.empty()) throw Error(where + ": the prompt must have at least one token");
  int64_t prompt_len = static_cast<int64_t>(prompt.size());
  prompt.insert(prompt.end(), completion.begin(), completion.end());
  return {prompt, prompt_len};
}

void check_sequence(const Transformer& model, const std::vector<int64_t>& ids, const std::string& where) {
  const ModelConfig& c = model.config();
  if (static_cast<int64_t>(ids.size()) > c.max_position_embeddings)
    throw Error(where + ": " + std::to_string(ids.size()) + " tokens exceed the model's context of " +
                std::to_string(c.max_position_embeddings));
  throw_if_error(c.check_token_ids(ids, where));
}

void run_logprobs(const LogprobsCommand& o) {
  Transformer model = load_model(o.model);
  std::optional<Tokenizer> tok = load_tokenizer_if_present(o.model.model);
  JsonlReader reader = value_or_throw(JsonlReader::open(o.input));
  std::vector<std::vector<int64_t>> sequences;
  std::vector<int64_t> prompt_lengths;
  rapidjson::Document doc;
  while (value_or_throw(reader.next(doc))) {
    auto [ids, prompt_len] = read_scoring_row(doc, reader.where(), tok);
    check_sequence(model, ids, reader.where());
    sequences.push_back(std::move(ids));
    prompt_lengths.push_back(prompt_len);
  }
  at::NoGradGuard no_grad;
  JsonlWriter writer = value_or_throw(JsonlWriter::open(o.output));
  std::vector<at::Tensor> all_logits;
  for (size_t start = 0; start < sequences.size(); start += o.batch_size) {
    size_t end = std::min(sequences.size(), start + static_cast<size_t>(o.batch_size));
    TokenBatch batch = make_token_batch({sequences.begin() + start, sequences.begin() + end});
    at::Tensor logprobs = next_token_logprobs(model, batch, o.temperature).to(at::kDouble);
    if (!o.dump_logits.empty()) all_logits.push_back(model.lm_head(batch_hidden(model, batch)).to(at::kFloat));
    for (size_t i = start; i < end; ++i) {
      int64_t n = static_cast<int64_t>(sequences[i].size()), p = prompt_lengths[i];
      at::Tensor row = logprobs[i - start].narrow(0, p - 1, n - p).contiguous();
      std::vector<double> values(row.data_ptr<double>(), row.data_ptr<double>() + row.numel());
      JsonWriter w;
      w.begin_object().key("logprobs").array(values).key("sum").value(row.sum().item<double>()).end_object();
      throw_if_error(writer.write(w.str()));
    }
  }
  throw_if_error(writer.commit());
  if (!o.dump_logits.empty()) {
    // Batches differ in length: pad each to the longest with zeros.
    int64_t L = 0;
    for (const auto& t : all_logits) L = std::max(L, t.size(1));
    for (auto& t : all_logits) t = at::constant_pad_nd(t, {0, 0, 0, L - t.size(1)});
    TensorMap dump{{"logits", at::cat(all_logits)}, {"lengths", make_token_batch(sequences).lengths}};
    throw_if_error(save_safetensors(o.dump_logits, dump));
  }
}

void add_logprobs(CLI::App& app) {
  auto o = std::make_shared<LogprobsCommand>();
  CLI::App* cmd = app.add_subcommand("logprobs", "Per-token log-probabilities of given prompt+completion pairs");
  add_model_options(cmd, o->model);
  cmd->add_option("--input", o->input, "JSONL rows: prompt_ids + completion_ids, or prompt + completion")->required();
  cmd->add_option("--output", o->output, "JSONL output, - for stdout")->capture_default_str();
  cmd->add_option("--temperature", o->temperature, "Divide logits by this first")->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "Rows per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--dump-logits", o->dump_logits, "Also write all logits [rows, L, V] to this safetensors file");
  cmd->callback([o] { run_logprobs(*o); });
}

}  // namespace

void add_model_commands(CLI::App& app) {
  CLI::App* model = app.add_subcommand("model", "Create and inspect models");
  model->require_subcommand(1);
  add_init(model);
  add_generate(app);
  add_logprobs(app);
}

}  // namespace r1
