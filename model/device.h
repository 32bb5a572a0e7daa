// ComputeOptions (model/compute_options.h) resolved for LibTorch: the
// at::Device and at::ScalarType a job loads its models with. The only place
// that asks whether a GPU is there.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "model/compute_options.h"
#include "model/transformer.h"
#include "util/status.h"

namespace r1 {

// "auto" is cuda:0 when a CUDA GPU is visible, else cpu. "cuda" or "cuda:N"
// without such a GPU is an error naming the key 'device'.
Result<at::Device> resolve_device(const std::string& device);

// "auto" is `auto_dtype` (at::ScalarType::Undefined: the checkpoint's own).
Result<at::ScalarType> resolve_dtype(const std::string& dtype, at::ScalarType auto_dtype);

// Both, as the options Transformer::load places and converts weights with.
Result<LoadOptions> resolve_load_options(const ComputeOptions& options, at::ScalarType auto_dtype, bool trainable);

}  // namespace r1
