// PgTx: claims. Runs are taken in queue order (priority, available_at, seq)
// with FOR UPDATE SKIP LOCKED, so engines on many machines claim at once
// without waiting for each other. The limits of a workflow (max_running,
// concurrency keys, throttles) are counted from the runs table under a
// transaction-scoped advisory lock of that workflow, held until the claim
// commits, so two engines cannot both take its last slot. The lock is only
// tried: a workflow another engine is claiming right now is left for this
// round (its runs count as held back by a limit, and the engine asks again
// when a run ends, or at its next poll), so a claim never waits and never
// deadlocks.
#include <boost/json.hpp>

#include <algorithm>
#include <climits>
#include <map>
#include <set>

#include "store/pg_tx.h"

namespace storyloom::store::pg {
namespace {

std::vector<std::string> names_of(const std::string& json_array) {
  std::vector<std::string> names;
  boost::json::value parsed = boost::json::parse(json_array);
  for (const auto& v : parsed.as_array()) names.emplace_back(v.as_string());
  return names;
}

void queue_order(std::vector<std::pair<int64_t, RunRecord>>& runs) {
  std::stable_sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) {
    if (a.second.info.priority != b.second.info.priority) {
      return a.second.info.priority > b.second.info.priority;
    }
    if (a.second.available_at_ms != b.second.available_at_ms) {
      return a.second.available_at_ms < b.second.available_at_ms;
    }
    return a.first < b.first;
  });
}

}  // namespace

bool PgTx::try_lock_workflow(const std::string& workflow) {
  return conn_
             .query("SELECT pg_try_advisory_xact_lock(hashtext('storyloom.claim.' || "
                    "current_schema()), hashtext($1))",
                    {workflow})
             .text(0, 0) == "t";
}

ClaimResult PgTx::claim_runs(const ClaimRequest& req) {
  if (req.rules.empty()) return claim_unlimited(req);
  ClaimResult out = claim_limited(req);
  fail_unreadable(out.runs, req.now_ms);
  hold_claimed(out.runs, held_runs_of(out.runs));
  return out;
}

namespace {

// The engine appends each claimed run's run.started and reads its steps
// next: the UPDATE that claimed them holds their row locks already, and one
// query reads the steps of all (rather than a lock and a read per run), and
// another their last event ids (append_event). The runs are named by a set:
// either listed ($1, a text array), or the ones an unlimited claim took,
// named before its answer is back: this engine's ($1) running runs updated
// at the claim's time ($2), which a statement after the claim's, in its
// transaction, sees (runs of its claimed earlier in the same millisecond come
// too, and are ignored).
enum class Held { listed, just_claimed };

std::string held_set(Held held) {
  if (held == Held::listed) return "SELECT unnest($1::text[])";
  return "SELECT id FROM runs WHERE status = 'running' AND lease_owner = $1 AND "
         "updated_at = $2::bigint";
}

// One statement per set, prepared once per connection (keyed by the
// address of its text, which lives as long as the process).
Statement for_each_set(const std::string (&sql)[2], Held held, Params params) {
  return Statement{sql[static_cast<int>(held)].c_str(), {}, std::move(params)};
}

Statement steps_of(Held held, Params params) {
  auto text = [](Held h) {
    return "SELECT run_id, seq, name, kind, status, result, wake_at, child_id, completed_at, "
           "attempts FROM steps WHERE run_id IN (" +
           held_set(h) + ") ORDER BY run_id, seq";
  };
  static const std::string sql[2] = {text(Held::listed), text(Held::just_claimed)};
  return for_each_set(sql, held, std::move(params));
}

// The transaction's id is read only if it has one (a claim that took
// nothing has none, and reading it would give it one).
Statement last_events_of(Held held, Params params) {
  auto text = [](Held h) {
    return "SELECT pg_current_xact_id_if_assigned()::text::bigint, r.id, (SELECT "
           "coalesce(max(e.id), 0) FROM events e WHERE e.run_id = r.id) FROM (" +
           held_set(h) + ") AS r(id)";
  };
  static const std::string sql[2] = {text(Held::listed), text(Held::just_claimed)};
  return for_each_set(sql, held, std::move(params));
}

}  // namespace

