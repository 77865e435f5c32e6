// C++ results to the JSON shapes documented in storyloom.h. Marshalling only:
// field names and nesting, no decisions.
#pragma once

#include <vector>

#include "storyloom/events.h"
#include "storyloom/json.h"
#include "storyloom/run.h"

namespace storyloom::capi {

Json run_json(const RunInfo& run);
Json run_page_json(const RunPage& page);
Json snapshot_json(const Snapshot& snapshot);
Json artifacts_json(const std::vector<ArtifactInfo>& artifacts);
Json events_json(const std::vector<Event>& events);

}  // namespace storyloom::capi
