// safetensors reader and writer.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
// then the data block; offsets are relative to the start of the data block.
// Reading memory-maps the file: tensors are views of the mapping (no copy),
// and the mapping lives as long as any tensor viewing it.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace r1 {

using TensorMap = std::map<std::string, at::Tensor>;
// Tensor names and shapes a config expects, in checkpoint order.
using TensorShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

struct SafetensorsFile {
  TensorMap tensors;
  std::map<std::string, std::string> metadata;
};

Result<SafetensorsFile> load_safetensors(const std::string& path);

// Writes atomically (temp + rename). Tensors are written contiguous, in name
// order; `metadata` defaults to {"format": "pt"}, which transformers requires.
Status save_safetensors(const std::string& path, const TensorMap& tensors,
                        const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// "F32" <-> at::kFloat etc.; errors for dtypes we do not handle.
Result<at::ScalarType> safetensors_dtype(const std::string& name);
Result<std::string> safetensors_dtype_name(at::ScalarType type);

}  // namespace r1
