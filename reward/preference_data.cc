#include "reward/preference_data.h"

#include <algorithm>

#include "reward/reward_model.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

bool is_conversation(const JsonValue& row, const char* key) { return json_has(row, key) && row[key].IsArray(); }

// One side of a pair (`key` is "chosen" or "rejected"), the prompt prepended.
Result<std::vector<int64_t>> side_ids(const JsonValue& row, const char* key, const Tokenizer& tok,
                                      const PreferenceDataOptions& o, const std::string& where) {
  std::string ids_key = std::string(key) + "_ids";
  if (json_has(row, ids_key.c_str())) return json_int_array(row, ids_key.c_str(), where);
  if (!json_has(row, key)) return Status::error(where + ": field '" + key + "' is missing");
  bool has_prompt = json_has(row, "prompt");
  if (is_conversation(row, key)) {
    if (!o.chat_template)
      return Status::error(where + ": conversational rows need a chat template (field 'chat_template')");
    std::vector<ChatMessage> messages;
    if (has_prompt) {
      if (!is_conversation(row, "prompt"))
        return Status::error(where + ": field 'prompt' must be a list of messages when '" + key + "' is one");
      R1_ASSIGN_OR_RETURN(messages, parse_chat_messages(row["prompt"], where, "prompt"));
    }
    R1_ASSIGN_OR_RETURN(std::vector<ChatMessage> side, parse_chat_messages(row[key], where, key));
    messages.insert(messages.end(), side.begin(), side.end());
    return chat_ids(tok, *o.chat_template, messages, where);
  }
  std::string text;
  if (has_prompt) {
    R1_ASSIGN_OR_RETURN(text, json_string(row, "prompt", where));
  }
  R1_ASSIGN_OR_RETURN(std::string side, json_string(row, key, where));
  return plain_text_ids(tok, text + side, o.eos_id);
}

Status check_ids(const std::vector<int64_t>& ids, const char* key, const PreferenceDataOptions& o,
                 const std::string& where) {
  if (ids.empty()) return Status::error(where + ": the " + key + " sequence has no tokens");
  for (int64_t id : ids)
    if (id < 0 || (o.vocab_size > 0 && id >= o.vocab_size))
      return Status::error(where + ": " + key + " token id " + std::to_string(id) +
                           " is outside the vocabulary [0, " + std::to_string(o.vocab_size) + ")");
  return Status();
}

}  // namespace

Result<PreferenceData> load_preference_pairs(const std::string& path, const Tokenizer& tok,
                                             const PreferenceDataOptions& o) {
  R1_ASSIGN_OR_RETURN(JsonlReader reader, JsonlReader::open(path));
  PreferenceData data;
  rapidjson::Document row;
  std::optional<bool> with_margin;  // fixed by the first row
  while (true) {
    R1_ASSIGN_OR_RETURN(bool more, reader.next(row));
    if (!more) break;
    const std::string where = reader.where();
    if (!row.IsObject()) return Status::error(where + ": a pair must be a JSON object");
    PreferencePair pair;
    R1_ASSIGN_OR_RETURN(pair.chosen, side_ids(row, "chosen", tok, o, where));
    R1_ASSIGN_OR_RETURN(pair.rejected, side_ids(row, "rejected", tok, o, where));
    R1_RETURN_IF_ERROR(check_ids(pair.chosen, "chosen", o, where));
    R1_RETURN_IF_ERROR(check_ids(pair.rejected, "rejected", o, where));
    bool has_margin = json_has(row, "margin");
    if (!with_margin) with_margin = has_margin;
    if (has_margin != *with_margin)
      return Status::error(where + ": field 'margin' must be on every row or on none (the first row " +
                           (*with_margin ? "has" : "has no") + " margin)");
    if (has_margin) {
      R1_ASSIGN_OR_RETURN(double margin, json_double(row, "margin", where));
      pair.margin = margin;
    }
    int64_t longest = static_cast<int64_t>(std::max(pair.chosen.size(), pair.rejected.size()));
    if (longest > o.max_length) {
      ++data.too_long;
      continue;
    }
    data.pairs.push_back(std::move(pair));
  }
  return data;
}

}  // namespace r1
