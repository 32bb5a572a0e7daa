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

// "auto" is the GPU of `local_rank` (util/process.h; 0 in a one-process run)
// when a CUDA GPU is visible, else cpu; "cuda" is that GPU; "cuda:N" is GPU N.
// A GPU that is not there is an error naming the field 'device'.
Result<at::Device> resolve_device(const std::string& device, int64_t local_rank = 0);

// "auto" is `auto_dtype` (at::ScalarType::Undefined: the checkpoint's own).
Result<at::ScalarType> resolve_dtype(const std::string& dtype, at::ScalarType auto_dtype);

// Both, as the options Transformer::load places and converts weights with.
Result<LoadOptions> resolve_load_options(const ComputeOptions& options, at::ScalarType auto_dtype, bool trainable,
                                         int64_t local_rank = 0);

}  // namespace r1
