#include "storyloom/context.h"

#include <future>
#include <memory>

namespace storyloom {

Json Context::step(std::string_view name, const std::function<Json()>& fn,
                  std::optional<RetryPolicy> retry) {
  return step_using({}, name, fn, std::move(retry));
}

Json Context::step_using(std::string_view resource, std::string_view name,
                         const std::function<Json()>& fn, std::optional<RetryPolicy> retry) {
  StepBegin begin = execution_.begin_step(name, std::move(retry));
  if (begin.memoized) return std::move(begin.result);
  if (!resource.empty()) {
    auto admitted = std::make_shared<std::promise<std::optional<Error>>>();
    auto ready = admitted->get_future();
    execution_.acquire(begin.seq, resource, 0,
                       [admitted](std::optional<Error> e) { admitted->set_value(std::move(e)); });
    if (auto refused = ready.get()) throw *refused;  // cancelled or closed while waiting
  }
  Json result;
  try {
    result = fn();
  } catch (const Error& e) {
    if (execution_.fail_step(begin.seq, e).will_retry) throw Parked{};
    throw;
  } catch (const std::exception& e) {
    Error error(ErrorCode::step_failed, "step '" + std::string(name) + "' threw: " + e.what(),
                ErrorClass::retryable);
    if (execution_.fail_step(begin.seq, error).will_retry) throw Parked{};
    throw error;
  }
  execution_.complete_step(begin.seq, result);
  execution_.wait_durable();  // the workflow sees the result once it is committed
  return result;
}

LlmResult Context::llm(std::string_view name, LlmRequest request,
                       std::optional<RetryPolicy> retry) {
  // Shared: the callback may still be returning from set_value when get() wakes.
  auto outcome = std::make_shared<std::promise<LlmOutcome>>();
  auto ready = outcome->get_future();
  execution_.llm(name, std::move(request),
                 [outcome](LlmOutcome o) { outcome->set_value(std::move(o)); }, std::move(retry));
  LlmOutcome o = ready.get();
  if (o.result) return std::move(*o.result);
  if (o.will_retry) throw Parked{};
  throw *o.error;
}

HttpStepResult Context::http(std::string_view name, HttpStepRequest request,
                            std::optional<RetryPolicy> retry) {
  auto outcome = std::make_shared<std::promise<HttpStepOutcome>>();
  auto ready = outcome->get_future();
  execution_.http(name, std::move(request),
                  [outcome](HttpStepOutcome o) { outcome->set_value(std::move(o)); },
                  std::move(retry));
  HttpStepOutcome o = ready.get();
  if (o.result) return std::move(*o.result);
  if (o.will_retry) throw Parked{};
  throw *o.error;
}

Json Context::wait_or_park(WaitResult result) {
  if (result.state == WaitState::parked) throw Parked{};
  execution_.wait_durable();  // a wait just satisfied is recorded first
  return std::move(result.value);
}

void Context::sleep(std::string_view name, std::chrono::milliseconds duration) {
  wait_or_park(execution_.sleep(name, duration));
}

std::optional<Json> Context::wait_for_signal(std::string_view name,
                                             std::optional<std::chrono::milliseconds> timeout) {
  WaitResult result = execution_.wait_for_signal(name, timeout);
  if (result.state == WaitState::timed_out) {
    execution_.wait_durable();
    return std::nullopt;
  }
  return wait_or_park(std::move(result));
}

Json Context::invoke(std::string_view name, std::string_view workflow, Json input) {
  return wait_or_park(execution_.invoke(name, workflow, std::move(input)));
}

}  // namespace storyloom
