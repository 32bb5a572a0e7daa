// Runs a recipe's stages in order in one run folder, marks each finished
// stage, and on a rerun skips finished stages and resumes the interrupted one
// (docs/pipelines.md). The run folder:
//   RUN_DIR/recipe.json                  the recipe as run (--set applied); `status` reads it
//   RUN_DIR/<stage>/                     the stage's output_dir
//   RUN_DIR/<stage>/stage_config.json    its resolved config, written when it starts
//   RUN_DIR/<stage>/.done                written atomically when it finishes: seconds and metrics
//   RUN_DIR/report.json                  every stage's status and metrics, eval comparisons
#pragma once

#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pipelines/recipe.h"
#include "util/status.h"

namespace r1 {

// Everything that can be checked before the first stage runs: every stage's
// config resolved under run_dir and parsed by its own parser; with
// `check_inputs`, also what the recipe names directly (model folders, data
// files, datasets, task corpora). Errors name the stage's key path: the
// first error of every stage that has one, a line each.
Status check_recipe(const Recipe& recipe, const std::string& run_dir, bool check_inputs);

struct StageReport {
  std::string name, type, dir;
  std::string status = "pending";  // done, interrupted (a checkpoint exists), started, pending
  std::string detail;              // interrupted: the last checkpoint's folder name
  std::string metrics_json = "{}";
  double seconds = 0.0;            // wall time of the session that finished it
};

// An eval stage's pass@1 against its compare_to stage's (e.g. student / teacher).
struct Comparison {
  std::string stage, baseline;
  double value = 0.0, baseline_value = 0.0;
  std::optional<double> ratio;  // value / baseline_value; none when the baseline is 0
};

struct PipelineReport {
  std::string recipe;
  std::string run_dir;
  std::vector<StageReport> stages;
  std::vector<Comparison> comparisons;  // only where both stages are done

  std::string to_json() const;
  void print(std::ostream& out) const;  // the table, then the comparisons
};

// Checks the recipe (check_recipe with inputs), that the run folder holds no
// finished or started stage whose config differs from the recipe's, then runs
// the unfinished stages in order. Writes RUN_DIR/report.json at the end.
// Progress goes to `log`.
Result<PipelineReport> run_pipeline(const Recipe& recipe, const std::string& run_dir, std::FILE* log);

// The state of a run folder, from its recipe.json, .done files and checkpoints.
Result<PipelineReport> pipeline_status(const std::string& run_dir);

}  // namespace r1
