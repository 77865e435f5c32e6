#include "engine/engine_core.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "engine/artifact_bytes.h"
#include "engine/concurrency.h"
#include "engine/execution_state.h"
#include "engine/run_budget.h"
#include "engine/run_page.h"
#include "engine/validate.h"
#include "store/row_codec.h"  // hardening: decode_stored_json
#include "store/shared_resources.h"

namespace storyloom::detail {
namespace {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

bool process_alive(int64_t pid) {
  if (pid <= 0) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

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

Json error_json(const Error& error, std::string_view step) {
  boost::json::object out{{"code", to_string(error.code())},
                          {"class", to_string(error.error_class())},
                          {"message", error.what()},
                          {"step", step}};
  if (error.has_origin()) {
    out["origin"] = boost::json::object{{"type", error.origin_type()},
                                        {"trace", error.origin_trace()}};
  }
  return out;
}

Json event_error_json(const Json& error) {
  const auto* o = error.if_object();
  const auto* origin = o ? o->if_contains("origin") : nullptr;
  if (!origin || !origin->is_object() || !origin->as_object().contains("trace")) return error;
  boost::json::object out = *o;
  out["origin"].as_object().erase("trace");
  return out;
}

EngineCore::EngineCore(EngineOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = std::make_shared<SystemClock>();
  if (options_.workers < 1) {
    throw Error(ErrorCode::invalid_argument,
                "workers must be at least 1, got " + std::to_string(options_.workers));
  }
  if (options_.max_executions < 1) {
    throw Error(ErrorCode::invalid_argument,
                "max_executions must be at least 1, got " + std::to_string(options_.max_executions));
  }
  if (options_.max_payload_bytes < 1024) {
    throw Error(ErrorCode::invalid_argument, "max_payload_bytes must be at least 1024");
  }
  if (options_.max_artifact_bytes < 1024) {
    throw Error(ErrorCode::invalid_argument, "max_artifact_bytes must be at least 1024, got " +
                                                 std::to_string(options_.max_artifact_bytes));
  }
  auto positive = [](const char* name, std::chrono::milliseconds value, int64_t minimum) {
    if (value.count() < minimum) {
      throw Error(ErrorCode::invalid_argument, std::string(name) + " must be at least " +
                                                   std::to_string(minimum) + " ms, got " +
                                                   std::to_string(value.count()));
    }
    check_duration_limit(name, value);  // hardening: INT64_MAX must not overflow now + value
  };
  positive("poll_interval", options_.poll_interval, 1);
  positive("lease_ttl", options_.lease_ttl, 1);
  positive("chunk_flush_interval", options_.chunk_flush_interval, 1);
  positive("drain_timeout", options_.drain_timeout, 0);
  if (options_.chunk_flush_bytes < 1) {
    throw Error(ErrorCode::invalid_argument, "chunk_flush_bytes must be at least 1");
  }
  resources_ = std::make_unique<ResourceLimiter>(options_.clock);
  for (const auto& [name, limits] : options_.resources) resources_->configure(name, limits);
  llm_ = std::make_unique<LlmClient>(options_.llm, *resources_, options_.clock,
                                     [](const char* name) { return std::getenv(name); });
  images_ = std::make_unique<ImageProviders>(options_.images, *resources_,
                                             [](const char* name) { return std::getenv(name); });
  std::random_device rd;
  ids_random_.seed((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(getpid()));
  engine_id_ = "e";
  engine_id_.append(new_run_id(), 8, 16);
  store_ = store::open_store(options_.store, store::StoreOptions{options_.durability == Durability::full});
  // Resources are shared by every engine on the store (store/shared_resources.h).
  resources_->share(store_->shared_resources(), engine_id_, options_.lease_ttl);
  int64_t last_id = store_->begin_read()->last_event_id();
  hub_ = std::make_unique<EventHub>([this] { return store_->begin_read(); }, last_id,
                                    [this] { mark_engine_thread(); });
  writer_ = std::make_unique<Writer>(
      *store_, [this] { return now_ms(); },
      [this](std::vector<store::EventRecord>&& events) { hub_->publish(std::move(events)); },
      [this] { mark_engine_thread(); });
  writer_->set_tail([this](Batch& b) { refill_slots(b); });
}

std::shared_ptr<EngineCore> EngineCore::open(EngineOptions options) {
  std::shared_ptr<EngineCore> core(new EngineCore(std::move(options)));
  core->heartbeat();
  core->recover_orphans();
  core->start_threads();
  return core;
}

namespace {
// The engine whose thread this is, so close() can refuse to join itself.
thread_local const EngineCore* tls_engine_thread = nullptr;
// How long close() still waits, past drain_timeout, for worker threads on their
// way out of host code (a workflow that just saw the engine close), so that
// only those really stuck in host code are left behind.
constexpr std::chrono::milliseconds kWorkerExitGrace{100};
}  // namespace

void EngineCore::mark_engine_thread() const { tls_engine_thread = this; }

// Also runs on a worker thread close() left behind, when its execution held
// the last reference: close() has run then, and returns at once.
EngineCore::~EngineCore() { close(); }

void EngineCore::start_threads() {
  // The pool may outlive this core (see close()): mark the threads without touching it.
  workers_ = std::make_unique<WorkerPool>(options_.workers,
                                          [self = this] { tls_engine_thread = self; });
  scheduler_ = std::thread([this] { scheduler_loop(); });
  poller_ = std::thread([this] { poller_loop(); });
  // A commit in another process (PostgreSQL NOTIFY) runs the poller now.
  store_->watch_changes([this] {
    {
      std::lock_guard lock(sched_mutex_);
      store_changed_ = true;
    }
    poller_wake_.notify_all();
  });
}


void EngineCore::close() {
  {
    std::unique_lock lock(sched_mutex_);
    if (stopping_) return;
    if (tls_engine_thread == this) {
      throw Error(ErrorCode::invalid_state,
                  "close() was called from one of the engine's own threads (inside a workflow, "
                  "step or subscription callback); call it from another thread");
    }
    stopping_ = true;
  }
  auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  closing_ = true;
  store_->watch_changes(nullptr);
  // Built-in steps in flight stop at once (their runs go back to the queue).
  stop_webhooks();
  llm_->close();
  resources_->close();
  sched_wake_.notify_all();
  poller_wake_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  // Let executions finish, then put the rest back in the queue.
  std::vector<std::shared_ptr<ExecutionState>> leftovers;
  {
    std::unique_lock lock(sched_mutex_);
    drained_.wait_until(lock, deadline, [this] { return inflight_.empty(); });
    for (auto& [id, weak] : inflight_) {
      if (auto state = weak.lock()) leftovers.push_back(state);
    }
  }
  closed_ = true;
  for (auto& state : leftovers) state->abandon();
  if (poller_.joinable()) poller_.join();
  // A worker still inside host code (a step that ignores the close) is left
  // behind rather than joined, so close keeps to drain_timeout: its execution
  // owns what it needs (this core included), every call it makes from now on
  // is refused, and its run is back in the queue, where the next open finds it.
  if (workers_) {
    workers_->stop(std::max(deadline, std::chrono::steady_clock::now() + kWorkerExitGrace));
  }
  try {
    writer_->submit([id = engine_id_](Batch& b) { b.tx.delete_engine(id); });
  } catch (const Error&) {
  }
  writer_->stop();
  hub_->stop();
  lifecycle_.stop();  // after the last execution's report
}

void EngineCore::register_workflow(std::string_view name, Workflow workflow) {
  check_name("workflow name", name);
  if (workflow.options.retry) validate(*workflow.options.retry);
  validate_limits(workflow.options);
  const WorkflowOptions options = workflow.options;
  {
    std::lock_guard lock(registry_mutex_);
    if (workflows_.count(name)) {
      throw Error(ErrorCode::invalid_argument,
                  "workflow '" + std::string(name) + "' is already registered");
    }
    workflows_.emplace(std::string(name), std::move(workflow));
  }
  heartbeat();  // tells other processes this engine executes it
  publish_limits(name, options);
  wake_scheduler();
}

void EngineCore::publish_limits(std::string_view workflow, const WorkflowOptions& options) {
  if (!options.max_running && !options.concurrency && !options.throttle) return;
  auto shared = store_->shared_resources();
  if (!shared) return;
  store::WorkflowLimitsRow row;
  row.workflow = std::string(workflow);
  row.max_running = options.max_running;
  if (options.concurrency) {
    row.concurrency_key = options.concurrency->key;
    row.key_limit = options.concurrency->limit;
  }
  if (options.throttle) {
    row.throttle_key = options.throttle->key;
    row.throttle_limit = options.throttle->limit;
    row.throttle_period_ms = options.throttle->period.count();
  }
  try {
    shared->publish_workflow_limits(row, now_ms());
  } catch (const Error&) {
    // Only inspectors read these rows (the engine counts limits from its own
    // registration), so a store that cannot take them now must not refuse
    // the registration: the inspector then shows the limit as unknown.
  }
}

void EngineCore::launch() {
  if (closing_) throw Error(ErrorCode::closed, "the engine is closed");
  launched_ = true;
  wake_scheduler();
}

bool EngineCore::workflow_known(std::string_view workflow) {
  if (has_workflow(workflow)) return true;
  return read()->workflow_known(std::string(workflow));
}

void EngineCore::release_later(const std::string& run_id, std::function<void(Batch&)> release) {
  std::lock_guard lock(releases_mutex_);
  releases_[run_id] = std::move(release);
}

void EngineCore::retry_releases() {
  std::map<std::string, std::function<void(Batch&)>> pending;
  {
    std::lock_guard lock(releases_mutex_);
    pending.swap(releases_);
  }
  for (auto& [run, release] : pending) {
    try {
      writer_->run(release);
      wake_scheduler();
    } catch (const Error&) {
      release_later(run, release);  // still failing: next poll
    }
  }
}

WorkflowOptions EngineCore::workflow_options(std::string_view workflow) {
  std::lock_guard lock(registry_mutex_);
  auto it = workflows_.find(workflow);
  return it == workflows_.end() ? WorkflowOptions{} : it->second.options;
}

std::optional<RetryPolicy> EngineCore::retry_policy(std::string_view workflow) {
  std::lock_guard lock(registry_mutex_);
  auto it = workflows_.find(workflow);
  return it == workflows_.end() ? std::nullopt : it->second.options.retry;
}

double EngineCore::jitter01() {
  if (options_.random01) return options_.random01();
  std::lock_guard lock(ids_mutex_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(ids_random_);
}

bool EngineCore::has_workflow(std::string_view name) {
  std::lock_guard lock(registry_mutex_);
  return workflows_.count(name) > 0;
}

std::string EngineCore::workflows_json() {
  std::lock_guard lock(registry_mutex_);
  boost::json::array names;
  for (const auto& [name, wf] : workflows_) names.push_back(boost::json::string(name));
  return boost::json::serialize(names);
}

// 12 hex digits of wall-clock milliseconds, then 12 random ones: unguessable,
// yet new rows land next to each other in every index keyed by run id.
std::string EngineCore::new_run_id() {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  uint64_t random;
  {
    std::lock_guard lock(ids_mutex_);
    random = ids_random_();
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%012llx%012llx",
                static_cast<unsigned long long>(ms) & 0xffffffffffffULL,
                static_cast<unsigned long long>(random) & 0xffffffffffffULL);
  return std::string(buf, 24);
}

store::RunRecord EngineCore::must_find(store::ReadTx& tx, std::string_view run_id) {
  if (run_id.empty()) throw Error(ErrorCode::invalid_argument, "run id is empty");
  auto run = tx.find_run(std::string(run_id));
  if (!run) throw Error(ErrorCode::not_found, "no run with id '" + std::string(run_id) + "'");
  return *run;
}

// ---- operations ----

store::RunRecord EngineCore::new_run(std::string_view workflow, Json input,
                                     const StartOptions& options) {
  check_name("workflow name", workflow);
  check_key("idempotency key", options.idempotency_key);
  check_key("owner", options.owner);
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
    });
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
  auto errors = writer_->run_many(std::move(ops));
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
      checked_json_text("signal payload", signals[i].payload, options_.max_payload_bytes);
    } catch (const Error& e) {
      results[i] = e;
      continue;
    }
    op_index.push_back(i);
    ops.push_back([this, &signals, i](Batch& b) { signal_op(b, signals[i]); });
  }
  auto errors = writer_->run_many(std::move(ops));
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

RunInfo EngineCore::get(std::string_view run_id) {
  auto tx = read();
  return must_find(*tx, run_id).info;
}

RunPage EngineCore::list(const RunFilter& filter) {
  auto tx = read();
  return list_page(*tx, filter);
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
  writer_->run([&](Batch& b) { signal_op(b, request); });
}

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
    b.tx.insert_signal(store::SignalRecord{0, run.info.id, std::string(name), text}, b.now_ms);
    b.event(run.info.id, "signal.received",
            boost::json::object{{"name", name}, {"payload", payload}});
    if (run.info.status == RunStatus::waiting && waits_for(run.waiting_for, "signal:" + std::string(name))) {
      run.info.status = RunStatus::queued;
      run.available_at_ms = run.info.updated_at_ms = b.now_ms;
      run.wake_at_ms = 0;
      run.waiting_for.clear();
      b.tx.update_run(run);
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
  if (child.info.parent_id.empty()) return;
  auto parent = b.tx.find_run(child.info.parent_id);
  if (!parent || parent->info.status != RunStatus::waiting ||
      !waits_for(parent->waiting_for, "child:" + child.info.id)) {
    return;
  }
  parent->info.status = RunStatus::queued;
  parent->available_at_ms = parent->info.updated_at_ms = b.now_ms;
  parent->wake_at_ms = 0;
  parent->waiting_for.clear();
  b.tx.update_run(*parent);
  b.event(parent->info.id, "run.resumed",
          boost::json::object{{"reason", "child"}, {"child_id", child.info.id}});
  b.after_commit([this] { wake_scheduler(); });
}

Snapshot EngineCore::snapshot(std::string_view run_id) {
  auto tx = read();
  Snapshot snap;
  snap.run = must_find(*tx, run_id).info;
  for (auto& s : tx->steps(snap.run.id)) {
    snap.steps.push_back(StepInfo{s.seq, s.name, s.kind, s.status,
                                  store::decode_stored_json(s.result, snap.run.id, "the result of step '" + s.name + "'"),
                                  s.completed_at_ms});
    if (s.kind == "llm" && s.status == "completed") snap.usage.add_llm_result(snap.steps.back().result);
  }
  for (auto& a : tx->artifacts(snap.run.id, true)) {
    snap.artifacts.push_back(artifact_info(a, snap.run.id));
  }
  for (auto& s : tx->chunk_streams(snap.run.id)) {
    snap.streams.push_back(StreamInfo{s.stream, s.attempt_start, s.end_offset});
  }
  snap.last_event_id = tx->last_event_id(snap.run.id);
  return snap;
}

std::vector<ArtifactInfo> EngineCore::artifacts(std::string_view run_id) {
  auto tx = read();
  auto run = must_find(*tx, run_id);
  std::vector<ArtifactInfo> out;
  for (auto& a : tx->artifacts(run.info.id, false)) {
    out.push_back(artifact_info(a, run.info.id));
  }
  return out;
}

ArtifactBytes EngineCore::artifact_bytes(std::string_view run_id, std::string_view key,
                                         int64_t version) {
  auto tx = read();
  auto run = must_find(*tx, run_id);
  return read_artifact_bytes(*tx, run.info.id, key, version);
}

std::vector<Event> EngineCore::events(std::string_view run_id, int64_t after_id, size_t limit) {
  if (after_id < 0) throw Error(ErrorCode::invalid_argument, "after id must not be negative");
  if (limit < 1 || limit > 10000) {
    throw Error(ErrorCode::invalid_argument,
                "limit must be between 1 and 10000, got " + std::to_string(limit));
  }
  auto tx = read();
  auto run = must_find(*tx, run_id);
  std::vector<Event> out;
  for (const auto& r : tx->events(run.info.id, after_id, limit)) out.push_back(to_event(r));
  return out;
}

std::shared_ptr<SubscriptionState> EngineCore::subscribe(std::string_view run_id, int64_t after_id,
                                                         EventCallback callback) {
  if (after_id < 0) throw Error(ErrorCode::invalid_argument, "after id must not be negative");
  if (!callback) throw Error(ErrorCode::invalid_argument, "subscription callback is empty");
  std::string id;
  {
    auto tx = read();
    id = must_find(*tx, run_id).info.id;
  }
  if (closed()) throw Error(ErrorCode::closed, "the engine is closed");
  return hub_->subscribe(id, after_id, std::move(callback), shared_from_this());
}

// ---- workers ----

void EngineCore::dispatch(std::shared_ptr<ExecutionState> state) {
  state->report_run_started();
  Workflow wf;
  {
    std::lock_guard lock(registry_mutex_);
    auto it = workflows_.find(state->workflow());
    if (it != workflows_.end()) wf = it->second;
  }
  workers_->post([state, wf = std::move(wf)]() mutable {
    Execution execution(state);
    if (wf.host_fn) {
      try {
        wf.host_fn(std::move(execution));
      } catch (const std::exception& e) {
        try {
          state->finish_failed(Error(ErrorCode::internal, std::string("workflow host callback threw: ") + e.what()));
        } catch (const Error&) {
        }
      }
      return;
    }
    Context ctx(execution);
    try {
      Json output = wf.sync_fn(ctx, state->input());
      execution.finish_completed(std::move(output));
    } catch (const Parked&) {
      execution.finish_parked();
    } catch (const Error& e) {
      try {
        execution.finish_failed(e);
      } catch (const Error&) {
      }
    } catch (const std::exception& e) {
      try {
        execution.finish_failed(Error(ErrorCode::step_failed, e.what(), ErrorClass::retryable));
      } catch (const Error&) {
      }
    }
  });
}

// ---- the poller: timers, other processes, leases, chunk flushing ----

void EngineCore::poller_loop() {
  mark_engine_thread();
  std::unique_lock lock(sched_mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      poll_once(now_ms());
    } catch (const std::exception&) {
      // A failing store shows up in the operations that use it; keep polling.
    }
    lock.lock();
    poller_wake_.wait_for(lock, options_.poll_interval, [this] { return stopping_ || store_changed_; });
    store_changed_ = false;
  }
  lock.unlock();
  // Flush what is left so no token text is lost.
  for (const auto& run : hub_->runs_with_pending_chunks(INT64_MAX)) {
    std::shared_ptr<ExecutionState> state;
    {
      std::lock_guard guard(sched_mutex_);
      auto it = inflight_.find(run);
      if (it != inflight_.end()) state = it->second.lock();
    }
    if (state) state->flush_chunks();
  }
}

void EngineCore::poll_once(int64_t now) {
  int64_t beat = std::max<int64_t>(options_.lease_ttl.count() / 4, 1);
  if (now - last_heartbeat_ms_ >= beat) {
    heartbeat();
    recover_orphans();
  }
  for (const auto& run : hub_->runs_with_pending_chunks(now - options_.chunk_flush_interval.count())) {
    std::shared_ptr<ExecutionState> state;
    {
      std::lock_guard lock(sched_mutex_);
      auto it = inflight_.find(run);
      if (it != inflight_.end()) state = it->second.lock();
    }
    if (state) state->flush_chunks();
  }
  std::vector<std::shared_ptr<ExecutionState>> running;
  {
    std::lock_guard lock(sched_mutex_);
    for (auto& [id, weak] : inflight_) {
      if (auto state = weak.lock()) running.push_back(std::move(state));
    }
  }
  for (auto& state : running) state->check_step_timeouts(now);
  retry_releases();
  // Events from other processes (and any of ours not yet fanned out).
  bool hint = false;
  for (const auto& e : hub_->catch_up()) {
    if (e.type == "run.cancelled") {
      stop_inflight({e.run_id});
    } else if (e.type == "run.created" || e.type == "run.resumed" || e.type == "run.retried" ||
               e.type == "run.released" || e.type == "run.recovered" ||
               e.type == "run.rewound" || e.type == "run.priority") {
      hint = true;
    } else if (limited_.load() &&
               (e.type == "run.completed" || e.type == "run.failed" || e.type == "run.cancelled" ||
                e.type == "run.sleeping" || e.type == "run.waiting" || e.type == "run.queued")) {
      hint = true;  // another process freed a slot a held-back run may take
    }
  }
  std::optional<int64_t> due;
  std::optional<int64_t> queued_due;
  {
    auto tx = read();
    due = tx->next_parked_ms();
    // Runs that became available since the last claim (a backoff ended); the
    // ones the last claim already saw wait for a slot, not for the poller.
    queued_due = tx->next_queued_ms(last_claim_ms_.load());
  }
  if (queued_due && *queued_due <= now) hint = true;
  int64_t throttle_wake = throttle_wake_ms_.load();
  if (throttle_wake > 0 && throttle_wake <= now) {
    throttle_wake_ms_ = 0;
    hint = true;
  }
  expire_overdue_runs();
  if (due && *due <= now) {
    // Many timers can fall due at once (a rate-limit pause ending, a clock
    // jump): wake them in batches now, each its own commit so other writes
    // interleave, rather than one batch per poll.
    constexpr size_t kWakeBatch = 5000;
    size_t woken = kWakeBatch;
    for (int round = 0; round < 100 && woken == kWakeBatch && !closing_; ++round) {
      writer_->run([&](Batch& b) {
        auto ids = b.tx.wake_due_parked(b.now_ms, kWakeBatch);
        woken = ids.size();
        static const Json kReason = boost::json::object{{"reason", "timer"}};
        for (const auto& id : ids) b.event(id, "run.resumed", kReason);
      });
      wake_scheduler();
    }
    hint = true;
  }
  if (hint) wake_scheduler();
}

void EngineCore::heartbeat() {
  last_heartbeat_ms_ = now_ms();
  std::string names = workflows_json();
  writer_->run([this, &names](Batch& b) {
    b.tx.upsert_engine(engine_id_, getpid(), host_name(), b.now_ms, names);
  });
}

void EngineCore::recover_orphans() {
  std::string host = host_name();
  bool any = false;
  writer_->run([&](Batch& b) {
    std::vector<std::string> live;
    int64_t stale_before = b.now_ms - options_.lease_ttl.count();
    for (const auto& e : b.tx.engines()) {
      bool dead = e.heartbeat_ms < stale_before || (e.host == host && !process_alive(e.pid));
      if (e.id == engine_id_) dead = false;
      if (dead) {
        b.tx.delete_engine(e.id);
      } else {
        live.push_back(e.id);
      }
    }
    for (auto& r : b.tx.running_runs_without(live)) {
      std::string previous = r.lease_owner;
      r.info.status = RunStatus::queued;
      r.lease_owner.clear();
      r.available_at_ms = r.info.updated_at_ms = b.now_ms;
      b.tx.update_run(r);
      b.event(r.info.id, "run.recovered", boost::json::object{{"previous_engine", previous}});
      any = true;
    }
  });
  if (any) wake_scheduler();
}

}  // namespace storyloom::detail
