#include <algorithm>

#include "engine/concurrency.h"
#include "engine/engine_core.h"
#include "engine/execution_state.h"
#include "engine/run_budget.h"
#include "engine/validate.h"
#include "store/row_codec.h"  // hardening: decode_stored_json

namespace storyloom::detail {
namespace {

bool is_reserved_event_type(std::string_view type) {
  return type.rfind("run.", 0) == 0 || type.rfind("step.", 0) == 0 ||
         type.rfind("llm.", 0) == 0 || type.rfind("http.", 0) == 0 ||
         type.rfind("image.", 0) == 0 || type == "chunk" ||
         type == "progress" || type == "artifact" || type == "signal.received";
}

std::string join_lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += '\n';
    out += item;
  }
  return out;
}

store::StepRecord make_step(const std::string& run_id, int64_t seq, std::string_view name,
                            std::string_view kind, std::string_view status,
                            std::string result = "null", int64_t wake_at_ms = 0,
                            std::string child_id = {}) {
  store::StepRecord rec;
  rec.run_id = run_id;
  rec.seq = seq;
  rec.name = std::string(name);
  rec.kind = std::string(kind);
  rec.status = std::string(status);
  rec.result = std::move(result);
  rec.wake_at_ms = wake_at_ms;
  rec.child_id = std::move(child_id);
  return rec;
}

}  // namespace

void write_chunk_events(Batch& b, EventHub& hub, const std::vector<PendingChunk>& chunks) {
  std::string ended;  // the last run found finished, so a batch asks once per run
  for (const auto& c : chunks) {
    if (c.run_id == ended) continue;
    auto lease = b.tx.run_lease(c.run_id);
    if (!lease || is_finished(lease->first)) {
      // Written after the run's end (text streamed in the moment between a
      // cancel's commit and the execution hearing of it): never stored.
      ended = c.run_id;
      hub.discard_chunks(c.run_id);
      continue;
    }
    b.event(c.run_id, "chunk", chunk_data(c.stream, c.offset, c.text, c.attempt_start));
    b.tx.set_chunk_stream(c.run_id, store::ChunkStream{c.stream,
                                                       c.offset + static_cast<int64_t>(c.text.size()),
                                                       c.attempt_start});
  }
}

ExecutionState::ExecutionState(std::shared_ptr<EngineCore> core, store::RunRecord run,
                               std::vector<store::StepRecord> steps,
                               std::optional<RetryPolicy> retry)
    : core_(std::move(core)), run_(std::move(run)), workflow_retry_(retry.value_or(RetryPolicy{})),
      workflow_retry_set_(retry.has_value()),
      started_at_ms_(core_->now_ms()) {
  for (auto& s : steps) {
    last_stored_seq_ = std::max(last_stored_seq_, s.seq);
    stored_.emplace(s.seq, std::move(s));
  }
}

void ExecutionState::report(LifecycleEvent event) const {
  LifecycleReporter& reporter = core_->lifecycle();
  if (!reporter.enabled()) return;
  event.run_id = run_.info.id;
  event.workflow = run_.info.workflow;
  event.trace_parent = run_.info.trace_parent;
  reporter.report(std::move(event));
}

void ExecutionState::report_run_started() {
  LifecycleEvent event;
  event.kind = LifecycleKind::run_started;
  event.started_at_ms = started_at_ms_;
  event.first = run_.first_start;
  report(std::move(event));
}

bool ExecutionState::cancelled() const { return cancelled_.load() || core_->closing(); }

void ExecutionState::check_open() {
  if (lost_) throw *lost_;
  if (finished_) {
    throw Error(ErrorCode::invalid_state,
                "this execution of run '" + run_id() + "' has already finished");
  }
  if (cancelled_) throw Error(ErrorCode::cancelled, "run '" + run_id() + "' was cancelled");
  if (core_->closing()) {
    throw Error(ErrorCode::closed, "the engine is closing; run '" + run_id() +
                                       "' goes back to the queue and resumes when the store is "
                                       "opened again");
  }
}

ExecutionState::Position ExecutionState::next_position(std::string_view name,
                                                       std::string_view kind) {
  check_open();
  check_name("step name", name);
  int64_t seq = next_seq_++;
  step_failure_.reset();  // the workflow went on after a failed step: it caught it
  auto it = stored_.find(seq);
  if (it == stored_.end()) return {seq, nullptr};
  if (it->second.name != name || it->second.kind != kind) {
    Error error(ErrorCode::nondeterminism,
                "replay of run '" + run_id() + "' called " + std::string(kind) + " '" +
                    std::string(name) + "' at position " + std::to_string(seq) +
                    ", but the run recorded " + it->second.kind + " '" + it->second.name +
                    "' there; a workflow must call its steps in the same order every time");
    record_failure(error, name);
    throw error;
  }
  return {seq, &it->second};
}

void ExecutionState::record_failure(const Error& error, std::string_view step) {
  if (!failure_) failure_ = error_json(error, step);
}

