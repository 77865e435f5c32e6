// Listing runs: a RunFilter turned into a store query, and one page of runs
// with its cursor. Shared by the engine and the read-only StoreReader.
#pragma once

#include "store/store.h"
#include "storyloom/run.h"

namespace storyloom::detail {

// The query for `filter` (without paging). Throws invalid_argument for
// negative time bounds.
store::ListQuery list_query(const RunFilter& filter);

// One page of runs matching `filter`, read in `tx`. Throws invalid_argument
// for a limit outside 1..1000 or a cursor that names no run.
RunPage list_page(store::ReadTx& tx, const RunFilter& filter);

}  // namespace storyloom::detail
