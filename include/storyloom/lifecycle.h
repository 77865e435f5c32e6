// Lifecycle reports: what happens to runs and step attempts, for tracing and
// metrics (OpenTelemetry spans in the Node and Python packages). Ids, names,
// times, attempts and error classes only: never inputs, results, messages or
// keys, so a report can go to any telemetry backend.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "storyloom/json.h"

namespace storyloom {

enum class LifecycleKind {
  run_started,    // an execution of the run began (its first, or after a park, retry or crash)
  run_finished,   // that execution ended; `outcome` says how
  step_started,   // an attempt of a host, llm, http or image step began
  step_finished,  // that attempt succeeded
  step_failed,    // that attempt failed; `will_retry` says whether another follows
};

// "run.started", "run.finished", "step.started", "step.finished", "step.failed".
const char* to_string(LifecycleKind kind) noexcept;

struct LifecycleEvent {
  LifecycleKind kind = LifecycleKind::run_started;
  std::string run_id;
  std::string workflow;
  // The W3C traceparent given at start (StartOptions::trace_parent), a child
  // run's inherited from its parent; empty when none was given.
  std::string trace_parent;
  // Steps only: name, position in the run, kind ("step", "llm", "http", "image") and
  // attempt (1, 2, ...).
  std::string step;
  int64_t seq = -1;
  std::string step_kind;
  int attempt = 0;
  // Wall-clock epoch ms of the execution's or attempt's start; ended_at_ms is
  // 0 in the *_started reports.
  int64_t started_at_ms = 0;
  int64_t ended_at_ms = 0;
  // run_started: this is the run's first execution (not a resume after a
  // park, a retry's backoff, a crash or a retry() of a failed run), so
  // counting these counts runs started.
  bool first = false;
  // run_finished: completed, failed, cancelled, parked (sleeping or waiting),
  // queued (a step retry is due later) or released (the engine closed).
  std::string outcome;
  // run_finished with outcome failed, and step_failed: the ErrorClass name;
  // for an llm, http or image attempt stopped by a cancel or a close,
  // "cancelled" or "closed" (nothing is stored for it: it runs again later).
  std::string error_class;
  bool will_retry = false;  // step_failed: another attempt follows
  // step_finished of an llm step: the model that answered and its usage
  // {"input_tokens","output_tokens","total_tokens"} (null when unknown).
  std::string model;
  Json usage;
};

// The JSON form hosts receive through the C ABI: {"type", "run_id",
// "workflow", "trace_parent", "started_at_ms", "ended_at_ms", "duration_ms"}
// plus "first" (run.started), "outcome", "error_class" (runs) or "step", "seq", "kind", "attempt",
// "error_class", "will_retry", "model", "usage" (steps), each only when it
// applies.
Json to_json(const LifecycleEvent& event);

// Called once per report, in the order things happened, on one thread of the
// engine's own that holds no engine lock; it must be quick and must not call
// the engine. An exception it throws is dropped.
using LifecycleCallback = std::function<void(const LifecycleEvent&)>;

// True when `text` is a W3C traceparent: "00-<32 hex trace id>-<16 hex span
// id>-<2 hex flags>", lower case, ids not all zero.
bool is_trace_parent(std::string_view text) noexcept;

}  // namespace storyloom
