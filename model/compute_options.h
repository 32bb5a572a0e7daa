// Where a job computes and in which dtype: the `device` and `dtype` keys,
// the same in every job config (rl, sft, eval, sample, pretrain-toy and the
// pipeline stages that run them), read once into this struct. This file only
// checks the spellings (no LibTorch, so config libraries stay light);
// model/device.h turns them into an at::Device and at::ScalarType and
// reports a GPU that is not there.
#pragma once

#include <string>
#include <string_view>

#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct ComputeOptions {
  // "cpu", "cuda" (GPU 0), "cuda:N", or "auto": cuda:0 when a CUDA GPU is
  // visible, else cpu. Model weights are placed there when loaded.
  std::string device = "auto";
  // "float32", "bfloat16", "float16", or "auto": the job's default, which
  // is bfloat16 for rl (TRL's bf16=True), float32 for sft and pretrain-toy,
  // and the checkpoint's own dtype for eval, sample and generate.
  std::string dtype = "auto";
};

// Errors say what the key accepts ("must be cpu, cuda, cuda:N or auto, got
// 'gpu'"); the field table puts the file and key in front.
Status check_device_spelling(std::string_view device);
Status check_dtype_spelling(std::string_view dtype);

// The `device` and `dtype` keys; a job table takes them with include().
const ConfigFields<ComputeOptions>& compute_options_fields();

}  // namespace r1
