#include "rollout/weight_sync.h"

#include <openssl/evp.h>

#include "util/json.h"

namespace r1 {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

Result<TensorDigest> read_digest(const JsonValue& v, const std::string& where) {
  if (!v.IsObject()) return Status::error(where + " must be an object");
  TensorDigest d;
  R1_ASSIGN_OR_RETURN(d.name, json_string(v, "name", where));
  R1_ASSIGN_OR_RETURN(d.dtype, json_string(v, "dtype", where));
  R1_ASSIGN_OR_RETURN(d.shape, json_int_array(v, "shape", where));
  R1_ASSIGN_OR_RETURN(d.bytes, json_int(v, "bytes", where));
  R1_ASSIGN_OR_RETURN(std::string hex, json_string(v, "sha256", where));
  R1_ASSIGN_OR_RETURN(d.sha256, hex_decode(hex, where + ": field 'sha256'", 32));
  if (d.bytes < 0) return Status::error(where + ": field 'bytes' must not be negative");
  return d;
}

}  // namespace

HostBytes::HostBytes(const at::Tensor& tensor)
    : host_(tensor.to(at::kCPU).contiguous()), size_(static_cast<size_t>(host_.nbytes())) {}

std::string sha256_of(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

Result<std::vector<TensorDigest>> tensor_digests(const TensorMap& tensors) {
  std::vector<TensorDigest> out;
  for (const auto& [name, tensor] : tensors) {
    R1_ASSIGN_OR_RETURN(std::string dtype, safetensors_dtype_name(tensor.scalar_type()));
    HostBytes bytes(tensor);
    out.push_back({.name = name,
                   .dtype = dtype,
                   .shape = tensor.sizes().vec(),
                   .sha256 = sha256_of(bytes.view()),
                   .bytes = static_cast<int64_t>(bytes.view().size())});
  }
  return out;
}

std::string version_digest(const std::vector<TensorDigest>& tensors) {
  std::string all;
  for (const TensorDigest& t : tensors) all += t.name + '\0' + t.dtype + '\0' + shape_text(t.shape) + '\0' + t.sha256;
  return sha256_of(all);
}

void write_tensor_digests(JsonWriter& w, const std::vector<TensorDigest>& tensors) {
  w.key("tensors").begin_array();
  for (const TensorDigest& t : tensors) {
    w.begin_object().key("name").value(t.name).key("dtype").value(t.dtype).key("shape").array(t.shape);
    w.key("bytes").value(t.bytes).key("sha256").value(hex_encode(t.sha256)).end_object();
  }
  w.end_array();
}

Result<std::vector<TensorDigest>> read_tensor_digests(const Frame& frame) {
  R1_ASSIGN_OR_RETURN(const rapidjson::Value* list, frame_field(frame, "tensors"));
  std::string where = "'" + frame.type + "' frame: tensors";
  if (!list->IsArray()) return Status::error(where + " must be an array");
  std::vector<TensorDigest> out;
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    R1_ASSIGN_OR_RETURN(TensorDigest d, read_digest((*list)[i], where + "[" + std::to_string(i) + "]"));
    if (!out.empty() && !(out.back().name < d.name))
      return Status::error(where + " must be sorted by name without repeats ('" + d.name + "' after '" +
                           out.back().name + "')");
    out.push_back(std::move(d));
  }
  return out;
}

Status same_layout(const std::vector<TensorDigest>& have, const std::vector<TensorDigest>& want) {
  for (size_t i = 0; i < std::max(have.size(), want.size()); ++i) {
    if (i >= have.size()) return Status::error("tensor '" + want[i].name + "' is not in the worker's model");
    if (i >= want.size() || have[i].name < want[i].name)
      return Status::error("tensor '" + have[i].name + "' of the worker's model is missing from the pushed policy");
    if (have[i].name != want[i].name)
      return Status::error("tensor '" + want[i].name + "' is not in the worker's model");
    if (have[i].dtype != want[i].dtype || have[i].shape != want[i].shape)
      return Status::error("tensor '" + have[i].name + "' is " + want[i].dtype + " " + shape_text(want[i].shape) +
                           ", the worker's model has " + have[i].dtype + " " + shape_text(have[i].shape));
  }
  return Status();
}

}  // namespace r1
