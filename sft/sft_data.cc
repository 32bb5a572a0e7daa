#include "sft/sft_data.h"

#include <algorithm>

#include "model/layer_ops.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

// A string field is one message with `role`; a list is taken as is.
Result<std::vector<ChatMessage>> field_messages(const JsonValue& row, const char* key, const char* role,
                                                const std::string& where) {
  const JsonValue& v = row[key];
  if (v.IsString()) return std::vector<ChatMessage>{{role, std::string(v.GetString(), v.GetStringLength())}};
  if (!v.IsArray()) return Status::error(where + ": field '" + key + "' must be a string or a list of messages");
  return parse_chat_messages(v, where, key);
}

std::string concat_contents(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) out += m.content;
  return out;
}

// The prompt text (ending with the opened assistant turn) and the completion
// text that follows it under the template.
Result<std::pair<std::string, std::string>> render_pair(const std::optional<ChatTemplate>& tmpl,
                                                        const std::vector<ChatMessage>& prompt,
                                                        const std::vector<ChatMessage>& completion,
                                                        const std::string& where) {
  if (!tmpl) return std::make_pair(concat_contents(prompt), concat_contents(completion));
  auto p = render_chat(*tmpl, prompt, /*add_generation_prompt=*/true);
  if (!p.ok()) return p.status().with_context(where);
  // R1-Zero is a plain prompt ending in "Assistant:"; the completion follows verbatim.
  if (tmpl->kind == ChatTemplateKind::kR1Zero) return std::make_pair(*p, concat_contents(completion));
  std::vector<ChatMessage> all = prompt;
  all.insert(all.end(), completion.begin(), completion.end());
  auto full = render_chat(*tmpl, all, /*add_generation_prompt=*/false);
  if (!full.ok()) return full.status().with_context(where);
  if (full->rfind(*p, 0) != 0)
    return Status::error(where + ": the rendered conversation does not start with the rendered prompt");
  return std::make_pair(*p, full->substr(p->size()));
}

Result<SftSample> parse_row(const Tokenizer& tok, const JsonValue& row, const SftDataOptions& o,
                            const std::string& where) {
  std::vector<ChatMessage> prompt, completion;
  if (json_has(row, "messages")) {
    R1_ASSIGN_OR_RETURN(prompt, parse_chat_messages(row["messages"], where, "messages"));
    if (prompt.back().role != "assistant")
      return Status::error(where + ": the last message must have role 'assistant' (it is the completion)");
    completion = {prompt.back()};
    prompt.pop_back();
    if (prompt.empty()) return Status::error(where + ": 'messages' needs a prompt before the assistant message");
  } else if (json_has(row, "prompt") || json_has(row, "completion")) {
    for (const char* key : {"prompt", "completion"})
      if (!json_has(row, key)) return Status::error(where + ": field '" + key + "' is missing");
    R1_ASSIGN_OR_RETURN(prompt, field_messages(row, "prompt", "user", where));
    R1_ASSIGN_OR_RETURN(completion, field_messages(row, "completion", "assistant", where));
  } else if (json_has(row, o.text_field.c_str())) {
    R1_ASSIGN_OR_RETURN(std::string text, json_string(row, o.text_field.c_str(), where));
    return make_sample(tok, "", text, /*completion_only_loss=*/false, o);
  } else {
    return Status::error(where + ": expected 'messages', 'prompt'/'completion' or '" + o.text_field + "'");
  }
  R1_ASSIGN_OR_RETURN(auto texts, render_pair(o.chat_template, prompt, completion, where));
  // ChatML and Llama-3 close the assistant turn themselves; plain text and
  // R1-Zero completions need the eos to learn to stop.
  SftDataOptions sample_options = o;
  if (o.chat_template && o.chat_template->kind != ChatTemplateKind::kR1Zero) sample_options.eos_id.reset();
  return make_sample(tok, texts.first, texts.second, o.completion_only_loss, sample_options);
}

}  // namespace

SftSample make_sample(const Tokenizer& tok, const std::string& prompt, const std::string& completion,
                      bool completion_only_loss, const SftDataOptions& options) {
  SftSample s;
  s.ids = tok.encode(prompt);
  size_t prompt_len = s.ids.size();
  std::vector<int64_t> c = tok.encode(completion);
  s.ids.insert(s.ids.end(), c.begin(), c.end());
  if (options.eos_id && (s.ids.empty() || s.ids.back() != *options.eos_id)) s.ids.push_back(*options.eos_id);
  if (static_cast<int64_t>(s.ids.size()) > options.max_length) s.ids.resize(options.max_length);
  s.trained.assign(s.ids.size(), 0);
  for (size_t t = 1; t < s.ids.size(); ++t) s.trained[t] = !completion_only_loss || t >= prompt_len;
  return s;
}

