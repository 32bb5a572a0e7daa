// The rollout store's schema (see docs/rollout_store.md): created or migrated
// in one IMMEDIATE transaction, versioned with PRAGMA user_version and marked
// as ours with PRAGMA application_id.
#pragma once

#include <cstdint>

#include "rollout/sqlite_db.h"
#include "util/status.h"

namespace r1 {

inline constexpr int64_t kRolloutSchemaVersion = 2;
// Readers still read version 1 stores (no discard_reason: read as none).
inline constexpr int64_t kRolloutOldestReadableVersion = 1;
inline constexpr int64_t kRolloutApplicationId = 0x52315253;  // "R1RS"

// Writer side: WAL, synchronous=NORMAL, foreign keys, then creates or
// migrates the schema to kRolloutSchemaVersion.
Status prepare_rollout_db_for_writing(SqliteDb& db);

// Reader side: checks that the file is a rollout store this build can read
// and returns its schema version.
Result<int64_t> check_rollout_db_for_reading(SqliteDb& db);

}  // namespace r1
