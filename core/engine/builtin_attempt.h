// What the built-in steps (llm, http, image) share around their provider
// call: what a step finds at its position, how an attempt's end reaches the
// workflow, and how an http or image request is sent. The ExecutionState
// members that use them live in builtin_attempt.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "storyloom/error.h"
#include "storyloom/json.h"

namespace storyloom::detail {

class LlmCall;

// What a built-in step finds at its position: what an earlier execution
// stored (memoized), or a new attempt.
struct BuiltinStart {
  int64_t seq = 0;
  int attempt = 1;             // a new attempt's number
  bool memoized = false;       // stored: `error` or `result` says what
  std::optional<Error> error;  // it failed for good
  Json result;                 // its stored result
};

// The outcome (LlmOutcome, HttpStepOutcome, ImageOutcome) a memoized step
// hands its workflow; `from_json` reads the stored result.
template <class Outcome, class FromJson>
Outcome memoized_outcome(BuiltinStart start, FromJson from_json) {
  Outcome out;
  out.memoized = true;
  if (start.error) {
    out.error = std::move(start.error);
  } else {
    out.result = from_json(start.result);
  }
  return out;
}

// How an attempt ended, for its workflow: with `error` (and whether its
// policy retries it), or stored and durable when `error` is empty.
using AttemptDone = std::function<void(std::optional<Error> error, bool will_retry)>;

// The AttemptDone that hands `done` its outcome: `*result` when the attempt
// was stored (result is set then), else the error.
template <class Outcome, class Result>
AttemptDone deliver_outcome(std::function<void(Outcome)> done, std::shared_ptr<Result> result) {
  return [done = std::move(done), result](std::optional<Error> error, bool will_retry) {
    Outcome out;
    if (error) {
      out.error = std::move(error);
      out.will_retry = will_retry;
    } else {
      out.result = std::move(*result);
    }
    done(std::move(out));
  };
}

// How an http or image attempt reaches its provider
// (ExecutionState::send_when_durable).
struct ProviderSend {
  std::shared_ptr<LlmCall> call;  // kept while in flight, so a cancel stops it
  std::string resource;           // waited for before `send`; none when empty
  std::string label;              // names the step in a stopped attempt's error
  std::function<void()> on_kept_locked;  // under the execution's mutex, once `call` is kept
  std::function<void()> send;            // sends the request (admitted by `resource`)
  std::function<void(Error)> fail;       // ends the attempt with this error instead
};

}  // namespace storyloom::detail