Error ExecutionState::stored_step_error(const store::StepRecord& step) const {
  Json data = store::decode_stored_json(step.result, run_id(), "the error of step '" + step.name + "'");
  const auto* o = data.if_object();
  auto text = [&](const char* key) -> std::string {
    const auto* v = o ? o->if_contains(key) : nullptr;
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  ErrorCode code = ErrorCode::step_failed;
  for (int c = 0; c <= static_cast<int>(ErrorCode::budget_exceeded); ++c) {
    if (text("code") == to_string(static_cast<ErrorCode>(c))) code = static_cast<ErrorCode>(c);
  }
  ErrorClass error_class = ErrorClass::fatal;
  for (int c = 0; c <= static_cast<int>(ErrorClass::timeout); ++c) {
    if (text("class") == to_string(static_cast<ErrorClass>(c))) {
      error_class = static_cast<ErrorClass>(c);
    }
  }
  std::string message = text("message");
  if (message.empty()) message = "step '" + step.name + "' failed";
  Error error(code, message, error_class);
  const auto* origin = o ? o->if_contains("origin") : nullptr;
  if (origin && origin->is_object()) {
    auto field = [&](const char* key) -> std::string_view {
      const auto* v = origin->as_object().if_contains(key);
      return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
    };
    return std::move(error).with_origin(field("type"), field("trace"));
  }
  return error;
}

StepBegin ExecutionState::begin_step(std::string_view name, std::optional<RetryPolicy> retry) {
  if (retry) validate(*retry);
  // No step body begins before every earlier write of the run is committed
  // (a host that waited with when_durable finds nothing pending here).
  wait_durable();
  std::lock_guard lock(mutex_);
  auto pos = next_position(name, "step");
  StepBegin out;
  out.seq = pos.seq;
  if (pos.stored && pos.stored->status == "completed") {
    out.memoized = true;
    out.result = store::decode_stored_json(pos.stored->result, run_id(), "the result of step '" + pos.stored->name + "'");  // hardening
    return out;
  }
  // A step that failed for good fails the same way on replay, so a workflow
  // that caught it takes the same path again.
  if (pos.stored && pos.stored->status == "failed") {
    Error error = stored_step_error(*pos.stored);
    step_failure_ = error_json(error, pos.stored->name);
    throw error;
  }
  out.attempt = begin_attempt(pos, name, "step", retry);
  return out;
}

int ExecutionState::begin_attempt(const Position& pos, std::string_view name,
                                  std::string_view kind, const std::optional<RetryPolicy>& retry) {
  int64_t failed_before = pos.stored ? pos.stored->attempts : 0;
  if (retry) step_retry_[pos.seq] = *retry;
  int64_t timeout = (retry ? *retry : workflow_retry_).timeout.count();
  if (timeout > 0) step_deadlines_[pos.seq] = StepDeadline{core_->now_ms() + timeout, timeout};
  // Remember the name (and the attempts so far) until the step completes or fails.
  auto rec = make_step(run_id(), pos.seq, name, kind, "begun");
  rec.attempts = failed_before;
  stored_[pos.seq] = rec;
  int attempt = static_cast<int>(failed_before) + 1;
  int64_t now = core_->now_ms();
  attempt_started_ms_[pos.seq] = now;
  LifecycleEvent event;
  event.kind = LifecycleKind::step_started;
  event.step = std::string(name);
  event.seq = pos.seq;
  event.step_kind = std::string(kind);
  event.attempt = attempt;
  event.started_at_ms = now;
  report(std::move(event));
  return attempt;
}

void ExecutionState::complete_step(int64_t seq, Json result) {
  HeldResources held;
  std::lock_guard lock(mutex_);
  if (finished_ && core_->closed()) {
    // close() gave up on this execution: the result is not stored.
    auto begun = stored_.find(seq);
    std::string step = begun == stored_.end() ? "a step" : "step '" + begun->second.name + "'";
    throw Error(ErrorCode::closed, "the engine closed before " + step + " of run '" + run_id() +
                                       "' completed; its result is dropped and the step runs "
                                       "again when the store is opened again");
  }
  if (finished_) {
    throw Error(ErrorCode::invalid_state,
                "this execution of run '" + run_id() + "' has already finished");
  }
  auto it = stored_.find(seq);
  if (it == stored_.end() || it->second.status != "begun") {
    throw Error(ErrorCode::invalid_argument,
                "step position " + std::to_string(seq) + " of run '" + run_id() +
                    "' was not begun by this execution or is already finished");
  }
  auto& rec = it->second;
  step_deadlines_.erase(seq);
  held = take_resources_locked(seq);
  rec.result = checked_json_text("result of step '" + rec.name + "'", result,
                                 core_->options());  // hardening: + depth limit
  rec.status = "completed";
  rec.completed_at_ms = core_->now_ms();
  {
    LifecycleEvent event;
    event.kind = LifecycleKind::step_finished;
    event.step = rec.name;
    event.seq = seq;
    event.step_kind = rec.kind;
    event.attempt = static_cast<int>(rec.attempts) + 1;
    event.started_at_ms = attempt_started_ms_[seq];
    event.ended_at_ms = rec.completed_at_ms;
    attempt_started_ms_.erase(seq);
    if (const auto* o = result.if_object(); o && rec.kind == "llm") {
      if (const auto* m = o->if_contains("model"); m && m->is_string()) {
        event.model = std::string(m->as_string());
      }
      if (const auto* u = o->if_contains("usage")) event.usage = *u;
    }
    report(std::move(event));
  }
  submit_locked([rec, result = std::move(result)](Batch& b) {
    if (b.tx.upsert_step(rec)) {
      b.event(rec.run_id, "step.completed",
              boost::json::object{{"seq", rec.seq}, {"name", rec.name}, {"result", result}});
    }
  });
}

StepFailure ExecutionState::fail_step(int64_t seq, const Error& error) {
  HeldResources held;
  std::lock_guard lock(mutex_);
  auto it = stored_.find(seq);
  if (it == stored_.end() || it->second.status != "begun") {
    throw Error(ErrorCode::invalid_argument,
                "step position " + std::to_string(seq) + " of run '" + run_id() +
                    "' was not begun by this execution or is already finished");
  }
  auto& rec = it->second;
  step_deadlines_.erase(seq);
  held = take_resources_locked(seq);
  // The provider said "not before": every use of the step's resources waits.
  if (error.error_class() == ErrorClass::rate_limited && error.retry_after_ms() > 0) {
    for (const auto& permit : held.permits) {
      core_->resources().pause_until(permit.resource(), core_->now_ms() + error.retry_after_ms());
    }
  }
  StepFailure out;
  out.attempt = static_cast<int>(rec.attempts) + 1;
  auto policy_it = step_retry_.find(seq);
  const RetryPolicy& policy = policy_it != step_retry_.end() ? policy_it->second : workflow_retry_;
  out.will_retry = error.error_class() != ErrorClass::fatal && out.attempt < policy.max_attempts &&
                   !finished_ && !cancelled();
  {
    LifecycleEvent event;
    event.kind = LifecycleKind::step_failed;
    event.step = rec.name;
    event.seq = seq;
    event.step_kind = rec.kind;
    event.attempt = out.attempt;
    event.started_at_ms = attempt_started_ms_[seq];
    event.ended_at_ms = core_->now_ms();
    event.error_class = to_string(error.error_class());
    event.will_retry = out.will_retry;
    attempt_started_ms_.erase(seq);
    report(std::move(event));
  }
  Json error_data = error_json(error, rec.name);
  if (!out.will_retry) {
    // Failed for good: stored as such (a replay raises it again) and raised in
    // the workflow, which may catch it and go on. Only an error that escapes
    // the workflow fails the run.
    // A step stopped because the run was cancelled or the engine is closing
    // has not failed: nothing is stored for it, and the next execution (after
    // a reopen) runs it again.
    bool stopped = cancelled();
    rec.status = stopped ? "stopped" : "failed";
    rec.attempts = out.attempt;
    rec.result = boost::json::serialize(error_data);
    if (!stopped) step_failure_ = error_data;
    if (finished_) return out;
    Json data = boost::json::object{
        {"seq", seq}, {"name", rec.name}, {"attempt", out.attempt}, {"error", event_error_json(error_data)}};
    submit_locked([rec, stopped, data = std::move(data)](Batch& b) {
      if (!stopped) b.tx.upsert_step(rec);
      b.event(rec.run_id, "step.failed", data);
    });
    return out;
  }
  out.delay = error.error_class() == ErrorClass::rate_limited && error.retry_after_ms() > 0
                  ? std::chrono::milliseconds(error.retry_after_ms())
                  : backoff_delay(policy, out.attempt, core_->jitter01());
  int64_t retry_at = core_->now_ms() + out.delay.count();
  retry_at_ = std::max(retry_at_, retry_at);
  rec.status = "retrying";
  rec.attempts = out.attempt;
  rec.wake_at_ms = retry_at;
  Json data = boost::json::object{{"seq", seq},
                                  {"name", rec.name},
                                  {"attempt", out.attempt},
                                  {"next_attempt", out.attempt + 1},
                                  {"delay_ms", out.delay.count()},
                                  {"error", event_error_json(error_data)}};
  submit_locked([rec, data = std::move(data)](Batch& b) {
    b.tx.upsert_step(rec);
    b.event(rec.run_id, "step.retrying", data);
  });
  return out;
}

namespace {

// An end that changes more than a finished run's columns: the run's row is
// read in the write, released from this engine, changed by `apply`, written.
ExecutionState::EndWrite rewriting_run(std::function<void(Batch&, store::RunRecord&)> apply) {
  return [apply = std::move(apply)](Batch& b, const std::string& run_id) {
    auto r = b.tx.find_run(run_id);
    if (!r) return;
    r->lease_owner.clear();
    r->info.updated_at_ms = b.now_ms;
    apply(b, *r);
  };
}

}  // namespace

int64_t ExecutionState::pending_retry_at() const {
  std::lock_guard lock(mutex_);
  return retry_at_;
}

void ExecutionState::finish_for_retry(int64_t retry_at_ms) {
  auto core = core_;
  finish(rewriting_run([retry_at_ms, core](Batch& b, store::RunRecord& r) {
    r.info.status = RunStatus::queued;
    r.available_at_ms = retry_at_ms;
    r.wake_at_ms = 0;
    r.waiting_for.clear();
    b.tx.update_run(r);
    b.event(r.info.id, "run.queued",
            boost::json::object{{"reason", "step retry"}, {"available_at", retry_at_ms}});
    b.after_commit([core] { core->wake_scheduler(); });
  }), "queued");
}

void ExecutionState::complete_wait_step(int64_t seq, std::string_view name, std::string_view kind,
                                        Json result) {
  auto rec = make_step(run_id(), seq, name, kind, "completed", boost::json::serialize(result));
  rec.completed_at_ms = core_->now_ms();
  auto previous = stored_.find(seq);
  if (previous != stored_.end()) rec.child_id = previous->second.child_id;
  stored_[seq] = rec;
  submit_locked([rec, result = std::move(result)](Batch& b) {
    if (b.tx.upsert_step(rec)) {
      b.event(rec.run_id, "step.completed",
              boost::json::object{{"seq", rec.seq}, {"name", rec.name}, {"kind", rec.kind},
                                  {"result", result}});
    }
  });
}

WaitResult ExecutionState::sleep(std::string_view name, std::chrono::milliseconds duration) {
  check_duration_limit("duration of sleep '" + std::string(name) + "'", duration);  // hardening
  std::lock_guard lock(mutex_);
  auto pos = next_position(name, "sleep");
  int64_t now = core_->now_ms();
  if (pos.stored && pos.stored->status == "completed") return {WaitState::ready, nullptr};
  int64_t wake_at = pos.stored ? pos.stored->wake_at_ms : now + duration.count();
  if (now >= wake_at) {
    complete_wait_step(pos.seq, name, "sleep", nullptr);
    return {WaitState::ready, nullptr};
  }
  if (!pos.stored) {
    auto rec = make_step(run_id(), pos.seq, name, "sleep", "pending", "null", wake_at);
    stored_[pos.seq] = rec;
    submit_locked([rec](Batch& b) { b.tx.upsert_step(rec); });
  }
  park_wake_at_ = park_wake_at_ == 0 ? wake_at : std::min(park_wake_at_, wake_at);
  return {WaitState::parked, nullptr};
}

WaitResult ExecutionState::wait_for_signal(std::string_view name,
                                           std::optional<std::chrono::milliseconds> timeout) {
  if (timeout) check_duration_limit("timeout of wait_for_signal '" + std::string(name) + "'", *timeout);  // hardening
  std::lock_guard lock(mutex_);
  auto pos = next_position(name, "signal");
  if (pos.stored && pos.stored->status == "completed") {
    Json result = store::decode_stored_json(pos.stored->result, run_id(), "signal wait '" + pos.stored->name + "'");  // hardening
    const auto& o = result.as_object();
    if (o.contains("signal")) return {WaitState::ready, o.at("signal")};
    return {WaitState::timed_out, nullptr};
  }
  std::vector<store::SignalRecord> mailbox;
  {
    auto tx = core_->read();
    mailbox = tx->unconsumed_signals(run_id(), std::string(name));
  }
  for (const auto& signal : mailbox) {
    if (consumed_signals_.count(signal.id)) continue;
    consumed_signals_.insert(signal.id);
    Json payload = store::decode_stored_json(signal.payload, run_id(), "signal payload");  // hardening
    int64_t seq = pos.seq;
    submit_locked([id = signal.id, seq](Batch& b) { b.tx.consume_signal(id, seq); });
    complete_wait_step(seq, name, "signal", boost::json::object{{"signal", payload}});
    return {WaitState::ready, payload};
  }
  int64_t now = core_->now_ms();
  int64_t deadline = pos.stored ? pos.stored->wake_at_ms : (timeout ? now + timeout->count() : 0);
  if (timeout && now >= deadline) {
    complete_wait_step(pos.seq, name, "signal", boost::json::object{{"timed_out", true}});
    return {WaitState::timed_out, nullptr};
  }
  if (!pos.stored) {
    auto rec = make_step(run_id(), pos.seq, name, "signal", "pending", "null", deadline);
    stored_[pos.seq] = rec;
    submit_locked([rec](Batch& b) { b.tx.upsert_step(rec); });
  }
  park_waiting_for_.push_back("signal:" + std::string(name));
  if (deadline > 0) park_wake_at_ = park_wake_at_ == 0 ? deadline : std::min(park_wake_at_, deadline);
  return {WaitState::parked, nullptr};
}

WaitResult ExecutionState::invoke(std::string_view name, std::string_view workflow, Json input) {
  std::lock_guard lock(mutex_);
  auto pos = next_position(name, "invoke");
  auto outcome = [&](const Json& result, const std::string& child_id) -> WaitResult {
    const auto& o = result.as_object();
    if (o.contains("output")) return {WaitState::ready, o.at("output")};
    std::string message = "child run '" + child_id + "'";
    if (const auto* e = o.if_contains("error"); e && e->is_object()) {
      if (const auto* m = e->as_object().if_contains("message"); m && m->is_string()) {
        message += " failed: " + std::string(m->as_string());
      }
    } else {
      message += " was cancelled";
    }
    throw Error(ErrorCode::step_failed, message);
  };
  if (pos.stored && pos.stored->status == "completed") {
    return outcome(store::decode_stored_json(pos.stored->result, run_id(), "child run result"), pos.stored->child_id);  // hardening
  }
  if (pos.stored) {
    std::string child_id = pos.stored->child_id;
    std::optional<store::RunRecord> child;
    {
      auto tx = core_->read();
      child = tx->find_run(child_id);
    }
    if (child && is_finished(child->info.status)) {
      Json result = child->info.status == RunStatus::completed
                        ? Json(boost::json::object{{"output", child->info.output}})
                        : Json(boost::json::object{{"error", child->info.error}});
      complete_wait_step(pos.seq, name, "invoke", result);
      return outcome(result, child_id);
    }
    park_waiting_for_.push_back("child:" + child_id);
    return {WaitState::parked, nullptr};
  }
  check_name("workflow name", workflow);
  if (!core_->workflow_known(workflow)) {
    throw Error(ErrorCode::not_found, "workflow '" + std::string(workflow) +
                                          "' is not registered by any engine on this store");
  }
  check_object("input of child run '" + std::string(name) + "'", input);
  checked_json_text("input of child run '" + std::string(name) + "'", input,
                    core_->options());  // hardening: + depth limit
  store::RunRecord child;
  child.info.id = core_->new_run_id();
  child.info.workflow = std::string(workflow);
  child.info.status = RunStatus::queued;
  child.info.input = std::move(input);
  child.info.owner = run_.info.owner;
  if (run_.info.budget.limited()) {
    // A child spends from what its parent has left, never more.
    RunUsage used = llm_usage_locked();
    if (budget_spent(run_.info.budget, used)) {
      throw budget_exceeded_error(run_.info.budget, used,
                                  "child run '" + std::string(name) + "' was not started");
    }
    child.info.budget = remaining_budget(run_.info.budget, used);
  }
  child.info.priority = run_.info.priority;
  child.info.trace_parent = run_.info.trace_parent;
  child.info.parent_id = run_id();
  child.info.idempotency_key = run_id() + ":" + std::to_string(pos.seq);
  child.parent_step = pos.seq;
  child.start_keys = run_keys(core_->workflow_options(workflow), child.info.input);
  auto rec = make_step(run_id(), pos.seq, name, "invoke", "pending", "null", 0, child.info.id);
  stored_[pos.seq] = rec;
  park_waiting_for_.push_back("child:" + child.info.id);
  auto core = core_;
  submit_locked([rec, child, core](Batch& b) mutable {
    child.info.created_at_ms = child.info.updated_at_ms = child.available_at_ms = b.now_ms;
    b.tx.insert_run(child);
    b.event(child.info.id, "run.created",
            boost::json::object{{"workflow", child.info.workflow},
                                {"parent_id", child.info.parent_id}});
    b.tx.upsert_step(rec);
    b.after_commit([core] { core->wake_scheduler(); });
  }, /*guarded=*/true);
  return {WaitState::parked, nullptr};
}

void ExecutionState::progress(Json value) {
  std::lock_guard lock(mutex_);
  check_open();
  if (replaying()) return;
  checked_json_text("progress", value, core_->options());  // hardening: + depth limit
  submit_locked([run = run_id(), value = std::move(value)](Batch& b) {
    auto r = b.tx.find_run(run);
    if (!r) return;
    r->info.progress = value;
    r->info.updated_at_ms = b.now_ms;
    b.tx.update_run(*r);
    b.event(run, "progress", value);
  });
}

void ExecutionState::artifact(std::string_view key, Json value) {
  std::lock_guard lock(mutex_);
  check_open();
  check_name("artifact key", key);
  if (replaying()) return;
  std::string text = checked_json_text("artifact '" + std::string(key) + "'", value,
                                       core_->options());  // hardening: + depth limit
  submit_locked([run = run_id(), key = std::string(key), text = std::move(text),
                 value = std::move(value)](Batch& b) {
    // A replay after a crash may write the same artifact again: keep one version.
    auto latest = b.tx.latest_artifact(run, key);
    if (latest && latest->value == text) return;
    int64_t version = b.tx.insert_artifact(run, key, text, b.now_ms);
    b.event(run, "artifact", boost::json::object{{"key", key}, {"version", version}, {"value", value}});
  });
}

void ExecutionState::emit(std::string_view type, Json data) {
  std::lock_guard lock(mutex_);
  check_open();
  check_name("event type", type);
  if (is_reserved_event_type(type)) {
    throw Error(ErrorCode::invalid_argument,
                "event type '" + std::string(type) + "' is reserved for storyloom's own events");
  }
  if (replaying()) return;
  checked_json_text("data of event '" + std::string(type) + "'", data,
                    core_->options());  // hardening: + depth limit
  submit_locked([run = run_id(), type = std::string(type), data = std::move(data)](Batch& b) {
    b.event(run, type, data);
  });
}

void ExecutionState::chunk(std::string_view stream, std::string_view text) {
  std::lock_guard lock(mutex_);
  check_open();
  check_name("stream name", stream);
  if (text.size() > core_->options().max_payload_bytes) {
    throw Error(ErrorCode::payload_too_large,
                "chunk of stream '" + std::string(stream) + "' is " + std::to_string(text.size()) +
                    " bytes; the limit is " + std::to_string(core_->options().max_payload_bytes));
  }
  check_utf8("chunk of stream '" + std::string(stream) + "'", text);
  if (text.empty() || replaying()) return;
  StreamPosition& position = stream_position_locked(std::string(stream));
  int64_t now = core_->now_ms();
  size_t pending = core_->hub().append_chunk(run_id(), std::string(stream), position.end, text, now,
                                             position.attempt_start);
  position.end += static_cast<int64_t>(text.size());
  // Enough text waits to be written, but never more than one write per flush
  // interval: however fast tokens arrive, a stream costs the store at most
  // 1000 / chunk_flush_interval writes a second (the poller writes the rest).
  if (pending >= core_->options().chunk_flush_bytes &&
      now - last_chunk_flush_ms_ >= core_->options().chunk_flush_interval.count()) {
    submit_locked(nullptr);
  }
}

StreamPosition& ExecutionState::stream_position_locked(const std::string& stream) {
  auto it = stream_positions_.find(stream);
  if (it == stream_positions_.end()) {
    auto live = core_->hub().stream_position(run_id(), stream);
    StreamPosition position;
    if (live) {
      position = *live;
    } else {
      auto stored = core_->read()->chunk_stream(run_id(), stream);
      position = StreamPosition{stored.end_offset, stored.attempt_start};
    }
    it = stream_positions_.emplace(stream, position).first;
  }
  return it->second;
}

int64_t ExecutionState::begin_stream_attempt_locked(const std::string& stream) {
  StreamPosition& position = stream_position_locked(stream);
  position.attempt_start = position.end;
  return position.end;
}

void ExecutionState::finish(EndWrite write_end, std::string_view outcome,
                            std::string_view error_class) {
  std::vector<std::shared_ptr<LlmCall>> calls;  // a host that finishes early leaves none running
  HeldResources held;
  bool slot_left_to_writer = false;
  std::shared_ptr<ExecutionState> next;  // the ready run that takes this slot
  {
    std::lock_guard lock(mutex_);
    if (finished_) {
      throw Error(ErrorCode::invalid_state,
                  "this execution of run '" + run_id() + "' has already finished");
    }
    finished_ = true;
    LifecycleEvent event;
    event.kind = LifecycleKind::run_finished;
    event.started_at_ms = started_at_ms_;
    event.ended_at_ms = core_->now_ms();
    // A lost write sends the run back to the queue, whatever the host said.
    event.outcome = cancelled_ ? "cancelled" : lost_ ? "released" : std::string(outcome);
    if (event.outcome == outcome) event.error_class = std::string(error_class);
    report(std::move(event));
    calls = take_llm_calls_locked();
    held = take_resources_locked(-1);
    if (lost_) {
      // An earlier write never committed: the run cannot end on what this
      // execution saw. Back to the queue (after a store failure), or nothing
      // at all (cancelled or taken over meanwhile).
      if (lost_to_store_) release_locked("store error");
    } else {
      std::weak_ptr<ExecutionState> weak = weak_from_this();
      // The slot goes to the next ready run, or to the writer, which claims
      // the next run in the batch that records this end: one commit for both.
      // A run about to start (ready, or dispatched and waiting for a thread)
      // writes within microseconds, so the end waits to share that commit.
      next = core_->leave_slot_to_writer(run_id());
      slot_left_to_writer = true;
      bool starting_soon = next || core_->execution_waits_for_thread();
      submit_locked([run = run_id(), write_end = std::move(write_end)](Batch& b) {
        write_end(b, run);
      }, /*guarded=*/false, /*then_tail=*/true,
                    starting_soon ? Writer::Urgency::soon : Writer::Urgency::now);
      // The end itself may be lost with its batch: then release the run.
      durable_waiters_.emplace_back(writes_submitted_, [weak](std::optional<Error> error) {
        auto self = weak.lock();  // alive: the failing write's `done` holds it
        if (!self || !error) return;
        std::lock_guard relock(self->mutex_);
        if (self->lost_to_store_) self->release_locked("store error");
      });
    }
  }
  for (auto& call : calls) call->cancel();
  if (next) core_->start_ready(std::move(next));
  if (slot_left_to_writer) {
    core_->slot_left();
  } else {
    core_->execution_finished(run_id());
  }
}

bool ExecutionState::has_failure() const {
  std::lock_guard lock(mutex_);
  return failure_.has_value();
}

bool ExecutionState::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}

