// SqliteTx's claims: taking queued runs (with and without limits), runs past
// their deadline, and parked runs whose timer is due.
#include "store/sqlite_tx.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "store/hot_queries.h"
#include "store/row_codec.h"

namespace storyloom::store::sqlite {

ClaimResult SqliteTx::claim_runs(const ClaimRequest& req) {
  ClaimResult out = req.rules.empty() ? claim_unlimited(req) : claim_limited(req);
  fail_unreadable(out.runs, req.now_ms);
  if (leases_) {
    for (const auto& r : out.runs) leases_->put(r.info.id, RunStatus::running, req.owner);
  }
  return out;
}

std::vector<RunRecord> SqliteTx::overdue_runs(int64_t now_ms, size_t limit) {
  static const std::string sql = std::string("SELECT ") + kRunColumns + sql::kOverdueWhere;
  auto& q = conn_.prepare(sql.c_str());
  q.bind(1, now_ms);
  q.bind(2, static_cast<int64_t>(limit));
  std::vector<RunRecord> out;
  while (q.executeStep()) {
    RunRecord r = read_run(q);
    if (r.info.unreadable.empty()) out.push_back(std::move(r));  // nothing to time out
  }
  return out;
}

std::vector<std::string> SqliteTx::wake_due_parked(int64_t now_ms, size_t limit) {
  auto& select = conn_.prepare(sql::kDueParked);
  select.bind(1, now_ms);
  select.bind(2, static_cast<int64_t>(limit));
  std::vector<std::string> ids;
  while (select.executeStep()) ids.push_back(select.getColumn(0).getString());
  select.reset();
  auto& update = conn_.prepare(
      "UPDATE runs SET status = 'queued', available_at = ?, updated_at = ?, wake_at = 0, "
      "waiting_for = '' WHERE id = ?");
  for (const auto& id : ids) {
    update.reset();
    update.bind(1, now_ms);
    update.bind(2, now_ms);
    update.bind(3, id);
    update.exec();
    if (leases_) leases_->forget(id);
  }
  return ids;
}

// Claimed runs whose row cannot be decoded are never executed (their input
// is unknown): they fail with a store error and leave the claim result.
void SqliteTx::fail_unreadable(std::vector<RunRecord>& runs, int64_t now_ms) {
  auto bad = std::stable_partition(runs.begin(), runs.end(), [](const RunRecord& r) {
    return r.info.unreadable.empty();
  });
  for (auto it = bad; it != runs.end(); ++it) {
    Json error = boost::json::object{{"code", "store"},
                                     {"class", "fatal"},
                                     {"message", unreadable_run_error(*it).what()},
                                     {"step", ""}};
    auto& q = conn_.prepare(
        "UPDATE runs SET status = 'failed', error = ?1, lease_owner = '', finished_at = ?2, "
        "updated_at = ?2 WHERE id = ?3");
    q.bind(1, boost::json::serialize(error));
    q.bind(2, now_ms);
    q.bind(3, it->info.id);
    q.exec();
    if (leases_) leases_->forget(it->info.id);
  }
  runs.erase(bad, runs.end());
}

ClaimResult SqliteTx::claim_unlimited(const ClaimRequest& req) {
  static const std::string sql =
      std::string("UPDATE runs SET status = 'running', lease_owner = ?1, updated_at = ?2 ") +
      "WHERE seq IN (" + sql::kClaimQueueWalk + ") RETURNING " + kRunColumns;
  auto& q = conn_.prepare(sql.c_str());
  q.bind(1, req.owner);
  q.bind(2, req.now_ms);
  q.bind(3, static_cast<int64_t>(req.limit));
  q.bind(4, req.workflows_json_array);
  ClaimResult out;
  while (q.executeStep()) out.runs.push_back(read_run(q));
  q.reset();
  // RETURNING gives no order guarantee: keep the queue order.
  std::stable_sort(out.runs.begin(), out.runs.end(), [](const RunRecord& a, const RunRecord& b) {
    if (a.info.priority != b.info.priority) return a.info.priority > b.info.priority;
    return a.available_at_ms < b.available_at_ms;
  });
  return out;
}

// Walks the queue in order and takes each run its workflow's limits allow.
// The counts come from the runs table inside this write transaction, so two
// processes claiming at once cannot both take the last slot.
//
// Runs held back by a full concurrency key can be most of the queue (many
// runs of few keys). The walk in queue order stops after kHeldBackWalk of
// them, and the rest of the queue is reached per workflow and per stored key
// through runs_queue_key: a key with free slots gives its first runs, a full
// one gives none and none of its runs is read. A claim then reads about one
// index entry per queued key and a few rows per run it takes, however many
// runs are held back. Runs without a stored key (started by a process that
// did not register the workflow, or before schema 11) are read in queue order
// as before, a page per claim, and their keys computed from the input.
ClaimResult SqliteTx::claim_limited(const ClaimRequest& req) {
  constexpr int64_t kPage = 256;
  constexpr size_t kMaxScan = 4096;      // bounds one claim; the rest wait for the next
  constexpr size_t kHeldBackWalk = 64;   // held-back runs the queue-order walk reads
  ClaimResult out;
  std::vector<std::string> names;
  Json workflows = boost::json::parse(req.workflows_json_array);
  for (const auto& v : workflows.as_array()) {
    names.emplace_back(v.as_string());
  }
  std::map<std::string, int64_t> running;
  std::map<std::pair<std::string, std::string>, int64_t> running_by_key;
  std::set<std::string> keys_counted;  // workflows with every running key in running_by_key
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> starts;
  std::set<std::string> full;  // workflows at their global limit
  struct Pick {
    RunRecord run;
    RunKeys keys;
    int64_t timeout_ms;
  };
  std::vector<Pick> picks;
  auto count_running = [&](const std::string& wf) -> int64_t& {
    auto it = running.find(wf);
    if (it != running.end()) return it->second;
    auto& q = conn_.prepare("SELECT count(*) FROM runs WHERE status = 'running' AND workflow = ?");
    q.bind(1, wf);
    q.executeStep();
    return running[wf] = q.getColumn(0).getInt64();
  };
  auto count_key = [&](const std::string& wf, const std::string& key) -> int64_t& {
    auto id = std::make_pair(wf, key);
    auto it = running_by_key.find(id);
    if (it != running_by_key.end()) return it->second;
    if (keys_counted.count(wf)) return running_by_key[id] = 0;
    auto& q = conn_.prepare(
        "SELECT count(*) FROM runs WHERE status = 'running' AND workflow = ? AND "
        "concurrency_key = ?");
    q.bind(1, wf);
    q.bind(2, key);
    q.executeStep();
    return running_by_key[id] = q.getColumn(0).getInt64();
  };
  // Every key's running count at once; a count already taken (and raised by
  // this claim's picks) is kept.
  auto count_keys = [&](const std::string& wf) {
    if (!keys_counted.insert(wf).second) return;
    auto& q = conn_.prepare(sql::kRunningByKey);
    q.bind(1, wf);
    while (q.executeStep()) {
      running_by_key.emplace(std::make_pair(wf, q.getColumn(0).getString()), q.getColumn(1).getInt64());
    }
    q.reset();
  };
  auto starts_of = [&](const std::string& wf, const std::string& key,
                       int64_t since) -> std::vector<int64_t>& {
    auto id = std::make_pair(wf, key);
    auto it = starts.find(id);
    if (it != starts.end()) return it->second;
    auto& q = conn_.prepare(
        "SELECT started_at FROM runs WHERE workflow = ? AND throttle_key = ? AND started_at > ? "
        "ORDER BY started_at");
    q.bind(1, wf);
    q.bind(2, key);
    q.bind(3, since);
    auto& v = starts[id];
    while (q.executeStep()) v.push_back(q.getColumn(0).getInt64());
    return v;
  };
  // Takes `run` into picks if its workflow's limits allow; false when a limit
  // holds it back.
  auto consider = [&](RunRecord run) -> bool {
    const std::string& wf = run.info.workflow;
    auto rules_it = req.rules.find(wf);
    if (rules_it == req.rules.end()) {
      picks.push_back(Pick{std::move(run), RunKeys{}, 0});
      return true;
    }
    const ClaimRules& rules = rules_it->second;
    if (full.count(wf)) return false;
    if (rules.max_running > 0 && count_running(wf) >= rules.max_running) {
      full.insert(wf);
      out.limited = true;
      return false;
    }
    RunKeys keys = req.keys(run);
    if (rules.key_limit > 0 && keys.concurrency &&
        count_key(wf, *keys.concurrency) >= rules.key_limit) {
      out.limited = true;
      return false;
    }
    bool first_start = run.started_at_ms == 0;
    if (rules.throttle_limit > 0 && keys.throttle && first_start) {
      auto& v = starts_of(wf, *keys.throttle, req.now_ms - rules.throttle_period_ms);
      if (static_cast<int64_t>(v.size()) >= rules.throttle_limit) {
        // The start that must leave the window before another fits in it.
        int64_t wake = v[v.size() - static_cast<size_t>(rules.throttle_limit)] +
                       rules.throttle_period_ms;
        out.throttle_wake_ms = out.throttle_wake_ms == 0 ? wake : std::min(out.throttle_wake_ms, wake);
        out.limited = true;
        return false;
      }
      v.push_back(req.now_ms);
    }
    if (rules.max_running > 0) ++count_running(wf);
    if (rules.key_limit > 0 && keys.concurrency) ++count_key(wf, *keys.concurrency);
    picks.push_back(Pick{std::move(run), std::move(keys), rules.run_timeout_ms});
    return true;
  };

  // 1. The queue in order, until kHeldBackWalk runs were held back.
  static const std::string page_sql =
      std::string("SELECT seq, ") + kRunColumns + sql::kQueuePageWhere;
  int64_t after_priority = INT64_MIN, after_available = INT64_MIN, after_seq = INT64_MIN;
  size_t scanned = 0, held = 0;
  bool queue_left = true;
  while (picks.size() < req.limit && scanned < kMaxScan && held < kHeldBackWalk) {
    boost::json::array eligible;
    for (const auto& n : names) {
      if (!full.count(n)) eligible.push_back(boost::json::string(n));
    }
    if (eligible.empty()) break;
    SQLite::Statement q(conn_.db(), page_sql);
    q.bind(1, req.now_ms);
    q.bind(2, boost::json::serialize(eligible));
    q.bind(3, after_priority);
    q.bind(4, after_available);
    q.bind(5, after_seq);
    q.bind(6, kPage);
    int64_t rows = 0;
    while (picks.size() < req.limit && held < kHeldBackWalk) {
      if (!q.executeStep()) {
        queue_left = rows == kPage;
        break;
      }
      ++rows;
      ++scanned;
      after_seq = q.getColumn(0).getInt64();
      RunRecord run = read_run(q, 1);
      after_priority = -static_cast<int64_t>(run.info.priority);
      after_available = run.available_at_ms;
      if (!consider(std::move(run))) ++held;
    }
    if (!queue_left) break;
  }

  // 2. Past the held-back runs: per workflow, the first runs of each key with
  // a free slot and a page of the runs without a stored key, after the
  // position reached above, merged in queue order.
  if (picks.size() < req.limit && held >= kHeldBackWalk) {
    static const std::string of_key_sql =
        std::string("SELECT seq, ") + kRunColumns + sql::kQueuedOfKeyWhere;
    static const std::string without_key_sql =
        std::string("SELECT seq, ") + kRunColumns + sql::kQueuedWithoutKeyWhere;
    std::vector<std::pair<int64_t, RunRecord>> found;
    size_t budget = kMaxScan - std::min(scanned, kMaxScan);
    auto read_after = [&](SQLite::Statement& q, const std::string& wf, int64_t limit) {
      q.reset();
      q.bind(1, wf);
      q.bind(3, req.now_ms);
      q.bind(4, after_priority);
      q.bind(5, after_available);
      q.bind(6, after_seq);
      q.bind(7, limit);
      while (q.executeStep()) found.emplace_back(q.getColumn(0).getInt64(), read_run(q, 1));
      q.reset();
    };
    for (const auto& wf : names) {
      if (full.count(wf)) continue;
      auto rules_it = req.rules.find(wf);
      int64_t key_limit = rules_it == req.rules.end() ? 0 : rules_it->second.key_limit;
      if (key_limit > 0) count_keys(wf);
      int64_t want = static_cast<int64_t>(req.limit - picks.size());
      auto& first = conn_.prepare(sql::kFirstQueuedKey);
      first.bind(1, wf);
      std::optional<std::string> key;
      if (first.executeStep()) key = first.getColumn(0).getString();
      first.reset();
      while (key) {
        int64_t take = key_limit > 0 ? std::min(want, key_limit - count_key(wf, *key)) : want;
        if (take > 0) {
          auto& q = conn_.prepare(of_key_sql.c_str());
          q.bind(2, *key);
          read_after(q, wf, take);
        } else {
          out.limited = true;  // a full key's runs wait for a slot
        }
        auto& next = conn_.prepare(sql::kNextQueuedKey);
        next.bind(1, wf);
        next.bind(2, *key);
        key.reset();
        if (next.executeStep()) key = next.getColumn(0).getString();
        next.reset();
      }
      int64_t page = static_cast<int64_t>(std::min<size_t>(budget, kPage));
      if (page > 0) {
        auto& q = conn_.prepare(without_key_sql.c_str());
        size_t before = found.size();
        read_after(q, wf, page);
        budget -= std::min(budget, found.size() - before);
      }
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
      if (a.second.info.priority != b.second.info.priority) {
        return a.second.info.priority > b.second.info.priority;
      }
      if (a.second.available_at_ms != b.second.available_at_ms) {
        return a.second.available_at_ms < b.second.available_at_ms;
      }
      return a.first < b.first;
    });
    for (auto& [seq, run] : found) {
      if (picks.size() >= req.limit) break;
      consider(std::move(run));
    }
  }
  auto& update = conn_.prepare(
      "UPDATE runs SET status = 'running', lease_owner = ?1, updated_at = ?2, "
      "concurrency_key = ?3, throttle_key = ?4, "
      "started_at = CASE WHEN started_at = 0 THEN ?2 ELSE started_at END, "
      "deadline_at = CASE WHEN deadline_at = 0 AND ?5 > 0 THEN ?2 + ?5 ELSE deadline_at END "
      "WHERE id = ?6 AND status = 'queued' RETURNING deadline_at, started_at");
  for (auto& p : picks) {
    update.reset();
    update.clearBindings();
    update.bind(1, req.owner);
    update.bind(2, req.now_ms);
    if (p.keys.concurrency) update.bind(3, *p.keys.concurrency); else update.bind(3);
    if (p.keys.throttle) update.bind(4, *p.keys.throttle); else update.bind(4);
    update.bind(5, p.timeout_ms);
    update.bind(6, p.run.info.id);
    if (!update.executeStep()) continue;
    p.run.deadline_at_ms = update.getColumn(0).getInt64();
    p.run.started_at_ms = update.getColumn(1).getInt64();
    update.reset();
    p.run.info.status = RunStatus::running;
    p.run.lease_owner = req.owner;
    p.run.info.updated_at_ms = req.now_ms;
    out.runs.push_back(std::move(p.run));
  }
  return out;
}

}  // namespace storyloom::store::sqlite
