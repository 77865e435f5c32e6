// StoreReader::limits: the shared resources, concurrency keys and throttle
// windows of a store, read through its shared-resources connection.
#include "store/shared_resources.h"
#include "store/store.h"
#include "storyloom/store_reader.h"

namespace storyloom {

LimitsView StoreReader::limits(int64_t now_ms, int64_t lease_ms, size_t top) {
  LimitsView view;
  auto shared = store_->shared_resources();
  if (!shared) return view;
  for (auto& row : shared->list(now_ms, lease_ms)) {
    SharedResourceStatus s;
    s.name = row.name;
    s.limits = row.limits;
    s.available_requests = store::shared::request_level_shown(row);
    s.available_tokens = store::shared::token_level_shown(row);
    s.in_flight = row.in_flight;
    s.paused_until_ms = row.paused_until_ms > now_ms ? row.paused_until_ms : 0;
    view.resources.push_back(std::move(s));
  }
  for (auto& k : shared->busiest_keys(top)) {
    view.keys.push_back({k.workflow, k.key, k.running, k.queued, k.limit});
  }
  for (auto& t : shared->throttle_windows(now_ms, top)) {
    view.throttles.push_back(
        {t.workflow, t.key, t.started, t.limit, t.period_ms, t.oldest_start_ms + t.period_ms});
  }
  return view;
}

}  // namespace storyloom
