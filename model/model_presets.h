// Named model shapes for `r1 model init`: tiny ones for tests and the
// built-in demo, a ~30M one for CPU benchmarks, a Qwen2.5-0.5B shape for GPUs.
#pragma once

#include <string>
#include <vector>

#include "model/config.h"
#include "util/status.h"

namespace r1 {

// The config for `family` at `preset`; vocab_size is left for the caller.
Result<ModelConfig> preset_config(ModelFamily family, const std::string& preset);
std::vector<std::string> preset_names();

}  // namespace r1
