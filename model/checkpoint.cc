#include "model/checkpoint.h"

#include <filesystem>
#include <set>

#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace fs = std::filesystem;

const char* const kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                       "chat_template.jinja", nullptr};

namespace {

Result<TensorMap> load_sharded(const std::string& dir, const std::string& index_path) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document index, read_json_file(index_path));
  if (!index.IsObject() || !index.HasMember("weight_map") || !index["weight_map"].IsObject())
    return Status::error(index_path + ": field 'weight_map' must be an object of tensor name -> shard file");
  std::set<std::string> shards;
  std::map<std::string, std::string> owner;
  for (const auto& m : index["weight_map"].GetObject()) {
    if (!m.value.IsString())
      return Status::error(index_path + ": weight_map['" + m.name.GetString() + "'] must be a file name");
    std::string shard = m.value.GetString();
    if (shard.find('/') != std::string::npos)
      return Status::error(index_path + ": weight_map['" + m.name.GetString() + "'] must name a file in the folder");
    shards.insert(shard);
    owner[m.name.GetString()] = shard;
  }
  TensorMap all;
  for (const auto& shard : shards) {
    R1_ASSIGN_OR_RETURN(SafetensorsFile file, load_safetensors(dir + "/" + shard));
    for (auto& [name, tensor] : file.tensors) all[name] = tensor;
  }
  for (const auto& [name, shard] : owner)
    if (!all.count(name)) return Status::error(index_path + ": tensor '" + name + "' is not in its shard " + shard);
  return all;
}

std::string generation_config_json(const ModelConfig& config) {
  JsonWriter w;
  w.begin_object();
  if (config.bos_token_id) w.key("bos_token_id").value(*config.bos_token_id);
  if (config.pad_token_id) w.key("pad_token_id").value(*config.pad_token_id);
  if (config.eos_token_ids.size() == 1) w.key("eos_token_id").value(config.eos_token_ids[0]);
  if (config.eos_token_ids.size() > 1) w.key("eos_token_id").array(config.eos_token_ids);
  w.end_object();
  return w.str() + "\n";
}

Status copy_tokenizer_files(const std::string& from, const std::string& to) {
  for (int i = 0; kTokenizerFiles[i]; ++i) {
    fs::path src = fs::path(from) / kTokenizerFiles[i];
    if (!fs::exists(src)) continue;
    std::error_code ec;
    fs::copy_file(src, fs::path(to) / kTokenizerFiles[i], fs::copy_options::overwrite_existing, ec);
    if (ec) return Status::error(src.string() + ": cannot copy: " + ec.message());
  }
  return Status();
}

}  // namespace

Result<TensorMap> load_checkpoint_tensors(const std::string& dir) {
  std::string index = dir + "/model.safetensors.index.json";
  if (fs::exists(index)) return load_sharded(dir, index);
  std::string single = dir + "/model.safetensors";
  if (!fs::exists(single))
    return Status::error(dir + ": no model.safetensors or model.safetensors.index.json in this folder");
  R1_ASSIGN_OR_RETURN(SafetensorsFile file, load_safetensors(single));
  return std::move(file.tensors);
}

Status save_checkpoint(const std::string& dir, const ModelConfig& config, const TensorMap& tensors,
                       const SaveOptions& options) {
  fs::path target = fs::path(dir).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  fs::path tmp = target.string() + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  R1_RETURN_IF_ERROR(make_dirs(tmp.string()));
  R1_RETURN_IF_ERROR(write_file_atomic((tmp / "config.json").string(), config.to_json()));
  R1_RETURN_IF_ERROR(write_file_atomic((tmp / "generation_config.json").string(), generation_config_json(config)));
  R1_RETURN_IF_ERROR(save_safetensors((tmp / "model.safetensors").string(), tensors));
  if (!options.tokenizer_from.empty()) R1_RETURN_IF_ERROR(copy_tokenizer_files(options.tokenizer_from, tmp.string()));
  // Swap in: the old folder (if any) is moved aside first and removed last.
  fs::path old = target.string() + ".old";
  fs::remove_all(old, ec);
  if (fs::exists(target)) {
    fs::rename(target, old, ec);
    if (ec) return Status::error(target.string() + ": cannot move the previous checkpoint aside: " + ec.message());
  }
  fs::rename(tmp, target, ec);
  if (ec) return Status::error(target.string() + ": cannot rename the new checkpoint into place: " + ec.message());
  fs::remove_all(old, ec);
  return Status();
}

}  // namespace r1
