// `r1 pipeline run|validate|status|list`: recipes of stages (docs/pipelines.md).
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_pipeline_commands(CLI::App& app);

}  // namespace r1
