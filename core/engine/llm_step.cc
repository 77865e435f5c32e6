// The built-in llm step: memoized like a host step, executed by the core's
// LLM client, its text streamed as chunks and its attempts retried per policy.
#include "engine/builtin_attempt.h"
#include "engine/engine_core.h"
#include "engine/execution_state.h"
#include "engine/run_budget.h"
#include "engine/validate.h"
#include "store/row_codec.h"
#include "llm/llm_client.h"

namespace storyloom::detail {

void ExecutionState::llm(std::string_view name, LlmRequest request, LlmCallback done,
                         std::optional<RetryPolicy> retry) {
  validate(request);
  if (retry) validate(*retry);
  // Neither the step nor its workflow set a policy: llm steps retry by
  // default, as the providers' SDKs do (storyloom/llm.h, docs/llm.md).
  if (!retry && !workflow_retry_set_) retry = default_llm_retry_policy();
  LlmClient& client = core_->llm();
  std::string stream = request.stream_name.empty() ? std::string(name) : request.stream_name;
  check_name("stream name of llm step '" + std::string(name) + "'", stream);
  int64_t attempt_start = 0;
  std::optional<Error> over_budget;
  BuiltinStart start;
  {
    std::lock_guard lock(mutex_);
    start = start_builtin_locked(name, "llm", retry, [&] {
      std::string provider = client.provider(request.provider).name;  // throws not_found
      if (client.model_for(request).empty()) {
        throw Error(ErrorCode::invalid_argument, "llm step '" + std::string(name) +
                                                     "': provider '" + provider +
                                                     "' has no default model; name one");
      }
      // Checked before the attempt begins, so calls still in flight count.
      if (run_.info.budget.limited()) {
        RunUsage used = llm_usage_locked();
        if (budget_spent(run_.info.budget, used)) {
          over_budget = budget_exceeded_error(run_.info.budget, used,
                                              "llm step '" + std::string(name) + "' was not sent");
        }
      }
    });
    // Readers show this attempt's text from here on, not the earlier one's.
    if (!start.memoized) attempt_start = begin_stream_attempt_locked(stream);
  }
  if (start.memoized) return done(memoized_outcome<LlmOutcome>(std::move(start), llm_result_from_json));
  const int64_t seq = start.seq;
  const int attempt = start.attempt;
  auto self = shared_from_this();
  // How the attempt ended: stored (the workflow sees it once committed) or failed.
  auto finish = [self, seq, done](std::optional<LlmResult> result, std::optional<Error> error) {
    auto kept = result ? std::make_shared<LlmResult>(std::move(*result)) : nullptr;
    self->end_attempt(seq, kept ? std::optional<Json>(to_json(*kept)) : std::nullopt,
                      std::move(error), deliver_outcome(done, kept));
  };
  // Recorded as the step's failure (fatal: no retry), with no request sent.
  if (over_budget) return finish(std::nullopt, std::move(over_budget));

  LlmCallbacks callbacks;
  callbacks.on_waiting = [self, seq, name = std::string(name)](const std::string& resource) {
    self->llm_event("llm.waiting",
                    boost::json::object{{"seq", seq}, {"name", name}, {"resource", resource}});
  };
  callbacks.on_start = [self, seq, attempt, attempt_start, name = std::string(name), stream](
                           const std::string& provider_name, const std::string& model_name) {
    self->llm_event("llm.attempt", boost::json::object{{"seq", seq},
                                                       {"name", name},
                                                       {"stream", stream},
                                                       {"attempt", attempt},
                                                       {"offset", attempt_start},
                                                       {"provider", provider_name},
                                                       {"model", model_name}});
  };
  if (request.stream) {
    callbacks.on_text = [self, stream, seq](std::string_view text) {
      try {
        self->heartbeat(seq);  // a stream that keeps coming is alive, whatever its step timeout
        self->chunk(stream, text);
      } catch (const Error&) {
        // Cancelled or finished meanwhile: the call is being stopped too.
      }
    };
  }
  callbacks.on_done = finish;
  // The request goes out only once every earlier write of the run is
  // committed: a crash must not find it paid for with nothing before it stored.
  auto key = run_id() + ":" + std::to_string(seq);
  when_durable([self, seq, key, request = std::move(request),
                callbacks = std::move(callbacks)](std::optional<Error> lost) mutable {
    if (lost) {
      callbacks.on_done(std::nullopt, std::move(lost));
      return;
    }
    // This may run on the writer thread (once a pending write commits), where an
    // exception would end the process: a call refused (the engine is closing)
    // ends the step with that error instead.
    std::shared_ptr<LlmCall> call;
    auto on_done = callbacks.on_done;
    try {
      call = self->core_->llm().call(request, key, std::move(callbacks));
    } catch (const Error& e) {
      on_done(std::nullopt, e);
      return;
    }
    bool stop_now = false;
    {
      std::lock_guard lock(self->mutex_);
      // Unless it already ended (an answer at once) or the execution did.
      auto it = self->stored_.find(seq);
      if (it != self->stored_.end() && it->second.status == "begun" && !self->finished_) {
        self->llm_calls_[seq] = call;
      }
      stop_now = self->cancelled_.load() || self->finished_;
    }
    if (stop_now) call->cancel();
  });
}

void ExecutionState::llm_event(std::string type, Json data) {
  std::lock_guard lock(mutex_);
  if (finished_ || cancelled_) return;
  submit_locked([run = run_id(), type = std::move(type), data = std::move(data)](Batch& b) {
    b.event(run, type, data);
  });
}

RunUsage ExecutionState::llm_usage_locked() const {
  RunUsage usage;
  for (const auto& [seq, step] : stored_) {
    if (step.kind != "llm") continue;
    if (step.status == "completed") {
      usage.add_llm_result(store::decode_stored_json(step.result, run_id(), "the result of llm step '" + step.name + "'"));
    } else if (step.status == "begun") {
      usage.llm_calls += 1;  // in flight: its call counts before its tokens are known
    }
  }
  return usage;
}

std::vector<std::shared_ptr<LlmCall>> ExecutionState::take_llm_calls_locked() {
  std::vector<std::shared_ptr<LlmCall>> calls;
  for (auto& [seq, call] : llm_calls_) calls.push_back(std::move(call));
  llm_calls_.clear();
  return calls;
}

void ExecutionState::mark_cancelled() {
  cancelled_ = true;
  std::vector<std::shared_ptr<LlmCall>> calls;
  HeldResources held;  // host steps waiting for a resource hear of it at once
  {
    std::lock_guard lock(mutex_);
    calls = take_llm_calls_locked();
    held = take_resources_locked(-1);
  }
  for (auto& call : calls) call->cancel();
}

}  // namespace storyloom::detail
