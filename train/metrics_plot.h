// `r1 plot RUN_DIR... --out curves.svg`: the curves of runs' metrics.jsonl
// without a browser, one panel per metric against step, runs overlaid in
// distinct colours. A self-contained SVG (no fonts or scripts fetched), so
// it opens offline and embeds in a report.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

// One run's metrics: metric -> (step, value) points in logged order.
struct RunCurves {
  std::string name;  // the run folder, as given
  std::map<std::string, std::vector<std::pair<double, double>>> metrics{};
};

// Reads <run_dir>/metrics.jsonl: every numeric member but "step". Errors
// name the file and line.
Result<RunCurves> read_run_curves(const std::string& run_dir);

// The SVG of `metrics` (empty: every metric any run logged, sorted) for
// `runs`. A metric no run logged is an error naming it; non-finite values
// break the line rather than stretching the axis.
Result<std::string> plot_curves_svg(const std::vector<RunCurves>& runs, const std::vector<std::string>& metrics);

}  // namespace r1