void ExecutionState::finish_completed(Json output) {
  if (int64_t retry_at = pending_retry_at()) return finish_for_retry(retry_at);
  if (has_failure()) return finish_failed(Error(ErrorCode::step_failed, "a step failed"));
  // A step that failed for good before this was caught by the workflow: the run completes.
  std::string text;
  try {
    text = checked_json_text("output of run '" + run_id() + "'", output,
                             core_->options());  // hardening: + depth limit
  } catch (const Error& e) {
    finish_failed(e);
    throw;  // the run failed with this error; the host should know why
  }
  finish_for_good(RunStatus::completed, std::move(output), std::move(text), "completed");
}

void ExecutionState::finish_for_good(RunStatus status, Json value, std::string value_json,
                                     std::string_view outcome, std::string_view error_class) {
  bool completed = status == RunStatus::completed;
  boost::json::object event_data;
  if (completed) {
    event_data["output"] = value;
  } else {
    event_data["error"] = event_error_json(value);
  }
  auto core = core_;
  finish([status, value = std::move(value), value_json = std::move(value_json),
          event_data = std::move(event_data), completed, core,
          parent = run_.info.parent_id](Batch& b, const std::string& run) {
    if (!b.tx.end_run(store::RunEnd{run, status, value, value_json, b.now_ms})) return;
    b.event(run, completed ? "run.completed" : "run.failed", event_data);
    core->wake_parent(b, run, parent);  // a run's parent never changes
  }, outcome, error_class);
}

