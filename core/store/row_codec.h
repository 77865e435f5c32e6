// Decoding stored rows into records. A row that cannot be decoded (a
// hand-corrupted file, a disk error) never throws out of here as a Boost or
// SQLite exception: a run row is marked unreadable, other JSON becomes
// Error(store) naming the run.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>
#include <string_view>

#include "store/store.h"
#include "storyloom/json.h"

namespace storyloom::store {

// The columns read_run expects, in order.
extern const char* const kRunColumns;

// Reads a row selected with kRunColumns starting at column `first`. A column
// that cannot be decoded is left null and the run's info.unreadable says which.
RunRecord read_run(SQLite::Statement& q, int first = 0);
EventRecord read_event(SQLite::Statement& q);

// Error(store) for a run row that cannot be decoded, naming the run.
Error unreadable_run_error(const RunRecord& run);

// Parses JSON text the store holds for `run_id`; throws Error(store) naming
// the run and `what` ("result of step 'outline'") when it is not JSON.
Json decode_stored_json(std::string_view text, std::string_view run_id, std::string_view what);

}  // namespace storyloom::store
