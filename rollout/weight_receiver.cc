#include "rollout/weight_receiver.h"

#include <cstring>

#include "util/json.h"

namespace r1 {

namespace {

Result<std::string> digest_field(const Frame& frame) {
  R1_ASSIGN_OR_RETURN(std::string hex, json_string(frame.header, "digest", "'" + frame.type + "' frame"));
  return hex_decode(hex, "'" + frame.type + "' frame: field 'digest'", 32);
}

}  // namespace

Result<std::shared_ptr<const ServedPolicy>> make_served_policy(Transformer model, int64_t version,
                                                               const ServingWorkerFactory& make_worker) {
  auto policy = std::make_shared<ServedPolicy>();
  policy->version = version;
  R1_ASSIGN_OR_RETURN(policy->tensors, tensor_digests(model.tensors()));
  policy->digest = version_digest(policy->tensors);
  policy->model = std::make_unique<const Transformer>(std::move(model));
  policy->worker = make_worker(*policy->model);
  return std::shared_ptr<const ServedPolicy>(std::move(policy));
}

std::string weights_held_header(const ServedPolicy& policy) {
  JsonWriter w;
  w.begin_object().key("type").value("weights_held").key("version").value(policy.version);
  w.key("digest").value(hex_encode(policy.digest));
  write_tensor_digests(w, policy.tensors);
  w.end_object();
  return w.str();
}

std::string WeightReceiver::where() const { return "weights version " + std::to_string(version_); }

Status WeightReceiver::begin(const Frame& frame, std::shared_ptr<const ServedPolicy> current) {
  *this = WeightReceiver();
  const std::string w = "'weights_begin' frame";
  R1_ASSIGN_OR_RETURN(version_, json_int(frame.header, "version", w));
  R1_ASSIGN_OR_RETURN(base_version_, json_int(frame.header, "base_version", w));
  R1_ASSIGN_OR_RETURN(digest_, digest_field(frame));
  R1_ASSIGN_OR_RETURN(tensors_, read_tensor_digests(frame));
  R1_ASSIGN_OR_RETURN(std::vector<std::string> sent, json_string_array(frame.header, "sent", w));
  // A version names one set of weights. An older number is taken: a
  // learner restarted or resumed from an earlier checkpoint goes back.
  if (version_ == current->version)
    return Status::error(where() + " is the version this worker serves, with other weights");
  if (base_version_ != -1 && base_version_ != current->version)
    return Status::error(where() + ": a delta against version " + std::to_string(base_version_) +
                         ", but this worker serves version " + std::to_string(current->version) +
                         " (push the full version: base_version -1)");
  Status layout = same_layout(current->tensors, tensors_);
  if (!layout.ok()) return Status::error(where() + ": " + layout.message());
  if (version_digest(tensors_) != digest_)
    return Status::error(where() + ": the digest does not match the tensors' digests");
  std::map<std::string, const TensorDigest*> by_name;
  for (const TensorDigest& t : tensors_) by_name[t.name] = &t;
  for (const std::string& name : sent) {
    auto it = by_name.find(name);
    if (it == by_name.end()) return Status::error(where() + ": sent tensor '" + name + "' is not in the version");
    if (incoming_.count(name)) return Status::error(where() + ": tensor '" + name + "' is sent twice");
    Incoming& in = incoming_[name];
    R1_ASSIGN_OR_RETURN(at::ScalarType dtype, safetensors_dtype(it->second->dtype));
    in.tensor = at::empty(it->second->shape, at::TensorOptions().dtype(dtype));
    in.sha.reset(EVP_MD_CTX_new());
    EVP_DigestInit_ex(in.sha.get(), EVP_sha256(), nullptr);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (incoming_.count(tensors_[i].name)) continue;
    if (base_version_ == -1)
      return Status::error(where() + ": a full push (base_version -1) must send every tensor, and '" +
                           tensors_[i].name + "' is not sent");
    if (tensors_[i].sha256 != current->tensors[i].sha256)
      return Status::error(where() + ": tensor '" + tensors_[i].name + "' is not sent, but its digest differs from " +
                           "version " + std::to_string(current->version) + "'s");
  }
  current_ = std::move(current);
  return Status();
}

void WeightReceiver::bucket(const Frame& frame) {
  if (!failed_.ok()) return;  // the push is refused already; the rest is skipped
  Status status = put_bucket(frame);
  if (!status.ok()) failed_ = Status::error(where() + ": bucket " + std::to_string(buckets_) + ": " + status.message());
  ++buckets_;
}

Status WeightReceiver::put_bucket(const Frame& frame) {
  const std::string w = "'weights_bucket' frame";
  R1_ASSIGN_OR_RETURN(int64_t version, json_int(frame.header, "version", w));
  R1_ASSIGN_OR_RETURN(int64_t index, json_int(frame.header, "index", w));
  if (version != version_ || index != buckets_)
    return Status::error("it is bucket " + std::to_string(index) + " of version " + std::to_string(version) +
                         ", expected bucket " + std::to_string(buckets_) + " of version " + std::to_string(version_));
  R1_ASSIGN_OR_RETURN(const rapidjson::Value* pieces, frame_field(frame, "pieces"));
  if (!pieces->IsArray()) return Status::error(w + ": pieces must be an array");
  size_t at = 0;
  for (const rapidjson::Value& piece : pieces->GetArray()) {
    const std::string pw = w + ": piece";
    R1_ASSIGN_OR_RETURN(std::string name, json_string(piece, "name", pw));
    R1_ASSIGN_OR_RETURN(int64_t offset, json_int(piece, "offset", pw));
    R1_ASSIGN_OR_RETURN(int64_t bytes, json_int(piece, "bytes", pw));
    if (bytes < 0 || static_cast<size_t>(bytes) > frame.payload.size() - at)
      return Status::error("its pieces need more bytes than its payload of " + std::to_string(frame.payload.size()));
    R1_RETURN_IF_ERROR(put_piece(name, offset, std::string_view(frame.payload).substr(at, bytes), index));
    at += bytes;
  }
  if (at != frame.payload.size())
    return Status::error("its pieces cover " + std::to_string(at) + " of its " + std::to_string(frame.payload.size()) +
                         " payload bytes");
  return Status();
}

Status WeightReceiver::put_piece(const std::string& name, int64_t offset, std::string_view bytes, int64_t bucket) {
  auto it = incoming_.find(name);
  if (it == incoming_.end()) return Status::error("tensor '" + name + "' was not announced as sent");
  Incoming& in = it->second;
  int64_t size = static_cast<int64_t>(in.tensor.nbytes());
  // Pieces of a tensor come in order: no gap, overlap or repeat goes unseen.
  if (offset != in.received || offset + static_cast<int64_t>(bytes.size()) > size)
    return Status::error("tensor '" + name + "': bytes " + std::to_string(offset) + " to " +
                         std::to_string(offset + bytes.size()) + " of " + std::to_string(size) + ", expected from " +
                         std::to_string(in.received));
  std::memcpy(static_cast<char*>(in.tensor.data_ptr()) + offset, bytes.data(), bytes.size());
  EVP_DigestUpdate(in.sha.get(), bytes.data(), bytes.size());
  if (in.first_bucket < 0) in.first_bucket = bucket;
  in.received += static_cast<int64_t>(bytes.size());
  return Status();
}

Result<std::shared_ptr<const ServedPolicy>> WeightReceiver::commit(const Frame& frame,
                                                                   const ServingWorkerFactory& make_worker) {
  WeightReceiver push = std::move(*this);  // the push ends here, whatever the outcome
  *this = WeightReceiver();
  R1_RETURN_IF_ERROR(push.failed_);
  const std::string w = "'weights_commit' frame";
  R1_ASSIGN_OR_RETURN(int64_t version, json_int(frame.header, "version", w));
  R1_ASSIGN_OR_RETURN(int64_t buckets, json_int(frame.header, "buckets", w));
  if (version != push.version_) return Status::error(push.where() + ": a commit of version " + std::to_string(version));
  if (buckets != push.buckets_)
    return Status::error(push.where() + ": the learner sent " + std::to_string(buckets) + " buckets, " +
                         std::to_string(push.buckets_) + " arrived");
  return push.assemble(make_worker);
}

Result<std::shared_ptr<const ServedPolicy>> WeightReceiver::assemble(const ServingWorkerFactory& make_worker) {
  TensorMap tensors = current_->model->tensors();
  for (const TensorDigest& t : tensors_) {
    auto it = incoming_.find(t.name);
    if (it == incoming_.end()) continue;  // unchanged: shared with the current version
    Incoming& in = it->second;
    if (in.received != t.bytes)
      return Status::error(where() + ": tensor '" + t.name + "' is incomplete (" + std::to_string(in.received) +
                           " of " + std::to_string(t.bytes) + " bytes)");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(in.sha.get(), md, &len);
    if (std::string(reinterpret_cast<const char*>(md), len) != t.sha256)
      return Status::error(where() + ": tensor '" + t.name + "' (from bucket " + std::to_string(in.first_bucket) +
                           ") does not match its sha256: corrupted on the way");
    tensors[t.name] = in.tensor;
  }
  const Transformer& old = *current_->model;
  R1_ASSIGN_OR_RETURN(Transformer model, Transformer::from_tensors(old.config(), std::move(tensors),
                                                                   {.dtype = old.dtype(), .device = old.device()}));
  auto policy = std::make_shared<ServedPolicy>();
  policy->version = version_;
  policy->tensors = std::move(tensors_);
  policy->digest = digest_;
  policy->model = std::make_unique<const Transformer>(std::move(model));
  policy->worker = make_worker(*policy->model);
  return std::shared_ptr<const ServedPolicy>(std::move(policy));
}

}  // namespace r1