namespace {

// True when the stored error `failure` was raised as the same host class as `error`.
bool same_origin_type(const Json& failure, const Error& error) {
  const auto* o = failure.if_object();
  const auto* origin = o ? o->if_contains("origin") : nullptr;
  const auto* type = origin && origin->is_object() ? origin->as_object().if_contains("type") : nullptr;
  return type && type->is_string() && type->as_string() == error.origin_type();
}

}  // namespace

void ExecutionState::finish_failed(const Error& error) {
  // A workflow stopped by the engine closing (or failing while it closes) is
  // not done: it goes back to the queue instead of failing for good.
  if (core_->closing() && !cancelled_) return abandon();
  // The host gave up after a failed attempt that will be retried: requeue.
  if (int64_t retry_at = pending_retry_at()) return finish_for_retry(retry_at);
  Json failure;
  {
    std::lock_guard lock(mutex_);
    // A step that just failed for good, with nothing begun since, is the error
    // escaping the workflow: the run's error names that step. When the host
    // says which error escaped and the step's error came from the host too,
    // another class means the workflow caught the step's error and raised its
    // own: the run fails with the host's error. Otherwise the host's origin
    // (its trace runs through the workflow too) replaces the step's.
    bool host_step_error = step_failure_ && step_failure_->as_object().contains("origin");
    if (failure_) {
      failure = *failure_;
    } else if (step_failure_ && !error.has_origin()) {
      failure = *step_failure_;
    } else if (step_failure_ && (!host_step_error || same_origin_type(*step_failure_, error))) {
      failure = *step_failure_;
      failure.as_object()["origin"] = error_json(error).as_object()["origin"];
    } else {
      failure = error_json(error);
    }
  }
  std::string error_class;
  if (const auto* cls = failure.as_object().if_contains("class"); cls && cls->is_string()) {
    error_class = std::string(cls->as_string());
  }
  std::string failure_json = boost::json::serialize(failure);
  finish_for_good(RunStatus::failed, std::move(failure), std::move(failure_json), "failed",
                  error_class);
}

