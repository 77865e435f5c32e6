// Errors and values between the C ABI and JavaScript (src/marshal.cc): the
// calling thread's last C error as a JS Error, owned strings out of the
// library's buffers, and positional arguments checked.
#pragma once

#include <napi.h>
#include <storyloom/storyloom.h>

#include <cstdint>
#include <string>

namespace storyloom_node {

struct Failure {
  int code = SL_OK;
  int error_class = SL_CLASS_FATAL;
  std::string message;
  std::string origin_type;   // a step's error raised again on replay: its class name
  std::string origin_trace;  // and stack (sl_last_error_origin)
};

// Reads the calling thread's last error (the C ABI keeps it per thread).
Failure last_failure(int code);
// A plain Error carrying the C status; lib/errors.ts turns it into a
// StoryloomError subclass.
Napi::Error to_js_error(Napi::Env env, const Failure& f);
[[noreturn]] void throw_last(Napi::Env env, int code);
// Throws the last error unless code is SL_OK.
void check(Napi::Env env, int code);
// The buffer's text, freed with sl_free ("" for NULL).
std::string take(char* buffer, size_t len);
// Argument i as a string / a number; a TypeError naming its position otherwise.
std::string arg_string(const Napi::CallbackInfo& info, size_t i);
int64_t arg_int64(const Napi::CallbackInfo& info, size_t i);
// The buffer's text (freed), or undefined for NULL.
Napi::Value string_or_undefined(Napi::Env env, char* buffer, size_t len);

}  // namespace storyloom_node
