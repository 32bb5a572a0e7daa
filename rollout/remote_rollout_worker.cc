#include "rollout/remote_rollout_worker.h"

#include <algorithm>

#include "rollout/wire_channel.h"
#include "rollout/wire_deadline.h"
#include "util/json.h"

namespace r1 {

namespace {

Status check_answers(const RolloutRequest& request, const RolloutResult& result) {
  if (result.step != request.step || result.policy_version != request.policy_version)
    return Status::error("answered step " + std::to_string(result.step) + " with policy version " +
                         std::to_string(result.policy_version) + ", asked for step " + std::to_string(request.step) +
                         " with version " + std::to_string(request.policy_version));
  int64_t g = request.sampling.num_generations;
  if (result.samples.size() != request.prompts.size() * static_cast<size_t>(g))
    return Status::error("answered " + std::to_string(result.samples.size()) + " samples, asked for " +
                         std::to_string(request.prompts.size() * g));
  for (size_t i = 0; i < result.samples.size(); ++i) {
    const Sample& s = result.samples[i];
    if (s.prompt_index != request.prompts[i / g].prompt_index || s.sample_index != static_cast<int64_t>(i % g))
      return Status::error("sample " + std::to_string(i) + " is (prompt " + std::to_string(s.prompt_index) +
                           ", sample " + std::to_string(s.sample_index) + "), not the one asked for at that place");
  }
  return Status();
}

std::string request_header(const RolloutRequest& request) {
  JsonWriter w;
  w.begin_object().key("type").value("rollout_request").key("request").raw(to_json(request)).end_object();
  return w.str();
}

Result<RolloutResult> read_result(const Frame& frame) {
  R1_RETURN_IF_ERROR(expect_frame_type(frame, "rollout_result"));
  R1_ASSIGN_OR_RETURN(const rapidjson::Value* json, frame_field(frame, "result"));
  return rollout_result_from_json(*json, "rollout result");
}

Result<RolloutResult> call(const RemoteWorkerOptions& o, const RolloutRequest& request) {
  R1_ASSIGN_OR_RETURN(std::unique_ptr<WireChannel> channel, WireChannel::open(o.address, o.key, o.connect_timeout_s));
  channel->set_limits({.max_header_bytes = o.max_result_bytes, .max_payload_bytes = 0});
  WireClock::time_point deadline = wire_deadline_after(o.request_timeout_s);
  std::string late = "did not answer " + within_seconds(o.request_timeout_s);
  R1_RETURN_IF_ERROR(channel->send(request_header(request), {}, deadline, late));
  const std::string silent = "sent no heartbeat " + within_seconds(o.heartbeat_timeout_s);
  Frame answer;
  for (;;) {
    WireClock::time_point quiet = wire_deadline_after(o.heartbeat_timeout_s);
    R1_ASSIGN_OR_RETURN(answer, channel->read_frame(std::min(quiet, deadline), quiet < deadline ? silent : late));
    if (answer.type != "heartbeat") break;
  }
  R1_ASSIGN_OR_RETURN(RolloutResult result, read_result(answer));
  R1_RETURN_IF_ERROR(check_answers(request, result));
  return result;
}

}  // namespace

Result<RolloutResult> RemoteRolloutWorker::run(const RolloutRequest& request) {
  Result<RolloutResult> result = call(options_, request);
  if (!result.ok()) return result.status().with_context("rollout worker " + options_.address);
  return result;
}

Result<WeightPushStats> RemoteRolloutWorker::push_weights(const Transformer& policy, int64_t version) {
  Result<std::unique_ptr<WireChannel>> channel =
      WireChannel::open(options_.address, options_.key, options_.connect_timeout_s);
  Result<WeightPushStats> stats =
      channel.ok() ? r1::push_weights(**channel, policy, version, options_.push) : channel.status();
  if (!stats.ok()) return stats.status().with_context("rollout worker " + options_.address);
  return stats;
}

}  // namespace r1