void ExecutionState::finish_parked() {
  if (int64_t retry_at = pending_retry_at()) return finish_for_retry(retry_at);
  std::vector<std::string> waiting_for;
  int64_t wake_at = 0;
  bool failed = false;
  {
    std::lock_guard lock(mutex_);
    if (!failure_ && park_waiting_for_.empty() && park_wake_at_ == 0 && !finished_) {
      failure_ = error_json(Error(ErrorCode::invalid_state,
                                  "the workflow parked run '" + run_id() +
                                      "' without a pending sleep, signal wait or child run"));
    }
    failed = failure_.has_value();
    waiting_for = park_waiting_for_;
    wake_at = park_wake_at_;
  }
  if (failed) return finish_failed(Error(ErrorCode::step_failed, "a step failed"));
  auto core = core_;
  finish(rewriting_run([waiting_for, wake_at, core](Batch& b, store::RunRecord& r) {
    // Whatever it waits for may have happened since the wait was checked.
    std::string reason;
    if (wake_at > 0 && b.now_ms >= wake_at) reason = "timer";
    for (const auto& w : waiting_for) {
      if (!reason.empty()) break;
      if (w.rfind("signal:", 0) == 0 && !b.tx.unconsumed_signals(r.info.id, w.substr(7)).empty()) {
        reason = "signal";
      } else if (w.rfind("child:", 0) == 0) {
        auto child = b.tx.find_run(w.substr(6));
        if (!child || is_finished(child->info.status)) reason = "child";
      }
    }
    if (!reason.empty()) {
      r.info.status = RunStatus::queued;
      r.available_at_ms = b.now_ms;
      b.tx.update_run(r);
      b.event(r.info.id, "run.resumed", boost::json::object{{"reason", reason}});
      b.after_commit([core] { core->wake_scheduler(); });
      return;
    }
    r.info.status = waiting_for.empty() ? RunStatus::sleeping : RunStatus::waiting;
    r.wake_at_ms = wake_at;
    r.waiting_for = join_lines(waiting_for);
    b.tx.update_run(r);
    boost::json::array reasons;
    for (const auto& w : waiting_for) reasons.push_back(boost::json::string(w));
    boost::json::object data{{"until", wake_at}};
    if (!waiting_for.empty()) data["for"] = reasons;
    b.event(r.info.id, waiting_for.empty() ? "run.sleeping" : "run.waiting", data);
  }), "parked");
}

