#include "model/chat_template.h"

#include <filesystem>

#include "model/unicode_text.h"
#include "util/file.h"
#include "util/json.h"

namespace r1 {

const char* const kChatMlJinja =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const char* const kR1ZeroPrefix =
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: ";
const char* const kR1ZeroSuffix = ". Assistant:";

namespace {

// Jinja's |trim is Python's str.strip(): Unicode whitespace at both ends.
std::string strip(const std::string& s) {
  size_t begin = s.size(), end = 0, pos = 0;
  while (pos < s.size()) {
    size_t here = pos;
    if (!is_unicode_space(next_code_point(s, pos))) {
      begin = std::min(begin, here);
      end = pos;
    }
  }
  return begin >= end ? std::string() : s.substr(begin, end - begin);
}

Status check_roles(const std::vector<ChatMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i)
    if (messages[i].role.empty()) return Status::error("message " + std::to_string(i) + ": role is empty");
  return Status();
}

std::string render_chatml(const ChatTemplate& t, const std::vector<ChatMessage>& messages, bool gen) {
  std::string out;
  if (!t.default_system.empty() && (messages.empty() || messages[0].role != "system"))
    out += "<|im_start|>system\n" + t.default_system + "<|im_end|>\n";
  for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

std::string render_llama3(const std::vector<ChatMessage>& messages, bool gen) {
  std::string out = "<|begin_of_text|>";
  for (const auto& m : messages)
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + strip(m.content) + "<|eot_id|>";
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

Result<std::string> render_r1_zero(const std::vector<ChatMessage>& messages) {
  if (messages.size() != 1 || messages[0].role != "user")
    return Status::error("the r1_zero template takes exactly one user message, got " +
                         std::to_string(messages.size()) + " message(s)");
  return std::string(kR1ZeroPrefix) + messages[0].content + kR1ZeroSuffix;
}

}  // namespace

Result<std::string> render_chat(const ChatTemplate& tmpl, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  R1_RETURN_IF_ERROR(check_roles(messages));
  switch (tmpl.kind) {
    case ChatTemplateKind::kChatMl:
      return render_chatml(tmpl, messages, add_generation_prompt);
    case ChatTemplateKind::kLlama3:
      return render_llama3(messages, add_generation_prompt);
    case ChatTemplateKind::kR1Zero:
      return render_r1_zero(messages);
  }
  return Status::error("unknown chat template kind");
}

Result<ChatTemplate> parse_chat_template(const std::string& name) {
  if (name == "chatml") return ChatTemplate{ChatTemplateKind::kChatMl, ""};
  if (name == "llama3") return ChatTemplate{ChatTemplateKind::kLlama3, ""};
  if (name == "r1_zero") return ChatTemplate{ChatTemplateKind::kR1Zero, ""};
  return Status::error("unknown chat template '" + name + "' (expected chatml, llama3 or r1_zero)");
}

std::string chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatMl:
      return "chatml";
    case ChatTemplateKind::kLlama3:
      return "llama3";
    case ChatTemplateKind::kR1Zero:
      return "r1_zero";
  }
  return "?";
}

namespace {

// The Jinja chat template shipped beside a tokenizer: chat_template.jinja, or
// the "chat_template" string of tokenizer_config.json; empty when neither.
std::string jinja_template_beside(const std::string& tokenizer_path) {
  std::filesystem::path dir = std::filesystem::path(tokenizer_path).parent_path();
  if (auto text = read_file((dir / "chat_template.jinja").string()); text.ok()) return *text;
  auto config = read_json_file((dir / "tokenizer_config.json").string());
  if (!config.ok() || !config->IsObject()) return "";
  auto t = json_string(*config, "chat_template", "tokenizer_config.json");
  return t.ok() ? *t : "";
}

// ChatML templates such as Qwen2.5's and SmolLM2's insert a fixed system turn
// when the conversation has none: a literal "<|im_start|>system\n...<|im_end|>"
// inside the Jinja text (with a real newline or a Jinja "\n" escape).
std::string default_system_prompt(const std::string& jinja) {
  for (const char* open : {"<|im_start|>system\n", "<|im_start|>system\\n"}) {
    size_t at = jinja.find(open);
    if (at == std::string::npos) continue;
    size_t start = at + std::string(open).size();
    size_t end = jinja.find("<|im_end|>", start);
    if (end == std::string::npos) continue;
    std::string text = jinja.substr(start, end - start);
    if (text.find_first_of("{}'+") != std::string::npos) continue;  // not a literal
    return text;
  }
  return "";
}

}  // namespace

Result<ChatTemplate> detect_chat_template(const Tokenizer& tokenizer) {
  auto has = [&](const char* t) { return tokenizer.token_to_id(t).has_value(); };
  if (has("<|im_start|>") && has("<|im_end|>"))
    return ChatTemplate{ChatTemplateKind::kChatMl, default_system_prompt(jinja_template_beside(tokenizer.source()))};
  if (has("<|start_header_id|>") && has("<|end_header_id|>") && has("<|eot_id|>"))
    return ChatTemplate{ChatTemplateKind::kLlama3, ""};
  return Status::error(tokenizer.source() +
                       ": no chat special tokens (<|im_start|>/<|im_end|> or "
                       "<|start_header_id|>/<|end_header_id|>/<|eot_id|>); choose a template by name, e.g. r1_zero");
}

Result<std::vector<ChatMessage>> parse_chat_messages(const JsonValue& v, const std::string& where, const char* key) {
  if (!v.IsArray()) return Status::error(where + ": field '" + key + "' must be a list of {role, content} messages");
  std::vector<ChatMessage> out;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    std::string at = where + ": " + key + "[" + std::to_string(i) + "]";
    if (!v[i].IsObject()) return Status::error(at + " must be an object {role, content}");
    ChatMessage m;
    R1_ASSIGN_OR_RETURN(m.role, json_string(v[i], "role", at));
    R1_ASSIGN_OR_RETURN(m.content, json_string(v[i], "content", at));
    out.push_back(std::move(m));
  }
  if (out.empty()) return Status::error(where + ": field '" + key + "' has no messages");
  return out;
}

}  // namespace r1
