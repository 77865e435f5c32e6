#include "webhooks.h"

namespace storyloom_node {
namespace {

std::string string_arg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

int64_t number_arg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  }
  return info[i].As<Napi::Number>().Int64Value();
}

template <typename F>
NativeCall returning_text(F f) {
  return [f = std::move(f)](std::string& out, bool& has_out) {
    char* buffer = nullptr;
    size_t len = 0;
    int code = f(&buffer, &len);
    if (code == SL_OK) {
      out.assign(buffer ? buffer : "", buffer ? len : 0);
      has_out = true;
    }
    sl_free(buffer);
    return code;
  };
}

// Throws the last error of this thread as a JS Error with code and class.
[[noreturn]] void throw_last(Napi::Env env, int code) {
  const char* message = nullptr;
  size_t len = 0;
  sl_last_error_message(&message, &len);
  auto error = Napi::Error::New(env, std::string(message ? message : "", message ? len : 0));
  error.Set("slCode", Napi::Number::New(env, code));
  error.Set("slClass", Napi::Number::New(env, sl_last_error_class()));
  throw error;
}

Napi::Value Sign(const Napi::CallbackInfo& info) {
  auto secret = string_arg(info, 0);
  auto id = string_arg(info, 1);
  auto timestamp = number_arg(info, 2);
  auto body = string_arg(info, 3);
  char* out = nullptr;
  size_t len = 0;
  int code = sl_webhook_sign(&out, &len, secret.data(), secret.size(), id.data(), id.size(),
                             timestamp, body.data(), body.size());
  if (code != SL_OK) throw_last(info.Env(), code);
  std::string text(out, len);
  sl_free(out);
  return Napi::String::New(info.Env(), text);
}

Napi::Value Verify(const Napi::CallbackInfo& info) {
  auto secret = string_arg(info, 0);
  auto headers = string_arg(info, 1);
  auto body = string_arg(info, 2);
  auto now = number_arg(info, 3);
  auto tolerance = number_arg(info, 4);
  char* out = nullptr;
  size_t len = 0;
  int code = sl_webhook_verify(&out, &len, secret.data(), secret.size(), headers.data(),
                               headers.size(), body.data(), body.size(), now, tolerance);
  if (code != SL_OK) throw_last(info.Env(), code);
  std::string text(out, len);
  sl_free(out);
  return Napi::String::New(info.Env(), text);
}

}  // namespace

NativeCall configure_webhooks_call(sl_engine* engine, const Napi::CallbackInfo& info) {
  auto options = string_arg(info, 0);
  return [=](std::string&, bool&) {
    return sl_engine_configure_webhooks(engine, options.data(), options.size());
  };
}

NativeCall webhook_log_call(sl_engine* engine, const Napi::CallbackInfo& info) {
  auto subscription = string_arg(info, 0);
  auto limit = static_cast<size_t>(number_arg(info, 1));
  return returning_text([=](char** out, size_t* len) {
    return sl_engine_webhook_log(out, len, engine, subscription.data(), subscription.size(), limit);
  });
}

NativeCall receive_webhook_call(sl_engine* engine, const Napi::CallbackInfo& info) {
  auto hook = string_arg(info, 0);
  auto headers = string_arg(info, 1);
  auto body = string_arg(info, 2);
  return returning_text([=](char** out, size_t* len) {
    return sl_engine_receive_webhook(out, len, engine, hook.data(), hook.size(), headers.data(),
                                     headers.size(), body.data(), body.size());
  });
}

void InitWebhooks(Napi::Env env, Napi::Object exports) {
  exports.Set("webhookSign", Napi::Function::New(env, Sign));
  exports.Set("webhookVerify", Napi::Function::New(env, Verify));
}

}  // namespace storyloom_node
