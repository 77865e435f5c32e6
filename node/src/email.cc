// sendEmail(configJson, messageJson, messageId) -> Promise<result JSON>:
// sl_email_send on a libuv worker thread (it blocks for the SMTP exchange).
#include "email.h"

#include <string>

namespace storyloom_node {
namespace {

class SendEmail : public Napi::AsyncWorker {
 public:
  SendEmail(Napi::Env env, std::string config, std::string message, std::string id)
      : Napi::AsyncWorker(env, "storyloom.sendEmail"),
        deferred_(Napi::Promise::Deferred::New(env)),
        config_(std::move(config)),
        message_(std::move(message)),
        id_(std::move(id)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    char* out = nullptr;
    size_t len = 0;
    code_ = sl_email_send(&out, &len, config_.data(), config_.size(), message_.data(), message_.size(),
                          id_.data(), id_.size());
    if (code_ == SL_OK) {
      result_.assign(out, len);
    } else {
      // The last error is per thread: read it here, on the thread that failed.
      const char* message = nullptr;
      size_t message_len = 0;
      sl_last_error_message(&message, &message_len);
      error_.assign(message ? message : "", message ? message_len : 0);
      class_ = sl_last_error_class();
    }
    sl_free(out);
  }

  void OnOK() override {
    auto env = Env();
    if (code_ == SL_OK) {
      deferred_.Resolve(Napi::String::New(env, result_));
      return;
    }
    auto error = Napi::Error::New(env, error_);
    error.Set("slCode", Napi::Number::New(env, code_));
    error.Set("slClass", Napi::Number::New(env, class_));
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string config_, message_, id_, result_, error_;
  int code_ = SL_OK;
  int class_ = 0;
};

std::string string_arg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Value Send(const Napi::CallbackInfo& info) {
  auto* worker = new SendEmail(info.Env(), string_arg(info, 0), string_arg(info, 1), string_arg(info, 2));
  auto promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitEmail(Napi::Env env, Napi::Object exports) {
  exports.Set("sendEmail", Napi::Function::New(env, Send));
}

}  // namespace storyloom_node
