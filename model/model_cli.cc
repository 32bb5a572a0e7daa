#include "model/model_cli.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "model/bpe_trainer.h"
#include "model/cli_inputs.h"
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
  cmd->add_option("--arch", o->arch, "qwen2 | llama | qwen3 | deepseek_v2 | deepseek_v3")->capture_default_str();
  cmd->add_option("--preset", o->preset, "tiny | small | medium | qwen2.5-0.5b (deepseek: tiny | small)")
      ->capture_default_str();
  cmd->add_option("--out", o->out, "Output folder")->required();
  cmd->add_option("--corpus", o->corpus, "Train the BPE tokenizer on this text/JSONL corpus (else bytes only)");
  cmd->add_option("--tokenizer-vocab", o->tokenizer_vocab, "Tokenizer vocabulary size with --corpus")
      ->capture_default_str();
  cmd->add_option("--vocab-size", o->vocab_size, "Model vocabulary (>= the tokenizer's; padded rows unused)");
  cmd->add_option("--dtype", o->dtype, "float32 | bfloat16 | float16")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Initialisation seed")->capture_default_str();
  cmd->callback([o] { run_init(*o); });
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
    // Scored as the GRPO learner scores completions (each distinct prompt
    // once, padded tokens skipped), so the parity tests against transformers
    // check the learner's path.
    std::vector<std::vector<int64_t>> prompts, completions;
    for (size_t i = start; i < end; ++i) {
      prompts.emplace_back(sequences[i].begin(), sequences[i].begin() + prompt_lengths[i]);
      completions.emplace_back(sequences[i].begin() + prompt_lengths[i], sequences[i].end());
    }
    PromptCompletionBatch batch = make_prompt_completion_batch(prompts, completions, model.device());
    at::Tensor logprobs = completion_logprobs(model, batch, o.temperature).to(at::kCPU, at::kDouble);
    if (!o.dump_logits.empty()) {  // every position's logits: one more forward, over the whole sequences
      TokenBatch whole = make_token_batch({sequences.begin() + start, sequences.begin() + end}, model.device());
      all_logits.push_back(model.lm_head(batch_hidden(model, whole)).to(at::kCPU, at::kFloat));
    }
    for (size_t i = start; i < end; ++i) {
      int64_t n = static_cast<int64_t>(sequences[i].size()), p = prompt_lengths[i];
      at::Tensor row = logprobs[i - start].narrow(0, 0, n - p).contiguous();
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
  cmd->add_option("--batch-size", o->batch_size, "Rows per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dump-logits", o->dump_logits, "Also write all logits [rows, L, V] to this safetensors file");
  cmd->callback([o] { run_logprobs(*o); });
}

}  // namespace

void add_model_commands(CLI::App& app) {
  CLI::App* model = app.add_subcommand("model", "Create and inspect models");
  model->require_subcommand(1);
  add_init(model);
  add_logprobs(app);
}

}  // namespace r1
