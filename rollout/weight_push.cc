#include "rollout/weight_push.h"

#include <chrono>
#include <map>

#include "rollout/weight_sync.h"
#include "rollout/wire_channel.h"
#include "rollout/wire_deadline.h"
#include "util/json.h"

namespace r1 {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sends frames and reads answers, each within the push's timeout; errors
// say which step the worker did not complete.
class PushSteps {
 public:
  PushSteps(WireChannel& channel, double timeout_s) : channel_(channel), timeout_s_(timeout_s) {}
  Status send(const std::string& header, std::string_view payload, const std::string& what) {
    return channel_.send(header, payload, wire_deadline_after(timeout_s_),
                         "did not take " + what + " " + within_seconds(timeout_s_));
  }
  Result<Frame> answer(const std::string& type, const std::string& what) {
    R1_ASSIGN_OR_RETURN(Frame frame, channel_.read_frame(wire_deadline_after(timeout_s_),
                                                         "did not answer " + what + " " + within_seconds(timeout_s_)));
    R1_RETURN_IF_ERROR(expect_frame_type(frame, type));
    return frame;
  }

 private:
  WireChannel& channel_;
  double timeout_s_;
};

std::string begin_header(int64_t version, int64_t base_version, const std::vector<TensorDigest>& tensors,
                         const std::vector<std::string>& sent) {
  JsonWriter w;
  w.begin_object().key("type").value("weights_begin").key("version").value(version);
  w.key("base_version").value(base_version).key("digest").value(hex_encode(version_digest(tensors)));
  write_tensor_digests(w, tensors);
  w.key("sent").array(sent).end_object();
  return w.str();
}

// Fills buckets of at most `bucket_bytes` with the sent tensors' bytes, in
// order, splitting tensors larger than the room left, and sends each.
class Bucketer {
 public:
  Bucketer(PushSteps& steps, int64_t version, int64_t bucket_bytes)
      : steps_(steps), version_(version), bucket_bytes_(bucket_bytes) {}

  Status add(const std::string& name, std::string_view bytes) {
    for (int64_t offset = 0; offset < static_cast<int64_t>(bytes.size());) {
      int64_t n = std::min<int64_t>(bucket_bytes_ - static_cast<int64_t>(payload_.size()),
                                    static_cast<int64_t>(bytes.size()) - offset);
      pieces_.push_back({name, offset, n});
      payload_.append(bytes.data() + offset, n);
      offset += n;
      if (static_cast<int64_t>(payload_.size()) == bucket_bytes_) R1_RETURN_IF_ERROR(flush());
    }
    return Status();
  }

  Status flush() {
    if (pieces_.empty()) return Status();
    JsonWriter w;
    w.begin_object().key("type").value("weights_bucket").key("version").value(version_);
    w.key("index").value(sent_).key("pieces").begin_array();
    for (const Piece& p : pieces_)
      w.begin_object().key("name").value(p.name).key("offset").value(p.offset).key("bytes").value(p.bytes).end_object();
    w.end_array().end_object();
    R1_RETURN_IF_ERROR(steps_.send(w.str(), payload_, "bucket " + std::to_string(sent_)));
    ++sent_;
    pieces_.clear();
    payload_.clear();
    return Status();
  }

  int64_t sent() const { return sent_; }

 private:
  struct Piece {
    std::string name;
    int64_t offset, bytes;
  };
  PushSteps& steps_;
  int64_t version_, bucket_bytes_;
  std::vector<Piece> pieces_;
  std::string payload_;
  int64_t sent_ = 0;
};

}  // namespace

Result<WeightPushStats> push_weights(WireChannel& channel, const Transformer& policy, int64_t version,
                                     const WeightPushOptions& options) {
  if (options.bucket_bytes <= 0) return Status::error("weight push: bucket_bytes must be positive");
  WeightPushStats stats;
  auto start = std::chrono::steady_clock::now();
  R1_ASSIGN_OR_RETURN(std::vector<TensorDigest> tensors, tensor_digests(policy.tensors()));
  stats.digest_seconds = seconds_since(start);

  channel.set_limits({.max_header_bytes = 64u << 20, .max_payload_bytes = 0});
  PushSteps steps(channel, options.timeout_s);
  R1_RETURN_IF_ERROR(steps.send(R"({"type":"weights_query"})", {}, "the query of its weights"));
  R1_ASSIGN_OR_RETURN(Frame held_frame, steps.answer("weights_held", "the query of its weights"));
  R1_ASSIGN_OR_RETURN(int64_t held_version, json_int(held_frame.header, "version", "'weights_held' frame"));
  R1_ASSIGN_OR_RETURN(std::vector<TensorDigest> held, read_tensor_digests(held_frame));
  Status layout = same_layout(held, tensors);
  if (!layout.ok()) return Status::error("the policy does not fit the worker's model: " + layout.message());

  std::vector<std::string> sent;  // the changed tensors
  for (size_t i = 0; i < tensors.size(); ++i) {
    stats.bytes_total += tensors[i].bytes;
    if (tensors[i].sha256 != held[i].sha256) sent.push_back(tensors[i].name);
  }
  // The worker already holds this version: nothing to send (a run's first
  // version when the worker loaded the same checkpoint).
  // Other weights under the same version number are the worker's to refuse.
  if (held_version == version && sent.empty()) return stats;
  // A delta against the worker's version when some tensor is unchanged (it
  // is not sent at all), else a full push.
  stats.delta = sent.size() < tensors.size();
  std::string what = "version " + std::to_string(version);
  R1_RETURN_IF_ERROR(
      steps.send(begin_header(version, stats.delta ? held_version : -1, tensors, sent), {}, "the start of " + what));
  R1_RETURN_IF_ERROR(steps.answer("weights_ready", "the start of " + what).status());

  start = std::chrono::steady_clock::now();
  Bucketer buckets(steps, version, options.bucket_bytes);
  for (const std::string& name : sent) {
    HostBytes bytes(policy.tensors().at(name));
    R1_RETURN_IF_ERROR(buckets.add(name, bytes.view()));
    stats.bytes_sent += static_cast<int64_t>(bytes.view().size());
  }
  R1_RETURN_IF_ERROR(buckets.flush());
  JsonWriter commit;
  commit.begin_object().key("type").value("weights_commit").key("version").value(version);
  commit.key("buckets").value(buckets.sent()).end_object();
  R1_RETURN_IF_ERROR(steps.send(commit.str(), {}, "the commit of " + what));
  R1_ASSIGN_OR_RETURN(Frame ack, steps.answer("weights_ack", "the commit of " + what));
  R1_ASSIGN_OR_RETURN(int64_t acked, json_int(ack.header, "version", "'weights_ack' frame"));
  R1_ASSIGN_OR_RETURN(std::string digest, json_string(ack.header, "digest", "'weights_ack' frame"));
  if (acked != version || digest != hex_encode(version_digest(tensors)))
    return Status::error("acknowledged version " + std::to_string(acked) + " with digest " + digest +
                         " for a push of " + what + " with digest " + hex_encode(version_digest(tensors)));
  stats.transfer_seconds = seconds_since(start);
  stats.tensors_sent = static_cast<int64_t>(sent.size());
  stats.tensors_total = static_cast<int64_t>(tensors.size());
  stats.buckets = buckets.sent();
  return stats;
}

}  // namespace r1
