// The JSON bodies of `r1 inspect`'s API (docs/inspector.md), one function
// per endpoint, built on the rollout store's reader (rollout/rollout_reader.h)
// and the metrics log's reader (train/metrics_plot.h). Each opens the
// source's files afresh, so a run still training shows its new rows; a
// missing, malformed or locked database is an error naming the file.
#pragma once

#include <string>
#include <vector>

#include "inspect/inspect_sources.h"
#include "inspect/request_target.h"
#include "util/status.h"

namespace r1 {

// Every source: id, name, kind, files present, run info, schema version;
// a source whose database cannot be read carries its error instead.
std::string runs_json(const std::vector<InspectSource>& sources);
// Every metrics.jsonl key against step (for a source without one, the
// metrics logged in its database).
Result<std::string> metrics_json(const InspectSource& source);
// One row per step: rollouts, reward mean/std, length, truncation,
// component means, logged metrics; and discard counts by reason.
Result<std::string> steps_json(const InspectSource& source);
// One step's groups and samples; query: sort, order, finish, discarded, q, component.
Result<std::string> step_json(const InspectSource& source, int64_t step, const RequestTarget& t);
// One prompt across training, and its samples at steps a and b; query: a, b, component.
Result<std::string> prompt_json(const InspectSource& source, int64_t prompt_index, const RequestTarget& t);
// Discarded samples; query: reason, step, limit, offset.
Result<std::string> discarded_json(const InspectSource& source, const RequestTarget& t);
// Prompts and samples whose text contains q; query: q, limit.
Result<std::string> search_json(const InspectSource& source, const RequestTarget& t);

}  // namespace r1
