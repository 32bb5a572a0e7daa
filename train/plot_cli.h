// `r1 plot`: train/metrics_plot.h from the command line.
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_plot_command(CLI::App& app);

}  // namespace r1
