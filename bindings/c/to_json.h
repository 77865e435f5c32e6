// Lists of C++ results to the JSON shapes documented in storyloom.h; single
// values use storyloom::to_json from the core.
#pragma once

#include <vector>

#include "storyloom/error.h"
#include "storyloom/events.h"
#include "storyloom/json.h"
#include "storyloom/run.h"

namespace storyloom::capi {

Json artifacts_json(const std::vector<ArtifactInfo>& artifacts);
Json events_json(const std::vector<Event>& events);
// {"code", "class", "message"}: an error in a list of per-item results.
Json error_json(const Error& error);

}  // namespace storyloom::capi
