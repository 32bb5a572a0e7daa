#include "train/train_state.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "model/safetensors.h"
#include "model/transformer.h"
#include "train/optimizer.h"
#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStateFile = "trainer_state.json";
constexpr const char* kOptimizerFile = "optimizer.safetensors";

std::string state_json(const TrainerState& s) {
  JsonWriter w;
  w.begin_object();
  w.key("global_step").value(s.global_step);
  w.key("epoch").value(s.epoch);
  w.key("seed").value(static_cast<int64_t>(s.seed));
  w.key("data_cursor").raw(s.data_cursor);
  w.key("log_history").begin_array();
  for (const auto& entry : s.log_history) w.raw(entry);
  w.end_array();
  w.end_object();
  return w.str();
}

// "checkpoint-<n>" -> n, or -1 for any other name.
int64_t checkpoint_step(const std::string& name) {
  const std::string prefix = "checkpoint-";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return -1;
  std::string digits = name.substr(prefix.size());
  if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

Status remove_dir(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return Status::error(dir + ": cannot remove: " + ec.message());
  return Status();
}

}  // namespace

Result<std::vector<std::string>> list_checkpoints(const std::string& output_dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::exists(output_dir, ec)) return std::vector<std::string>{};
  for (const auto& entry : fs::directory_iterator(output_dir, ec)) {
    int64_t step = checkpoint_step(entry.path().filename().string());
    if (step < 0 || !fs::exists(entry.path() / kStateFile)) continue;
    found.emplace_back(step, entry.path().string());
  }
  if (ec) return Status::error(output_dir + ": cannot list: " + ec.message());
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [step, path] : found) out.push_back(path);
  return out;
}

Result<std::string> find_last_checkpoint(const std::string& output_dir) {
  R1_ASSIGN_OR_RETURN(auto all, list_checkpoints(output_dir));
  return all.empty() ? std::string() : all.back();
}

Result<std::string> save_training_checkpoint(const CheckpointOptions& options, const Transformer& model,
                                             const OptimizerCheckpoint& optimizer, const TrainerState& state) {
  std::string name = "checkpoint-" + std::to_string(state.global_step);
  std::string final_dir = options.output_dir + "/" + name;
  std::string tmp = options.output_dir + "/." + name + ".tmp";
  R1_RETURN_IF_ERROR(make_dirs(options.output_dir));
  R1_RETURN_IF_ERROR(remove_dir(tmp));
  R1_RETURN_IF_ERROR(model.save(tmp, options.tokenizer_from));
  R1_RETURN_IF_ERROR(save_safetensors(tmp + "/" + kOptimizerFile, optimizer.state,
                                      {{"format", "pt"}, {"step", std::to_string(optimizer.steps)}}));
  for (const auto& [file, tensors] : state.extra_tensor_files)
    R1_RETURN_IF_ERROR(save_safetensors(tmp + "/" + file, tensors));
  // Written last: its presence marks the folder complete.
  R1_RETURN_IF_ERROR(write_file_atomic(tmp + "/" + kStateFile, state_json(state)));
  R1_RETURN_IF_ERROR(remove_dir(final_dir));
  std::error_code ec;
  fs::rename(tmp, final_dir, ec);
  if (ec) return Status::error(final_dir + ": cannot rename checkpoint into place: " + ec.message());
  if (options.save_total_limit > 0) {
    R1_ASSIGN_OR_RETURN(auto all, list_checkpoints(options.output_dir));
    for (size_t i = 0; i + options.save_total_limit < all.size(); ++i) R1_RETURN_IF_ERROR(remove_dir(all[i]));
  }
  return final_dir;
}

Result<TrainerState> load_trainer_state(const std::string& checkpoint_dir) {
  std::string path = checkpoint_dir + "/" + kStateFile;
  R1_ASSIGN_OR_RETURN(auto doc, read_json_file(path));
  TrainerState s;
  R1_ASSIGN_OR_RETURN(s.global_step, json_int(doc, "global_step", path));
  R1_ASSIGN_OR_RETURN(s.epoch, json_double(doc, "epoch", path));
  R1_ASSIGN_OR_RETURN(int64_t seed, json_int(doc, "seed", path));
  s.seed = static_cast<uint64_t>(seed);
  if (!doc.HasMember("data_cursor")) return Status::error(path + ": field 'data_cursor' is missing");
  s.data_cursor = json_to_string(doc["data_cursor"]);
  if (!doc.HasMember("log_history") || !doc["log_history"].IsArray())
    return Status::error(path + ": field 'log_history' must be an array");
  for (const auto& entry : doc["log_history"].GetArray()) s.log_history.push_back(json_to_string(entry));
  return s;
}

Status load_optimizer_state(const std::string& checkpoint_dir, AdamW& optimizer) {
  std::string path = checkpoint_dir + "/" + kOptimizerFile;
  R1_ASSIGN_OR_RETURN(auto file, load_safetensors(path));
  auto it = file.metadata.find("step");
  if (it == file.metadata.end()) return Status::error(path + ": metadata lacks 'step'");
  int64_t step = 0;
  try {
    step = std::stoll(it->second);
  } catch (const std::exception&) {
    return Status::error(path + ": metadata 'step' must be an integer, got '" + it->second + "'");
  }
  return optimizer.load_state(file.tensors, step, path);
}

}  // namespace r1
