// sl_execution_step_fail_origin / sl_execution_finish_failed_origin: the
// failure calls with the host's error class name and traceback attached.
#include <memory>
#include <optional>
#include <string>

#include "args.h"
#include "handles.h"
#include "status.h"

using storyloom::capi::Args;
using storyloom::capi::guarded;
using namespace storyloom;

namespace {

Error host_error(const Args& args, int error_class, const char* message, size_t message_len,
                 const char* type, size_t type_len, const char* trace, size_t trace_len) {
  auto cls = args.error_class(error_class, "error_class");
  auto text = args.text(message, message_len, "message");
  auto type_text = args.text(type, type_len, "type");
  auto trace_text = args.text(trace, trace_len, "trace");
  return Error(ErrorCode::step_failed, std::string(text), cls).with_origin(type_text, trace_text);
}

}  // namespace

extern "C" {

SL_API int sl_execution_step_fail_origin(sl_execution* execution, int64_t seq, int error_class,
                                         const char* message, size_t message_len,
                                         const char* type, size_t type_len, const char* trace,
                                         size_t trace_len) {
  Args args(__func__);
  return guarded([&] {
    auto& e = args.required(execution, "execution");
    e.execution.fail_step(
        seq, host_error(args, error_class, message, message_len, type, type_len, trace, trace_len));
  });
}

SL_API int sl_execution_finish_failed_origin(sl_execution* execution, int error_class,
                                             const char* message, size_t message_len,
                                             const char* type, size_t type_len,
                                             const char* trace, size_t trace_len) {
  Args args(__func__);
  return guarded([&] {
    std::unique_ptr<sl_execution> owned(&args.required(execution, "execution"));
    std::optional<Error> error;
    try {
      error = host_error(args, error_class, message, message_len, type, type_len, trace, trace_len);
    } catch (const Error& bad_input) {
      // The run still ends (as sl_execution_finish_failed does), failed with that error.
      try {
        owned->execution.finish_failed(bad_input);
      } catch (...) {
      }
      throw;
    }
    owned->execution.finish_failed(*error);
  });
}

}  // extern "C"
