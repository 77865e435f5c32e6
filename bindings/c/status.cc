// The last error lives per thread (libgit2), not per handle: another thread's
// failure must not overwrite the message this thread is about to read.
#include "status.h"

#include <new>
#include <string>

#include "storyloom/error.h"
#include "storyloom/events.h"
#include "storyloom/execution.h"

namespace storyloom::capi {

// The C numbers are promises to every host: they must follow the core's.
static_assert(SL_OK == static_cast<int>(ErrorCode::ok));
static_assert(SL_EINVALID == static_cast<int>(ErrorCode::invalid_argument));
static_assert(SL_ENOTFOUND == static_cast<int>(ErrorCode::not_found));
static_assert(SL_EINVALIDSTATE == static_cast<int>(ErrorCode::invalid_state));
static_assert(SL_ETOOLARGE == static_cast<int>(ErrorCode::payload_too_large));
static_assert(SL_ESTORE == static_cast<int>(ErrorCode::store));
static_assert(SL_ENOTADB == static_cast<int>(ErrorCode::not_a_database));
static_assert(SL_ESCHEMATOONEW == static_cast<int>(ErrorCode::schema_too_new));
static_assert(SL_ENONDETERMINISM == static_cast<int>(ErrorCode::nondeterminism));
static_assert(SL_ECANCELLED == static_cast<int>(ErrorCode::cancelled));
static_assert(SL_ESTEPFAILED == static_cast<int>(ErrorCode::step_failed));
static_assert(SL_ECLOSED == static_cast<int>(ErrorCode::closed));
static_assert(SL_ETIMEOUT == static_cast<int>(ErrorCode::timeout));
static_assert(SL_EINTERNAL == static_cast<int>(ErrorCode::internal));
static_assert(SL_EPROVIDER == static_cast<int>(ErrorCode::provider));
static_assert(SL_EQUOTA == static_cast<int>(ErrorCode::quota_exceeded));
static_assert(SL_EBUDGET == static_cast<int>(ErrorCode::budget_exceeded));
static_assert(SL_CLASS_RETRYABLE == static_cast<int>(ErrorClass::retryable));
static_assert(SL_CLASS_FATAL == static_cast<int>(ErrorClass::fatal));
static_assert(SL_CLASS_RATE_LIMITED == static_cast<int>(ErrorClass::rate_limited));
static_assert(SL_CLASS_TIMEOUT == static_cast<int>(ErrorClass::timeout));
static_assert(SL_WAIT_READY == static_cast<int>(WaitState::ready));
static_assert(SL_WAIT_TIMED_OUT == static_cast<int>(WaitState::timed_out));
static_assert(SL_WAIT_PARKED == static_cast<int>(WaitState::parked));
static_assert(SL_EVENT_STORED == static_cast<int>(EventKind::stored));
static_assert(SL_EVENT_TRANSIENT == static_cast<int>(EventKind::transient));
static_assert(SL_EVENT_CURSOR == static_cast<int>(EventKind::cursor));

namespace {

struct LastError {
  int code = SL_OK;
  int error_class = SL_CLASS_FATAL;
  std::string message;
  std::string origin_type;   // sl_last_error_origin: empty unless a host's error
  std::string origin_trace;  // raised again (a failed step on replay)
  // Set when the message itself could not be stored (out of memory).
  const char* fallback = nullptr;
};

LastError& last_error() noexcept {
  thread_local LastError error;
  return error;
}

}  // namespace

int set_last_error(int code, int error_class, std::string_view message,
                   std::string_view detail) noexcept {
  LastError& e = last_error();
  e.code = code;
  e.error_class = error_class;
  try {
    e.message.assign(message);
    e.message.append(detail);
    e.origin_type.clear();
    e.origin_trace.clear();
    e.fallback = nullptr;
  } catch (...) {
    e.fallback = "out of memory while recording an error";
  }
  return code;
}

int status_from_current_exception() noexcept {
  try {
    throw;
  } catch (const Error& e) {
    int code = set_last_error(static_cast<int>(e.code()), static_cast<int>(e.error_class()), e.what());
    try {
      last_error().origin_type = e.origin_type();
      last_error().origin_trace = e.origin_trace();
    } catch (...) {
      // Out of memory: the code and message are what matters.
    }
    return code;
  } catch (const std::bad_alloc&) {
    return set_last_error(SL_EINTERNAL, SL_CLASS_RETRYABLE, "out of memory");
  } catch (const std::exception& e) {
    return set_last_error(SL_EINTERNAL, SL_CLASS_FATAL, "internal error: ", e.what());
  } catch (...) {
    return set_last_error(SL_EINTERNAL, SL_CLASS_FATAL, "internal error: unknown exception");
  }
}

}  // namespace storyloom::capi

using storyloom::capi::last_error;

extern "C" {

SL_API int sl_last_error_code(void) { return last_error().code; }

SL_API int sl_last_error_class(void) { return last_error().error_class; }

SL_API void sl_last_error_origin(const char** type, size_t* type_len, const char** trace,
                                 size_t* trace_len) {
  const auto& e = last_error();
  if (type) *type = e.origin_type.c_str();
  if (type_len) *type_len = e.origin_type.size();
  if (trace) *trace = e.origin_trace.c_str();
  if (trace_len) *trace_len = e.origin_trace.size();
}

SL_API void sl_last_error_message(const char** msg, size_t* len) {
  const auto& e = last_error();
  std::string_view text = e.fallback ? std::string_view(e.fallback) : std::string_view(e.message);
  if (msg) *msg = text.data();
  if (len) *len = text.size();
}

}  // extern "C"
