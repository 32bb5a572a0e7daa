#include "data/prompt_set.h"

#include "data/jsonl_dataset.h"

namespace r1 {

Result<std::optional<ChatTemplate>> resolve_chat_template(const std::string& name, const Tokenizer& tokenizer) {
  if (name != "auto") return spec_chat_template(name);
  R1_ASSIGN_OR_RETURN(ChatTemplate t, detect_chat_template(tokenizer));
  return std::optional<ChatTemplate>(t);
}

Result<PromptSet> make_prompt_set(const std::vector<Example>& examples, const std::optional<ChatTemplate>& tmpl,
                                  const Tokenizer& tokenizer, int64_t max_prompt_tokens) {
  PromptSet set;
  for (const Example& e : examples) {
    R1_ASSIGN_OR_RETURN(std::string text, render_prompt(e, tmpl));
    std::vector<int64_t> ids = tokenizer.encode(text);
    if (ids.empty()) return Status::error(e.where + ": the rendered prompt is empty");
    if (max_prompt_tokens > 0 && static_cast<int64_t>(ids.size()) > max_prompt_tokens)
      ids.erase(ids.begin(), ids.end() - max_prompt_tokens);
    R1_ASSIGN_OR_RETURN(rapidjson::Document ref, reference_document(e));
    set.texts.push_back(std::move(text));
    set.ids.push_back(std::move(ids));
    set.references.push_back(std::move(ref));
  }
  set.examples = examples;
  return set;
}

}  // namespace r1
