#include "pipelines/pretrain_toy.h"

#include <filesystem>

#include "data/dataset_source.h"
#include "data/jsonl_dataset.h"
#include "model/model_init.h"
#include "model/model_presets.h"
#include "sft/sft_trainer.h"
#include "train/train_state.h"
#include "util/file.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

namespace fs = std::filesystem;

// The SFT keys the stage sets itself: paths in its folder, and its own
// device and dtype keys.
constexpr const char* kOwnSftPaths[] = {"model_name_or_path", "train_file", "output_dir"};
constexpr const char* kOwnSftCompute[] = {"device", "dtype"};

bool is_own_sft_key(const std::string& key) {
  for (const char* own : kOwnSftPaths)
    if (key == own) return true;
  for (const char* own : kOwnSftCompute)
    if (key == own) return true;
  return false;
}

std::string init_dir(const PretrainToyConfig& c) { return (fs::path(c.output_dir) / "init").string(); }
std::string corpus_path(const PretrainToyConfig& c) { return (fs::path(c.output_dir) / "corpus.jsonl").string(); }

Status set_corpus(PretrainToyConfig& c, const JsonValue& v, const std::string& where) {
  if (!v.IsObject() || !v.HasMember("task"))
    return field_value_error(v, "corpus", "a task object ({\"task\": \"arithmetic\", \"n\": ...})", where);
  R1_ASSIGN_OR_RETURN(c.corpus, parse_task_options(v, where + ": corpus"));
  if (c.corpus->split != "train")
    return Status::error(where + ": corpus.split: the pretraining corpus is always the train split");
  return Status();
}

void write_corpus(const PretrainToyConfig& c, JsonWriter& w) {
  if (c.corpus) w.raw(task_options_json(*c.corpus));
  else w.null();
}

Status set_sft(PretrainToyConfig& c, const JsonValue& v, const std::string& where) {
  if (!v.IsObject()) return field_value_error(v, "sft", "an object of SFT keys (docs/sft.md)", where);
  for (const char* own : kOwnSftPaths)
    if (v.HasMember(own))
      return Status::error(where + ": sft." + own + ": set by the stage (init/, corpus.jsonl, the stage folder)");
  for (const char* own : kOwnSftCompute)
    if (v.HasMember(own))
      return Status::error(where + ": sft." + own + ": give it as the stage's own '" + own + "' key");
  return sft_config_fields().apply_json(c.sft, v, where + ": sft");
}

// The SFT keys that differ from SFT's defaults, less the stage's own: what
// the stage's "sft" object says.
void write_sft(const PretrainToyConfig& c, JsonWriter& w) {
  static const SFTConfig defaults;
  w.begin_object();
  for (const auto& f : sft_config_fields().fields()) {
    if (!f.write || is_own_sft_key(f.info.name)) continue;
    JsonWriter value, fallback;
    f.write(c.sft, value);
    f.write(defaults, fallback);
    if (value.str() != fallback.str()) w.key(f.info.name).raw(value.str());
  }
  w.end_object();
}

Status finish(PretrainToyConfig& c) {
  R1_RETURN_IF_ERROR(check_field_rules({
      {c.num_hidden_layers >= 0, "num_hidden_layers", ">= 0 (0 = the preset's)", double(c.num_hidden_layers)},
      {c.hidden_size >= 0, "hidden_size", ">= 0 (0 = the preset's)", double(c.hidden_size)},
      {c.intermediate_size >= 0, "intermediate_size", ">= 0 (0 = the preset's)", double(c.intermediate_size)},
      {c.num_attention_heads >= 0, "num_attention_heads", ">= 0 (0 = the preset's)", double(c.num_attention_heads)},
      {c.num_key_value_heads >= 0, "num_key_value_heads", ">= 0 (0 = the preset's)", double(c.num_key_value_heads)},
      {c.seed >= 0, "seed", ">= 0", double(c.seed)},
      {c.tokenizer_vocab >= 260, "tokenizer_vocab", ">= 260 (bytes + specials)", double(c.tokenizer_vocab)},
  }));
  R1_RETURN_IF_ERROR(c.model_config().status());
  R1_RETURN_IF_ERROR(spec_chat_template(c.template_name).status().with_context("field 'template'"));
  c.sft.model_name_or_path = init_dir(c);
  c.sft.train_file = corpus_path(c);
  c.sft.output_dir = c.output_dir;
  c.sft.compute = c.compute;
  return sft_config_fields().finish(c.sft, "sft");
}

}  // namespace

const ConfigFields<PretrainToyConfig>& pretrain_toy_config_fields() {
  using C = PretrainToyConfig;
  static const ConfigFields<C> fields =
      ConfigFields<C>("pretrain-toy config", finish)
          .add("corpus", "a task object", set_corpus, write_corpus,
               "the train-split problems to pretrain on: {\"task\": \"arithmetic\" | \"countdown\", \"n\": ..., "
               "task keys as in docs/data.md}")
          .required()
          .add("template", &C::template_name, "how the corpus renders prompts: r1_zero, chatml, llama3 or none")
          .add("arch", &C::arch, "qwen2, llama or qwen3")
          .add("preset", &C::preset, "a model shape of model/model_presets.h (tiny, ...)")
          .add("num_hidden_layers", &C::num_hidden_layers, "0 keeps the preset's")
          .add("hidden_size", &C::hidden_size, "0 keeps the preset's")
          .add("intermediate_size", &C::intermediate_size, "0 keeps the preset's")
          .add("num_attention_heads", &C::num_attention_heads, "0 keeps the preset's")
          .add("num_key_value_heads", &C::num_key_value_heads, "0 keeps the preset's")
          .add("tokenizer_vocab", &C::tokenizer_vocab, "BPE vocabulary trained on the corpus (>= 260)")
          .add("seed", &C::seed, "weight initialisation seed")
          .add("sft", "an object of SFT keys", set_sft, write_sft,
               "the pretraining run's SFT keys (r1 sft --help-config), less model_name_or_path, train_file, "
               "output_dir, device and dtype, which the stage sets")
          .include(compute_options_fields(), &C::compute)
          .add("output_dir", &C::output_dir, "the stage folder, which the pipeline runner sets")
          .required();
  return fields;
}

