// sl_execution_*: one execution of a run, driven by the host; one to one onto
// storyloom::Execution. The handle is freed by exactly one finish call.
#include <chrono>
#include <memory>
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

// Lends a string the execution keeps until it is finished.
int lend(const char* function, const char** out, size_t* out_len, const sl_execution* execution,
         const std::string& (*field)(const sl_execution&)) {
  Args args(function);
  return guarded([&] {
    auto& result = args.out(out, "out");
    if (out_len != nullptr) *out_len = 0;
    const std::string& text = field(args.required(execution, "execution"));
    result = text.c_str();
    if (out_len != nullptr) *out_len = text.size();
  });
}

// The caller's input to a finish call was unusable (the exception in flight):
// fail the run with that error rather than leave it running with no execution.
void fail_with_current_exception(Execution& execution) noexcept {
  try {
    try {
      throw;
    } catch (const Error& e) {
      execution.finish_failed(e);
    } catch (const std::exception& e) {
      execution.finish_failed(Error(ErrorCode::internal, e.what()));
    }
  } catch (...) {
    // Finishing failed too (the engine is closing and released the run): the
    // caller gets the first error, which is about its own input.
  }
}

}  // namespace

extern "C" {

SL_API int sl_execution_run_id(const char** out, size_t* out_len, const sl_execution* execution) {
  return lend(__func__, out, out_len, execution,
              [](const sl_execution& e) -> const std::string& { return e.execution.run_id(); });
}

SL_API int sl_execution_workflow(const char** out, size_t* out_len,
                                 const sl_execution* execution) {
  return lend(__func__, out, out_len, execution,
              [](const sl_execution& e) -> const std::string& { return e.execution.workflow(); });
}

SL_API int sl_execution_input(const char** out, size_t* out_len, const sl_execution* execution) {
  return lend(__func__, out, out_len, execution,
              [](const sl_execution& e) -> const std::string& { return e.input_json; });
}

SL_API int sl_execution_cancelled(int* out, const sl_execution* execution) {
  Args args(__func__);
  return guarded([&] {
    auto& result = args.out(out, "out");
    result = args.required(execution, "execution").execution.cancelled() ? 1 : 0;
  });
}

SL_API int sl_execution_step_begin(int64_t* seq, int* memoized, char** result_json,
                                   size_t* result_len, sl_execution* execution, const char* name,
                                   size_t name_len) {
  Args args(__func__);
  return guarded([&] {
    auto& seq_out = args.out(seq, "seq");
    auto& memoized_out = args.out(memoized, "memoized");
    OutText result(args, result_json, result_len, "result_json");
    auto& e = args.required(execution, "execution");
    StepBegin begin = e.execution.begin_step(args.text(name, name_len, "name"));
    if (begin.memoized) result.set_json(begin.result);
    seq_out = begin.seq;
    memoized_out = begin.memoized ? 1 : 0;
  });
}

SL_API int sl_execution_step_complete(sl_execution* execution, int64_t seq,
                                      const char* result_json, size_t result_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    e.execution.complete_step(seq, args.json(result_json, result_len, "result_json"));
  });
}

SL_API int sl_execution_when_durable(sl_execution* execution, sl_durable_fn fn, void* user_data) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    if (fn == nullptr) args.invalid("fn is NULL");
    e.execution.when_durable([fn, user_data](std::optional<Error> error) {
      std::string message = error ? error->what() : "";
      fn(user_data, error ? static_cast<int>(error->code()) : SL_OK, message.c_str(),
         message.size());
    });
  });
}

SL_API int sl_execution_wait_durable(sl_execution* execution) {
  Args args(__func__);
  return guarded([&] { args.required(execution, "execution").execution.wait_durable(); });
}

SL_API int sl_execution_step_fail(sl_execution* execution, int64_t seq, int error_class,
                                  const char* message, size_t message_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    auto cls = args.error_class(error_class, "error_class");
    auto text = args.text(message, message_len, "message");
    e.execution.fail_step(seq, Error(ErrorCode::step_failed, std::string(text), cls));
  });
}

SL_API int sl_execution_step_rate_limited(sl_execution* execution, int64_t seq,
                                          int64_t retry_after_ms, const char* message,
                                          size_t message_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    if (retry_after_ms < 0) {
      args.invalid("retry_after_ms is " + std::to_string(retry_after_ms) + "; it must not be negative");
    }
    auto text = args.text(message, message_len, "message");
    e.execution.fail_step(seq, Error(ErrorCode::step_failed, std::string(text),
                                     ErrorClass::rate_limited, retry_after_ms));
  });
}

SL_API int sl_execution_acquire(sl_execution* execution, int64_t seq, const char* resource,
                                size_t resource_len, double tokens, sl_acquire_fn fn,
                                void* user_data) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    if (fn == nullptr) args.invalid("fn is NULL");
    auto name = args.text(resource, resource_len, "resource");
    e.execution.acquire(seq, name, tokens, [fn, user_data](std::optional<Error> error) {
      std::string message = error ? error->what() : "";
      fn(user_data, error ? static_cast<int>(error->code()) : SL_OK, message.c_str(),
         message.size());
    });
  });
}

