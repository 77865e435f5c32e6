// Context: the synchronous face of an Execution for C++ workflow functions.
// Waits that are not yet satisfied unwind the workflow function with an
// internal exception; let it pass (do not catch(...) without rethrowing).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

#include "storyloom/execution.h"

namespace storyloom {

class Context {
 public:
  explicit Context(Execution& execution) : execution_(execution) {}

  const std::string& run_id() const { return execution_.run_id(); }
  bool cancelled() const { return execution_.cancelled(); }

  // Runs fn once per run: later executions get its stored result. An exception
  // from fn fails the attempt (Error keeps its code and class; other exceptions
  // are retryable step_failed errors). When the policy retries it, the workflow
  // unwinds (Parked) and the run is requeued for the next attempt; otherwise the
  // error is rethrown, also on every replay: a workflow may catch it and go on
  // (a compensating step), and the run fails only if it escapes.
  Json step(std::string_view name, const std::function<Json()>& fn,
            std::optional<RetryPolicy> retry = std::nullopt);
  // step() whose fn runs once `resource` admits it (Execution::acquire); the
  // use is returned when fn returns or throws, and a rate-limited Error with
  // a retry-after pauses the resource. This thread waits meanwhile (a host
  // driving an Execution itself waits holding none).
  Json step_using(std::string_view resource, std::string_view name,
                  const std::function<Json()>& fn, std::optional<RetryPolicy> retry = std::nullopt);
  // Extends the timeout of every step of this execution still in progress;
  // call it from a long step that has a RetryPolicy::timeout.
  void heartbeat() { execution_.heartbeat_all(); }
  // The built-in llm step (Execution::llm), waited for on this thread: the
  // result, stored or fresh. A failed attempt that will be retried unwinds
  // the workflow (Parked); a final failure throws its Error.
  LlmResult llm(std::string_view name, LlmRequest request,
                std::optional<RetryPolicy> retry = std::nullopt);
  // The built-in http step (Execution::http), waited for on this thread, like llm().
  HttpStepResult http(std::string_view name, HttpStepRequest request,
                      std::optional<RetryPolicy> retry = std::nullopt);
  // The built-in image step (Execution::image), waited for on this thread,
  // like llm(). The picture's bytes: Engine::artifact_bytes(run, result.artifact, result.version).
  ImageResult image(std::string_view name, ImageRequest request,
                    std::optional<RetryPolicy> retry = std::nullopt);
  void sleep(std::string_view name, std::chrono::milliseconds duration);
  // nullopt when the timeout passed without a signal.
  std::optional<Json> wait_for_signal(std::string_view name,
                                      std::optional<std::chrono::milliseconds> timeout = {});
  Json invoke(std::string_view name, std::string_view workflow, Json input);

  void progress(Json value) { execution_.progress(std::move(value)); }
  void artifact(std::string_view key, Json value) { execution_.artifact(key, std::move(value)); }
  // A picture or any bytes with a media type (Execution::binary_artifact).
  void binary_artifact(std::string_view key, std::string_view content_type, std::string bytes) {
    execution_.binary_artifact(key, content_type, std::move(bytes));
  }
  void emit(std::string_view type, Json data) { execution_.emit(type, std::move(data)); }
  void chunk(std::string_view stream, std::string_view text) { execution_.chunk(stream, text); }

  Execution& execution() { return execution_; }

 private:
  Json wait_or_park(WaitResult result);
  Execution& execution_;
};

// Thrown through the workflow function when the run must park. Not an
// std::exception on purpose, so `catch (const std::exception&)` lets it pass.
struct Parked {};

}  // namespace storyloom
