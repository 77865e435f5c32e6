#include "engine/run_page.h"

#include "storyloom/error.h"

namespace storyloom::detail {

store::ListQuery list_query(const RunFilter& filter) {
  if (filter.finished_after_ms < 0 || filter.finished_before_ms < 0) {
    throw Error(ErrorCode::invalid_argument,
                "finished_after_ms and finished_before_ms must not be negative");
  }
  store::ListQuery q;
  q.status = filter.status;
  q.workflow = filter.workflow;
  q.owner = filter.owner;
  if (filter.error_class) q.error_class = to_string(*filter.error_class);
  q.finished_after_ms = filter.finished_after_ms;
  q.finished_before_ms = filter.finished_before_ms;
  return q;
}

RunPage list_page(store::ReadTx& tx, const RunFilter& filter) {
  if (filter.limit < 1 || filter.limit > 1000) {
    throw Error(ErrorCode::invalid_argument,
                "limit must be between 1 and 1000, got " + std::to_string(filter.limit));
  }
  store::ListQuery q = list_query(filter);
  q.limit = filter.limit + 1;  // one more tells whether another page exists
  if (!filter.after_run_id.empty()) {
    q.after_seq = tx.run_seq(filter.after_run_id);
    if (q.after_seq == 0) {
      throw Error(ErrorCode::invalid_argument,
                  "paging cursor '" + filter.after_run_id + "' is not the id of an existing run");
    }
  }
  int64_t last_seq = 0;
  RunPage page;
  for (auto& r : tx.list_runs(q, &last_seq)) page.runs.push_back(std::move(r.info));
  if (page.runs.size() > filter.limit) {
    page.runs.pop_back();
    page.next_cursor = page.runs.back().id;
  }
  return page;
}

}  // namespace storyloom::detail
