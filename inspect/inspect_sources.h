// What `r1 inspect` serves: the run folders and databases named on its
// command line, resolved once at start. Requests name a source by its index,
// never by a path, and every file is checked to lie inside its source's
// folder when it is opened, so no request reaches another file (a `..`, or a
// symlink swapped in later, included).
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

struct InspectSource {
  std::string name;          // as given on the command line (a folder, or a folder/file.db)
  std::string kind;          // "run" (rollouts.db, metrics.jsonl) or "eval" (eval.db)
  std::string root;          // canonical folder whose files it may read
  std::string db_path;       // the rollout store; may not exist yet (a run before its first step)
  std::string metrics_path;  // metrics.jsonl; "" when the source has none
};

// A RUN_DIR gives a "run" source when it holds rollouts.db or metrics.jsonl
// and an "eval" source when it holds eval.db; a DB file gives one source
// (kind "eval" for a file named eval.db), with metrics.jsonl beside a
// rollouts.db. Errors name the argument: missing, neither kind, or a file
// that is a symlink out of its folder.
Result<std::vector<InspectSource>> resolve_inspect_sources(const std::vector<std::string>& args);

// `path` (one of the source's files) when it still resolves inside the
// source's folder; a clear error when it is missing or leads out of it.
Result<std::string> confined_file(const InspectSource& source, const std::string& path);

}  // namespace r1
