// Every run a filter matches (up to `limit`), read page after page.
#pragma once

#include <algorithm>
#include <vector>

#include "storyloom/engine.h"

namespace storyloom::testing {

inline std::vector<RunInfo> list_every(Engine& engine, RunFilter filter, size_t limit) {
  filter.limit = std::min<size_t>(limit, 1000);
  std::vector<RunInfo> runs;
  for (;;) {
    auto page = engine.list(filter);
    runs.insert(runs.end(), page.runs.begin(), page.runs.end());
    if (page.next_cursor.empty() || runs.size() >= limit) return runs;
    filter.after_run_id = page.next_cursor;
  }
}

}  // namespace storyloom::testing
