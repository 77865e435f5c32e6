#include "engine/engine_core.h"

#include <algorithm>

#include "engine/concurrency.h"
#include "engine/execution_state.h"
#include "engine/run_budget.h"
#include "engine/run_page.h"
#include "engine/validate.h"
#include "store/row_codec.h"
#include "store/shared_resources.h"

// The engine's operations on runs: start, signal, cancel, retry, remove,
// priority. Each one is a batch the writer commits before the call returns.

namespace storyloom::detail {
namespace {

bool waits_for(const std::string& waiting_for, const std::string& what) {
  size_t start = 0;
  while (start <= waiting_for.size()) {
    size_t end = waiting_for.find('\n', start);
    if (end == std::string::npos) end = waiting_for.size();
    if (waiting_for.compare(start, end - start, what) == 0) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

// ---- operations ----

store::RunRecord EngineCore::new_run(std::string_view workflow, Json input,
                                     const StartOptions& options) {
  check_name("workflow name", workflow);
  check_key("idempotency key", options.idempotency_key);
  check_key("owner", options.owner);
  // As Engine::start does: start_many and start_async come here without it.
  check_no_control("owner", options.owner);
  check_no_control("idempotency key", options.idempotency_key);
  check_object("run input", input);
  checked_json_text("run input", input, options_);  // hardening: + depth limit
  store::RunRecord run;
  run.info.id = new_run_id();
  run.info.workflow = std::string(workflow);
  run.info.status = RunStatus::queued;
  run.info.input = std::move(input);
  run.info.owner = options.owner;
  run.info.idempotency_key = options.idempotency_key;
  run.info.priority = options.priority;
  check_budget(options.budget);
  run.info.budget = options.budget;
  if (!options.trace_parent.empty() && !is_trace_parent(options.trace_parent)) {
    throw Error(ErrorCode::invalid_argument,
                "trace_parent '" + options.trace_parent.substr(0, 64) +
                    "' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)");
  }
  run.info.trace_parent = options.trace_parent;
  // The keys claims count, stored now that this engine knows the options:
  // claims then reach the queued runs of a key with a free slot by index.
  run.start_keys = run_keys(workflow_options(workflow), run.info.input);
  return run;
}

RunInfo EngineCore::start(std::string_view workflow, Json input, const StartOptions& options) {
  store::RunRecord run = new_run(workflow, std::move(input), options);
  bool local = has_workflow(workflow);
  // Fast path: with a free slot and nothing queued before it, the run starts
  // running in the same commit that creates it and is dispatched right after.
  // Limited workflows always go through the claim, where the limits are counted.
  bool direct = reserve_direct_start(workflow, run.info.id, local);
  RunInfo result;
  std::shared_ptr<ExecutionState> started;
  try {
    writer_->run([&](Batch& b) {
      start_op(b, run, direct, local, result, started);
    }, Writer::Isolation::contained);
  } catch (...) {
    if (direct) execution_finished(run.info.id);
    throw;
  }
  if (direct) {
    if (started) {
      dispatch(std::move(started));
    } else {
      execution_finished(run.info.id);  // an existing run was returned
    }
  }
  return result;
}

std::vector<StartResult> EngineCore::start_many(std::vector<StartRequest> requests) {
  std::vector<StartResult> results(requests.size());
  std::vector<Writer::Op> ops;
  std::vector<size_t> op_index;  // ops[k] starts requests[op_index[k]]
  auto runs = std::make_shared<std::vector<store::RunRecord>>();
  runs->reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      runs->push_back(new_run(requests[i].workflow, std::move(requests[i].input),
                              requests[i].options));
    } catch (const Error& e) {
      results[i].error = e;
      continue;
    }
    op_index.push_back(i);
  }
  for (size_t k = 0; k < runs->size(); ++k) {
    bool local = has_workflow((*runs)[k].info.workflow);
    ops.push_back([this, runs, k, local, &results, &op_index](Batch& b) {
      std::shared_ptr<ExecutionState> none;
      RunInfo info;
      start_op(b, (*runs)[k], /*direct=*/false, local, info, none);
      results[op_index[k]].run = std::move(info);
    });
  }
  auto errors = writer_->run_many(std::move(ops), Writer::Isolation::contained);
  for (size_t k = 0; k < errors.size(); ++k) {
    if (!errors[k]) continue;
    auto& result = results[op_index[k]];
    result.run.reset();
    try {
      std::rethrow_exception(errors[k]);
    } catch (const Error& e) {
      result.error = e;
    }
  }
  return results;
}

std::vector<std::optional<Error>> EngineCore::signal_many(std::vector<SignalRequest> signals) {
  std::vector<std::optional<Error>> results(signals.size());
  std::vector<Writer::Op> ops;
  std::vector<size_t> op_index;
  for (size_t i = 0; i < signals.size(); ++i) {
    try {
      check_name("signal name", signals[i].name);
      checked_json_text("signal payload", signals[i].payload, options_);  // + depth, as signal()
    } catch (const Error& e) {
      results[i] = e;
      continue;
    }
    op_index.push_back(i);
    ops.push_back([this, &signals, i](Batch& b) { signal_op(b, signals[i]); });
  }
  auto errors = writer_->run_many(std::move(ops), Writer::Isolation::contained);
  for (size_t k = 0; k < errors.size(); ++k) {
    if (!errors[k]) continue;
    try {
      std::rethrow_exception(errors[k]);
    } catch (const Error& e) {
      results[op_index[k]] = e;
    }
  }
  return results;
}

bool EngineCore::reserve_direct_start(std::string_view workflow, const std::string& run_id,
                                      bool local) {
  return local && launched() && !has_limits(workflow_options(workflow)) && reserve_slot(run_id);
}

bool EngineCore::reserve_slot(const std::string& run_id) {
  std::lock_guard lock(sched_mutex_);
  if (stopping_ || backlog_ ||
      inflight_.size() + claiming_ >= static_cast<size_t>(options_.max_executions)) {
    return false;
  }
  inflight_[run_id];  // an empty entry holds the slot until the execution exists
  return true;
}

// Contained (Writer::Isolation): every check comes before the run's insert,
// and a taken key undoes only that insert.
void EngineCore::start_op(Batch& b, store::RunRecord& run, bool direct, bool local, RunInfo& result,
                          std::shared_ptr<ExecutionState>& started) {
  {
    // Another process may execute it: any engine on the store that registered it.
    if (!local && !b.tx.workflow_known(run.info.workflow)) {
      throw Error(ErrorCode::not_found, "workflow '" + run.info.workflow +
                                            "' is not registered by any engine on this store");
    }
    if (!run.info.idempotency_key.empty()) {
      if (auto existing = b.tx.find_run_by_key(run.info.idempotency_key)) {
        if (existing->info.workflow != run.info.workflow) {
          throw Error(ErrorCode::invalid_argument,
                      "idempotency key '" + run.info.idempotency_key +
                          "' belongs to a run of workflow '" + existing->info.workflow + "'");
        }
        result = existing->info;
        return;
      }
    }
    run.info.created_at_ms = run.info.updated_at_ms = run.available_at_ms = b.now_ms;
    if (direct) {
      run.info.status = RunStatus::running;
      run.lease_owner = engine_id_;
    }
    try {
      b.tx.insert_run(run);
    } catch (const Error& e) {
      // Another process inserted a run with this key after the lookup above
      // (on PostgreSQL writers do not take turns): that run is the answer.
      std::optional<store::RunRecord> existing;
      if (e.code() == ErrorCode::invalid_argument && !run.info.idempotency_key.empty()) {
        existing = b.tx.find_run_by_key(run.info.idempotency_key);
      }
      if (!existing || existing->info.workflow != run.info.workflow) throw;
      result = existing->info;
      return;
    }
    b.event(run.info.id, "run.created",
            boost::json::object{{"workflow", run.info.workflow}, {"input", run.info.input}});
    result = run.info;
    if (direct) {
      b.event(run.info.id, "run.started", boost::json::object{{"engine", engine_id_}});
      run.first_start = true;  // executed at its start, with no claim
      started = std::make_shared<ExecutionState>(shared_from_this(), run,
                                                  std::vector<store::StepRecord>{},
                                                  retry_policy(run.info.workflow));
      std::lock_guard lock(sched_mutex_);
      inflight_[run.info.id] = started;
    } else {
      b.after_commit([this] { wake_scheduler(); });
    }
  }
}

size_t EngineCore::retry_failed(const RunFilter& filter, std::vector<std::string>* unreadable) {
  if (filter.status && *filter.status != RunStatus::failed) {
    throw Error(ErrorCode::invalid_argument,
                std::string("retry by filter takes failed runs only; the filter asks for ") +
                    to_string(*filter.status) + " runs");
  }
  store::ListQuery q = list_query(filter);
  q.status = RunStatus::failed;
  q.limit = 500;
  size_t retried = 0;
  for (;;) {
    size_t batch = 0;
    size_t rows = 0;
    writer_->run([&](Batch& b) {
      int64_t last_seq = 0;
      auto runs = b.tx.list_runs(q, &last_seq);
      rows = runs.size();
      for (auto& run : runs) {
        if (!run.info.unreadable.empty()) {  // hardening: a corrupted row is skipped and reported
          if (unreadable) unreadable->push_back(run.info.id);
          continue;
        }
        requeue_failed(b, run);
        ++batch;
      }
      q.after_seq = last_seq;  // a run that fails again meanwhile is not retried twice
    });
    retried += batch;
    if (rows < q.limit) break;
  }
  if (retried > 0) wake_scheduler();
  return retried;
}

void EngineCore::requeue_failed(Batch& b, store::RunRecord& run) {
  run.info.status = RunStatus::queued;
  run.info.error = nullptr;
  run.info.finished_at_ms = 0;
  run.deadline_at_ms = 0;  // a fresh run timeout from the next start
  run.available_at_ms = run.info.updated_at_ms = b.now_ms;
  b.tx.update_run(run);
  b.tx.delete_retrying_steps(run.info.id);  // the failed step gets fresh attempts
  b.event(run.info.id, "run.retried", boost::json::object{});
}

void EngineCore::remove(std::string_view run_id) {
  writer_->run([&](Batch& b) {
    std::string removed;
    try {
      auto run = must_find(b.tx, run_id);
      if (!is_finished(run.info.status)) {
        throw Error(ErrorCode::invalid_state,
                    "run '" + run.info.id + "' is " + to_string(run.info.status) +
                        "; only finished runs can be deleted (cancel it first)");
      }
      removed = run.info.id;
    } catch (const Error& e) {
      // A row that cannot be decoded can never execute, be retried or be
      // cancelled: deleting it is the way out, whatever its status says.
      store::RunRecord named;
      named.info.id = std::string(run_id);
      std::string unreadable = store::unreadable_run_error(named).what();
      if (e.code() != ErrorCode::store || std::string_view(e.what()).rfind(unreadable, 0) != 0) throw;
      removed = named.info.id;
    }
    std::vector<std::string> doomed{removed};
    for (size_t i = 0; i < doomed.size(); ++i) {
      for (auto& child : b.tx.children(doomed[i])) doomed.push_back(child);
    }
    for (const auto& id : doomed) b.tx.delete_run(id);
  });
}

void EngineCore::cancel_tree(Batch& b, store::RunRecord& run, std::vector<std::string>& cancelled) {
  // Text streamed before the cancel is stored before run.cancelled, which stays the run's last event.
  write_chunk_events(b, *hub_, hub_->take_chunks(run.info.id));
  run.info.status = RunStatus::cancelled;
  run.info.finished_at_ms = run.info.updated_at_ms = b.now_ms;
  run.lease_owner.clear();
  run.wake_at_ms = 0;
  run.waiting_for.clear();
  b.tx.update_run(run);
  b.event(run.info.id, "run.cancelled", boost::json::object{});
  cancelled.push_back(run.info.id);
  for (const auto& child_id : b.tx.children(run.info.id)) {
    auto child = b.tx.find_run(child_id);
    if (child && !is_finished(child->info.status)) cancel_tree(b, *child, cancelled);
  }
}

void EngineCore::cancel(std::string_view run_id) {
  writer_->run([&](Batch& b) {
    auto run = must_find(b.tx, run_id);
    if (is_finished(run.info.status)) {
      throw Error(ErrorCode::invalid_state, "run '" + run.info.id + "' is already " +
                                                to_string(run.info.status) + "; it cannot be cancelled");
    }
    std::vector<std::string> cancelled;
    cancel_tree(b, run, cancelled);
    wake_parent(b, run);
    b.after_commit([this, cancelled] { stop_inflight(cancelled); });
  });
}

void EngineCore::stop_inflight(const std::vector<std::string>& run_ids) {
  std::vector<std::shared_ptr<ExecutionState>> states;
  {
    std::lock_guard lock(sched_mutex_);
    for (const auto& id : run_ids) {
      auto it = inflight_.find(id);
      if (it == inflight_.end()) continue;
      if (auto state = it->second.lock()) states.push_back(std::move(state));
    }
  }
  for (auto& state : states) state->mark_cancelled();
}

std::vector<std::string> EngineCore::cancel_many(const RunFilter& filter) {
  if (filter.status && is_finished(*filter.status)) {
    throw Error(ErrorCode::invalid_argument,
                std::string("cancel by filter takes unfinished runs only; the filter asks for ") +
                    to_string(*filter.status) + " runs");
  }
  store::ListQuery q = list_query(filter);
  q.unfinished_only = true;
  q.limit = 500;
  std::vector<std::string> matched;
  for (;;) {
    size_t batch = 0;
    writer_->run([&](Batch& b) {
      int64_t last_seq = 0;
      std::vector<std::string> cancelled;
      for (auto& listed : b.tx.list_runs(q, &last_seq)) {
        ++batch;
        // An earlier run of this page may have cancelled it as its child.
        auto run = b.tx.find_run(listed.info.id);
        if (!run || is_finished(run->info.status)) continue;
        cancel_tree(b, *run, cancelled);
        wake_parent(b, *run);
        matched.push_back(run->info.id);
      }
      q.after_seq = last_seq;
      b.after_commit([this, cancelled] { stop_inflight(cancelled); });
    });
    if (batch < q.limit) break;
  }
  return matched;
}

void EngineCore::set_priority(std::string_view run_id, int priority) {
  writer_->run([&](Batch& b) {
    auto run = must_find(b.tx, run_id);
    if (run.info.status != RunStatus::queued) {
      throw Error(ErrorCode::invalid_state, "run '" + run.info.id + "' is " +
                                                to_string(run.info.status) +
                                                "; its priority can only be changed while it is queued");
    }
    int previous = run.info.priority;
    run.info.priority = priority;
    run.info.updated_at_ms = b.now_ms;
    b.tx.update_run(run);
    b.event(run.info.id, "run.priority",
            boost::json::object{{"priority", priority}, {"previous", previous}});
    b.after_commit([this] { wake_scheduler(); });
  });
}

void EngineCore::signal(std::string_view run_id, std::string_view name, Json payload, bool once) {
  check_name("signal name", name);
  checked_json_text("signal payload", payload, options_);
  SignalRequest request{std::string(run_id), std::string(name), std::move(payload), once};
  writer_->run([&](Batch& b) { signal_op(b, request); }, Writer::Isolation::contained);
}

// Contained (Writer::Isolation): it refuses before it writes.
void EngineCore::signal_op(Batch& b, const SignalRequest& request) {
  std::string_view run_id = request.run_id;
  std::string_view name = request.name;
  const Json& payload = request.payload;
  std::string text = boost::json::serialize(payload);
  {
    auto run = must_find(b.tx, run_id);
    if (is_finished(run.info.status)) {
      throw Error(ErrorCode::invalid_state, "run '" + run.info.id + "' is already " +
                                                to_string(run.info.status) +
                                                "; signals can only be sent to unfinished runs");
    }
    if (request.once && b.tx.has_signal(run.info.id, std::string(name))) {
      throw Error(ErrorCode::invalid_state,
                  "run '" + run.info.id + "' has already received signal '" + std::string(name) +
                      "'; a signal sent once is delivered to the first sender only");
    }
    bool wakes = run.info.status == RunStatus::waiting &&
                 waits_for(run.waiting_for, "signal:" + std::string(name));
    store::SignalRecord signal{0, run.info.id, std::string(name), text};
    // The wait's outcome is recorded with the signal that satisfies it: the
    // run's oldest pending wait for this name completes with the payload and
    // reads the signal, in this transaction. The run's next execution finds
    // the wait completed on replay and goes past it with no write of its own
    // (it would otherwise read the mailbox, then wait for the commit of the
    // signal's consumption before the workflow could see it, rule 7). A run
    // waiting without such a step (none is expected) finds it in the mailbox.
    Json result;
    std::optional<int64_t> wait_seq;
    if (wakes) {
      result = boost::json::object{{"signal", payload}};
      wait_seq = b.tx.complete_pending_wait(run.info.id, "signal", signal.name,
                                            boost::json::serialize(result), b.now_ms);
    }
    if (wait_seq) signal.consumed_seq = *wait_seq;
    b.tx.insert_signal(signal, b.now_ms);
    b.event(run.info.id, "signal.received",
            boost::json::object{{"name", name}, {"payload", payload}});
    if (wait_seq) {
      b.event(run.info.id, "step.completed",
              boost::json::object{{"seq", *wait_seq}, {"name", name}, {"kind", "signal"},
                                  {"result", std::move(result)}});
    }
    if (wakes) {
      run.info.status = RunStatus::queued;
      run.available_at_ms = run.info.updated_at_ms = b.now_ms;
      run.wake_at_ms = 0;
      run.waiting_for.clear();
      b.tx.resume_parked(run);
      b.event(run.info.id, "run.resumed", boost::json::object{{"reason", "signal"}, {"name", name}});
      b.after_commit([this] { wake_scheduler(); });
    }
  }
}

void EngineCore::retry(std::string_view run_id) {
  writer_->run([&](Batch& b) {
    auto run = must_find(b.tx, run_id);
    if (run.info.status != RunStatus::failed) {
      throw Error(ErrorCode::invalid_state, "run '" + run.info.id + "' is " +
                                                to_string(run.info.status) +
                                                "; only failed runs can be retried");
    }
    requeue_failed(b, run);
    b.after_commit([this] { wake_scheduler(); });
  });
}

void EngineCore::wake_parent(Batch& b, const store::RunRecord& child) {
  wake_parent(b, child.info.id, child.info.parent_id);
}

void EngineCore::wake_parent(Batch& b, const std::string& child_id, const std::string& parent_id) {
  if (parent_id.empty()) return;
  auto parent = b.tx.find_run(parent_id);
  if (!parent || parent->info.status != RunStatus::waiting ||
      !waits_for(parent->waiting_for, "child:" + child_id)) {
    return;
  }
  parent->info.status = RunStatus::queued;
  parent->available_at_ms = parent->info.updated_at_ms = b.now_ms;
  parent->wake_at_ms = 0;
  parent->waiting_for.clear();
  b.tx.update_run(*parent);
  b.event(parent->info.id, "run.resumed",
          boost::json::object{{"reason", "child"}, {"child_id", child_id}});
  b.after_commit([this] { wake_scheduler(); });
}
}  // namespace storyloom::detail
