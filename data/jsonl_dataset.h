// JSON Lines datasets with a field mapping (DatasetSpec), the built-in
// mappings for the shared reference sets, and prompt rendering. See docs/data.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "data/example.h"
#include "model/chat_template.h"
#include "util/json.h"
#include "util/status.h"

namespace r1 {

// How a row's fields map onto an Example. Parsed from JSON by
// parse_dataset_spec; every key below is optional except `path`.
struct DatasetSpec {
  std::string path;                          // the .jsonl file
  std::string name;                          // id prefix for rows without an id; "" means the file stem
  std::string prompt_field = "prompt";       // string field with the user message
  std::optional<std::string> answer_field;   // string or number field with the gold answer
  std::optional<std::string> id_field;       // string or integer field; else "<name>-<index>"
  std::string system_prompt;                 // one system message for every row; "" for none
  // Fields copied into Example::reference_json; unset means every field but
  // the prompt field. The extracted answer is always added as "answer".
  std::optional<std::vector<std::string>> reference_fields;
  std::string template_name = "r1_zero";     // r1_zero, chatml, llama3 or none
  std::string answer_extractor = "none";     // none, gsm8k (after the last "#### "), boxed (last \boxed{})
};

Result<DatasetSpec> parse_dataset_spec(const JsonValue& obj, const std::string& where);
Result<DatasetSpec> read_dataset_spec(const std::string& path);

struct Dataset {
  DatasetSpec spec;
  std::vector<Example> examples;
};

// Reads every row; errors name "<file>:<line>" and the field. An empty file
// is an error too, since nothing can be trained or evaluated on it.
Result<Dataset> load_dataset(const DatasetSpec& spec);

// Where the shared reference sets live: $R1_DATA_DIR, else
// <prefix>/share/r1/data beside an installed binary, else shared/data beside
// the checkout a build folder sits in (<checkout>/../shared/data).
std::string data_root();
// Names of the built-in datasets (gsm8k, gsm8k_test, math500, ...).
std::vector<std::string> builtin_dataset_names();
// The built-in mapping for `name`, with its path under data_root().
Result<DatasetSpec> builtin_dataset_spec(const std::string& name);

// The template named by a spec: nullopt for "none" (the prompt is used as is).
Result<std::optional<ChatTemplate>> spec_chat_template(const std::string& name);

// The text fed to the model: the system and user messages through `tmpl`
// with the assistant turn opened. R1-Zero has no system slot, so an example
// with a system message is an error there.
Result<std::string> render_prompt(const Example& example, const ChatTemplate& tmpl);
// As above; with no template the prompt is returned as is (a system message is then an error).
Result<std::string> render_prompt(const Example& example, const std::optional<ChatTemplate>& tmpl);

// Parses Example::reference_json, the object a RewardInput points at.
Result<rapidjson::Document> reference_document(const Example& example);

// Answer extraction by name: "gsm8k" gives the text after the last "#### ",
// "boxed" the contents of the last \boxed{...}; nullopt when not found.
Result<std::optional<std::string>> extract_answer(const std::string& extractor, const std::string& text);

}  // namespace r1
