#include "marshal.h"

namespace storyloom_node {

Failure last_failure(int code) {
  const char* msg = nullptr;
  size_t len = 0;
  sl_last_error_message(&msg, &len);
  Failure f{code, sl_last_error_class(), std::string(msg ? msg : "", msg ? len : 0), {}, {}};
  const char* type = nullptr;
  const char* trace = nullptr;
  size_t type_len = 0;
  size_t trace_len = 0;
  sl_last_error_origin(&type, &type_len, &trace, &trace_len);
  f.origin_type.assign(type ? type : "", type_len);
  f.origin_trace.assign(trace ? trace : "", trace_len);
  return f;
}

Napi::Error to_js_error(Napi::Env env, const Failure& f) {
  auto error = Napi::Error::New(env, f.message);
  error.Set("slCode", Napi::Number::New(env, f.code));
  error.Set("slClass", Napi::Number::New(env, f.error_class));
  if (!f.origin_type.empty() || !f.origin_trace.empty()) {
    error.Set("slOriginType", Napi::String::New(env, f.origin_type));
    error.Set("slOriginTrace", Napi::String::New(env, f.origin_trace));
  }
  return error;
}

[[noreturn]] void throw_last(Napi::Env env, int code) {
  throw to_js_error(env, last_failure(code));
}

void check(Napi::Env env, int code) {
  if (code != SL_OK) throw_last(env, code);
}

std::string take(char* buffer, size_t len) {
  std::string out(buffer ? buffer : "", buffer ? len : 0);
  sl_free(buffer);
  return out;
}

std::string arg_string(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

int64_t arg_int64(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  }
  return info[i].As<Napi::Number>().Int64Value();
}

Napi::Value string_or_undefined(Napi::Env env, char* buffer, size_t len) {
  if (!buffer) return env.Undefined();
  return Napi::String::New(env, take(buffer, len));
}

}  // namespace storyloom_node
