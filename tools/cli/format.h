// How the `storyloom` tool prints runs, events and artifacts. Pure functions
// from public API values to text, so they are tested without a store.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storyloom/events.h"
#include "storyloom/json.h"
#include "storyloom/run.h"

namespace storyloom::cli {

// UTC, ISO 8601 with milliseconds ("2024-05-01T12:00:00.123Z"); "-" for 0.
std::string format_time(int64_t ms);

// Indented with two spaces, keys in their stored order, ending in a newline.
std::string pretty_json(const Json& value);

// The run's fields (storyloom::to_json) plus last_event_id and its steps.
Json snapshot_json(const Snapshot& snapshot);

// One aligned line per run: id, status, workflow, owner ("-" when none), created.
std::string run_table(const std::vector<RunInfo>& runs);

// {"id","type","data"} and a newline; transient chunks have "id":null and
// "transient":true. Cursor events carry no data and give "" (nothing to print).
std::string event_json_line(const Event& event);

// {"key","version","value","created_at_ms"} and a newline.
std::string artifact_json_line(const ArtifactInfo& artifact);

}  // namespace storyloom::cli