Result<std::vector<SftSample>> load_sft_samples(const std::string& path, const Tokenizer& tok,
                                                const SftDataOptions& options, int64_t* dropped) {
  R1_ASSIGN_OR_RETURN(JsonlReader reader, JsonlReader::open(path));
  std::vector<SftSample> out;
  int64_t skipped = 0;
  rapidjson::Document row;
  while (true) {
    R1_ASSIGN_OR_RETURN(bool more, reader.next(row));
    if (!more) break;
    R1_ASSIGN_OR_RETURN(SftSample s, parse_row(tok, row, options, reader.where()));
    if (std::none_of(s.trained.begin(), s.trained.end(), [](uint8_t t) { return t != 0; })) {
      ++skipped;
      continue;
    }
    out.push_back(std::move(s));
  }
  if (dropped) *dropped = skipped;
  if (out.empty()) return Status::error(path + ": no sample with a target token");
  return out;
}

std::vector<SftRow> make_rows(const std::vector<SftSample>& samples, bool packing, int64_t max_length) {
  std::vector<SftRow> rows;
  int64_t segment = 0;
  for (const auto& s : samples) {
    int64_t n = static_cast<int64_t>(s.ids.size());
    if (rows.empty() || !packing || static_cast<int64_t>(rows.back().ids.size()) + n > max_length) {
      rows.emplace_back();
      segment = 0;
    }
    SftRow& r = rows.back();
    for (int64_t t = 0; t < n; ++t) {
      r.ids.push_back(s.ids[t]);
      r.positions.push_back(t);
      r.labels.push_back(t + 1 < n && s.trained[t + 1] ? s.ids[t + 1] : -100);
      r.segment.push_back(segment);
    }
    ++segment;
  }
  return rows;
}

SftBatch collate(const std::vector<const SftRow*>& rows, at::Device device) {
  int64_t B = static_cast<int64_t>(rows.size()), L = 1;
  for (const auto* r : rows) L = std::max<int64_t>(L, r->ids.size());
  at::Tensor ids = at::zeros({B, L}, at::kLong), positions = at::zeros({B, L}, at::kLong);
  at::Tensor labels = at::full({B, L}, -100, at::kLong), segment = at::full({B, L}, -1, at::kLong);
  SftBatch batch;
  std::vector<int64_t> lengths;
  for (const auto* r : rows) lengths.push_back(static_cast<int64_t>(r->ids.size()));
  for (int64_t n : lengths) batch.input_tokens += n;
  const bool padded = batch.input_tokens < B * L;
  std::vector<int64_t> targets, target_labels;  // targets: rows of the forward's output (packed or [B * L])
  for (int64_t b = 0, offset = 0; b < B; offset += lengths[b], ++b) {
    const SftRow& r = *rows[b];
    int64_t n = static_cast<int64_t>(r.ids.size());
    auto copy = [&](const std::vector<int64_t>& src, at::Tensor& dst) {
      std::copy(src.begin(), src.end(), dst.data_ptr<int64_t>() + b * L);
    };
    copy(r.ids, ids);
    copy(r.positions, positions);
    copy(r.labels, labels);
    copy(r.segment, segment);
    for (int64_t t = 0; t < n; ++t)
      if (r.labels[t] != -100) {
        targets.push_back(padded ? offset + t : b * L + t);
        target_labels.push_back(r.labels[t]);
      }
  }
  batch.target_tokens = static_cast<int64_t>(targets.size());
  auto on_device = [&](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).to(device); };
  if (padded) batch.packed = on_device(packed_positions(lengths, L));
  batch.targets = on_device(targets);
  batch.target_labels = on_device(target_labels);
  // Filled on the host, then moved once; the [B, L, L] mask is built where it is used.
  segment = segment.to(device);
  at::Tensor idx = at::arange(L, at::TensorOptions(at::kLong).device(device));
  at::Tensor causal = (idx.unsqueeze(1) >= idx.unsqueeze(0)).unsqueeze(0);                  // [1, L, L]
  at::Tensor same = (segment.unsqueeze(2) == segment.unsqueeze(1)) & (segment >= 0).unsqueeze(1);  // [B, L, L]
  batch.allowed = (same & causal) | at::eye(L, at::TensorOptions(at::kBool).device(device)).unsqueeze(0);
  batch.ids = ids.to(device);
  batch.positions = positions.to(device);
  batch.labels = labels.to(device);
  return batch;
}

}  // namespace r1
