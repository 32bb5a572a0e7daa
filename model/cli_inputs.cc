#include "model/cli_inputs.h"

#include <ATen/Parallel.h>

#include <filesystem>

#include "model/chat_template.h"
#include "model/device.h"

namespace r1 {

void add_model_options(CLI::App* cmd, ModelOptions& o) {
  cmd->add_option("--model", o.model, "HF model folder")->required();
  cmd->add_option("--device", o.compute.device, "cpu | cuda | cuda:N | auto (cuda when a GPU is visible)")
      ->capture_default_str();
  cmd->add_option("--dtype", o.compute.dtype, "Compute dtype: float32 | bfloat16 | float16 | auto (the checkpoint's)")
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads (default: all cores)");
}

Transformer load_model(const ModelOptions& o) {
  if (o.threads > 0) at::set_num_threads(o.threads);
  LoadOptions load = value_or_throw(resolve_load_options(o.compute, at::ScalarType::Undefined, false));
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
    messages = value_or_throw(parse_chat_messages(row["messages"], where, "messages"));
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

}  // namespace r1
