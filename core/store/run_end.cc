// WriteTx::end_run's default: the run's row read and written back whole.
// A store with a narrower statement overrides it (SqliteTx::end_run).
#include "store/store.h"

namespace storyloom::store {

bool WriteTx::end_run(const RunEnd& end) {
  auto run = find_run(end.run_id);
  if (!run) return false;
  run->info.status = end.status;
  if (end.status == RunStatus::completed) {
    run->info.output = end.value;
  } else {
    run->info.error = end.value;
  }
  run->lease_owner.clear();
  run->info.finished_at_ms = run->info.updated_at_ms = end.now_ms;
  update_run(*run);
  return true;
}

}  // namespace storyloom::store
