// The built-in steps' calls (sl_execution_llm, sl_execution_http,
// sl_execution_image) and the calls that take a per-step retry policy
// (sl_execution_step_begin_with_retry, sl_execution_llm_with_retry).
#include <optional>
#include <string>

#include "args.h"
#include "handles.h"
#include "status.h"

using storyloom::capi::Args;
using storyloom::capi::guarded;
using storyloom::capi::OutText;
using namespace storyloom;

namespace {

// NULL / empty retry_json is no policy, like JSON null.
std::optional<RetryPolicy> retry_of(const Args& args, const char* retry_json, size_t retry_len) {
  if (retry_json == nullptr && retry_len == 0) return std::nullopt;
  if (retry_len == 0) return std::nullopt;
  return retry_policy_from_json(args.json(retry_json, retry_len, "retry_json"));
}

// A step outcome (llm, http or image) handed to a C callback; their struct
// types have the same fields.
template <class COutcome, class Outcome, class Fn>
void call_back(Fn fn, void* user_data, const Outcome& outcome) {
  COutcome out{};
  std::string result;
  std::string message;
  if (outcome.result) {
    result = to_json_text(to_json(*outcome.result));
    out.status = SL_OK;
    out.error_class = SL_CLASS_FATAL;
    out.result_json = result.c_str();
    out.result_len = result.size();
  } else {
    out.status = static_cast<int>(outcome.error->code());
    out.error_class = static_cast<int>(outcome.error->error_class());
    message = outcome.error->what();
  }
  out.message = message.c_str();
  out.message_len = message.size();
  out.memoized = outcome.memoized ? 1 : 0;
  out.will_retry = outcome.will_retry ? 1 : 0;
  fn(user_data, &out);
}

// The body of sl_execution_llm, _http and _image (and llm_with_retry):
// checked arguments, the request read by `from_json`, then `start` on the
// execution with the outcome handed to `fn`. `function` names the C call in errors.
template <class COutcome, class Outcome, class Request, class Fn>
int step_call(const char* function, sl_execution* execution, const char* name, size_t name_len,
              const char* request_json, size_t request_len, const char* retry_json,
              size_t retry_len, Fn fn, void* user_data, Request (*from_json)(const Json&),
              void (Execution::*start)(std::string_view, Request, std::function<void(Outcome)>,
                                       std::optional<RetryPolicy>)) {
  Args args(function);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    if (fn == nullptr) args.invalid("fn is NULL");
    auto step = args.text(name, name_len, "name");
    Request request = from_json(args.json(request_json, request_len, "request_json"));
    auto retry = retry_of(args, retry_json, retry_len);
    (e.execution.*start)(
        step, std::move(request),
        [fn, user_data](Outcome outcome) { call_back<COutcome>(fn, user_data, outcome); },
        std::move(retry));
  });
}

}  // namespace

SL_API int sl_execution_step_begin_with_retry(int64_t* seq, int* memoized, char** result_json,
                                              size_t* result_len, sl_execution* execution,
                                              const char* name, size_t name_len,
                                              const char* retry_json, size_t retry_len) {
  Args args(__func__);
  return guarded([&] {
    auto& seq_out = args.out(seq, "seq");
    auto& memoized_out = args.out(memoized, "memoized");
    OutText result(args, result_json, result_len, "result_json");
    auto& e = args.required(execution, "execution");
    auto step = args.text(name, name_len, "name");
    StepBegin begin = e.execution.begin_step(step, retry_of(args, retry_json, retry_len));
    if (begin.memoized) result.set_json(begin.result);
    seq_out = begin.seq;
    memoized_out = begin.memoized ? 1 : 0;
  });
}

SL_API int sl_execution_llm_with_retry(sl_execution* execution, const char* name, size_t name_len,
                                       const char* request_json, size_t request_len,
                                       const char* retry_json, size_t retry_len, sl_llm_fn fn,
                                       void* user_data) {
  return step_call<sl_llm_outcome, LlmOutcome, LlmRequest>(
      __func__, execution, name, name_len, request_json, request_len, retry_json, retry_len, fn,
      user_data, llm_request_from_json, &Execution::llm);
}

SL_API int sl_execution_llm(sl_execution* execution, const char* name, size_t name_len,
                            const char* request_json, size_t request_len, sl_llm_fn fn,
                            void* user_data) {
  return step_call<sl_llm_outcome, LlmOutcome, LlmRequest>(
      __func__, execution, name, name_len, request_json, request_len, nullptr, 0, fn,
      user_data, llm_request_from_json, &Execution::llm);
}

SL_API int sl_execution_http(sl_execution* execution, const char* name, size_t name_len,
                             const char* request_json, size_t request_len, const char* retry_json,
                             size_t retry_len, sl_http_fn fn, void* user_data) {
  return step_call<sl_http_outcome, HttpStepOutcome, HttpStepRequest>(
      __func__, execution, name, name_len, request_json, request_len, retry_json, retry_len, fn,
      user_data, http_request_from_json, &Execution::http);
}

SL_API int sl_execution_image(sl_execution* execution, const char* name, size_t name_len,
                              const char* request_json, size_t request_len, const char* retry_json,
                              size_t retry_len, sl_image_fn fn, void* user_data) {
  return step_call<sl_image_outcome, ImageOutcome, ImageRequest>(
      __func__, execution, name, name_len, request_json, request_len, retry_json, retry_len, fn,
      user_data, image_request_from_json, &Execution::image);
}
