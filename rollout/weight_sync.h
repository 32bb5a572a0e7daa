// What both ends of a weight push agree on (docs/distributed.md, "Weight
// sync"): a policy version is its tensors' names, dtypes, shapes and bytes,
// summarised by one SHA-256 per tensor and one digest of the whole version.
// The learner compares its digests with those the worker reports to send
// only the tensors that changed; the worker checks every tensor it
// assembles, and the whole version, against them before it swaps.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/safetensors.h"
#include "rollout/wire_frame.h"
#include "util/json.h"
#include "util/status.h"

namespace r1 {

struct TensorDigest {
  std::string name;
  std::string dtype;  // safetensors' name: F32, BF16, F16
  std::vector<int64_t> shape;
  std::string sha256;  // 32 raw bytes of the tensor's bytes (row-major, little-endian)
  int64_t bytes = 0;
};

// A tensor's bytes in host memory, contiguous: a view of the tensor when it
// already is, else of a copy that this object keeps.
class HostBytes {
 public:
  explicit HostBytes(const at::Tensor& tensor);
  std::string_view view() const { return {static_cast<const char*>(host_.data_ptr()), size_}; }

 private:
  at::Tensor host_;
  size_t size_;
};

std::string sha256_of(std::string_view bytes);

// One digest per tensor, in name order.
Result<std::vector<TensorDigest>> tensor_digests(const TensorMap& tensors);
// SHA-256 over every tensor's name, dtype, shape and digest, in order.
std::string version_digest(const std::vector<TensorDigest>& tensors);

// The "tensors" array of weights_held and weights_begin frames.
void write_tensor_digests(JsonWriter& w, const std::vector<TensorDigest>& tensors);
Result<std::vector<TensorDigest>> read_tensor_digests(const Frame& frame);

// Ok when `have` and `want` name the same tensors with the same dtypes and
// shapes (a push changes values, never the architecture); the error names
// the first difference.
Status same_layout(const std::vector<TensorDigest>& have, const std::vector<TensorDigest>& want);

}  // namespace r1
