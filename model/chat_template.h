// Native renderings of the chat templates we use (no Jinja engine): Qwen
// ChatML, Llama-3, and the R1-Zero plain prompt. Equal, character for
// character, to transformers' apply_chat_template with the Jinja templates
// below (tests/python/test_tokenizer_parity.py checks that).
#pragma once

#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "util/json.h"
#include "util/status.h"

namespace r1 {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatTemplateKind { kChatMl, kLlama3, kR1Zero };

struct ChatTemplate {
  ChatTemplateKind kind = ChatTemplateKind::kChatMl;
  // ChatML only: a system message inserted when the first message is not one
  // (Qwen2.5 and SmolLM2 templates do this); empty for none.
  std::string default_system;
};

// The ChatML template as Jinja, written into tokenizer_config.json by the trainer.
extern const char* const kChatMlJinja;
// The R1-Zero prompt text before "{prompt}" and after it.
extern const char* const kR1ZeroPrefix;
extern const char* const kR1ZeroSuffix;

// Renders `messages`; add_generation_prompt opens the assistant turn. The
// R1-Zero template takes exactly one user message (its text is {prompt}) and
// always ends with "Assistant:".
Result<std::string> render_chat(const ChatTemplate& tmpl, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);

// Field `key` of a JSONL row read as a list of {role, content} messages;
// errors name `where`, the field and the entry ("rows.jsonl:3: messages[1]
// ..."). An empty list is an error.
Result<std::vector<ChatMessage>> parse_chat_messages(const JsonValue& value, const std::string& where,
                                                     const char* key);

// "chatml", "llama3" or "r1_zero".
Result<ChatTemplate> parse_chat_template(const std::string& name);
std::string chat_template_name(ChatTemplateKind kind);

// ChatML when <|im_start|>/<|im_end|> exist, Llama-3 when
// <|start_header_id|>/<|end_header_id|>/<|eot_id|> do; an error otherwise.
// A ChatML template's fixed default system turn (Qwen2.5, SmolLM2) is read
// from the Jinja template beside the tokenizer (chat_template.jinja or
// tokenizer_config.json).
Result<ChatTemplate> detect_chat_template(const Tokenizer& tokenizer);

}  // namespace r1