void ExecutionState::release_unstarted() {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    release_locked("engine closed");
  }
  core_->execution_finished(run_id());
}

void ExecutionState::abandon() {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    LifecycleEvent event;
    event.kind = LifecycleKind::run_finished;
    event.started_at_ms = started_at_ms_;
    event.ended_at_ms = core_->now_ms();
    event.outcome = "released";
    report(std::move(event));
    // Token text streamed so far is kept, unless an earlier write was lost.
    if (!lost_flag_) submit_locked(nullptr);
    release_locked(lost_to_store_ ? "store error" : "engine closed");
  }
  core_->execution_finished(run_id());
}

}  // namespace storyloom::detail

namespace storyloom {

using detail::ExecutionState;

Execution::Execution(std::shared_ptr<ExecutionState> state) : state_(std::move(state)) {}
Execution::Execution(Execution&&) noexcept = default;
Execution& Execution::operator=(Execution&&) noexcept = default;
Execution::~Execution() {
  // A host that drops its execution unfinished would leave the run running forever.
  if (state_ && !state_->finished()) {
    try {
      state_->finish_failed(Error(ErrorCode::internal,
                                  "the host dropped the execution of run '" + state_->run_id() +
                                      "' without finishing it"));
    } catch (const Error&) {
    }
  }
}

const std::string& Execution::run_id() const { return state_->run_id(); }
const std::string& Execution::workflow() const { return state_->workflow(); }
const Json& Execution::input() const { return state_->input(); }
bool Execution::cancelled() const { return state_->cancelled(); }
StepBegin Execution::begin_step(std::string_view name, std::optional<RetryPolicy> retry) {
  return state_->begin_step(name, std::move(retry));
}
void Execution::complete_step(int64_t seq, Json result) { state_->complete_step(seq, std::move(result)); }
void Execution::when_durable(std::function<void(std::optional<Error>)> done) {
  state_->when_durable(std::move(done));
}
void Execution::wait_durable() { state_->wait_durable(); }
StepFailure Execution::fail_step(int64_t seq, const Error& error) { return state_->fail_step(seq, error); }
void Execution::acquire(int64_t seq, std::string_view resource, double tokens,
                        std::function<void(std::optional<Error>)> granted) {
  state_->acquire(seq, resource, tokens, std::move(granted));
}
void Execution::heartbeat(int64_t seq) { state_->heartbeat(seq); }
void Execution::heartbeat_all() { state_->heartbeat_all(); }
WaitResult Execution::sleep(std::string_view name, std::chrono::milliseconds duration) {
  return state_->sleep(name, duration);
}
WaitResult Execution::wait_for_signal(std::string_view name,
                                      std::optional<std::chrono::milliseconds> timeout) {
  return state_->wait_for_signal(name, timeout);
}
WaitResult Execution::invoke(std::string_view name, std::string_view workflow, Json input) {
  return state_->invoke(name, workflow, std::move(input));
}
void Execution::llm(std::string_view name, LlmRequest request, LlmCallback done,
                    std::optional<RetryPolicy> retry) {
  state_->llm(name, std::move(request), std::move(done), std::move(retry));
}
void Execution::http(std::string_view name, HttpStepRequest request, HttpStepCallback done,
                     std::optional<RetryPolicy> retry) {
  state_->http(name, std::move(request), std::move(done), std::move(retry));
}
void Execution::progress(Json value) { state_->progress(std::move(value)); }
void Execution::artifact(std::string_view key, Json value) { state_->artifact(key, std::move(value)); }
void Execution::emit(std::string_view type, Json data) { state_->emit(type, std::move(data)); }
void Execution::chunk(std::string_view stream, std::string_view text) { state_->chunk(stream, text); }
void Execution::finish_completed(Json output) { state_->finish_completed(std::move(output)); }
void Execution::finish_failed(const Error& error) { state_->finish_failed(error); }
void Execution::finish_parked() { state_->finish_parked(); }

}  // namespace storyloom
