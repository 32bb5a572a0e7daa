#include "rollout/rollouts_export.h"

#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

std::string rollout_to_json(const StoredRollout& r) {
  JsonWriter w;
  w.begin_object();
  w.key("step").value(r.step).key("policy_version").value(r.policy_version);
  w.key("prompt_index").value(r.prompt_index).key("group_index").value(r.group_index);
  w.key("sample_index").value(r.sample_index);
  w.key("prompt").value(r.prompt).key("completion").value(r.completion);
  w.key("prompt_tokens").value(r.prompt_tokens).key("completion_tokens").value(r.completion_tokens);
  w.key("finish_reason").value(r.finish_reason);
  w.key("reward_components").begin_object();
  for (const auto& [name, value] : r.reward_components) w.key(name).value(value);
  w.end_object();
  w.key("total_reward").value(r.total_reward).key("advantage").value(r.advantage);
  w.key("old_logprob").begin_object();
  w.key("sum").value(r.old_logprob.sum).key("mean").value(r.old_logprob.mean).key("min").value(r.old_logprob.min);
  w.end_object();
  w.key("generation_ms").value(r.generation_ms);
  w.key("reference_answer");
  if (r.reference_answer) w.value(*r.reference_answer);
  else w.null();
  w.key("discard_reason");
  if (r.discard_reason.empty())
    w.null();
  else
    w.value(r.discard_reason);
  w.end_object();
  return w.str();
}

Result<int64_t> export_rollouts_jsonl(RolloutReader& reader, const RolloutFilter& filter, const std::string& path) {
  R1_ASSIGN_OR_RETURN(JsonlWriter out, JsonlWriter::open(path));
  int64_t n = 0;
  R1_RETURN_IF_ERROR(reader.for_each_rollout(filter, [&](const StoredRollout& r) {
    ++n;
    return out.write(rollout_to_json(r));
  }));
  R1_RETURN_IF_ERROR(out.commit());
  return n;
}

}  // namespace r1