SL_API int sl_execution_heartbeat(sl_execution* execution, int64_t seq) {
  Args args(__func__);
  return guarded([&] { args.required(execution, "execution").execution.heartbeat(seq); });
}

SL_API int sl_execution_sleep(int* state, sl_execution* execution, const char* name,
                              size_t name_len, int64_t duration_ms) {
  Args args(__func__);
  return guarded([&] {
    auto& state_out = args.out(state, "state");
    auto& e = args.required(execution, "execution");
    auto step = args.text(name, name_len, "name");
    if (duration_ms < 0) {
      args.invalid("duration_ms is " + std::to_string(duration_ms) + "; it must not be negative");
    }
    WaitResult wait = e.execution.sleep(step, std::chrono::milliseconds(duration_ms));
    state_out = static_cast<int>(wait.state);
  });
}

SL_API int sl_execution_wait_for_signal(int* state, char** payload_json, size_t* payload_len,
                                        sl_execution* execution, const char* name,
                                        size_t name_len, int64_t timeout_ms) {
  Args args(__func__);
  return guarded([&] {
    auto& state_out = args.out(state, "state");
    OutText payload(args, payload_json, payload_len, "payload_json");
    auto& e = args.required(execution, "execution");
    auto signal = args.text(name, name_len, "name");
    std::optional<std::chrono::milliseconds> timeout;
    if (timeout_ms >= 0) timeout = std::chrono::milliseconds(timeout_ms);
    WaitResult wait = e.execution.wait_for_signal(signal, timeout);
    if (wait.state == WaitState::ready) payload.set_json(wait.value);
    state_out = static_cast<int>(wait.state);
  });
}

SL_API int sl_execution_invoke(int* state, char** output_json, size_t* output_len,
                               sl_execution* execution, const char* name, size_t name_len,
                               const char* workflow, size_t workflow_len, const char* input_json,
                               size_t input_len) {
  Args args(__func__);
  return guarded([&] {
    auto& state_out = args.out(state, "state");
    OutText output(args, output_json, output_len, "output_json");
    auto& e = args.required(execution, "execution");
    auto step = args.text(name, name_len, "name");
    auto child = args.text(workflow, workflow_len, "workflow");
    WaitResult wait =
        e.execution.invoke(step, child, args.json(input_json, input_len, "input_json"));
    if (wait.state == WaitState::ready) output.set_json(wait.value);
    state_out = static_cast<int>(wait.state);
  });
}

SL_API int sl_execution_progress(sl_execution* execution, const char* value_json,
                                 size_t value_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    e.execution.progress(args.json(value_json, value_len, "value_json"));
  });
}

SL_API int sl_execution_artifact(sl_execution* execution, const char* key, size_t key_len,
                                 const char* value_json, size_t value_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    auto name = args.text(key, key_len, "key");
    e.execution.artifact(name, args.json(value_json, value_len, "value_json"));
  });
}

SL_API int sl_execution_emit(sl_execution* execution, const char* type, size_t type_len,
                             const char* data_json, size_t data_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    auto name = args.text(type, type_len, "type");
    e.execution.emit(name, args.json(data_json, data_len, "data_json"));
  });
}

SL_API int sl_execution_chunk(sl_execution* execution, const char* stream, size_t stream_len,
                              const char* text, size_t text_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    auto name = args.text(stream, stream_len, "stream");
    e.execution.chunk(name, args.text(text, text_len, "text"));
  });
}

SL_API int sl_execution_finish_completed(sl_execution* execution, const char* output_json,
                                         size_t output_len) {
  Args args(__func__);
  return guarded([&] {
    std::unique_ptr<sl_execution> owned(&args.required(execution, "execution"));
    Json output;
    try {
      output = args.json(output_json, output_len, "output_json");
    } catch (...) {
      fail_with_current_exception(owned->execution);
      throw;
    }
    owned->execution.finish_completed(std::move(output));
  });
}

SL_API int sl_execution_finish_failed(sl_execution* execution, int error_class,
                                      const char* message, size_t message_len) {
  Args args(__func__);
  return guarded([&] {
    std::unique_ptr<sl_execution> owned(&args.required(execution, "execution"));
    ErrorClass cls{};
    std::string text;
    try {
      cls = args.error_class(error_class, "error_class");
      text = args.text(message, message_len, "message");
    } catch (...) {
      fail_with_current_exception(owned->execution);
      throw;
    }
    owned->execution.finish_failed(Error(ErrorCode::step_failed, text, cls));
  });
}

SL_API int sl_execution_finish_parked(sl_execution* execution) {
  Args args(__func__);
  return guarded([&] {
    std::unique_ptr<sl_execution> owned(&args.required(execution, "execution"));
    owned->execution.finish_parked();
  });
}

}  // extern "C"