std::vector<Result> PgTx::held_runs_of(const std::vector<RunRecord>& runs) {
  if (runs.empty()) return {};
  std::vector<std::string> ids;
  for (const auto& run : runs) ids.push_back(run.info.id);
  Params listed{text_array(ids)};
  return conn_.query_each({steps_of(Held::listed, listed), last_events_of(Held::listed, listed)});
}

// `held`: the answers of steps_of and last_events_of for these runs (and
// perhaps others, which are ignored).
void PgTx::hold_claimed(const std::vector<RunRecord>& runs, const std::vector<Result>& held) {
  claimed_steps_.clear();
  if (runs.empty()) return;
  for (const auto& run : runs) {
    locked_runs_.insert(run.info.id);
    claimed_steps_[run.info.id];
  }
  const Result& r = held[0];
  for (int i = 0; i < r.rows(); ++i) {
    auto it = claimed_steps_.find(r.text(i, 0));
    if (it == claimed_steps_.end()) continue;
    it->second.push_back(StepRecord{r.text(i, 0), r.int64(i, 1), r.text(i, 2), r.text(i, 3),
                                    r.text(i, 4), r.text(i, 5), r.int64(i, 6), r.text(i, 7),
                                    r.int64(i, 8), r.int64(i, 9)});
  }
  const Result& last = held[1];
  for (int i = 0; i < last.rows(); ++i) {
    if (!claimed_steps_.count(last.text(i, 1))) continue;
    xid_ = last.int64(i, 0);
    last_event_[last.text(i, 1)] = last.int64(i, 2);
  }
}

// One round trip: the claim, the steps of the runs it took and their last
// event ids, pipelined (an unlimited claim is one statement, so the
// statements after it can name what it took without its answer).
ClaimResult PgTx::claim_unlimited(const ClaimRequest& req) {
  static const std::string sql =
      std::string("UPDATE runs SET status = 'running', lease_owner = $1, updated_at = $2 ") +
      "WHERE seq IN (SELECT seq FROM runs WHERE status = 'queued' AND available_at <= $2 AND "
      "workflow = ANY($4::text[]) ORDER BY priority DESC, available_at, seq LIMIT $3::bigint "
      "FOR UPDATE SKIP LOCKED) RETURNING seq, " + kRunColumns;
  Params claim{req.owner, p(req.now_ms)};
  auto results = conn_.query_each(
      {Statement{sql.c_str(), {}, {req.owner, p(req.now_ms), p(static_cast<int64_t>(req.limit)),
                                   text_array(names_of(req.workflows_json_array))}},
       steps_of(Held::just_claimed, claim), last_events_of(Held::just_claimed, claim)});
  std::vector<std::pair<int64_t, RunRecord>> runs;
  {
    const Result& r = results[0];
    for (int i = 0; i < r.rows(); ++i) runs.emplace_back(r.int64(i, 0), read_run(r, i, 1));
  }
  queue_order(runs);  // RETURNING gives no order
  ClaimResult out;
  for (auto& [seq, run] : runs) out.runs.push_back(std::move(run));
  fail_unreadable(out.runs, req.now_ms);
  results.erase(results.begin());  // steps_of's and last_events_of's answers are left
  hold_claimed(out.runs, results);
  return out;
}

