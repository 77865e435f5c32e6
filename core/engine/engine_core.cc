#include "engine/engine_core.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "engine/artifact_bytes.h"
#include "engine/concurrency.h"
#include "engine/execution_state.h"
#include "engine/run_budget.h"
#include "engine/run_page.h"
#include "engine/validate.h"
#include "store/shared_resources.h"

namespace storyloom::detail {

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
  // A commit in another process (PostgreSQL NOTIFY) is read at once.
  store_->watch_changes([this] { on_store_change(); });
}


void EngineCore::close(std::chrono::milliseconds drain_timeout) {
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
  auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  closing_ = true;
  store_->watch_changes(nullptr);
  // Built-in steps in flight stop at once (their runs go back to the queue).
  stop_webhooks();
  llm_->close();
  resources_->close();
  sched_wake_.notify_all();
  poller_wake_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  release_ready();  // claimed runs that never began: back to the queue at once
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

}  // namespace storyloom::detail