Result<ModelConfig> PretrainToyConfig::model_config() const {
  R1_ASSIGN_OR_RETURN(ModelFamily family, parse_model_family(arch));
  R1_ASSIGN_OR_RETURN(ModelConfig m, preset_config(family, preset));
  if (num_hidden_layers > 0) m.num_hidden_layers = num_hidden_layers;
  if (hidden_size > 0) m.hidden_size = hidden_size;
  if (intermediate_size > 0) m.intermediate_size = intermediate_size;
  if (num_attention_heads > 0) m.num_attention_heads = num_attention_heads;
  if (num_key_value_heads > 0) m.num_key_value_heads = num_key_value_heads;
  if (m.is_mla()) {  // DeepSeek: every head reads the shared latent; head_dim is the preset's rope width
    if (num_key_value_heads > 0 && num_key_value_heads != m.num_attention_heads)
      return field_error("num_key_value_heads", "must equal 'num_attention_heads' for " + arch);
    m.num_key_value_heads = m.num_attention_heads;
    return m;
  }
  if (m.hidden_size % m.num_attention_heads != 0)
    return field_error("hidden_size", "(" + std::to_string(m.hidden_size) +
                                          ") must be a multiple of 'num_attention_heads' (" +
                                          std::to_string(m.num_attention_heads) + ")");
  if (m.num_attention_heads % m.num_key_value_heads != 0)
    return field_error("num_attention_heads", "(" + std::to_string(m.num_attention_heads) +
                                                  ") must be a multiple of 'num_key_value_heads' (" +
                                                  std::to_string(m.num_key_value_heads) + ")");
  m.head_dim = m.hidden_size / m.num_attention_heads;
  if (m.head_dim % 2 != 0)
    return Status::error("hidden_size / num_attention_heads = " + std::to_string(m.head_dim) + " must be even (RoPE)");
  return m;
}

Result<PretrainToyConfig> parse_pretrain_toy_config(const rapidjson::Value& obj, const std::string& where) {
  return pretrain_toy_config_fields().parse(obj, where);
}

Result<PretrainToyResult> run_pretrain_toy(const PretrainToyConfig& c, std::FILE* log) {
  PretrainToyResult result;
  R1_RETURN_IF_ERROR(make_dirs(c.output_dir));

  R1_ASSIGN_OR_RETURN(std::optional<ChatTemplate> tmpl, spec_chat_template(c.template_name));
  R1_ASSIGN_OR_RETURN(std::vector<std::string> texts, task_pretraining_corpus(*c.corpus, tmpl));
  R1_ASSIGN_OR_RETURN(JsonlWriter writer, JsonlWriter::open(corpus_path(c)));
  for (const std::string& text : texts) {
    JsonWriter w;
    w.begin_object().key("text").value(text).end_object();
    R1_RETURN_IF_ERROR(writer.write(w.str()));
  }
  R1_RETURN_IF_ERROR(writer.commit());
  result.corpus_texts = static_cast<int64_t>(texts.size());
  if (log)
    std::fprintf(log, "pretrain-toy: %zu %s texts -> %s\n", texts.size(), c.corpus->task.c_str(),
                 corpus_path(c).c_str());

  // init/ is saved whole or not at all, so one that exists is complete; the
  // SFT's checkpoints copy its tokenizer, so it is kept rather than redrawn.
  if (!fs::exists(fs::path(init_dir(c)) / "config.json")) {
    ModelInitOptions init;
    R1_ASSIGN_OR_RETURN(init.config, c.model_config());
    init.corpus = texts;
    init.tokenizer_vocab = c.tokenizer_vocab;
    init.seed = static_cast<uint64_t>(c.seed);
    R1_ASSIGN_OR_RETURN(ModelConfig written, init_model(init, init_dir(c)));
    if (log)
      std::fprintf(log, "pretrain-toy: %s %s, %.2fM parameters, vocab %lld -> %s\n", c.arch.c_str(), c.preset.c_str(),
                   written.num_parameters() / 1e6, static_cast<long long>(written.vocab_size), init_dir(c).c_str());
  }
  R1_ASSIGN_OR_RETURN(ModelConfig model, ModelConfig::load(init_dir(c)));
  result.parameters = model.num_parameters();
  result.vocab_size = model.vocab_size;

  R1_ASSIGN_OR_RETURN(std::string last, find_last_checkpoint(c.output_dir));
  R1_ASSIGN_OR_RETURN(SftRunResult sft, run_sft(c.sft, !last.empty(), log));
  result.steps = sft.global_step;
  result.loss = sft.last_loss;
  result.model_dir = sft.model_dir;
  return result;
}

}  // namespace r1