// As on SQLite (sqlite_claims.cc): the queue in order until kHeldBackWalk
// runs were held back by a limit, then, past them, per workflow the first runs
// of each stored concurrency key with a free slot (runs_queue_key; one
// statement walks the keys) and a page of the runs without a stored key.
ClaimResult PgTx::claim_limited(const ClaimRequest& req) {
  constexpr size_t kMaxScan = 4096;     // bounds one claim; the rest wait for the next
  constexpr size_t kHeldBackWalk = 64;  // held-back runs the queue-order walk reads
  constexpr int64_t kPage = 256;
  // Each page's keyset condition is a filter, not an index bound (the order
  // mixes DESC and ASC), so a page scans the index from the queue's head:
  // pages double, so a claim that scans n runs reads about 2n index entries
  // rather than n²/page.
  int64_t page_size = static_cast<int64_t>(req.limit + kHeldBackWalk);
  ClaimResult out;
  std::vector<std::string> names;
  for (auto& name : names_of(req.workflows_json_array)) {
    if (req.rules.count(name) && !try_lock_workflow(name)) {
      // Nothing of this engine's may end soon to prompt another claim (it may
      // have no run in flight), and the claim holding the lock may leave
      // runs behind: ask again at the next poll, as for a throttle.
      out.limited = true;
      int64_t retry = req.now_ms + 1;
      out.throttle_wake_ms = out.throttle_wake_ms == 0 ? retry : std::min(out.throttle_wake_ms, retry);
      continue;
    }
    names.push_back(std::move(name));
  }
  if (names.empty()) return out;
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
    return running[wf] =
               conn_.query("SELECT count(*) FROM runs WHERE status = 'running' AND workflow = $1", {wf})
                   .int64(0, 0);
  };
  auto count_key = [&](const std::string& wf, const std::string& key) -> int64_t& {
    auto id = std::make_pair(wf, key);
    auto it = running_by_key.find(id);
    if (it != running_by_key.end()) return it->second;
    if (keys_counted.count(wf)) return running_by_key[id] = 0;
    return running_by_key[id] =
               conn_.query("SELECT count(*) FROM runs WHERE status = 'running' AND workflow = $1 AND "
                           "concurrency_key = $2",
                           {wf, key})
                   .int64(0, 0);
  };
  auto starts_of = [&](const std::string& wf, const std::string& key,
                       int64_t since) -> std::vector<int64_t>& {
    auto id = std::make_pair(wf, key);
    auto it = starts.find(id);
    if (it != starts.end()) return it->second;
    Result r = conn_.query(
        "SELECT started_at FROM runs WHERE workflow = $1 AND throttle_key = $2 AND "
        "started_at > $3::bigint ORDER BY started_at",
        {wf, key, p(since)});
    auto& v = starts[id];
    for (int i = 0; i < r.rows(); ++i) v.push_back(r.int64(i, 0));
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
    if (rules.key_limit > 0 && keys.concurrency && count_key(wf, *keys.concurrency) >= rules.key_limit) {
      out.limited = true;
      return false;
    }
    bool first_start = run.started_at_ms == 0;
    if (rules.throttle_limit > 0 && keys.throttle && first_start) {
      auto& v = starts_of(wf, *keys.throttle, req.now_ms - rules.throttle_period_ms);
      if (static_cast<int64_t>(v.size()) >= rules.throttle_limit) {
        int64_t wake = v[v.size() - static_cast<size_t>(rules.throttle_limit)] + rules.throttle_period_ms;
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
      std::string("SELECT seq, ") + kRunColumns +
      " FROM runs WHERE status = 'queued' AND available_at <= $1::bigint AND "
      "workflow = ANY($2::text[]) AND (-priority::bigint, available_at, seq) > "
      "($3::bigint, $4::bigint, $5::bigint) ORDER BY priority DESC, available_at, seq "
      "LIMIT $6::bigint";
  int64_t after_priority = INT64_MIN, after_available = INT64_MIN, after_seq = INT64_MIN;
  size_t scanned = 0, held = 0;
  while (picks.size() < req.limit && scanned < kMaxScan && held < kHeldBackWalk) {
    std::vector<std::string> eligible;
    for (const auto& n : names) {
      if (!full.count(n)) eligible.push_back(n);
    }
    if (eligible.empty()) break;
    Result page = conn_.query(page_sql.c_str(), {p(req.now_ms), text_array(eligible), p(after_priority),
                                                 p(after_available), p(after_seq), p(page_size)});
    for (int row = 0; row < page.rows() && picks.size() < req.limit && held < kHeldBackWalk; ++row) {
      ++scanned;
      after_seq = page.int64(row, 0);
      RunRecord run = read_run(page, row, 1);
      after_priority = -static_cast<int64_t>(run.info.priority);
      after_available = run.available_at_ms;
      if (!consider(std::move(run))) ++held;
    }
    if (page.rows() < page_size) break;
    int64_t left = static_cast<int64_t>(kMaxScan - std::min(scanned, kMaxScan));
    page_size = std::min(page_size * 2, left);  // never past kMaxScan
  }

  // 2. Past the held-back runs, per workflow and after the position reached
  // above: the running count of every key (so the picks below are counted
  // without a query each), the first runs of each stored key with a free slot
  // (at most the key's free slots; a full key gives none and none of its
  // runs is read), and a page of the runs without a stored key. Merged in
  // queue order and considered like the walk's.
  if (picks.size() < req.limit && held >= kHeldBackWalk) {
    static const std::string counts_sql =
        "SELECT concurrency_key, count(*) FROM runs WHERE status = 'running' AND workflow = $1 AND "
        "concurrency_key IS NOT NULL GROUP BY concurrency_key";
    // $1 workflow, $2 now, ($3, $4, $5) position, $6 key limit (0: none), $7 most per key.
    static const std::string of_keys_sql =
        std::string(
            "WITH RECURSIVE queued_keys(k) AS ("
            "(SELECT concurrency_key FROM runs WHERE status = 'queued' AND workflow = $1 AND "
            "concurrency_key IS NOT NULL ORDER BY concurrency_key LIMIT 1) UNION ALL "
            "SELECT (SELECT r.concurrency_key FROM runs r WHERE r.status = 'queued' AND "
            "r.workflow = $1 AND r.concurrency_key > q.k ORDER BY r.concurrency_key LIMIT 1) "
            "FROM queued_keys q WHERE q.k IS NOT NULL) "
            "SELECT h.* FROM queued_keys q CROSS JOIN LATERAL (SELECT seq, ") +
        kRunColumns +
        " FROM runs r WHERE r.status = 'queued' AND r.workflow = $1 AND r.concurrency_key = q.k AND "
        "r.available_at <= $2::bigint AND (-r.priority::bigint, r.available_at, r.seq) > "
        "($3::bigint, $4::bigint, $5::bigint) ORDER BY r.priority DESC, r.available_at, r.seq "
        "LIMIT CASE WHEN $6::bigint = 0 THEN $7::bigint ELSE greatest(0, least($7::bigint, "
        "$6::bigint - (SELECT count(*) FROM runs c WHERE c.status = 'running' AND "
        "c.workflow = $1 AND c.concurrency_key = q.k))) END) h WHERE q.k IS NOT NULL";
    // $1 workflow, $2 now, ($3, $4, $5) position, $6 limit.
    static const std::string without_key_sql =
        std::string("SELECT seq, ") + kRunColumns +
        " FROM runs WHERE status = 'queued' AND workflow = $1 AND concurrency_key IS NULL AND "
        "available_at <= $2::bigint AND (-priority::bigint, available_at, seq) > "
        "($3::bigint, $4::bigint, $5::bigint) ORDER BY priority DESC, available_at, seq "
        "LIMIT $6::bigint";
    int64_t want = static_cast<int64_t>(req.limit - picks.size());
    int64_t page = std::min<int64_t>(kPage, static_cast<int64_t>(kMaxScan - std::min(scanned, kMaxScan)));
    std::vector<Statement> statements;
    std::vector<std::string> counted;
    for (const auto& wf : names) {
      if (full.count(wf)) continue;
      auto rules_it = req.rules.find(wf);
      int64_t key_limit = rules_it == req.rules.end() ? 0 : rules_it->second.key_limit;
      if (key_limit > 0 && !keys_counted.count(wf)) {
        statements.push_back(Statement{counts_sql.c_str(), {}, {wf}});
        counted.push_back(wf);
      }
      statements.push_back(Statement{of_keys_sql.c_str(), {},
                                     {wf, p(req.now_ms), p(after_priority), p(after_available),
                                      p(after_seq), p(key_limit), p(want)}});
      statements.push_back(Statement{without_key_sql.c_str(), {},
                                     {wf, p(req.now_ms), p(after_priority), p(after_available),
                                      p(after_seq), p(page)}});
    }
    std::vector<std::pair<int64_t, RunRecord>> found;
    auto results = conn_.query_each(statements);
    size_t next_count = 0;
    for (size_t i = 0; i < statements.size(); ++i) {
      const Result& r = results[i];
      if (statements[i].sql == counts_sql.c_str()) {
        const std::string& wf = counted[next_count++];
        keys_counted.insert(wf);
        // A count already taken (and raised by the picks above) is kept.
        for (int row = 0; row < r.rows(); ++row) {
          running_by_key.emplace(std::make_pair(wf, r.text(row, 0)), r.int64(row, 1));
        }
        continue;
      }
      for (int row = 0; row < r.rows(); ++row) found.emplace_back(r.int64(row, 0), read_run(r, row, 1));
    }
    queue_order(found);
    for (auto& [seq, run] : found) {
      if (picks.size() >= req.limit) break;
      consider(std::move(run));
    }
  }
  // The pages above were read without locking (a claim of a limited workflow
  // may scan thousands of held-back runs; locking each would write each):
  // only the picks are locked, skipping one another transaction holds, and
  // one claimed meanwhile is no longer queued. Counts taken for a pick that
  // is skipped only hold back more than needed until the next claim.
  for (auto& pick : picks) {
    Result r = conn_.query(
        "UPDATE runs SET status = 'running', lease_owner = $1, updated_at = $2::bigint, "
        "concurrency_key = $3, throttle_key = $4, "
        "started_at = CASE WHEN started_at = 0 THEN $2::bigint ELSE started_at END, "
        "deadline_at = CASE WHEN deadline_at = 0 AND $5::bigint > 0 THEN $2::bigint + $5::bigint "
        "ELSE deadline_at END WHERE seq = (SELECT seq FROM runs WHERE id = $6 AND status = 'queued' "
        "FOR UPDATE SKIP LOCKED) RETURNING deadline_at, started_at",
        {req.owner, p(req.now_ms), pick.keys.concurrency, pick.keys.throttle, p(pick.timeout_ms),
         pick.run.info.id});
    if (r.rows() == 0) continue;
    pick.run.deadline_at_ms = r.int64(0, 0);
    pick.run.started_at_ms = r.int64(0, 1);
    pick.run.info.status = RunStatus::running;
    pick.run.lease_owner = req.owner;
    pick.run.info.updated_at_ms = req.now_ms;
    out.runs.push_back(std::move(pick.run));
  }
  return out;
}

// Claimed runs whose row cannot be decoded are never executed (their input is
// unknown): they fail with a store error and leave the claim result.
void PgTx::fail_unreadable(std::vector<RunRecord>& runs, int64_t now_ms) {
  auto bad = std::stable_partition(runs.begin(), runs.end(),
                                   [](const RunRecord& r) { return r.info.unreadable.empty(); });
  for (auto it = bad; it != runs.end(); ++it) {
    std::string message = "run '" + it->info.id + "' cannot be read from the store: " + it->info.unreadable;
    Json error = boost::json::object{
        {"code", "store"}, {"class", "fatal"}, {"message", message}, {"step", ""}};
    conn_.query(
        "UPDATE runs SET status = 'failed', error = $1, lease_owner = '', finished_at = $2::bigint, "
        "updated_at = $2::bigint WHERE id = $3",
        {boost::json::serialize(error), p(now_ms), it->info.id});
  }
  runs.erase(bad, runs.end());
}

}  // namespace storyloom::store::pg
