#include "pipelines/pretrain_toy.h"

#include <filesystem>
#include <map>

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

using Int = int64_t PretrainToyConfig::*;
const std::map<std::string, Int>& int_keys() {
  static const std::map<std::string, Int> keys = {
      {"num_hidden_layers", &PretrainToyConfig::num_hidden_layers},
      {"hidden_size", &PretrainToyConfig::hidden_size},
      {"intermediate_size", &PretrainToyConfig::intermediate_size},
      {"num_attention_heads", &PretrainToyConfig::num_attention_heads},
      {"num_key_value_heads", &PretrainToyConfig::num_key_value_heads},
      {"tokenizer_vocab", &PretrainToyConfig::tokenizer_vocab},
      {"seed", &PretrainToyConfig::seed},
  };
  return keys;
}

constexpr const char* kKnownKeys =
    "corpus, template, arch, preset, num_hidden_layers, hidden_size, intermediate_size, num_attention_heads, "
    "num_key_value_heads, tokenizer_vocab, seed, sft, output_dir";

// The SFT keys the stage sets itself.
constexpr const char* kOwnSftKeys[] = {"model_name_or_path", "train_file", "output_dir"};

std::string init_dir(const PretrainToyConfig& c) { return (fs::path(c.output_dir) / "init").string(); }
std::string corpus_path(const PretrainToyConfig& c) { return (fs::path(c.output_dir) / "corpus.jsonl").string(); }

Result<PretrainToyConfig> parse_keys(const rapidjson::Value& obj, const std::string& where,
                                     const rapidjson::Value** sft) {
  PretrainToyConfig c;
  bool has_corpus = false;
  for (const auto& m : obj.GetObject()) {
    const std::string key = m.name.GetString();
    const JsonValue& v = m.value;
    auto bad = [&](const char* what) { return Status::error(where + ": key '" + key + "' must be " + what); };
    if (key == "corpus") {
      if (!v.IsObject() || !v.HasMember("task")) return bad("a task object ({\"task\": \"arithmetic\", \"n\": ...})");
      R1_ASSIGN_OR_RETURN(c.corpus, parse_task_options(v, where + ": corpus"));
      if (c.corpus.split != "train")
        return Status::error(where + ": corpus.split: the pretraining corpus is always the train split");
      has_corpus = true;
    } else if (key == "template" || key == "arch" || key == "preset" || key == "output_dir") {
      if (!v.IsString()) return bad("a string");
      (key == "template" ? c.template_name : key == "arch" ? c.arch : key == "preset" ? c.preset : c.output_dir) =
          v.GetString();
    } else if (auto it = int_keys().find(key); it != int_keys().end()) {
      if (!v.IsInt64() || v.GetInt64() < 0) return bad("an integer >= 0");
      c.*(it->second) = v.GetInt64();
    } else if (key == "sft") {
      if (!v.IsObject()) return bad("an object of SFT keys (docs/sft.md)");
      *sft = &v;
    } else {
      return Status::error(where + ": unknown key '" + key + "' (known: " + kKnownKeys + ")");
    }
  }
  if (!has_corpus) return Status::error(where + ": key 'corpus' is required (a task object)");
  if (c.output_dir.empty()) return Status::error(where + ": key 'output_dir' is required");
  if (c.tokenizer_vocab < 260) return Status::error(where + ": key 'tokenizer_vocab' must be >= 260 (bytes + specials)");
  return c;
}

}  // namespace

Result<ModelConfig> PretrainToyConfig::model_config() const {
  R1_ASSIGN_OR_RETURN(ModelFamily family, parse_model_family(arch));
  R1_ASSIGN_OR_RETURN(ModelConfig m, preset_config(family, preset));
  if (num_hidden_layers > 0) m.num_hidden_layers = num_hidden_layers;
  if (hidden_size > 0) m.hidden_size = hidden_size;
  if (intermediate_size > 0) m.intermediate_size = intermediate_size;
  if (num_attention_heads > 0) m.num_attention_heads = num_attention_heads;
  if (num_key_value_heads > 0) m.num_key_value_heads = num_key_value_heads;
  if (m.hidden_size % m.num_attention_heads != 0)
    return Status::error("key 'hidden_size' (" + std::to_string(m.hidden_size) +
                         ") must be a multiple of 'num_attention_heads' (" + std::to_string(m.num_attention_heads) + ")");
  if (m.num_attention_heads % m.num_key_value_heads != 0)
    return Status::error("key 'num_attention_heads' (" + std::to_string(m.num_attention_heads) +
                         ") must be a multiple of 'num_key_value_heads' (" + std::to_string(m.num_key_value_heads) +
                         ")");
  m.head_dim = m.hidden_size / m.num_attention_heads;
  if (m.head_dim % 2 != 0)
    return Status::error("hidden_size / num_attention_heads = " + std::to_string(m.head_dim) + " must be even (RoPE)");
  return m;
}

Result<PretrainToyConfig> parse_pretrain_toy_config(const rapidjson::Value& obj, const std::string& where) {
  if (!obj.IsObject()) return Status::error(where + ": the pretrain-toy config must be a JSON object");
  const rapidjson::Value* sft = nullptr;
  R1_ASSIGN_OR_RETURN(PretrainToyConfig c, parse_keys(obj, where, &sft));
  R1_RETURN_IF_ERROR(c.model_config().status().with_context(where));
  R1_RETURN_IF_ERROR(spec_chat_template(c.template_name).status().with_context(where + ": key 'template'"));

  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  if (sft) {
    for (const char* own : kOwnSftKeys)
      if (sft->HasMember(own))
        return Status::error(where + ": sft." + own + ": set by the stage (init/, corpus.jsonl, the stage folder)");
    doc.CopyFrom(*sft, a);
  }
  doc.AddMember("model_name_or_path", rapidjson::Value(init_dir(c).c_str(), a), a);
  doc.AddMember("train_file", rapidjson::Value(corpus_path(c).c_str(), a), a);
  doc.AddMember("output_dir", rapidjson::Value(c.output_dir.c_str(), a), a);
  R1_ASSIGN_OR_RETURN(c.sft, parse_sft_config(doc, where + ": sft"));
  return c;
}

Result<PretrainToyResult> run_pretrain_toy(const PretrainToyConfig& c, std::FILE* log) {
  PretrainToyResult result;
  R1_RETURN_IF_ERROR(make_dirs(c.output_dir));

  R1_ASSIGN_OR_RETURN(std::optional<ChatTemplate> tmpl, spec_chat_template(c.template_name));
  R1_ASSIGN_OR_RETURN(std::vector<std::string> texts, task_pretraining_corpus(c.corpus, tmpl));
  R1_ASSIGN_OR_RETURN(JsonlWriter writer, JsonlWriter::open(corpus_path(c)));
  for (const std::string& text : texts) {
    JsonWriter w;
    w.begin_object().key("text").value(text).end_object();
    R1_RETURN_IF_ERROR(writer.write(w.str()));
  }
  R1_RETURN_IF_ERROR(writer.commit());
  result.corpus_texts = static_cast<int64_t>(texts.size());
  if (log) std::fprintf(log, "pretrain-toy: %zu %s texts -> %s\n", texts.size(), c.corpus.task.c_str(), corpus_path(c).c_str());

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
